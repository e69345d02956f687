//! The `cinerec-ratings` command line: `serve` (the gRPC service and its outbox drainer; the
//! MovieLens importer is `cinerec-import ratings`). Every flag also reads a `CINEREC_*` variable.

use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use service_common::{Backoff, EventTopics, ServiceSettings, parse_duration};

use crate::outbox::DrainerSettings;
use crate::redis_store::{DEFAULT_PREFIX, RedisStoreSettings};

/// A Redis URL, which may hold a password: shown with the password masked.
pub type RedisUrl = service_common::SecretUrl;

/// `cinerec-ratings`: the ratings service.
#[derive(Debug, Parser)]
#[command(name = "cinerec-ratings", version, max_term_width = 110)]
pub struct Cli {
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Parses `args` (`args[0]` is the program name), with this service's listen defaults.
    pub fn parse_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        service_common::parse_with_default_ports(service_common::Service::Ratings, Some("serve"), args)
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve `cinerec.ratings.v1.RatingsService` and drain the outbox to Kafka.
    Serve(Config),
}

/// Where the ratings live in Redis and how hard to try.
#[derive(Clone, Debug, Args)]
pub struct RedisArgs {
    /// Redis URL (`redis://[:password@]host:port[/db]`; the password is never logged).
    #[arg(long = "redis-url", env = "CINEREC_RATINGS_REDIS_URL", default_value = "redis://127.0.0.1:6379")]
    pub url: RedisUrl,
    /// Prefix of every key (see the crate docs for the layout).
    #[arg(long = "redis-prefix", env = "CINEREC_RATINGS_PREFIX", default_value = DEFAULT_PREFIX)]
    pub prefix: String,
    /// Timeout of one Redis command.
    #[arg(long = "redis-timeout", env = "CINEREC_RATINGS_REDIS_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Attempts per Redis call before a request fails with UNAVAILABLE (waits of about 50, 100,
    /// 200, ... ms between them).
    #[arg(long = "redis-attempts", env = "CINEREC_RATINGS_REDIS_ATTEMPTS", default_value_t = 5)]
    pub attempts: u32,
}

impl RedisArgs {
    /// Store settings for events on `topic`.
    pub fn store_settings(&self, topic: &str) -> RedisStoreSettings {
        RedisStoreSettings {
            prefix: self.prefix.clone(),
            topic: topic.to_owned(),
            command_timeout: self.timeout.max(Duration::from_millis(1)),
            backoff: Backoff { attempts: self.attempts.max(1), ..Backoff::default() },
        }
    }
}

/// `cinerec-ratings serve`.
#[derive(Clone, Debug, Args)]
pub struct Config {
    /// Listen addresses and log format.
    #[command(flatten)]
    pub service: ServiceSettings,
    /// Redis.
    #[command(flatten)]
    pub redis: RedisArgs,
    /// Kafka bootstrap servers (`host:port,...`).
    #[arg(long, env = "CINEREC_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// The event topics (`RatingEvent`s are written, `MovieEvent`s followed).
    #[command(flatten)]
    pub topics: EventTopics,
    /// Keep the set of ratable movies in step with the movies service's `MovieEvent`s.
    #[arg(long, env = "CINEREC_FOLLOW_MOVIES", default_value_t = true, action = clap::ArgAction::Set)]
    pub follow_movies: bool,
    /// Outbox entries published per round.
    #[arg(long, env = "CINEREC_OUTBOX_BATCH", default_value_t = 512)]
    pub outbox_batch: usize,
    /// Entries another drainer left pending this long (it died) are taken over.
    #[arg(long, env = "CINEREC_OUTBOX_CLAIM_IDLE", default_value = "30s", value_parser = parse_duration)]
    pub outbox_claim_idle: Duration,
}

impl Config {
    /// A configuration for tests and benchmarks: both ports chosen by the system on 127.0.0.1,
    /// not following movie events.
    pub fn local(redis_url: &str, prefix: &str, kafka_brokers: &str, topic: &str) -> Self {
        Self {
            service: ServiceSettings::loopback(),
            redis: RedisArgs {
                url: RedisUrl::new(redis_url),
                prefix: prefix.to_owned(),
                timeout: Duration::from_secs(1),
                attempts: 5,
            },
            kafka_brokers: kafka_brokers.to_owned(),
            topics: EventTopics { ratings: topic.to_owned(), ..EventTopics::default() },
            follow_movies: false,
            outbox_batch: 512,
            outbox_claim_idle: Duration::from_secs(30),
        }
    }

    /// The drainer's settings.
    pub fn drainer(&self) -> DrainerSettings {
        DrainerSettings {
            batch: self.outbox_batch.max(1),
            claim_idle: self.outbox_claim_idle.max(Duration::from_millis(1)),
            ..DrainerSettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_defaults_to_the_ratings_port() {
        let cli = Cli::parse_args(["cinerec-ratings", "serve"]).unwrap();
        let Command::Serve(config) = cli.command;
        assert_eq!(config.service.listen.to_string(), "127.0.0.1:50053");
        assert_eq!(config.service.metrics_listen.to_string(), "127.0.0.1:9553");
        assert_eq!(config.topics.ratings, proto::events::topics::RATINGS);
    }
}
