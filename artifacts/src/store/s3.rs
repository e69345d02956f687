//! The S3 store: `<prefix>/<version>.cinerec` objects and a `<prefix>/LATEST` pointer object in
//! one bucket, through the workspace's one S3 client ([`s3_client::client`]: path-style
//! addressing, so MinIO, s3s and AWS all work).
//!
//! Artifacts larger than the part size (16 MiB by default) go up as multipart uploads, which
//! become visible only when completed; the pointer is written after the artifact. Every request
//! is retried by the SDK's standard retry policy (exponential backoff with jitter, at most
//! `max_attempts` attempts), after which the error names the operation, key and endpoint.

use bytes::Bytes;
use s3_client::aws_sdk_s3::Client;
use s3_client::aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use s3_client::aws_sdk_s3::primitives::ByteStream;
use s3_client::aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use s3_client::{ErrorKind, S3Connection, S3Error};

use super::{LATEST, VersionId, VersionInfo};
use crate::error::StoreError;

/// S3's smallest allowed multipart part (except the last).
pub const MIN_PART_SIZE: usize = 5 << 20;

/// Which bucket and prefix, how to reach them, and the part size. `Debug` never shows the
/// secret key or session token.
#[derive(Clone, Debug)]
pub struct S3Settings {
    /// The bucket.
    pub bucket: String,
    /// Key prefix without leading or trailing `/` (may be empty).
    pub prefix: String,
    /// Endpoint, region, credentials, retries and timeouts.
    pub connection: S3Connection,
    /// Artifacts larger than this go up as multipart uploads of parts this size (≥ 5 MiB).
    pub part_size: usize,
}

impl S3Settings {
    /// Settings for `s3://bucket/prefix` over `connection`, with 16 MiB parts.
    pub fn new(bucket: impl Into<String>, prefix: impl Into<String>, connection: S3Connection) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: prefix.into().trim_matches('/').to_string(),
            connection,
            part_size: 16 << 20,
        }
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
        if settings.connection.max_attempts == 0 {
            return Err(StoreError::InvalidUri { uri, problem: "max_attempts must be at least 1".into() });
        }
        Ok(Self {
            client: s3_client::client(&settings.connection),
            endpoint: settings.connection.endpoint_name(),
            max_attempts: settings.connection.max_attempts,
            bucket: settings.bucket,
            prefix: settings.prefix,
            part_size: settings.part_size,
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

    /// Maps an SDK error (classified by [`s3_client::classify`]) to a [`StoreError`] that names
    /// the bucket, key and endpoint.
    fn error<E>(&self, operation: &'static str, key: &str, err: SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let err = S3Error::from_sdk(operation, &self.bucket, key, &self.endpoint, &err);
        match err.kind {
            ErrorKind::BucketNotFound => {
                StoreError::BucketNotFound { bucket: err.bucket, endpoint: err.endpoint }
            }
            ErrorKind::AccessDenied => {
                StoreError::AccessDenied { bucket: err.bucket, endpoint: err.endpoint, reason: err.reason }
            }
            ErrorKind::NotFound | ErrorKind::Unavailable | ErrorKind::Other => StoreError::S3 {
                operation,
                key: err.key,
                endpoint: err.endpoint,
                attempts: self.max_attempts,
                message: err.detail,
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
            Err(e) if s3_client::classify("GetObject", &e) == ErrorKind::NotFound => {
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

    pub(crate) async fn put(&self, bytes: Vec<u8>, publish: bool) -> Result<VersionId, StoreError> {
        let version = VersionId::generate();
        let key = self.key(&version.file_name());
        let body = Bytes::from(bytes);
        self.check_bucket().await?;
        if body.len() > self.part_size {
            self.put_multipart(&key, body).await?;
        } else {
            self.put_object(&key, body).await?;
        }
        if publish {
            self.put_object(&self.key(LATEST), Bytes::from(format!("{version}\n"))).await?;
        }
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
