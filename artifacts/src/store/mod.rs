//! [`ModelStore`]: versions of model artifacts in a local folder or an S3 bucket, selected by
//! one URI (`./models`, `file:///srv/models`, `s3://bucket/prefix`).
//!
//! Every store keeps one object per version, named `<version>.cinerec`, and a `LATEST` pointer
//! holding the newest version id. `put` writes the artifact completely (temp file + fsync +
//! rename locally; a single PUT or a completed multipart upload on S3) *before* it replaces the
//! pointer, so a reader that follows `LATEST` never sees a half-written model. Version ids sort
//! by creation time: `20261124T091500.123Z-3fa9c2` (UTC to the millisecond, then 24 random bits).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{ArtifactError, StoreError};
use crate::format::{check_bytes, read_artifact, to_bytes};
use crate::model::Artifact;
use crate::time::{Utc, digits};

mod local;
#[cfg(feature = "s3")]
mod s3;

pub use local::LocalStore;
#[cfg(feature = "s3")]
pub use s3::{S3Settings, S3Store};
#[cfg(feature = "s3")]
pub use s3_client::S3Connection;

/// File-name extension of stored artifacts.
pub(crate) const EXTENSION: &str = ".cinerec";
/// Name of the pointer to the newest version.
pub(crate) const LATEST: &str = "LATEST";

/// A model version: `YYYYMMDDTHHMMSS.mmmZ-xxxxxx` (UTC creation time, 6 hex digits), so that
/// sorting ids sorts versions by creation time.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct VersionId(String);

impl VersionId {
    /// A fresh id for a version created now; ids made by one process strictly increase.
    pub fn generate() -> Self {
        static LAST_MILLIS: AtomicU64 = AtomicU64::new(0);
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        let now_ms = now.as_millis() as u64;
        let prev = LAST_MILLIS.fetch_max(now_ms, Ordering::SeqCst);
        let millis = if now_ms > prev {
            now_ms
        } else {
            // Same millisecond as the previous id (or a clock step back): take the next one.
            LAST_MILLIS.fetch_add(1, Ordering::SeqCst) + 1
        };
        let seed = [now.as_nanos() as u64, std::process::id() as u64, COUNTER.fetch_add(1, Ordering::SeqCst)];
        let random = xxhash_rust::xxh3::xxh3_64(bytemuck::cast_slice(&seed)) & 0xff_ffff;
        let t = Utc::from_system(UNIX_EPOCH + std::time::Duration::from_millis(millis));
        Self(format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}.{:03}Z-{random:06x}",
            t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
        ))
    }

    /// Parses an id, refusing anything that is not of the generated form.
    pub fn parse(text: &str) -> Result<Self, StoreError> {
        let invalid = || StoreError::InvalidVersion { text: text.to_string() };
        Self::time_of(text).ok_or_else(invalid)?;
        Ok(Self(text.to_string()))
    }

    fn time_of(text: &str) -> Option<SystemTime> {
        let b = text.as_bytes();
        if b.len() != 27 || b[8] != b'T' || b[15] != b'.' || &b[19..21] != b"Z-" {
            return None;
        }
        let hex_ok = b[21..].iter().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c));
        if !hex_ok {
            return None;
        }
        Utc {
            year: digits(&text[0..4])? as i64,
            month: digits(&text[4..6])?,
            day: digits(&text[6..8])?,
            hour: digits(&text[9..11])?,
            minute: digits(&text[11..13])?,
            second: digits(&text[13..15])?,
            millis: digits(&text[16..19])?,
        }
        .to_system()
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// When the version was created (from the id, to the millisecond).
    pub fn created(&self) -> SystemTime {
        Self::time_of(&self.0).expect("a VersionId is only built from a valid id")
    }

    /// The object / file name of the version.
    pub(crate) fn file_name(&self) -> String {
        format!("{}{EXTENSION}", self.0)
    }

    /// The version of an object / file name, if it is one.
    pub(crate) fn from_file_name(name: &str) -> Option<Self> {
        name.strip_suffix(EXTENSION).and_then(|id| Self::parse(id).ok())
    }
}

impl fmt::Display for VersionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for VersionId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        Self::parse(s)
    }
}

