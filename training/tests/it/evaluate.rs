//! `cinerec evaluate` on ml-100k returns metrics in the ranges the protocols are known for.

use super::{f, json};

/// Runs `evaluate` on ml-100k and checks the mean nDCG@10 lies in `ndcg` and the number of parts.
fn check(args: &[&str], parts: usize, ndcg: std::ops::Range<f64>) -> serde_json::Value {
    let args: Vec<&str> =
        ["evaluate", "--dataset", "ml-100k", "--threads", "2"].iter().chain(args).copied().collect();
    let report = json(&args);
    assert_eq!(report["parts"].as_array().unwrap().len(), parts, "{report:#}");
    let got = f(&report["mean"]["ndcg"]);
    assert!(ndcg.contains(&got), "{args:?}: nDCG@10 {got} outside {ndcg:?}");
    report
}

#[test]
fn popularity_on_the_holdout_protocol() {
    let report = check(&["--model", "popularity", "--protocol", "holdout"], 1, 0.10..0.25);
    let part = &report["parts"][0];
    // 943 users, 55,375 positives; users with >= 5 positives give 20 % to test.
    assert_eq!(f(&part["n_train"]) + f(&part["n_test"]), 55_375.0, "{part:#}");
    assert!((900.0..=943.0).contains(&f(&part["metrics"]["users"])), "{part:#}");
    let precision = f(&report["mean"]["precision"]);
    assert!((0.05..0.2).contains(&precision), "P@10 {precision}");
    assert!(f(&report["mean"]["auc"]) > 0.8);
    assert!(report["mean"]["rmse"].is_null());
}

#[test]
fn official_folds_and_strong_generalization() {
    let folds = check(&["--model", "popularity", "--protocol", "folds"], 5, 0.10..0.30);
    let names: Vec<&str> =
        folds["parts"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["u1", "u2", "u3", "u4", "u5"]);
    // u1.test holds 20,000 ratings of which 11,235 are >= 4 (checked with awk).
    assert_eq!(f(&folds["parts"][0]["n_test"]), 11_235.0);
    check(&["--model", "popularity", "--protocol", "strong", "--heldout-users", "150"], 1, 0.10..0.30);
}

#[test]
fn learned_models_beat_popularity_on_the_holdout() {
    let als = check(&["--model", "implicit-als", "--iterations", "8", "--factors", "32"], 1, 0.2..0.5);
    let knn = check(&["--model", "item-knn", "--neighbours", "50"], 1, 0.15..0.4);
    let pop = check(&["--model", "popularity"], 1, 0.1..0.25);
    assert!(f(&als["mean"]["ndcg"]) > f(&pop["mean"]["ndcg"]) + 0.05);
    assert!(f(&knn["mean"]["ndcg"]) > f(&pop["mean"]["ndcg"]));
}

#[test]
fn explicit_als_on_the_official_folds_predicts_ratings() {
    let report = json(&[
        "evaluate",
        "--dataset",
        "ml-100k",
        "--model",
        "explicit-als",
        "--protocol",
        "folds",
        "--iterations",
        "6",
        "--threads",
        "2",
    ]);
    // The hyperparameters as an object a tool can compare, as an artifact's header has them.
    assert_eq!(report["params"]["kind"], "explicit-als", "{report:#}");
    assert_eq!(report["params"]["iterations"], 6, "{report:#}");
    assert!(report["params"]["regularization"].is_number(), "{report:#}");
    let parts = report["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 5);
    assert!(parts.iter().all(|p| f(&p["n_test"]) == 20_000.0), "{report:#}");
    let (rmse, mae) = (f(&report["mean"]["rmse"]), f(&report["mean"]["mae"]));
    // Surprise's SVD reaches 0.934 / 0.737 on these folds; a global mean alone ~1.12.
    assert!((0.85..0.92).contains(&rmse) && (0.65..0.74).contains(&mae), "RMSE {rmse} MAE {mae}");
    // Trained for RMSE, it ranks worse than popularity on the same folds (nDCG@10 ~0.12 vs ~0.18).
    let popularity =
        json(&["evaluate", "--dataset", "ml-100k", "--model", "popularity", "--protocol", "folds"]);
    let (explicit_ndcg, popularity_ndcg) = (f(&report["mean"]["ndcg"]), f(&popularity["mean"]["ndcg"]));
    assert!(explicit_ndcg > 0.0 && explicit_ndcg < popularity_ndcg, "{explicit_ndcg} vs {popularity_ndcg}");
}

#[test]
fn ease_under_strong_generalization() {
    check(&["--model", "ease", "--protocol", "strong"], 1, 0.25..0.5);
}

#[test]
fn the_blend_ranks_above_ease_on_both_protocols_it_was_built_for() {
    // Same seed, so the same split for both models.
    for protocol in ["holdout", "strong"] {
        let blend = check(&["--model", "blend", "--protocol", protocol], 1, 0.3..0.6);
        let ease = check(&["--model", "ease", "--protocol", protocol], 1, 0.3..0.6);
        let (blend, ease) = (f(&blend["mean"]["ndcg"]), f(&ease["mean"]["ndcg"]));
        assert!(blend > ease, "{protocol}: blend {blend} vs EASE {ease}");
        if protocol == "holdout" {
            assert!(blend >= 1.05 * ease, "holdout: blend {blend} vs EASE {ease}");
        }
    }
}
