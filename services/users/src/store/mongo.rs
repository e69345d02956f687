//! [`UserStore`] over MongoDB (`mongodb` 3.x): collection `users` with unique indexes
//! `username_unique` and `email_unique` (created before the first write), the id counter in
//! `counters`, events in each user document's `outbox` array.

use std::time::Duration;

use mongodb::bson::{self, Binary, Bson, Document, doc, spec::BinarySubtype};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::{FIRST_USER_ID, OutboxEvent, PendingWork, StoreError, StoredUser, UniqueField, UserStore};
use crate::config::Secret;
use crate::domain::{DisplayName, Email, Login, PasswordHash, Preferences, ProfileChange, UserId, Username};

/// Index names; duplicate-key errors name them, which is how a clash is mapped to its field.
const USERNAME_INDEX: &str = "username_unique";
const EMAIL_INDEX: &str = "email_unique";

/// Accounts in one MongoDB database.
#[derive(Clone, Debug)]
pub struct MongoUserStore {
    db: Database,
    indexes: std::sync::Arc<OnceCell<()>>,
}

#[derive(Debug, Serialize, Deserialize)]
struct UserDoc {
    #[serde(rename = "_id")]
    id: i64,
    username: String,
    email: String,
    display_name: String,
    password_hash: String,
    preferences: PreferencesDoc,
    created_at: i64,
    deleted: bool,
    #[serde(default)]
    outbox: Vec<OutboxDoc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct PreferencesDoc {
    favourite_genres: Vec<String>,
    languages: Vec<String>,
    blocked_movie_ids: Vec<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct OutboxDoc {
    event_id: String,
    topic: String,
    key: String,
    payload: Binary,
}

impl MongoUserStore {
    /// A client for `url` using `database`. Connects lazily: this succeeds while the server is
    /// down, and every call then waits at most `timeout` for it. Errors never echo the URL (it may
    /// hold credentials).
    pub async fn connect(
        url: &Secret<String>,
        database: &str,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let mut options = ClientOptions::parse(url.expose()).await.map_err(|e| match e.kind.as_ref() {
            ErrorKind::InvalidArgument { .. } => {
                StoreError::Other("CINEREC_MONGO_URL is not a valid MongoDB connection string".into())
            }
            _ => StoreError::Other("CINEREC_MONGO_URL could not be resolved".into()),
        })?;
        options.app_name = Some("cinerec-users".into());
        options.server_selection_timeout = Some(timeout);
        options.connect_timeout = Some(timeout);
        let client = Client::with_options(options).map_err(classify)?;
        Ok(Self::new(client.database(database)))
    }

    /// A store over `db` (indexes are created before the first write).
    pub fn new(db: Database) -> Self {
        Self { db, indexes: std::sync::Arc::new(OnceCell::new()) }
    }

    fn users(&self) -> Collection<UserDoc> {
        self.db.collection("users")
    }

    /// The `users` collection, after making sure its unique indexes exist.
    async fn users_for_write(&self) -> Result<Collection<UserDoc>, StoreError> {
        self.indexes
            .get_or_try_init(|| async {
                let unique = |field: &str, name: &str| {
                    let mut keys = Document::new();
                    keys.insert(field, 1_i32);
                    IndexModel::builder()
                        .keys(keys)
                        .options(IndexOptions::builder().unique(true).name(name.to_string()).build())
                        .build()
                };
                self.users()
                    .create_indexes([unique("username", USERNAME_INDEX), unique("email", EMAIL_INDEX)])
                    .await
                    .map_err(classify)?;
                tracing::info!(database = self.db.name(), "users indexes ready");
                Ok::<(), StoreError>(())
            })
            .await?;
        Ok(self.users())
    }
}

/// Sorts a driver error into [`StoreError`]: connection trouble is `Unavailable`, `E11000` is a
/// duplicate of the field whose index it names.
fn classify(err: mongodb::error::Error) -> StoreError {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) if write.code == 11000 => duplicate(&write.message),
        ErrorKind::Command(command) if command.code == 11000 => duplicate(&command.message),
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) | ErrorKind::ConnectionPoolCleared { .. } => {
            StoreError::Unavailable(err)
        }
        _ if err.contains_label("RetryableWriteError") || err.contains_label("TransientTransactionError") => {
            StoreError::Unavailable(err)
        }
        _ => StoreError::Driver(err),
    }
}

fn is_duplicate_key(err: &mongodb::error::Error) -> bool {
    match err.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(write)) => write.code == 11000,
        ErrorKind::Command(command) => command.code == 11000,
        _ => false,
    }
}

fn duplicate(message: &str) -> StoreError {
    if message.contains(USERNAME_INDEX) || message.contains("dup key: { username") {
        StoreError::Duplicate { field: UniqueField::Username }
    } else if message.contains(EMAIL_INDEX) || message.contains("dup key: { email") {
        StoreError::Duplicate { field: UniqueField::Email }
    } else {
        StoreError::Other(format!("duplicate key on an unexpected index: {message}"))
    }
}

