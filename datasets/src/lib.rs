//! MovieLens datasets: parsers over `impl BufRead`, a checked downloader, a synthetic generator.
//!
//! - [`DatasetName`] and [`DatasetInfo`]: the seven GroupLens datasets, their URLs, layouts and
//!   checksums.
//! - [`parse_ratings`] / [`parse_movies`] read every MovieLens format from any reader;
//!   [`load_ratings`], [`load_movies`], [`load_ml100k_fold`] read a dataset from the data
//!   directory ([`data_dir`]); [`load_ratings_file`] reads one file, its format told by its name.
//! - [`ratings_to_log`] / [`ratings_to_logs`] turn ratings into the engine's [`InteractionLog`].
//! - [`Downloader`] fetches, verifies and extracts an archive atomically; [`statuses`] and
//!   [`verify()`] tell what is on disk and whether it is intact.
//! - [`synth`] generates seeded ML-20M-shaped ratings at any scale.
//!
//! [`InteractionLog`]: engine::InteractionLog

pub mod catalog;
pub mod csv;
pub mod download;
pub mod error;
pub mod load;
pub mod parse;
pub mod synth;
pub mod types;
pub mod verify;

pub use catalog::{DatasetInfo, DatasetName, Encoding, MoviesFormat, OFFICIAL_BASE_URL, RatingsFormat};
pub use download::{Checksum, DownloadProgress, Downloaded, Downloader, ExpectedChecksum, Source};
pub use error::{DatasetError, FieldProblem, Result};
pub use load::{
    DATA_DIR_ENV, RatingsSource, checkout_data_dir, data_dir, dataset_dir, load_ml100k_fold, load_movies,
    load_movies_file, load_movies_file_with, load_movies_with, load_ratings, load_ratings_file,
    load_ratings_file_log, load_ratings_file_with, load_ratings_log, load_ratings_with, movies_file_for,
    movies_format_of, ratings_format_of, ratings_to_log, ratings_to_logs,
};
pub use parse::{parse_movies, parse_ratings, read_ratings, year_from_title};
pub use synth::{SynthParams, SynthShape};
pub use types::{Movie, ParseMode, Parsed, Rating, Skipped, SkippedLine};
pub use verify::{DatasetStatus, FileCheck, Presence, VerifyReport, status, statuses, verify};
