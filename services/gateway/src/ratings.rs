//! Ratings. The caller's: `PUT /api/v1/me/ratings/{movie_id}` (0.5–5.0 in half steps, optional
//! review), `DELETE /api/v1/me/ratings/{movie_id}`, `GET /api/v1/me/ratings?cursor=&limit=`.
//! Any user's, by id: `PUT|DELETE /api/v1/users/{user_id}/ratings/{movie_id}` and
//! `GET /api/v1/users/{user_id}/ratings` (that user's own token, or an API key with `write` /
//! `read`: 403 for anyone else). A movie's: `GET /api/v1/movies/{movie_id}/ratings` (with mean
//! and count).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use contract::{MovieId, UserId};
use proto::ratings::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::{Caller, Principal, Scope};
use crate::movies::movie_id;
use crate::problem::{Problem, ProblemDoc};
use crate::query::QueryParams;

/// `PUT /me/ratings/{movie_id}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RatingBody {
    /// 0.5..=5.0 in half steps.
    pub rating: f32,
    /// Optional review text.
    #[serde(default)]
    pub review: String,
}

/// Page parameters (documentation; read by [`QueryParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1..=1000 (default 100).
    limit: Option<u32>,
}

/// `cursor` and `limit`.
fn page_params(mut params: QueryParams) -> Result<(String, u32), Problem> {
    let cursor = params.text("cursor").unwrap_or_default();
    let limit = params.int_in("limit", 1..=1000).unwrap_or(0);
    params.finish()?;
    Ok((cursor, limit))
}

/// A rating as JSON.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, Deserialize, ToSchema)]
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

/// The user id of a `/users/{user_id}/…` path.
fn user_id(id: u64) -> Result<UserId, Problem> {
    Ok(UserId::parse(id, "user_id")?)
}

async fn put_for(
    state: &AppState,
    user: UserId,
    movie: MovieId,
    body: Result<Json<RatingBody>, JsonRejection>,
) -> Result<(StatusCode, Json<RatingView>), Problem> {
    let Json(body) = body?;
    let request = pb::SubmitRatingRequest {
        user_id: user.get(),
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

async fn delete_for(state: &AppState, user: UserId, movie: MovieId) -> Result<StatusCode, Problem> {
    let request = pb::DeleteRatingRequest { user_id: user.get(), movie_id: movie.get() };
    state.upstreams.ratings().delete_rating(state.upstreams.request(request)).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn list_for(
    state: &AppState,
    user: UserId,
    params: QueryParams,
) -> Result<Json<RatingsPageView>, Problem> {
    let (page_token, page_size) = page_params(params)?;
    let request = pb::ListUserRatingsRequest { user_id: user.get(), page_size, page_token };
    let response = state.upstreams.ratings().list_user_ratings(state.upstreams.request(request)).await?;
    Ok(Json(page(response.into_inner(), false)))
}

/// Creates or changes the caller's rating: 201 when new, 200 when it replaced one.
#[utoipa::path(put, path = "/me/ratings/{movie_id}", tag = "ratings", request_body = RatingBody,
    params(("movie_id" = u64, Path, description = "Movie id")), security(("bearer" = [])),
    responses((status = 201, body = RatingView), (status = 200, body = RatingView),
        (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn put(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<u64>, PathRejection>,
    body: Result<Json<RatingBody>, JsonRejection>,
) -> Result<(StatusCode, Json<RatingView>), Problem> {
    put_for(&state, caller.user_id, movie_id(path)?, body).await
}

/// Deletes the caller's rating (204; 404 when there is none).
#[utoipa::path(delete, path = "/me/ratings/{movie_id}", tag = "ratings",
    params(("movie_id" = u64, Path, description = "Movie id")), security(("bearer" = [])),
    responses((status = 204), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<u64>, PathRejection>,
) -> Result<StatusCode, Problem> {
    delete_for(&state, caller.user_id, movie_id(path)?).await
}

/// The caller's ratings, newest first.
#[utoipa::path(get, path = "/me/ratings", tag = "ratings", params(PageQuery), security(("bearer" = [])),
    responses((status = 200, body = RatingsPageView), (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<RatingsPageView>, Problem> {
    list_for(&state, caller.user_id, params).await
}

/// Creates or changes a user's rating: that user, or an API key with `write` (403 otherwise).
#[utoipa::path(put, path = "/users/{user_id}/ratings/{movie_id}", tag = "ratings", request_body = RatingBody,
    params(("user_id" = u64, Path, description = "User id"), ("movie_id" = u64, Path, description = "Movie id")),
    security(("bearer" = []), ("api_key" = ["write"])),
    responses((status = 201, body = RatingView), (status = 200, body = RatingView),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn put_user(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<(u64, u64)>, PathRejection>,
    body: Result<Json<RatingBody>, JsonRejection>,
) -> Result<(StatusCode, Json<RatingView>), Problem> {
    let (user, movie) = user_movie(path)?;
    principal.may_act_for(user, Scope::Write)?;
    put_for(&state, user, movie, body).await
}

/// Deletes a user's rating: that user, or an API key with `write`.
#[utoipa::path(delete, path = "/users/{user_id}/ratings/{movie_id}", tag = "ratings",
    params(("user_id" = u64, Path, description = "User id"), ("movie_id" = u64, Path, description = "Movie id")),
    security(("bearer" = []), ("api_key" = ["write"])),
    responses((status = 204), (status = 403, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn delete_user(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<(u64, u64)>, PathRejection>,
) -> Result<StatusCode, Problem> {
    let (user, movie) = user_movie(path)?;
    principal.may_act_for(user, Scope::Write)?;
    delete_for(&state, user, movie).await
}

/// A user's ratings, newest first: that user, or an API key with `read`.
#[utoipa::path(get, path = "/users/{user_id}/ratings", tag = "ratings",
    params(("user_id" = u64, Path, description = "User id"), PageQuery),
    security(("bearer" = []), ("api_key" = ["read"])),
    responses((status = 200, body = RatingsPageView), (status = 403, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn of_user(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<u64>, PathRejection>,
    params: QueryParams,
) -> Result<Json<RatingsPageView>, Problem> {
    let Path(id) = path.map_err(|_| Problem::invalid("user_id", "must be a positive integer"))?;
    let user = user_id(id)?;
    principal.may_act_for(user, Scope::Read)?;
    list_for(&state, user, params).await
}

fn user_movie(path: Result<Path<(u64, u64)>, PathRejection>) -> Result<(UserId, MovieId), Problem> {
    let Path((user, movie)) =
        path.map_err(|_| Problem::invalid("path", "user_id and movie_id must be positive integers"))?;
    Ok((user_id(user)?, MovieId::parse(movie, "movie_id")?))
}

/// A movie's ratings, newest first, with mean and count (no authentication needed).
#[utoipa::path(get, path = "/movies/{movie_id}/ratings", tag = "ratings",
    params(("movie_id" = u64, Path, description = "Movie id"), PageQuery),
    responses((status = 200, body = RatingsPageView), (status = 400, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn of_movie(
    State(state): State<AppState>,
    path: Result<Path<u64>, PathRejection>,
    params: QueryParams,
) -> Result<Json<RatingsPageView>, Problem> {
    let movie = movie_id(path)?;
    let (page_token, page_size) = page_params(params)?;
    let request = pb::ListMovieRatingsRequest { movie_id: movie.get(), page_size, page_token };
    let response = state.upstreams.ratings().list_movie_ratings(state.upstreams.request(request)).await?;
    Ok(Json(page(response.into_inner(), true)))
}
