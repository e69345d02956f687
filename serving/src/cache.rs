//! The recommendation cache: each known user's top [`CACHE_DEPTH`] list in Redis, keyed by
//! model version (`<prefix>:<version>:<user id>`), so any `n ≤ CACHE_DEPTH` is a slice of one
//! entry and a model swap needs no invalidation (old keys expire by their TTL).
//!
//! Values are compact binary: a format byte, then `(item_idx: u32, score: f32)` little-endian
//! pairs — 801 bytes for a top-100 — valid only for the version in the key.
//!
//! The cache never holds a request up: every command carries a short timeout and fails fast while
//! the client is reconnecting (fred's exponential reconnect policy runs in the background), so
//! with Redis down requests are answered from the model. Failures are counted in metrics and
//! logged at most every [`LOG_EVERY`] with the number suppressed.
//!
//! Invalidation cannot be overtaken by a list computed before it: [`RecCache::invalidate_user`]
//! bumps the user's generation before deleting, and [`RecCache::put`] takes the generation read
//! before the list was computed: it skips the write when the generation moved, and checks again
//! after its `SET` completed, deleting the key when an invalidation came in meanwhile (the `DEL`
//! may have run before the `SET`). Generations live in [`GENERATION_SLOTS`] counters shared by
//! hash (bounded memory; a collision only skips a write).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use artifacts::VersionId;
use engine::ScoredItem;
use fred::bytes::Bytes;
use fred::prelude::{
    Builder, Client, ClientLike, Config, EventInterface, Expiration, KeysInterface, Options, ReconnectPolicy,
    TcpConfig,
};
use tracing::{info, warn};

use crate::config::RedisUrl;
use crate::metrics::Metrics;

/// How many items each cached list holds.
pub const CACHE_DEPTH: usize = 100;

/// Cache failures are logged at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(10);

/// Format byte of cached values.
const FORMAT: u8 = 1;

/// Number of per-user generation counters (users share them by hash).
pub const GENERATION_SLOTS: usize = 4096;

/// Where the cache lives and how it behaves.
#[derive(Clone, Debug)]
pub struct CacheSettings {
    /// Redis URL; empty disables the cache.
    pub url: RedisUrl,
    /// Lifetime of an entry.
    pub ttl: Duration,
    /// Longest wait for a read; writes get ten times as long (they run in the background).
    pub timeout: Duration,
    /// Key prefix.
    pub prefix: String,
}

/// Why the cache could not be set up or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// The URL cannot be parsed (the message never contains the password).
    #[error("invalid Redis URL {url}: {kind:?} error")]
    InvalidUrl {
        /// The URL, password hidden.
        url: String,
        /// fred's error kind.
        kind: fred::error::ErrorKind,
    },
    /// A command failed or timed out.
    #[error("Redis {op} failed: {source}")]
    Command {
        /// The command.
        op: &'static str,
        /// fred's error.
        source: fred::error::Error,
    },
    /// The client is reconnecting.
    #[error("Redis is unreachable (reconnecting in the background)")]
    Disconnected,
}

/// The recommendation cache (or a disabled one that answers "miss" without doing anything).
#[derive(Clone, Debug)]
pub struct RecCache {
    inner: Option<Arc<Inner>>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    url: String,
    prefix: String,
    ttl_secs: i64,
    read: Options,
    write: Options,
    metrics: Arc<Metrics>,
    log: LogLimiter,
    generations: Generations,
}

/// The per-user generation counters (`Debug` shows their number only).
struct Generations(Box<[AtomicU64]>);

impl std::fmt::Debug for Generations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Generations({} slots)", self.0.len())
    }
}

impl RecCache {
    /// A cache that is off: every lookup misses, nothing is stored.
    pub fn disabled() -> Self {
        Self { inner: None }
    }

