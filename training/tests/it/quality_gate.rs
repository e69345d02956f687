//! The nightly training job's command as the CronJob runs it (a process configured by
//! variables) against the S3 test server: the quality gate publishes a model that holds the
//! serving model's nDCG@10 and keeps LATEST on the serving model when the new one falls below it
//! by more than the margin (exit code 4); bad input and bad settings exit with their own codes,
//! which the CronJob does not retry.

use std::process::{Command, Output};

use artifacts::{ModelStore, S3Connection, S3Settings, S3Store};

use super::data_dir;

/// The test server's S3 variables, as the CronJob's Secret and ConfigMap give them.
fn s3_vars() -> Vec<(&'static str, String)> {
    let var = service_common::testing::server_url;
    vec![
        ("CINEREC_S3_ENDPOINT", var("CINEREC_TEST_S3_ENDPOINT")),
        ("AWS_ACCESS_KEY_ID", var("CINEREC_TEST_S3_ACCESS_KEY")),
        ("AWS_SECRET_ACCESS_KEY", var("CINEREC_TEST_S3_SECRET_KEY")),
        ("AWS_REGION", "us-east-1".into()),
    ]
}

/// A fresh bucket on the S3 test server, and the model store over it.
fn fresh_bucket(runtime: &tokio::runtime::Runtime) -> (String, ModelStore) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let bucket = format!("cinerec-gate-{}-{nanos}", std::process::id());
    let vars = s3_vars();
    let mut connection = S3Connection::new(&vars[1].1, &vars[2].1);
    connection.endpoint = Some(vars[0].1.clone());
    let store = S3Store::new(S3Settings::new(&bucket, "models", connection)).unwrap();
    runtime.block_on(store.client().create_bucket().bucket(&bucket).send()).unwrap();
    (bucket, ModelStore::S3(store))
}

/// `cinerec train` with the CronJob's variables plus `vars` (which name the ratings).
fn train(store: &str, vars: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cinerec"));
    command
        .arg("train")
        .env("CINEREC_DATA_DIR", data_dir())
        .env("CINEREC_MODEL_STORE", store)
        .env("CINEREC_EVALUATE", "holdout")
        .env("CINEREC_THREADS", "2")
        .env("CINEREC_FORMAT", "json");
    for (key, value) in s3_vars() {
        command.env(key, value);
    }
    for (key, value) in vars {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn report(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_quality_gate_publishes_a_good_model_and_refuses_a_worse_one() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (bucket, store) = fresh_bucket(&runtime);
    let uri = format!("s3://{bucket}/models");
    let gate = [("CINEREC_QUALITY_GATE_MARGIN", "0.02"), ("CINEREC_DATASET", "ml-100k")];
    let als = [("CINEREC_FACTORS", "16"), ("CINEREC_ITERATIONS", "5")];

    // The first model: nothing serves yet, so the gate lets it through.
    let first = report(&train(&uri, &[gate[0], gate[1], als[0], als[1]]));
    let first_version = first["version"].as_str().unwrap().to_owned();
    let first_ndcg = first["metrics"]["ndcg@10"].as_f64().unwrap();
    assert_eq!(first["quality_gate"], "passed: no serving model yet, nothing to compare", "{first:#}");
    assert_eq!(runtime.block_on(store.latest()).unwrap().unwrap().to_string(), first_version);

    // Popularity is far below implicit ALS on ml-100k: refused with exit code 4, stored but not
    // published, and the message names both figures and the margin.
    let refused = train(&uri, &[gate[0], gate[1], ("CINEREC_MODEL", "popularity")]);
    assert_eq!(refused.status.code(), Some(4), "{}", stderr(&refused));
    let message = stderr(&refused);
    assert!(message.contains("quality gate") && message.contains(&format!("{first_ndcg:.4}")), "{message}");
    assert!(
        message.contains(&format!("the serving model {first_version}")) && message.contains("0.0200"),
        "{message}"
    );
    assert_eq!(runtime.block_on(store.latest()).unwrap().unwrap().to_string(), first_version, "LATEST moved");
    let versions = runtime.block_on(store.list()).unwrap();
    assert_eq!(versions.len(), 2, "the refused model is kept for inspection");
    let refused_version =
        versions.iter().map(|v| v.version.to_string()).find(|v| *v != first_version).unwrap();
    assert!(message.contains(&refused_version), "{message}");

    // The same model retrained on another seed holds its figure within the margin: published.
    let second = report(&train(&uri, &[gate[0], gate[1], als[0], als[1], ("CINEREC_SEED", "7")]));
    let gate_text = second["quality_gate"].as_str().unwrap();
    assert!(gate_text.starts_with("passed: ndcg@10 ") && gate_text.contains(&first_version), "{gate_text}");
    let second_ndcg = second["metrics"]["ndcg@10"].as_f64().unwrap();
    assert!(second_ndcg >= first_ndcg - 0.02, "{second_ndcg} vs {first_ndcg}");
    assert_eq!(
        runtime.block_on(store.latest()).unwrap().unwrap().to_string(),
        second["version"].as_str().unwrap()
    );
}

#[test]
fn bad_input_and_bad_settings_exit_with_codes_the_cronjob_does_not_retry() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("models");
    let store = store.to_str().unwrap();

    // A malformed ratings line: exit 3, naming the file and line; nothing stored.
    let ratings = tmp.path().join("ratings.csv");
    std::fs::write(&ratings, "userId,movieId,rating,timestamp\n1,10,4.0,100\n2,x,5.0,200\n").unwrap();
    let out = train(store, &[("CINEREC_RATINGS", ratings.to_str().unwrap())]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("ratings.csv:3: field `movie_id`"), "{}", stderr(&out));
    assert!(!tmp.path().join("models/LATEST").exists());

    // The gate without a holdout, or with a negative margin: exit 2 before any training.
    let out = train(
        store,
        &[
            ("CINEREC_DATASET", "ml-100k"),
            ("CINEREC_EVALUATE", "none"),
            ("CINEREC_QUALITY_GATE_MARGIN", "0.01"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--quality-gate-margin needs --evaluate holdout"), "{}", stderr(&out));
    let out = train(store, &[("CINEREC_DATASET", "ml-100k"), ("CINEREC_QUALITY_GATE_MARGIN", "-1")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--quality-gate-margin must be a number >= 0"), "{}", stderr(&out));
}
