//! Accounts: `POST /api/v1/auth/register`, `POST /api/v1/auth/login` (the users service's token),
//! `GET|PATCH|DELETE /api/v1/me` and `GET|PUT /api/v1/me/preferences`. Every `/me` route acts on
//! the token's user only.

use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use proto::users::v1 as pb;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::AppState;
use crate::auth::Caller;
use crate::problem::{Problem, ProblemDoc};

/// `POST /auth/register`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterBody {
    /// 3..=32 of `[a-z0-9_.-]`.
    pub username: String,
    /// A unique email.
    pub email: String,
    /// At least 8 characters.
    pub password: String,
    /// Optional display name.
    #[serde(default)]
    pub display_name: String,
}

/// `POST /auth/login`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginBody {
    /// Username or email.
    pub login: String,
    /// Password.
    pub password: String,
}

/// A login token.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TokenView {
    /// Send it as `Authorization: Bearer <token>`.
    pub token: String,
    /// Expiry, seconds since the Unix epoch.
    pub expires_at_unix: i64,
    /// Whose token it is.
    pub user_id: u64,
}

/// Preferences as JSON (also the body of `PUT /me/preferences`, which replaces them).
#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesView {
    /// MovieLens genres.
    pub favourite_genres: Vec<String>,
    /// ISO 639-1 codes.
    pub languages: Vec<String>,
    /// Movies never recommended.
    pub blocked_movie_ids: Vec<u64>,
}

/// A profile as JSON (never the password or its hash).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Numeric id.
    pub user_id: u64,
    /// Username.
    pub username: String,
    /// Email.
    pub email: String,
    /// Display name.
    pub display_name: String,
    /// Preferences.
    pub preferences: PreferencesView,
    /// Creation time, seconds since the Unix epoch.
    pub created_at_unix: i64,
}

impl From<pb::User> for UserView {
    fn from(user: pb::User) -> Self {
        let preferences = user.preferences.map_or_else(PreferencesView::default, |p| PreferencesView {
            favourite_genres: p.favourite_genres,
            languages: p.languages,
            blocked_movie_ids: p.blocked_movie_ids,
        });
        Self {
            user_id: user.user_id,
            username: user.username,
            email: user.email,
            display_name: user.display_name,
            preferences,
            created_at_unix: user.created_at_unix,
        }
    }
}

/// Creates an account: 201 with the profile; 400 naming each invalid field; 409 for a taken
/// username or email.
#[utoipa::path(post, path = "/auth/register", tag = "accounts", request_body = RegisterBody,
    responses((status = 201, body = UserView), (status = 400, body = ProblemDoc, content_type = "application/problem+json"), (status = 409, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn register(
    State(state): State<AppState>,
    body: Result<Json<RegisterBody>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), Problem> {
    let Json(body) = body?;
    let request = pb::RegisterRequest {
        username: body.username,
        email: body.email,
        password: body.password,
        display_name: body.display_name,
    };
    let response = state.upstreams.users().register(state.upstreams.request(request)).await?;
    let user = response.into_inner().user.ok_or_else(|| {
        tracing::error!("the users service registered an account without returning it");
        Problem::from(contract::PublicError::internal())
    })?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

/// Checks a password and returns the users service's token (401 for a wrong login or password,
/// the same answer for both).
#[utoipa::path(post, path = "/auth/login", tag = "accounts", request_body = LoginBody,
    responses((status = 200, body = TokenView), (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn login(
    State(state): State<AppState>,
    body: Result<Json<LoginBody>, JsonRejection>,
) -> Result<Json<TokenView>, Problem> {
    let Json(body) = body?;
    let request = pb::LoginRequest { login: body.login, password: body.password };
    let token = state.upstreams.users().login(state.upstreams.request(request)).await?.into_inner();
    Ok(Json(TokenView { token: token.token, expires_at_unix: token.expires_at_unix, user_id: token.user_id }))
}

/// `PATCH /me`: absent fields stay unchanged.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileBody {
    /// New display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// New email.
    #[serde(default)]
    pub email: Option<String>,
}

/// Changes the caller's display name or email (400 naming the field; 409 for a taken email).
#[utoipa::path(patch, path = "/me", tag = "accounts", request_body = ProfileBody, security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 400, body = ProblemDoc, content_type = "application/problem+json"), (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn update_me(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<ProfileBody>, JsonRejection>,
) -> Result<Json<UserView>, Problem> {
    let Json(body) = body?;
    let request = pb::UpdateProfileRequest {
        user_id: caller.user_id.get(),
        display_name: body.display_name.unwrap_or_default(),
        email: body.email.unwrap_or_default(),
    };
    let user = state.upstreams.users().update_profile(state.upstreams.request(request)).await?.into_inner();
    Ok(Json(user.into()))
}

/// Deletes the caller's account (204); its ratings and recommendations follow the
/// `UserDeleted` event.
#[utoipa::path(delete, path = "/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn delete_me(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, Problem> {
    let request = pb::DeleteUserRequest { user_id: caller.user_id.get() };
    state.upstreams.users().delete_user(state.upstreams.request(request)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's preferences.
#[utoipa::path(get, path = "/me/preferences", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = PreferencesView), (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn preferences(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<PreferencesView>, Problem> {
    let Json(user) = me(State(state), caller).await?;
    Ok(Json(user.preferences))
}

/// Replaces the caller's preferences (400 naming e.g. `favourite_genres[1]` for an unknown genre).
#[utoipa::path(put, path = "/me/preferences", tag = "accounts", request_body = PreferencesView, security(("bearer" = [])),
    responses((status = 200, body = PreferencesView), (status = 400, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn put_preferences(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<PreferencesView>, JsonRejection>,
) -> Result<Json<PreferencesView>, Problem> {
    let Json(body) = body?;
    let preferences = pb::Preferences {
        favourite_genres: body.favourite_genres,
        languages: body.languages,
        blocked_movie_ids: body.blocked_movie_ids,
    };
    let request =
        pb::UpdatePreferencesRequest { user_id: caller.user_id.get(), preferences: Some(preferences) };
    let user =
        state.upstreams.users().update_preferences(state.upstreams.request(request)).await?.into_inner();
    Ok(Json(UserView::from(user).preferences))
}

/// The caller's own profile.
#[utoipa::path(get, path = "/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = UserView), (status = 401, body = ProblemDoc, content_type = "application/problem+json")))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> Result<Json<UserView>, Problem> {
    let request = pb::GetUserRequest { user_id: caller.user_id.get() };
    let user = state.upstreams.users().get_user(state.upstreams.request(request)).await?.into_inner();
    Ok(Json(user.into()))
}
