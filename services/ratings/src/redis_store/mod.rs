//! [`RatingStore`] over Redis with `fred`: the key layout of [`contract::ratings_redis`], one
//! Lua script per change (`EVALSHA`, loaded again after `NOSCRIPT`), and bounded retries with
//! backoff around every call. The outbox side ([`Outbox`] over a stream read through a consumer
//! group) is in `outbox.rs`, the importer's pipelined writes in `import.rs`.
//!
//! Commands fail fast while the connection is down (fred reconnects in the background), so a
//! call gives up after [`RedisStoreSettings::backoff`] attempts with
//! [`StoreError::Unavailable`] and the next request succeeds once Redis is back.

use std::time::Duration;

use fred::prelude::{ClientLike, Config as FredConfig, ErrorKind, Options, ReconnectPolicy, Value};
use fred::types::{Builder, ClusterHash, CustomCommand};
use proto::events::v1::RatingChange;
use service_common::{Backoff, retry};
use uuid::Uuid;

use crate::config::RedisUrl;
use crate::domain::{MovieId, PageRequest, UserId};
use crate::event;
use crate::store::{MovieStats, NewRating, RatingStore, RatingsPage, StoreError, StoredRating, Submitted};

mod import;
mod outbox;

pub use contract::ratings_redis::{DEFAULT_PREFIX, Keys, OUTBOX_GROUP, parse_value};

/// The nine keys a change of `user`'s rating of `movie` touches, in the scripts' order.
fn change_keys(keys: &Keys, user: UserId, movie: MovieId) -> Vec<String> {
    vec![
        keys.user_ratings(user),
        keys.user_recent(user),
        keys.movie_ratings(movie),
        keys.movie_recent(movie),
        keys.movie_stats(movie),
        keys.reviews(),
        keys.movies(),
        keys.users(),
        keys.outbox(),
    ]
}

/// How the store talks to Redis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedisStoreSettings {
    /// Key prefix (see the crate docs).
    pub prefix: String,
    /// Kafka topic written into outbox entries.
    pub topic: String,
    /// Timeout of one command (and of connecting).
    pub command_timeout: Duration,
    /// Attempts and waits before a call reports [`StoreError::Unavailable`].
    pub backoff: Backoff,
}

impl Default for RedisStoreSettings {
    /// Prefix `cinerec:ratings`, the `RatingEvent` topic, 1 s commands, 5 attempts.
    fn default() -> Self {
        Self {
            prefix: DEFAULT_PREFIX.to_owned(),
            topic: proto::events::topics::RATINGS.to_owned(),
            command_timeout: Duration::from_secs(1),
            backoff: Backoff::default(),
        }
    }
}

/// A Lua script with its SHA-1.
#[derive(Debug)]
struct Script {
    lua: &'static str,
    sha: String,
}

impl Script {
    fn new(lua: &'static str) -> Self {
        Self { lua, sha: fred::util::sha1_hash(lua) }
    }
}

#[derive(Debug)]
struct Scripts {
    submit: Script,
    delete: Script,
    list: Script,
    stats: Script,
    ack: Script,
}

/// The Redis adapter.
#[derive(Debug)]
pub struct RedisStore {
    client: fred::clients::Client,
    options: Options,
    keys: Keys,
    settings: RedisStoreSettings,
    scripts: Scripts,
}

/// What a submit script call should do with a rating that is already stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteMode {
    /// Replace it and write the event (requests).
    Live,
    /// Keep it when it is newer than or the same as the one written (imports: re-running is
    /// idempotent, writes no event twice and never overwrites a rating made since).
    Import,
}

