//! `train` → artifact in a temporary local store → `recommend` (known user, unknown user,
//! history fold-in) and `similar` (by id, exact title, ambiguous title) on ml-100k, checked
//! against the engine's own queries on the reloaded artifact.

use engine::RecommendOptions;
use engine::recommend;
use training::store::Store;

use super::{cinerec, f, json};

/// A store holding one implicit ALS trained on ml-100k with a holdout; returns its folder.
fn trained_store() -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("models").to_str().unwrap().to_owned();
    let report = json(&[
        "train",
        "--dataset",
        "ml-100k",
        "--model",
        "implicit-als",
        "--factors",
        "16",
        "--iterations",
        "6",
        "--evaluate",
        "holdout",
        "--threads",
        "2",
        "--store",
        &store,
    ]);
    assert_eq!(report["model"], "implicit-als", "{report:#}");
    assert_eq!(report["params"]["factors"], 16);
    assert_eq!(f(&report["n_users"]), 943.0);
    assert_eq!(f(&report["n_movies"]), 1682.0, "the catalogue comes from u.item");
    // 55,375 positives, of which the holdout takes about 20 %.
    assert!((40_000.0..50_000.0).contains(&f(&report["n_train"])), "{report:#}");
    let ndcg = f(&report["metrics"]["ndcg@10"]);
    assert!((0.15..0.5).contains(&ndcg), "nDCG@10 {ndcg}");
    assert!(f(&report["size_bytes"]) > 100_000.0);
    assert!(report["dataset"].as_str().unwrap().contains("holdout"));
    // The memory breakdown: 100,000 ratings loaded, the matrix both ways (8 bytes an entry and
    // more), 16-float factors of 943 users and 1,682 movies, and a peak that holds them.
    let memory = &report["memory"];
    assert!(f(&memory["ratings_bytes"]) >= 100_000.0 * 16.0, "{memory}");
    assert!(f(&memory["csr_bytes"]) >= 2.0 * 8.0 * f(&report["n_train"]), "{memory}");
    assert_eq!(f(&memory["factors_bytes"]), ((943 + 1682) * 16 * 4) as f64, "{memory}");
    assert_eq!(memory["artifact_bytes"], report["size_bytes"]);
    assert!(f(&memory["peak_rss_bytes"]) > f(&memory["csr_bytes"]) + f(&memory["factors_bytes"]), "{memory}");
    (tmp, store)
}

/// Movie ids of a JSON result.
fn ids(result: &serde_json::Value) -> Vec<u64> {
    result["movies"].as_array().unwrap().iter().map(|m| m["movie_id"].as_u64().unwrap()).collect()
}

#[test]
fn recommendations_and_similar_movies_come_from_the_stored_model() {
    let (_tmp, store) = trained_store();
    let loaded = Store::open(&store, None).unwrap().load(None).unwrap();
    let a = &loaded.artifact;
    let options = RecommendOptions { n: 10, ..RecommendOptions::default() };
    let external = |items: &[engine::ScoredItem]| -> Vec<u64> {
        items.iter().map(|s| a.items.external(s.item_idx).unwrap()).collect()
    };

    // A known user: exactly the engine's top 10 on the reloaded model, with titles.
    let got = json(&["recommend", "--store", &store, "--user", "1"]);
    let user_idx = a.users.dense(1).unwrap();
    let expected =
        recommend::recommend(a.recommender(), a.training_users().unwrap(), user_idx, &options).unwrap();
    assert_eq!(ids(&got), external(&expected));
    assert_eq!(got["basis"], "model");
    assert_eq!(got["version"], loaded.version.to_string());
    for (m, e) in got["movies"].as_array().unwrap().iter().zip(&expected) {
        assert!((f(&m["score"]) - e.score as f64).abs() < 1e-6);
        assert!(!m["title"].as_str().unwrap().is_empty());
    }

    // An unknown user: the most popular movies of the training data, labelled as a fallback.
    let got = json(&["recommend", "--store", &store, "--user", "999999", "-n", "5"]);
    assert_eq!(got["basis"], "popularity-fallback", "{got:#}");
    assert!(got["note"].as_str().unwrap().contains("user 999999 is not in the training data"));
    let counts = training::query::popularity(a);
    // (User 999999 rated nothing, so nothing is left out.)
    let popular = engine::top_k(&counts, 5, |_| true);
    assert_eq!(ids(&got), external(&popular));
    let table = cinerec(&["recommend", "--store", &store, "--user", "999999", "-n", "3"]).unwrap();
    assert!(table.contains("fallback: popularity"), "{table}");

    // Someone new, by the movies they liked: fold-in, the history left out.
    let got = json(&["recommend", "--store", &store, "--history", "50,172,181"]);
    assert_eq!(got["basis"], "fold-in");
    let history: Vec<u32> = [50, 172, 181].iter().map(|&id| a.items.dense(id).unwrap()).collect();
    let mut sorted = history.clone();
    sorted.sort_unstable();
    let ones = vec![1.0; sorted.len()];
    let expected =
        recommend::recommend_for_history(a.recommender(), engine::Row::new(&sorted, &ones), &[], &options)
            .unwrap();
    assert_eq!(ids(&got), external(&expected));
    assert!(ids(&got).iter().all(|id| ![50, 172, 181].contains(id)));

    // Similar movies by id, and by title: an exact title (without its year) wins.
    let by_id = json(&["similar", "--store", &store, "--movie", "1", "-n", "5"]);
    let expected = recommend::similar_items(a.recommender(), a.items.dense(1).unwrap(), 5).unwrap();
    assert_eq!(ids(&by_id), external(&expected));
    assert_eq!(by_id["title"], "Toy Story (1995)");
    let by_title = json(&["similar", "--store", &store, "--title", "TOY STORY", "-n", "5"]);
    assert_eq!(by_title, by_id);
    let table = cinerec(&["similar", "--store", &store, "--title", "empire strikes back"]).unwrap();
    assert!(table.starts_with("movies similar to Empire Strikes Back, The (1980) (172)"), "{table}");

    // An ambiguous title lists the candidates; unknown ids and titles are named.
    let err = cinerec(&["similar", "--store", &store, "--title", "godfather"]).unwrap_err();
    assert!(err.contains("\"godfather\" matches 2 movies; pick one with --movie ID"), "{err}");
    assert!(err.contains("127  Godfather, The (1972)") && err.contains("187  Godfather: Part II"), "{err}");
    let err = cinerec(&["similar", "--store", &store, "--title", "no such film"]).unwrap_err();
    assert!(err.contains("no movie of model") && err.contains("\"no such film\""), "{err}");
    let err = cinerec(&["recommend", "--store", &store, "--history", "1,99999,88888"]).unwrap_err();
    assert!(err.contains("does not know movie ids 99999, 88888"), "{err}");
    let err = cinerec(&["similar", "--store", &store, "--movie", "424242"]).unwrap_err();
    assert!(err.contains("does not know movie id 424242"), "{err}");
}

