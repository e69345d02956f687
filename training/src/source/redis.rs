//! Training ratings from the ratings service's Redis keys (`cinerec train --ratings-redis URL
//! [--ratings-prefix P]`), so that the training CronJob learns from live ratings.
//!
//! Reads the layout [`contract::ratings_redis`] documents: the set `P:users` (SSCAN with a large COUNT),
//! then each user's hash `P:user:{uid}:ratings` (movie id → `"{half_stars}:{timestamp_ms}"`)
//! with pipelined HGETALLs, several pipelines in flight. The log is canonical, whatever order
//! Redis returns: entries sorted by (user id, movie id), dense indices in that order, timestamps
//! in Unix seconds like the MovieLens files. The same ratings in canonical order therefore give
//! the same model, bit for bit.

use std::fmt;

use contract::ratings_redis::{Keys, parse_value};
use contract::{SecretUrl, UserId};
use engine::InteractionLog;
use fred::prelude::{ClientLike, Config as FredConfig, Value};
use fred::types::{Builder, ClusterHash, CustomCommand};
use tokio::task::JoinSet;

use crate::data::Loaded;
use crate::error::Result;
use crate::source::RatingsSource;

/// The key prefix the ratings service uses by default.
pub use contract::ratings_redis::DEFAULT_PREFIX;
/// Users per pipelined round trip.
const USERS_PER_PIPELINE: usize = 500;
/// Pipelines in flight at once.
const PIPELINES_IN_FLIGHT: usize = 4;

/// Why reading ratings from Redis failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisSourceError {
    /// The URL is not a Redis URL.
    #[error("invalid Redis URL {url}: {}", source.details())]
    Url {
        /// The URL, password masked.
        url: String,
        /// The client's error (its details are shown).
        #[source]
        source: fred::error::Error,
    },
    /// The server could not be reached or a command failed.
    #[error("Redis at {url}: {what}: {}", source.details())]
    Command {
        /// The URL, password masked.
        url: String,
        /// The operation.
        what: &'static str,
        /// The client's error (its details are shown).
        #[source]
        source: fred::error::Error,
    },
    /// A key holds something the ratings service does not write.
    #[error("Redis key `{key}`: unexpected value {value:?} (expected {expected})")]
    Corrupt {
        /// The key.
        key: String,
        /// The value found.
        value: String,
        /// What the layout says.
        expected: &'static str,
    },
}

/// The ratings in a ratings service's Redis.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisRatings {
    /// `redis://[:password@]host:port[/db]`.
    pub url: String,
    /// The key prefix.
    pub prefix: String,
}

impl fmt::Debug for RedisRatings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRatings").field("url", &masked(&self.url)).field("prefix", &self.prefix).finish()
    }
}

impl RatingsSource for RedisRatings {
    fn name(&self) -> String {
        format!("redis {} prefix {}", masked(&self.url), self.prefix)
    }

    fn load(&self) -> Result<Loaded> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let log = runtime.block_on(read_log(&self.url, &self.prefix))?;
        Ok(Loaded { name: self.name(), log, movies: Vec::new() })
    }
}

/// `url` with its password replaced by `***`.
fn masked(url: &str) -> String {
    SecretUrl::new(url).to_string()
}

