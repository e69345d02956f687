//! Recommendation lists from the serving service:
//!
//! - `GET /api/v1/me/recommendations?n=&offset=&genre=`: the signed-in user's list, from the
//!   model's vector for a user it was trained on, a vector folded in from the user's ratings
//!   since (they reach serving as rating events), or the most popular movies; the source is
//!   named in the answer.
//! - `GET /api/v1/me/recommendations/{movie_id}/why`: which of the user's movies made it score.
//! - `POST /api/v1/recommendations/session`: an anonymous visitor's list from the movies they
//!   liked (folded in, nothing stored), like Gorse's session recommendations.
//! - `GET /api/v1/movies/popular?n=&genre=` and `GET /api/v1/movies/{movie_id}/similar?n=`.
//!
//! Every list carries a `recommendation_id` and the `model_version`, and is published as a
//! `RecommendationServed` impression ([`crate::impressions`]).

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use contract::{ErrorKind, FieldError, PublicError};
use proto::recommendation::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Caller;
use crate::impressions::Served;
use crate::movies::{genre_param, movie_id};
use crate::problem::{Problem, ProblemDoc};
use crate::query::QueryParams;

/// Largest list.
pub const MAX_N: u32 = 100;
/// Largest offset (deeper pages are not useful recommendations).
pub const MAX_OFFSET: u32 = 900;
/// How many candidates are asked for when a genre filter thins the list (serving's maximum).
const GENRE_CANDIDATES: u32 = 1000;

/// How a list was made.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The model's vector for a user it was trained on ("your history").
    Model,
    /// A vector folded in from recent ratings or liked movies ("your recent ratings").
    FoldIn,
    /// The most popular movies.
    Popularity,
    /// Movies like a given movie.
    Similar,
}

impl Source {
    /// The source of a serving answer.
    pub(crate) fn from_wire(source: i32) -> Self {
        match pb::Source::try_from(source) {
            Ok(pb::Source::Model) => Self::Model,
            Ok(pb::Source::FoldIn) => Self::FoldIn,
            _ => Self::Popularity,
        }
    }

    /// The name in JSON and impression events.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Model => "model",
            Self::FoldIn => "fold_in",
            Self::Popularity => "popularity",
            Self::Similar => "similar",
        }
    }

    /// How a page names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Model => "your history",
            Self::FoldIn => "your recent ratings",
            Self::Popularity => "popular now",
            Self::Similar => "more like this",
        }
    }
}

/// One recommended movie.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecommendedMovie {
    /// Movie id.
    pub movie_id: u64,
    /// Title (from the catalogue; the model's own when the catalogue lacks the movie).
    pub title: String,
    /// Release year, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// Genres (empty when the catalogue lacks the movie).
    pub genres: Vec<String>,
    /// The model's score, comparable only within one list.
    pub score: f32,
    /// 0-based position in this list.
    pub position: u32,
}

/// A recommendation list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RecommendationList {
    /// This list's id: send it with what the user does next so analytics can join the two.
    pub recommendation_id: String,
    /// Version of the model that made it.
    pub model_version: String,
    /// How it was made.
    pub source: Source,
    /// The source as a page would name it.
    pub source_label: String,
    /// Best first.
    pub movies: Vec<RecommendedMovie>,
    /// The anonymous visitor's id (session lists only): send it back with the next request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub anonymous_id: Option<String>,
}

/// Who a list is for, in its impression event.
pub(crate) enum Audience {
    /// A signed-in user.
    User(u64),
    /// An anonymous visitor with this id.
    Anonymous(String),
    /// Nobody in particular (popular and similar movies).
    Everyone,
}

/// Builds the list (titles, years and genres from the catalogue), publishes its impression and
/// returns it.
pub(crate) async fn serve(
    state: &AppState,
    audience: Audience,
    surface: &'static str,
    source: Source,
    model_version: String,
    movies: impl Iterator<Item = pb::ScoredMovie>,
) -> RecommendationList {
    let movies: Vec<pb::ScoredMovie> = movies.collect();
    let ids: Vec<u64> = movies.iter().map(|m| m.movie_id).collect();
    let summaries = state.summaries.get_many(state, &ids).await;
    let movies: Vec<RecommendedMovie> = movies
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let summary = summaries.get(&m.movie_id);
            RecommendedMovie {
                movie_id: m.movie_id,
                title: summary.map_or(m.title, |s| s.title.clone()),
                year: summary.and_then(|s| s.year),
                genres: summary.map_or_else(Vec::new, |s| s.genres.clone()),
                score: m.score,
                position: i as u32,
            }
        })
        .collect();
    let recommendation_id = uuid::Uuid::new_v4().to_string();
    let (user_id, anonymous_id) = match audience {
        Audience::User(id) => (Some(id), None),
        Audience::Anonymous(id) => (None, Some(id)),
        Audience::Everyone => (None, None),
    };
    state.impressions.record(Served {
        recommendation_id: recommendation_id.clone(),
        user_id,
        anonymous_id: anonymous_id.clone(),
        model_version: model_version.clone(),
        source: source.as_str(),
        surface,
        movie_ids: movies.iter().map(|m| m.movie_id).collect(),
    });
    RecommendationList {
        recommendation_id,
        model_version,
        source,
        source_label: source.label().to_owned(),
        movies,
        anonymous_id,
    }
}

