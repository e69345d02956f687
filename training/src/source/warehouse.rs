//! Training ratings from the analytics warehouse (`cinerec train --ratings-warehouse URL`), so
//! that a CronJob can learn from what the warehouse holds as it does from the ratings service's
//! Redis: the latest rating event per (user, movie), deletions dropped
//! ([`warehouse::ratings::current_ratings`]), in canonical (user id, movie id) order, dense
//! indices in that order, timestamps in Unix seconds like the MovieLens files; the same ratings
//! therefore give the same model, bit for bit, whichever path stored them.
//! `postgres://` URLs use the PostgreSQL adapter; `oracle://` URLs the Oracle one (feature
//! `oracle`).

use std::fmt;

use contract::SecretUrl;
use engine::InteractionLog;
use warehouse::WarehouseError;
use warehouse::ratings::{CurrentRating, current_ratings};

use crate::data::Loaded;
use crate::error::Result;
use crate::source::RatingsSource;

/// Why reading ratings from the warehouse failed.
#[derive(Debug, thiserror::Error)]
pub enum WarehouseSourceError {
    /// A URL of a kind no adapter (built in) takes.
    #[error("--ratings-warehouse {url}: {reason}")]
    Url {
        /// The URL, password masked.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The warehouse could not be read.
    #[error("the warehouse at {url}: {source}")]
    Warehouse {
        /// The URL, password masked.
        url: String,
        /// The adapter's error.
        #[source]
        source: WarehouseError,
    },
}

/// The ratings in an analytics warehouse.
#[derive(Clone, PartialEq, Eq)]
pub struct WarehouseRatings {
    /// `postgres://user:password@host:port/database` (or `oracle://…` with feature `oracle`).
    pub url: String,
}

impl fmt::Debug for WarehouseRatings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WarehouseRatings").field("url", &masked(&self.url)).finish()
    }
}

fn masked(url: &str) -> String {
    SecretUrl::new(url).to_string()
}

impl RatingsSource for WarehouseRatings {
    fn name(&self) -> String {
        format!("warehouse {}", masked(&self.url))
    }

    fn load(&self) -> Result<Loaded> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let ratings = runtime.block_on(read(&self.url))?;
        let mut log = InteractionLog::new();
        log.entries.reserve(ratings.len());
        for r in ratings {
            log.push(r.user_id, r.movie_id, r.rating, r.occurred_at_ms.div_euclid(1000));
        }
        Ok(Loaded { name: self.name(), log, movies: Vec::new() })
    }
}

/// The current ratings at `url`, in canonical order.
pub async fn read(url: &str) -> std::result::Result<Vec<CurrentRating>, WarehouseSourceError> {
    let failed = |source| WarehouseSourceError::Warehouse { url: masked(url), source };
    let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
    match scheme {
        "postgres" | "postgresql" => {
            let warehouse = warehouse::postgres::PgWarehouse::connect(url, 2).await.map_err(failed)?;
            current_ratings(&warehouse).await.map_err(failed)
        }
        #[cfg(feature = "oracle")]
        "oracle" => {
            let warehouse = warehouse::oracle::OracleWarehouse::connect(url, 2).await.map_err(failed)?;
            current_ratings(&warehouse).await.map_err(failed)
        }
        #[cfg(not(feature = "oracle"))]
        "oracle" => Err(WarehouseSourceError::Url {
            url: masked(url),
            reason: "this cinerec was built without the Oracle adapter: build it with `--features oracle`"
                .into(),
        }),
        _ => Err(WarehouseSourceError::Url {
            url: masked(url),
            reason: "expected a postgres:// (or oracle://) URL".into(),
        }),
    }
}
