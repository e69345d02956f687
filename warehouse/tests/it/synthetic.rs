//! A seeded synthetic data set (~60,000 events over three weeks): every report equals what
//! `expected` computes from the raw events, over the whole span and over a one-week range, and
//! ingesting every batch a second time (a redelivery) changes no report.

use warehouse::facts::Batch;
use warehouse::reports::Range;
use warehouse::synth::{SynthShape, generate, movies};
use warehouse::{Value, Warehouse, format_day};

use crate::{all_reports, close, every_warehouse, expected, f, i, range, rows, s};

const LAST_DAY: i32 = 20_100;

fn data() -> Vec<Batch> {
    let shape = SynthShape { users: 300, movies: 200, days: 21, last_day: LAST_DAY, list_size: 10 };
    let mut batches = vec![Batch { movies: movies(&shape), ..Batch::default() }];
    generate(7, &shape, 60_000, 2_000, |b| batches.push(b));
    batches
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthetic_reports_match_the_raw_events_and_survive_redelivery() {
    every_warehouse!(check);
}

async fn check<W: Warehouse>(w: &W) {
    let batches = data();
    let mut stored = 0;
    for b in &batches {
        stored += w.ingest(b, 0).await.unwrap().stored;
    }
    let all = expected::merge(&batches);
    assert_eq!(stored as usize, all.len(), "every event stored once");
    for r in [range(LAST_DAY - 30, LAST_DAY), range(LAST_DAY - 10, LAST_DAY - 4)] {
        compare(w, &all, r).await;
    }
    let before = all_reports(w, range(LAST_DAY - 30, LAST_DAY)).await;
    let mut duplicates = 0;
    for b in &batches {
        let counts = w.ingest(b, 0).await.unwrap();
        assert_eq!(counts.stored, 0, "a redelivered batch stores nothing new");
        duplicates += counts.duplicates;
    }
    assert_eq!(duplicates as usize, all.len());
    let after = all_reports(w, range(LAST_DAY - 30, LAST_DAY)).await;
    for (a, b) in after.iter().zip(&before) {
        for (ta, tb) in a.tables.iter().zip(&b.tables) {
            for (ra, rb) in ta.rows.iter().zip(&tb.rows) {
                // Equal, floats up to the order PostgreSQL happened to sum them in.
                let same = ra.iter().zip(rb).all(|(x, y)| match (x, y) {
                    (Value::Float(x), Value::Float(y)) => (x - y).abs() <= 1e-12 * x.abs().max(1.0),
                    _ => x == y,
                });
                assert!(same, "redelivery changed {}.{}: {ra:?} vs {rb:?}", a.report, ta.name);
            }
            assert_eq!(ta.rows.len(), tb.rows.len(), "redelivery changed {}.{}", a.report, ta.name);
        }
    }
}

async fn compare<W: Warehouse>(w: &W, all: &Batch, r: Range) {
    let reports = all_reports(w, r).await;
    let what = format!("{}..{}", format_day(r.from), format_day(r.to));

    let active: Vec<(String, i64)> = rows(&reports[0], "active_users")
        .iter()
        .map(|row| (s(row["bucket"]), i(row["active_users"])))
        .collect();
    let want: Vec<(String, i64)> =
        expected::active_users(all, r).into_iter().map(|(d, n)| (format_day(d), n as i64)).collect();
    assert_eq!(active, want, "active users {what}");

    let want = expected::funnel(all, r);
    let mut got = std::collections::BTreeMap::new();
    for row in rows(&reports[1], "by_model_version") {
        let key = (s(row["model_version"]), s(row["surface"]), -1);
        got.insert(
            key,
            (
                i(row["impressions"]),
                i(row["clicks"]),
                (f(row["rated_4_plus_after_click"]) * i(row["clicks"]) as f64).round() as i64,
            ),
        );
    }
    for row in rows(&reports[1], "by_position") {
        let key = (s(row["model_version"]), s(row["surface"]), i(row["position"]));
        let (n, c) = (i(row["impressions"]), i(row["clicks"]));
        got.insert(key.clone(), (n, c, want.get(&key).map_or(0, |w| w.2)));
        close(f(row["ctr"]), c as f64 / n as f64, "ctr by position");
    }
    assert_eq!(got, want, "funnel {what}");
    assert!(want.values().map(|v| v.1).sum::<i64>() > 50, "the data set has clicks to count");

    let want = expected::feedback(all, r);
    let got = rows(&reports[2], "positive_feedback_rate");
    assert_eq!(got.len(), want.len(), "feedback days {what}");
    for (row, (day, (rate, users, shown, positives))) in got.iter().zip(&want) {
        assert_eq!(s(row["day"]), format_day(*day));
        close(f(row["positive_feedback_rate"]), *rate, "positive feedback rate");
        assert_eq!((i(row["users"]), i(row["shown"]), i(row["positives"])), (*users, *shown, *positives));
    }

    let (coverage, gini, head_shown, head_rated, novelty, genres) = expected::catalogue(all, r);
    let c = &rows(&reports[3], "catalogue")[0];
    close(f(c["coverage"]), coverage, "coverage");
    close(f(c["gini"]), gini, "gini");
    close(f(c["top_decile_impression_share"]), head_shown, "head impressions");
    close(f(c["top_decile_rating_share"]), head_rated, "head ratings");
    close(f(c["novelty_bits"]), novelty, "novelty");
    close(f(c["genres_per_list"]), genres, "genres per list");

    let want = expected::top(all, r, 5);
    let got: Vec<(String, u64, i64)> = rows(&reports[4], "top")
        .iter()
        .map(|row| (s(row["bucket"]), i(row["movie_id"]) as u64, i(row["ratings"])))
        .collect();
    let want: Vec<(String, u64, i64)> = want
        .iter()
        .flat_map(|(d, movies)| movies.iter().map(move |(m, n)| (format_day(*d), *m, *n)))
        .collect();
    assert_eq!(got, want, "top movies {what}");

    let last_week = Range { from: r.from.max(r.to - warehouse::reports::HOURLY_DAYS + 1), ..r };
    let want = expected::performance(all, last_week);
    let got = rows(&reports[5], "by_route_hour");
    assert_eq!(got.len(), want.len(), "route hours {what}");
    for (row, ((route, hour), (n, p50, p95, p99, errors, limited))) in got.iter().zip(&want) {
        assert_eq!(s(row["route"]), *route);
        assert_eq!(s(row["hour"]), format!("{}T{:02}:00:00Z", format_day((hour / 24) as i32), hour % 24));
        assert_eq!((i(row["requests"]), i(row["rate_limited"])), (*n, *limited));
        close(f(row["p50_ms"]), *p50, "p50");
        close(f(row["p95_ms"]), *p95, "p95");
        close(f(row["p99_ms"]), *p99, "p99");
        close(f(row["error_rate"]), *errors as f64 / *n as f64, "error rate");
    }
}
