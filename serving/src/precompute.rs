//! The precompute job (`cinerec-precompute`): after training publishes a model, the top
//! [`CACHE_DEPTH`] list of every recently active user goes into the serving cache under the new
//! version's keys, so that each such user's first request after serving swaps to the model is a
//! cache hit rather than an engine query.
//!
//! Recently active users are read from the ratings service's Redis (`P:users`, then a pipelined
//! `ZCOUNT P:user:{uid}:recent since +inf` per user: anyone who rated within
//! `--active-within`); without a ratings Redis every user of the model is precomputed. Lists
//! are computed exactly as serving computes a plain query (same [`ModelState`], same scoring)
//! on a rayon pool, and written in pipelined batches with the job's TTL.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use artifacts::{ModelStore, StoreError, VersionId};
use contract::UserId;
use contract::ratings_redis::Keys;
use engine::{EngineError, ScoredItem};
use fred::prelude::{ClientLike, Config as RedisConfig, Value};
use fred::types::{Builder, ClusterHash, CustomCommand};
use prometheus_client::registry::Registry;
use rayon::prelude::*;
use serde::Serialize;

use crate::cache::{CACHE_DEPTH, CacheError, CacheSettings, RecCache};
use crate::config::{RedisUrl, parse_duration};
use crate::loaded_model::{ModelError, ModelState, RecommendQuery, Scoring};
use crate::metrics::Metrics;

/// `cinerec-precompute`'s settings (flags, each with a `CINEREC_*` variable).
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "cinerec-precompute", version, about, max_term_width = 110)]
pub struct PrecomputeConfig {
    /// Model store: a folder or `s3://bucket/prefix` (over the `--s3-*` flags).
    #[arg(long = "store", env = "CINEREC_MODEL_STORE", default_value = "./models")]
    pub store: String,
    /// The S3 connection of an `s3://` model store.
    #[command(flatten)]
    pub s3: s3_client::S3Args,
    /// The model version to precompute [default: the one LATEST points at, which serving loads].
    #[arg(long, env = "CINEREC_MODEL_VERSION")]
    pub model_version: Option<String>,
    /// Redis URL of serving's recommendation cache (required).
    #[arg(long, env = "CINEREC_CACHE_REDIS_URL")]
    pub cache_redis_url: RedisUrl,
    /// Prefix of cache keys, as serving's `--cache-prefix`.
    #[arg(long, env = "CINEREC_CACHE_PREFIX", default_value = "cinerec:rec")]
    pub cache_prefix: String,
    /// Lifetime of a precomputed list (longer than serving's own entries: they wait for the
    /// user's next visit).
    #[arg(long, env = "CINEREC_PRECOMPUTE_TTL", default_value = "24h", value_parser = parse_duration)]
    pub ttl: Duration,
    /// The ratings service's Redis, where recent activity is read; empty: every user of the
    /// model is precomputed.
    #[arg(long, env = "CINEREC_RATINGS_REDIS_URL", default_value = "")]
    pub ratings_redis_url: RedisUrl,
    /// Key prefix of the ratings service's keys.
    #[arg(long, env = "CINEREC_RATINGS_PREFIX", default_value = contract::ratings_redis::DEFAULT_PREFIX)]
    pub ratings_prefix: String,
    /// A user is recently active when they rated within this long (`7d`, `36h`).
    #[arg(long, env = "CINEREC_ACTIVE_WITHIN", default_value = "7d", value_parser = parse_duration)]
    pub active_within: Duration,
    /// Top-N of factor models, as serving's `--scoring`.
    #[arg(long, env = "CINEREC_SCORING", value_enum, default_value_t = Scoring::Quantized)]
    pub scoring: Scoring,
    /// Threads computing lists; 0 = every core.
    #[arg(long, env = "CINEREC_THREADS", default_value_t = 0)]
    pub threads: usize,
    /// Users per computed and written batch (one pipelined round trip each).
    #[arg(long, env = "CINEREC_PRECOMPUTE_BATCH", default_value_t = 2000)]
    pub batch: usize,
    /// Log format.
    #[arg(long, env = "CINEREC_LOG_FORMAT", value_enum, default_value_t)]
    pub log_format: service_common::LogFormat,
}

