//! The web app, served by the gateway at `/`: server-rendered pages (askama templates, checked at
//! compile time) over the same upstream calls as the API, with a stylesheet and a few lines of
//! script compiled into the binary. Every page works without JavaScript; with it, search updates
//! as you type and rating does not reload the page.
//!
//! - Session: the users service's token in an `HttpOnly`, `SameSite=Lax` cookie (`Secure` unless
//!   the site is on localhost, or as `--secure-cookies` says). The cookie authenticates pages only,
//!   never `/api/v1` (which takes the token in a header, so cross-site requests cannot ride on it).
//! - Every form POST must come from this site: its `Origin` (or, without one, its `Referer`)
//!   must match the `Host` it was sent to, else 403.
//! - Errors are readable pages with the status; the same rate limits as the API apply.

use std::collections::HashSet;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Form, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use contract::{ErrorKind, GENRES, MovieId, UserId};
use proto::movies::v1 as movies_pb;
use proto::ratings::v1 as ratings_pb;
use proto::users::v1 as users_pb;
use serde::Deserialize;

use crate::app::AppState;
use crate::auth::{Caller, Principal};
use crate::problem::Problem;
use crate::recommendations::{Audience, ListParams, RecommendationList, Source, recommend, serve};

/// The session cookie.
pub const COOKIE: &str = "cinerec_session";

/// When the session cookie gets `Secure`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum SecureCookies {
    /// Unless the request's host is localhost or a loopback address.
    #[default]
    Auto,
    /// Always (behind a TLS-terminating ingress).
    Always,
    /// Never.
    Never,
}

/// Rating values offered, highest first (the star widget lays them out right to left).
const STAR_VALUES: [&str; 10] = ["5.0", "4.5", "4.0", "3.5", "3.0", "2.5", "2.0", "1.5", "1.0", "0.5"];

/// The web pages and forms (rate limited like the API).
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/search", get(search))
        .route("/movies/{movie_id}", get(movie))
        .route("/movies/{movie_id}/rating", post(rate))
        .route("/movies/{movie_id}/rating/delete", post(unrate))
        .route("/movies/{movie_id}/block", post(block))
        .route("/movies/{movie_id}/unblock", post(unblock))
        .route("/signup", get(signup_page).post(signup))
        .route("/signin", get(signin_page).post(signin))
        .route("/signout", post(signout))
        .route("/me/ratings", get(my_ratings))
        .route("/me/preferences", get(preferences).post(save_preferences))
        .route("/events", post(crate::activity::record))
}

