//! Keeps the set of ratable movies in step with the movies service: consumes `MovieEvent`s
//! (topic `cinerec.movies.v1`) and adds created or updated movies, removes deleted ones. An
//! event's offset is committed only after Redis applied it (retried with backoff while Redis
//! is down), and applying one twice changes nothing, so redelivery is harmless.

use std::time::Duration;

use events::kafka::{KafkaSubscriber, ReceivedEvent};
use prost::Message;
use proto::events::v1::{MovieChange, MovieEvent};
use service_common::Backoff;

use crate::domain::MovieId;
use crate::redis_store::RedisStore;
use crate::store::{RatingStore, StoreError};

/// Applies `MovieEvent`s from `subscriber` to `store`'s catalogue until `shutdown` completes.
pub async fn follow_movies(
    store: &RedisStore,
    subscriber: KafkaSubscriber,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let backoff =
        Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(5), attempts: u32::MAX };
    let mut failures = 0u32;
    loop {
        let received = tokio::select! {
            received = subscriber.next() => received,
            () = &mut shutdown => return,
        };
        let event = match received {
            Ok(event) => event,
            Err(err) => {
                failures += 1;
                tracing::warn!(%err, "reading movie events failed");
                tokio::select! {
                    () = tokio::time::sleep(backoff.delay(failures)) => continue,
                    () = &mut shutdown => return,
                }
            }
        };
        // The same event until Redis takes it: its offset is committed only then.
        loop {
            match apply(store, &event).await {
                Ok(()) => {
                    failures = 0;
                    if let Err(err) = subscriber.commit(&event) {
                        tracing::warn!(%err, offset = event.offset, "committing a movie event failed");
                    }
                    break;
                }
                Err(err) => {
                    failures += 1;
                    tracing::warn!(%err, offset = event.offset, "applying a movie event failed; retrying");
                    tokio::select! {
                        () = tokio::time::sleep(backoff.delay(failures)) => {}
                        () = &mut shutdown => return,
                    }
                }
            }
        }
    }
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
