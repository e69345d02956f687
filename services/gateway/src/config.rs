//! The gateway's settings: flags with `CINEREC_*` variables (`cinerec-gateway --help` lists them).

use std::time::Duration;

use contract::SecretUrl;
use contract::token::JwtSecret;
use service_common::{JwtSecretParser, ServiceSettings, parse_duration};

use crate::auth::ApiKeys;
use crate::rate_limit::{Quota, TrustedProxies};
use crate::upstream::UpstreamUrls;

/// `cinerec-gateway`.
#[derive(Clone, Debug, clap::Parser)]
#[command(name = "cinerec-gateway", version, about, max_term_width = 110)]
pub struct Config {
    /// Listen addresses and log format.
    #[command(flatten)]
    pub service: ServiceSettings,
    /// The users service (gRPC).
    #[arg(long, env = "CINEREC_USERS_URL", default_value = "http://127.0.0.1:50052")]
    pub users_url: String,
    /// The ratings service (gRPC).
    #[arg(long, env = "CINEREC_RATINGS_URL", default_value = "http://127.0.0.1:50053")]
    pub ratings_url: String,
    /// The movies service (gRPC).
    #[arg(long, env = "CINEREC_MOVIES_URL", default_value = "http://127.0.0.1:50054")]
    pub movies_url: String,
    /// The recommendation service, `cinerec-serve` (gRPC).
    #[arg(long, env = "CINEREC_SERVING_URL", default_value = "http://127.0.0.1:50051")]
    pub serving_url: String,
    /// The users service's token secret (HS256, at least 32 bytes): tokens are verified here,
    /// in-process. Required; never printed.
    #[arg(long, env = "CINEREC_JWT_SECRET", hide_env_values = true, value_parser = JwtSecretParser)]
    pub jwt_secret: JwtSecret,
    /// Deadline of every upstream call (sent as `grpc-timeout`), e.g. `2s`, `500ms`.
    #[arg(long, env = "CINEREC_UPSTREAM_DEADLINE", default_value = "2s", value_parser = parse_duration)]
    pub upstream_deadline: Duration,
    /// Largest JSON request body accepted, in bytes (413 beyond). Media uploads have the movies
    /// service's own limits (posters 5 MiB, trailers 64 MiB).
    #[arg(long, env = "CINEREC_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// API keys for machine clients: `name:scope[+scope]:sha256-hex` entries separated by commas
    /// or newlines (scopes `read`, `write`, `admin`); the hash is `printf %s "$KEY" | sha256sum`.
    /// Keys themselves are never configured, stored or logged.
    #[arg(long, env = "CINEREC_API_KEYS", hide_env_values = true, default_value = "", value_parser = parse_api_keys)]
    pub api_keys: ApiKeys,
    /// A file with more API key entries (same format, one per line, `#` comments).
    #[arg(long, env = "CINEREC_API_KEYS_FILE")]
    pub api_keys_file: Option<std::path::PathBuf>,
    /// Quota of anonymous clients, per client address: `RATE/PERIOD[:BURST]` (s, m, h).
    #[arg(long, env = "CINEREC_RATE_LIMIT_ANONYMOUS", default_value = "20/s:40")]
    pub rate_limit_anonymous: Quota,
    /// Quota of each signed-in user.
    #[arg(long, env = "CINEREC_RATE_LIMIT_USER", default_value = "50/s:100")]
    pub rate_limit_user: Quota,
    /// Quota of each API key.
    #[arg(long, env = "CINEREC_RATE_LIMIT_KEY", default_value = "500/s:1000")]
    pub rate_limit_key: Quota,
    /// Redis for one rate-limit budget shared by every gateway replica (empty: per replica).
    #[arg(long, env = "CINEREC_RATE_LIMIT_REDIS_URL", default_value = "", hide_env_values = true)]
    pub rate_limit_redis: SecretUrl,
    /// How long a shared rate-limit decision may wait for Redis before the local limiter decides.
    #[arg(long, env = "CINEREC_RATE_LIMIT_REDIS_TIMEOUT", default_value = "50ms", value_parser = parse_duration)]
    pub rate_limit_redis_timeout: Duration,
    /// Proxies (CIDRs, comma-separated) whose `X-Forwarded-For` names the client; from anyone
    /// else the header is ignored. E.g. the ingress controller's pod network.
    #[arg(long, env = "CINEREC_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: TrustedProxies,
    /// Origins allowed to call the API from a browser (CORS), comma-separated, e.g.
    /// `https://cinerec.example`; empty: no cross-origin access.
    #[arg(long, env = "CINEREC_CORS_ORIGINS", default_value = "", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// When the web app's session cookie is `Secure`: `auto` (unless the site is on localhost or
    /// a loopback address), `always` (behind a TLS-terminating ingress), `never`.
    #[arg(long, env = "CINEREC_SECURE_COOKIES", value_enum, default_value_t = crate::web::SecureCookies::Auto)]
    pub secure_cookies: crate::web::SecureCookies,
    /// Kafka for impression and request-log events (`RecommendationServed`, `RequestLogged`);
    /// empty: not published.
    #[arg(long, env = "CINEREC_KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// The event topics (the gateway writes impressions, request logs and activity).
    #[command(flatten)]
    pub topics: service_common::EventTopics,
}

fn parse_api_keys(text: &str) -> Result<ApiKeys, String> {
    ApiKeys::parse(text).map_err(|err| err.to_string())
}

impl Config {
    /// The upstream addresses.
    pub fn upstream_urls(&self) -> UpstreamUrls {
        UpstreamUrls {
            users: self.users_url.clone(),
            ratings: self.ratings_url.clone(),
            movies: self.movies_url.clone(),
            serving: self.serving_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_gateway_ports_and_the_secret_never_prints() {
        let config: Config = service_common::parse_with_default_ports(
            service_common::Service::Gateway,
            None,
            ["cinerec-gateway", "--jwt-secret", "0123456789abcdef0123456789abcdef"],
        )
        .unwrap();
        assert_eq!(config.service.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.upstream_deadline, Duration::from_secs(2));
        assert!(!format!("{config:?}").contains("0123456789abcdef"));
    }
}
