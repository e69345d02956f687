//! Settings every service has, as a `clap` group each binary flattens into its own arguments;
//! every flag also reads a `CINEREC_*` environment variable.

use std::net::SocketAddr;

use clap::{Args, ValueEnum};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (local runs).
    #[default]
    Text,
    /// One JSON object per line (production; shipped to Elasticsearch).
    Json,
}

/// Listen addresses and log format shared by all services.
#[derive(Clone, Debug, Args)]
pub struct ServiceSettings {
    /// gRPC (or REST) listen address.
    #[arg(long, env = "CINEREC_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address (a separate port from the API).
    #[arg(long, env = "CINEREC_METRICS_LISTEN", default_value = "127.0.0.1:9090")]
    pub metrics_listen: SocketAddr,
    /// Log format.
    #[arg(long, env = "CINEREC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}