/// Query of the list routes (documentation; read by [`QueryParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListQuery {
    /// How many, 1..=100 (default 10).
    n: Option<u32>,
    /// Skip this many first, 0..=900 (`GET /me/recommendations` only).
    offset: Option<u32>,
    /// Only movies of this MovieLens genre.
    genre: Option<String>,
}

/// `n`, `offset` and `genre` of a list route.
pub(crate) struct ListParams {
    /// How many.
    pub n: u32,
    /// Skip this many first.
    pub offset: u32,
    /// Only movies of this genre.
    pub genre: Option<&'static str>,
}

fn list_params(mut params: QueryParams, with_offset: bool, with_genre: bool) -> Result<ListParams, Problem> {
    let n = params.int_in("n", 1..=MAX_N).unwrap_or(10);
    let offset = if with_offset { params.int_in("offset", 0..=MAX_OFFSET).unwrap_or(0) } else { 0 };
    let genre = if with_genre { genre_param(&mut params, "genre") } else { None };
    params.finish()?;
    Ok(ListParams { n, offset, genre })
}

/// Asks serving for `user_id`'s list (0: nobody, i.e. popularity; `liked`: fold-in) and applies
/// the offset and the genre filter.
pub(crate) async fn recommend(
    state: &AppState,
    user_id: u64,
    liked: Vec<u64>,
    list: &ListParams,
) -> Result<(pb::RecommendResponse, Vec<pb::ScoredMovie>), Problem> {
    let wanted = list.offset + list.n;
    let request = pb::RecommendRequest {
        user_id,
        n: if list.genre.is_some() { GENRE_CANDIDATES } else { wanted },
        recent_movie_ids: liked,
        ..Default::default()
    };
    let mut response =
        state.upstreams.serving().recommend(state.upstreams.request(request)).await?.into_inner();
    let candidates = std::mem::take(&mut response.movies);
    let in_genre = match list.genre {
        Some(genre) => Some(state.genres.movies_of(state, genre).await?),
        None => None,
    };
    let movies = candidates
        .into_iter()
        .filter(|m| in_genre.as_ref().is_none_or(|ids| ids.contains(&m.movie_id)))
        .skip(list.offset as usize)
        .take(list.n as usize)
        .collect();
    Ok((response, movies))
}

/// The signed-in user's recommendations.
#[utoipa::path(get, path = "/me/recommendations", tag = "recommendations", params(ListQuery),
    security(("bearer" = [])),
    responses((status = 200, body = RecommendationList), (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn mine(
    State(state): State<AppState>,
    caller: Caller,
    params: QueryParams,
) -> Result<Json<RecommendationList>, Problem> {
    let list = list_params(params, true, true)?;
    let user = caller.user_id.get();
    let (response, movies) = recommend(&state, user, Vec::new(), &list).await?;
    let source = Source::from_wire(response.source);
    Ok(Json(
        serve(&state, Audience::User(user), "me", source, response.model_version, movies.into_iter()).await,
    ))
}

/// Why a movie is recommended to the caller.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WhyView {
    /// The movie asked about.
    pub movie_id: u64,
    /// Its score for the caller.
    pub score: f32,
    /// The caller's movies that raised it most, largest share first.
    pub because: Vec<Because>,
    /// Version of the model that answered.
    pub model_version: String,
}

/// One movie's share of a score.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Because {
    /// One of the caller's movies.
    pub movie_id: u64,
    /// Its title.
    pub title: String,
    /// Its share of the score.
    pub contribution: f32,
}

