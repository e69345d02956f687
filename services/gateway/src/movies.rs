//! The catalogue: `GET /api/v1/movies?q=&genre=&year=&cursor=&limit=` (title search when `q` is
//! given, else pages filtered by genre and year), `GET /api/v1/movies/{movie_id}` (with
//! short-lived poster and trailer URLs), and, with an `admin` API key, `POST /api/v1/movies`,
//! `POST|PATCH|DELETE /api/v1/movies/{movie_id}` and `PUT /api/v1/movies/{movie_id}/poster|trailer`
//! (the body is the file, read as a stream up to the movies service's limit for the kind:
//! 413 beyond, 415 for a type the kind does not take).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use contract::MovieId;
use contract::media::MediaKind;
use proto::movies::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::app::AppState;
use crate::auth::Principal;
use crate::problem::{Problem, ProblemDoc};
use crate::query::QueryParams;

/// Largest page of `GET /movies` (the movies service's maximum).
pub const MAX_PAGE: u32 = 500;
/// Largest title search.
pub const MAX_SEARCH: u32 = 100;
/// How long a genre's movie ids are reused for genre-filtered recommendations.
const GENRE_INDEX_TTL: Duration = Duration::from_secs(300);

/// A movie as JSON.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MovieView {
    /// MovieLens id (or the catalogue's own for new movies).
    pub movie_id: u64,
    /// Title without the year.
    pub title: String,
    /// Release year, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    /// MovieLens genres.
    pub genres: Vec<String>,
    /// IMDb id such as `tt0114709`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub imdb_id: Option<String>,
    /// TMDb id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmdb_id: Option<u64>,
    /// Short-lived URL of the poster, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poster_url: Option<String>,
    /// Short-lived URL of the trailer, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trailer_url: Option<String>,
}

fn non_empty(text: String) -> Option<String> {
    (!text.is_empty()).then_some(text)
}

impl From<pb::Movie> for MovieView {
    fn from(m: pb::Movie) -> Self {
        Self {
            movie_id: m.movie_id,
            title: m.title,
            year: (m.year != 0).then_some(m.year),
            genres: m.genres,
            imdb_id: non_empty(m.imdb_id),
            tmdb_id: (m.tmdb_id != 0).then_some(m.tmdb_id),
            poster_url: non_empty(m.poster_url),
            trailer_url: non_empty(m.trailer_url),
        }
    }
}

/// A page of movies.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MoviesPageView {
    /// Best match first for a search; by id for pages.
    pub movies: Vec<MovieView>,
    /// Pass as `cursor` for the next page; absent on the last (and for searches).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Query of `GET /movies` (documentation; read by [`QueryParams`]).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct MoviesQuery {
    /// Words of the title (quotes, `%` and the like are ordinary characters).
    q: Option<String>,
    /// A MovieLens genre, e.g. `Comedy` (case-insensitive).
    genre: Option<String>,
    /// Release year.
    year: Option<i32>,
    /// `next_cursor` of the previous page (pages only).
    cursor: Option<String>,
    /// Page size, 1..=500 (default 50; searches at most 100, default 20).
    limit: Option<u32>,
}

/// The genre named by `text`, canonical, or an error about `field`.
pub fn genre_param(params: &mut QueryParams, field: &str) -> Option<&'static str> {
    let text = params.text(field).filter(|g| !g.is_empty())?;
    let genre = contract::canonical_genre(&text);
    if genre.is_none() {
        params.reject(field, format!("{text:?} is not a genre (one of {})", contract::GENRES.join(", ")));
    }
    genre
}

