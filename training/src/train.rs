//! `cinerec train`: load ratings from a [`RatingsSource`], fit a model (implicit models on the
//! positives, ratings ≥ 4, as the holdout protocol does; explicit ALS on every rating),
//! optionally evaluate it on a holdout, and store it as a new artifact version. The artifact
//! also records every other rated movie, so that no list recommends a movie its user rated.
//!
//! With `--evaluate holdout`, 20 % of the positives of each user with at least 5 are held out
//! (seeded), the model trains on the rest and *that* model is stored, so its metrics describe
//! exactly the stored model.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use artifacts::{Artifact, Metadata, MovieInfo};
use engine::eval;
use engine::{Csr, InteractionLog, TrainingUsers};
use indicatif::ProgressBar;
use rayon::ThreadPool;
use serde::Serialize;

use crate::bench::thread_pool;
use crate::cli::{EvaluateWith, Format, Protocol, TrainArgs};
use crate::data::{self, Loaded};
use crate::error::{Error, Result};
use crate::evaluate::{MIN_POSITIVES, Metrics, TEST_FRACTION, ranking_split};
use crate::fit::{self, ModelSpec, model_spec};
use crate::output::{self, bytes, count, num};
use crate::source::RatingsSource;
use crate::source::redis::RedisRatings;
use crate::source::warehouse::WarehouseRatings;
use crate::store::Store;

/// The commit this binary was built from, when the build knew it (see `build.rs`).
pub const GIT_HASH: Option<&str> = option_env!("CINEREC_GIT_HASH");

/// How to train.
#[derive(Clone, Debug)]
pub struct TrainOptions {
    /// The model and its checked hyperparameters.
    pub spec: ModelSpec,
    /// Whether to evaluate on a holdout first.
    pub evaluate: EvaluateWith,
    /// Cut-off K of the ranking metrics.
    pub k: usize,
    /// Seed of the holdout split (the model's seed is in `spec`).
    pub seed: u64,
}

/// The holdout evaluation of a trained model.
#[derive(Clone, Debug)]
pub struct Evaluation {
    /// The figures.
    pub metrics: Metrics,
    /// The held-out positives (user × item, the model's index space).
    pub test: Csr,
    /// Seconds spent evaluating.
    pub seconds: f64,
}

/// A trained model, ready to store.
#[derive(Debug)]
pub struct Trained {
    /// The artifact: model, id maps, training matrix, catalogue, metadata (metrics included).
    pub artifact: Artifact,
    /// The holdout evaluation, when asked for.
    pub evaluation: Option<Evaluation>,
    /// Ratings the source gave.
    pub n_ratings: usize,
    /// Seconds building the training matrices (and the split) from the ratings.
    pub prepare_seconds: f64,
    /// Seconds spent fitting.
    pub fit_seconds: f64,
    /// What the largest structures took.
    pub memory: MemoryReport,
}

/// The memory of a training run: the peak resident set and the structures that make it.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct MemoryReport {
    /// Peak resident set size of the process (Linux `VmHWM`), bytes.
    pub peak_rss_bytes: Option<u64>,
    /// The ratings as loaded (the interaction log), bytes.
    pub ratings_bytes: u64,
    /// The training matrix, both ways (by user and by item, with the confidences), bytes.
    pub csr_bytes: u64,
    /// User and item factors (factor models), bytes.
    pub factors_bytes: u64,
    /// The serialized artifact, bytes.
    pub artifact_bytes: u64,
}

/// Bytes of a CSR matrix's arrays.
fn csr_bytes(m: &Csr) -> u64 {
    (std::mem::size_of_val(m.indptr())
        + std::mem::size_of_val(m.indices())
        + std::mem::size_of_val(m.values())) as u64
}

/// The metrics of `m` under the names stored in artifacts (`ndcg@10`, `auc`, ...).
pub fn metric_map(m: &Metrics, k: usize) -> BTreeMap<String, f64> {
    let named = [
        (format!("precision@{k}"), m.precision),
        (format!("recall@{k}"), m.recall),
        (format!("ndcg@{k}"), m.ndcg),
        (format!("map@{k}"), m.map),
        ("auc".to_owned(), m.auc),
        (format!("coverage@{k}"), m.coverage),
        ("eval_users".to_owned(), m.users.map(|u| u as f64)),
        ("rmse".to_owned(), m.rmse),
        ("mae".to_owned(), m.mae),
    ];
    named.into_iter().filter_map(|(name, v)| v.filter(|v| v.is_finite()).map(|v| (name, v))).collect()
}

