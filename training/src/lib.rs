//! Library behind the `cinerec` CLI: every command is a function from parsed arguments to a
//! report, so tests call them without a process; `main.rs` only parses, runs and prints.
//!
//! Modules: [`cli`] (clap types), [`data`] (ratings sources and matrices), [`evaluate`],
//! [`bench`], [`peer`] and [`exchange`] (the comparison with the `implicit` library),
//! [`datasets_cmd`], [`output`] (tables, JSON, progress bars), [`error`].

pub mod bench;
pub mod cli;
pub mod data;
pub mod datasets_cmd;
pub mod error;
pub mod evaluate;
pub mod exchange;
pub mod output;
pub mod peer;

use std::io::Write;

pub use error::{Error, Result};

use cli::{BenchCommand, Cli, Command, PeerCommand};
use output::progress_enabled;

/// Runs a parsed command line, writing its result to `out` (progress bars go to stderr when
/// it is a terminal and the format is not JSON).
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<()> {
    let data_dir = &cli.data_dir;
    match &cli.command {
        Command::Datasets(command) => {
            datasets_cmd::run(command, data_dir, progress_enabled(datasets_cmd::format_of(command)), out)
        }
        Command::Evaluate(args) => {
            let report = evaluate::evaluate(args, data_dir, progress_enabled(args.format))?;
            evaluate::print_evaluation(out, args.format, &report)
        }
        Command::Bench(BenchCommand::Als(args)) => {
            let report = bench::bench_als(args, data_dir, progress_enabled(args.format))?;
            bench::print_bench(out, args.format, &report)
        }
        Command::Peer(PeerCommand::Prepare(args)) => {
            let meta = peer::prepare(args, data_dir)?;
            writeln!(
                out,
                "{}: {} users × {} items, {} train / {} test positives -> {}",
                meta.dataset,
                meta.n_users,
                meta.n_items,
                meta.train_nnz,
                meta.test_nnz,
                args.out.display()
            )?;
            Ok(())
        }
        Command::Peer(PeerCommand::Compare(args)) => {
            let row = peer::compare(args, progress_enabled(args.format))?;
            peer::print_rows(out, args.format, std::slice::from_ref(&row))
        }
        Command::Peer(PeerCommand::Table(args)) => {
            let rows = peer::collect_rows(args)?;
            peer::print_rows(out, args.format, &rows)
        }
    }
}
