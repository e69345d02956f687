//! Settings of the `cinerec-users` binary (clap derive; every flag also reads a `CINEREC_*`
//! variable) and the wrappers that keep secrets out of `Debug` output, logs and `--help`.

use std::time::Duration;

use service_common::{Backoff, ServiceSettings};

/// Everything the users service needs to start.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "cinerec-users", version, about = "cinerec users service (gRPC over MongoDB)")]
pub struct Config {
    /// Listen addresses and log format.
    #[command(flatten)]
    pub service: ServiceSettings,
    /// MongoDB connection string (may hold credentials: never printed).
    #[arg(
        long,
        env = "CINEREC_MONGO_URL",
        default_value = "mongodb://127.0.0.1:27017/",
        hide_env_values = true
    )]
    pub mongo_url: Secret<String>,
    /// MongoDB database holding the `users` and `counters` collections.
    #[arg(long, env = "CINEREC_MONGO_DATABASE", default_value = "cinerec_users")]
    pub mongo_database: String,
    /// How long to wait for MongoDB to answer before a call counts as failed (server selection
    /// and connect timeout), e.g. `2s`, `500ms`.
    #[arg(long, env = "CINEREC_MONGO_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub mongo_timeout: Duration,
    /// Attempts per storage call (the first included) before answering UNAVAILABLE; retries wait
    /// about 50, 100, 200 ms, ... (at most 1 s).
    #[arg(long, env = "CINEREC_STORAGE_ATTEMPTS", default_value_t = 4)]
    pub storage_attempts: u32,
    /// Secret that signs login tokens (HS256), at least 32 bytes. Required; never printed.
    #[arg(long, env = "CINEREC_JWT_SECRET", hide_env_values = true, value_parser = service_common::JwtSecretParser)]
    pub jwt_secret: JwtSecret,
    /// Lifetime of a login token, e.g. `1h`, `30m`, `3600s`.
    #[arg(long, env = "CINEREC_TOKEN_TTL", default_value = "1h", value_parser = parse_duration)]
    pub token_ttl: Duration,
    /// Kafka bootstrap servers (comma-separated `host:port`).
    #[arg(long, env = "CINEREC_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// The event topics (`UserPreferencesChanged` and `UserDeleted` are written).
    #[command(flatten)]
    pub topics: service_common::EventTopics,
    /// How long a request waits for its events to be delivered before leaving them to the outbox
    /// drainer (the request succeeds either way).
    #[arg(long, env = "CINEREC_PUBLISH_TIMEOUT", default_value = "3s", value_parser = parse_duration)]
    pub publish_timeout: Duration,
    /// How often the outbox drainer looks for undelivered events.
    #[arg(long, env = "CINEREC_OUTBOX_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub outbox_interval: Duration,
}

impl Config {
    /// Settings for tests and examples: loopback ports chosen by the system, MongoDB at
    /// `mongo_url` (database `mongo_database`), no Kafka (events go to the publisher given to
    /// the application), 1 h tokens, a 100 ms outbox interval.
    pub fn local(mongo_url: &str, mongo_database: &str, jwt_secret: JwtSecret) -> Self {
        Self {
            service: ServiceSettings::loopback(),
            mongo_url: Secret::new(mongo_url),
            mongo_database: mongo_database.to_owned(),
            mongo_timeout: Duration::from_secs(5),
            storage_attempts: 3,
            jwt_secret,
            token_ttl: Duration::from_secs(3600),
            kafka_brokers: String::new(),
            topics: service_common::EventTopics::default(),
            publish_timeout: Duration::from_secs(3),
            outbox_interval: Duration::from_millis(100),
        }
    }

    /// Retry policy for storage and publish calls: `storage_attempts` attempts, waits from 50 ms
    /// doubling up to 1 s.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
            attempts: self.storage_attempts.max(1),
        }
    }
}

/// Passwords, keys and URLs with credentials: never shown in `Debug` or `Display` output.
pub use service_common::Secret;

pub use contract::token::JwtSecret;

/// The one duration grammar of every service (see [`service_common::duration`]).
pub use service_common::{DurationError, parse_duration};

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn short_secrets_are_refused_and_secrets_never_print() {
        let err = JwtSecret::new(b"short".to_vec()).unwrap_err();
        assert_eq!(err.to_string(), "CINEREC_JWT_SECRET must be at least 32 bytes long, got 5");
        let refused =
            Config::try_parse_from(["cinerec-users", "--jwt-secret", "too-short-secret"]).unwrap_err();
        assert!(refused.to_string().contains("at least 32 bytes"), "{refused}");
        assert!(!refused.to_string().contains("too-short"), "{refused}");
        let config = Config::parse_from([
            "cinerec-users",
            "--jwt-secret",
            "a-very-secret-key-of-at-least-32-bytes",
            "--mongo-url",
            "mongodb://admin:hunter2-password@db:27017/",
        ]);
        assert_eq!(config.token_ttl, Duration::from_secs(3600));
        let shown = format!("{config:?}");
        assert!(!shown.contains("a-very-secret"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(config.mongo_url.expose(), "mongodb://admin:hunter2-password@db:27017/");
    }
}
