//! Posters and trailers: the [`MediaStore`] contract and its S3 adapter ([`S3Media`]: MinIO in
//! production, any S3-protocol server in tests), over the workspace's one S3 client
//! ([`s3_client::client`]: custom endpoint, path-style addressing, static credentials, rustls on
//! ring, the SDK's standard retries with bounded attempts and exponential backoff with jitter).
//! Clients never get the bucket's credentials, only presigned GET URLs that expire.

use std::time::Duration;

use s3_client::aws_sdk_s3::Client;
use s3_client::aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use s3_client::aws_sdk_s3::presigning::PresigningConfig;
use s3_client::aws_sdk_s3::primitives::ByteStream;
use s3_client::{ErrorKind, S3Connection, S3Error};

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

/// The media bucket and how to reach it. `Debug` never shows the secret key.
#[derive(Clone, Debug)]
pub struct S3MediaSettings {
    /// Bucket holding posters and trailers.
    pub bucket: String,
    /// Endpoint, region, credentials, retries (3 attempts by default) and timeouts (2 s to
    /// connect, 120 s per operation: a 64 MiB trailer over a slow link).
    pub connection: S3Connection,
    /// Lifetime of presigned URLs (at most 7 days).
    pub url_ttl: Duration,
}

impl S3MediaSettings {
    /// Settings for `bucket` over `connection`, with 15-minute URLs.
    pub fn new(bucket: impl Into<String>, connection: S3Connection) -> Self {
        Self { bucket: bucket.into(), connection, url_ttl: Duration::from_secs(15 * 60) }
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
        Ok(Self {
            client: s3_client::client(&settings.connection),
            bucket: settings.bucket.clone(),
            endpoint: settings.connection.endpoint_name(),
            url_ttl,
            max_attempts: settings.connection.max_attempts.max(1),
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

    /// Maps an SDK error (classified by [`s3_client::classify`]) to a [`MediaError`]: an
    /// unavailable store or a refused request.
    fn error<E>(&self, operation: &'static str, key: &str, err: SdkError<E>) -> MediaError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let err = S3Error::from_sdk(operation, &self.bucket, key, &self.endpoint, &err);
        let (key, endpoint, message) = (err.key, err.endpoint, err.detail);
        if err.kind == ErrorKind::Unavailable {
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
