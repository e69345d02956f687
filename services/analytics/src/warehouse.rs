//! The warehouse behind analytics: the [`Warehouse`] trait and its PostgreSQL adapter
//! ([`PgWarehouse`], `sqlx` at run time, migrations embedded). Ingestion is idempotent by
//! `event_id` (`ON CONFLICT DO NOTHING`): a resent event is stored once.

use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::activity::ActivityEvent;

/// Why the warehouse failed.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseError {
    /// The URL is not a PostgreSQL URL (the URL itself is not repeated: it may hold a password).
    #[error("the warehouse URL is invalid: {0}")]
    InvalidUrl(String),
    /// The database did not answer or refused.
    #[error("the warehouse is unavailable while {what}: {source}")]
    Unavailable {
        /// What was being done.
        what: &'static str,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// What one ingestion did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct IngestCounts {
    /// Newly stored.
    pub stored: u64,
    /// Already there (same `event_id`): not stored again.
    pub duplicates: u64,
}

/// Where analytics keeps events.
pub trait Warehouse: Send + Sync + 'static {
    /// Stores `events` in one transaction, once per `event_id`; `received_at_ms` is the
    /// server's time.
    fn ingest_activity(
        &self,
        events: &[ActivityEvent],
        received_at_ms: i64,
    ) -> impl Future<Output = Result<IngestCounts, WarehouseError>> + Send;
}

fn migrator() -> Migrator {
    Migrator::with_migrations(vec![Migration::new(
        1,
        "activity".into(),
        MigrationType::Simple,
        SqlStr::from_static(include_str!("../migrations/0001_activity.sql")),
        false,
    )])
}

/// The PostgreSQL warehouse.
#[derive(Clone, Debug)]
pub struct PgWarehouse {
    pool: PgPool,
}

impl PgWarehouse {
    /// Connects to `url` and applies the migrations.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, WarehouseError> {
        let options = PgConnectOptions::from_str(url).map_err(|e| {
            WarehouseError::InvalidUrl(match e {
                sqlx::Error::Configuration(inner) => inner.to_string(),
                _ => "not a postgres:// URL".into(),
            })
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(3))
            .connect_lazy_with(options);
        migrator()
            .run(&pool)
            .await
            .map_err(|e| WarehouseError::Unavailable { what: "migrating", source: e.into() })?;
        Ok(Self { pool })
    }

    /// Events of `event_id` stored (tests and reports).
    pub async fn count_activity(&self, event_id: &str) -> Result<i64, WarehouseError> {
        sqlx::query_scalar("SELECT count(*) FROM activity_events WHERE event_id = $1")
            .bind(event_id)
            .fetch_one(&self.pool)
            .await
            .map_err(|source| WarehouseError::Unavailable { what: "counting events", source })
    }
}

impl service_common::ReadinessProbe for PgWarehouse {
    async fn is_ready(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }
}

impl Warehouse for PgWarehouse {
    async fn ingest_activity(
        &self,
        events: &[ActivityEvent],
        received_at_ms: i64,
    ) -> Result<IngestCounts, WarehouseError> {
        let fail = |what| move |source| WarehouseError::Unavailable { what, source };
        // One statement over arrays: one round trip per batch.
        let column = |f: fn(&ActivityEvent) -> Option<String>| events.iter().map(f).collect::<Vec<_>>();
        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
        let types: Vec<String> = events.iter().map(|e| e.event_type.clone()).collect();
        let occurred: Vec<f64> = events.iter().map(|e| e.occurred_at_ms as f64 / 1000.0).collect();
        let users: Vec<Option<i64>> = events.iter().map(|e| e.user_id.map(|u| u.as_i64())).collect();
        let movies: Vec<Option<i64>> = events.iter().map(|e| e.movie_id.map(|m| m.as_i64())).collect();
        let positions: Vec<Option<i32>> = events.iter().map(|e| e.position.map(|p| p as i32)).collect();
        let contexts: Vec<String> = events.iter().map(|e| e.context.to_string()).collect();
        let stored = sqlx::query(
            "INSERT INTO activity_events (event_id, event_type, occurred_at, received_at, user_id, anonymous_id, \
             session_id, recommendation_id, movie_id, position, context) \
             SELECT e.id, e.kind, to_timestamp(e.occurred), to_timestamp($11), e.user_id, e.anonymous_id, \
                    e.session_id, e.recommendation_id, e.movie_id, e.position, e.context::jsonb \
             FROM UNNEST($1::text[], $2::text[], $3::float8[], $4::int8[], $5::text[], $6::text[], $7::text[], \
                         $8::int8[], $9::int4[], $10::text[]) \
                  AS e(id, kind, occurred, user_id, anonymous_id, session_id, recommendation_id, movie_id, position, context) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&ids)
        .bind(&types)
        .bind(&occurred)
        .bind(&users)
        .bind(column(|e| e.anonymous_id.clone()))
        .bind(column(|e| e.session_id.clone()))
        .bind(column(|e| e.recommendation_id.clone()))
        .bind(&movies)
        .bind(&positions)
        .bind(&contexts)
        .bind(received_at_ms as f64 / 1000.0)
        .execute(&self.pool)
        .await
        .map_err(fail("storing activity events"))?
        .rows_affected();
        Ok(IngestCounts { stored, duplicates: events.len() as u64 - stored })
    }
}
