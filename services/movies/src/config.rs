//! Command-line / environment settings of `cinerec-movies` (clap groups the binary flattens),
//! the [`Secret`] wrapper that keeps passwords out of logs, and the duration syntax.

use std::time::Duration;

use clap::Args;
use service_common::ServiceSettings;

use crate::media::S3MediaSettings;
use crate::postgres::PgSettings;

/// Passwords, keys and URLs with credentials: never shown in `Debug` or `Display` output.
pub use service_common::Secret;

/// The one duration grammar of every service (see [`service_common::duration`]).
pub use service_common::parse_duration;

/// The PostgreSQL database.
#[derive(Clone, Debug, Args)]
pub struct DatabaseArgs {
    /// PostgreSQL URL, `postgres://user:password@host:5432/database` (never logged).
    #[arg(long, env = "CINEREC_DATABASE_URL", hide_env_values = true)]
    pub database_url: Secret,
    /// Connections in the pool.
    #[arg(long, env = "CINEREC_DATABASE_MAX_CONNECTIONS", default_value_t = 10)]
    pub database_max_connections: u32,
    /// How long a request waits for a database connection before failing with UNAVAILABLE.
    #[arg(long, env = "CINEREC_DATABASE_ACQUIRE_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub database_acquire_timeout: Duration,
}

impl DatabaseArgs {
    /// The store settings.
    pub fn settings(&self) -> PgSettings {
        let mut res = PgSettings::new(self.database_url.clone());
        res.max_connections = self.database_max_connections;
        res.acquire_timeout = self.database_acquire_timeout;
        res
    }
}

/// The media bucket.
#[derive(Clone, Debug, Args)]
pub struct MediaArgs {
    /// Bucket for posters and trailers.
    #[arg(long, env = "CINEREC_MEDIA_BUCKET", default_value = "cinerec-media")]
    pub media_bucket: String,
    /// S3 endpoint URL (MinIO: `http://minio:9000`); unset means AWS S3 of the region.
    #[arg(long, env = "CINEREC_S3_ENDPOINT")]
    pub s3_endpoint: Option<String>,
    /// S3 region.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub s3_region: String,
    /// S3 access key id.
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    pub s3_access_key_id: String,
    /// S3 secret access key (never logged).
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub s3_secret_access_key: Secret,
    /// Lifetime of the presigned poster/trailer URLs in responses (at most 7 days).
    #[arg(long, env = "CINEREC_MEDIA_URL_TTL", default_value = "15m", value_parser = parse_duration)]
    pub media_url_ttl: Duration,
}

impl MediaArgs {
    /// The media store settings.
    pub fn settings(&self) -> S3MediaSettings {
        let mut res = S3MediaSettings::new(
            &self.media_bucket,
            &self.s3_access_key_id,
            self.s3_secret_access_key.clone(),
        );
        res.endpoint = self.s3_endpoint.clone();
        res.region = self.s3_region.clone();
        res.url_ttl = self.media_url_ttl;
        res
    }
}

/// `cinerec-movies serve`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// Listen addresses and log format.
    #[command(flatten)]
    pub service: ServiceSettings,
    /// PostgreSQL.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// S3.
    #[command(flatten)]
    pub media: MediaArgs,
    /// Kafka bootstrap servers (`host:port,...`) for MovieEvents.
    #[arg(long, env = "CINEREC_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// The event topics (`MovieEvent`s are written).
    #[command(flatten)]
    pub topics: service_common::EventTopics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        let settings = S3MediaSettings::new("b", "key", secret);
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
