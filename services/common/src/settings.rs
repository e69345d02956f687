//! Settings every service has, as a `clap` group each binary flattens into its own arguments;
//! every flag also reads a `CINEREC_*` environment variable.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

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

    /// The default API (gRPC or REST) and `/metrics` listen addresses; every port distinct.
    pub fn default_listen(self) -> (&'static str, &'static str) {
        match self {
            Self::Serving => ("127.0.0.1:50051", "127.0.0.1:9091"),
            Self::Users => ("127.0.0.1:50052", "127.0.0.1:9092"),
            Self::Ratings => ("127.0.0.1:50053", "127.0.0.1:9093"),
            Self::Movies => ("127.0.0.1:50054", "127.0.0.1:9094"),
            Self::Gateway => ("127.0.0.1:8080", "127.0.0.1:9095"),
            Self::Analytics => ("127.0.0.1:8081", "127.0.0.1:9096"),
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
    #[arg(long, env = "CINEREC_METRICS_LISTEN", default_value = "127.0.0.1:9091")]
    pub metrics_listen: SocketAddr,
    /// Log format.
    #[arg(long, env = "CINEREC_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// A value that never shows itself in `Debug` or `Display` output (passwords, keys, URLs with
/// credentials); read it with [`Secret::expose`] in the one place that needs it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret<T = String>(T);

impl<T> Secret<T> {
    /// Wraps `value`.
    pub fn new(value: impl Into<T>) -> Self {
        Self(value.into())
    }

    /// The wrapped value; do not log it.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl FromStr for Secret<String> {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

/// A server URL that may carry a password (`redis://user:password@host:port/db`): `Display` and
/// `Debug` show it with the password replaced by `***`; [`SecretUrl::expose`] gives it whole
/// for the client. Surrounding white space is dropped; empty means "not configured".
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// Wraps `url`.
    pub fn new(url: impl Into<String>) -> Self {
        Self(url.into().trim().to_string())
    }

    /// The URL, password included: pass it to the client only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// No URL was given.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromStr for SecretUrl {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::new(s))
    }
}

impl fmt::Display for SecretUrl {
    /// `scheme://user:***@host:port/path`; a URL without credentials as it is.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.split_once("://").and_then(|(scheme, rest)| Some((scheme, rest.rsplit_once('@')?))) {
            Some((scheme, (credentials, host))) => {
                let user = credentials.split_once(':').map_or(credentials, |(user, _)| user);
                write!(f, "{scheme}://{user}:***@{host}")
            }
            None if self.0.contains('@') => f.write_str("***"),
            None => f.write_str(&self.0),
        }
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretUrl({self})")
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
    fn secrets_never_print() {
        let secret: Secret = Secret::new("hunter2");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        assert_eq!(secret.expose(), "hunter2");
        let bytes: Secret<Vec<u8>> = Secret::new(b"key".to_vec());
        assert_eq!(format!("{bytes:?}"), "[redacted]");
    }

    #[test]
    fn urls_print_without_their_password() {
        let url = SecretUrl::new(" redis://default:s3cret@cache:6379/2 ");
        assert_eq!(url.to_string(), "redis://default:***@cache:6379/2");
        assert!(!format!("{url:?}").contains("s3cret"));
        assert_eq!(url.expose(), "redis://default:s3cret@cache:6379/2");
        assert_eq!(SecretUrl::new("redis://:s3cret@h:1").to_string(), "redis://:***@h:1");
        assert_eq!(SecretUrl::new("redis://h:1").to_string(), "redis://h:1");
        assert_eq!(SecretUrl::new("user:s3cret@h").to_string(), "***");
        assert!(SecretUrl::new("  ").is_empty());
    }
}