impl RedisStore {
    /// Connects to `url` (fails when Redis does not answer within the command timeout).
    pub async fn connect(url: &RedisUrl, settings: RedisStoreSettings) -> Result<Self, StoreError> {
        let config = FredConfig::from_url(url.expose())
            .map_err(|source| StoreError::Command { what: "parsing the URL", source })?;
        let timeout = settings.command_timeout;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = timeout;
                c.internal_command_timeout = timeout;
                c.max_command_attempts = 1;
            })
            .with_performance_config(|p| p.default_command_timeout = timeout)
            // Reconnect forever in the background; requests meanwhile fail fast (see `options`).
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 1000, 2))
            .build()
            .map_err(|source| StoreError::Command { what: "creating the client", source })?;
        let _connection =
            client.init().await.map_err(|source| StoreError::Unavailable { what: "connecting", source })?;
        let options =
            Options { timeout: Some(timeout), fail_fast: true, max_attempts: Some(1), ..Options::default() };
        let scripts = Scripts {
            submit: Script::new(include_str!("lua/submit.lua")),
            delete: Script::new(include_str!("lua/delete.lua")),
            list: Script::new(include_str!("lua/list.lua")),
            stats: Script::new(include_str!("lua/stats.lua")),
            ack: Script::new(include_str!("lua/ack.lua")),
        };
        Ok(Self { client, options, keys: Keys::new(&settings.prefix), settings, scripts })
    }

    /// The keys of this store's prefix.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The settings.
    pub fn settings(&self) -> &RedisStoreSettings {
        &self.settings
    }

    /// Closes the connection.
    pub async fn quit(&self) {
        let _ = self.client.quit().await;
    }

    /// Runs `command args` once (no retry) with the fail-fast options.
    async fn raw(&self, command: &'static str, args: Vec<Value>) -> Result<Value, fred::error::Error> {
        let command = CustomCommand::new_static(command, ClusterHash::Random, false);
        self.client.with_options(&self.options).custom::<Value, Value>(command, args).await
    }

    /// `EVALSHA` of `script`, loading it first when the server does not know it (new or
    /// restarted server).
    async fn eval_once(
        &self,
        script: &Script,
        keys: &[String],
        args: &[Value],
    ) -> Result<Value, fred::error::Error> {
        let mut call = Vec::with_capacity(2 + keys.len() + args.len());
        call.push(Value::from(script.sha.as_str()));
        call.push(Value::from(keys.len() as i64));
        call.extend(keys.iter().map(|k| Value::from(k.as_str())));
        call.extend(args.iter().cloned());
        match self.raw("EVALSHA", call.clone()).await {
            Err(err) if err.details().starts_with("NOSCRIPT") => {
                self.raw("SCRIPT", vec!["LOAD".into(), script.lua.into()]).await?;
                self.raw("EVALSHA", call).await
            }
            res => res,
        }
    }

    /// [`Self::eval_once`] with the bounded retries.
    async fn eval(
        &self,
        what: &'static str,
        script: &Script,
        keys: &[String],
        args: &[Value],
    ) -> Result<Value, StoreError> {
        self.with_retry(what, || self.eval_once(script, keys, args)).await
    }

    /// Runs `op` with the bounded retries; transient failures become
    /// [`StoreError::Unavailable`], others [`StoreError::Internal`].
    async fn with_retry<T, Op, Fut>(&self, what: &'static str, op: Op) -> Result<T, StoreError>
    where
        Op: FnMut() -> Fut,
        Fut: Future<Output = Result<T, fred::error::Error>>,
    {
        retry(&self.settings.backoff, what, is_transient, op).await.map_err(|err| classify(what, err))
    }

    /// Loads every script (imports call this before pipelining `EVALSHA`).
    async fn load_scripts(&self) -> Result<(), StoreError> {
        let s = &self.scripts;
        for script in [&s.submit, &s.delete, &s.list, &s.stats, &s.ack] {
            self.with_retry("loading scripts", || self.raw("SCRIPT", vec!["LOAD".into(), script.lua.into()]))
                .await?;
        }
        Ok(())
    }

    /// The submit script's arguments.
    fn submit_args(&self, rating: &NewRating, mode: WriteMode, with_event: bool) -> Vec<Value> {
        let (user, movie, stars) = (rating.user, rating.movie, rating.stars);
        let payload = |change| {
            if with_event {
                event::encode(rating.event_id, user, movie, Some(stars), rating.timestamp_ms, change)
            } else {
                Vec::new()
            }
        };
        vec![
            user.get().to_string().into(),
            movie.get().to_string().into(),
            i64::from(stars.half_stars()).into(),
            rating.timestamp_ms.into(),
            rating.review.as_str().into(),
            match mode {
                WriteMode::Live => "live",
                WriteMode::Import => "import",
            }
            .into(),
            self.settings.topic.as_str().into(),
            event::key(user).into(),
            Value::Bytes(payload(RatingChange::Created).into()),
            Value::Bytes(payload(RatingChange::Updated).into()),
        ]
    }

    /// Parses a list script reply into a page.
    fn page(&self, reply: Value, owner: Owner) -> Result<RatingsPage, StoreError> {
        const WHAT: &str = "listing ratings";
        let mut parts = reply.into_array().into_iter();
        let mut next = || parts.next().ok_or_else(|| unexpected(WHAT, "short reply"));
        let total = next()?.as_u64().ok_or_else(|| unexpected(WHAT, "total"))?;
        let ids = next()?.into_array();
        let values = next()?.into_array();
        let reviews = next()?.into_array();
        let sum = next()?.as_u64().ok_or_else(|| unexpected(WHAT, "sum"))?;
        let count = next()?.as_u64().ok_or_else(|| unexpected(WHAT, "count"))?;
        let mut ratings = Vec::with_capacity(ids.len());
        for ((id, value), review) in ids.into_iter().zip(values).zip(reviews) {
            let other = id.as_u64().ok_or_else(|| unexpected(WHAT, "member id"))?;
            // A member without a hash entry would be a broken invariant; skip rather than fail
            // the whole page, and say so.
            let Some(value) = value.as_str().map(|v| v.into_owned()) else {
                tracing::warn!(member = other, "sorted-set member without a rating; skipped");
                continue;
            };
            let (stars, timestamp_ms) =
                parse_value(&value).ok_or_else(|| unexpected(WHAT, "rating value"))?;
            let (user, movie) = match owner {
                Owner::User(user) => {
                    (user, MovieId::parse(other, "movie_id").map_err(|_| unexpected(WHAT, "movie id"))?)
                }
                Owner::Movie(movie) => {
                    (UserId::parse(other, "user_id").map_err(|_| unexpected(WHAT, "user id"))?, movie)
                }
            };
            let review = review.as_str().map(|r| r.into_owned()).unwrap_or_default();
            ratings.push(StoredRating { user, movie, stars, review, timestamp_ms });
        }
        let stats = matches!(owner, Owner::Movie(_)).then_some(MovieStats { count, half_star_sum: sum });
        Ok(RatingsPage { ratings, total, stats })
    }

    async fn list(&self, owner: Owner, page: PageRequest) -> Result<RatingsPage, StoreError> {
        let (recent, ratings, id, kind, stats) = match owner {
            Owner::User(user) => {
                (self.keys.user_recent(user), self.keys.user_ratings(user), user.get(), "user", String::new())
            }
            Owner::Movie(movie) => (
                self.keys.movie_recent(movie),
                self.keys.movie_ratings(movie),
                movie.get(),
                "movie",
                self.keys.movie_stats(movie),
            ),
        };
        // Key 4 must be a key even for user listings (never read there).
        let stats = if stats.is_empty() { self.keys.reviews() } else { stats };
        let keys = [recent, ratings, self.keys.reviews(), stats, self.keys.movies()];
        let start = page.offset.min(i64::MAX as u64) as i64;
        let stop = start.saturating_add(i64::from(page.size) - 1);
        let args = [start.into(), stop.into(), kind.into(), id.to_string().into()];
        let reply = self.eval("listing ratings", &self.scripts.list, &keys, &args).await?;
        if reply.as_i64() == Some(-1)
            && let Owner::Movie(movie) = owner
        {
            return Err(StoreError::UnknownMovie(movie));
        }
        self.page(reply, owner)
    }
}

