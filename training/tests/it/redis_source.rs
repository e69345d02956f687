//! The Redis ratings source: ml-100k imported into a fresh key prefix of the test Redis
//! (`CINEREC_TEST_REDIS_URL`) with the ratings service's own importer, read back as the same
//! log as the files in canonical (user, movie) order, trained into bit-identical models, and
//! through `cinerec train --ratings-redis` to the same quality as `--dataset ml-100k`.

use std::time::Instant;

use datasets::{DatasetName, checkout_data_dir};
use training::source::RatingsSource;
use training::source::redis::RedisRatings;

use super::f;

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
    super::assert_same_model_as_the_files(from_redis);

    // The command line, against `--dataset ml-100k` in the files' own order: the same quality.
    let (from_redis, from_files) =
        super::train_like_the_files(&["--ratings-redis", &url, "--ratings-prefix", &prefix]);
    assert!(from_redis["dataset"].as_str().unwrap().starts_with("redis redis://"), "{from_redis:#}");
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
