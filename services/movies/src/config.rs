//! Command-line / environment settings of `cinerec-movies` (clap groups the binary flattens),
//! the [`Secret`] wrapper that keeps passwords out of logs, and the duration syntax.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use service_common::ServiceSettings;

use crate::media::S3MediaSettings;
use crate::postgres::PgSettings;

/// Passwords, keys and URLs with credentials: never shown in `Debug` or `Display` output.
pub use service_common::Secret;

/// `900`, `900s`, `15m`, `1h`, `250ms` → a duration (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 =
        number.parse().map_err(|_| format!("{text:?} is not a duration like 900s, 15m or 1h"))?;
    let seconds = |factor: u64| value.checked_mul(factor).map(Duration::from_secs);
    match unit.trim() {
        "ms" => Some(Duration::from_millis(value)),
        "" | "s" => seconds(1),
        "m" | "min" => seconds(60),
        "h" => seconds(3600),
        _ => None,
    }
    .ok_or_else(|| format!("{text:?} is not a duration like 900s, 15m or 1h"))
}

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
}

/// `cinerec-movies import`.
#[derive(Clone, Debug, Args)]
pub struct ImportArgs {
    /// PostgreSQL.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Folder holding the dataset folders (`<dir>/ml-latest-small/movies.csv`); default
    /// `$CINEREC_DATA_DIR`, else the user cache folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// MovieLens dataset: ml-latest-small, ml-latest, ml-100k, ml-1m, ml-10m, ml-20m, ml-25m.
    #[arg(long, default_value = "ml-latest-small")]
    pub dataset: datasets::DatasetName,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_units() {
        for (text, want) in
            [("900", 900_000), ("900s", 900_000), ("15m", 900_000), ("1h", 3_600_000), ("250ms", 250)]
        {
            assert_eq!(parse_duration(text).unwrap(), Duration::from_millis(want), "{text}");
        }
        for bad in ["", "m", "15 days", "-1s", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        let settings = S3MediaSettings::new("b", "key", secret);
        assert!(!format!("{settings:?}").contains("hunter2"));
    }
}
