//! Integration tests of the `cinerec` commands, run as library calls (and, for environment
//! configuration, as a process) on ml-100k and ml-latest-small (from `CINEREC_DATA_DIR`, else
//! `../shared/datasets` beside the workspace).

use training::cli::Cli;
use training::exchange::{self, ExchangeDir};

/// The shared datasets folder.
use datasets::checkout_data_dir as data_dir;

/// Runs `cinerec ARGS` (with `--data-dir` set) as a library call; returns stdout or the error text.
fn cinerec(args: &[&str]) -> Result<String, String> {
    let dir = data_dir();
    let argv = ["cinerec", "--data-dir", dir.to_str().unwrap()].into_iter().chain(args.iter().copied());
    let cli = Cli::parse_args(argv).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    training::run(&cli, &mut out).map_err(|e| e.to_string())?;
    Ok(String::from_utf8(out).unwrap())
}

/// Runs a JSON-format command and parses its output.
fn json(args: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = args.iter().copied().chain(["--format", "json"]).collect();
    let out = cinerec(&args).unwrap_or_else(|e| panic!("cinerec {args:?}: {e}"));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn f(v: &serde_json::Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

mod cli_errors;
mod env_config;
mod evaluate;
mod exchange_format;
mod models;
mod peer;
mod quickstart;
mod redis_source;
mod seen;
mod train_query;
mod warehouse_source;