/// Which of the caller's movies made `movie_id` score (the top 5).
#[utoipa::path(get, path = "/me/recommendations/{movie_id}/why", tag = "recommendations",
    params(("movie_id" = u64, Path, description = "A recommended movie")), security(("bearer" = [])),
    responses((status = 200, body = WhyView), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn why(
    State(state): State<AppState>,
    caller: Caller,
    path: Result<Path<u64>, PathRejection>,
    params: QueryParams,
) -> Result<Json<WhyView>, Problem> {
    let movie_id = movie_id(path)?.get();
    params.finish()?;
    let request = pb::ExplainRequest { user_id: caller.user_id.get(), movie_id, n: 5, ..Default::default() };
    let answer = state.upstreams.serving().explain(state.upstreams.request(request)).await?.into_inner();
    Ok(Json(WhyView {
        movie_id,
        score: answer.score,
        because: answer
            .contributions
            .into_iter()
            .map(|c| Because { movie_id: c.movie_id, title: c.title, contribution: c.contribution })
            .collect(),
        model_version: answer.model_version,
    }))
}

/// `POST /recommendations/session`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionBody {
    /// Movies the visitor liked, 1..=100 ids.
    pub liked_movie_ids: Vec<u64>,
    /// How many, 1..=100 (default 10).
    #[serde(default)]
    pub n: Option<u32>,
    /// The id the previous answer gave (1..=64 of `[A-Za-z0-9_-]`); a new one when absent.
    #[serde(default)]
    pub anonymous_id: Option<String>,
}

/// An anonymous visitor's recommendations from the movies they liked.
#[utoipa::path(post, path = "/recommendations/session", tag = "recommendations", request_body = SessionBody,
    responses((status = 200, body = RecommendationList), (status = 400, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn session(
    State(state): State<AppState>,
    body: Result<Json<SessionBody>, JsonRejection>,
) -> Result<Json<RecommendationList>, Problem> {
    let Json(body) = body?;
    let mut errors = Vec::new();
    if body.liked_movie_ids.is_empty() || body.liked_movie_ids.len() > 100 {
        errors.push(FieldError::new("liked_movie_ids", "must hold 1 to 100 movie ids"));
    }
    let n = body.n.unwrap_or(10);
    if !(1..=MAX_N).contains(&n) {
        errors.push(FieldError::new("n", format!("must be from 1 to {MAX_N}, got {n}")));
    }
    let anonymous_id = body.anonymous_id.unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if !(1..=64).contains(&anonymous_id.len())
        || !anonymous_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        errors.push(FieldError::new("anonymous_id", "must be 1 to 64 of A-Z, a-z, 0-9, _ and -"));
    }
    if !errors.is_empty() {
        let mut error = PublicError::new(ErrorKind::Invalid, "invalid session request");
        error.fields = errors;
        return Err(error.into());
    }
    let list = ListParams { n, offset: 0, genre: None };
    let (response, movies) =
        recommend(&state, 0, body.liked_movie_ids, &list).await.map_err(|mut problem| {
            for field in &mut problem.error.fields {
                if field.field == "recent_movie_ids" {
                    field.field = "liked_movie_ids".into();
                }
            }
            problem
        })?;
    let source = Source::from_wire(response.source);
    let audience = Audience::Anonymous(anonymous_id);
    Ok(Json(serve(&state, audience, "session", source, response.model_version, movies.into_iter()).await))
}

/// The most popular movies, optionally of one genre.
#[utoipa::path(get, path = "/movies/popular", tag = "recommendations", params(ListQuery),
    responses((status = 200, body = RecommendationList), (status = 400, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn popular(
    State(state): State<AppState>,
    params: QueryParams,
) -> Result<Json<RecommendationList>, Problem> {
    let list = list_params(params, false, true)?;
    let (response, movies) = recommend(&state, 0, Vec::new(), &list).await?;
    Ok(Json(
        serve(
            &state,
            Audience::Everyone,
            "popular",
            Source::Popularity,
            response.model_version,
            movies.into_iter(),
        )
        .await,
    ))
}

/// Movies like this one ("more like this").
#[utoipa::path(get, path = "/movies/{movie_id}/similar", tag = "recommendations",
    params(("movie_id" = u64, Path, description = "Movie id"), ("n" = Option<u32>, Query, description = "How many, 1..=100 (default 10)")),
    responses((status = 200, body = RecommendationList), (status = 400, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn similar(
    State(state): State<AppState>,
    path: Result<Path<u64>, PathRejection>,
    params: QueryParams,
) -> Result<Json<RecommendationList>, Problem> {
    let movie_id = movie_id(path)?.get();
    let list = list_params(params, false, false)?;
    let request = pb::SimilarMoviesRequest { movie_id, n: list.n };
    let answer =
        state.upstreams.serving().similar_movies(state.upstreams.request(request)).await?.into_inner();
    Ok(Json(
        serve(
            &state,
            Audience::Everyone,
            "similar",
            Source::Similar,
            answer.model_version,
            answer.movies.into_iter(),
        )
        .await,
    ))
}
