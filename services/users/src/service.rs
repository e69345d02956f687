//! The gRPC handlers of `cinerec.users.v1.UsersService` and the one place where errors become
//! status codes: `INVALID_ARGUMENT` naming the field, `NOT_FOUND` for unknown ids,
//! `ALREADY_EXISTS` naming the clashing field, `UNAUTHENTICATED` (one message for unknown logins
//! and wrong passwords), `UNAVAILABLE` when storage stays down after retries, `INTERNAL` without
//! detail (the cause is logged). Requests are never logged whole: they hold passwords.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use events::EventPublisher;
use prost::Message;
use proto::events::v1 as event;
use proto::users::v1 as pb;
use proto::users::v1::users_service_server::UsersService;
use service_common::{Backoff, EventTopics, retry};
use tonic::{Request, Response, Status};

use crate::config::JwtSecret;
use crate::domain::{FieldError, Login, NewAccount, Password, Preferences, ProfileChange, UserId};
use crate::outbox::Outbox;
use crate::password::{HashError, Hasher};
use crate::store::{OutboxEvent, StoreError, StoredUser, UniqueField, UserStore};
use contract::token;
use contract::{ErrorKind, PublicError};

/// The message for every failed login, whatever the reason (no user enumeration).
pub const LOGIN_REFUSED: &str = "invalid login or password";

/// Token settings.
#[derive(Clone, Debug)]
pub struct TokenSettings {
    /// Signing key.
    pub secret: JwtSecret,
    /// Lifetime of a new token.
    pub ttl: Duration,
}

/// The service: storage, hashing, tokens and the outbox.
#[derive(Debug)]
pub struct UsersApi<S, P> {
    store: Arc<S>,
    outbox: Arc<Outbox<S, P>>,
    hasher: Hasher,
    tokens: TokenSettings,
    backoff: Backoff,
    publish_timeout: Duration,
    topics: EventTopics,
}