/// Fits `options.spec` on `loaded` in `pool` (advancing `bar` per iteration), evaluates it when
/// asked, and assembles the artifact. Consumes the ratings so that their memory is freed as
/// soon as the training matrix is built.
pub fn train_model(
    loaded: Loaded,
    options: &TrainOptions,
    pool: &ThreadPool,
    bar: &ProgressBar,
) -> Result<Trained> {
    if options.k == 0 {
        return Err(Error::Usage("--k must be at least 1".into()));
    }
    let Loaded { name, mut log, movies } = loaded;
    let (n_users, n_items, n_ratings) = (log.n_users(), log.n_items(), log.entries.len());
    let ratings_bytes = std::mem::size_of_val(log.entries.as_slice()) as u64;
    let explicit = options.spec.is_explicit();
    let params = options.spec.params();
    let start = Instant::now();
    // Implicit models learn from the positives; every rated movie is seen. The raw ratings are
    // the run's largest buffer: both matrices read them in place, the rest are compacted in
    // place before the training matrix is built, and they are freed before the fit.
    let (train, also_seen, test) = pool.install(|| match options.evaluate {
        EvaluateWith::None => {
            let also_seen = data::also_seen(n_users, n_items, &log.entries, &params)?;
            log.entries.retain(|e| params.interaction_value(e.value).is_some());
            log.entries.shrink_to_fit();
            Ok((data::learned(n_users, n_items, &log.entries, &params)?, also_seen, None))
        }
        EvaluateWith::Holdout => {
            let split = ranking_split(Protocol::Holdout, &log, &params, options.seed, None)?;
            Ok::<_, Error>((split.train, split.also_seen, Some(split.test)))
        }
    })?;
    let InteractionLog { users, items, entries } = log;
    drop(entries);
    let prepare_seconds = start.elapsed().as_secs_f64();
    let start = Instant::now();
    let model = fit::fit(&options.spec, &train, pool, bar)?;
    let fit_seconds = start.elapsed().as_secs_f64();
    let evaluation = match test {
        Some(test) => {
            let start = Instant::now();
            let report = pool.install(|| {
                eval::evaluate_ranking(
                    model.as_recommender(),
                    TrainingUsers::new(train.user_items(), &also_seen)?,
                    &test,
                    options.k,
                )
            })?;
            let seconds = start.elapsed().as_secs_f64();
            Some(Evaluation { metrics: Metrics::from(&report), test, seconds })
        }
        None => None,
    };
    let seen = train.user_items().clone();
    let memory = MemoryReport {
        ratings_bytes,
        csr_bytes: csr_bytes(train.user_items()) + csr_bytes(train.item_users()),
        factors_bytes: model.as_recommender().factors().map_or(0, |f| {
            (std::mem::size_of_val(f.user_factors()) + std::mem::size_of_val(f.item_factors())) as u64
        }),
        ..MemoryReport::default()
    };
    drop(train);
    let what = match &params {
        _ if explicit => "all ratings".to_owned(),
        artifacts::ModelParams::Blend(p) if p.low_rating_weight > 0.0 => {
            format!("positives (ratings >= 4) as 1, lower ratings as {}", p.low_rating_weight)
        }
        _ => "positives (ratings >= 4)".to_owned(),
    };
    let mut dataset = format!("{name}, {what}");
    if evaluation.is_some() {
        dataset.push_str(&format!(
            ", minus a holdout of {:.0} % of the positives of users with >= {MIN_POSITIVES} (seed {})",
            TEST_FRACTION * 100.0,
            options.seed
        ));
    }
    let mut meta = Metadata::new(dataset, GIT_HASH);
    if let Some(e) = &evaluation {
        meta.metrics = metric_map(&e.metrics, options.k);
    }
    let movies = movies
        .into_iter()
        .map(|m| MovieInfo { movie_id: m.movie_id, title: m.title, year: m.year, genres: m.genres })
        .collect();
    let artifact = Artifact { model, users, items, seen, also_seen, movies, meta, upgraded_from: None };
    Ok(Trained { artifact, evaluation, n_ratings, prepare_seconds, fit_seconds, memory })
}

