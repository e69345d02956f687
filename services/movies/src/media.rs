//! Posters and trailers: the [`MediaStore`] contract and its S3 adapter ([`S3Media`]: MinIO in
//! production, any S3-protocol server in tests), built like the artifacts crate's S3 store:
//! custom endpoint, path-style addressing, static credentials, rustls on ring, the SDK's
//! standard retries (bounded attempts, exponential backoff with jitter). Clients never get the
//! bucket's credentials, only presigned GET URLs that expire.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_smithy_http_client::tls;

use crate::config::Secret;

/// Longest presigned URL lifetime SigV4 allows.
pub const MAX_URL_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Why a media operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The object store could not be reached or kept failing after the retries.
    #[error(
        "{operation} `{key}` at {endpoint}: media storage unavailable after {attempts} attempts: {message}"
    )]
    Unavailable {
        /// S3 operation.
        operation: &'static str,
        /// Object key or prefix.
        key: String,
        /// Endpoint URL.
        endpoint: String,
        /// Attempts made.
        attempts: u32,
        /// The SDK's error chain.
        message: String,
    },
    /// The store refused the request (missing bucket, bad credentials, ...): an operator must act.
    #[error("{operation} `{key}` at {endpoint} was refused: {message}")]
    Refused {
        /// S3 operation.
        operation: &'static str,
        /// Object key or prefix.
        key: String,
        /// Endpoint URL.
        endpoint: String,
        /// The SDK's error chain.
        message: String,
    },
    /// The settings cannot work (e.g. a URL lifetime over 7 days).
    #[error("media storage settings: {0}")]
    Settings(String),
}

/// Where media live.
pub trait MediaStore: Send + Sync + 'static {
    /// Stores `data` under `key` (replacing any object there).
    fn put(
        &self,
        key: &str,
        content_type: &str,
        data: Vec<u8>,
    ) -> impl Future<Output = Result<(), MediaError>> + Send;

    /// Deletes the object `key` (no error if it does not exist).
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), MediaError>> + Send;

    /// Deletes every object whose key starts with `prefix`; returns how many there were.
    fn delete_prefix(&self, prefix: &str) -> impl Future<Output = Result<usize, MediaError>> + Send;

    /// A GET URL for `key` that works without credentials until it expires.
    fn presign_get(&self, key: &str) -> impl Future<Output = Result<String, MediaError>> + Send;
}

/// How to reach the media bucket. `Debug` never shows the secret key.
#[derive(Clone)]
pub struct S3MediaSettings {
    /// Bucket holding posters and trailers.
    pub bucket: String,
    /// Endpoint URL (`http://minio:9000`); `None` for AWS's own endpoint of the region.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` unless set; MinIO accepts any).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: Secret,
    /// Lifetime of presigned URLs (at most 7 days).
    pub url_ttl: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// TCP connect timeout per attempt.
    pub connect_timeout: Duration,
    /// Time limit of one whole operation, retries included.
    pub operation_timeout: Duration,
}

impl S3MediaSettings {
    /// Settings with the defaults: region `us-east-1`, 15-minute URLs, 3 attempts, 2 s connect
    /// timeout, 120 s per operation (a 64 MiB trailer over a slow link).
    pub fn new(
        bucket: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: Secret,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: access_key_id.into(),
            secret_access_key,
            url_ttl: Duration::from_secs(15 * 60),
            max_attempts: 3,
            connect_timeout: Duration::from_secs(2),
            operation_timeout: Duration::from_secs(120),
        }
    }
}

impl fmt::Debug for S3MediaSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3MediaSettings")
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &self.secret_access_key)
            .field("url_ttl", &self.url_ttl)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Media in an S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Media {
    client: Client,
    bucket: String,
    endpoint: String,
    url_ttl: PresigningConfig,
    max_attempts: u32,
}

impl S3Media {
    /// A store over `settings`; nothing is contacted until the first operation.
    pub fn new(settings: &S3MediaSettings) -> Result<Self, MediaError> {
        if settings.url_ttl.is_zero() || settings.url_ttl > MAX_URL_TTL {
            return Err(MediaError::Settings(format!(
                "the URL lifetime {:?} must be between 1 s and 7 days",
                settings.url_ttl
            )));
        }
        let url_ttl = PresigningConfig::expires_in(settings.url_ttl)
            .map_err(|e| MediaError::Settings(e.to_string()))?;
        let credentials = Credentials::new(
            &settings.access_key_id,
            settings.secret_access_key.expose(),
            None,
            None,
            "cinerec-settings",
        );
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let max_attempts = settings.max_attempts.max(1);
        let retry = RetryConfig::standard()
            .with_max_attempts(max_attempts)
            .with_initial_backoff(Duration::from_millis(100))
            .with_max_backoff(Duration::from_secs(2));
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout)
            .operation_timeout(settings.operation_timeout)
            .build();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(true)
            .http_client(http_client)
            .retry_config(retry)
            .timeout_config(timeouts)
            // S3-compatible servers differ in their support of the SDK's newer default checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        let endpoint = match &settings.endpoint {
            Some(endpoint) => {
                config = config.endpoint_url(endpoint);
                endpoint.clone()
            }
            None => "AWS S3".to_string(),
        };
        Ok(Self {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket.clone(),
            endpoint,
            url_ttl,
            max_attempts,
        })
    }

    /// The underlying client (for administration such as creating buckets).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Fails unless the bucket exists and the credentials may use it.
    pub async fn check_bucket(&self) -> Result<(), MediaError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| self.error("HeadBucket", &self.bucket, e))?;
        Ok(())
    }

    fn error<E>(&self, operation: &'static str, key: &str, err: SdkError<E>) -> MediaError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let unavailable = match &err {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(_) => status.is_some_and(|s| s >= 500) || err.code() == Some("SlowDown"),
            _ => false,
        };
        let message = DisplayErrorContext(&err).to_string();
        let (key, endpoint) = (key.to_string(), self.endpoint.clone());
        if unavailable {
            MediaError::Unavailable { operation, key, endpoint, attempts: self.max_attempts, message }
        } else {
            MediaError::Refused { operation, key, endpoint, message }
        }
    }
}

impl MediaStore for S3Media {
    async fn put(&self, key: &str, content_type: &str, data: Vec<u8>) -> Result<(), MediaError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), MediaError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", key, e))?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<usize, MediaError> {
        let mut deleted = 0;
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.error("ListObjectsV2", prefix, e))?;
            // One DeleteObject per key: a movie has at most a few objects, and not every
            // S3-compatible server implements multi-object delete.
            for object in page.contents() {
                if let Some(key) = object.key() {
                    self.delete(key).await?;
                    deleted += 1;
                }
            }
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(deleted);
            }
        }
    }

    async fn presign_get(&self, key: &str) -> Result<String, MediaError> {
        let request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(self.url_ttl.clone())
            .await
            .map_err(|e| self.error("presigning GetObject", key, e))?;
        Ok(request.uri().to_string())
    }
}