/// One stored version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionInfo {
    /// Its id.
    pub version: VersionId,
    /// Size of the artifact in bytes.
    pub size: u64,
    /// When it was created (from the id).
    pub created: SystemTime,
}

/// Where a store lives, parsed from its URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreUri {
    /// A local folder: a plain path (`./models`) or `file:///abs/path`.
    Local(PathBuf),
    /// An S3 bucket and key prefix: `s3://bucket/prefix` (prefix may be empty).
    S3 {
        /// The bucket.
        bucket: String,
        /// Key prefix without leading or trailing `/`.
        prefix: String,
    },
}

impl StoreUri {
    /// Parses a store URI.
    pub fn parse(uri: &str) -> Result<Self, StoreError> {
        let invalid =
            |problem: &str| StoreError::InvalidUri { uri: uri.to_string(), problem: problem.into() };
        if uri.trim().is_empty() {
            return Err(invalid("empty; give a folder such as ./models or s3://bucket/prefix"));
        }
        if let Some(rest) = uri.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let valid_bucket = (3..=63).contains(&bucket.len())
                && bucket
                    .bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.');
            if !valid_bucket {
                return Err(invalid("the bucket name must be 3-63 characters of a-z, 0-9, '-' and '.'"));
            }
            return Ok(Self::S3 { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() });
        }
        if let Some(path) = uri.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(invalid("a file:// URI needs an absolute path (file:///srv/models)"));
            }
            return Ok(Self::Local(PathBuf::from(path)));
        }
        if let Some((scheme, _)) = uri.split_once("://") {
            return Err(invalid(&format!("unknown scheme `{scheme}://`: use a folder, file:// or s3://")));
        }
        Ok(Self::Local(PathBuf::from(uri)))
    }
}

/// A store of model versions; see the [module docs](self).
///
/// All methods are async (serving runs on tokio; a CLI can use a current-thread runtime).
/// File I/O and artifact validation run on tokio's blocking pool, never on the executor.
#[derive(Debug)]
pub enum ModelStore {
    /// A local folder.
    Local(LocalStore),
    /// An S3 bucket.
    #[cfg(feature = "s3")]
    S3(S3Store),
}

/// Opens the store a URI names: a folder (`./models`, `file:///srv/models`) or, with the `s3`
/// feature, `s3://bucket/prefix` over the connection `s3` (the binaries' `--s3-*` flags; this
/// crate reads no environment). An `s3://` URI without a connection fails with
/// [`StoreError::MissingSetting`], naming the flags. Nothing is contacted or created until the
/// first operation.
pub fn open_store(uri: &str, s3: Option<&S3Connection>) -> Result<ModelStore, StoreError> {
    match StoreUri::parse(uri)? {
        StoreUri::Local(root) => Ok(ModelStore::Local(LocalStore::new(root))),
        #[cfg(feature = "s3")]
        StoreUri::S3 { bucket, prefix } => {
            let connection = s3.ok_or_else(|| StoreError::MissingSetting {
                store: format!("s3://{bucket}/{prefix}"),
                setting: s3_client::CREDENTIAL_SETTINGS,
            })?;
            Ok(ModelStore::S3(S3Store::new(S3Settings::new(bucket, prefix, connection.clone()))?))
        }
        #[cfg(not(feature = "s3"))]
        StoreUri::S3 { .. } => {
            let _ = s3;
            Err(StoreError::InvalidUri {
                uri: uri.to_string(),
                problem: "this build has no S3 support (cargo feature `s3` of the artifacts crate)".into(),
            })
        }
    }
}

/// Without the `s3` feature there is no S3 connection to give [`open_store`]: this uninhabited
/// stand-in keeps its signature (callers pass `None`).
#[cfg(not(feature = "s3"))]
#[derive(Clone, Debug)]
pub enum S3Connection {}

/// Runs blocking work (file I/O, hashing, parsing) off the async executor.
pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work).await.map_err(StoreError::Task)?
}

impl ModelStore {
    /// Stores an artifact's bytes as a new version and points `LATEST` at it.
    ///
    /// The bytes are checked first ([`check_bytes`]: magic, version, length, checksum), so a
    /// corrupt file is never published.
    pub async fn put(&self, bytes: Vec<u8>) -> Result<VersionId, StoreError> {
        self.store(bytes, true).await
    }

