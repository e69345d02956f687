//! The gateway's settings: flags with `CINEREC_*` variables (`cinerec-gateway --help` lists them).

use std::time::Duration;

use contract::token::JwtSecret;
use service_common::{JwtSecretParser, ServiceSettings, parse_duration};

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
    /// The users service's token secret (HS256, at least 32 bytes): tokens are verified here,
    /// in-process. Required; never printed.
    #[arg(long, env = "CINEREC_JWT_SECRET", hide_env_values = true, value_parser = JwtSecretParser)]
    pub jwt_secret: JwtSecret,
    /// Deadline of every upstream call (sent as `grpc-timeout`), e.g. `2s`, `500ms`.
    #[arg(long, env = "CINEREC_UPSTREAM_DEADLINE", default_value = "2s", value_parser = parse_duration)]
    pub upstream_deadline: Duration,
    /// Largest request body accepted, in bytes (413 beyond).
    #[arg(long, env = "CINEREC_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
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
