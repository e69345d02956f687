//! Settings every service has, as a `clap` group each binary flattens into its own arguments;
//! every flag also reads a `CINEREC_*` environment variable.

use std::net::SocketAddr;

use clap::{Args, CommandFactory, FromArgMatches, ValueEnum};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines (local runs).
    #[default]
    Text,
    /// One JSON object per line (production; shipped to Elasticsearch).
    Json,
}

/// The cinerec services, each with its own default ports so that all of them start side by
/// side on one machine with no flags (the README's table lists them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    /// `cinerec-serve`: gRPC recommendations.
    Serving,
    /// `cinerec-users`.
    Users,
    /// `cinerec-ratings serve`.
    Ratings,
    /// `cinerec-movies serve`.
    Movies,
    /// `cinerec-gateway` (REST; planned).
    Gateway,
    /// `cinerec-analytics` (REST; planned).
    Analytics,
}

impl Service {
    /// Every service, in the order of the ports table.
    pub const ALL: [Service; 6] =
        [Self::Serving, Self::Users, Self::Ratings, Self::Movies, Self::Gateway, Self::Analytics];

    /// The name in logs and in the `service` label of the RPC metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Serving => "serving",
            Self::Users => "users",
            Self::Ratings => "ratings",
            Self::Movies => "movies",
            Self::Gateway => "gateway",
            Self::Analytics => "analytics",
        }
    }

    /// The default API (gRPC or REST) and `/metrics` listen addresses; every port distinct, and
    /// the metrics ports (955x) clear of Kafka (9092) and the Prometheus family (9090–9094).
    pub fn default_listen(self) -> (&'static str, &'static str) {
        match self {
            Self::Serving => ("127.0.0.1:50051", "127.0.0.1:9551"),
            Self::Users => ("127.0.0.1:50052", "127.0.0.1:9552"),
            Self::Ratings => ("127.0.0.1:50053", "127.0.0.1:9553"),
            Self::Movies => ("127.0.0.1:50054", "127.0.0.1:9554"),
            Self::Gateway => ("127.0.0.1:8080", "127.0.0.1:9555"),
            Self::Analytics => ("127.0.0.1:8081", "127.0.0.1:9556"),
        }
    }

    /// The ports of [`Service::default_listen`].
    pub fn default_ports(self) -> (u16, u16) {
        let port = |addr: &str| addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).unwrap_or(0);
        let (api, metrics) = self.default_listen();
        (port(api), port(metrics))
    }
}

/// Parses `T` (a clap command that flattens [`ServiceSettings`], at the top or in the
/// subcommand `subcommand`) from `args`, with `service`'s default listen addresses
/// ([`Service::default_listen`]).
pub fn parse_with_default_ports<T, I, A>(
    service: Service,
    subcommand: Option<&str>,
    args: I,
) -> Result<T, clap::Error>
where
    T: CommandFactory + FromArgMatches,
    I: IntoIterator<Item = A>,
    A: Into<std::ffi::OsString> + Clone,
{
    let (api, metrics) = service.default_listen();
    let set = |cmd: clap::Command| {
        cmd.mut_arg("listen", |a| a.default_value(api))
            .mut_arg("metrics_listen", |a| a.default_value(metrics))
    };
    let command = match subcommand {
        Some(name) => T::command().mut_subcommand(name, set),
        None => set(T::command()),
    };
    T::from_arg_matches(&command.try_get_matches_from(args)?)
}

/// [`parse_with_default_ports`] over the process arguments; prints help, the version or the
/// error and exits as clap does.
pub fn parse_or_exit<T: CommandFactory + FromArgMatches>(service: Service, subcommand: Option<&str>) -> T {
    parse_with_default_ports(service, subcommand, std::env::args_os()).unwrap_or_else(|err| err.exit())
}

/// Listen addresses and log format shared by all services. The listen defaults are each
/// service's own ([`Service::default_ports`], set by [`parse_with_default_ports`]).
#[derive(Clone, Debug, Args)]
pub struct ServiceSettings {
    /// gRPC (or REST) listen address.
    #[arg(long, env = "CINEREC_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,
    /// Prometheus `/metrics` listen address (a separate port from the API).
    #[arg(long, env = "CINEREC_METRICS_LISTEN", default_value = "127.0.0.1:9551")]
    pub metrics_listen: SocketAddr,
    /// Log format.
    #[arg(long, env = "CINEREC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

impl ServiceSettings {
    /// Both ports chosen by the system on 127.0.0.1, text logs: for tests and examples.
    pub fn loopback() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            metrics_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_format: LogFormat::Text,
        }
    }
}

pub use contract::{Secret, SecretUrl};

