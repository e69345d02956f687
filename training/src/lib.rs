//! Library behind the `cinerec` CLI: every command is a function from parsed arguments to a
//! report, so tests call them without a process; `main.rs` only parses, runs and prints.
//!
//! Modules: [`cli`] (clap types), [`source`] (the [`source::RatingsSource`] trait and its
//! MovieLens, file and synthetic implementations), [`data`] (which source the flags name, and
//! matrices), [`fit`] (hyperparameters from flags, fitting), [`train`], [`store`] (a blocking
//! face over the async model store), [`query`] (`recommend`, `similar`), [`models_cmd`],
//! [`quickstart`], [`evaluate`], [`bench`], [`peer`] and [`exchange`] (the comparison with the
//! `implicit` library), [`datasets_cmd`], [`output`] (tables, JSON, progress bars), [`error`].

pub mod bench;
pub mod cli;
pub mod data;
pub mod datasets_cmd;
pub mod error;
pub mod evaluate;
pub mod exchange;
pub mod fit;
pub mod models_cmd;
pub mod output;
pub mod peer;
pub mod query;
pub mod quickstart;
pub mod source;
pub mod store;
pub mod train;

use std::io::Write;

pub use error::{Error, Result};

use cli::{BenchCommand, Cli, Command, Format, PeerCommand};
use output::progress_enabled;

/// Runs a parsed command line, writing its result to `out` (progress bars go to stderr when
/// it is a terminal and the format is not JSON).
pub fn run(cli: &Cli, out: &mut dyn Write) -> Result<()> {
    // Resolved only by the commands that read datasets.
    let data_dir = || cli.data_dir().map_err(Error::from);
    match &cli.command {
        Command::Quickstart(args) => {
            quickstart::quickstart(args, &data_dir()?, progress_enabled(Format::Table), out)
        }
        Command::Train(args) => {
            // A ratings file or the generator needs no data directory (a container may have no
            // HOME to derive one from).
            let dir = if args.data.dataset.is_some() { data_dir()? } else { std::path::PathBuf::new() };
            let report = train::train(args, &dir, progress_enabled(args.format))?;
            train::print_train(out, args.format, &report)
        }
        Command::Recommend(args) => query::print_recommendations(out, args.format, &query::recommend(args)?),
        Command::Similar(args) => query::print_similar(out, args.format, &query::similar_to(args)?),
        Command::Models(command) => models_cmd::run(command, out),
        Command::Datasets(command) => {
            datasets_cmd::run(command, &data_dir()?, progress_enabled(datasets_cmd::format_of(command)), out)
        }
        Command::Evaluate(args) => {
            let report = evaluate::evaluate(args, &data_dir()?, progress_enabled(args.format))?;
            evaluate::print_evaluation(out, args.format, &report)
        }
        Command::Bench(BenchCommand::Als(args)) => {
            let report = bench::bench_als(args, &data_dir()?, progress_enabled(args.format))?;
            bench::print_bench(out, args.format, &report)
        }
        Command::Peer(PeerCommand::Prepare(args)) => {
            let meta = peer::prepare(args, &data_dir()?)?;
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