fn id_bson(id: UserId) -> i64 {
    // User ids are allocated from FIRST_USER_ID by one and never approach i64::MAX.
    id.get() as i64
}

fn to_bson<T: Serialize>(value: &T) -> Result<Bson, StoreError> {
    bson::to_bson(value).map_err(|e| StoreError::Other(format!("encoding a user document: {e}")))
}

fn preferences_doc(preferences: &Preferences) -> PreferencesDoc {
    PreferencesDoc {
        favourite_genres: preferences.favourite_genres.clone(),
        languages: preferences.languages.clone(),
        blocked_movie_ids: preferences.blocked_movie_ids.iter().map(|&id| id as i64).collect(),
    }
}

fn outbox_doc(event: &OutboxEvent) -> OutboxDoc {
    OutboxDoc {
        event_id: event.event_id.clone(),
        topic: event.topic.clone(),
        key: event.key.clone(),
        payload: Binary { subtype: BinarySubtype::Generic, bytes: event.payload.clone() },
    }
}

impl TryFrom<UserDoc> for StoredUser {
    type Error = StoreError;

    fn try_from(doc: UserDoc) -> Result<Self, StoreError> {
        let doc_id = doc.id;
        let corrupt = |e: crate::domain::FieldError| {
            StoreError::Other(format!("user document {doc_id} is corrupt: {e}"))
        };
        Ok(Self {
            id: UserId::parse(u64::try_from(doc.id).unwrap_or(0), "_id").map_err(corrupt)?,
            username: Username::parse(&doc.username).map_err(corrupt)?,
            email: Email::parse("email", &doc.email).map_err(corrupt)?,
            display_name: DisplayName::parse(&doc.display_name).map_err(corrupt)?,
            password_hash: PasswordHash::from_phc(doc.password_hash),
            preferences: Preferences {
                favourite_genres: doc.preferences.favourite_genres,
                languages: doc.preferences.languages,
                blocked_movie_ids: doc
                    .preferences
                    .blocked_movie_ids
                    .into_iter()
                    .map(|id| id as u64)
                    .collect(),
            },
            created_at_unix: doc.created_at,
        })
    }
}

fn live(doc: Option<UserDoc>) -> Result<Option<StoredUser>, StoreError> {
    doc.filter(|doc| !doc.deleted).map(StoredUser::try_from).transpose()
}

impl UserStore for MongoUserStore {
    async fn allocate_user_id(&self) -> Result<UserId, StoreError> {
        let counters = self.db.collection::<Document>("counters");
        let mut attempt = 0;
        let counter = loop {
            attempt += 1;
            let res = counters
                .find_one_and_update(doc! { "_id": "user_id" }, doc! { "$inc": { "seq": 1_i64 } })
                .upsert(true)
                .return_document(ReturnDocument::After)
                .await;
            match res {
                Ok(Some(counter)) => break counter,
                // Racing first upserts: MongoDB may refuse all but one with E11000 on `_id`, and
                // SecantusDB answers some of them with no document; the counter exists now, so
                // asking again is safe.
                Ok(None) if attempt < 3 => continue,
                Err(err) if attempt < 3 && is_duplicate_key(&err) => continue,
                Ok(None) => {
                    return Err(StoreError::Other("the user id counter upsert returned nothing".into()));
                }
                Err(err) => return Err(classify(err)),
            }
        };
        let seq = match counter.get("seq") {
            Some(Bson::Int64(n)) => *n,
            Some(Bson::Int32(n)) => i64::from(*n),
            other => return Err(StoreError::Other(format!("the user id counter holds {other:?}"))),
        };
        let id =
            u64::try_from(seq).map_err(|_| StoreError::Other(format!("the user id counter is {seq}")))?;
        UserId::parse(FIRST_USER_ID - 1 + id, "_id").map_err(|e| StoreError::Other(e.to_string()))
    }

    async fn insert(&self, user: &StoredUser) -> Result<(), StoreError> {
        let doc = UserDoc {
            id: id_bson(user.id),
            username: user.username.as_str().to_string(),
            email: user.email.as_str().to_string(),
            display_name: user.display_name.as_str().to_string(),
            password_hash: user.password_hash.expose().to_string(),
            preferences: preferences_doc(&user.preferences),
            created_at: user.created_at_unix,
            deleted: false,
            outbox: Vec::new(),
        };
        match self.users_for_write().await?.insert_one(&doc).await {
            Ok(_) => Ok(()),
            // A duplicate key when the document with this id is this very account: an earlier
            // attempt (retried after its reply was lost) went through. Whichever unique index the
            // server reports first, the account is then in place.
            Err(err) if is_duplicate_key(&err) => {
                let stored = self.users().find_one(doc! { "_id": doc.id }).await.map_err(classify)?;
                match stored {
                    Some(stored)
                        if stored.username == doc.username && stored.password_hash == doc.password_hash =>
                    {
                        Ok(())
                    }
                    Some(_) => Err(StoreError::Other(format!(
                        "user id {} is taken: the id counter is behind",
                        doc.id
                    ))),
                    None => Err(classify(err)),
                }
            }
            Err(err) => Err(classify(err)),
        }
    }

