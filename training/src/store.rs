//! A blocking face over the async [`ModelStore`]: one small current-thread tokio runtime per
//! command drives it, so the commands (and the engine) stay synchronous.

use std::time::{Duration, Instant};

use artifacts::{
    Artifact, ArtifactError, ArtifactInfo, ModelStore, S3Connection, StoreError, VersionId, VersionInfo,
};
use tokio::runtime::Runtime;

use crate::cli::StoreArgs;
use crate::error::{Error, Result};

/// A model store opened from its URI, with the runtime that drives it.
#[derive(Debug)]
pub struct Store {
    runtime: Runtime,
    store: ModelStore,
}

/// An artifact read from a store, and how long that took.
#[derive(Debug)]
pub struct LoadedArtifact {
    /// Its version.
    pub version: VersionId,
    /// The artifact.
    pub artifact: Artifact,
    /// Size of the file in bytes.
    pub size: u64,
    /// Reading the bytes (file or S3 GET).
    pub fetch: Duration,
    /// Validating them and rebuilding the model (checksum, sections, engine constructors).
    pub decode: Duration,
}

impl Store {
    /// Opens the store `uri` names: a folder (`./models`, `file:///srv/models`) or
    /// `s3://bucket/prefix` over the connection `s3` (an error naming the flags without one).
    pub fn open(uri: &str, s3: Option<&S3Connection>) -> Result<Self> {
        let runtime =
            tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(Error::Runtime)?;
        Ok(Self { runtime, store: artifacts::open_store(uri, s3)? })
    }

    /// Opens the store of `--store`, over the `--s3-*` connection flags.
    pub fn from_args(args: &StoreArgs) -> Result<Self> {
        Self::open(&args.uri, args.s3.connection().as_ref())
    }

    /// The store as text (folder path or `s3://` URI).
    pub fn uri(&self) -> String {
        self.store.to_string()
    }

    /// Stores artifact bytes as a new version (and points `LATEST` at it).
    pub fn put(&self, bytes: Vec<u8>) -> Result<VersionId> {
        Ok(self.runtime.block_on(self.store.put(bytes))?)
    }

    /// Stores artifact bytes as a new version without moving `LATEST`.
    pub fn put_unpublished(&self, bytes: Vec<u8>) -> Result<VersionId> {
        Ok(self.runtime.block_on(self.store.put_unpublished(bytes))?)
    }

    /// `version` parsed, or the latest version when it is `None` or `latest`.
    pub fn resolve(&self, version: Option<&str>) -> Result<VersionId> {
        match version.map(str::trim) {
            Some(text) if !text.eq_ignore_ascii_case("latest") => Ok(VersionId::parse(text)?),
            _ => self
                .runtime
                .block_on(self.store.latest())?
                .ok_or_else(|| Error::EmptyStore { store: self.uri() }),
        }
    }

    /// The bytes of `version`, unchecked.
    pub fn fetch(&self, version: &VersionId) -> Result<Vec<u8>> {
        Ok(self.runtime.block_on(self.store.get(version))?)
    }

    /// Fetches, validates and decodes `version` (or the latest), timing both steps.
    pub fn load(&self, version: Option<&str>) -> Result<LoadedArtifact> {
        let version = self.resolve(version)?;
        let start = Instant::now();
        let bytes = self.fetch(&version)?;
        let fetch = start.elapsed();
        let start = Instant::now();
        let artifact = self.decode(&version, &bytes)?;
        let decode = start.elapsed();
        Ok(LoadedArtifact { version, artifact, size: bytes.len() as u64, fetch, decode })
    }

    /// Validates `bytes` (of `version`) and rebuilds the artifact; errors name the version.
    pub fn decode(&self, version: &VersionId, bytes: &[u8]) -> Result<Artifact> {
        artifacts::read_artifact(bytes).map_err(|source| self.artifact_error(version, source))
    }

    /// The header of `bytes` (of `version`): kind, params, sizes, metadata, sections.
    pub fn info(&self, version: &VersionId, bytes: &[u8]) -> Result<ArtifactInfo> {
        artifacts::read_info(bytes).map_err(|source| self.artifact_error(version, source))
    }

    fn artifact_error(&self, version: &VersionId, source: ArtifactError) -> Error {
        Error::Store(StoreError::Artifact {
            store: self.uri(),
            version: version.to_string(),
            source: Box::new(source),
        })
    }

    /// Every version, oldest first.
    pub fn list(&self) -> Result<Vec<VersionInfo>> {
        Ok(self.runtime.block_on(self.store.list())?)
    }

    /// The version `LATEST` points at, if any.
    pub fn latest(&self) -> Result<Option<VersionId>> {
        Ok(self.runtime.block_on(self.store.latest())?)
    }

    /// Deletes all but the newest `keep` versions (never the latest); returns the removed ones.
    pub fn prune(&self, keep: usize) -> Result<Vec<VersionId>> {
        Ok(self.runtime.block_on(self.store.prune(keep))?)
    }
}
