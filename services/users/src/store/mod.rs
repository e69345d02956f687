//! Storage of accounts behind the [`UserStore`] trait, and its MongoDB adapter
//! ([`MongoUserStore`]). A change that emits an event takes the event as an argument and commits
//! both at once (the outbox; see the crate docs).

mod mongo;

pub use mongo::MongoUserStore;

use crate::domain::{DisplayName, Email, Login, PasswordHash, Preferences, ProfileChange, UserId, Username};

/// The first id handed to a registered user: above every MovieLens user id (ml-32m's largest is
/// 200,948), so accounts never collide with imported ratings.
pub const FIRST_USER_ID: u64 = 1_000_001;

/// A field with a unique index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueField {
    /// `username`.
    Username,
    /// `email`.
    Email,
}

impl UniqueField {
    /// The request field name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Username => "username",
            Self::Email => "email",
        }
    }
}

/// Why a storage call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another account already has this username or email.
    #[error("{} is already in use", field.name())]
    Duplicate {
        /// Which unique field clashed.
        field: UniqueField,
    },
    /// The server could not be reached or dropped the connection (worth retrying).
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] mongodb::error::Error),
    /// The server refused a command.
    #[error("storage error: {0}")]
    Driver(#[source] mongodb::error::Error),
    /// Anything else (a bug, corrupt data).
    #[error("storage error: {0}")]
    Other(String),
}

impl StoreError {
    /// Whether retrying may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// An account as stored (the hash included: never send it to clients).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUser {
    /// Numeric id.
    pub id: UserId,
    /// Unique name.
    pub username: Username,
    /// Unique email.
    pub email: Email,
    /// Display name.
    pub display_name: DisplayName,
    /// argon2id hash.
    pub password_hash: PasswordHash,
    /// Preferences.
    pub preferences: Preferences,
    /// Creation time, seconds since the Unix epoch.
    pub created_at_unix: i64,
}

impl StoredUser {
    /// The profile as sent to clients: everything but the hash.
    pub fn to_proto(&self) -> proto::users::v1::User {
        proto::users::v1::User {
            user_id: self.id.get(),
            username: self.username.as_str().to_string(),
            email: self.email.as_str().to_string(),
            display_name: self.display_name.as_str().to_string(),
            preferences: Some(self.preferences.to_proto()),
            created_at_unix: self.created_at_unix,
        }
    }
}

/// An event waiting in a user's outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Unique id (also inside the payload); consumers de-duplicate by it.
    pub event_id: String,
    /// Kafka topic.
    pub topic: String,
    /// Message key (the user id as decimal text).
    pub key: String,
    /// Encoded protobuf event.
    pub payload: Vec<u8>,
}

/// What the outbox drainer has to do for one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PendingWork {
    /// Undelivered events, oldest first.
    pub events: Vec<OutboxEvent>,
    /// The account is deleted: remove the document once the events are out.
    pub deleted: bool,
}

/// Persistent accounts. Every method is one round trip (or a few) that either happens entirely
/// or not at all; [`StoreError::Unavailable`] is the only error worth retrying.
pub trait UserStore: Send + Sync + 'static {
    /// A fresh user id (from [`FIRST_USER_ID`] up); ids are never reused.
    fn allocate_user_id(&self) -> impl Future<Output = Result<UserId, StoreError>> + Send;

    /// Stores a new account; a taken username or email is [`StoreError::Duplicate`].
    fn insert(&self, user: &StoredUser) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The live (not deleted) account with this id.
    fn get(&self, id: UserId) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send;

    /// The live account with this username or email.
    fn find_by_login(
        &self,
        login: &Login,
    ) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send;

    /// Applies `change` to a live account and returns it afterwards (`None`: no such account).
    fn update_profile(
        &self,
        id: UserId,
        change: &ProfileChange,
    ) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send;

    /// Replaces the preferences and queues `event`, atomically; returns the account afterwards.
    fn update_preferences(
        &self,
        id: UserId,
        preferences: &Preferences,
        event: &OutboxEvent,
    ) -> impl Future<Output = Result<Option<StoredUser>, StoreError>> + Send;

    /// Marks a live account deleted and queues `event`, atomically; `false`: no such account.
    /// From then on the account is invisible; the document goes with [`UserStore::purge`].
    fn mark_deleted(
        &self,
        id: UserId,
        event: &OutboxEvent,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The user's undelivered events and whether the account is deleted.
    fn pending(&self, id: UserId) -> impl Future<Output = Result<PendingWork, StoreError>> + Send;

    /// Up to `limit` users with undelivered events or deleted documents still present.
    fn users_with_pending_work(
        &self,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<UserId>, StoreError>> + Send;

    /// Drops the delivered event `event_id` from the user's outbox.
    fn remove_event(&self, id: UserId, event_id: &str)
    -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes a deleted account's document once its outbox is empty (else does nothing).
    fn purge(&self, id: UserId) -> impl Future<Output = Result<(), StoreError>> + Send;
}
