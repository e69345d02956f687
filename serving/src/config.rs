//! `cinerec-serve`'s configuration: flags, each also read from a `CINEREC_*` environment
//! variable, with documented defaults. The Redis URL may carry a password, so it is wrapped in
//! [`RedisUrl`], which never prints it.

use std::time::Duration;

use clap::Parser;
use service_common::ServiceSettings;

use crate::loaded_model::Scoring;

/// Everything `cinerec-serve` is configured with.
#[derive(Clone, Debug, Parser)]
#[command(name = "cinerec-serve", version, about = "cinerec's gRPC recommendation service")]
pub struct ServingConfig {
    /// Listen addresses and log format.
    #[command(flatten)]
    pub service: ServiceSettings,
    /// Model store: a folder (`./models`, `file:///srv/models`) or `s3://bucket/prefix` (over
    /// the `--s3-*` connection flags).
    #[arg(long = "store", env = "CINEREC_MODEL_STORE", default_value = "./models")]
    pub store: String,
    /// The S3 connection of an `s3://` model store.
    #[command(flatten)]
    pub s3: s3_client::S3Args,
    /// Redis URL of the recommendation cache (`redis://[:password@]host:port[/db]`); empty
    /// disables the cache.
    #[arg(long, env = "CINEREC_CACHE_REDIS_URL", default_value = "")]
    pub redis_url: RedisUrl,
    /// How long a cached top list lives (`300s`, `5m`).
    #[arg(long, env = "CINEREC_CACHE_TTL", default_value = "300s", value_parser = parse_duration)]
    pub cache_ttl: Duration,
    /// Longest wait for one cache command; past it the request is answered from the model.
    #[arg(long, env = "CINEREC_CACHE_TIMEOUT", default_value = "5ms", value_parser = parse_duration)]
    pub cache_timeout: Duration,
    /// Prefix of cache keys: `<prefix>:<model version>:<user id>`.
    #[arg(long, env = "CINEREC_CACHE_PREFIX", default_value = "cinerec:rec")]
    pub cache_prefix: String,
    /// How often the store is checked for a newer model (also on the RefreshModel RPC).
    #[arg(long, env = "CINEREC_REFRESH_INTERVAL", default_value = "30s", value_parser = parse_duration)]
    pub refresh_interval: Duration,
    /// Top-N of factor models: `quantized` (int8 candidate index, exact re-ranking) or `exact`
    /// (every item scored in f32).
    #[arg(long, env = "CINEREC_SCORING", value_enum, default_value_t = Scoring::Quantized)]
    pub scoring: Scoring,
    /// Engine queries running at once (default: 2 × the number of cores); more wait.
    #[arg(long, env = "CINEREC_MAX_CONCURRENT_QUERIES")]
    pub max_concurrent_queries: Option<usize>,
    /// Kafka bootstrap servers (`host:port,...`) to consume rating, preference and deletion
    /// events from; empty turns the event consumer off.
    #[arg(long, env = "CINEREC_KAFKA_BROKERS", default_value = "")]
    pub kafka_brokers: String,
    /// Consumer group of the event consumer [default: `cinerec-serving-<random>`, new at every
    /// start]. Each replica keeps its overlays in memory, so each must read every event: a group
    /// shared by replicas would split the partitions between them, and a group that outlives the
    /// process would resume after offsets whose effect died with it. A fresh group reads the
    /// retained topics from the start instead (events older than the model are skipped).
    #[arg(long, env = "CINEREC_KAFKA_GROUP")]
    pub kafka_group: Option<String>,
    /// The event topics (ratings, user preferences and deletions are consumed).
    #[command(flatten)]
    pub topics: service_common::EventTopics,
    /// Most users whose overlay (rating changes since the model, blocked movies) is held; the
    /// least recently updated is evicted first.
    #[arg(long, env = "CINEREC_OVERLAY_MAX_USERS", default_value_t = crate::overlay::DEFAULT_MAX_USERS)]
    pub overlay_max_users: usize,
}

impl ServingConfig {
    /// The configuration tests start from: both ports on `127.0.0.1:0`, the given store, no
    /// cache, a 30 s refresh interval.
    pub fn for_tests(store: impl Into<String>) -> Self {
        let mut res = Self::parse_from(["cinerec-serve"]);
        res.service.listen = ([127, 0, 0, 1], 0).into();
        res.service.metrics_listen = ([127, 0, 0, 1], 0).into();
        res.store = store.into();
        res
    }

    /// [`Self::kafka_group`] or a new `cinerec-serving-<random>` name.
    pub fn kafka_group_or_random(&self) -> String {
        self.kafka_group
            .clone()
            .filter(|g| !g.trim().is_empty())
            .unwrap_or_else(|| format!("cinerec-serving-{}", uuid::Uuid::new_v4().simple()))
    }

    /// [`Self::max_concurrent_queries`] or its default, 2 × the cores (at least 1).
    pub fn query_limit(&self) -> usize {
        self.max_concurrent_queries
            .unwrap_or_else(|| 2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
            .max(1)
    }
}

/// A Redis URL whose password never shows in `Debug` or `Display` output. Empty means "no
/// cache".
pub type RedisUrl = service_common::SecretUrl;

/// The one duration grammar of every service (see [`service_common::duration`]).
pub use service_common::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_documented_values() {
        let config = ServingConfig::for_tests("./models");
        assert!(config.redis_url.is_empty());
        assert_eq!(config.cache_ttl, Duration::from_secs(300));
        assert_eq!(config.cache_timeout, Duration::from_millis(5));
        assert_eq!(config.refresh_interval, Duration::from_secs(30));
        assert!(config.query_limit() >= 2);
        assert!(config.kafka_brokers.is_empty(), "no event consumer by default");
        assert_eq!(config.topics.ratings, proto::events::topics::RATINGS);
        assert_eq!(config.overlay_max_users, 100_000);
        let (a, b) = (config.kafka_group_or_random(), config.kafka_group_or_random());
        assert!(a.starts_with("cinerec-serving-") && a != b, "{a} {b}");
    }

    #[test]
    fn help_lists_the_s3_settings() {
        use clap::CommandFactory;
        let help = ServingConfig::command().render_help().to_string();
        for name in s3_client::S3Args::HELP_NAMES {
            assert!(help.contains(name), "{name} missing from\n{help}");
        }
    }

    #[test]
    fn s3_flags_make_the_store_connection() {
        let config = ServingConfig::parse_from([
            "cinerec-serve",
            "--store",
            "s3://models/serving",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-access-key-id",
            "key",
            "--s3-secret-access-key",
            "hunter2",
        ]);
        assert!(!format!("{config:?}").contains("hunter2"));
        let connection = config.s3.connection().unwrap();
        assert_eq!(connection.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        let store = artifacts::open_store(&config.store, Some(&connection)).unwrap();
        assert_eq!(store.to_string(), "s3://models/serving");
    }
}