/// What pages load (stylesheet, script, generated posters): cacheable, cheap and many per page,
/// so not counted against the rate limit.
pub fn asset_routes() -> Router<AppState> {
    Router::new()
        .route("/posters/{file}", get(poster))
        .route("/static/app.css", get(|| async { asset("text/css", include_str!("../assets/app.css")) }))
        .route("/static/app.js", get(|| async { asset("text/javascript", include_str!("../assets/app.js")) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body)
        .into_response()
}

/// The session middleware (web routes): the cookie's user as the [`Principal`] (an invalid or
/// expired cookie is anonymous), and the same-site check of every POST.
pub async fn session(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    if request.method() == Method::POST && !same_site(request.headers()) {
        return page_error(StatusCode::FORBIDDEN, "This form was sent from another site, so it was refused.");
    }
    let principal = cookie(request.headers(), COOKIE)
        .and_then(|token| Caller::from_token(&state.jwt_secret, &token).ok())
        .map_or(Principal::Anonymous, Principal::User);
    request.extensions_mut().insert(principal);
    next.run(request).await
}

/// Whether a POST's `Origin` (or `Referer`) is the site it was sent to.
fn same_site(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let source = headers
        .get(header::ORIGIN)
        .or_else(|| headers.get(header::REFERER))
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let rest = source.strip_prefix("https://").or_else(|| source.strip_prefix("http://")).unwrap_or("");
    let source_host = rest.split('/').next().unwrap_or("");
    !source_host.is_empty() && source_host.eq_ignore_ascii_case(host)
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

/// The signed-in user, if any.
struct Viewer(Option<Caller>);

impl<S: Send + Sync> FromRequestParts<S> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Response> {
        Ok(Self(match parts.extensions.get::<Principal>() {
            Some(Principal::User(caller)) => Some(caller.clone()),
            _ => None,
        }))
    }
}

impl Viewer {
    /// The user, or a redirect to the sign-in page that comes back to `here`.
    fn require(&self, here: &str) -> Result<&Caller, PageError> {
        self.0
            .as_ref()
            .ok_or_else(|| Redirect::to(&format!("/signin?next={}", urlencode(here))).into_response().into())
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A local path to go to after a form (anything else, e.g. `//evil.example`, is `fallback`).
fn local_path(next: Option<&str>, fallback: &str) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => {
            path.to_owned()
        }
        _ => fallback.to_owned(),
    }
}

/// What every page's header shows.
struct Nav {
    username: Option<String>,
    query: String,
    flash: Option<String>,
}

impl Nav {
    fn of(viewer: &Viewer) -> Self {
        Self { username: viewer.0.as_ref().map(|c| c.username.clone()), query: String::new(), flash: None }
    }
}

/// One movie in a list of cards.
struct Card {
    movie_id: u64,
    title: String,
    year: Option<i32>,
    href: String,
    /// The served list it is in (empty for search results): the script reports clicks on it.
    recommendation_id: String,
    /// Its 0-based position in that list as served.
    position: usize,
}

/// A recommendation list as cards.
struct CardList {
    source: &'static str,
    source_label: &'static str,
    cards: Vec<Card>,
}

fn cards(list: &RecommendationList, blocked: &HashSet<u64>, link_suffix: &str) -> Vec<Card> {
    list.movies
        .iter()
        .enumerate()
        .filter(|(_, m)| !blocked.contains(&m.movie_id))
        .map(|(position, m)| Card {
            movie_id: m.movie_id,
            title: m.title.clone(),
            year: m.year,
            href: format!("/movies/{}{link_suffix}", m.movie_id),
            recommendation_id: list.recommendation_id.clone(),
            position,
        })
        .collect()
}

/// Renders `template`, or a plain 500 page if it cannot be (it always can: templates are
/// checked at compile time).
fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Nav,
    title: String,
    detail: String,
}

/// A readable error page with `status`.
pub(crate) fn page_error(status: StatusCode, detail: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error").to_owned();
    let nav = Nav { username: None, query: String::new(), flash: None };
    render(status, &ErrorPage { nav, title, detail: detail.to_owned() })
}

/// A failed upstream call as a page (the problem's status and its public message).
fn problem_page(problem: Problem) -> Response {
    let detail = match problem.error.fields.first() {
        Some(field) => format!("{}: {}", field.field, field.reason),
        None => problem.error.message.clone(),
    };
    let mut response = page_error(problem.status, &detail);
    if problem.status == StatusCode::TOO_MANY_REQUESTS || problem.status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// An error page (or a redirect to sign in) on its way out, boxed: a response is large.
struct PageError(Box<Response>);

impl From<Response> for PageError {
    fn from(response: Response) -> Self {
        Self(Box::new(response))
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        *self.0
    }
}

/// Page handlers return this: a page, or an error page.
type PageResult = Result<Response, PageError>;

fn upstream<T>(result: Result<T, tonic::Status>) -> Result<T, PageError> {
    result.map_err(|status| problem_page(Problem::from(status)).into())
}

/// The user's blocked movies (empty when signed out or the users service does not answer).
async fn blocked_of(state: &AppState, viewer: &Viewer) -> HashSet<u64> {
    let Some(caller) = &viewer.0 else { return HashSet::new() };
    preferences_of(state, caller).await.map(|p| p.blocked_movie_ids.into_iter().collect()).unwrap_or_default()
}

/// The caller's preferences, from the users service.
async fn preferences_of(state: &AppState, caller: &Caller) -> Result<users_pb::Preferences, tonic::Status> {
    let request = state.upstreams.request(users_pb::GetUserRequest { user_id: caller.user_id.get() });
    let user = state.upstreams.users().get_user(request).await?.into_inner();
    Ok(user.preferences.unwrap_or_default())
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    for_you: Option<CardList>,
    popular: Vec<Card>,
}

async fn home(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let blocked = blocked_of(&state, &viewer).await;
    let twelve = ListParams { n: 12 + blocked.len().min(50) as u32, offset: 0, genre: None };
    let (response, movies) =
        recommend(&state, 0, Vec::new(), &twelve).await.map_err(|p| PageError::from(problem_page(p)))?;
    let popular = serve(
        &state,
        Audience::Everyone,
        "web-home",
        Source::Popularity,
        response.model_version,
        movies.into_iter(),
    )
    .await;
    let mut popular = cards(&popular, &blocked, "");
    popular.truncate(12);
    let for_you = match &viewer.0 {
        Some(caller) => {
            let user = caller.user_id.get();
            let (response, movies) =
                recommend(&state, user, Vec::new(), &ListParams { n: 12, offset: 0, genre: None })
                    .await
                    .map_err(problem_page)?;
            let source = Source::from_wire(response.source);
            let list = serve(
                &state,
                Audience::User(user),
                "web-for-you",
                source,
                response.model_version,
                movies.into_iter(),
            )
            .await;
            Some(CardList {
                source: source.as_str(),
                source_label: source.label(),
                cards: cards(&list, &blocked, "?rec=1"),
            })
        }
        None => None,
    };
    Ok(render(StatusCode::OK, &HomePage { nav: Nav::of(&viewer), for_you, popular }))
}

#[derive(Template)]
#[template(path = "search.html")]
struct SearchPage {
    nav: Nav,
    query: String,
    genre: String,
    year: String,
    genres: &'static [&'static str],
    cards: Vec<Card>,
    searched: bool,
}

#[derive(Template)]
#[template(path = "results.html")]
struct ResultsFragment {
    cards: Vec<Card>,
    searched: bool,
}

#[derive(Debug, Default, Deserialize)]
struct SearchQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    genre: String,
    #[serde(default)]
    year: String,
    #[serde(default)]
    partial: Option<String>,
}

