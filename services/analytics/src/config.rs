//! `cinerec-analytics`'s settings: flags with `CINEREC_*` variables (`--help` lists them;
//! `CINEREC_WAREHOUSE_URL` and `CINEREC_ANALYTICS_INGEST_TOKEN` are required).

use std::time::Duration;

use contract::{Secret, SecretUrl};
use service_common::duration::parse_duration;
use service_common::{EventTopics, ServiceSettings};

/// `cinerec-analytics`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "cinerec-analytics", version, about, max_term_width = 110)]
pub struct Config {
    /// Listen addresses and log format.
    #[command(flatten)]
    pub service: ServiceSettings,
    /// The warehouse: a PostgreSQL URL (never printed).
    #[arg(long, env = "CINEREC_WAREHOUSE_URL", hide_env_values = true)]
    pub warehouse_url: SecretUrl,
    /// Warehouse connections at most.
    #[arg(long, env = "CINEREC_WAREHOUSE_MAX_CONNECTIONS", default_value_t = 10)]
    pub warehouse_max_connections: u32,
    /// The bearer token `POST /api/v1/events` requires (the gateway's, or a client's).
    #[arg(long, env = "CINEREC_ANALYTICS_INGEST_TOKEN", hide_env_values = true)]
    pub ingest_token: Secret,
    /// Largest request body, in bytes (413 beyond): a full batch of events fits.
    #[arg(long, env = "CINEREC_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
    /// Kafka bootstrap servers to consume the domain events from; empty turns the consumer off.
    #[arg(long, env = "CINEREC_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Consumer group (replicas share it: each event is stored by one of them).
    #[arg(long, env = "CINEREC_KAFKA_GROUP", default_value = "cinerec-analytics")]
    pub kafka_group: String,
    /// Events per warehouse transaction, at most.
    #[arg(long, env = "CINEREC_INGEST_BATCH", default_value_t = 2000)]
    pub ingest_batch: usize,
    /// Longest wait to fill a batch (`50ms`).
    #[arg(long, env = "CINEREC_INGEST_LINGER", default_value = "50ms", value_parser = parse_duration)]
    pub ingest_linger: Duration,
    /// The event topics (analytics reads them all).
    #[command(flatten)]
    pub topics: EventTopics,
    /// The serving service (`http://host:port`) whose model versions are recorded with their
    /// offline metrics; empty: not recorded.
    #[arg(long, env = "CINEREC_SERVING_URL", default_value = "")]
    pub serving_url: String,
    /// How often serving's model version is read.
    #[arg(long, env = "CINEREC_MODEL_POLL", default_value = "30s", value_parser = parse_duration)]
    pub model_poll: Duration,
    /// Apply the warehouse migrations not yet applied, then exit (Kubernetes runs this as an
    /// init container, so replicas start on a current schema).
    #[arg(long, env = "CINEREC_MIGRATE_ONLY")]
    pub migrate_only: bool,
}