/// Searches titles or pages through the catalogue.
#[utoipa::path(get, path = "/movies", tag = "movies", params(MoviesQuery),
    responses((status = 200, body = MoviesPageView), (status = 400, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn list(
    State(state): State<AppState>,
    mut params: QueryParams,
) -> Result<Json<MoviesPageView>, Problem> {
    let q = params.text("q").unwrap_or_default();
    let genre = genre_param(&mut params, "genre");
    let year = params.parse::<i32>("year", "a year such as 1995");
    let cursor = params.text("cursor").unwrap_or_default();
    let q = q.trim().to_owned();
    let limit = params.int_in("limit", 1..=if q.is_empty() { MAX_PAGE } else { MAX_SEARCH });
    params.finish()?;
    if q.is_empty() {
        let request = pb::ListMoviesRequest {
            page_size: limit.unwrap_or(0),
            page_token: cursor,
            genre: genre.unwrap_or_default().to_owned(),
            year_from: year.unwrap_or(0),
            year_to: year.unwrap_or(0),
        };
        let page = state.upstreams.movies().list_movies(state.upstreams.request(request)).await?.into_inner();
        return Ok(Json(MoviesPageView {
            movies: page.movies.into_iter().map(MovieView::from).collect(),
            next_cursor: non_empty(page.next_page_token),
        }));
    }
    let request = pb::SearchMoviesRequest { query: q, limit: limit.unwrap_or(0) };
    let found = state.upstreams.movies().search_movies(state.upstreams.request(request)).await?.into_inner();
    let movies = found
        .movies
        .into_iter()
        .filter(|m| genre.is_none_or(|g| m.genres.iter().any(|mg| mg == g)))
        .filter(|m| year.is_none_or(|y| m.year == y))
        .map(MovieView::from)
        .collect();
    Ok(Json(MoviesPageView { movies, next_cursor: None }))
}

/// The movie id of the path, named `movie_id` when it is not one.
pub fn movie_id(path: Result<Path<u64>, PathRejection>) -> Result<MovieId, Problem> {
    let Path(id) = path.map_err(|_| Problem::invalid("movie_id", "must be a positive integer"))?;
    Ok(MovieId::parse(id, "movie_id")?)
}

/// One movie (404 when unknown).
#[utoipa::path(get, path = "/movies/{movie_id}", tag = "movies",
    params(("movie_id" = u64, Path, description = "Movie id")),
    responses((status = 200, body = MovieView), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn get(
    State(state): State<AppState>,
    path: Result<Path<u64>, PathRejection>,
) -> Result<Json<MovieView>, Problem> {
    let movie_id = movie_id(path)?.get();
    let movie =
        state.upstreams.movies().get_movie(state.upstreams.request(pb::GetMovieRequest { movie_id })).await?;
    Ok(Json(movie.into_inner().into()))
}

/// A new or changed movie (`PATCH`: absent fields stay as they are).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MovieBody {
    /// Title without the year (required when creating).
    pub title: Option<String>,
    /// Release year.
    pub year: Option<i32>,
    /// MovieLens genres.
    pub genres: Option<Vec<String>>,
    /// IMDb id.
    pub imdb_id: Option<String>,
    /// TMDb id.
    pub tmdb_id: Option<u64>,
}

impl MovieBody {
    fn apply(self, movie: &mut pb::Movie) {
        if let Some(title) = self.title {
            movie.title = title;
        }
        if let Some(year) = self.year {
            movie.year = year;
        }
        if let Some(genres) = self.genres {
            movie.genres = genres;
        }
        if let Some(imdb_id) = self.imdb_id {
            movie.imdb_id = imdb_id;
        }
        if let Some(tmdb_id) = self.tmdb_id {
            movie.tmdb_id = tmdb_id;
        }
    }
}

async fn create_with_id(
    state: &AppState,
    movie_id: u64,
    body: MovieBody,
) -> Result<(StatusCode, Json<MovieView>), Problem> {
    let mut movie = pb::Movie { movie_id, ..Default::default() };
    body.apply(&mut movie);
    let request = pb::CreateMovieRequest { movie: Some(movie) };
    let created = state.upstreams.movies().create_movie(state.upstreams.request(request)).await?;
    Ok((StatusCode::CREATED, Json(created.into_inner().into())))
}

/// Adds a movie with an id the catalogue picks (admin).
#[utoipa::path(post, path = "/movies", tag = "movies", request_body = MovieBody,
    security(("api_key" = ["admin"])),
    responses((status = 201, body = MovieView), (status = 400, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 403, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    body: Result<Json<MovieBody>, JsonRejection>,
) -> Result<(StatusCode, Json<MovieView>), Problem> {
    principal.require_admin()?;
    let Json(body) = body?;
    create_with_id(&state, 0, body).await
}

/// Adds a movie with this id (admin; 409 when it exists).
#[utoipa::path(post, path = "/movies/{movie_id}", tag = "movies", request_body = MovieBody,
    params(("movie_id" = u64, Path, description = "Movie id")), security(("api_key" = ["admin"])),
    responses((status = 201, body = MovieView), (status = 409, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn create_at(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<u64>, PathRejection>,
    body: Result<Json<MovieBody>, JsonRejection>,
) -> Result<(StatusCode, Json<MovieView>), Problem> {
    principal.require_admin()?;
    let movie_id = movie_id(path)?.get();
    let Json(body) = body?;
    create_with_id(&state, movie_id, body).await
}

/// Changes the given fields of a movie (admin).
#[utoipa::path(patch, path = "/movies/{movie_id}", tag = "movies", request_body = MovieBody,
    params(("movie_id" = u64, Path, description = "Movie id")), security(("api_key" = ["admin"])),
    responses((status = 200, body = MovieView), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn update(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<u64>, PathRejection>,
    body: Result<Json<MovieBody>, JsonRejection>,
) -> Result<Json<MovieView>, Problem> {
    principal.require_admin()?;
    let movie_id = movie_id(path)?.get();
    let Json(body) = body?;
    let mut movies = state.upstreams.movies();
    let mut movie =
        movies.get_movie(state.upstreams.request(pb::GetMovieRequest { movie_id })).await?.into_inner();
    body.apply(&mut movie);
    movie.poster_url.clear();
    movie.trailer_url.clear();
    let request = pb::UpdateMovieRequest { movie: Some(movie) };
    let updated = movies.update_movie(state.upstreams.request(request)).await?.into_inner();
    state.summaries.forget(movie_id);
    Ok(Json(updated.into()))
}

/// Deletes a movie and its media (admin; 204).
#[utoipa::path(delete, path = "/movies/{movie_id}", tag = "movies",
    params(("movie_id" = u64, Path, description = "Movie id")), security(("api_key" = ["admin"])),
    responses((status = 204), (status = 404, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<u64>, PathRejection>,
) -> Result<StatusCode, Problem> {
    principal.require_admin()?;
    let movie_id = movie_id(path)?.get();
    state
        .upstreams
        .movies()
        .delete_movie(state.upstreams.request(pb::DeleteMovieRequest { movie_id }))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads an upload of `kind`: its type must be one the kind takes (415), its size at most the
/// kind's limit (413, from `Content-Length` before reading when given, else while streaming).
async fn upload(
    state: &AppState,
    principal: &Principal,
    path: Result<Path<u64>, PathRejection>,
    headers: &HeaderMap,
    body: Body,
    kind: MediaKind,
) -> Result<Json<MovieView>, Problem> {
    principal.require_admin()?;
    let movie_id = movie_id(path)?.get();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let formats = kind.formats();
    if !formats.iter().any(|(mime, _)| *mime == content_type) {
        let accepted: Vec<&str> = formats.iter().map(|(mime, _)| *mime).collect();
        return Err(Problem::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("a {kind} must be one of {}, got {content_type:?}", accepted.join(", ")),
        ));
    }
    let too_large = || {
        Problem::with_status(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("a {kind} may be at most {} bytes", kind.max_bytes()),
        )
    };
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > kind.max_bytes()) {
        return Err(too_large());
    }
    let data = axum::body::to_bytes(body, kind.max_bytes()).await.map_err(|_| too_large())?;
    let proto_kind = match kind {
        MediaKind::Poster => pb::MediaKind::Poster,
        MediaKind::Trailer => pb::MediaKind::Trailer,
    };
    let request =
        pb::UploadMediaRequest { movie_id, kind: proto_kind as i32, content_type, data: data.to_vec() };
    let mut request = state.upstreams.request(request);
    // Large files take longer than the default deadline.
    request.set_timeout(Duration::from_secs(60));
    Ok(Json(state.upstreams.movies().upload_media(request).await?.into_inner().into()))
}

/// Uploads a poster (admin): JPEG, PNG or WebP, at most 5 MiB.
#[utoipa::path(put, path = "/movies/{movie_id}/poster", tag = "movies",
    params(("movie_id" = u64, Path, description = "Movie id")), security(("api_key" = ["admin"])),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 200, body = MovieView), (status = 413, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn put_poster(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MovieView>, Problem> {
    upload(&state, &principal, path, &headers, body, MediaKind::Poster).await
}

/// Uploads a trailer (admin): MP4 or WebM, at most 64 MiB.
#[utoipa::path(put, path = "/movies/{movie_id}/trailer", tag = "movies",
    params(("movie_id" = u64, Path, description = "Movie id")), security(("api_key" = ["admin"])),
    request_body(content = Vec<u8>, content_type = "video/mp4"),
    responses((status = 200, body = MovieView), (status = 413, body = ProblemDoc, content_type = "application/problem+json"),
        (status = 415, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn put_trailer(
    State(state): State<AppState>,
    principal: Principal,
    path: Result<Path<u64>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<MovieView>, Problem> {
    upload(&state, &principal, path, &headers, body, MediaKind::Trailer).await
}

/// The movie ids of each genre, fetched from the movies service and reused for a few minutes
/// (genre filters on recommendation lists).
#[derive(Debug, Default)]
pub struct GenreIndex {
    cached: Mutex<HashMap<&'static str, GenreMovies>>,
}

/// A genre's movie ids and when they were fetched.
type GenreMovies = (Instant, Arc<HashSet<u64>>);

impl GenreIndex {
    /// The ids of `genre`'s movies.
    pub async fn movies_of(
        &self,
        state: &AppState,
        genre: &'static str,
    ) -> Result<Arc<HashSet<u64>>, Problem> {
        if let Some((at, ids)) = self.cached.lock().expect("the genre index is never poisoned").get(genre)
            && at.elapsed() < GENRE_INDEX_TTL
        {
            return Ok(Arc::clone(ids));
        }
        let mut ids = HashSet::new();
        let mut page_token = String::new();
        loop {
            let request = pb::ListMoviesRequest {
                page_size: MAX_PAGE,
                page_token,
                genre: genre.to_owned(),
                year_from: 0,
                year_to: 0,
            };
            let page =
                state.upstreams.movies().list_movies(state.upstreams.request(request)).await?.into_inner();
            ids.extend(page.movies.iter().map(|m| m.movie_id));
            if page.next_page_token.is_empty() {
                break;
            }
            page_token = page.next_page_token;
        }
        let ids = Arc::new(ids);
        self.cached
            .lock()
            .expect("the genre index is never poisoned")
            .insert(genre, (Instant::now(), Arc::clone(&ids)));
        Ok(ids)
    }
}

/// What a list shows of a movie, from the catalogue: title, year, genres.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovieSummary {
    /// Title without the year.
    pub title: String,
    /// Release year, when known.
    pub year: Option<i32>,
    /// Genres.
    pub genres: Vec<String>,
}

/// How long a summary is reused (admin changes through this gateway drop it at once).
const SUMMARY_TTL: Duration = Duration::from_secs(600);
/// Summaries kept at most (the whole MovieLens catalogue fits).
const SUMMARY_CAPACITY: usize = 100_000;

/// Movie summaries for recommendation lists, fetched from the movies service on a miss (in
/// parallel) and kept for [`SUMMARY_TTL`]: a model's own titles may be missing (models trained
/// from the ratings service's keys have none) or older than the catalogue.
#[derive(Debug, Default)]
pub struct SummaryCache {
    entries: RwLock<HashMap<u64, (Instant, Arc<MovieSummary>)>>,
}

impl SummaryCache {
    /// The summaries of `ids` that the catalogue has (unknown movies are left out).
    pub async fn get_many(&self, state: &AppState, ids: &[u64]) -> HashMap<u64, Arc<MovieSummary>> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let entries = self.entries.read().expect("the summary cache is never poisoned");
            for &id in ids {
                match entries.get(&id) {
                    Some((at, summary)) if at.elapsed() < SUMMARY_TTL => {
                        found.insert(id, Arc::clone(summary));
                    }
                    _ => missing.push(id),
                }
            }
        }
        if missing.is_empty() {
            return found;
        }
        let fetches = missing.iter().map(|&movie_id| {
            let mut client = state.upstreams.movies();
            let request = state.upstreams.request(pb::GetMovieRequest { movie_id });
            async move { client.get_movie(request).await.ok().map(|m| m.into_inner()) }
        });
        let fetched: Vec<pb::Movie> =
            futures_util::future::join_all(fetches).await.into_iter().flatten().collect();
        let mut entries = self.entries.write().expect("the summary cache is never poisoned");
        if entries.len() + fetched.len() > SUMMARY_CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < SUMMARY_TTL);
            if entries.len() + fetched.len() > SUMMARY_CAPACITY {
                entries.clear();
            }
        }
        for movie in fetched {
            let summary = Arc::new(MovieSummary {
                title: movie.title,
                year: (movie.year != 0).then_some(movie.year),
                genres: movie.genres,
            });
            entries.insert(movie.movie_id, (Instant::now(), Arc::clone(&summary)));
            found.insert(movie.movie_id, summary);
        }
        found
    }

    /// Forgets `movie_id` (after a change through this gateway).
    pub fn forget(&self, movie_id: u64) {
        self.entries.write().expect("the summary cache is never poisoned").remove(&movie_id);
    }
}