/// The result of `cinerec train`.
#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    /// The new version.
    pub version: String,
    /// The store it went to.
    pub store: String,
    /// Model kind.
    pub model: &'static str,
    /// Hyperparameters as written in the artifact.
    pub params: serde_json::Value,
    /// What it was trained on.
    pub dataset: String,
    /// Ratings the source gave.
    pub n_ratings: usize,
    /// Users of the model.
    pub n_users: usize,
    /// Movies of the model.
    pub n_items: usize,
    /// Training interactions.
    pub n_train: usize,
    /// Movies in the catalogue.
    pub n_movies: usize,
    /// Holdout metrics (empty without `--evaluate`).
    pub metrics: BTreeMap<String, f64>,
    /// Artifact size in bytes.
    pub size_bytes: u64,
    /// Training threads.
    pub threads: usize,
    /// Seconds reading the ratings.
    pub load_seconds: f64,
    /// Seconds building the training matrices from the ratings.
    pub prepare_seconds: f64,
    /// Seconds fitting.
    pub fit_seconds: f64,
    /// Seconds evaluating.
    pub evaluate_seconds: f64,
    /// Seconds serializing and storing the artifact.
    pub write_seconds: f64,
    /// Wall time of the whole command.
    pub wall_seconds: f64,
    /// The code version written into the artifact.
    pub code_version: String,
    /// What the quality gate decided (absent without `--quality-gate-margin`).
    pub quality_gate: Option<String>,
    /// Peak memory and what made it.
    pub memory: MemoryReport,
}

/// The serving model's recorded `metric`, for the quality gate: `(version, figure)`, or why
/// there is nothing to compare with.
fn serving_metric(store: &Store, metric: &str) -> Result<std::result::Result<(String, f64), String>> {
    let Some(version) = store.latest()? else { return Ok(Err("no serving model yet".into())) };
    let info = store.info(&version, &store.fetch(&version)?)?;
    Ok(match info.metrics.get(metric) {
        Some(&figure) => Ok((version.to_string(), figure)),
        None => Err(format!("the serving model {version} has no recorded {metric}")),
    })
}

/// Runs `cinerec train` (ratings named by `args.data`, datasets read from `data_dir`).
pub fn train(args: &TrainArgs, data_dir: &Path, progress: bool) -> Result<TrainReport> {
    let started = Instant::now();
    let spec = model_spec(args.model, &args.params, args.seed)?;
    let options = TrainOptions { spec, evaluate: args.evaluate, k: args.k, seed: args.seed };
    if args.k == 0 {
        return Err(Error::Usage("--k must be at least 1".into()));
    }
    if let Some(margin) = args.quality_gate_margin {
        if !(margin.is_finite() && margin >= 0.0) {
            return Err(Error::Usage(format!("--quality-gate-margin must be a number >= 0, got {margin}")));
        }
        if args.evaluate != EvaluateWith::Holdout {
            return Err(Error::Usage("--quality-gate-margin needs --evaluate holdout".into()));
        }
    }
    let store = Store::from_args(&args.store)?;
    // Fail before a long training run when the store is unreachable (S3 credentials, bucket).
    store.latest()?;
    let source: Box<dyn RatingsSource> = match (&args.data.ratings_redis, &args.data.ratings_warehouse) {
        (Some(url), _) => Box::new(RedisRatings { url: url.clone(), prefix: args.ratings_prefix.clone() }),
        (None, Some(url)) => Box::new(WarehouseRatings { url: url.clone() }),
        (None, None) => data::source(&args.data, args.seed)?.open(data_dir),
    };
    let pool = thread_pool(args.threads)?;
    let start = Instant::now();
    let loaded = pool.install(|| source.load())?;
    let load_seconds = start.elapsed().as_secs_f64();
    let bar =
        output::bar(progress, options.spec.iterations() as u64, format!("training {}", args.model.name()));
    let trained = train_model(loaded, &options, &pool, &bar)?;
    bar.finish_and_clear();
    let start = Instant::now();
    let a = &trained.artifact;
    let mut report = TrainReport {
        version: String::new(),
        store: store.uri(),
        model: args.model.name(),
        params: output::params_json(&a.model.params()),
        dataset: a.meta.dataset.clone(),
        n_ratings: trained.n_ratings,
        n_users: a.users.len(),
        n_items: a.items.len(),
        n_train: a.seen.nnz(),
        n_movies: a.movies.len(),
        metrics: a.meta.metrics.clone(),
        size_bytes: 0,
        threads: pool.current_num_threads(),
        load_seconds,
        prepare_seconds: trained.prepare_seconds,
        fit_seconds: trained.fit_seconds,
        evaluate_seconds: trained.evaluation.as_ref().map_or(0.0, |e| e.seconds),
        write_seconds: 0.0,
        wall_seconds: 0.0,
        code_version: a.meta.code_version.clone(),
        quality_gate: None,
        memory: trained.memory,
    };
    let bytes = artifacts::to_bytes(&trained.artifact)?;
    drop(trained);
    report.size_bytes = bytes.len() as u64;
    report.memory.artifact_bytes = bytes.len() as u64;
    if let Some(margin) = args.quality_gate_margin {
        // The serving model is read now, not before training: LATEST may have moved meanwhile.
        let metric = format!("ndcg@{}", args.k);
        let new = report.metrics.get(&metric).copied().unwrap_or(f64::NAN);
        report.quality_gate = Some(match serving_metric(&store, &metric)? {
            Ok((serving, old)) if new.is_nan() || new < old - margin => {
                let version = store.put_unpublished(bytes)?.to_string();
                return Err(Error::QualityGate { version, serving, metric, new, old, margin });
            }
            Ok((serving, old)) => {
                format!(
                    "passed: {metric} {new:.4} against the serving model {serving}'s {old:.4} (margin {margin:.4})"
                )
            }
            Err(why) => format!("passed: {why}, nothing to compare"),
        });
    }
    report.version = store.put(bytes)?.to_string();
    report.write_seconds = start.elapsed().as_secs_f64();
    report.wall_seconds = started.elapsed().as_secs_f64();
    report.memory.peak_rss_bytes = output::peak_rss_bytes();
    Ok(report)
}

