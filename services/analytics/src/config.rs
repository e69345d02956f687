//! `cinerec-analytics`'s settings: flags with `CINEREC_*` variables (`--help` lists them).

use contract::SecretUrl;
use service_common::ServiceSettings;

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
    /// Largest request body, in bytes (413 beyond): a full batch of events fits.
    #[arg(long, env = "CINEREC_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    pub max_body_bytes: usize,
}
