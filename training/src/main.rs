//! `cinerec`: the command-line driver over the `training` library. Parses the flags, runs the
//! command, prints its result on stdout and errors on stderr. Exit codes (`training::error::exit`):
//! 1 a failure a retry may cure, 2 a usage error, 3 bad input data, 4 the quality gate refused
//! the new model.

use std::io::Write;
use std::process::ExitCode;

use training::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let res = training::run(&cli, &mut out).and_then(|()| Ok(out.flush()?));
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            let code = err.exit_code();
            let err = anyhow::Error::new(err);
            eprintln!("error: {err:#}");
            ExitCode::from(code)
        }
    }
}
