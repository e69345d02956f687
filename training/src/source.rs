//! Where training ratings come from, behind the [`RatingsSource`] trait: a MovieLens dataset
//! in the data directory, a ratings file, the seeded synthetic generator, the ratings
//! service's Redis ([`redis::RedisRatings`]) or the analytics warehouse
//! ([`warehouse::WarehouseRatings`]), all through the same trait.

use std::path::{Path, PathBuf};

use datasets::synth::{self, SynthShape};
use datasets::{DatasetName, Movie};

use crate::data::{self, Loaded};
use crate::error::Result;

pub mod redis;
pub mod warehouse;

/// A source of ratings keyed by external ids, with the movie catalogue when it has one.
pub trait RatingsSource: Send + Sync {
    /// Short name for reports and artifact metadata (`ml-latest-small`, `ratings.csv`,
    /// `synth-1`).
    fn name(&self) -> String;

    /// Every rating (as an engine log: external ids → dense indices) and the catalogue (empty
    /// when the source has none).
    fn load(&self) -> Result<Loaded>;
}

/// A MovieLens dataset in the data directory; its movies file gives the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovieLensDataset {
    /// The data directory (`CINEREC_DATA_DIR`, else the user cache directory).
    pub data_dir: PathBuf,
    /// The dataset.
    pub name: DatasetName,
}

impl RatingsSource for MovieLensDataset {
    fn name(&self) -> String {
        self.name.to_string()
    }

    fn load(&self) -> Result<Loaded> {
        let log = datasets::load_ratings_log(&self.data_dir, self.name)?;
        let movies_file =
            datasets::dataset_dir(&self.data_dir, self.name)?.join(self.name.info().movies_file);
        let movies = movies_if_present(&movies_file)?;
        Ok(Loaded { name: self.name(), log, movies })
    }
}

/// A ratings file (format from its name); the movies file beside it (`u.item`, `movies.dat`,
/// `movies.csv`) gives the catalogue when present.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RatingsFile {
    /// The file.
    pub path: PathBuf,
}

impl RatingsSource for RatingsFile {
    fn name(&self) -> String {
        self.path.file_name().map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into())
    }

    fn load(&self) -> Result<Loaded> {
        let log = datasets::load_ratings_file_log(&self.path)?;
        let movies = movies_if_present(&datasets::movies_file_for(&self.path)?)?;
        Ok(Loaded { name: self.name(), log, movies })
    }
}

/// The seeded synthetic ML-20M-shaped ratings (no catalogue: movies have ids only).
#[derive(Clone, Debug, PartialEq)]
pub struct Synthetic {
    /// The scale asked for (1.0 = ML-20M).
    pub scale: f64,
    /// The checked shape at that scale.
    pub shape: SynthShape,
}

impl RatingsSource for Synthetic {
    fn name(&self) -> String {
        data::synth_name(self.scale)
    }

    fn load(&self) -> Result<Loaded> {
        Ok(Loaded { name: self.name(), log: synth::generate_log(&self.shape)?, movies: Vec::new() })
    }
}

/// The catalogue in `path`, or none when the file does not exist (a malformed file is an error).
fn movies_if_present(path: &Path) -> Result<Vec<Movie>> {
    if path.is_file() { Ok(datasets::load_movies_file(path)?) } else { Ok(Vec::new()) }
}