impl<S: UserStore, P: EventPublisher + 'static> UsersApi<S, P> {
    /// Handlers over `store` and `outbox`; storage calls are retried with `backoff`, and a request
    /// waits at most `publish_timeout` for its events to be delivered.
    pub fn new(
        store: Arc<S>,
        outbox: Arc<Outbox<S, P>>,
        tokens: TokenSettings,
        backoff: Backoff,
        publish_timeout: Duration,
        topics: EventTopics,
    ) -> Self {
        Self { store, outbox, hasher: Hasher::default(), tokens, backoff, publish_timeout, topics }
    }

    /// Runs a storage call with bounded retries on connection errors.
    async fn storage<T, Fut>(&self, what: &str, operation: impl FnMut() -> Fut) -> Result<T, StoreError>
    where
        Fut: Future<Output = Result<T, StoreError>>,
    {
        retry(&self.backoff, what, StoreError::is_transient, operation).await
    }

    /// Tries to deliver `user`'s queued events now; whatever is not out within the publish
    /// timeout stays in the outbox for the background drainer (the request succeeds anyway).
    async fn deliver(&self, user: UserId) {
        match tokio::time::timeout(self.publish_timeout, self.outbox.drain_user(user, self.backoff.attempts))
            .await
        {
            Ok(Ok(_)) => {}
            Ok(Err(err)) => {
                tracing::warn!(user_id = user.get(), error = %err, "event delivery deferred to the outbox drainer");
            }
            Err(_) => tracing::warn!(
                user_id = user.get(),
                timeout_ms = self.publish_timeout.as_millis() as u64,
                "event delivery timed out; deferred to the outbox drainer"
            ),
        }
    }

    /// Turns an outcome into a response (the kit's layer counts it).
    fn finish<T>(&self, res: Result<T, ApiError>) -> Result<Response<T>, Status> {
        res.map(Response::new).map_err(Status::from)
    }

    async fn handle_register(&self, request: pb::RegisterRequest) -> Result<pb::RegisterResponse, ApiError> {
        let account = NewAccount::parse(&request)?;
        let password_hash = self.hasher.hash(&account.password).await?;
        let id = self.storage("allocating a user id", || self.store.allocate_user_id()).await?;
        let user = StoredUser {
            id,
            username: account.username,
            email: account.email,
            display_name: account.display_name,
            password_hash,
            preferences: Preferences::default(),
            created_at_unix: token::now_unix(),
        };
        self.storage("inserting a user", || self.store.insert(&user)).await?;
        tracing::info!(user_id = id.get(), "user registered");
        Ok(pb::RegisterResponse { user: Some(user.to_proto()) })
    }

    async fn handle_login(&self, request: pb::LoginRequest) -> Result<pb::LoginResponse, ApiError> {
        let login = Login::parse(&request.login)?;
        let password = Password::parse_offered(&request.password)?;
        let user = self.storage("finding a user by login", || self.store.find_by_login(&login)).await?;
        let Some(user) = user else {
            self.hasher.verify_decoy(&password).await?;
            tracing::info!("login refused: no such user");
            return Err(ApiError::Unauthenticated(LOGIN_REFUSED.into()));
        };
        if !self.hasher.verify(&password, &user.password_hash).await? {
            tracing::info!(user_id = user.id.get(), "login refused: wrong password");
            return Err(ApiError::Unauthenticated(LOGIN_REFUSED.into()));
        }
        let (token, expires_at_unix) = token::issue(
            &self.tokens.secret,
            user.id,
            user.username.as_str(),
            token::now_unix(),
            self.tokens.ttl,
        );
        tracing::info!(user_id = user.id.get(), expires_at_unix, "login");
        Ok(pb::LoginResponse { token, expires_at_unix, user_id: user.id.get() })
    }

    async fn handle_get_user(&self, request: pb::GetUserRequest) -> Result<pb::User, ApiError> {
        let id = UserId::parse(request.user_id, "user_id")?;
        let user = self.storage("reading a user", || self.store.get(id)).await?;
        Ok(user.ok_or(ApiError::NotFound(id))?.to_proto())
    }

    async fn handle_update_profile(&self, request: pb::UpdateProfileRequest) -> Result<pb::User, ApiError> {
        let id = UserId::parse(request.user_id, "user_id")?;
        let change = ProfileChange::parse(&request)?;
        let user = self.storage("updating a profile", || self.store.update_profile(id, &change)).await?;
        let user = user.ok_or(ApiError::NotFound(id))?;
        tracing::info!(user_id = id.get(), "profile updated");
        Ok(user.to_proto())
    }

    async fn handle_update_preferences(
        &self,
        request: pb::UpdatePreferencesRequest,
    ) -> Result<pb::User, ApiError> {
        let id = UserId::parse(request.user_id, "user_id")?;
        let preferences = Preferences::parse(request.preferences.as_ref())?;
        let event_id = uuid::Uuid::new_v4().to_string();
        let payload = event::UserPreferencesChanged {
            event_id: event_id.clone(),
            user_id: id.get(),
            favourite_genres: preferences.favourite_genres.clone(),
            languages: preferences.languages.clone(),
            blocked_movie_ids: preferences.blocked_movie_ids.clone(),
            timestamp_ms: now_ms(),
        }
        .encode_to_vec();
        let event = OutboxEvent {
            event_id,
            topic: self.topics.user_preferences.clone(),
            key: id.to_string(),
            payload,
        };
        let user = self
            .storage("updating preferences", || self.store.update_preferences(id, &preferences, &event))
            .await?
            .ok_or(ApiError::NotFound(id))?;
        tracing::info!(user_id = id.get(), event_id = %event.event_id, "preferences updated");
        self.deliver(id).await;
        Ok(user.to_proto())
    }

    async fn handle_delete_user(
        &self,
        request: pb::DeleteUserRequest,
    ) -> Result<pb::DeleteUserResponse, ApiError> {
        let id = UserId::parse(request.user_id, "user_id")?;
        let event_id = uuid::Uuid::new_v4().to_string();
        let payload =
            event::UserDeleted { event_id: event_id.clone(), user_id: id.get(), timestamp_ms: now_ms() }
                .encode_to_vec();
        let event =
            OutboxEvent { event_id, topic: self.topics.user_deleted.clone(), key: id.to_string(), payload };
        if !self.storage("deleting a user", || self.store.mark_deleted(id, &event)).await? {
            return Err(ApiError::NotFound(id));
        }
        tracing::info!(user_id = id.get(), event_id = %event.event_id, "user deleted");
        self.deliver(id).await;
        Ok(pb::DeleteUserResponse {})
    }

    fn handle_verify_token(
        &self,
        request: &pb::VerifyTokenRequest,
    ) -> Result<pb::VerifyTokenResponse, ApiError> {
        if request.token.is_empty() {
            return Err(FieldError::new("token", "is required").into());
        }
        let verified = token::verify_token(&self.tokens.secret, &request.token).map_err(|err| {
            tracing::debug!(error = %err, "token refused");
            ApiError::Unauthenticated(err.to_string())
        })?;
        Ok(pb::VerifyTokenResponse {
            user_id: verified.user_id.get(),
            username: verified.username,
            expires_at_unix: verified.expires_at_unix,
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

#[tonic::async_trait]
impl<S: UserStore, P: EventPublisher + 'static> UsersService for UsersApi<S, P> {
    async fn register(
        &self,
        request: Request<pb::RegisterRequest>,
    ) -> Result<Response<pb::RegisterResponse>, Status> {
        let res = self.handle_register(request.into_inner()).await;
        self.finish(res)
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Result<Response<pb::LoginResponse>, Status> {
        let res = self.handle_login(request.into_inner()).await;
        self.finish(res)
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Result<Response<pb::User>, Status> {
        let res = self.handle_get_user(request.into_inner()).await;
        self.finish(res)
    }

    async fn update_profile(
        &self,
        request: Request<pb::UpdateProfileRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let res = self.handle_update_profile(request.into_inner()).await;
        self.finish(res)
    }

    async fn update_preferences(
        &self,
        request: Request<pb::UpdatePreferencesRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let res = self.handle_update_preferences(request.into_inner()).await;
        self.finish(res)
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Result<Response<pb::DeleteUserResponse>, Status> {
        let res = self.handle_delete_user(request.into_inner()).await;
        self.finish(res)
    }

    async fn verify_token(
        &self,
        request: Request<pb::VerifyTokenRequest>,
    ) -> Result<Response<pb::VerifyTokenResponse>, Status> {
        let res = self.handle_verify_token(request.get_ref());
        self.finish(res)
    }
}

/// What went wrong, classified where it happened; mapped to a status in one place.
#[derive(Debug)]
enum ApiError {
    Invalid(FieldError),
    NotFound(UserId),
    Duplicate(UniqueField),
    Unauthenticated(String),
    /// Storage down after retries (the cause is logged, not sent).
    Unavailable(String),
    /// A bug or corrupt data (the cause is logged, not sent).
    Internal(String),
}

impl From<FieldError> for ApiError {
    fn from(err: FieldError) -> Self {
        Self::Invalid(err)
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Duplicate { field } => Self::Duplicate(field),
            StoreError::Unavailable(cause) => Self::Unavailable(cause.to_string()),
            StoreError::Driver(cause) => Self::Internal(cause.to_string()),
            StoreError::Other(cause) => Self::Internal(cause),
        }
    }
}

impl From<HashError> for ApiError {
    fn from(err: HashError) -> Self {
        Self::Internal(err.to_string())
    }
}

impl From<ApiError> for Status {
    fn from(err: ApiError) -> Self {
        let public = match err {
            ApiError::Invalid(err) => PublicError::from(err),
            ApiError::NotFound(id) => PublicError::new(ErrorKind::NotFound, format!("user {id} not found")),
            ApiError::Duplicate(UniqueField::Username) => {
                PublicError::new(ErrorKind::Conflict, "username is already taken")
            }
            ApiError::Duplicate(UniqueField::Email) => {
                PublicError::new(ErrorKind::Conflict, "email is already registered")
            }
            ApiError::Unauthenticated(message) => PublicError::new(ErrorKind::Unauthenticated, message),
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "user storage unavailable after retries");
                PublicError::unavailable("user storage")
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                PublicError::internal()
            }
        };
        public.into()
    }
}
