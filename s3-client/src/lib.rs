//! cinerec's one way to reach S3 (MinIO in the cluster, any S3-protocol server in tests, AWS):
//!
//! - [`S3Connection`]: endpoint, region, static credentials, retries and timeouts, passed
//!   explicitly (this crate reads no environment; binaries parse [`S3Args`] with feature `clap`);
//! - [`client`]: the one client builder (path-style addressing, rustls on ring, checksums only
//!   when required, the SDK's standard retries with bounded attempts, connect and operation
//!   timeouts);
//! - [`S3Error`] / [`ErrorKind`]: the one classification of the SDK's errors (missing bucket or
//!   object, refused credentials, unavailable store, other), with messages that name the
//!   operation, bucket, key and endpoint.
//!
//! The SDK is re-exported ([`aws_sdk_s3`]) so that users call it without depending on it.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_smithy_http_client::tls;

#[cfg(feature = "clap")]
mod args;
mod error;

pub use aws_sdk_s3;

#[cfg(feature = "clap")]
pub use args::S3Args;
pub use error::{ErrorKind, S3Error, classify};

/// The flags and environment variables that give the credentials (named by errors of crates
/// that receive no [`S3Connection`]).
pub const CREDENTIAL_SETTINGS: &str =
    "--s3-access-key-id (AWS_ACCESS_KEY_ID) and --s3-secret-access-key (AWS_SECRET_ACCESS_KEY)";

/// How to reach an S3 server. `Debug` never shows the secret key or the session token.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Connection {
    /// Endpoint URL (`http://minio:9000`); `None` for AWS's own endpoint of the region.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` unless set; MinIO and s3s accept any).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Attempts per request, the first included (at least 1).
    pub max_attempts: u32,
    /// Backoff before the first retry (doubling, with jitter, capped at `max_backoff`).
    pub initial_backoff: Duration,
    /// Longest backoff between two attempts.
    pub max_backoff: Duration,
    /// TCP (and TLS) connect timeout per attempt.
    pub connect_timeout: Duration,
    /// Time limit of one whole operation, retries included, up to the response headers (a
    /// download's body is read after it); `None` for no limit.
    pub operation_timeout: Option<Duration>,
}

impl S3Connection {
    /// The region used unless one is set.
    pub const DEFAULT_REGION: &str = "us-east-1";

    /// Settings with the defaults: AWS's endpoint of region `us-east-1`, no session token,
    /// 3 attempts from 100 ms backoff (at most 2 s), 2 s connect timeout, 120 s per operation
    /// (a 64 MiB trailer or a 16 MiB model part over a slow link).
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        Self {
            endpoint: None,
            region: Self::DEFAULT_REGION.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(2),
            operation_timeout: Some(Duration::from_secs(120)),
        }
    }

    /// The endpoint as errors name it: the URL, or `AWS S3`.
    pub fn endpoint_name(&self) -> String {
        self.endpoint.clone().unwrap_or_else(|| "AWS S3".into())
    }
}

impl fmt::Debug for S3Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Connection")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("max_attempts", &self.max_attempts)
            .field("initial_backoff", &self.initial_backoff)
            .field("max_backoff", &self.max_backoff)
            .field("connect_timeout", &self.connect_timeout)
            .field("operation_timeout", &self.operation_timeout)
            .finish()
    }
}

/// A client for `settings`; nothing is contacted until the first request.
///
/// Path-style addressing (`endpoint/bucket/key`: MinIO and s3s need it), static credentials,
/// rustls on ring (https endpoints work, and so do plain http ones inside a cluster), request
/// checksums and response validation only when an operation requires them (S3-compatible servers
/// differ in their support of the SDK's newer default checksums; model artifacts carry their own),
/// the SDK's standard retries (exponential backoff with jitter; throttling, 5xx, timeouts and
/// connection errors are retried) and the connect and operation timeouts of `settings`.
pub fn client(settings: &S3Connection) -> Client {
    let credentials = Credentials::new(
        &settings.access_key_id,
        &settings.secret_access_key,
        settings.session_token.clone(),
        None,
        "cinerec-settings",
    );
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
        .build_https();
    let retry = RetryConfig::standard()
        .with_max_attempts(settings.max_attempts.max(1))
        .with_initial_backoff(settings.initial_backoff)
        .with_max_backoff(settings.max_backoff);
    let mut timeouts = TimeoutConfig::builder().connect_timeout(settings.connect_timeout);
    if let Some(limit) = settings.operation_timeout {
        timeouts = timeouts.operation_timeout(limit);
    }
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(settings.region.clone()))
        .credentials_provider(credentials)
        .force_path_style(true)
        .http_client(http_client)
        .retry_config(retry)
        .timeout_config(timeouts.build())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &settings.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret_or_the_token() {
        let mut settings = S3Connection::new("AKIDEXAMPLE", "wJalrXUtnFEMI");
        settings.session_token = Some("FwoGZXIvYXdzE".into());
        let shown = format!("{settings:?}");
        assert!(shown.contains("AKIDEXAMPLE") && shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("wJalrXUtnFEMI") && !shown.contains("FwoGZXIvYXdzE"), "{shown}");
    }

    #[test]
    fn the_client_takes_the_settings() {
        let mut settings = S3Connection::new("a", "b");
        settings.endpoint = Some("http://127.0.0.1:9".into());
        settings.region = "eu-west-3".into();
        settings.max_attempts = 0;
        let config = client(&settings).config().clone();
        assert_eq!(config.region().map(|r| r.as_ref()), Some("eu-west-3"));
        assert_eq!(config.retry_config().map(|r| r.max_attempts()), Some(1), "clamped to one attempt");
        let timeouts = config.timeout_config().unwrap();
        assert_eq!(timeouts.connect_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(timeouts.operation_timeout(), Some(Duration::from_secs(120)));
        assert_eq!(settings.endpoint_name(), "http://127.0.0.1:9");
        assert_eq!(S3Connection::new("a", "b").endpoint_name(), "AWS S3");
    }
}
