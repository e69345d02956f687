//! A data set small enough to work out by hand: four movies, three users, three lists over
//! two days, a double click, a rating after a click, a deleted rating, four requests. The
//! expected numbers below were worked out on paper (the derivations are in the comments).

use std::collections::BTreeMap;

use warehouse::facts::{
    ActivityFact, Batch, ModelFact, MovieFact, RatingChange, RatingFact, RequestFact, ServedList,
};
use warehouse::reports::{catalogue, feedback, funnel, models, overview, performance, top_movies};
use warehouse::{DAY_MS, Warehouse, ratings};

use crate::{close, every_warehouse, f, i, range, rows, s};

const D: i32 = 20_000; // 2024-10-04
const HOUR: i64 = 3_600_000;

fn at(day: i32, hour: i64, minute: i64) -> i64 {
    i64::from(day) * DAY_MS + hour * HOUR + minute * 60_000
}

fn movie(id: u64, genres: &[&str]) -> MovieFact {
    MovieFact {
        event_id: format!("m{id}"),
        movie_id: id,
        title: format!("Movie {id}"),
        year: Some(1995),
        genres: genres.iter().map(|g| (*g).to_owned()).collect(),
        deleted: false,
        occurred_at_ms: at(D - 1, 0, 0),
    }
}

fn list(rec: &str, user: u64, version: &str, movies: &[u64], served_at_ms: i64) -> ServedList {
    ServedList {
        event_id: format!("served-{rec}"),
        recommendation_id: rec.into(),
        user_id: Some(user),
        anonymous_id: None,
        model_version: version.into(),
        source: "model".into(),
        surface: "me".into(),
        movie_ids: movies.to_vec(),
        served_at_ms,
    }
}

fn click(id: &str, user: u64, rec: &str, position: u32, movie: u64, occurred_at_ms: i64) -> ActivityFact {
    ActivityFact {
        event_id: id.into(),
        event_type: "click".into(),
        occurred_at_ms,
        user_id: Some(user),
        anonymous_id: None,
        session_id: None,
        recommendation_id: Some(rec.into()),
        movie_id: Some(movie),
        position: Some(position),
        context: serde_json::json!({}),
    }
}

fn rating(
    id: &str,
    user: u64,
    movie: u64,
    stars: f32,
    change: RatingChange,
    occurred_at_ms: i64,
) -> RatingFact {
    RatingFact { event_id: id.into(), user_id: user, movie_id: movie, rating: stars, change, occurred_at_ms }
}

fn request(id: &str, status: u16, latency_ms: f64) -> RequestFact {
    RequestFact {
        event_id: id.into(),
        route: "/x".into(),
        method: "GET".into(),
        status,
        latency_ms,
        request_id: id.into(),
        occurred_at_ms: at(D, 10, 30),
    }
}

