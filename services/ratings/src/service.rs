//! `cinerec.ratings.v1.RatingsService` over any [`RatingStore`]: requests are parsed into
//! domain types (INVALID_ARGUMENT naming the field), store errors are mapped here and only here
//! (NOT_FOUND, UNAVAILABLE, INTERNAL without internal detail; causes are logged).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use proto::ratings::v1::ratings_service_server::RatingsService;
use proto::ratings::v1::{
    DeleteRatingRequest, DeleteRatingResponse, GetMovieStatsRequest, ListMovieRatingsRequest,
    ListRatingsResponse, ListUserRatingsRequest, MovieStats as WireStats, Rating, SubmitRatingRequest,
    SubmitRatingResponse,
};
use tokio::sync::Notify;
use tonic::{Request, Response, Status};
use uuid::Uuid;

use contract::{ErrorKind, PublicError};

use crate::domain::{FieldError, MovieId, PageRequest, Review, Stars, UserId};
use crate::store::{NewRating, RatingStore, RatingsPage, StoreError, StoredRating, Submitted};

/// The gRPC service.
#[derive(Debug)]
pub struct RatingsGrpc<S> {
    store: Arc<S>,
    wake: Arc<Notify>,
}

impl<S> RatingsGrpc<S> {
    /// Serves `store`; `wake` is notified after every change (the outbox drainer waits on it).
    pub fn new(store: Arc<S>, wake: Arc<Notify>) -> Self {
        Self { store, wake }
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

fn invalid(err: FieldError) -> Status {
    err.into()
}

/// The status for a store error; the cause of UNAVAILABLE and INTERNAL is logged, not sent.
fn status(err: StoreError, rpc: &'static str) -> Status {
    let public = match err {
        StoreError::UnknownMovie(movie) => {
            PublicError::new(ErrorKind::NotFound, format!("movie {movie} is not in the catalogue"))
        }
        StoreError::NoSuchRating { user, movie } => {
            PublicError::new(ErrorKind::NotFound, format!("user {user} has not rated movie {movie}"))
        }
        StoreError::Unavailable { .. } => {
            tracing::warn!(rpc, %err, "ratings storage unavailable");
            PublicError::unavailable("ratings storage")
        }
        StoreError::Command { .. } | StoreError::Internal { .. } => {
            tracing::error!(rpc, %err, "ratings storage failed");
            PublicError::internal()
        }
    };
    public.into()
}

fn wire(r: StoredRating) -> Rating {
    Rating {
        user_id: r.user.get(),
        movie_id: r.movie.get(),
        rating: r.stars.value(),
        review: r.review,
        timestamp_ms: r.timestamp_ms,
    }
}

fn listing(page: RatingsPage, request: PageRequest) -> ListRatingsResponse {
    ListRatingsResponse {
        next_page_token: request.next_token(page.total),
        total: page.total,
        mean: page.stats.map_or(0.0, |s| s.mean()),
        ratings: page.ratings.into_iter().map(wire).collect(),
    }
}

#[tonic::async_trait]
impl<S: RatingStore> RatingsService for RatingsGrpc<S> {
    async fn submit_rating(
        &self,
        request: Request<SubmitRatingRequest>,
    ) -> Result<Response<SubmitRatingResponse>, Status> {
        let req = request.into_inner();
        let rating = NewRating {
            user: UserId::parse(req.user_id, "user_id").map_err(invalid)?,
            movie: MovieId::parse(req.movie_id, "movie_id").map_err(invalid)?,
            stars: Stars::parse(req.rating).map_err(invalid)?,
            review: Review::parse(req.review).map_err(invalid)?,
            timestamp_ms: now_ms(),
            event_id: Uuid::new_v4(),
        };
        let outcome = match self.store.submit(&rating).await {
            Ok(outcome) => outcome,
            // On a submit the movie is a request field: INVALID_ARGUMENT naming it.
            Err(StoreError::UnknownMovie(movie)) => {
                return Err(invalid(FieldError::new(
                    "movie_id",
                    format!("movie {movie} is not in the catalogue"),
                )));
            }
            Err(err) => return Err(status(err, "SubmitRating")),
        };
        self.wake.notify_one();
        tracing::debug!(user = rating.user.get(), movie = rating.movie.get(), ?outcome, "rating stored");
        Ok(Response::new(SubmitRatingResponse {
            updated: outcome == Submitted::Updated,
            event_id: rating.event_id.to_string(),
            rating: Some(wire(StoredRating {
                user: rating.user,
                movie: rating.movie,
                stars: rating.stars,
                review: rating.review.as_str().to_owned(),
                timestamp_ms: rating.timestamp_ms,
            })),
        }))
    }

    async fn delete_rating(
        &self,
        request: Request<DeleteRatingRequest>,
    ) -> Result<Response<DeleteRatingResponse>, Status> {
        let req = request.into_inner();
        let user = UserId::parse(req.user_id, "user_id").map_err(invalid)?;
        let movie = MovieId::parse(req.movie_id, "movie_id").map_err(invalid)?;
        let event_id = Uuid::new_v4();
        self.store.delete(user, movie, now_ms(), event_id).await.map_err(|e| status(e, "DeleteRating"))?;
        self.wake.notify_one();
        tracing::debug!(user = user.get(), movie = movie.get(), "rating deleted");
        Ok(Response::new(DeleteRatingResponse { event_id: event_id.to_string() }))
    }

    async fn list_user_ratings(
        &self,
        request: Request<ListUserRatingsRequest>,
    ) -> Result<Response<ListRatingsResponse>, Status> {
        let req = request.into_inner();
        let user = UserId::parse(req.user_id, "user_id").map_err(invalid)?;
        let page = PageRequest::parse(req.page_size, &req.page_token).map_err(invalid)?;
        let res = self.store.user_ratings(user, page).await.map_err(|e| status(e, "ListUserRatings"))?;
        Ok(Response::new(listing(res, page)))
    }

    async fn list_movie_ratings(
        &self,
        request: Request<ListMovieRatingsRequest>,
    ) -> Result<Response<ListRatingsResponse>, Status> {
        let req = request.into_inner();
        let movie = MovieId::parse(req.movie_id, "movie_id").map_err(invalid)?;
        let page = PageRequest::parse(req.page_size, &req.page_token).map_err(invalid)?;
        let res = self.store.movie_ratings(movie, page).await.map_err(|e| status(e, "ListMovieRatings"))?;
        Ok(Response::new(listing(res, page)))
    }

    async fn get_movie_stats(
        &self,
        request: Request<GetMovieStatsRequest>,
    ) -> Result<Response<WireStats>, Status> {
        let movie = MovieId::parse(request.into_inner().movie_id, "movie_id").map_err(invalid)?;
        let stats = self.store.movie_stats(movie).await.map_err(|e| status(e, "GetMovieStats"))?;
        Ok(Response::new(WireStats { movie_id: movie.get(), count: stats.count, mean: stats.mean() }))
    }
}
