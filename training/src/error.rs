//! The training library's error type: each variant says whose fault it is and names the input.

use std::path::PathBuf;

use artifacts::{ArtifactError, StoreError};
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
    /// Reading ratings from the ratings service's Redis failed (unreachable, or keys that do
    /// not follow its layout).
    #[error(transparent)]
    RatingsRedis(#[from] crate::source::redis::RedisSourceError),
    /// Reading ratings from the analytics warehouse failed (a bad URL, or the database).
    #[error(transparent)]
    RatingsWarehouse(#[from] crate::source::warehouse::WarehouseSourceError),
    /// A JSON file could not be read or written.
    #[error("{path}: invalid JSON: {source}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What serde_json said.
        source: serde_json::Error,
    },
    /// The quality gate refused the new model: it is stored, LATEST is unchanged.
    #[error(
        "quality gate: the new model {version} scores {metric} {new:.4} on its holdout, {:.4} below \
         the serving model {serving}'s {old:.4}, more than the margin {margin:.4}; it is stored but \
         LATEST still points at {serving}",
        old - new
    )]
    QualityGate {
        /// The refused version (stored, not published).
        version: String,
        /// The version LATEST points at.
        serving: String,
        /// The metric compared (`ndcg@10`).
        metric: String,
        /// The new model's figure.
        new: f64,
        /// The serving model's recorded figure.
        old: f64,
        /// The largest drop allowed.
        margin: f64,
    },
    /// A file of the peer exchange format is inconsistent.
    #[error("{path}: {message}")]
    Exchange {
        /// The file or folder.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// The matrix files of a peer exchange folder do not make a valid matrix.
    #[error("{path}: {source}")]
    ExchangeMatrix {
        /// The folder.
        path: PathBuf,
        /// Why the engine refused the matrix.
        #[source]
        source: EngineError,
    },
    /// The Tokio runtime that drives the model store could not start.
    #[error("cannot start the store's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The rayon thread pool of `--threads` could not start.
    #[error("invalid arguments: cannot start {threads} threads: {source}")]
    ThreadPool {
        /// The number of threads asked for (0: one per core).
        threads: usize,
        /// Why rayon could not start them.
        #[source]
        source: rayon::ThreadPoolBuildError,
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
    /// The model store refused or failed (bad URI, unknown version, corrupt artifact, S3).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A trained model could not be turned into an artifact.
    #[error("cannot write the model artifact: {0}")]
    Artifact(#[from] ArtifactError),
    /// A dataset is missing and could not be downloaded (the cause follows in the chain).
    #[error(
        "{name} is not in {} and could not be downloaded (point CINEREC_DATA_DIR or --data-dir at \
         a folder that holds {name}/, or retry later)",
        dir.display()
    )]
    DatasetUnavailable {
        /// The dataset.
        name: String,
        /// The data directory.
        dir: PathBuf,
        /// Why the download failed.
        source: Box<DatasetError>,
    },
    /// The store holds no model yet.
    #[error(
        "no model in {store} yet: train one with `cinerec train --store {store} ...` or `cinerec quickstart`"
    )]
    EmptyStore {
        /// The store.
        store: String,
    },
    /// Movie ids the model was not trained on.
    #[error(
        "model {version} does not know movie id{} {}: it was trained on {n_items} movies (`cinerec similar --title` finds ids)",
        if ids.len() == 1 { "" } else { "s" },
        ids.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    )]
    UnknownMovies {
        /// The model version.
        version: String,
        /// The unknown ids, in the order given.
        ids: Vec<u64>,
        /// Movies the model knows.
        n_items: usize,
    },
    /// No movie of the model's catalogue matches a title.
    #[error("no movie of model {version} has a title containing \"{query}\"{hint}")]
    NoSuchTitle {
        /// The model version.
        version: String,
        /// The title searched for.
        query: String,
        /// Why, when the catalogue is empty.
        hint: String,
    },
    /// A title matches several movies.
    #[error(
        "\"{query}\" matches {total} movies; pick one with --movie ID:\n{}{}",
        candidates.iter().map(|(id, title)| format!("  {id:>7}  {title}")).collect::<Vec<_>>().join("\n"),
        if *total > candidates.len() { format!("\n  ... and {} more", total - candidates.len()) } else { String::new() }
    )]
    AmbiguousTitle {
        /// The title searched for.
        query: String,
        /// The first matches: (movie id, title).
        candidates: Vec<(u64, String)>,
        /// How many movies match.
        total: usize,
    },
}

/// The exit codes of `cinerec` (the training CronJob's `podFailurePolicy` retries only
/// [`exit::FAILURE`]).
pub mod exit {
    /// Something that may pass when retried: a store, database or server not answering.
    pub const FAILURE: u8 = 1;
    /// Bad flags or settings.
    pub const USAGE: u8 = 2;
    /// Bad input data (a malformed line or key, empty or inconsistent ratings).
    pub const BAD_INPUT: u8 = 3;
    /// The quality gate refused the new model.
    pub const QUALITY_GATE: u8 = 4;
}

/// Shorthand for results carrying [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The process exit code of this error ([`exit`]).
    pub fn exit_code(&self) -> u8 {
        if self.is_usage() {
            exit::USAGE
        } else if self.is_bad_input() {
            exit::BAD_INPUT
        } else if matches!(self, Error::QualityGate { .. }) {
            exit::QUALITY_GATE
        } else {
            exit::FAILURE
        }
    }

    /// Whether the input data is at fault (retrying cannot help): malformed files, keys or
    /// rows, ratings the engine refuses, a corrupt dataset download.
    pub fn is_bad_input(&self) -> bool {
        use crate::source::redis::RedisSourceError;
        match self {
            Error::Dataset(e) => matches!(
                e,
                DatasetError::Field { .. }
                    | DatasetError::FieldCount { .. }
                    | DatasetError::Header { .. }
                    | DatasetError::Line { .. }
                    | DatasetError::Checksum { .. }
                    | DatasetError::Zip { .. }
                    | DatasetError::MissingMember { .. }
                    | DatasetError::Engine(_)
            ),
            Error::Engine(e) | Error::ExchangeMatrix { source: e, .. } => {
                !matches!(e, EngineError::Cancelled { .. })
            }
            Error::RatingsRedis(e) => matches!(e, RedisSourceError::Corrupt { .. }),
            Error::Exchange { .. } | Error::Json { .. } => true,
            _ => false,
        }
    }

    /// Whether the user can fix this by changing the command line or the input files (exit
    /// code 2), as opposed to an internal failure (exit code 1).
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Usage(_)
                | Error::ThreadPool { .. }
                | Error::Dataset(
                    DatasetError::UnknownDataset { .. }
                        | DatasetError::NotPresent { .. }
                        | DatasetError::UnknownFormat { .. }
                        | DatasetError::InvalidParam { .. }
                )
                | Error::Engine(EngineError::InvalidParam { .. })
                | Error::EmptyStore { .. }
                | Error::UnknownMovies { .. }
                | Error::NoSuchTitle { .. }
                | Error::AmbiguousTitle { .. }
                | Error::Store(
                    StoreError::InvalidUri { .. }
                        | StoreError::InvalidVersion { .. }
                        | StoreError::VersionNotFound { .. }
                        | StoreError::MissingSetting { .. }
                )
        )
    }
}
