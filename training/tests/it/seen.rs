//! "Seen" means rated: for every model kind trained by `cinerec train` on ml-100k, no list the
//! CLI gives (a known user's top 50, a popularity fallback, a fold-in of someone's ratings)
//! holds a movie the user rated, whatever the rating, over all 943 users. The rated sets are
//! read from `u.data` here, independently of the training code.

use std::collections::{HashMap, HashSet};

use training::query;
use training::store::Store;

use super::{cinerec, data_dir, json};

/// `user id → (movie id → stars)` from ml-100k's `u.data`.
fn rated_by_user() -> HashMap<u64, HashMap<u64, f32>> {
    let path = data_dir().join("ml-100k/u.data");
    let text = fs_err::read_to_string(&path).unwrap();
    let mut res: HashMap<u64, HashMap<u64, f32>> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let fields: Vec<&str> = line.split('\t').collect();
        let parse = |i: usize| -> f64 {
            fields[i].parse().unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), n + 1))
        };
        res.entry(parse(0) as u64).or_default().insert(parse(1) as u64, parse(2) as f32);
    }
    assert_eq!(res.len(), 943);
    res
}

fn ids(result: &serde_json::Value) -> Vec<u64> {
    result["movies"].as_array().unwrap().iter().map(|m| m["movie_id"].as_u64().unwrap()).collect()
}

#[test]
fn no_list_of_any_model_holds_a_movie_its_user_rated() {
    let rated = rated_by_user();
    let low: usize = rated.values().map(|r| r.values().filter(|&&v| v < 4.0).count()).sum();
    assert!(low > 40_000, "ml-100k has {low} ratings below 4: the case this test is about");
    for model in ["implicit-als", "explicit-als", "item-knn", "ease", "popularity"] {
        let tmp = tempfile::tempdir().unwrap();
        let store = tmp.path().to_str().unwrap().to_owned();
        let mut args = vec!["train", "--dataset", "ml-100k", "--model", model, "--store", &store];
        if model.ends_with("als") {
            args.extend(["--iterations", "4"]);
        }
        json(&args);
        let loaded = Store::open(&store, None).unwrap().load(None).unwrap();
        let (artifact, version) = (&loaded.artifact, loaded.version.to_string());
        assert_eq!(artifact.upgraded_from, None);
        if model != "explicit-als" {
            assert_eq!(
                artifact.seen.nnz() + artifact.also_seen.nnz(),
                100_000,
                "{model}: the artifact records every rating"
            );
        }

        let mut checked = 0;
        for (&user, movies) in &rated {
            let by_user = query::for_user(artifact, &version, user, 50).unwrap();
            assert_eq!(by_user.movies.len(), 50, "{model}: user {user}");
            let hit: Vec<u64> =
                by_user.movies.iter().map(|m| m.movie_id).filter(|id| movies.contains_key(id)).collect();
            assert!(hit.is_empty(), "{model}: user {user} was recommended movies they rated: {hit:?}");
            checked += 1;
        }
        assert_eq!(checked, 943);

        // Fold-in of a user's every rating (low ones only seen for implicit models).
        for user in [13u64, 1, 405] {
            let history: Vec<String> =
                rated[&user].iter().map(|(movie, stars)| format!("{movie}:{stars}")).collect();
            let got = json(&["recommend", "--store", &store, "--history", &history.join(","), "-n", "50"]);
            assert_eq!(got["basis"], "fold-in");
            let hit: Vec<u64> = ids(&got).into_iter().filter(|id| rated[&user].contains_key(id)).collect();
            assert!(hit.is_empty(), "{model}: fold-in of user {user} returned rated movies {hit:?}");
        }

        // Through the command itself: user 13, whose top 10 used to be 9 movies rated 2 or 3.
        let got = json(&["recommend", "--store", &store, "--user", "13", "-n", "10"]);
        let top: HashSet<u64> = ids(&got).into_iter().collect();
        assert_eq!(top.len(), 10);
        assert!(top.iter().all(|id| !rated[&13].contains_key(id)), "{model}: user 13 got {top:?}");
    }
}

/// A user known to an implicit model only by low ratings gets the popularity fallback, and it
/// leaves out the movies they rated.
#[test]
fn a_popularity_fallback_leaves_out_the_movies_a_known_user_rated() {
    let tmp = tempfile::tempdir().unwrap();
    let ratings = tmp.path().join("ratings.csv");
    // Users 1 and 2 like movies 10..=14; user 3 rated the two most popular movies 1 and 2 stars.
    let mut csv = String::from("userId,movieId,rating,timestamp\n");
    for user in 1..=2 {
        for movie in 10..=14 {
            csv.push_str(&format!("{user},{movie},5.0,{}\n", 100 + movie));
        }
    }
    csv.push_str("3,10,1.0,200\n3,11,2.0,201\n");
    fs_err::write(&ratings, csv).unwrap();
    let store = tmp.path().join("models");
    let store = store.to_str().unwrap();
    json(&["train", "--ratings", ratings.to_str().unwrap(), "--model", "popularity", "--store", store]);
    let got = json(&["recommend", "--store", store, "--user", "3", "-n", "3"]);
    assert_eq!(got["basis"], "popularity-fallback", "{got:#}");
    assert_eq!(ids(&got), [12, 13, 14], "movies 10 and 11 were rated by user 3");
    let table = cinerec(&["recommend", "--store", store, "--user", "3", "-n", "3"]).unwrap();
    assert!(table.contains("user 3 has no training interactions"), "{table}");
}