async fn search(
    State(state): State<AppState>,
    viewer: Viewer,
    query: Result<Query<SearchQuery>, QueryRejection>,
) -> PageResult {
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let q = query.q.trim().to_owned();
    let genre = contract::canonical_genre(&query.genre);
    let year: Option<i32> = query.year.trim().parse().ok();
    let searched = !q.is_empty() || genre.is_some() || year.is_some();
    let movies = if !q.is_empty() {
        let request = movies_pb::SearchMoviesRequest { query: q.clone(), limit: 48 };
        upstream(state.upstreams.movies().search_movies(state.upstreams.request(request)).await)?
            .into_inner()
            .movies
    } else if searched {
        let request = movies_pb::ListMoviesRequest {
            page_size: 48,
            page_token: String::new(),
            genre: genre.unwrap_or_default().to_owned(),
            year_from: year.unwrap_or(0),
            year_to: year.unwrap_or(0),
        };
        upstream(state.upstreams.movies().list_movies(state.upstreams.request(request)).await)?
            .into_inner()
            .movies
    } else {
        Vec::new()
    };
    let cards: Vec<Card> = movies
        .into_iter()
        .filter(|m| genre.is_none_or(|g| m.genres.iter().any(|mg| mg == g)))
        .filter(|m| year.is_none_or(|y| m.year == y))
        .map(|m| Card {
            href: format!("/movies/{}", m.movie_id),
            movie_id: m.movie_id,
            title: m.title,
            year: (m.year != 0).then_some(m.year),
            recommendation_id: String::new(),
            position: 0,
        })
        .collect();
    if query.partial.is_some() {
        return Ok(render(StatusCode::OK, &ResultsFragment { cards, searched }));
    }
    let mut nav = Nav::of(&viewer);
    nav.query = q.clone();
    let page = SearchPage {
        nav,
        query: q,
        genre: genre.unwrap_or_default().to_owned(),
        year: year.map(|y| y.to_string()).unwrap_or_default(),
        genres: &GENRES,
        cards,
        searched,
    };
    Ok(render(StatusCode::OK, &page))
}

