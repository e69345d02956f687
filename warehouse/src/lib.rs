//! The analytics warehouse: what users do, what the recommender showed and how the system
//! performed, as fact tables by kind (ratings, recommendation lists and their impressions,
//! activity such as clicks, views and searches, request logs) with movies and users as
//! dimensions kept current from their events, daily roll-ups maintained at ingestion, and the
//! reports and training reads over them.
//!
//! - [`Warehouse`]: the one trait, implemented by [`postgres::PgWarehouse`] (the default) and
//!   the Oracle adapter behind feature `oracle`. Ingestion is idempotent by `event_id`: a
//!   redelivered event is stored once, and counted in the roll-ups once.
//! - `oracle` (feature `oracle`): `OracleWarehouse`, the Oracle Database adapter (Oracle's
//!   pure-Rust thin driver, no client library), with its own migrations.
//! - [`facts`]: the rows ingested ([`facts::Batch`]).
//! - [`reports`]: the seven reports, written once in SQL both databases share; the adapter only
//!   renders placeholders ([`Dialect`]). Times are stored as epoch milliseconds and UTC day
//!   numbers (days since 1970-01-01), so no report depends on a dialect's date functions.
//! - [`ratings`]: the latest rating per (user, movie) in canonical order, for `cinerec train`.
//! - [`synth`]: a seeded generator of realistic events (tests, the 10-million-event benchmark).

use std::future::Future;

pub mod facts;
#[cfg(feature = "oracle")]
pub mod oracle;
pub mod postgres;
pub mod ratings;
pub mod reports;
mod rollup;
pub mod synth;

pub use facts::Batch;

/// Why the warehouse failed.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The URL is not one this adapter takes (the URL itself is not repeated: it may hold a
    /// password).
    #[error("the warehouse URL is invalid: {0}")]
    InvalidUrl(String),
    /// The database did not answer or refused.
    #[error("the warehouse is unavailable while {what}: {reason}")]
    Unavailable {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        reason: String,
    },
    /// A stored value is not what the schema says (a column of an unexpected type).
    #[error("the warehouse returned an unexpected value while {what}: {reason}")]
    Corrupt {
        /// What was being done.
        what: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// What one ingestion did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestCounts {
    /// Newly stored events.
    pub stored: u64,
    /// Events already there (same `event_id`): not stored or counted again.
    pub duplicates: u64,
}

impl std::ops::AddAssign for IngestCounts {
    fn add_assign(&mut self, other: Self) {
        self.stored += other.stored;
        self.duplicates += other.duplicates;
    }
}

/// One value of a result row or a query parameter.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    Text(String),
}

impl Value {
    /// The value as a float (integers converted; NULL and text are `None`).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Int(v) => Some(*v as f64),
            Self::Float(v) => Some(*v),
            Self::Null | Self::Text(_) => None,
        }
    }

    /// The value as an integer (floats with no fraction converted: Oracle's NUMBER).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Int(v) => Some(*v),
            Self::Float(v) if v.fract() == 0.0 => Some(*v as i64),
            Self::Float(_) | Self::Null | Self::Text(_) => None,
        }
    }

    /// The text, if text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Text(v) => Some(v),
            _ => None,
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Self::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Self::Float(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Self::Text(v.to_owned())
    }
}

/// A result row.
pub type Row = Vec<Value>;

/// The SQL dialect of an adapter: what differs in the shared report SQL is only how
/// parameters are written (reports write `?`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `$1, $2, …`.
    Postgres,
    /// `:1, :2, …`.
    Oracle,
}

impl Dialect {
    /// `sql` with each `?` replaced by the dialect's numbered placeholder (report SQL has no
    /// `?` inside string literals).
    pub fn render(self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 16);
        let mut n = 0;
        for c in sql.chars() {
            if c == '?' {
                n += 1;
                out.push(if self == Self::Postgres { '$' } else { ':' });
                out.push_str(&n.to_string());
            } else {
                out.push(c);
            }
        }
        out
    }
}

