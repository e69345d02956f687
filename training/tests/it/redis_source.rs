//! The Redis ratings source: ml-100k imported into a fresh key prefix of the test Redis
//! (`CINEREC_TEST_REDIS_URL`) with the ratings service's own importer, read back as the same
//! log as the files in canonical (user, movie) order, trained into bit-identical models, and
//! through `cinerec train --ratings-redis` to the same quality as `--dataset ml-100k`.

use std::time::Instant;

use datasets::{DatasetName, checkout_data_dir};
use training::cli::{EvaluateWith, ModelArgs, ModelKind};
use training::data::Loaded;
use training::fit::model_spec;
use training::source::RatingsSource;
use training::source::redis::RedisRatings;
use training::train::{TrainOptions, train_model};

use super::{f, json};

/// Imports ml-100k under a fresh prefix; returns (url, prefix).
fn imported_ml_100k() -> (String, String) {
    let url = service_common::testing::server_url("CINEREC_TEST_REDIS_URL");
    let prefix = format!("test-train-{}", uuid::Uuid::new_v4().simple());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let settings = ratings::RedisStoreSettings { prefix: prefix.clone(), ..Default::default() };
        let store = ratings::RedisStore::connect(&ratings::RedisUrl::new(&url), settings).await.unwrap();
        let options = importer::ratings::ImportOptions::default();
        let report =
            importer::ratings::import_dataset(&store, &checkout_data_dir(), DatasetName::Ml100k, options)
                .await
                .unwrap();
        assert_eq!(report.created, 100_000);
        store.quit().await;
    });
    (url, prefix)
}

#[test]
fn training_from_redis_matches_training_from_the_files() {
    let (url, prefix) = imported_ml_100k();
    let started = Instant::now();
    let from_redis = RedisRatings { url: url.clone(), prefix: prefix.clone() }.load().unwrap();
    let load_seconds = started.elapsed().as_secs_f64();
    let mut ratings = datasets::load_ratings(&checkout_data_dir(), DatasetName::Ml100k).unwrap();
    ratings.sort_by_key(|r| (r.user_id, r.movie_id));
    let from_files = datasets::ratings_to_log(&ratings);
    assert_eq!(from_redis.log.entries.len(), 100_000);
    assert!(from_redis.log == from_files, "Redis gives the files' ratings in canonical order");

    let params = ModelArgs { factors: Some(32), iterations: Some(8), ..ModelArgs::default() };
    let options = TrainOptions {
        spec: model_spec(ModelKind::ImplicitAls, &params, 42).unwrap(),
        evaluate: EvaluateWith::Holdout,
        k: 10,
        seed: 42,
    };
    let pool = training::bench::thread_pool(2).unwrap();
    let bar = indicatif::ProgressBar::hidden();
    let redis = train_model(from_redis, &options, &pool, &bar).unwrap();
    let files = Loaded { name: "ml-100k (canonical order)".into(), log: from_files, movies: Vec::new() };
    let mut files = train_model(files, &options, &pool, &bar).unwrap();
    assert_eq!(redis.artifact.meta.metrics, files.artifact.meta.metrics);
    files.artifact.meta = redis.artifact.meta.clone();
    let same = artifacts::to_bytes(&redis.artifact).unwrap() == artifacts::to_bytes(&files.artifact).unwrap();
    assert!(same, "identical factors, id maps and training matrix");

    // The command line, against `--dataset ml-100k` in the files' own order: the same quality.
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("models").to_str().unwrap().to_owned();
    let common =
        ["--factors", "32", "--iterations", "8", "--evaluate", "holdout", "--threads", "2", "--store"];
    let train = |source: &[&str]| {
        let args: Vec<&str> =
            ["train"].iter().chain(source).chain(&common).copied().chain([store.as_str()]).collect();
        json(&args)
    };
    let from_redis = train(&["--ratings-redis", &url, "--ratings-prefix", &prefix]);
    let from_files = train(&["--dataset", "ml-100k"]);
    assert!(from_redis["dataset"].as_str().unwrap().starts_with("redis redis://"), "{from_redis:#}");
    assert_eq!(f(&from_redis["n_ratings"]), 100_000.0);
    assert_eq!(from_redis["n_users"], from_files["n_users"]);
    assert_eq!(from_redis["n_items"], from_files["n_items"]);
    for metric in ["ndcg@10", "precision@10"] {
        let (a, b) = (f(&from_redis["metrics"][metric]), f(&from_files["metrics"][metric]));
        assert!((a - b).abs() < 0.02, "{metric}: Redis {a}, files {b}");
        eprintln!("{metric}: from Redis {a:.4}, from the files {b:.4}");
    }
    eprintln!(
        "load: Redis {load_seconds:.2} s (library), `cinerec train` load {:.2} s from Redis, {:.2} s from the files",
        f(&from_redis["load_seconds"]),
        f(&from_files["load_seconds"])
    );
}

#[test]
fn ratings_redis_is_a_train_only_source() {
    let err =
        super::cinerec(&["evaluate", "--ratings-redis", "redis://127.0.0.1:1", "--model", "popularity"])
            .unwrap_err();
    assert!(err.contains("`cinerec train` only"), "{err}");
    let err = super::cinerec(&["train", "--ratings-redis", "redis://127.0.0.1:1", "--dataset", "ml-100k"])
        .unwrap_err();
    assert!(err.contains("cannot be used with"), "{err}");
}
