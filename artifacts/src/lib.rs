//! cinerec's model artifacts: a versioned, self-describing binary file format for trained models
//! ([`write_artifact`] / [`read_artifact`]) and the [`ModelStore`] that keeps versions of them in
//! a local folder or (feature `s3`) an S3 bucket.
//!
//! The format is described in [`mod@format`]; loading copies each section in bulk, so a
//! 20M-interaction model loads in a fraction of a second. Every problem a file can have (bad
//! magic, unsupported version, checksum mismatch, truncation, missing or mis-sized sections,
//! shapes the engine refuses) is an [`ArtifactError`] variant that names it.

#[cfg(not(target_endian = "little"))]
compile_error!(
    "the artifact format stores little-endian arrays and is copied in bulk: little-endian targets only"
);

pub mod error;
pub mod format;
pub mod model;
pub mod params;
pub mod store;
mod time;

pub use error::{ArtifactError, StoreError};
pub use format::{
    ArtifactInfo, Dtype, FORMAT_VERSION, MAGIC, SUPPORTED_VERSIONS, SectionInfo, check_bytes, read_artifact,
    read_info, to_bytes, to_bytes_in_version, write_artifact,
};
pub use model::{Artifact, Metadata, ModelKind, MovieInfo, TrainedModel, code_version};
pub use params::{ModelParams, POSITIVE_THRESHOLD};
pub use store::{LocalStore, ModelStore, S3Connection, StoreUri, VersionId, VersionInfo, open_store};
#[cfg(feature = "s3")]
pub use store::{S3Settings, S3Store};
pub use time::format_rfc3339;
