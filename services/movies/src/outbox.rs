//! `MovieEvent`s: encoding them for the outbox, and the relay that publishes the outbox to Kafka
//! in outbox order, a batch at a time, keyed by movie id, deleting each event only after the broker acknowledged it
//! (at-least-once; consumers de-duplicate by `event_id`). While the broker is down events wait
//! in PostgreSQL and the relay retries with backoff.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use events::EventPublisher;
use events::relay::{OutboxSource, RelayRound, RelaySchedule};
use prometheus_client::metrics::counter::Counter;
use prost::Message;
use proto::events::v1::{MovieChange, MovieEvent};
use service_common::Backoff;

use crate::domain::{MovieFields, MovieId};
use crate::store::MovieStore;

/// Events published per outbox read.
pub const RELAY_BATCH: u32 = 200;

/// An encoded `MovieEvent` with a fresh event id and the current time: the movie's title,
/// genres and year after the change (`fields`, none when deleted).
pub fn encode_event(movie_id: MovieId, change: MovieChange, fields: Option<&MovieFields>) -> Vec<u8> {
    let timestamp_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let fields = fields.filter(|_| change != MovieChange::Deleted);
    MovieEvent {
        event_id: uuid::Uuid::new_v4().to_string(),
        movie_id: movie_id.get(),
        change: change as i32,
        title: fields.map(|f| f.title.clone()).unwrap_or_default(),
        timestamp_ms,
        genres: fields.map(|f| f.genres.clone()).unwrap_or_default(),
        year: fields.and_then(|f| f.year).unwrap_or(0),
    }
    .encode_to_vec()
}

/// Counters of the relay, registered by the application.
#[derive(Clone, Debug, Default)]
pub struct RelayMetrics {
    /// Events the broker acknowledged.
    pub published: Counter,
    /// Failed publish attempts (each is retried).
    pub failures: Counter,
}

/// How the relay runs.
#[derive(Clone, Debug)]
pub struct RelaySettings {
    /// Topic of `MovieEvent`s.
    pub topic: String,
    /// How often to look for events written by other processes (the importer) when nothing
    /// woke the relay.
    pub poll: Duration,
    /// Waits between failed attempts (only `initial` and `max` are used: the relay never gives
    /// up).
    pub backoff: Backoff,
}

impl Default for RelaySettings {
    /// [`proto::events::topics::MOVIES`], a 1 s poll, 100 ms to 5 s between failures.
    fn default() -> Self {
        Self {
            topic: proto::events::topics::MOVIES.to_string(),
            poll: Duration::from_secs(1),
            backoff: Backoff {
                initial: Duration::from_millis(100),
                max: Duration::from_secs(5),
                attempts: u32::MAX,
            },
        }
    }
}

impl RelaySettings {
    /// When the relay's rounds run.
    pub fn schedule(&self) -> RelaySchedule {
        RelaySchedule { poll: self.poll, backoff: self.backoff }
    }
}

/// The movies outbox as the events crate's relay drains it ([`events::relay::run_relay`]).
#[derive(Debug)]
pub struct MoviesOutbox<S, P> {
    store: Arc<S>,
    publisher: P,
    topic: String,
    metrics: RelayMetrics,
}

impl<S, P> MoviesOutbox<S, P> {
    /// The outbox of `store`, published to `topic` through `publisher`.
    pub fn new(store: Arc<S>, publisher: P, topic: String, metrics: RelayMetrics) -> Self {
        Self { store, publisher, topic, metrics }
    }
}

impl<S: MovieStore, P: EventPublisher> OutboxSource for MoviesOutbox<S, P> {
    type Error = RelayError;

    async fn relay_round(&mut self) -> Result<RelayRound, RelayError> {
        match drain_once(&*self.store, &self.publisher, &self.topic, &self.metrics).await {
            Ok(published) => Ok(RelayRound { published, more: published == RELAY_BATCH as usize }),
            Err(err) => {
                self.metrics.failures.inc();
                Err(err)
            }
        }
    }
}

/// Why one relay round stopped.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Reading or forgetting events failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The broker did not acknowledge an event.
    #[error(transparent)]
    Publish(#[from] events::EventError),
}

/// Publishes up to one batch, all of its events at once (the producer pipelines them: one
/// round trip per batch instead of per event, and they are handed to it in outbox order), and
/// forgets every acknowledged one. Returns how many were published, or the first failure (the
/// unacknowledged events stay for the next round, so after a broker failure an event may
/// follow a later one of the same movie; consumers de-duplicate by event id).
async fn drain_once<S: MovieStore, P: EventPublisher>(
    store: &S,
    publisher: &P,
    topic: &str,
    metrics: &RelayMetrics,
) -> Result<usize, RelayError> {
    let pending = store.pending_events(RELAY_BATCH).await?;
    let keys: Vec<String> = pending.iter().map(|event| event.movie_id.to_string()).collect();
    let seqs: Vec<i64> = pending.iter().map(|event| event.seq).collect();
    let sends =
        pending.into_iter().zip(&keys).map(|(event, key)| publisher.publish(topic, key, event.payload));
    let results = join_in_order(sends.collect()).await;
    let mut done = Vec::with_capacity(results.len());
    let mut failure = None;
    for (seq, res) in seqs.into_iter().zip(results) {
        match res {
            Ok(()) => done.push(seq),
            Err(err) => failure = failure.or(Some(err)),
        }
    }
    if !done.is_empty() {
        store.remove_events(&done).await?;
        metrics.published.inc_by(done.len() as u64);
        tracing::debug!(events = done.len(), topic, "published movie events");
    }
    match failure {
        Some(err) => Err(err.into()),
        None => Ok(done.len()),
    }
}

/// Runs `futures` concurrently in the calling task, polling them in order (so each is first
/// polled, i.e. handed to the producer, in order); returns their outputs in order.
async fn join_in_order<F: Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(move |cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(outputs.drain(..).map(|o| o.expect("every future is ready")).collect())
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_in_order_keeps_the_order_of_results() {
        let sleeps = [30u64, 10, 20].map(|ms| async move {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            ms
        });
        assert_eq!(join_in_order(sleeps.into()).await, [30, 10, 20]);
        assert!(join_in_order(Vec::<std::future::Ready<u8>>::new()).await.is_empty());
    }

    #[test]
    fn events_carry_id_change_title_and_a_fresh_event_id() {
        let id = MovieId::parse(42, "movie_id").unwrap();
        let heat = MovieFields {
            title: "Heat".into(),
            year: Some(1995),
            genres: vec!["Action".into(), "Crime".into()],
            imdb_id: None,
            tmdb_id: None,
        };
        let a = MovieEvent::decode(&*encode_event(id, MovieChange::Created, Some(&heat))).unwrap();
        let b = MovieEvent::decode(&*encode_event(id, MovieChange::Deleted, Some(&heat))).unwrap();
        assert_eq!((a.movie_id, a.change(), a.title.as_str()), (42, MovieChange::Created, "Heat"));
        assert_eq!((a.year, a.genres.as_slice()), (1995, &["Action".to_string(), "Crime".to_string()][..]));
        assert!(b.genres.is_empty() && b.year == 0);
        assert_eq!((b.change(), b.title.as_str()), (MovieChange::Deleted, ""));
        assert_ne!(a.event_id, b.event_id);
        assert!(a.timestamp_ms > 1_500_000_000_000);
    }
}