#[test]
fn explicit_als_trains_on_every_rating_and_folds_in_ratings() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().to_str().unwrap();
    let report = json(&[
        "train",
        "--dataset",
        "ml-100k",
        "--model",
        "explicit-als",
        "--iterations",
        "3",
        "--factors",
        "8",
        "--store",
        store,
    ]);
    assert_eq!(f(&report["n_train"]), 100_000.0, "{report:#}");
    assert!(report["metrics"].as_object().unwrap().is_empty(), "no --evaluate, no metrics");
    let liked = json(&["recommend", "--store", store, "--history", "50:5,172:5,181:4.5", "-n", "5"]);
    assert_eq!(liked["model"], "explicit-als");
    assert_eq!(ids(&liked).len(), 5);
    let err = cinerec(&["recommend", "--store", store, "--history", "50:five"]).unwrap_err();
    assert!(err.contains("`50:five`: the rating after ':' must be a number"), "{err}");
}

#[test]
fn the_blend_learns_low_ratings_and_folds_them_in() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().to_str().unwrap();
    let report =
        json(&["train", "--dataset", "ml-100k", "--model", "blend", "--iterations", "3", "--store", store]);
    assert_eq!(f(&report["n_train"]), 100_000.0, "every rating is learned: {report:#}");
    assert!(report["dataset"].as_str().unwrap().contains("lower ratings as 0.25"), "{report:#}");
    let inspected = json(&["models", "inspect", "--store", store]);
    assert_eq!(inspected["kind"], "blend");
    assert_eq!(f(&inspected["also_seen_nnz"]), 0.0, "nothing is only seen");
    let known = json(&["recommend", "--store", store, "--user", "1", "-n", "10"]);
    assert_eq!(ids(&known).len(), 10);
    // A low rating is learned, not only seen: it moves the other movies' scores (a movie that
    // is only seen would be left out of the list and change nothing else).
    let scores = |history: &str| -> Vec<(u64, f64)> {
        let got = json(&["recommend", "--store", store, "--history", history, "-n", "20"]);
        got["movies"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["movie_id"].as_u64().unwrap(), f(&m["score"])))
            .collect()
    };
    let (liked, with_low) = (scores("50:5,172:5"), scores("50:5,172:5,1:1"));
    assert!(with_low.iter().all(|&(m, _)| m != 1), "a rated movie is never recommended: {with_low:?}");
    let moved = liked
        .iter()
        .filter_map(|&(m, s)| with_low.iter().find(|&&(w, _)| w == m).map(|&(_, t)| (s - t).abs()))
        .collect::<Vec<f64>>();
    assert!(!moved.is_empty() && moved.iter().all(|&d| d > 1e-4), "{liked:?}\n{with_low:?}");
}
