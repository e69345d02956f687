//! The catalogue storage contract ([`MovieStore`]) and its errors. Every change writes its
//! `MovieEvent` to an outbox in the same transaction, so an event is published if and only if
//! the change committed; [`crate::outbox`] relays the outbox to Kafka. The PostgreSQL adapter
//! is [`crate::postgres::PgMovieStore`].

use crate::domain::{ListQuery, MediaKind, MediaObject, Movie, MovieFields, MovieId, SearchQuery};

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No movie has this id.
    #[error("movie {id} not found")]
    NotFound {
        /// The id asked for.
        id: MovieId,
    },
    /// A movie with this id exists already.
    #[error("movie {id} already exists")]
    AlreadyExists {
        /// The id asked for.
        id: MovieId,
    },
    /// The database could not be reached (down, refusing connections, pool exhausted) after
    /// the bounded retries.
    #[error("{operation}: the database is unavailable: {source}")]
    Unavailable {
        /// What was being done.
        operation: &'static str,
        /// The last error.
        #[source]
        source: sqlx::Error,
    },
    /// The database refused the statement (a bug or a schema mismatch).
    #[error("{operation}: database error: {source}")]
    Database {
        /// What was being done.
        operation: &'static str,
        /// The error.
        #[source]
        source: sqlx::Error,
    },
    /// Applying the embedded migrations failed.
    #[error("migrating the movies database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL could not be parsed (the URL itself is not repeated: it may hold a
    /// password).
    #[error("the database URL is invalid: {reason}")]
    InvalidUrl {
        /// What is wrong, without the URL.
        reason: String,
    },
}

/// One page of a listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    /// The movies, by increasing id.
    pub movies: Vec<Movie>,
    /// Whether more movies match after the last one.
    pub more: bool,
}

/// What an import batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UpsertCounts {
    /// New movies.
    pub inserted: usize,
    /// Existing movies whose fields changed.
    pub updated: usize,
    /// Existing movies left as they were.
    pub unchanged: usize,
}

impl std::ops::AddAssign for UpsertCounts {
    fn add_assign(&mut self, other: Self) {
        self.inserted += other.inserted;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// An encoded `MovieEvent` waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Position in the outbox (publish order).
    pub seq: i64,
    /// The movie (the Kafka key).
    pub movie_id: MovieId,
    /// Encoded `proto::events::v1::MovieEvent`.
    pub payload: Vec<u8>,
}

/// The catalogue. Every method retries transient failures a bounded number of times before
/// returning [`StoreError::Unavailable`].
/// Readiness ([`service_common::ReadinessProbe`]) is whether the database answers now.
pub trait MovieStore: service_common::ReadinessProbe {
    /// Adds a movie under `id`, or under the next free id when `None`; writes MovieCreated.
    fn create(
        &self,
        id: Option<MovieId>,
        fields: &MovieFields,
    ) -> impl Future<Output = Result<Movie, StoreError>> + Send;

    /// The movie with `id`.
    fn get(&self, id: MovieId) -> impl Future<Output = Result<Movie, StoreError>> + Send;

    /// Replaces title, year, genres and links; writes MovieUpdated.
    fn update(
        &self,
        id: MovieId,
        fields: &MovieFields,
    ) -> impl Future<Output = Result<Movie, StoreError>> + Send;

    /// Deletes the movie and returns it as it was; writes MovieDeleted.
    fn delete(&self, id: MovieId) -> impl Future<Output = Result<Movie, StoreError>> + Send;

    /// One page of movies matching `query`, by increasing id.
    fn list(&self, query: &ListQuery) -> impl Future<Output = Result<Page, StoreError>> + Send;

    /// Movies whose title matches `query`, best match first.
    fn search(&self, query: &SearchQuery) -> impl Future<Output = Result<Vec<Movie>, StoreError>> + Send;

    /// Points the movie's `kind` at `object`; returns the movie and the object it replaced.
    /// Writes MovieUpdated.
    fn set_media(
        &self,
        id: MovieId,
        kind: MediaKind,
        object: &MediaObject,
    ) -> impl Future<Output = Result<(Movie, Option<MediaObject>), StoreError>> + Send;

    /// Inserts or updates many movies; rows whose fields are unchanged are not touched and
    /// produce no event. Writes MovieCreated / MovieUpdated for the others.
    fn upsert_many(
        &self,
        movies: &[(MovieId, MovieFields)],
    ) -> impl Future<Output = Result<UpsertCounts, StoreError>> + Send;

    /// The oldest `limit` events not yet published, in publish order.
    fn pending_events(&self, limit: u32)
    -> impl Future<Output = Result<Vec<OutboxEvent>, StoreError>> + Send;

    /// Forgets published events.
    fn remove_events(&self, seqs: &[i64]) -> impl Future<Output = Result<(), StoreError>> + Send;
}