    async fn get(&self, id: UserId) -> Result<Option<StoredUser>, StoreError> {
        live(self.users().find_one(doc! { "_id": id_bson(id) }).await.map_err(classify)?)
    }

    async fn find_by_login(&self, login: &Login) -> Result<Option<StoredUser>, StoreError> {
        let filter = match login {
            Login::Username(username) => doc! { "username": username, "deleted": false },
            Login::Email(email) => doc! { "email": email, "deleted": false },
        };
        live(self.users().find_one(filter).await.map_err(classify)?)
    }

    async fn update_profile(
        &self,
        id: UserId,
        change: &ProfileChange,
    ) -> Result<Option<StoredUser>, StoreError> {
        let mut set = Document::new();
        if let Some(display_name) = &change.display_name {
            set.insert("display_name", display_name.as_str());
        }
        if let Some(email) = &change.email {
            set.insert("email", email.as_str());
        }
        if set.is_empty() {
            return self.get(id).await;
        }
        let updated = self
            .users_for_write()
            .await?
            .find_one_and_update(doc! { "_id": id_bson(id), "deleted": false }, doc! { "$set": set })
            .return_document(ReturnDocument::After)
            .await
            .map_err(classify)?;
        live(updated)
    }

    async fn update_preferences(
        &self,
        id: UserId,
        preferences: &Preferences,
        event: &OutboxEvent,
    ) -> Result<Option<StoredUser>, StoreError> {
        let update = doc! {
            "$set": { "preferences": to_bson(&preferences_doc(preferences))? },
            "$push": { "outbox": to_bson(&outbox_doc(event))? },
        };
        let updated = self
            .users_for_write()
            .await?
            .find_one_and_update(doc! { "_id": id_bson(id), "deleted": false }, update)
            .return_document(ReturnDocument::After)
            .await
            .map_err(classify)?;
        live(updated)
    }

    async fn mark_deleted(&self, id: UserId, event: &OutboxEvent) -> Result<bool, StoreError> {
        let update =
            doc! { "$set": { "deleted": true }, "$push": { "outbox": to_bson(&outbox_doc(event))? } };
        let res = self
            .users_for_write()
            .await?
            .update_one(doc! { "_id": id_bson(id), "deleted": false }, update)
            .await
            .map_err(classify)?;
        Ok(res.matched_count == 1)
    }

    async fn pending(&self, id: UserId) -> Result<PendingWork, StoreError> {
        let Some(doc) = self.users().find_one(doc! { "_id": id_bson(id) }).await.map_err(classify)? else {
            return Ok(PendingWork::default());
        };
        let events = doc
            .outbox
            .into_iter()
            .map(|e| OutboxEvent {
                event_id: e.event_id,
                topic: e.topic,
                key: e.key,
                payload: e.payload.bytes,
            })
            .collect();
        Ok(PendingWork { events, deleted: doc.deleted })
    }

    async fn users_with_pending_work(&self, limit: usize) -> Result<Vec<UserId>, StoreError> {
        let filter = doc! { "$or": [ { "outbox.event_id": { "$exists": true } }, { "deleted": true } ] };
        let mut cursor = self
            .db
            .collection::<Document>("users")
            .find(filter)
            .projection(doc! { "_id": 1 })
            .limit(i64::try_from(limit).unwrap_or(i64::MAX))
            .await
            .map_err(classify)?;
        let mut res = Vec::new();
        while cursor.advance().await.map_err(classify)? {
            let id =
                cursor.current().get_i64("_id").map_err(|e| StoreError::Other(format!("user _id: {e}")))?;
            if let Ok(id) = UserId::parse(u64::try_from(id).unwrap_or(0), "_id") {
                res.push(id);
            }
        }
        Ok(res)
    }

    async fn remove_event(&self, id: UserId, event_id: &str) -> Result<(), StoreError> {
        self.users()
            .update_one(doc! { "_id": id_bson(id) }, doc! { "$pull": { "outbox": { "event_id": event_id } } })
            .await
            .map_err(classify)?;
        Ok(())
    }

    async fn purge(&self, id: UserId) -> Result<(), StoreError> {
        self.users()
            .delete_one(doc! { "_id": id_bson(id), "deleted": true, "outbox.event_id": { "$exists": false } })
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// Readiness: MongoDB answers a `ping` now (within the server selection timeout).
impl service_common::ReadinessProbe for MongoUserStore {
    async fn is_ready(&self) -> bool {
        self.db.run_command(doc! { "ping": 1_i32 }).await.is_ok()
    }
}