/// The Kafka topics of the platform's events, one flag and variable each, the same in every
/// service that produces or consumes them (flatten it into a binary's settings).
#[derive(Clone, Debug, PartialEq, Eq, Args)]
pub struct EventTopics {
    /// Topic of `RatingEvent`s (written by ratings; read by serving and analytics).
    #[arg(long = "ratings-topic", env = "CINEREC_RATINGS_TOPIC", default_value = proto::events::topics::RATINGS)]
    pub ratings: String,
    /// Topic of `UserPreferencesChanged` (written by users; read by serving).
    #[arg(long = "user-preferences-topic", env = "CINEREC_USER_PREFERENCES_TOPIC", default_value = proto::events::topics::USER_PREFERENCES)]
    pub user_preferences: String,
    /// Topic of `UserDeleted` (written by users; read by serving).
    #[arg(long = "user-deleted-topic", env = "CINEREC_USER_DELETED_TOPIC", default_value = proto::events::topics::USER_DELETED)]
    pub user_deleted: String,
    /// Topic of `MovieEvent`s (written by movies; read by ratings and analytics).
    #[arg(long = "movies-topic", env = "CINEREC_MOVIES_TOPIC", default_value = proto::events::topics::MOVIES)]
    pub movies: String,
    /// Topic of `RecommendationServed` impressions (written by the gateway; read by analytics).
    #[arg(long = "recommendations-served-topic", env = "CINEREC_RECOMMENDATIONS_SERVED_TOPIC", default_value = proto::events::topics::RECOMMENDATIONS_SERVED)]
    pub recommendations_served: String,
    /// Topic of `RequestLogged` (written by the gateway; read by analytics).
    #[arg(long = "request-logs-topic", env = "CINEREC_REQUEST_LOGS_TOPIC", default_value = proto::events::topics::REQUEST_LOGS)]
    pub request_logs: String,
    /// Topic of `ActivityRecorded` (written by the gateway; read by analytics).
    #[arg(long = "activity-topic", env = "CINEREC_ACTIVITY_TOPIC", default_value = proto::events::topics::ACTIVITY)]
    pub activity: String,
}

impl Default for EventTopics {
    /// The names in `proto::events::topics`.
    fn default() -> Self {
        Self {
            ratings: proto::events::topics::RATINGS.into(),
            user_preferences: proto::events::topics::USER_PREFERENCES.into(),
            user_deleted: proto::events::topics::USER_DELETED.into(),
            movies: proto::events::topics::MOVIES.into(),
            recommendations_served: proto::events::topics::RECOMMENDATIONS_SERVED.into(),
            request_logs: proto::events::topics::REQUEST_LOGS.into(),
            activity: proto::events::topics::ACTIVITY.into(),
        }
    }
}

/// Parses `--jwt-secret` (at least 32 bytes) without ever echoing the value (clap's own
/// errors quote it); the users service signs tokens with it, the gateway verifies them.
#[derive(Clone, Copy, Debug)]
pub struct JwtSecretParser;

impl clap::builder::TypedValueParser for JwtSecretParser {
    type Value = contract::token::JwtSecret;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        _arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<contract::token::JwtSecret, clap::Error> {
        contract::token::JwtSecret::new(value.as_encoded_bytes()).map_err(|err| {
            clap::Error::raw(clap::error::ErrorKind::InvalidValue, format!("{err}\n")).with_cmd(cmd)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, clap::Parser)]
    struct Flat {
        #[command(flatten)]
        service: ServiceSettings,
    }

    #[derive(Debug, clap::Parser)]
    enum WithSubcommand {
        Serve(Flat),
    }

    #[test]
    fn every_service_has_its_own_ports() {
        let mut seen = std::collections::HashSet::new();
        for service in Service::ALL {
            let (api, metrics) = service.default_ports();
            assert!(seen.insert(api) && seen.insert(metrics), "{service:?} shares a port");
            let flat: Flat = parse_with_default_ports(service, None, ["bin"]).unwrap();
            assert_eq!(flat.service.listen.port(), api);
            assert_eq!(flat.service.metrics_listen.port(), metrics);
            let WithSubcommand::Serve(sub) =
                parse_with_default_ports(service, Some("serve"), ["bin", "serve"]).unwrap();
            assert_eq!((sub.service.listen.port(), sub.service.metrics_listen.port()), (api, metrics));
        }
        let flags = ["bin", "--listen", "0.0.0.0:7", "--metrics-listen", "0.0.0.0:8"];
        let given: Flat = parse_with_default_ports(Service::Users, None, flags).unwrap();
        assert_eq!((given.service.listen.port(), given.service.metrics_listen.port()), (7, 8));
    }

    #[test]
    fn topics_default_to_the_proto_names_and_take_one_flag_each() {
        #[derive(Debug, clap::Parser)]
        struct WithTopics {
            #[command(flatten)]
            topics: EventTopics,
        }
        let parsed = <WithTopics as clap::Parser>::try_parse_from(["bin"]).unwrap();
        assert_eq!(parsed.topics, EventTopics::default());
        let parsed = <WithTopics as clap::Parser>::try_parse_from([
            "bin",
            "--movies-topic",
            "m2",
            "--ratings-topic",
            "r2",
        ])
        .unwrap();
        assert_eq!((parsed.topics.movies.as_str(), parsed.topics.ratings.as_str()), ("m2", "r2"));
        assert_eq!(parsed.topics.user_deleted, proto::events::topics::USER_DELETED);
    }
}
