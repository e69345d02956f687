//! The training library's error type: each variant says whose fault it is and names the input.

use std::path::PathBuf;

use datasets::DatasetError;
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
    /// The datasets crate refused (unknown name, missing files, parse error, download,
    /// checksum, generator parameters).
    #[error(transparent)]
    Dataset(#[from] DatasetError),
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
                | Error::Dataset(
                    DatasetError::UnknownDataset { .. }
                        | DatasetError::NotPresent { .. }
                        | DatasetError::UnknownFormat { .. }
                        | DatasetError::InvalidParam { .. }
                )
                | Error::Engine(EngineError::InvalidParam { .. })
        )
    }
}