/// Prints a [`TrainReport`].
pub fn print_train(out: &mut dyn Write, format: Format, r: &TrainReport) -> Result<()> {
    if format == Format::Json {
        return output::emit(out, format, r, output::Table::default);
    }
    let metrics = if r.metrics.is_empty() {
        "- (no --evaluate)".to_owned()
    } else {
        r.metrics.iter().map(|(k, v)| format!("{k} {}", output::metric(k, *v))).collect::<Vec<_>>().join("  ")
    };
    output::pairs(
        out,
        &[
            ("version", r.version.clone()),
            ("store", r.store.clone()),
            ("model", format!("{} {}", r.model, output::params_text(&r.params))),
            ("data", r.dataset.clone()),
            (
                "shape",
                format!(
                    "{} users × {} movies, {} training interactions (of {} ratings), {} movies in the catalogue",
                    count(r.n_users as u64),
                    count(r.n_items as u64),
                    count(r.n_train as u64),
                    count(r.n_ratings as u64),
                    count(r.n_movies as u64)
                ),
            ),
            ("metrics", metrics),
            ("size", bytes(r.size_bytes)),
            (
                "time",
                format!(
                    "{} s wall: load {} s, matrices {} s, fit {} s, evaluate {} s, write {} s ({} threads)",
                    num(Some(r.wall_seconds), 2),
                    num(Some(r.load_seconds), 2),
                    num(Some(r.prepare_seconds), 2),
                    num(Some(r.fit_seconds), 2),
                    num(Some(r.evaluate_seconds), 2),
                    num(Some(r.write_seconds), 2),
                    r.threads
                ),
            ),
            ("code", r.code_version.clone()),
            (
                "memory",
                format!(
                    "peak RSS {}: ratings {}, training matrix both ways {}, factors {}, artifact {}",
                    r.memory.peak_rss_bytes.map_or("unknown".into(), bytes),
                    bytes(r.memory.ratings_bytes),
                    bytes(r.memory.csr_bytes),
                    bytes(r.memory.factors_bytes),
                    bytes(r.memory.artifact_bytes)
                ),
            ),
            ("quality gate", r.quality_gate.clone().unwrap_or_else(|| "- (no --quality-gate-margin)".into())),
        ],
    )
}
