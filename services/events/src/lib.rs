//! Domain events between services: the [`EventPublisher`] trait every producer codes against,
//! an in-memory [`MemoryPublisher`] for unit tests, (module `kafka`) the Kafka implementation
//! (topics are created by the publisher on first use and by the consumer on subscribe, nowhere
//! else), the one outbox relay loop ([`relay`]) and the one consumer loop ([`consumer`]). Payloads are protobuf messages from
//! `proto::events::v1`; topic names are in `proto::events::topics`.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

pub mod consumer;
pub mod kafka;
pub mod relay;

/// Why an event could not be published.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// The broker did not accept the message (down, timed out, refused).
    #[error("publishing to topic `{topic}` failed: {reason}")]
    Publish {
        /// Topic the message was for.
        topic: String,
        /// What the client reported.
        reason: String,
    },
    /// A Kafka client could not be created (bad settings).
    #[error("Kafka client for `{brokers}`: {reason}")]
    Client {
        /// The bootstrap servers.
        brokers: String,
        /// What went wrong.
        reason: String,
    },
    /// Creating or inspecting topics failed.
    #[error("Kafka admin request to `{brokers}` failed: {reason}")]
    Admin {
        /// The bootstrap servers.
        brokers: String,
        /// What went wrong.
        reason: String,
    },
    /// Receiving or committing failed.
    #[error("consuming events failed: {reason}")]
    Consume {
        /// What went wrong.
        reason: String,
    },
}

/// Remembers the last `capacity` event ids so that a consumer handles each event once even
/// though delivery is at-least-once.
#[derive(Debug)]
pub struct Deduplicator {
    seen: HashSet<String>,
    order: VecDeque<String>,
    capacity: usize,
}

impl Deduplicator {
    /// Remembers up to `capacity` ids (at least 1); the oldest are forgotten first.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self { seen: HashSet::with_capacity(capacity), order: VecDeque::with_capacity(capacity), capacity }
    }

    /// True the first time `event_id` is offered (within the remembered window), false for a
    /// duplicate.
    pub fn first_time(&mut self, event_id: &str) -> bool {
        if self.seen.contains(event_id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.seen.insert(event_id.to_string());
        self.order.push_back(event_id.to_string());
        true
    }
}

/// Sends one event to a topic. Implementations return only after the broker acknowledged it
/// (at-least-once); callers that must not lose events keep them in an outbox until then.
pub trait EventPublisher: Send + Sync {
    /// Publishes `payload` (an encoded protobuf event) to `topic` under `key` (the user id, or the
    /// movie id for movie events, as decimal text).
    fn publish(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), EventError>> + Send;
}

/// One message kept by [`MemoryPublisher`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedEvent {
    /// Topic.
    pub topic: String,
    /// Message key.
    pub key: String,
    /// Encoded event.
    pub payload: Vec<u8>,
}

/// Keeps published events in memory, for unit tests; can be switched to fail like a broker
/// that is down.
#[derive(Debug, Default)]
pub struct MemoryPublisher {
    events: Mutex<Vec<PublishedEvent>>,
    down: std::sync::atomic::AtomicBool,
    refused: std::sync::atomic::AtomicUsize,
}

impl MemoryPublisher {
    /// An empty, working publisher.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every event published so far, oldest first.
    pub fn events(&self) -> Vec<PublishedEvent> {
        self.events.lock().expect("publisher lock").clone()
    }

    /// While `down`, every publish fails with [`EventError::Publish`].
    pub fn set_down(&self, down: bool) {
        self.down.store(down, std::sync::atomic::Ordering::SeqCst);
    }

    /// Publishes refused while down so far: evidence that a relay tried, for tests that check
    /// that nothing was delivered.
    pub fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl EventPublisher for MemoryPublisher {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), EventError> {
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            self.refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            return Err(EventError::Publish {
                topic: topic.to_string(),
                reason: "broker down (test)".into(),
            });
        }
        let event = PublishedEvent { topic: topic.to_string(), key: key.to_string(), payload };
        self.events.lock().expect("publisher lock").push(event);
        Ok(())
    }
}

impl<P: EventPublisher> EventPublisher for std::sync::Arc<P> {
    fn publish(
        &self,
        topic: &str,
        key: &str,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<(), EventError>> + Send {
        (**self).publish(topic, key, payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deduplicator_drops_repeats_within_its_window() {
        let mut dedup = Deduplicator::new(2);
        assert!(dedup.first_time("a"));
        assert!(!dedup.first_time("a"));
        assert!(dedup.first_time("b"));
        assert!(dedup.first_time("c")); // forgets "a"
        assert!(!dedup.first_time("b"));
        assert!(dedup.first_time("a"));
    }

    #[test]
    fn memory_publisher_keeps_events_and_fails_while_down() {
        let publisher = MemoryPublisher::new();
        let run = block_on;
        run(publisher.publish("t", "1", vec![1])).unwrap();
        publisher.set_down(true);
        let err = run(publisher.publish("t", "2", vec![2])).unwrap_err();
        assert!(err.to_string().contains("topic `t`"), "{err}");
        publisher.set_down(false);
        run(publisher.publish("t", "3", vec![3])).unwrap();
        let keys: Vec<_> = publisher.events().into_iter().map(|e| e.key).collect();
        assert_eq!(keys, ["1", "3"]);
    }

    /// Polls a future that never waits (the memory publisher) to completion.
    fn block_on<T>(fut: impl Future<Output = T>) -> T {
        let mut fut = std::pin::pin!(fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        match fut.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(value) => value,
            std::task::Poll::Pending => panic!("memory publisher never waits"),
        }
    }
}