    /// Stores an artifact's bytes as a new version without moving `LATEST` (a model kept for
    /// inspection that serving must not pick up, e.g. one refused by a quality gate). Checked as
    /// [`ModelStore::put`] checks.
    pub async fn put_unpublished(&self, bytes: Vec<u8>) -> Result<VersionId, StoreError> {
        self.store(bytes, false).await
    }

    async fn store(&self, bytes: Vec<u8>, publish: bool) -> Result<VersionId, StoreError> {
        let store = self.to_string();
        let bytes = blocking(move || {
            check_bytes(&bytes).map_err(|source| StoreError::Artifact {
                store,
                version: "new".into(),
                source: Box::new(source),
            })?;
            Ok(bytes)
        })
        .await?;
        match self {
            Self::Local(s) => s.put(bytes, publish).await,
            #[cfg(feature = "s3")]
            Self::S3(s) => s.put(bytes, publish).await,
        }
    }

    /// Serializes `artifact` (on the calling thread: a batch job's work) and stores it.
    pub async fn put_artifact(&self, artifact: &Artifact) -> Result<VersionId, StoreError> {
        let bytes = to_bytes(artifact).map_err(|source| StoreError::Artifact {
            store: self.to_string(),
            version: "new".into(),
            source: Box::new(source),
        })?;
        self.put(bytes).await
    }

    /// The version `LATEST` points at, or `None` for an empty store.
    pub async fn latest(&self) -> Result<Option<VersionId>, StoreError> {
        match self {
            Self::Local(s) => s.latest().await,
            #[cfg(feature = "s3")]
            Self::S3(s) => s.latest().await,
        }
    }

    /// The bytes of one version (unchecked: [`ModelStore::load`] validates them).
    pub async fn get(&self, version: &VersionId) -> Result<Vec<u8>, StoreError> {
        match self {
            Self::Local(s) => s.get(version).await,
            #[cfg(feature = "s3")]
            Self::S3(s) => s.get(version).await,
        }
    }

    /// Fetches and validates one version ([`read_artifact`] on the blocking pool).
    pub async fn load(&self, version: &VersionId) -> Result<Artifact, StoreError> {
        let bytes = self.get(version).await?;
        let (store, version) = (self.to_string(), version.to_string());
        blocking(move || {
            read_artifact(&bytes).map_err(|source: ArtifactError| StoreError::Artifact {
                store,
                version,
                source: Box::new(source),
            })
        })
        .await
    }

    /// The newest version and its artifact, or `None` for an empty store.
    pub async fn load_latest(&self) -> Result<Option<(VersionId, Artifact)>, StoreError> {
        match self.latest().await? {
            Some(version) => {
                let artifact = self.load(&version).await?;
                Ok(Some((version, artifact)))
            }
            None => Ok(None),
        }
    }

    /// Every stored version, oldest first.
    pub async fn list(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let mut res = match self {
            Self::Local(s) => s.list().await?,
            #[cfg(feature = "s3")]
            Self::S3(s) => s.list().await?,
        };
        res.sort_by(|a, b| a.version.cmp(&b.version));
        Ok(res)
    }

    /// Deletes all but the newest `keep_last` versions (the one `LATEST` points at is always
    /// kept); returns the removed versions, oldest first.
    pub async fn prune(&self, keep_last: usize) -> Result<Vec<VersionId>, StoreError> {
        let versions = self.list().await?;
        let latest = self.latest().await?;
        let cut = versions.len().saturating_sub(keep_last);
        let doomed: Vec<VersionId> = versions[..cut]
            .iter()
            .map(|v| v.version.clone())
            .filter(|v| Some(v) != latest.as_ref())
            .collect();
        for version in &doomed {
            match self {
                Self::Local(s) => s.remove(version).await?,
                #[cfg(feature = "s3")]
                Self::S3(s) => s.remove(version).await?,
            }
        }
        Ok(doomed)
    }
}

impl fmt::Display for ModelStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Local(s) => write!(f, "{}", s.root().display()),
            #[cfg(feature = "s3")]
            Self::S3(s) => write!(f, "{}", s.uri()),
        }
    }
}