#[derive(Clone, Copy, Debug)]
enum Owner {
    User(UserId),
    Movie(MovieId),
}

impl RatingStore for RedisStore {
    async fn submit(&self, rating: &NewRating) -> Result<Submitted, StoreError> {
        let keys = change_keys(&self.keys, rating.user, rating.movie);
        let args = self.submit_args(rating, WriteMode::Live, true);
        let reply = self.eval("submitting a rating", &self.scripts.submit, &keys, &args).await?;
        match reply.as_i64() {
            Some(1) => Ok(Submitted::Created),
            Some(2) => Ok(Submitted::Updated),
            Some(0) => Ok(Submitted::KeptNewer),
            Some(-1) => Err(StoreError::UnknownMovie(rating.movie)),
            _ => Err(unexpected("submitting a rating", &format!("{reply:?}"))),
        }
    }

    async fn delete(
        &self,
        user: UserId,
        movie: MovieId,
        timestamp_ms: i64,
        event_id: Uuid,
    ) -> Result<(), StoreError> {
        let keys = change_keys(&self.keys, user, movie);
        let payload = event::encode(event_id, user, movie, None, timestamp_ms, RatingChange::Deleted);
        let args = [
            user.get().to_string().into(),
            movie.get().to_string().into(),
            self.settings.topic.as_str().into(),
            event::key(user).into(),
            Value::Bytes(payload.into()),
        ];
        let reply = self.eval("deleting a rating", &self.scripts.delete, &keys, &args).await?;
        match reply.as_i64() {
            Some(1) => Ok(()),
            Some(0) => Err(StoreError::NoSuchRating { user, movie }),
            _ => Err(unexpected("deleting a rating", &format!("{reply:?}"))),
        }
    }