#[derive(Template)]
#[template(path = "movie.html")]
struct MoviePage {
    nav: Nav,
    movie: crate::movies::MovieView,
    rating_mean: f64,
    rating_count: u64,
    why: Vec<String>,
    signed_in: bool,
    your_rating: Option<String>,
    star_values: Vec<String>,
    similar: Vec<Card>,
}

#[derive(Debug, Default, Deserialize)]
struct MovieQuery {
    #[serde(default)]
    rec: Option<String>,
}

fn movie_path(
    path: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> Result<MovieId, PageError> {
    crate::movies::movie_id(path).map_err(|problem| problem_page(problem).into())
}

/// A movie's mean rating and count (none when the ratings service does not answer: the page
/// still shows the movie).
async fn movie_stats(state: &AppState, movie_id: u64) -> ratings_pb::MovieStats {
    let request = state.upstreams.request(ratings_pb::GetMovieStatsRequest { movie_id });
    state.upstreams.ratings().get_movie_stats(request).await.map(|s| s.into_inner()).unwrap_or_default()
}

/// The caller's rating of `movie_id` as text ("4.5"), from their ratings.
async fn rating_of(state: &AppState, user: UserId, movie_id: u64) -> Option<String> {
    let request = ratings_pb::ListUserRatingsRequest {
        user_id: user.get(),
        page_size: 1000,
        page_token: String::new(),
    };
    let page = state
        .upstreams
        .ratings()
        .list_user_ratings(state.upstreams.request(request))
        .await
        .ok()?
        .into_inner();
    page.ratings.iter().find(|r| r.movie_id == movie_id).map(|r| format!("{:.1}", r.rating))
}

async fn movie(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<Path<u64>, axum::extract::rejection::PathRejection>,
    query: Result<Query<MovieQuery>, QueryRejection>,
) -> PageResult {
    let movie_id = movie_path(path)?.get();
    let movie = upstream(
        state
            .upstreams
            .movies()
            .get_movie(state.upstreams.request(movies_pb::GetMovieRequest { movie_id }))
            .await,
    )?;
    let movie: crate::movies::MovieView = movie.into_inner().into();
    let stats = movie_stats(&state, movie_id).await;
    let blocked = blocked_of(&state, &viewer).await;
    let similar_request =
        proto::recommendation::v1::SimilarMoviesRequest { movie_id, n: 6 + blocked.len().min(20) as u32 };
    let similar =
        match state.upstreams.serving().similar_movies(state.upstreams.request(similar_request)).await {
            Ok(answer) => {
                let answer = answer.into_inner();
                let list = serve(
                    &state,
                    Audience::Everyone,
                    "web-similar",
                    Source::Similar,
                    answer.model_version,
                    answer.movies.into_iter(),
                )
                .await;
                let mut similar = cards(&list, &blocked, "");
                similar.truncate(6);
                similar
            }
            // A movie the model does not know yet has no neighbours: the page shows none.
            Err(_) => Vec::new(),
        };
    let (mut why, mut your_rating) = (Vec::new(), None);
    if let Some(caller) = &viewer.0 {
        your_rating = rating_of(&state, caller.user_id, movie_id).await;
        if query.is_ok_and(|Query(q)| q.rec.is_some()) {
            why = explain(&state, caller.user_id, movie_id).await;
        }
    }
    let page = MoviePage {
        nav: Nav::of(&viewer),
        movie,
        rating_mean: stats.mean,
        rating_count: stats.count,
        why,
        signed_in: viewer.0.is_some(),
        your_rating,
        star_values: STAR_VALUES.iter().map(|v| (*v).to_owned()).collect(),
        similar,
    };
    Ok(render(StatusCode::OK, &page))
}

/// Titles of the caller's movies that explain `movie_id` (empty when serving cannot say).
async fn explain(state: &AppState, user: UserId, movie_id: u64) -> Vec<String> {
    let request = proto::recommendation::v1::ExplainRequest {
        user_id: user.get(),
        movie_id,
        n: 3,
        ..Default::default()
    };
    let Ok(answer) = state.upstreams.serving().explain(state.upstreams.request(request)).await else {
        return Vec::new();
    };
    let contributions = answer.into_inner().contributions;
    let ids: Vec<u64> = contributions.iter().map(|c| c.movie_id).collect();
    let summaries = state.summaries.get_many(state, &ids).await;
    contributions
        .into_iter()
        .filter(|c| c.contribution > 0.0)
        .map(|c| summaries.get(&c.movie_id).map_or(c.title, |s| s.title.clone()))
        .filter(|title| !title.is_empty())
        .collect()
}

#[derive(Debug, Deserialize)]
struct RatingForm {
    #[serde(default)]
    rating: String,
    #[serde(default)]
    next: Option<String>,
}

fn wants_json(headers: &HeaderMap) -> bool {
    headers.get("x-requested-with").is_some_and(|v| v == "fetch")
}

async fn rate(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    path: Result<Path<u64>, axum::extract::rejection::PathRejection>,
    Form(form): Form<RatingForm>,
) -> PageResult {
    let movie_id = movie_path(path)?.get();
    let caller = viewer.require(&format!("/movies/{movie_id}"))?;
    let Ok(rating) = form.rating.parse::<f32>() else {
        return Err(
            page_error(StatusCode::BAD_REQUEST, "Choose a rating from half a star to five stars.").into()
        );
    };
    let request = ratings_pb::SubmitRatingRequest {
        user_id: caller.user_id.get(),
        movie_id,
        rating,
        review: String::new(),
    };
    upstream(state.upstreams.ratings().submit_rating(state.upstreams.request(request)).await)?;
    if wants_json(&headers) {
        let stats = movie_stats(&state, movie_id).await;
        let body =
            serde_json::json!({"rating": format!("{rating:.1}"), "mean": stats.mean, "count": stats.count});
        return Ok(Json(body).into_response());
    }
    Ok(Redirect::to(&local_path(form.next.as_deref(), &format!("/movies/{movie_id}"))).into_response())
}

async fn unrate(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<Path<u64>, axum::extract::rejection::PathRejection>,
    Form(form): Form<RatingForm>,
) -> PageResult {
    let movie_id = movie_path(path)?.get();
    let caller = viewer.require("/me/ratings")?;
    let request = ratings_pb::DeleteRatingRequest { user_id: caller.user_id.get(), movie_id };
    upstream(state.upstreams.ratings().delete_rating(state.upstreams.request(request)).await)?;
    Ok(Redirect::to(&local_path(form.next.as_deref(), "/me/ratings")).into_response())
}

/// Changes the caller's preferences with `change` and stores them.
async fn change_preferences(
    state: &AppState,
    caller: &Caller,
    change: impl FnOnce(&mut users_pb::Preferences),
) -> Result<(), PageError> {
    let mut preferences = upstream(preferences_of(state, caller).await)?;
    change(&mut preferences);
    let request =
        users_pb::UpdatePreferencesRequest { user_id: caller.user_id.get(), preferences: Some(preferences) };
    upstream(state.upstreams.users().update_preferences(state.upstreams.request(request)).await)?;
    Ok(())
}

async fn block(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> PageResult {
    let movie_id = movie_path(path)?.get();
    let caller = viewer.require(&format!("/movies/{movie_id}"))?;
    change_preferences(&state, caller, |p| {
        if !p.blocked_movie_ids.contains(&movie_id) {
            p.blocked_movie_ids.push(movie_id);
        }
    })
    .await?;
    Ok(Redirect::to("/me/preferences").into_response())
}

async fn unblock(
    State(state): State<AppState>,
    viewer: Viewer,
    path: Result<Path<u64>, axum::extract::rejection::PathRejection>,
) -> PageResult {
    let movie_id = movie_path(path)?.get();
    let caller = viewer.require("/me/preferences")?;
    change_preferences(&state, caller, |p| p.blocked_movie_ids.retain(|&id| id != movie_id)).await?;
    Ok(Redirect::to("/me/preferences").into_response())
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    nav: Nav,
    heading: &'static str,
    action: &'static str,
    signup: bool,
    message: Option<String>,
    username: String,
    email: String,
    next: String,
}

#[derive(Debug, Default, Deserialize)]
struct NextQuery {
    #[serde(default)]
    next: Option<String>,
}

fn account_page(signup: bool, viewer: &Viewer, next: &str) -> AccountPage {
    AccountPage {
        nav: Nav::of(viewer),
        heading: if signup { "Sign up" } else { "Sign in" },
        action: if signup { "/signup" } else { "/signin" },
        signup,
        message: None,
        username: String::new(),
        email: String::new(),
        next: next.to_owned(),
    }
}

async fn signup_page(viewer: Viewer, query: Result<Query<NextQuery>, QueryRejection>) -> Response {
    let next = local_path(query.ok().and_then(|Query(q)| q.next).as_deref(), "/");
    render(StatusCode::OK, &account_page(true, &viewer, &next))
}

async fn signin_page(viewer: Viewer, query: Result<Query<NextQuery>, QueryRejection>) -> Response {
    let next = local_path(query.ok().and_then(|Query(q)| q.next).as_deref(), "/");
    render(StatusCode::OK, &account_page(false, &viewer, &next))
}

#[derive(Debug, Deserialize)]
struct AccountForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    login: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// The session cookie for `token` (expiring with it).
fn session_cookie(token: &str, max_age: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("cinerec_session=; Path=/; Max-Age=0"))
}

fn secure_for(state: &AppState, headers: &HeaderMap) -> bool {
    match state.secure_cookies {
        SecureCookies::Always => true,
        SecureCookies::Never => false,
        SecureCookies::Auto => {
            let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
            let name = host.rsplit_once(':').map_or(host, |(name, port)| {
                if port.bytes().all(|b| b.is_ascii_digit()) { name } else { host }
            });
            !(name == "localhost"
                || name == "[::1]"
                || name.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
        }
    }
}

/// Signs in with `login` and `password`: the redirect with the cookie, or the form again with a
/// message.
async fn sign_in_as(
    state: &AppState,
    headers: &HeaderMap,
    login: String,
    password: String,
    next: &str,
) -> Result<Response, String> {
    let request = state.upstreams.request(users_pb::LoginRequest { login, password });
    match state.upstreams.users().login(request).await {
        Ok(answer) => {
            let answer = answer.into_inner();
            let max_age = (answer.expires_at_unix - contract::token::now_unix()).max(0);
            let mut response = Redirect::to(next).into_response();
            response.headers_mut().insert(
                header::SET_COOKIE,
                session_cookie(&answer.token, max_age, secure_for(state, headers)),
            );
            Ok(response)
        }
        Err(status) => {
            let problem = Problem::from(status);
            Err(match problem.error.kind {
                ErrorKind::Unauthenticated | ErrorKind::NotFound => "Wrong username or password.".to_owned(),
                _ => problem.error.message,
            })
        }
    }
}

async fn signin(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let next = local_path(form.next.as_deref(), "/");
    match sign_in_as(&state, &headers, form.login.clone(), form.password, &next).await {
        Ok(response) => response,
        Err(message) => {
            let mut page = account_page(false, &viewer, &next);
            page.message = Some(message);
            page.username = form.login;
            render(StatusCode::UNAUTHORIZED, &page)
        }
    }
}

async fn signup(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    Form(form): Form<AccountForm>,
) -> Response {
    let next = local_path(form.next.as_deref(), "/");
    let request = users_pb::RegisterRequest {
        username: form.username.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
        display_name: String::new(),
    };
    let failed = match state.upstreams.users().register(state.upstreams.request(request)).await {
        Ok(_) => match sign_in_as(&state, &headers, form.username.clone(), form.password, &next).await {
            Ok(response) => return response,
            Err(message) => message,
        },
        Err(status) => {
            let problem = Problem::from(status);
            match problem.error.fields.as_slice() {
                [] => problem.error.message,
                fields => {
                    fields.iter().map(|f| format!("{}: {}", f.field, f.reason)).collect::<Vec<_>>().join("; ")
                }
            }
        }
    };
    let mut page = account_page(true, &viewer, &next);
    page.message = Some(failed);
    page.username = form.username;
    page.email = form.email;
    render(StatusCode::BAD_REQUEST, &page)
}

async fn signout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut response = Redirect::to("/").into_response();
    let secure = if secure_for(&state, &headers) { "; Secure" } else { "" };
    if let Ok(value) =
        HeaderValue::from_str(&format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// One row of "my ratings".
struct RatingRow {
    movie_id: u64,
    title: String,
    rating: String,
}

#[derive(Template)]
#[template(path = "ratings.html")]
struct RatingsPage {
    nav: Nav,
    rows: Vec<RatingRow>,
    next_cursor: Option<String>,
    star_values: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
struct CursorQuery {
    #[serde(default)]
    cursor: String,
}

async fn my_ratings(
    State(state): State<AppState>,
    viewer: Viewer,
    query: Result<Query<CursorQuery>, QueryRejection>,
) -> PageResult {
    let caller = viewer.require("/me/ratings")?;
    let query = query.map(|Query(q)| q).unwrap_or_default();
    let request = ratings_pb::ListUserRatingsRequest {
        user_id: caller.user_id.get(),
        page_size: 50,
        page_token: query.cursor,
    };
    let page = upstream(state.upstreams.ratings().list_user_ratings(state.upstreams.request(request)).await)?
        .into_inner();
    let ids: Vec<u64> = page.ratings.iter().map(|r| r.movie_id).collect();
    let summaries = state.summaries.get_many(&state, &ids).await;
    let rows = page
        .ratings
        .iter()
        .map(|r| RatingRow {
            movie_id: r.movie_id,
            title: summaries
                .get(&r.movie_id)
                .map_or_else(|| format!("Movie {}", r.movie_id), |s| s.title.clone()),
            rating: format!("{:.1}", r.rating),
        })
        .collect();
    let next_cursor = (!page.next_page_token.is_empty()).then_some(page.next_page_token);
    let star_values = STAR_VALUES.iter().map(|v| (*v).to_owned()).collect();
    Ok(render(StatusCode::OK, &RatingsPage { nav: Nav::of(&viewer), rows, next_cursor, star_values }))
}

#[derive(Template)]
#[template(path = "preferences.html")]
struct PreferencesPage {
    nav: Nav,
    genres: Vec<(&'static str, bool)>,
    blocked: Vec<(u64, String)>,
}

async fn preferences(State(state): State<AppState>, viewer: Viewer) -> PageResult {
    let caller = viewer.require("/me/preferences")?;
    let preferences = upstream(preferences_of(&state, caller).await)?;
    let genres = GENRES.iter().map(|g| (*g, preferences.favourite_genres.iter().any(|f| f == g))).collect();
    let summaries = state.summaries.get_many(&state, &preferences.blocked_movie_ids).await;
    let blocked = preferences
        .blocked_movie_ids
        .iter()
        .map(|&id| (id, summaries.get(&id).map_or_else(|| format!("Movie {id}"), |s| s.title.clone())))
        .collect();
    Ok(render(StatusCode::OK, &PreferencesPage { nav: Nav::of(&viewer), genres, blocked }))
}

async fn save_preferences(
    State(state): State<AppState>,
    viewer: Viewer,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let caller = viewer.require("/me/preferences")?;
    let genres: Vec<String> = fields.into_iter().filter(|(k, _)| k == "genre").map(|(_, v)| v).collect();
    change_preferences(&state, caller, |p| p.favourite_genres = genres).await?;
    Ok(Redirect::to("/me/preferences").into_response())
}

/// A generated poster: the title on a colour picked from the id (SVG, text escaped).
async fn poster(State(state): State<AppState>, Path(file): Path<String>) -> Response {
    let Some(id) = file.strip_suffix(".svg").and_then(|id| id.parse::<u64>().ok()) else {
        return page_error(StatusCode::NOT_FOUND, "No such poster.");
    };
    let summaries = state.summaries.get_many(&state, &[id]).await;
    let (title, year) = summaries.get(&id).map_or((String::new(), None), |s| (s.title.clone(), s.year));
    let hue = (id.wrapping_mul(2_654_435_761) % 360) as u32;
    let escaped: String = title
        .chars()
        .map(|c| match c {
            '&' => "&amp;".to_owned(),
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '"' => "&quot;".to_owned(),
            c => c.to_string(),
        })
        .collect();
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in escaped.split_whitespace() {
        if !line.is_empty() && line.len() + word.len() > 14 {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    let text: String = lines
        .iter()
        .take(5)
        .enumerate()
        .map(|(i, l)| format!(r#"<text x="100" y="{}" text-anchor="middle">{l}</text>"#, 110 + i * 26))
        .collect();
    let year = year
        .map(|y| format!(r#"<text x="100" y="270" text-anchor="middle" font-size="16">{y}</text>"#))
        .unwrap_or_default();
    let svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 200 300" role="img" aria-label="{escaped}"><rect width="200" height="300" fill="hsl({hue},45%,35%)"/><g fill="#fff" font-family="sans-serif" font-size="20" font-weight="700">{text}{year}</g></svg>"##
    );
    ([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "public, max-age=600")], svg)
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn posts_must_come_from_the_site_itself() {
        assert!(same_site(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")])));
        assert!(same_site(&headers(&[
            ("host", "cinerec.example"),
            ("referer", "https://cinerec.example/movies/1")
        ])));
        assert!(!same_site(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")])));
        assert!(!same_site(&headers(&[
            ("host", "cinerec.example"),
            ("origin", "https://cinerec.example.evil.example")
        ])));
        assert!(!same_site(&headers(&[("host", "cinerec.example")])), "neither Origin nor Referer");
    }

    #[test]
    fn only_local_paths_are_followed_after_a_form() {
        assert_eq!(local_path(Some("/movies/1"), "/"), "/movies/1");
        for bad in ["//evil.example", "https://evil.example", "/\\evil.example", ""] {
            assert_eq!(local_path(Some(bad), "/"), "/", "{bad}");
        }
    }

    #[test]
    fn the_cookie_is_read_among_others() {
        let map = headers(&[("cookie", "a=1; cinerec_session=tok.en.sig; b=2")]);
        assert_eq!(cookie(&map, COOKIE).as_deref(), Some("tok.en.sig"));
        assert_eq!(cookie(&map, "missing"), None);
    }
}
