//! The training library's error type: each variant says whose fault it is and names the input.

use std::path::PathBuf;

use engine::EngineError;
use thiserror::Error;

/// Everything the `cinerec` commands can fail with.
#[derive(Debug, Error)]
pub enum Error {
    /// The engine refused its input (bad hyperparameter, shape, empty data, ...).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// Reading or writing a file failed (`fs_err` messages name the path).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A JSON file could not be read or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// A file of the peer exchange format is inconsistent.
    #[error("{path}: {message}")]
    Exchange {
        /// The file or folder.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// A dataset file could not be parsed.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        message: String,
    },
    /// The dataset name is not one the CLI knows.
    #[error("unknown dataset `{name}`: expected one of {expected}")]
    UnknownDataset {
        /// The name given.
        name: String,
        /// The names that are accepted.
        expected: String,
    },
    /// A dataset's files are not where they should be.
    #[error(
        "dataset `{name}` not found at {path} (set --data-dir or CINEREC_DATA_DIR, or run `cinerec datasets download {name}`)"
    )]
    MissingDataset {
        /// The dataset name.
        name: String,
        /// Where it was looked for.
        path: PathBuf,
    },
    /// The datasets crate refused (download, checksum, synthetic generator).
    #[error("{0}")]
    Dataset(String),
    /// A combination of flags that cannot work, or a value out of range.
    #[error("invalid arguments: {0}")]
    Usage(String),
    /// A model or feature whose engine part has not landed.
    #[error("{0} is not available in this build")]
    Unavailable(String),
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Whether the user can fix this by changing the command line or the input files (exit
    /// code 2), as opposed to an internal failure (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Usage(_)
                | Error::UnknownDataset { .. }
                | Error::MissingDataset { .. }
                | Error::Engine(EngineError::InvalidParam { .. })
        )
    }
}