fn data() -> Batch {
    Batch {
        movies: vec![
            movie(1, &["Action", "Drama"]),
            movie(2, &["Comedy"]),
            movie(3, &["Drama"]),
            movie(4, &["Action"]),
        ],
        lists: vec![
            list("a", 1, "v1", &[1, 2, 3], at(D, 10, 0)),
            list("b", 2, "v1", &[2, 4], at(D, 11, 0)),
            list("c", 1, "v2", &[4, 1], at(D + 1, 9, 0)),
        ],
        activity: vec![
            click("k1", 1, "a", 0, 1, at(D, 10, 1)),
            click("k2", 1, "a", 0, 1, at(D, 10, 2)), // the same list position again: one click
            click("k3", 2, "b", 1, 4, at(D, 11, 5)),
        ],
        ratings: vec![
            rating("r1", 1, 1, 4.5, RatingChange::Created, at(D, 10, 10)), // after the click: rated ≥ 4
            rating("r2", 2, 4, 3.0, RatingChange::Created, at(D, 11, 10)),
            rating("r3", 3, 2, 5.0, RatingChange::Created, at(D + 1, 8, 0)),
            rating("r4", 1, 3, 2.0, RatingChange::Created, at(D, 12, 0)),
            rating("r5", 1, 3, 0.0, RatingChange::Deleted, at(D, 13, 0)),
        ],
        requests: vec![
            request("q1", 200, 1.0),
            request("q2", 200, 2.0),
            request("q3", 500, 3.0),
            request("q4", 429, 4.0),
        ],
        users: Vec::new(),
        models: vec![ModelFact {
            version: "v1".into(),
            kind: "implicit-als".into(),
            dataset: "ml-100k".into(),
            trained_at_ms: at(D - 2, 0, 0),
            metrics: BTreeMap::from([("ndcg@10".to_owned(), 0.3)]),
            seen_at_ms: at(D, 0, 0),
        }],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_built_answers() {
    every_warehouse!(check);
}

async fn check<W: Warehouse>(w: &W) {
    let counts = w.ingest(&data(), at(D + 2, 0, 0)).await.unwrap();
    assert_eq!((counts.stored, counts.duplicates), (4 + 3 + 3 + 5 + 4 + 1, 0));
    let again = w.ingest(&data(), at(D + 2, 0, 0)).await.unwrap();
    assert_eq!(again.stored, 0, "a redelivered batch stores nothing");
    let r = range(D - 1, D + 1);

    // Funnel v1/me: impressions 3 + 2 = 5; clicks (a, 0) and (b, 1) = 2 (the double click is
    // one); CTR 0.4, Wilson 95 % [0.1176, 0.7693]; of the 2 clicked, user 1 rated movie 1 4.5
    // afterwards: 0.5. v2: 2 impressions, no click.
    let report = funnel(w, r).await.unwrap();
    let by_version = rows(&report, "by_model_version");
    assert_eq!(by_version.len(), 2);
    let v1 = &by_version[0];
    assert_eq!((s(v1["model_version"]), i(v1["impressions"]), i(v1["clicks"])), ("v1".into(), 5, 2));
    close(f(v1["ctr"]), 0.4, "ctr");
    assert!((f(v1["ctr_low"]) - 0.1176).abs() < 1e-4 && (f(v1["ctr_high"]) - 0.7693).abs() < 1e-4, "{v1:?}");
    close(f(v1["rated_4_plus_after_click"]), 0.5, "rated after click");
    assert_eq!((i(by_version[1]["impressions"]), i(by_version[1]["clicks"])), (2, 0));
    // By position, v1: 0 → 2 shown, 1 clicked; 1 → 2 shown, 1 clicked; 2 → 1 shown.
    let positions: Vec<(i64, i64, i64)> = rows(&report, "by_position")
        .iter()
        .filter(|row| s(row["model_version"]) == "v1")
        .map(|row| (i(row["position"]), i(row["impressions"]), i(row["clicks"])))
        .collect();
    assert_eq!(positions, [(0, 2, 1), (1, 2, 1), (2, 1, 0)]);

    // Positive feedback, day D: user 1 was shown {1, 2, 3} and clicked and rated 1 → 1/3;
    // user 2 was shown {2, 4} and clicked 4 → 1/2; mean 5/12. Day D+1: user 1 shown {4, 1},
    // nothing positive that day → 0.
    let report = feedback(w, r).await.unwrap();
    let days = rows(&report, "positive_feedback_rate");
    assert_eq!(days.len(), 2);
    close(f(days[0]["positive_feedback_rate"]), 5.0 / 12.0, "pfr D");
    assert_eq!((i(days[0]["users"]), i(days[0]["shown"]), i(days[0]["positives"])), (2, 5, 2));
    close(f(days[1]["positive_feedback_rate"]), 0.0, "pfr D+1");

    // Overview: active D = {1, 2}, D+1 = {1, 3}; new D = 2, D+1 = 1 (user 3). Ratings: the
    // four values once each (the deletion is not a rating). Events: 5 rating events, 3
    // clicks, 7 impressions, 4 requests.
    let report = overview(w, r).await.unwrap();
    let users: Vec<(String, i64, i64)> = rows(&report, "active_users")
        .iter()
        .map(|row| (s(row["bucket"]), i(row["active_users"]), i(row["new_users"])))
        .collect();
    assert_eq!(users, [("2024-10-04".into(), 2, 2), ("2024-10-05".into(), 2, 1)]);
    let summary = &rows(&report, "summary")[0];
    close(f(summary["dau"]), 4.0 / 3.0, "dau over three days");
    assert_eq!((i(summary["wau"]), i(summary["mau"]), i(summary["users"])), (3, 3, 3));
    let ratings_seen: Vec<(f64, i64)> = rows(&report, "rating_distribution")
        .iter()
        .map(|row| (f(row["rating"]), i(row["ratings"])))
        .collect();
    assert_eq!(ratings_seen, [(2.0, 1), (3.0, 1), (4.5, 1), (5.0, 1)]);
    let totals: BTreeMap<String, i64> = rows(&report, "events_by_type")
        .iter()
        .filter(|row| s(row["bucket"]) == "all")
        .map(|row| (s(row["event_type"]), i(row["events"])))
        .collect();
    let expected: BTreeMap<String, i64> = [("click", 3), ("impression", 7), ("rating", 5), ("request", 4)]
        .map(|(k, v)| (k.to_owned(), v))
        .into();
    assert_eq!(totals, expected);

    // Catalogue: 4 movies all shown (coverage 1); impressions [2, 2, 1, 2]: Gini =
    // 2·(1·1 + 2·2 + 3·2 + 4·2)/(4·7) − 5/4 = 0.107143; top decile = 1 movie (movie 1: one
    // rating, lowest id among ties) with 2/7 of impressions and 1/4 of ratings; 3 raters, each
    // movie rated once: novelty −log2(1/3); genres per list (3 + 2 + 2)/3.
    let report = catalogue(w, r).await.unwrap();
    let c = &rows(&report, "catalogue")[0];
    assert_eq!((i(c["catalogue_movies"]), i(c["movies_shown"]), i(c["impressions"])), (4, 4, 7));
    close(f(c["coverage"]), 1.0, "coverage");
    close(f(c["gini"]), 2.0 * 19.0 / 28.0 - 1.25, "gini");
    close(f(c["top_decile_impression_share"]), 2.0 / 7.0, "head impressions");
    close(f(c["top_decile_rating_share"]), 0.25, "head ratings");
    close(f(c["novelty_bits"]), 3f64.log2(), "novelty");
    close(f(c["genres_per_list"]), 7.0 / 3.0, "diversity");
    assert_eq!(i(c["lists_sampled"]), 3);

    // Top movies on D: 1, 3, 4 (one rating each, by id); on D+1: 2.
    let report = top_movies(w, r, None, 5).await.unwrap();
    let top: Vec<(String, i64)> =
        rows(&report, "top").iter().map(|row| (s(row["bucket"]), i(row["movie_id"]))).collect();
    assert_eq!(
        top,
        [
            ("2024-10-04".into(), 1),
            ("2024-10-04".into(), 3),
            ("2024-10-04".into(), 4),
            ("2024-10-05".into(), 2)
        ]
    );
    let report = top_movies(w, r, Some("Drama"), 5).await.unwrap();
    let dramas: Vec<i64> = rows(&report, "top").iter().map(|row| i(row["movie_id"])).collect();
    assert_eq!(dramas, [1, 3]);

    // Performance of /x: latencies 1, 2, 3, 4 → p50 2.5, p95 3.85, p99 3.97 (linear
    // interpolation); one 5xx of 4; one 429.
    let report = performance(w, r).await.unwrap();
    let x = &rows(&report, "by_route")[0];
    assert_eq!((s(x["route"]), i(x["requests"]), i(x["rate_limited"])), ("/x".into(), 4, 1));
    close(f(x["p50_ms"]), 2.5, "p50");
    close(f(x["p95_ms"]), 3.85, "p95");
    close(f(x["p99_ms"]), 3.97, "p99");
    close(f(x["error_rate"]), 0.25, "errors");
    let hours = rows(&report, "by_route_hour");
    assert_eq!(s(hours[0]["hour"]), "2024-10-04T10:00:00Z");

    // Models: v1 with its offline nDCG and 2 clicks of 5; v2 served but never reported.
    let report = models(w, r).await.unwrap();
    let versions = rows(&report, "model_versions");
    assert_eq!(versions.len(), 2);
    assert_eq!((s(versions[0]["model_version"]), i(versions[0]["clicks"])), ("v1".into(), 2));
    assert!(s(versions[0]["offline_metrics"]).contains("\"ndcg@10\":0.3"), "{versions:?}");
    assert_eq!(
        (s(versions[1]["model_version"]), versions[1]["kind"]),
        ("v2".into(), &warehouse::Value::Null)
    );

    // The training read: the latest rating per pair, the deleted one gone, canonical order.
    let current: Vec<(u64, u64, f32)> = ratings::current_ratings(w)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.user_id, r.movie_id, r.rating))
        .collect();
    assert_eq!(current, [(1, 1, 4.5), (2, 4, 3.0), (3, 2, 5.0)]);
}
