//! `cinerec-import ratings`: a dataset's movies into the catalogue set and its ratings through
//! the same submit script the service runs (so aggregates and indexes stay consistent),
//! pipelined in batches. Idempotent: a rating already stored with the same or a newer
//! timestamp is kept, so importing twice gives the same state. No events unless asked for.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

use datasets::{DatasetError, DatasetName, Rating};
use uuid::Uuid;

use ratings::domain::{FieldError, MovieId, Review, Stars, UserId};
use ratings::redis_store::{RedisStore, WriteMode};
use ratings::store::{NewRating, RatingStore, StoreError};

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The dataset could not be read.
    #[error(transparent)]
    Dataset(#[from] DatasetError),
    /// A rating of the dataset is not valid for the service.
    #[error("rating {index} (user {user_id}, movie {movie_id}): {source}")]
    InvalidRating {
        /// Position in the dataset's ratings (0-based).
        index: usize,
        /// Its user id.
        user_id: u64,
        /// Its movie id.
        movie_id: u64,
        /// What is wrong.
        source: FieldError,
    },
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How to import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImportOptions {
    /// Write a `RatingEvent` per created or changed rating to the outbox.
    pub events: bool,
    /// Ratings per pipelined round trip.
    pub batch: usize,
}

impl Default for ImportOptions {
    /// No events, batches of 2000.
    fn default() -> Self {
        Self { events: false, batch: 2000 }
    }
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ImportReport {
    /// Movies put into the catalogue (the movies file's and any rated one).
    pub movies: usize,
    /// Ratings read.
    pub ratings: usize,
    /// Ratings that were new.
    pub created: u64,
    /// Ratings that replaced an older one.
    pub updated: u64,
    /// Ratings already stored with the same or a newer timestamp (left alone).
    pub kept: u64,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Imports dataset `name` from `data_dir` (its movies file, when present, fills the catalogue).
pub async fn import_dataset(
    store: &RedisStore,
    data_dir: &Path,
    name: DatasetName,
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let ratings = datasets::load_ratings(data_dir, name)?;
    let movies = match datasets::load_movies(data_dir, name) {
        Ok(movies) => movies.into_iter().map(|m| m.movie_id).collect(),
        Err(DatasetError::NotPresent { .. }) => Vec::new(),
        Err(DatasetError::Io(err)) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(err) => return Err(err.into()),
    };
    import_ratings(store, &movies, &ratings, options).await
}

/// Adds `movies` and every rated movie to the catalogue, then writes `ratings` (timestamps in
/// Unix seconds, as MovieLens gives them).
pub async fn import_ratings(
    store: &RedisStore,
    movies: &[u64],
    ratings: &[Rating],
    options: ImportOptions,
) -> Result<ImportReport, ImportError> {
    let started = Instant::now();
    let parsed = ratings
        .iter()
        .enumerate()
        .map(|(index, r)| {
            let invalid = |source| ImportError::InvalidRating {
                index,
                user_id: r.user_id,
                movie_id: r.movie_id,
                source,
            };
            Ok(NewRating {
                user: UserId::parse(r.user_id, "user_id").map_err(invalid)?,
                movie: MovieId::parse(r.movie_id, "movie_id").map_err(invalid)?,
                stars: Stars::parse(r.rating).map_err(invalid)?,
                review: Review::default(),
                timestamp_ms: r.timestamp.saturating_mul(1000),
                event_id: if options.events { Uuid::new_v4() } else { Uuid::nil() },
            })
        })
        .collect::<Result<Vec<_>, ImportError>>()?;
    let catalogue: BTreeSet<u64> =
        movies.iter().copied().chain(parsed.iter().map(|r| r.movie.get())).filter(|id| *id != 0).collect();
    let catalogue: Vec<MovieId> =
        catalogue.into_iter().filter_map(|id| MovieId::parse(id, "movie_id").ok()).collect();
    store.add_movies(&catalogue).await?;
    store.prepare_import().await?;
    let mut report =
        ImportReport { movies: catalogue.len(), ratings: ratings.len(), ..ImportReport::default() };
    // Four pipelines in flight, so that encoding the next batch overlaps Redis running the last.
    // The order between batches does not matter: a rating is kept when the stored one is newer.
    async fn run(
        store: &RedisStore,
        batch: Option<&[NewRating]>,
        events: bool,
    ) -> Result<[u64; 3], StoreError> {
        match batch {
            Some(batch) => store.import_batch(batch, WriteMode::Import, events).await,
            None => Ok([0; 3]),
        }
    }
    let mut batches = parsed.chunks(options.batch.max(1));
    loop {
        let group: Vec<&[NewRating]> = batches.by_ref().take(4).collect();
        if group.is_empty() {
            break;
        }
        let results = tokio::join!(
            run(store, group.first().copied(), options.events),
            run(store, group.get(1).copied(), options.events),
            run(store, group.get(2).copied(), options.events),
            run(store, group.get(3).copied(), options.events)
        );
        for counts in [results.0, results.1, results.2, results.3] {
            let [created, updated, kept] = counts?;
            report.created += created;
            report.updated += updated;
            report.kept += kept;
        }
    }
    report.seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        movies = report.movies,
        ratings = report.ratings,
        created = report.created,
        updated = report.updated,
        kept = report.kept,
        seconds = report.seconds,
        "import done"
    );
    Ok(report)
}