/// Why the job failed.
#[derive(Debug, thiserror::Error)]
pub enum PrecomputeError {
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The store holds no published model.
    #[error("no model in {store}: nothing to precompute")]
    NoModel {
        /// The store.
        store: String,
    },
    /// The model cannot be served.
    #[error("model {version}: {source}")]
    Model {
        /// The version.
        version: String,
        /// Why.
        source: ModelError,
    },
    /// A list could not be computed.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// The cache URL is missing or invalid, or a write failed.
    #[error("recommendation cache: {0}")]
    Cache(#[from] CacheError),
    /// The ratings Redis could not be read.
    #[error("ratings Redis {url}: {source}")]
    Ratings {
        /// The URL, password hidden.
        url: String,
        /// fred's error.
        source: fred::error::Error,
    },
    /// A key of the ratings Redis holds something the ratings service does not write.
    #[error("ratings Redis key `{key}`: {value:?} is not a user id")]
    CorruptUsers {
        /// The key.
        key: String,
        /// The value.
        value: String,
    },
    /// A setting is out of range.
    #[error("invalid setting: {0}")]
    Setting(String),
}

/// What the job did.
#[derive(Clone, Debug, Serialize)]
pub struct PrecomputeReport {
    /// The model version the lists belong to.
    pub version: String,
    /// Users found active (every user of the model without a ratings Redis).
    pub active_users: usize,
    /// Active users the model does not know (they get fold-in or popularity at request time).
    pub unknown_users: usize,
    /// Lists written.
    pub written: usize,
    /// Seconds finding the active users.
    pub read_seconds: f64,
    /// Seconds loading and preparing the model.
    pub load_seconds: f64,
    /// Seconds computing and writing the lists.
    pub compute_seconds: f64,
    /// Lists computed and written per second.
    pub users_per_second: f64,
    /// Threads computing.
    pub threads: usize,
}

/// Runs the job.
pub async fn run(config: &PrecomputeConfig) -> Result<PrecomputeReport, PrecomputeError> {
    let store = artifacts::open_store(&config.store, config.s3.connection().as_ref())?;
    run_with_store(config, &store).await
}

/// [`run`] over an opened store (`config.store` and the S3 flags are ignored).
pub async fn run_with_store(
    config: &PrecomputeConfig,
    store: &ModelStore,
) -> Result<PrecomputeReport, PrecomputeError> {
    if config.cache_redis_url.is_empty() {
        return Err(PrecomputeError::Setting(
            "--cache-redis-url (CINEREC_CACHE_REDIS_URL) is required".into(),
        ));
    }
    if config.batch == 0 {
        return Err(PrecomputeError::Setting("--batch must be at least 1".into()));
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(config.threads)
        .build()
        .map_err(|e| PrecomputeError::Setting(format!("cannot start {} threads: {e}", config.threads)))?;
    let settings = CacheSettings {
        url: config.cache_redis_url.clone(),
        ttl: config.ttl,
        timeout: Duration::from_secs(2),
        prefix: config.cache_prefix.clone(),
    };
    let cache = RecCache::connect(
        &settings,
        Arc::new(Metrics::new(&mut Registry::default())),
        Duration::from_secs(5),
    )
    .await?;
    if !cache.is_connected() {
        return Err(PrecomputeError::Cache(CacheError::Disconnected));
    }

    let started = Instant::now();
    let version = match config.model_version.as_deref() {
        Some(text) if !text.eq_ignore_ascii_case("latest") => VersionId::parse(text)?,
        _ => store.latest().await?.ok_or_else(|| PrecomputeError::NoModel { store: store.to_string() })?,
    };
    let artifact = store.load(&version).await?;
    let scoring = config.scoring;
    let prepared = tokio::task::spawn_blocking({
        let version = version.clone();
        move || ModelState::prepare(version, artifact, scoring)
    })
    .await
    .expect("preparing the model panicked");
    let model =
        Arc::new(prepared.map_err(|source| PrecomputeError::Model { version: version.to_string(), source })?);
    let load_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let active = if config.ratings_redis_url.is_empty() {
        model.artifact().users.as_slice().to_vec()
    } else {
        let since = SystemTime::now().checked_sub(config.active_within).unwrap_or(UNIX_EPOCH);
        let since_ms = since.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
        active_users(&config.ratings_redis_url, &config.ratings_prefix, since_ms).await?
    };
    let known: Vec<(u64, u32)> =
        active.iter().filter_map(|&user_id| model.user_idx(user_id).map(|idx| (user_id, idx))).collect();
    let read_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let pool = Arc::new(pool);
    for chunk in known.chunks(config.batch) {
        let (model, pool, chunk) = (Arc::clone(&model), Arc::clone(&pool), chunk.to_vec());
        let lists = tokio::task::spawn_blocking(move || {
            pool.install(|| {
                chunk
                    .par_iter()
                    .map(|&(user_id, idx)| top_list(&model, user_id, idx))
                    .collect::<Result<Vec<_>, EngineError>>()
            })
        })
        .await
        .expect("computing lists panicked");
        let lists = lists?;
        cache.put_all(&version, &lists).await?;
    }
    let compute_seconds = started.elapsed().as_secs_f64();
    cache.close().await;
    Ok(PrecomputeReport {
        version: version.to_string(),
        active_users: active.len(),
        unknown_users: active.len() - known.len(),
        written: known.len(),
        read_seconds,
        load_seconds,
        compute_seconds,
        users_per_second: known.len() as f64 / compute_seconds.max(1e-9),
        threads: pool.current_num_threads(),
    })
}

/// The list serving caches for a plain query of a known user.
fn top_list(model: &ModelState, user_id: u64, user_idx: u32) -> Result<(u64, Vec<ScoredItem>), EngineError> {
    let query = RecommendQuery::plain(user_id, Some(user_idx), CACHE_DEPTH);
    Ok((user_id, model.recommend(&query, CACHE_DEPTH)?.items))
}

/// The users of the ratings Redis at `url` (keys under `prefix`) who rated at or after
/// `since_ms`, in the order the server lists them.
pub async fn active_users(url: &RedisUrl, prefix: &str, since_ms: i64) -> Result<Vec<u64>, PrecomputeError> {
    let failed = |source| PrecomputeError::Ratings { url: url.to_string(), source };
    let client =
        Builder::from_config(RedisConfig::from_url(url.expose()).map_err(failed)?).build().map_err(failed)?;
    client.init().await.map_err(failed)?;
    let keys = Keys::new(prefix);
    let mut users = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let reply: Value = client
            .custom(
                CustomCommand::new_static("SSCAN", ClusterHash::FirstKey, false),
                vec![
                    Value::from(keys.users()),
                    Value::from(cursor.as_str()),
                    "COUNT".into(),
                    Value::from(10_000),
                ],
            )
            .await
            .map_err(failed)?;
        let mut parts = reply.into_array().into_iter();
        cursor = parts.next().and_then(|c| c.as_string()).unwrap_or_else(|| "0".into());
        for member in parts.next().map(Value::into_array).unwrap_or_default() {
            let text = member.as_string().unwrap_or_default();
            let id = text.parse::<u64>().ok().and_then(|id| UserId::parse(id, "user").ok());
            users.push(id.ok_or_else(|| PrecomputeError::CorruptUsers { key: keys.users(), value: text })?);
        }
        if cursor == "0" {
            break;
        }
    }
    let mut active = Vec::new();
    for chunk in users.chunks(5_000) {
        let pipeline = client.pipeline();
        for &user in chunk {
            let key = keys.user_recent(user);
            let args = vec![Value::from(key), Value::from(since_ms), Value::from("+inf")];
            let () = pipeline
                .custom(CustomCommand::new_static("ZCOUNT", ClusterHash::FirstKey, false), args)
                .await
                .map_err(failed)?;
        }
        let counts = pipeline.try_all::<i64>().await;
        for (&user, count) in chunk.iter().zip(counts) {
            if count.map_err(failed)? > 0 {
                active.push(user.get());
            }
        }
    }
    let _ = client.quit().await;
    Ok(active)
}
