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
mod quality_gate;
mod quickstart;
mod redis_source;
mod seen;
mod train_query;
mod warehouse_source;

/// Trains `loaded` (ml-100k from another store) and the files' ratings in canonical order with
/// the same options: the metrics are equal and the artifacts byte-identical.
pub fn assert_same_model_as_the_files(loaded: training::data::Loaded) {
    use datasets::{DatasetName, checkout_data_dir};
    use training::cli::{EvaluateWith, ModelArgs, ModelKind};
    let mut ratings = datasets::load_ratings(&checkout_data_dir(), DatasetName::Ml100k).unwrap();
    ratings.sort_by_key(|r| (r.user_id, r.movie_id));
    let from_files = datasets::ratings_to_log(&ratings);
    assert_eq!(loaded.log.entries.len(), 100_000);
    assert!(loaded.log == from_files, "{} gives the files' ratings in canonical order", loaded.name);
    let params = ModelArgs { factors: Some(32), iterations: Some(8), ..ModelArgs::default() };
    let options = training::train::TrainOptions {
        spec: training::fit::model_spec(ModelKind::ImplicitAls, &params, 42).unwrap(),
        evaluate: EvaluateWith::Holdout,
        k: 10,
        seed: 42,
    };
    let pool = training::bench::thread_pool(2).unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let other = training::train::train_model(loaded, &options, &pool, &bar).unwrap();
    let files = training::data::Loaded {
        name: "ml-100k (canonical order)".into(),
        log: from_files,
        movies: Vec::new(),
    };
    let mut files = training::train::train_model(files, &options, &pool, &bar).unwrap();
    assert_eq!(other.artifact.meta.metrics, files.artifact.meta.metrics);
    files.artifact.meta = other.artifact.meta.clone();
    let same = artifacts::to_bytes(&other.artifact).unwrap() == artifacts::to_bytes(&files.artifact).unwrap();
    assert!(same, "identical factors, id maps and training matrix");
}

/// `cinerec train` from `source` (flags) and from `--dataset ml-100k` in the files' own order:
/// the same users, movies and quality; returns both reports.
pub fn train_like_the_files(source: &[&str]) -> (serde_json::Value, serde_json::Value) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("models").to_str().unwrap().to_owned();
    let common =
        ["--factors", "32", "--iterations", "8", "--evaluate", "holdout", "--threads", "2", "--store"];
    let train = |source: &[&str]| {
        let args: Vec<&str> =
            ["train"].iter().chain(source).chain(&common).copied().chain([store.as_str()]).collect();
        json(&args)
    };
    let (other, files) = (train(source), train(&["--dataset", "ml-100k"]));
    assert_eq!(f(&other["n_ratings"]), 100_000.0);
    assert_eq!(other["n_users"], files["n_users"]);
    assert_eq!(other["n_items"], files["n_items"]);
    for metric in ["ndcg@10", "precision@10"] {
        let (a, b) = (f(&other["metrics"][metric]), f(&files["metrics"][metric]));
        assert!((a - b).abs() < 0.02, "{metric}: {} {a}, files {b}", source[0]);
        eprintln!("{metric}: with {} {a:.4}, from the files {b:.4}", source[0]);
    }
    (other, files)
}
