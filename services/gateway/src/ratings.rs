//! The caller's ratings: `PUT /api/v1/me/ratings/{movie_id}` (0.5–5.0 in half steps, optional
//! review), `DELETE /api/v1/me/ratings/{movie_id}`, `GET /api/v1/me/ratings?cursor=&limit=`;
//! and a movie's: `GET /api/v1/movies/{movie_id}/ratings?cursor=&limit=` (with mean and
//! count). A user changes only their own ratings: the user is the token's, never a parameter.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use contract::MovieId;
use proto::ratings::v1 as pb;
use serde::{Deserialize, Serialize};

use crate::app::AppState;
use crate::auth::Caller;
use crate::problem::Problem;

/// `PUT /me/ratings/{movie_id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// 0.5..=5.0 in half steps.
    pub rating: f32,
    /// Optional review text.
    #[serde(default)]
    pub review: String,
}

/// Page parameters: `cursor` from the previous page's `next_cursor`, `limit` 1..=1000.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// Where to continue.
    #[serde(default)]
    pub cursor: String,
    /// Page size (default 100).
    #[serde(default)]
    pub limit: u32,
}

/// A rating as JSON.
#[derive(Debug, Serialize, Deserialize)]
pub struct RatingView {
    /// Who rated.
    pub user_id: u64,
    /// What.
    pub movie_id: u64,
    /// 0.5..=5.0.
    pub rating: f32,
    /// Review text (empty when none).
    pub review: String,
    /// When, milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

impl From<pb::Rating> for RatingView {
    fn from(r: pb::Rating) -> Self {
        Self {
            user_id: r.user_id,
            movie_id: r.movie_id,
            rating: r.rating,
            review: r.review,
            timestamp_ms: r.timestamp_ms,
        }
    }
}

/// One page of ratings.
#[derive(Debug, Serialize, Deserialize)]
pub struct RatingsPageView {
    /// Newest first.
    pub ratings: Vec<RatingView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
    /// Ratings in total.
    pub total: u64,
    /// Mean rating (movie listings only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean: Option<f64>,
}

fn page(response: pb::ListRatingsResponse, with_mean: bool) -> RatingsPageView {
    RatingsPageView {
        ratings: response.ratings.into_iter().map(RatingView::from).collect(),
        next_cursor: (!response.next_page_token.is_empty()).then_some(response.next_page_token),
        total: response.total,
        mean: with_mean.then_some(response.mean),
    }
}

/// The movie id of the path, named `movie_id` when it is not one.
fn movie_id(path: Result<Path<u64>, PathRejection>) -> Result<MovieId, Problem> {
    let Path(id) = path.map_err(|_| Problem::invalid("movie_id", "must be a positive integer"))?;
    Ok(MovieId::parse(id, "movie_id")?)
}

fn page_query(query: Result<Query<PageQuery>, QueryRejection>) -> Result<PageQuery, Problem> {
    let Query(query) = query.map_err(|rejection| Problem::invalid("query", rejection.body_text()))?;
    Ok(query)
}

/// Creates or changes the caller's rating: 201 when new, 200 when it replaced one.
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<u64>, PathRejection>,
    body: Result<Json<RatingBody>, JsonRejection>,
) -> Result<(StatusCode, Json<RatingView>), Problem> {
    let movie = movie_id(path)?;
    let Json(body) = body?;
    let request = pb::SubmitRatingRequest {
        user_id: caller.user_id.get(),
        movie_id: movie.get(),
        rating: body.rating,
        review: body.review,
    };
    let response =
        state.upstreams.ratings().submit_rating(state.upstreams.request(request)).await?.into_inner();
    let status = if response.updated { StatusCode::OK } else { StatusCode::CREATED };
    let rating = response.rating.ok_or_else(|| Problem::from(contract::PublicError::internal()))?;
    Ok((status, Json(rating.into())))
}

/// Deletes the caller's rating (204; 404 when there is none).
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<u64>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let movie = movie_id(path)?;
    let request = pb::DeleteRatingRequest { user_id: caller.user_id.get(), movie_id: movie.get() };
    state.upstreams.ratings().delete_rating(state.upstreams.request(request)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's ratings, newest first.
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<RatingsPageView>, Problem> {
    let query = page_query(query)?;
    let request = pb::ListUserRatingsRequest {
        user_id: caller.user_id.get(),
        page_size: query.limit,
        page_token: query.cursor,
    };
    let response = state.upstreams.ratings().list_user_ratings(state.upstreams.request(request)).await?;
    Ok(Json(page(response.into_inner(), false)))
}

/// A movie's ratings, newest first, with mean and count (no authentication needed).
pub async fn of_movie(
    State(state): State<AppState>,
    path: Result<Path<u64>, PathRejection>,
    query: Result<Query<PageQuery>, QueryRejection>,
) -> Result<Json<RatingsPageView>, Problem> {
    let movie = movie_id(path)?;
    let query = page_query(query)?;
    let request = pb::ListMovieRatingsRequest {
        movie_id: movie.get(),
        page_size: query.limit,
        page_token: query.cursor,
    };
    let response = state.upstreams.ratings().list_movie_ratings(state.upstreams.request(request)).await?;
    Ok(Json(page(response.into_inner(), true)))
}
