//! The S3 store: `<prefix>/<version>.cinerec` objects and a `<prefix>/LATEST` pointer object in
//! one bucket, through `aws-sdk-s3` with path-style addressing (MinIO, s3s, AWS).
//!
//! Artifacts larger than the part size (16 MiB by default) go up as multipart uploads, which
//! become visible only when completed; the pointer is written after the artifact. Every request
//! is retried by the SDK's standard retry policy (exponential backoff with jitter, at most
//! `max_attempts` attempts), after which the error names the operation, key and endpoint.

use std::fmt;
use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_http_client::tls;
use bytes::Bytes;

use super::{LATEST, VersionId, VersionInfo};
use crate::error::StoreError;

/// S3's smallest allowed multipart part (except the last).
pub const MIN_PART_SIZE: usize = 5 << 20;

/// Everything needed to reach a bucket. `Debug` never shows the secret key or session token.
#[derive(Clone)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Endpoint URL (`http://127.0.0.1:9000`); `None` for AWS's own endpoint of the region.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` unless set; MinIO and s3s accept any).
    pub region: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token of temporary credentials.
    pub session_token: Option<String>,
    /// Artifacts larger than this go up as multipart uploads of parts this size (≥ 5 MiB).
    pub part_size: usize,
    /// Attempts per request, the first included (the SDK backs off between them).
    pub max_attempts: u32,
    /// Backoff before the first retry (doubling, with jitter, capped at 5 s).
    pub initial_backoff: Duration,
    /// TCP connect timeout per attempt.
    pub connect_timeout: Duration,
}

impl S3Settings {
    /// Settings with the defaults: region `us-east-1`, 16 MiB parts, 4 attempts from 200 ms
    /// backoff, 5 s connect timeout.
    pub fn new(
        bucket: impl Into<String>,
        prefix: impl Into<String>,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_string(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
            part_size: 16 << 20,
            max_attempts: 4,
            initial_backoff: Duration::from_millis(200),
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// Settings from the environment: `CINEREC_S3_ENDPOINT` (optional), `AWS_REGION` (default
    /// `us-east-1`), `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (required),
    /// `AWS_SESSION_TOKEN` (optional).
    pub fn from_env(bucket: String, prefix: String) -> Result<Self, StoreError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let store = format!("s3://{bucket}/{prefix}");
        let required = |name: &'static str| {
            var(name).ok_or(StoreError::MissingSetting { store: store.clone(), var: name })
        };
        let mut res =
            Self::new(bucket, prefix, required("AWS_ACCESS_KEY_ID")?, required("AWS_SECRET_ACCESS_KEY")?);
        res.endpoint = var("CINEREC_S3_ENDPOINT");
        res.session_token = var("AWS_SESSION_TOKEN");
        if let Some(region) = var("AWS_REGION") {
            res.region = region;
        }
        Ok(res)
    }
}

impl fmt::Debug for S3Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &self.session_token.as_ref().map(|_| "<redacted>"))
            .field("part_size", &self.part_size)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Versions in an S3 bucket.
#[derive(Clone, Debug)]
pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
    part_size: usize,
    max_attempts: u32,
}

