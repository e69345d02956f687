//! `cinerec models list | inspect | prune`, and the errors of a store in trouble: empty,
//! unknown version, corrupt artifact.

use super::{cinerec, f, json};

/// Trains a small popularity model into `store` and returns its version.
fn train(store: &str) -> String {
    let report = json(&["train", "--dataset", "ml-100k", "--model", "popularity", "--store", store]);
    report["version"].as_str().unwrap().to_owned()
}

#[test]
fn versions_are_listed_inspected_and_pruned() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().to_str().unwrap();
    let out = cinerec(&["models", "list", "--store", store]).unwrap();
    assert!(out.starts_with("no models in"), "{out}");
    let versions: Vec<String> = (0..3).map(|_| train(store)).collect();

    let list = json(&["models", "list", "--store", store]);
    let listed: Vec<&str> = list.as_array().unwrap().iter().map(|l| l["version"].as_str().unwrap()).collect();
    assert_eq!(listed, versions, "oldest first");
    let latest: Vec<bool> = list.as_array().unwrap().iter().map(|l| l["latest"].as_bool().unwrap()).collect();
    assert_eq!(latest, [false, false, true]);

    let inspected = json(&["models", "inspect", &versions[0], "--store", store]);
    assert_eq!(inspected["kind"], "popularity");
    assert_eq!(inspected["latest"], false);
    assert_eq!(f(&inspected["n_users"]), 943.0);
    assert_eq!(f(&inspected["nnz"]), 55_375.0);
    assert_eq!(f(&inspected["n_movies"]), 1682.0);
    assert_eq!(inspected["format_version"], 2);
    assert_eq!(f(&inspected["also_seen_nnz"]), 100_000.0 - 55_375.0, "every other rating is recorded");
    assert!(inspected["dataset"].as_str().unwrap().starts_with("ml-100k"));
    assert!(inspected["code_version"].as_str().unwrap().starts_with(env!("CARGO_PKG_VERSION")));
    assert!(f(&inspected["decode_seconds"]) >= 0.0);
    let text = cinerec(&["models", "inspect", "--store", store]).unwrap();
    assert!(text.contains(&format!("{} (LATEST)", versions[2])), "{text}");
    assert!(text.contains("943 users × 1,682 movies, 55,375 training interactions"), "{text}");

    let elsewhere = tempfile::tempdir().unwrap();
    let copied =
        json(&["models", "copy", &versions[1], "--store", store, "--to", elsewhere.path().to_str().unwrap()]);
    assert_eq!(copied["from_version"], versions[1].as_str());
    let there = json(&["models", "inspect", "--store", elsewhere.path().to_str().unwrap()]);
    assert_eq!(there["version"], copied["to_version"]);
    assert_eq!(there["size_bytes"], inspected["size_bytes"]);

    let out = cinerec(&["models", "prune", "--keep", "1", "--store", store]).unwrap();
    assert!(out.starts_with("removed 2 version(s)"), "{out}");
    let list = json(&["models", "list", "--store", store]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["version"], versions[2].as_str());
}

/// `args` fail with a message containing `expected`.
fn check(args: &[&str], expected: &str) {
    match cinerec(args) {
        Ok(out) => panic!("cinerec {args:?} succeeded: {out}"),
        Err(err) => assert!(err.contains(expected), "cinerec {args:?}: {err:?} lacks {expected:?}"),
    }
}

#[test]
fn a_store_in_trouble_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().to_str().unwrap();
    check(&["recommend", "--store", store, "--user", "1"], "no model in");
    let version = train(store);
    let missing = "20200101T000000.000Z-abcdef";
    check(
        &["recommend", "--store", store, "--version", missing, "--user", "1"],
        "model version 20200101T000000.000Z-abcdef not found",
    );
    check(&["models", "inspect", "v7", "--store", store], "invalid model version `v7`");
    check(&["similar", "--store", "ftp://host/models", "--movie", "1"], "unknown scheme `ftp://`");

    // Flip one byte in the middle of the stored artifact.
    let path = tmp.path().join(format!("{version}.cinerec"));
    let mut bytes = fs_err::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    fs_err::write(&path, &bytes).unwrap();
    for args in [
        &["recommend", "--store", store, "--user", "1"][..],
        &["models", "inspect", &version, "--store", store],
    ] {
        check(args, &format!("model {version} in {store}: checksum mismatch"));
    }
    // Listing still works: it reads names and sizes only.
    assert_eq!(json(&["models", "list", "--store", store]).as_array().unwrap().len(), 1);
}