/// Where analytics keeps its data.
pub trait Warehouse: Send + Sync + 'static {
    /// The adapter's dialect.
    fn dialect(&self) -> Dialect;

    /// Stores `batch` in one transaction: each event once per `event_id`, the roll-ups counting
    /// only the new ones, the dimensions updated when the event is newer than what they hold.
    /// `received_at_ms` is the server's time.
    fn ingest(
        &self,
        batch: &Batch,
        received_at_ms: i64,
    ) -> impl Future<Output = Result<IngestCounts, WarehouseError>> + Send;

    /// Runs one report query: `sql` with `?` placeholders (rendered by the adapter) and its
    /// parameters; every column comes back as a [`Value`].
    fn query(
        &self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<Vec<Row>, WarehouseError>> + Send;

    /// The database answers.
    fn ping(&self) -> impl Future<Output = bool> + Send;
}

/// Milliseconds in a day.
pub const DAY_MS: i64 = 86_400_000;

/// The UTC day number (days since 1970-01-01) of a time in epoch milliseconds.
pub fn day_of_ms(ms: i64) -> i32 {
    ms.div_euclid(DAY_MS) as i32
}

/// The UTC hour number (hours since the epoch) of a time in epoch milliseconds.
pub fn hour_of_ms(ms: i64) -> i64 {
    ms.div_euclid(3_600_000)
}

/// The day number of a civil date.
pub fn day_of_date(year: i32, month: u32, day: u32) -> i32 {
    contract::civil::days_from_civil(i64::from(year), month, day) as i32
}

/// The civil date (year, month, day) of a day number.
pub fn date_of_day(day: i32) -> (i32, u32, u32) {
    let (y, m, d) = contract::civil::civil_from_days(i64::from(day));
    (y as i32, m, d)
}

/// `YYYY-MM-DD` of a day number.
pub fn format_day(day: i32) -> String {
    let (y, m, d) = date_of_day(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of `YYYY-MM-DD`, if it is a real date.
pub fn parse_day(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    let n = day_of_date(year, month, day);
    (date_of_day(n) == (year, month, day)).then_some(n)
}

/// The Monday that starts the ISO week of `day`.
pub fn week_of_day(day: i32) -> i32 {
    // 1970-01-01 was a Thursday: day 0 is weekday 3 counting from Monday = 0.
    day - (day + 3).rem_euclid(7)
}

/// The first day of the month of `day`.
pub fn month_of_day(day: i32) -> i32 {
    let (y, m, _) = date_of_day(day);
    day_of_date(y, m, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_round_trip_and_buckets_start_on_monday_and_the_first() {
        assert_eq!(day_of_date(1970, 1, 1), 0);
        assert_eq!(format_day(day_of_date(2026, 12, 5)), "2026-12-05");
        assert_eq!(parse_day("2024-02-29").map(format_day).as_deref(), Some("2024-02-29"));
        assert_eq!(parse_day("2025-02-29"), None);
        assert_eq!(parse_day("2025-2-01"), None);
        for day in -1000..30_000 {
            let (y, m, d) = date_of_day(day);
            assert_eq!(day_of_date(y, m, d), day);
        }
        // 2026-12-05 is a Saturday; its week starts Monday 2026-11-30.
        assert_eq!(format_day(week_of_day(day_of_date(2026, 12, 5))), "2026-11-30");
        assert_eq!(format_day(week_of_day(day_of_date(2026, 11, 30))), "2026-11-30");
        assert_eq!(format_day(month_of_day(day_of_date(2026, 12, 5))), "2026-12-01");
        assert_eq!(day_of_ms(-1), -1);
    }

    #[test]
    fn placeholders_are_numbered_per_dialect() {
        let sql = "SELECT a FROM t WHERE d >= ? AND d <= ?";
        assert_eq!(Dialect::Postgres.render(sql), "SELECT a FROM t WHERE d >= $1 AND d <= $2");
        assert_eq!(Dialect::Oracle.render(sql), "SELECT a FROM t WHERE d >= :1 AND d <= :2");
    }
}
