//! `cinerec train` configured through `CINEREC_*` variables only, as a Kubernetes CronJob runs
//! it, in a child process (the variables must not leak into the other tests).

use std::process::Command;

use super::data_dir;

/// Runs the `cinerec` binary with `vars` and `args`; returns stdout, or panics with stderr.
fn run(vars: &[(&str, &str)], args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cinerec"));
    command.args(args).env("CINEREC_DATA_DIR", data_dir());
    for (key, value) in vars {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cinerec {args:?} with {vars:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn train_takes_every_setting_from_the_environment() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("cron").to_str().unwrap().to_owned();
    let vars = [
        ("CINEREC_DATASET", "ml-100k"),
        ("CINEREC_MODEL", "item-knn"),
        ("CINEREC_NEIGHBOURS", "20"),
        ("CINEREC_SIMILARITY", "cosine"),
        ("CINEREC_EVALUATE", "holdout"),
        ("CINEREC_EVAL_K", "5"),
        ("CINEREC_THREADS", "1"),
        ("CINEREC_SEED", "7"),
        ("CINEREC_MODEL_STORE", store.as_str()),
        ("CINEREC_FORMAT", "json"),
    ];
    let report: serde_json::Value = serde_json::from_str(&run(&vars, &["train"])).unwrap();
    assert_eq!(report["model"], "item-knn", "{report:#}");
    assert_eq!(report["params"]["neighbours"], 20);
    assert_eq!(report["params"]["similarity"]["kind"], "cosine", "{report:#}");
    assert_eq!(report["threads"], 1);
    assert!(report["metrics"]["ndcg@5"].as_f64().unwrap() > 0.15, "{report:#}");
    assert!(report["dataset"].as_str().unwrap().contains("(seed 7)"));
    assert_eq!(report["store"], store.as_str());

    // The store variable serves the query commands too, and a flag beats a variable.
    let out = run(&[("CINEREC_MODEL_STORE", store.as_str())], &["models", "list"]);
    assert!(out.contains(report["version"].as_str().unwrap()), "{out}");
    let u1 = data_dir().join("ml-100k/u1.base");
    let vars = [("CINEREC_DATASET", "ml-100k"), ("CINEREC_MODEL", "popularity"), ("CINEREC_FORMAT", "json")];
    let out = run(&vars, &["train", "--ratings", u1.to_str().unwrap(), "--store", &store]);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(report["dataset"].as_str().unwrap().starts_with("u1.base"), "{report:#}");
}

/// Runs the `cinerec` binary with `vars` (and no inherited S3 variables) and `args`, expecting a
/// failure; returns stderr.
fn fail(vars: &[(&str, &str)], args: &[&str]) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cinerec"));
    command.args(args).env("CINEREC_DATA_DIR", data_dir());
    for key in [
        "CINEREC_S3_ENDPOINT",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ] {
        command.env_remove(key);
    }
    for (key, value) in vars {
        command.env(key, value);
    }
    let out = command.output().unwrap();
    assert!(!out.status.success(), "cinerec {args:?} with {vars:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

#[test]
fn s3_store_takes_its_connection_from_flags_or_the_environment() {
    let endpoint = service_common::testing::server_url("CINEREC_TEST_S3_ENDPOINT");
    let access_key = service_common::testing::server_url("CINEREC_TEST_S3_ACCESS_KEY");
    let secret_key = service_common::testing::server_url("CINEREC_TEST_S3_SECRET_KEY");
    let store = format!("s3://cinerec-nowhere-{}/models", std::process::id());
    let list = ["models", "list", "--store", store.as_str()];

    // No credentials: the error names the flags and variables.
    let stderr = fail(&[], &list);
    assert!(stderr.contains("--s3-access-key-id") && stderr.contains("AWS_SECRET_ACCESS_KEY"), "{stderr}");

    // The variables that always worked reach the store: the missing bucket is named at the
    // test server's endpoint.
    let vars = [
        ("CINEREC_S3_ENDPOINT", endpoint.as_str()),
        ("AWS_ACCESS_KEY_ID", access_key.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret_key.as_str()),
    ];
    let stderr = fail(&vars, &list);
    assert!(stderr.contains(&format!("does not exist at {endpoint}")), "{stderr}");
    assert!(!stderr.contains(&secret_key), "{stderr}");

    // So do the flags.
    let flags = [
        "--s3-endpoint",
        &endpoint,
        "--s3-access-key-id",
        &access_key,
        "--s3-secret-access-key",
        &secret_key,
    ];
    let stderr = fail(&[], &[&list[..], &flags[..]].concat());
    assert!(stderr.contains(&format!("does not exist at {endpoint}")), "{stderr}");
}
