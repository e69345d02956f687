//! The crate's one error type: every variant names the file, line, field, URL or dataset at fault.

use std::fmt;
use std::path::PathBuf;

/// Result with [`DatasetError`].
pub type Result<T, E = DatasetError> = std::result::Result<T, E>;

/// Why a field's text was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldProblem {
    /// Not a (non-negative integer / decimal) number of the expected type.
    NotANumber,
    /// A number outside the allowed range (e.g. a rating outside `0.5..=5.0`).
    OutOfRange {
        /// The allowed range, as text.
        allowed: &'static str,
    },
    /// An empty value where one is required (e.g. a title).
    Empty,
    /// A genre flag that is neither `0` nor `1`.
    NotAFlag,
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::NotANumber => f.write_str("is not a number"),
            FieldProblem::OutOfRange { allowed } => write!(f, "is outside {allowed}"),
            FieldProblem::Empty => f.write_str("is empty"),
            FieldProblem::NotAFlag => f.write_str("is neither 0 nor 1"),
        }
    }
}

/// Everything that can go wrong reading, downloading, verifying or generating a dataset.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DatasetError {
    /// An I/O failure. Files are opened through `fs_err`, so the message names the path.
    #[error(transparent)]
    Io(#[from] std::io::Error),

    /// A field whose text does not parse or is out of range.
    #[error("{file}:{line}: field `{field}`: {text:?} {problem}")]
    Field {
        /// The file (or source label) being read.
        file: String,
        /// 1-based line number.
        line: u64,
        /// The field's name.
        field: &'static str,
        /// The offending text.
        text: String,
        /// What is wrong with it.
        problem: FieldProblem,
    },

    /// A line with the wrong number of fields.
    #[error("{file}:{line}: expected {expected} fields separated by {separator:?}, found {found}")]
    FieldCount {
        /// The file (or source label) being read.
        file: String,
        /// 1-based line number.
        line: u64,
        /// How many fields the format has.
        expected: usize,
        /// How many the line has.
        found: usize,
        /// The field separator of the format.
        separator: &'static str,
    },

    /// A missing or different header row.
    #[error("{file}:{line}: expected the header {expected:?}, found {found:?}")]
    Header {
        /// The file (or source label) being read.
        file: String,
        /// 1-based line number (1, unless blank lines precede the header).
        line: u64,
        /// The header the format requires.
        expected: &'static str,
        /// What the file has instead (empty when the file is empty).
        found: String,
    },

    /// A line that cannot be split at all (bad quoting, invalid UTF-8).
    #[error("{file}:{line}: {problem}")]
    Line {
        /// The file (or source label) being read.
        file: String,
        /// 1-based line number.
        line: u64,
        /// What is wrong.
        problem: String,
    },

    /// A dataset name that is not one of [`crate::DatasetName::all`].
    #[error("unknown dataset {name:?}: expected one of {expected}")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The known names, comma-separated.
        expected: String,
    },

    /// A file whose name does not tell its format.
    #[error(
        "{path}: cannot tell the format from the file name (expected u.data, *.base, *.test, u.item, *.dat or *.csv)"
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// A dataset that is not in the data directory.
    #[error("dataset {name} is not in {dir}: download it first (`cinerec datasets download {name}`)")]
    NotPresent {
        /// The dataset.
        name: String,
        /// The data directory searched.
        dir: PathBuf,
    },

    /// A dataset folder that exists but is not known to be intact, so a download will not replace it.
    #[error("{dir} exists but is not verified ({reason}); remove it and download again")]
    Unverified {
        /// The dataset folder.
        dir: PathBuf,
        /// Why it is not trusted.
        reason: String,
    },

    /// A request that failed even after retries (connection refused, reset, timeout, 5xx).
    #[error("GET {url} failed after {attempts} attempt(s): {reason}")]
    Http {
        /// The URL requested.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last failure.
        reason: String,
    },

    /// A request answered with an HTTP error status that retrying will not fix (e.g. 404).
    #[error("GET {url}: HTTP status {status}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },

    /// Content whose checksum differs from the expected one; nothing was kept.
    #[error("{what}: {algorithm} checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// The URL or file checked.
        what: String,
        /// `md5` or `sha256`.
        algorithm: &'static str,
        /// The expected hex digest.
        expected: String,
        /// The digest of what was received.
        actual: String,
    },

    /// A published `.md5` file that holds no md5 digest.
    #[error("{url}: no md5 digest in {text:?}")]
    ChecksumFile {
        /// The URL of the checksum file.
        url: String,
        /// Its content (truncated).
        text: String,
    },

    /// A download that is not a readable zip archive.
    #[error("{url}: not a readable zip archive: {source}")]
    Zip {
        /// Where the archive came from.
        url: String,
        /// The zip reader's error.
        #[source]
        source: zip::result::ZipError,
    },

    /// A zip archive without a member the dataset needs.
    #[error("{url}: the archive has no member {member:?}")]
    MissingMember {
        /// Where the archive came from.
        url: String,
        /// The member looked for.
        member: String,
    },

    /// A parameter outside its allowed range (fold index, synthetic scale, ...).
    #[error("invalid {name} {value}: allowed {allowed}")]
    InvalidParam {
        /// The parameter.
        name: &'static str,
        /// The value given.
        value: String,
        /// What is allowed.
        allowed: String,
    },

    /// An engine error while building a log.
    #[error(transparent)]
    Engine(#[from] engine::EngineError),

    /// No data directory can be derived from the environment.
    #[error("no data directory: set CINEREC_DATA_DIR (or HOME / XDG_CACHE_HOME)")]
    NoDataDir,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_errors_name_file_line_field_and_text() {
        let err = DatasetError::Field {
            file: "ml-latest-small/ratings.csv".into(),
            line: 17,
            field: "rating",
            text: "4.x".into(),
            problem: FieldProblem::NotANumber,
        };
        assert_eq!(
            err.to_string(),
            r#"ml-latest-small/ratings.csv:17: field `rating`: "4.x" is not a number"#
        );
        let err = DatasetError::Field {
            file: "u.data".into(),
            line: 3,
            field: "rating",
            text: "7".into(),
            problem: FieldProblem::OutOfRange { allowed: "0.5..=5.0" },
        };
        assert_eq!(err.to_string(), r#"u.data:3: field `rating`: "7" is outside 0.5..=5.0"#);
    }
}