impl S3Store {
    /// A store over `settings`; nothing is contacted until the first operation.
    pub fn new(settings: S3Settings) -> Result<Self, StoreError> {
        let uri = format!("s3://{}/{}", settings.bucket, settings.prefix);
        if settings.part_size < MIN_PART_SIZE {
            return Err(StoreError::InvalidUri {
                uri,
                problem: format!("part size {} is below S3's minimum of {MIN_PART_SIZE}", settings.part_size),
            });
        }
        if settings.max_attempts == 0 {
            return Err(StoreError::InvalidUri { uri, problem: "max_attempts must be at least 1".into() });
        }
        let credentials = Credentials::new(
            settings.access_key_id,
            settings.secret_access_key,
            settings.session_token,
            None,
            "cinerec-settings",
        );
        // rustls on ring: https endpoints work, and so do plain http ones (MinIO in a cluster).
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(tls::rustls_provider::CryptoMode::Ring))
            .build_https();
        let retry = RetryConfig::standard()
            .with_max_attempts(settings.max_attempts)
            .with_initial_backoff(settings.initial_backoff)
            .with_max_backoff(Duration::from_secs(5));
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(settings.region))
            .credentials_provider(credentials)
            .force_path_style(true)
            .http_client(http_client)
            .retry_config(retry)
            .timeout_config(TimeoutConfig::builder().connect_timeout(settings.connect_timeout).build())
            // The artifact carries its own checksum; S3-compatible servers differ in their
            // support of the SDK's newer default checksums.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        let endpoint = match settings.endpoint {
            Some(endpoint) => {
                config = config.endpoint_url(endpoint.clone());
                endpoint
            }
            None => "AWS S3".to_string(),
        };
        Ok(Self {
            client: Client::from_conf(config.build()),
            bucket: settings.bucket,
            prefix: settings.prefix,
            endpoint,
            part_size: settings.part_size,
            max_attempts: settings.max_attempts,
        })
    }

    /// The underlying client (for administration such as creating buckets).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// `s3://bucket/prefix`.
    pub fn uri(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }

    fn key(&self, name: &str) -> String {
        if self.prefix.is_empty() { name.to_string() } else { format!("{}/{name}", self.prefix) }
    }

    /// Maps an SDK error to a [`StoreError`] that names the bucket, key and endpoint.
    fn error<E>(&self, operation: &'static str, key: &str, err: SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let status = err.raw_response().map(|r| r.status().as_u16());
        let code = err.code().map(str::to_string);
        let missing_bucket = code.as_deref() == Some("NoSuchBucket")
            || (operation == "HeadBucket" && (status == Some(404) || code.as_deref() == Some("NotFound")));
        match code.as_deref() {
            _ if missing_bucket => {
                StoreError::BucketNotFound { bucket: self.bucket.clone(), endpoint: self.endpoint.clone() }
            }
            Some(
                "InvalidAccessKeyId"
                | "SignatureDoesNotMatch"
                | "AccessDenied"
                | "InvalidToken"
                | "ExpiredToken",
            ) => self.access_denied(code.unwrap_or_default(), err.message()),
            _ if status == Some(403) => self.access_denied("HTTP 403".into(), err.message()),
            _ => StoreError::S3 {
                operation,
                key: key.to_string(),
                endpoint: self.endpoint.clone(),
                attempts: self.max_attempts,
                message: DisplayErrorContext(&err).to_string(),
            },
        }
    }

    /// Fails with [`StoreError::BucketNotFound`] (or the access error) unless the bucket exists.
    /// Used before uploads, so that a large model is not sent to a missing bucket, and to tell
    /// a missing object from a missing bucket (some servers answer `NoSuchKey` for both).
    async fn check_bucket(&self) -> Result<(), StoreError> {
        self.client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| self.error("HeadBucket", &self.bucket, e))?;
        Ok(())
    }

    fn access_denied(&self, code: String, message: Option<&str>) -> StoreError {
        let reason = match message.filter(|m| !m.is_empty()) {
            Some(message) => format!("{code}: {message}"),
            None => code,
        };
        StoreError::AccessDenied { bucket: self.bucket.clone(), endpoint: self.endpoint.clone(), reason }
    }

    async fn put_object(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.error("PutObject", key, e))?;
        Ok(())
    }

    async fn put_multipart(&self, key: &str, body: Bytes) -> Result<(), StoreError> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/octet-stream")
            .send()
            .await
            .map_err(|e| self.error("CreateMultipartUpload", key, e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let res = self.upload_parts(key, &upload_id, &body).await;
        if res.is_err() {
            // Best effort: the upload never became an object, so nothing half-written is visible.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        res
    }

    async fn upload_parts(&self, key: &str, upload_id: &str, body: &Bytes) -> Result<(), StoreError> {
        let mut parts = Vec::new();
        for (i, start) in (0..body.len()).step_by(self.part_size).enumerate() {
            let number = i as i32 + 1;
            let chunk = body.slice(start..(start + self.part_size).min(body.len()));
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| self.error("UploadPart", key, e))?;
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(out.e_tag().map(str::to_string))
                    .build(),
            );
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| self.error("CompleteMultipartUpload", key, e))?;
        Ok(())
    }

    /// The object's bytes, or `None` when the key does not exist (in a bucket that does).
    async fn get_object(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let out = match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => out,
            Err(e) if e.code() == Some("NoSuchKey") => {
                self.check_bucket().await?;
                return Ok(None);
            }
            Err(e) => return Err(self.error("GetObject", key, e)),
        };
        let body = out.body.collect().await.map_err(|e| StoreError::S3 {
            operation: "GetObject",
            key: key.to_string(),
            endpoint: self.endpoint.clone(),
            attempts: 1,
            message: DisplayErrorContext(&e).to_string(),
        })?;
        Ok(Some(Vec::from(body.into_bytes())))
    }

    pub(crate) async fn put(&self, bytes: Vec<u8>) -> Result<VersionId, StoreError> {
        let version = VersionId::generate();
        let key = self.key(&version.file_name());
        let body = Bytes::from(bytes);
        self.check_bucket().await?;
        if body.len() > self.part_size {
            self.put_multipart(&key, body).await?;
        } else {
            self.put_object(&key, body).await?;
        }
        self.put_object(&self.key(LATEST), Bytes::from(format!("{version}\n"))).await?;
        Ok(version)
    }

    pub(crate) async fn latest(&self) -> Result<Option<VersionId>, StoreError> {
        let Some(bytes) = self.get_object(&self.key(LATEST)).await? else { return Ok(None) };
        let text = String::from_utf8_lossy(&bytes);
        VersionId::parse(text.trim())
            .map(Some)
            .map_err(|_| StoreError::CorruptPointer { store: self.uri(), content: text.into_owned() })
    }

    pub(crate) async fn get(&self, version: &VersionId) -> Result<Vec<u8>, StoreError> {
        self.get_object(&self.key(&version.file_name()))
            .await?
            .ok_or_else(|| StoreError::VersionNotFound { store: self.uri(), version: version.to_string() })
    }

    pub(crate) async fn list(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let prefix = self.key("");
        let mut res = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&prefix)
                .delimiter("/")
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.error("ListObjectsV2", &prefix, e))?;
            for object in out.contents() {
                let name = object.key().and_then(|k| k.strip_prefix(prefix.as_str())).unwrap_or_default();
                if let Some(version) = VersionId::from_file_name(name) {
                    let size = object.size().unwrap_or(0).max(0) as u64;
                    let created = version.created();
                    res.push(VersionInfo { version, size, created });
                }
            }
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_string()),
                _ => break,
            }
        }
        Ok(res)
    }

    pub(crate) async fn remove(&self, version: &VersionId) -> Result<(), StoreError> {
        let key = self.key(&version.file_name());
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(&key)
            .send()
            .await
            .map_err(|e| self.error("DeleteObject", &key, e))?;
        Ok(())
    }
}