/// Every rating under `prefix` at `url` as a canonical log (see the module docs).
pub async fn read_log(url: &str, prefix: &str) -> Result<InteractionLog, RedisSourceError> {
    let command_error = |what: &'static str| {
        move |source: fred::error::Error| RedisSourceError::Command { url: masked(url), what, source }
    };
    let config =
        FredConfig::from_url(url).map_err(|source| RedisSourceError::Url { url: masked(url), source })?;
    let client = Builder::from_config(config)
        .with_connection_config(|c| c.connection_timeout = std::time::Duration::from_secs(10))
        .build()
        .map_err(command_error("creating the client"))?;
    let _connection = client.init().await.map_err(command_error("connecting"))?;

    let keys = Keys::new(prefix);
    let users_key = keys.users();
    let mut users = Vec::new();
    let mut cursor = "0".to_owned();
    loop {
        let args: Vec<Value> =
            vec![users_key.as_str().into(), cursor.as_str().into(), "COUNT".into(), Value::from(10_000)];
        let reply: Value = client
            .custom(CustomCommand::new_static("SSCAN", ClusterHash::FirstKey, false), args)
            .await
            .map_err(command_error("scanning the users"))?;
        let mut parts = reply.into_array().into_iter();
        cursor = parts.next().and_then(|c| c.as_string()).unwrap_or_else(|| "0".to_owned());
        for member in parts.next().map(Value::into_array).unwrap_or_default() {
            let text = member.as_string().unwrap_or_default();
            let id = text.parse::<UserId>().map_err(|_| RedisSourceError::Corrupt {
                key: users_key.clone(),
                value: text.clone(),
                expected: "decimal user ids",
            })?;
            users.push(id);
        }
        if cursor == "0" {
            break;
        }
    }
    users.sort_unstable();
    users.dedup();

    // (user, movie, half stars, timestamp ms) per chunk of users. Chunks finish in any order;
    // each goes into the log as soon as every earlier one has, so the log keeps the sorted user
    // order (and so its dense indices), and beside it at most the chunks in flight are held.
    let mut log = InteractionLog::new();
    let mut finished = std::collections::BTreeMap::new();
    let mut next = 0;
    let mut tasks = JoinSet::new();
    let mut chunks = users.chunks(USERS_PER_PIPELINE).map(<[UserId]>::to_vec).enumerate();
    loop {
        while tasks.len() < PIPELINES_IN_FLIGHT {
            let Some((index, chunk)) = chunks.next() else { break };
            let (client, keys) = (client.clone(), keys.clone());
            tasks.spawn(async move { (index, read_users(&client, &keys, &chunk).await) });
        }
        let Some(joined) = tasks.join_next().await else { break };
        let (index, res) = joined.expect("a reader task does not panic");
        let ratings = res.map_err(|err| match err {
            ReadError::Redis(e) => command_error("reading user ratings")(e),
            ReadError::Corrupt(corrupt) => corrupt,
        })?;
        finished.insert(index, ratings);
        while let Some(ratings) = finished.remove(&next) {
            for (user, movie, half, timestamp_ms) in ratings {
                log.push(user, movie, f32::from(half) / 2.0, timestamp_ms.div_euclid(1000));
            }
            next += 1;
        }
    }
    let _ = client.quit().await;
    Ok(log)
}

enum ReadError {
    Redis(fred::error::Error),
    Corrupt(RedisSourceError),
}

/// The ratings of `users` (one pipeline of HGETALLs), sorted by (user, movie).
async fn read_users(
    client: &fred::clients::Client,
    keys: &Keys,
    users: &[UserId],
) -> Result<Vec<(u64, u64, u8, i64)>, ReadError> {
    let pipeline = client.pipeline();
    for user in users {
        let key = keys.user_ratings(*user);
        let () = pipeline
            .custom(
                CustomCommand::new_static("HGETALL", ClusterHash::FirstKey, false),
                vec![Value::from(key)],
            )
            .await
            .map_err(ReadError::Redis)?;
    }
    let replies = pipeline.try_all::<Value>().await;
    let mut out = Vec::new();
    for (user, reply) in users.iter().zip(replies) {
        let key = || keys.user_ratings(*user);
        let corrupt = |value: String| {
            ReadError::Corrupt(RedisSourceError::Corrupt {
                key: key(),
                value,
                expected: "movie id → \"half_stars:timestamp_ms\"",
            })
        };
        let start = out.len();
        let mut fields = reply.map_err(ReadError::Redis)?.into_array().into_iter();
        while let (Some(movie), Some(value)) = (fields.next(), fields.next()) {
            let (movie, value) =
                (movie.as_string().unwrap_or_default(), value.as_string().unwrap_or_default());
            let parsed = movie.parse::<u64>().ok().zip(parse_value(&value));
            let Some((movie, (stars, timestamp_ms))) = parsed else {
                return Err(corrupt(format!("{movie} → {value}")));
            };
            out.push((user.get(), movie, stars.half_stars(), timestamp_ms));
        }
        out[start..].sort_unstable_by_key(|&(_, movie, ..)| movie);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(masked("redis://:secret@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(masked("redis://u:secret@h:6379"), "redis://u:***@h:6379");
        assert_eq!(masked("redis://h:6379"), "redis://h:6379");
        let source = RedisRatings { url: "redis://:secret@h:1".into(), prefix: "p".into() };
        assert!(!format!("{source:?} {}", source.name()).contains("secret"));
    }
}
