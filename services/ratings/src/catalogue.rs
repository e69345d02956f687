//! Keeps the set of ratable movies in step with the movies service: consumes `MovieEvent`s
//! (topic `cinerec.movies.v1`) and adds created or updated movies, removes deleted ones. An
//! event's offset is committed only after Redis applied it (retried with backoff while Redis
//! is down), and applying one twice changes nothing, so redelivery is harmless.

use std::sync::Arc;
use std::time::Duration;

use events::consumer::{ConsumerSettings, EventHandler, run_consumer};
use events::kafka::ReceivedEvent;
use prost::Message;
use proto::events::v1::{MovieChange, MovieEvent};
use service_common::Backoff;

use crate::domain::MovieId;
use crate::redis_store::RedisStore;
use crate::store::{RatingStore, StoreError};

/// The consumer group of every ratings replica's catalogue follower.
pub const GROUP: &str = "cinerec-ratings-catalogue";

/// Applies `MovieEvent`s to the catalogue set through the events crate's consumer loop
/// ([`follow_movies`]); a Redis failure hands the same event back after a backoff.
#[derive(Debug)]
pub struct CatalogueFollower {
    store: Arc<RedisStore>,
}

impl EventHandler for CatalogueFollower {
    type Error = StoreError;

    async fn handle(&mut self, event: &ReceivedEvent) -> Result<(), StoreError> {
        apply(&self.store, event).await
    }
}

/// Follows the movie events on `topic` into `store` until `shutdown` (retrying while Kafka is
/// unreachable: the ratings API does not wait for it).
pub async fn follow_movies(
    store: Arc<RedisStore>,
    brokers: String,
    topic: String,
    shutdown: impl Future<Output = ()>,
) {
    let backoff =
        Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(5), attempts: u32::MAX };
    let settings = ConsumerSettings::one_at_a_time(brokers, GROUP.to_string(), vec![topic], backoff);
    run_consumer(settings, CatalogueFollower { store }, shutdown).await;
}

/// Applies one received `MovieEvent`; undecodable or id-less events are logged and skipped.
pub async fn apply(store: &RedisStore, received: &ReceivedEvent) -> Result<(), StoreError> {
    let event = match MovieEvent::decode(received.payload.as_slice()) {
        Ok(event) => event,
        Err(err) => {
            tracing::warn!(%err, offset = received.offset, "skipping an undecodable movie event");
            return Ok(());
        }
    };
    let Ok(movie) = MovieId::parse(event.movie_id, "movie_id") else {
        tracing::warn!(offset = received.offset, "skipping a movie event without a movie id");
        return Ok(());
    };
    match event.change() {
        MovieChange::Created | MovieChange::Updated => store.add_movies(&[movie]).await,
        MovieChange::Deleted => store.remove_movies(&[movie]).await,
        MovieChange::Unspecified => Ok(()),
    }?;
    tracing::debug!(movie = movie.get(), change = ?event.change(), "catalogue updated");
    Ok(())
}
