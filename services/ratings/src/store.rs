//! The storage port of the service: [`RatingStore`] (ratings, reviews, movie aggregates and the
//! outbox of events those changes produce) and its records. [`crate::redis_store::RedisStore`]
//! implements it over Redis.

use uuid::Uuid;

use crate::domain::{MovieId, PageRequest, Review, Stars, UserId};

/// One stored rating.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredRating {
    /// Who rated.
    pub user: UserId,
    /// What.
    pub movie: MovieId,
    /// How many stars.
    pub stars: Stars,
    /// The review (empty when none).
    pub review: String,
    /// When, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// A rating to store, with the id of the event its change produces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewRating {
    /// Who rates.
    pub user: UserId,
    /// What.
    pub movie: MovieId,
    /// How many stars.
    pub stars: Stars,
    /// The review; it replaces any earlier one (empty removes it).
    pub review: Review,
    /// When, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Id of the `RatingEvent` written to the outbox with the change (a retried write reuses
    /// it, so consumers drop the repeat).
    pub event_id: Uuid,
}

/// What a submit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submitted {
    /// A new rating.
    Created,
    /// It replaced an earlier rating.
    Updated,
    /// (Imports only) the same or a newer rating was already stored; nothing changed.
    KeptNewer,
}

/// Number and sum of a movie's ratings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MovieStats {
    /// Ratings.
    pub count: u64,
    /// Sum of their half stars (exact).
    pub half_star_sum: u64,
}

impl MovieStats {
    /// Mean stars, 0 when there are no ratings.
    pub fn mean(&self) -> f64 {
        if self.count == 0 { 0.0 } else { self.half_star_sum as f64 / 2.0 / self.count as f64 }
    }
}

/// A page of a newest-first listing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RatingsPage {
    /// The ratings, newest first.
    pub ratings: Vec<StoredRating>,
    /// Ratings in the whole listing.
    pub total: u64,
    /// The movie's aggregate (movie listings only).
    pub stats: Option<MovieStats>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The movie is not in the catalogue of ratable movies.
    #[error("movie {0} is not in the catalogue")]
    UnknownMovie(MovieId),
    /// The user has no rating of the movie.
    #[error("user {user} has not rated movie {movie}")]
    NoSuchRating {
        /// The user.
        user: UserId,
        /// The movie.
        movie: MovieId,
    },
    /// The server could not be reached or did not answer, after the bounded retries.
    #[error("Redis is unavailable ({what}): {source}")]
    Unavailable {
        /// The operation.
        what: &'static str,
        /// The client's last error.
        #[source]
        source: fred::error::Error,
    },
    /// The server refused a command (a bug, a missing consumer group, a wrong-type key).
    #[error("Redis {what} failed: {source}")]
    Command {
        /// The operation.
        what: &'static str,
        /// The server's or client's error.
        #[source]
        source: fred::error::Error,
    },
    /// The server answered with data this code cannot read.
    #[error("Redis {what} failed: {reason}")]
    Internal {
        /// The operation.
        what: &'static str,
        /// What is wrong with the reply.
        reason: String,
    },
}

/// Storage of ratings with atomic aggregate updates and an outbox of rating events.
pub trait RatingStore: Send + Sync + 'static {
    /// Creates or replaces `rating` (the movie must be in the catalogue), updates the movie's
    /// aggregate and appends the `RatingEvent` to the outbox, all in one atomic step.
    fn submit(&self, rating: &NewRating) -> impl Future<Output = Result<Submitted, StoreError>> + Send;

    /// Deletes `user`'s rating of `movie` ([`StoreError::NoSuchRating`] if there is none),
    /// updates the aggregate and appends a deletion event stamped `timestamp_ms` with id
    /// `event_id`, atomically.
    fn delete(
        &self,
        user: UserId,
        movie: MovieId,
        timestamp_ms: i64,
        event_id: Uuid,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// A page of `user`'s ratings, newest first.
    fn user_ratings(
        &self,
        user: UserId,
        page: PageRequest,
    ) -> impl Future<Output = Result<RatingsPage, StoreError>> + Send;

    /// A page of `movie`'s ratings, newest first, with its aggregate
    /// ([`StoreError::UnknownMovie`] when it is not in the catalogue).
    fn movie_ratings(
        &self,
        movie: MovieId,
        page: PageRequest,
    ) -> impl Future<Output = Result<RatingsPage, StoreError>> + Send;

    /// `movie`'s aggregate ([`StoreError::UnknownMovie`] when it is not in the catalogue).
    fn movie_stats(&self, movie: MovieId) -> impl Future<Output = Result<MovieStats, StoreError>> + Send;

    /// Adds movies to the catalogue of ratable movies (idempotent).
    fn add_movies(&self, movies: &[MovieId]) -> impl Future<Output = Result<(), StoreError>> + Send;
}
