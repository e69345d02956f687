//! The warehouse against a real PostgreSQL (`scripts/start-server postgres`; one fresh database
//! per test), and against Oracle with the same suite when `ORACLE_URL` is set and the crate is
//! built with feature `oracle`:
//!
//! - a hand-built data set whose answers are written down (CTR and its Wilson interval, Gini,
//!   positive feedback rate, percentiles);
//! - a seeded synthetic data set: every report equals what this file computes from the raw
//!   events on its own (plain loops, no SQL), and ingesting everything again changes nothing;
//! - ml-latest-small's ratings as rating events: the rating distribution and top movies match
//!   the file, and the training read gives the file's ratings in canonical order.

mod expected;
mod hand_built;
mod movielens;
mod synthetic;

use warehouse::postgres::PgWarehouse;
use warehouse::reports::{Bucket, Range, Report};
use warehouse::{Value, Warehouse};

/// The PostgreSQL warehouse on a fresh database.
pub async fn postgres() -> PgWarehouse {
    let admin = service_common::testing::server_url("CINEREC_TEST_POSTGRES_URL");
    let url = warehouse::postgres::fresh_database(&admin, "warehouse_it").await.unwrap();
    PgWarehouse::connect(&url, 4).await.unwrap()
}

/// Runs `check` against PostgreSQL, and against Oracle when `ORACLE_URL` is set.
macro_rules! every_warehouse {
    ($check:path) => {{
        $check(&$crate::postgres().await).await;
        #[cfg(feature = "oracle")]
        if let Ok(url) = std::env::var("ORACLE_URL") {
            let oracle = warehouse::oracle::OracleWarehouse::connect(&url, 4).await.unwrap();
            $check(&oracle).await;
        }
    }};
}
pub(crate) use every_warehouse;

/// Every report over `range` (top movies: 5 per bucket, all genres).
pub async fn all_reports<W: Warehouse>(w: &W, range: Range) -> Vec<Report> {
    use warehouse::reports::*;
    vec![
        overview(w, range).await.unwrap(),
        funnel(w, range).await.unwrap(),
        feedback(w, range).await.unwrap(),
        catalogue(w, range).await.unwrap(),
        top_movies(w, range, None, 5).await.unwrap(),
        performance(w, range).await.unwrap(),
        models(w, range).await.unwrap(),
    ]
}

/// The rows of `table` in `report`, as (column → value) lookups.
pub fn rows<'a>(report: &'a Report, table: &str) -> Vec<std::collections::HashMap<&'a str, &'a Value>> {
    let t = report.table(table).unwrap_or_else(|| panic!("{} has no table {table}", report.report));
    t.rows.iter().map(|row| t.columns.iter().copied().zip(row).collect()).collect()
}

/// A float cell (NULL → NaN).
pub fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// An integer cell.
pub fn i(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v:?}"))
}

/// A text cell.
pub fn s(v: &Value) -> String {
    v.as_str().unwrap_or_else(|| panic!("not text: {v:?}")).to_owned()
}

/// Close enough for sums of floats computed in a different order.
pub fn close(a: f64, b: f64, what: &str) {
    assert!(
        (a - b).abs() <= 1e-9 * (1.0 + a.abs().max(b.abs())) || (a.is_nan() && b.is_nan()),
        "{what}: {a} vs {b}"
    );
}

/// Days of the fixed test calendar.
pub fn range(from: i32, to: i32) -> Range {
    Range { from, to, bucket: Bucket::Day }
}
