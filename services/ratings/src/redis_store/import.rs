//! The importer's side of the store: many submit scripts in one pipeline.

use fred::prelude::{ClientLike, Value};
use fred::types::{ClusterHash, CustomCommand};

use super::{RedisStore, WriteMode, change_keys, unexpected};
use crate::store::{NewRating, StoreError};

impl RedisStore {
    /// Writes `ratings` in one pipeline of submit scripts (`mode`; events only when
    /// `with_events`), retried as a whole on connection trouble (the scripts are idempotent);
    /// returns how many were created, updated and kept (a newer rating was stored).
    pub async fn import_batch(
        &self,
        ratings: &[NewRating],
        mode: WriteMode,
        with_events: bool,
    ) -> Result<[u64; 3], StoreError> {
        const WHAT: &str = "importing ratings";
        let replies = self.with_retry(WHAT, || self.import_once(ratings, mode, with_events)).await?;
        let mut counts = [0u64; 3];
        for (reply, rating) in replies.into_iter().zip(ratings) {
            match reply.as_i64() {
                Some(1) => counts[0] += 1,
                Some(2) => counts[1] += 1,
                Some(0) => counts[2] += 1,
                Some(-1) => return Err(StoreError::UnknownMovie(rating.movie)),
                other => return Err(unexpected(WHAT, &format!("{other:?}"))),
            }
        }
        Ok(counts)
    }

    async fn import_once(
        &self,
        ratings: &[NewRating],
        mode: WriteMode,
        with_events: bool,
    ) -> Result<Vec<Value>, fred::error::Error> {
        let pipeline = self.client.pipeline();
        for rating in ratings {
            let keys = change_keys(&self.keys, rating.user, rating.movie);
            let mut call =
                vec![Value::from(self.scripts.submit.sha.as_str()), Value::from(keys.len() as i64)];
            call.extend(keys.into_iter().map(Value::from));
            call.extend(self.submit_args(rating, mode, with_events));
            let command = CustomCommand::new_static("EVALSHA", ClusterHash::Random, false);
            let () = pipeline.custom(command, call).await?;
        }
        pipeline.try_all::<Value>().await.into_iter().collect()
    }

    /// Prepares an import: loads the scripts so pipelined `EVALSHA` calls find them.
    pub async fn prepare_import(&self) -> Result<(), StoreError> {
        self.load_scripts().await
    }
}
