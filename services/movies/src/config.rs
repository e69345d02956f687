//! Command-line / environment settings of `cinerec-movies` (clap groups the binary flattens),
//! the [`Secret`] wrapper that keeps passwords out of logs, and the duration syntax.

use std::time::Duration;

use clap::Args;
use s3_client::{S3Args, S3Connection};
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

/// The media bucket. The S3 connection flags are the workspace's ([`S3Args`]: `--s3-endpoint`
/// / CINEREC_S3_ENDPOINT, `--s3-region` / AWS_REGION, `--s3-access-key-id` / AWS_ACCESS_KEY_ID,
/// `--s3-secret-access-key` / AWS_SECRET_ACCESS_KEY, `--s3-session-token` /
/// AWS_SESSION_TOKEN); the service cannot run without a bucket, so here the credentials are
/// required.
#[derive(Clone, Debug, Args)]
#[command(
    mut_arg("s3_access_key_id", |a| a.required(true)),
    mut_arg("s3_secret_access_key", |a| a.required(true))
)]
pub struct MediaArgs {
    /// Bucket for posters and trailers.
    #[arg(long, env = "CINEREC_MEDIA_BUCKET", default_value = "cinerec-media")]
    pub media_bucket: String,
    /// The S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
    /// Lifetime of the presigned poster/trailer URLs in responses (at most 7 days).
    #[arg(long, env = "CINEREC_MEDIA_URL_TTL", default_value = "15m", value_parser = parse_duration)]
    pub media_url_ttl: Duration,
}

impl MediaArgs {
    /// The media store settings. Parsed flags always hold both credentials; a hand-built
    /// `MediaArgs` without them gets empty ones, which the server refuses (the start-up bucket
    /// check logs it).
    pub fn settings(&self) -> S3MediaSettings {
        let connection = self.s3.connection().unwrap_or_else(|| {
            let mut res = S3Connection::new("", "");
            res.endpoint = self.s3.s3_endpoint.clone();
            res
        });
        let mut res = S3MediaSettings::new(&self.media_bucket, connection);
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
        let secret: Secret = Secret::new("hunter2");
        let settings = S3MediaSettings::new("b", S3Connection::new("key", secret.expose()));
        assert!(!format!("{settings:?}").contains("hunter2"));
    }

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        media: MediaArgs,
    }

    #[test]
    fn media_flags_make_the_settings() {
        use clap::Parser;
        let cli = Cli::try_parse_from([
            "cinerec-movies",
            "--s3-endpoint",
            "http://127.0.0.1:9000",
            "--s3-access-key-id",
            "key",
            "--s3-secret-access-key",
            "hunter2",
            "--media-url-ttl",
            "1h",
        ])
        .unwrap();
        assert!(!format!("{cli:?}").contains("hunter2"));
        let settings = cli.media.settings();
        assert_eq!(settings.bucket, "cinerec-media");
        assert_eq!(settings.url_ttl, Duration::from_secs(3600));
        assert_eq!(settings.connection.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(settings.connection.access_key_id, "key");
        assert_eq!(settings.connection.secret_access_key, "hunter2");
        // The credentials stay required (unless the environment of the test run gives them).
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            let err = Cli::try_parse_from(["cinerec-movies", "--s3-secret-access-key", "s"]).unwrap_err();
            assert!(err.to_string().contains("--s3-access-key-id"), "{err}");
        }
    }
}