    /// Connects to Redis in the background. Waits up to `connect_wait` for the first connection
    /// so early requests can hit; if Redis is down the cache starts anyway (and logs it) and
    /// fred keeps reconnecting with backoff (100 ms doubling to 5 s).
    pub async fn connect(
        settings: &CacheSettings,
        metrics: Arc<Metrics>,
        connect_wait: Duration,
    ) -> Result<Self, CacheError> {
        if settings.url.is_empty() {
            info!("no Redis URL: the recommendation cache is off");
            return Ok(Self::disabled());
        }
        let url = settings.url.to_string();
        let mut config = Config::from_url(settings.url.expose())
            .map_err(|e| CacheError::InvalidUrl { url: url.clone(), kind: e.kind().clone() })?;
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(1);
                c.internal_command_timeout = Duration::from_secs(1);
                c.max_command_attempts = 1;
                c.tcp = TcpConfig { nodelay: Some(true), ..Default::default() };
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 100, 5_000, 2))
            .build()
            .map_err(|e| CacheError::InvalidUrl { url: url.clone(), kind: e.kind().clone() })?;
        let options = |timeout| Options {
            timeout: Some(timeout),
            fail_fast: true,
            max_attempts: Some(1),
            ..Default::default()
        };
        let inner = Arc::new(Inner {
            client: client.clone(),
            url: url.clone(),
            prefix: settings.prefix.clone(),
            ttl_secs: settings.ttl.as_secs().max(1) as i64,
            read: options(settings.timeout),
            write: options(settings.timeout * 10),
            metrics,
            log: LogLimiter::default(),
            generations: Generations((0..GENERATION_SLOTS).map(|_| AtomicU64::new(0)).collect()),
        });
        let reconnected_url = url.clone();
        client.on_reconnect(move |_| {
            info!(redis = %reconnected_url, "connected to Redis: the recommendation cache is in use");
            async { Ok(()) }
        });
        let errors = inner.clone();
        client.on_error(move |(error, _)| {
            errors.log.warn(&errors.url, "connection", &error);
            async { Ok(()) }
        });
        let _connection_task = client.connect();
        if tokio::time::timeout(connect_wait, client.wait_for_connect()).await.is_err()
            || !client.is_connected()
        {
            warn!(redis = %url, "Redis is unreachable: answering from the model and reconnecting in the background");
        }
        Ok(Self { inner: Some(inner) })
    }

    /// Whether a Redis URL was configured.
    pub fn is_enabled(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether the client is connected right now.
    pub fn is_connected(&self) -> bool {
        self.inner.as_ref().is_some_and(|i| i.client.is_connected())
    }

    /// The cached list of `user_id` for `version`, or `None` on a miss, an error (counted,
    /// logged at a limited rate) or an entry that does not decode for a model of `n_items`.
    pub async fn get(&self, version: &VersionId, user_id: u64, n_items: usize) -> Option<Vec<ScoredItem>> {
        let inner = self.inner.as_ref()?;
        let res = inner
            .connected("get")?
            .with_options(&inner.read)
            .get::<Option<Bytes>, _>(inner.key(version, user_id))
            .await;
        match res {
            Ok(value) => inner.decode_counted(value, n_items),
            Err(err) => {
                inner.failed("get", &err);
                None
            }
        }
    }

    /// The cached lists of many users in one round trip (`None` entries: misses or errors).
    pub async fn get_many(
        &self,
        version: &VersionId,
        user_ids: &[u64],
        n_items: usize,
    ) -> Vec<Option<Vec<ScoredItem>>> {
        let none = || vec![None; user_ids.len()];
        let Some(inner) = self.inner.as_ref() else { return none() };
        if user_ids.is_empty() {
            return none();
        }
        let Some(client) = inner.connected("get") else { return none() };
        let keys: Vec<String> = user_ids.iter().map(|&u| inner.key(version, u)).collect();
        match client.with_options(&inner.read).mget::<Vec<Option<Bytes>>, _>(keys).await {
            Ok(values) if values.len() == user_ids.len() => {
                values.into_iter().map(|v| inner.decode_counted(v, n_items)).collect()
            }
            Ok(values) => {
                inner.failed(
                    "get",
                    &format!("MGET returned {} values for {} keys", values.len(), user_ids.len()),
                );
                none()
            }
            Err(err) => {
                inner.failed("get", &err);
                none()
            }
        }
    }

    /// The invalidation generation of `user_id`: read it before computing a list to
    /// [`Self::put`] (0 when the cache is off).
    pub fn generation(&self, user_id: u64) -> u64 {
        self.inner.as_ref().map_or(0, |inner| inner.generation(user_id).load(Ordering::SeqCst))
    }

    /// Stores `items` (at most [`CACHE_DEPTH`] are kept) as the list of `user_id` for
    /// `version`, in the background: the caller does not wait. `generation` is
    /// [`Self::generation`] from before the list was computed: if the user was invalidated since,
    /// nothing is stored (see the [module docs](self)).
    pub fn put(&self, version: &VersionId, user_id: u64, items: &[ScoredItem], generation: u64) {
        let Some(inner) = self.inner.as_ref() else { return };
        if inner.generation(user_id).load(Ordering::SeqCst) != generation {
            inner.metrics.cache_writes_skipped.inc();
            return;
        }
        let Some(client) = inner.connected("set") else { return };
        let (client, inner, key, value) =
            (client.clone(), inner.clone(), inner.key(version, user_id), encode(items));
        tokio::spawn(async move {
            let expire = Some(Expiration::EX(inner.ttl_secs));
            let res =
                client.with_options(&inner.write).set::<(), _, _>(&key, value, expire, None, false).await;
            if let Err(err) = res {
                inner.failed("set", &err);
                return;
            }
            if inner.generation(user_id).load(Ordering::SeqCst) != generation {
                // An invalidation ran while the SET was in flight: its DEL may have come first.
                inner.metrics.cache_writes_skipped.inc();
                if let Err(err) = client.with_options(&inner.write).del::<u64, _>(&key).await {
                    inner.failed("del", &err);
                }
            }
        });
    }

    /// Stores many users' lists for `version` in one pipelined round trip and waits for the
    /// replies (the precompute job's write: no generation check, it serves no requests).
    pub async fn put_all(
        &self,
        version: &VersionId,
        lists: &[(u64, Vec<ScoredItem>)],
    ) -> Result<(), CacheError> {
        let Some(inner) = self.inner.as_ref() else { return Ok(()) };
        let failed = |source| CacheError::Command { op: "set", source };
        let pipeline = inner.client.pipeline();
        for (user_id, items) in lists {
            let expire = Some(Expiration::EX(inner.ttl_secs));
            let () = pipeline
                .set(inner.key(version, *user_id), encode(items), expire, None, false)
                .await
                .map_err(failed)?;
        }
        for reply in pipeline.try_all::<fred::types::Value>().await {
            reply.map_err(failed)?;
        }
        Ok(())
    }

    /// Removes the cached list of `user_id` for `version` (the event consumer calls this when a
    /// user's ratings or preferences change); `Ok(true)` if there was one. Lists computed before
    /// this call are not stored afterwards, even if the `DEL` fails.
    pub async fn invalidate_user(&self, version: &VersionId, user_id: u64) -> Result<bool, CacheError> {
        let Some(inner) = self.inner.as_ref() else { return Ok(false) };
        inner.generation(user_id).fetch_add(1, Ordering::SeqCst);
        let client = inner.connected("del").ok_or(CacheError::Disconnected)?;
        match client.with_options(&inner.write).del::<u64, _>(inner.key(version, user_id)).await {
            Ok(removed) => Ok(removed > 0),
            Err(source) => {
                inner.failed("del", &source);
                Err(CacheError::Command { op: "del", source })
            }
        }
    }

    /// Moves the generation of `user_id` without deleting anything (no model is serving, so
    /// there is no key to delete): lists computed before are not stored.
    pub fn bump_generation(&self, user_id: u64) {
        if let Some(inner) = &self.inner {
            inner.generation(user_id).fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Closes the connection (waits at most one second).
    pub async fn close(&self) {
        if let Some(inner) = &self.inner {
            let _ = tokio::time::timeout(Duration::from_secs(1), inner.client.quit()).await;
        }
    }
}

impl Inner {
    fn generation(&self, user_id: u64) -> &AtomicU64 {
        let slots = &self.generations.0;
        &slots[(user_id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 40) as usize % slots.len()]
    }

    fn key(&self, version: &VersionId, user_id: u64) -> String {
        format!("{}:{version}:{user_id}", self.prefix)
    }

    /// The client when connected; otherwise counts a skipped `op` as an error.
    fn connected(&self, op: &'static str) -> Option<&Client> {
        if self.client.is_connected() {
            Some(&self.client)
        } else {
            self.failed(op, &CacheError::Disconnected);
            None
        }
    }

    fn decode_counted(&self, value: Option<Bytes>, n_items: usize) -> Option<Vec<ScoredItem>> {
        match value.map(|bytes| decode(&bytes, n_items)) {
            Some(Some(items)) => {
                self.metrics.cache_hits.inc();
                Some(items)
            }
            Some(None) => {
                self.failed("decode", &"a cached value does not decode; ignoring it");
                None
            }
            None => {
                self.metrics.cache_misses.inc();
                None
            }
        }
    }

    fn failed(&self, op: &'static str, err: &dyn std::fmt::Display) {
        self.metrics.cache_error(op);
        self.log.warn(&self.url, op, err);
    }
}

/// The binary value of a list (see the [module docs](self)).
pub fn encode(items: &[ScoredItem]) -> Bytes {
    let items = &items[..items.len().min(CACHE_DEPTH)];
    let mut res = Vec::with_capacity(1 + 8 * items.len());
    res.push(FORMAT);
    for item in items {
        res.extend_from_slice(&item.item_idx.to_le_bytes());
        res.extend_from_slice(&item.score.to_le_bytes());
    }
    res.into()
}

/// Decodes a value written by [`encode`]; `None` if it is malformed or names an item outside
/// `0..n_items`.
pub fn decode(bytes: &[u8], n_items: usize) -> Option<Vec<ScoredItem>> {
    let (&format, pairs) = bytes.split_first()?;
    if format != FORMAT || pairs.len() % 8 != 0 {
        return None;
    }
    pairs
        .chunks_exact(8)
        .map(|pair| {
            let item_idx = u32::from_le_bytes(pair[..4].try_into().ok()?);
            let score = f32::from_le_bytes(pair[4..].try_into().ok()?);
            ((item_idx as usize) < n_items && score.is_finite()).then_some(ScoredItem { item_idx, score })
        })
        .collect()
}

/// Rate-limited warnings: at most one per [`LOG_EVERY`], with how many were suppressed.
#[derive(Debug, Default)]
struct LogLimiter {
    last: Mutex<Option<Instant>>,
    suppressed: AtomicU64,
}

impl LogLimiter {
    fn warn(&self, url: &str, op: &'static str, err: &dyn std::fmt::Display) {
        let Ok(mut last) = self.last.try_lock() else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        *last = Some(Instant::now());
        let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
        warn!(redis = %url, op, error = %err, suppressed, "recommendation cache failing: answering from the model");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_refuse_garbage() {
        let items: Vec<ScoredItem> =
            (0..150).map(|i| ScoredItem { item_idx: i * 3, score: 1.0 / (i as f32 + 1.0) }).collect();
        let bytes = encode(&items);
        assert_eq!(bytes.len(), 1 + 8 * CACHE_DEPTH);
        assert_eq!(decode(&bytes, 1000).unwrap(), items[..CACHE_DEPTH]);
        assert_eq!(decode(&bytes, 100), None, "item index out of range");
        assert_eq!(decode(&bytes[..bytes.len() - 1], 1000), None, "truncated");
        assert_eq!(decode(&[2], 1000), None, "unknown format");
        assert_eq!(decode(&[], 1000), None);
        assert_eq!(decode(&encode(&[]), 10), Some(vec![]));
    }
}