    async fn user_ratings(&self, user: UserId, page: PageRequest) -> Result<RatingsPage, StoreError> {
        self.list(Owner::User(user), page).await
    }

    async fn movie_ratings(&self, movie: MovieId, page: PageRequest) -> Result<RatingsPage, StoreError> {
        self.list(Owner::Movie(movie), page).await
    }

    async fn movie_stats(&self, movie: MovieId) -> Result<MovieStats, StoreError> {
        const WHAT: &str = "reading movie stats";
        let keys = [self.keys.movie_stats(movie), self.keys.movies()];
        let reply = self.eval(WHAT, &self.scripts.stats, &keys, &[movie.get().to_string().into()]).await?;
        if reply.as_i64() == Some(-1) {
            return Err(StoreError::UnknownMovie(movie));
        }
        match reply.into_array().as_slice() {
            [sum, count] => Ok(MovieStats {
                count: count.as_u64().ok_or_else(|| unexpected(WHAT, "count"))?,
                half_star_sum: sum.as_u64().ok_or_else(|| unexpected(WHAT, "sum"))?,
            }),
            other => Err(unexpected(WHAT, &format!("{other:?}"))),
        }
    }

    async fn add_movies(&self, movies: &[MovieId]) -> Result<(), StoreError> {
        for chunk in movies.chunks(10_000) {
            let mut args = vec![Value::from(self.keys.movies())];
            args.extend(chunk.iter().map(|m| Value::from(m.get().to_string())));
            self.with_retry("adding movies", || self.raw("SADD", args.clone())).await?;
        }
        Ok(())
    }
}

impl RedisStore {
    /// Removes movies from the catalogue (idempotent); their ratings stay.
    pub async fn remove_movies(&self, movies: &[MovieId]) -> Result<(), StoreError> {
        for chunk in movies.chunks(10_000) {
            let mut args = vec![Value::from(self.keys.movies())];
            args.extend(chunk.iter().map(|m| Value::from(m.get().to_string())));
            self.with_retry("removing movies", || self.raw("SREM", args.clone())).await?;
        }
        Ok(())
    }
}

/// Whether a failed call may succeed when tried again (connection trouble, timeouts, a server
/// still loading).
fn is_transient(err: &fred::error::Error) -> bool {
    matches!(
        err.kind(),
        ErrorKind::IO
            | ErrorKind::Timeout
            | ErrorKind::Canceled
            | ErrorKind::Backpressure
            | ErrorKind::Routing
    ) || ["LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN"]
        .iter()
        .any(|p| err.details().starts_with(p))
}

fn classify(what: &'static str, source: fred::error::Error) -> StoreError {
    if is_transient(&source) {
        StoreError::Unavailable { what, source }
    } else {
        StoreError::Command { what, source }
    }
}

fn unexpected(what: &'static str, detail: &str) -> StoreError {
    StoreError::Internal { what, reason: format!("unexpected reply ({detail})") }
}

/// Readiness: Redis answers a `PING` now (once, within the command timeout).
impl service_common::ReadinessProbe for RedisStore {
    async fn is_ready(&self) -> bool {
        self.raw("PING", Vec::new()).await.is_ok()
    }
}
