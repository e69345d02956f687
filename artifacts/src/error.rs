//! The crate's errors: [`ArtifactError`] for the file format, [`StoreError`] for the stores.
//! Every variant names what was wrong (byte offset, section, version, key, bucket).

use engine::EngineError;
use thiserror::Error;

use crate::format::Dtype;

/// Why an artifact could not be written or read.
#[derive(Debug, Error)]
pub enum ArtifactError {
    /// Writing the artifact failed.
    #[error("writing the artifact failed: {0}")]
    Io(#[from] std::io::Error),
    /// The file does not start with [`crate::MAGIC`].
    #[error(
        "not a cinerec model artifact: the file starts with \"{}\", expected \"{}\"",
        found.escape_ascii(),
        expected.escape_ascii()
    )]
    BadMagic {
        /// The first bytes of the file (up to 8).
        found: Vec<u8>,
        /// The magic bytes.
        expected: &'static [u8],
    },
    /// The format version is not one this build reads.
    #[error("unsupported artifact format version {found}: this build reads versions {supported:?}")]
    UnsupportedVersion {
        /// The version in the file.
        found: u32,
        /// The versions this build reads.
        supported: &'static [u32],
    },
    /// The file ends before its declared length.
    #[error("artifact truncated at byte {at}: expected {expected} bytes ({part})")]
    Truncated {
        /// The file's actual length (the first missing byte).
        at: u64,
        /// The length the file needs.
        expected: u64,
        /// What the missing bytes belong to.
        part: &'static str,
    },
    /// The file is longer than its declared length.
    #[error("artifact has {len} bytes but its preamble declares {expected}: trailing bytes")]
    TrailingBytes {
        /// The file's actual length.
        len: u64,
        /// The declared length.
        expected: u64,
    },
    /// The stored checksum does not match the contents.
    #[error(
        "checksum mismatch: the artifact records xxh3 {expected:#018x} but its contents hash to \
         {actual:#018x}; the file is corrupt"
    )]
    ChecksumMismatch {
        /// The checksum stored in the file.
        expected: u64,
        /// The checksum of the bytes read.
        actual: u64,
    },
    /// The JSON header cannot be parsed.
    #[error("unreadable artifact header: {0}")]
    Header(#[source] serde_json::Error),
    /// A header field has a value this build cannot use.
    #[error("invalid artifact header field `{field}`: {problem}")]
    HeaderField {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// A section the model kind needs is absent.
    #[error("artifact section `{name}` is missing")]
    MissingSection {
        /// The section name.
        name: String,
    },
    /// A section has another element type than expected.
    #[error("artifact section `{name}` has dtype {found}, expected {expected}")]
    SectionDtype {
        /// The section name.
        name: String,
        /// The dtype the reader needs.
        expected: Dtype,
        /// The dtype in the section table.
        found: Dtype,
    },
    /// A section's shape disagrees with the header's dimensions.
    #[error("artifact section `{name}` has shape {got:?}, expected {expected:?}")]
    SectionShape {
        /// The section name.
        name: String,
        /// The shape the header's dimensions require.
        expected: Vec<u64>,
        /// The shape in the section table.
        got: Vec<u64>,
    },
    /// A section's table entry points outside the data area, is misaligned or is inconsistent.
    #[error("artifact section `{name}` is malformed: {problem}")]
    SectionLayout {
        /// The section name.
        name: String,
        /// What is wrong with its table entry.
        problem: String,
    },
    /// A string section is not valid UTF-8.
    #[error("artifact section `{section}`: string {index} is not valid UTF-8")]
    InvalidUtf8 {
        /// The section name.
        section: &'static str,
        /// Index of the string.
        index: usize,
    },
    /// The engine refused the stored parts (shapes that disagree, non-finite values, ...).
    #[error("{context}: {source}")]
    Engine {
        /// Which part was being rebuilt.
        context: &'static str,
        /// The engine's reason.
        #[source]
        source: EngineError,
    },
    /// Parts of an artifact being written disagree.
    #[error("inconsistent artifact: {what} is {got}, expected {expected}")]
    Inconsistent {
        /// What was compared.
        what: &'static str,
        /// The model's size.
        expected: usize,
        /// The part's size.
        got: usize,
    },
    /// A metric is NaN or infinite (JSON cannot store it).
    #[error("metric `{name}` is {value}: metrics must be finite")]
    NonFiniteMetric {
        /// The metric.
        name: String,
        /// Its value.
        value: f64,
    },
}

/// Why a [`crate::ModelStore`] operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store URI cannot be used.
    #[error("invalid model store `{uri}`: {problem}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        problem: String,
    },
    /// An `s3://` store was opened without S3 connection settings.
    #[error("model store `{store}` needs S3 credentials: set {setting}")]
    MissingSetting {
        /// The store.
        store: String,
        /// The flags and environment variables that give them.
        setting: &'static str,
    },
    /// A version id does not have the `YYYYMMDDTHHMMSS.mmmZ-xxxxxx` form.
    #[error("invalid model version `{text}`: expected e.g. 20261124T091500.123Z-3fa9c2")]
    InvalidVersion {
        /// The text that was parsed.
        text: String,
    },
    /// The requested version does not exist.
    #[error("model version {version} not found in {store}")]
    VersionNotFound {
        /// The store.
        store: String,
        /// The version.
        version: String,
    },
    /// The `LATEST` pointer does not hold a version id.
    #[error("the LATEST pointer of {store} is corrupt: {content:?}")]
    CorruptPointer {
        /// The store.
        store: String,
        /// What the pointer holds.
        content: String,
    },
    /// The artifact bytes are invalid (refused by `put`, or by `load`).
    #[error("model {version} in {store}: {source}")]
    Artifact {
        /// The store.
        store: String,
        /// The version (`new` for a refused `put`).
        version: String,
        /// What is wrong with the bytes.
        #[source]
        source: Box<ArtifactError>,
    },
    /// A local file operation failed (the message names the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The S3 bucket does not exist.
    #[error("S3 bucket `{bucket}` does not exist at {endpoint}")]
    BucketNotFound {
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
    },
    /// The S3 server refused the credentials or the request's signature.
    #[error(
        "S3 at {endpoint} refused access to bucket `{bucket}` ({reason}); check AWS_ACCESS_KEY_ID \
         and AWS_SECRET_ACCESS_KEY"
    )]
    AccessDenied {
        /// The bucket.
        bucket: String,
        /// The endpoint.
        endpoint: String,
        /// The S3 error code and message (`SignatureDoesNotMatch`, `InvalidAccessKeyId: ...`),
        /// or the HTTP status when the response had no body.
        reason: String,
    },
    /// Any other S3 failure, after the bounded retries.
    #[error("S3 {operation} of `{key}` at {endpoint} failed after at most {attempts} attempts: {message}")]
    S3 {
        /// The S3 operation (`PutObject`, ...).
        operation: &'static str,
        /// The object key (or prefix).
        key: String,
        /// The endpoint.
        endpoint: String,
        /// The retry bound.
        attempts: u32,
        /// The error and its causes.
        message: String,
    },
    /// A blocking task (file I/O, validation) panicked or was cancelled.
    #[error("background task of the model store failed: {0}")]
    Task(#[source] tokio::task::JoinError),
}
