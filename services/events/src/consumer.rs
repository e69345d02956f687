//! The one event-consumer loop every consuming service runs (serving's overlay, the ratings
//! catalogue; analytics next): [`run_consumer`] creates the topics when missing and subscribes
//! (retrying with backoff while the broker is unreachable), hands each event to the service's
//! [`EventHandler`], retries the same event with backoff while the handler reports a transient
//! failure, commits its offset only once handled, and subscribes again after
//! [`RESUBSCRIBE_AFTER`] consecutive receive errors (a broker that lost its topics in a
//! restart). Warnings are throttled; every failure is reported to the handler for its metrics.
//!
//! With [`ConsumerSettings::max_batch`] above 1 the loop hands over up to that many events at
//! once ([`EventHandler::handle_batch`]: what is already buffered, waiting at most
//! [`ConsumerSettings::linger`] for more), retries the whole batch while it fails, and commits
//! each partition's last offset only once the batch is handled (analytics writes one warehouse
//! transaction per batch).

use std::time::{Duration, Instant};

use service_common::Backoff;

use crate::EventError;
use crate::kafka::{KafkaSubscriber, ReceivedEvent, ensure_topics};

/// Consecutive receive errors after which the consumer creates the topics and subscribes again.
pub const RESUBSCRIBE_AFTER: u32 = 20;

/// Longest wait for the broker to create the topics.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where a consumer's events come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerSettings {
    /// Bootstrap servers.
    pub brokers: String,
    /// Consumer group.
    pub group: String,
    /// Topics.
    pub topics: Vec<String>,
    /// Waits between attempts (its `attempts` is ignored: the consumer never gives up).
    pub backoff: Backoff,
    /// Events handed over at once, at most (1: one at a time).
    pub max_batch: usize,
    /// Longest wait for more events once a batch has begun.
    pub linger: Duration,
}

impl ConsumerSettings {
    /// One event at a time, from `topics` of `brokers` in consumer group `group`.
    pub fn one_at_a_time(brokers: String, group: String, topics: Vec<String>, backoff: Backoff) -> Self {
        Self { brokers, group, topics, backoff, max_batch: 1, linger: Duration::ZERO }
    }
}

/// What failed, as reported to [`EventHandler::failed`] (a metrics label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Creating the topics or subscribing.
    Connect,
    /// Receiving a message.
    Receive,
    /// Handling an event (it is retried).
    Handle,
    /// Committing an offset.
    Commit,
}

impl Stage {
    /// The label (`connect`, `receive`, `handle`, `commit`).
    pub fn label(self) -> &'static str {
        match self {
            Self::Connect => "connect",
            Self::Receive => "receive",
            Self::Handle => "handle",
            Self::Commit => "commit",
        }
    }
}

/// A service's reaction to its events.
pub trait EventHandler: Send {
    /// A transient failure: the same event is handed over again after a backoff.
    type Error: std::fmt::Display + Send;

    /// Applies one event. Events that can never be applied (undecodable, invalid) are the
    /// handler's to count and skip: return `Ok`.
    fn handle(&mut self, event: &ReceivedEvent) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Applies a batch, in order (with [`ConsumerSettings::max_batch`] above 1). A failure has
    /// the whole batch handed over again, so batch handlers must be idempotent. The default
    /// handles the events one by one.
    fn handle_batch(
        &mut self,
        events: &[ReceivedEvent],
    ) -> impl Future<Output = Result<(), Self::Error>> + Send {
        async move {
            for event in events {
                self.handle(event).await?;
            }
            Ok(())
        }
    }

    /// The subscription is up (`true`) or gone (`false`).
    fn connected(&mut self, _up: bool) {}

    /// Something failed at `stage` (already logged, throttled).
    fn failed(&mut self, _stage: Stage) {}
}

/// Consumes events into `handler` until `shutdown` completes; see the [module docs](self).
pub async fn run_consumer<H: EventHandler>(
    settings: ConsumerSettings,
    mut handler: H,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut log = Throttle::default();
    tracing::info!(brokers = %settings.brokers, group = %settings.group, topics = ?settings.topics, "consuming events");
    loop {
        let subscriber = tokio::select! {
            () = &mut shutdown => break,
            subscriber = subscribe(&settings, &mut handler) => subscriber,
        };
        handler.connected(true);
        let stopped = consume(&settings, &subscriber, &mut handler, &mut log, &mut shutdown).await;
        handler.connected(false);
        if stopped {
            break;
        }
        tracing::warn!(brokers = %settings.brokers, failures = RESUBSCRIBE_AFTER, "receiving events keeps failing: creating the topics and subscribing again");
    }
    tracing::info!(group = %settings.group, "event consumer stopped");
}

/// Creates the topics (if missing) and subscribes, retrying with backoff until it works.
async fn subscribe<H: EventHandler>(settings: &ConsumerSettings, handler: &mut H) -> KafkaSubscriber {
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    let mut attempt = 0u32;
    loop {
        attempt = attempt.saturating_add(1);
        let res = match tokio::time::timeout(CONNECT_TIMEOUT, ensure_topics(&settings.brokers, &topics)).await
        {
            Ok(Ok(())) => KafkaSubscriber::new(&settings.brokers, &settings.group, &topics),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(EventError::Admin {
                brokers: settings.brokers.clone(),
                reason: format!("no answer within {CONNECT_TIMEOUT:?}"),
            }),
        };
        match res {
            Ok(subscriber) => {
                tracing::info!(brokers = %settings.brokers, group = %settings.group, attempts = attempt, "subscribed to the event topics");
                return subscriber;
            }
            Err(err) => {
                handler.failed(Stage::Connect);
                let delay = settings.backoff.delay(attempt);
                if attempt == 1 || attempt.is_multiple_of(10) {
                    tracing::warn!(brokers = %settings.brokers, error = %err, attempt, retry_in_ms = delay.as_millis() as u64, "the event broker is unreachable; retrying");
                }
                tokio::time::sleep(delay).await;
            }
        }
    }
}

/// Receives, handles and commits events until shutdown (`true`) or too many consecutive receive
/// errors (`false`: subscribe again).
async fn consume<H: EventHandler>(
    settings: &ConsumerSettings,
    subscriber: &KafkaSubscriber,
    handler: &mut H,
    log: &mut Throttle,
    shutdown: &mut std::pin::Pin<&mut impl Future<Output = ()>>,
) -> bool {
    let mut failures = 0u32;
    loop {
        let received = tokio::select! {
            () = shutdown.as_mut() => return true,
            received = subscriber.next() => received,
        };
        let first = match received {
            Ok(event) => event,
            Err(err) => {
                failures += 1;
                handler.failed(Stage::Receive);
                if let Some(suppressed) = log.allow() {
                    tracing::warn!(error = %err, failures, suppressed, "receiving events failed; retrying");
                }
                if failures >= RESUBSCRIBE_AFTER {
                    return false;
                }
                tokio::select! {
                    () = shutdown.as_mut() => return true,
                    () = tokio::time::sleep(settings.backoff.delay(failures)) => continue,
                }
            }
        };
        failures = 0;
        let mut batch = vec![first];
        // More of what is buffered, waiting at most the linger for it.
        let deadline = tokio::time::Instant::now() + settings.linger;
        while batch.len() < settings.max_batch.max(1) {
            match tokio::time::timeout_at(deadline, subscriber.next()).await {
                Ok(Ok(event)) => batch.push(event),
                Ok(Err(_)) | Err(_) => break,
            }
        }
        // The same events until the handler takes them: their offsets are committed only then.
        let mut attempt = 0u32;
        loop {
            let handled = if batch.len() == 1 {
                handler.handle(&batch[0]).await
            } else {
                handler.handle_batch(&batch).await
            };
            let Err(err) = handled else { break };
            attempt = attempt.saturating_add(1);
            handler.failed(Stage::Handle);
            if let Some(suppressed) = log.allow() {
                let (first, last) = (&batch[0], &batch[batch.len() - 1]);
                tracing::warn!(error = %err, topic = %first.topic, offset = first.offset, last_offset = last.offset, events = batch.len(), attempt, suppressed, "handling events failed; retrying them");
            }
            tokio::select! {
                () = shutdown.as_mut() => return true,
                () = tokio::time::sleep(settings.backoff.delay(attempt)) => {}
            }
        }
        if let Err(err) = subscriber.commit_all(&batch) {
            handler.failed(Stage::Commit);
            if let Some(suppressed) = log.allow() {
                tracing::warn!(error = %err, events = batch.len(), suppressed, "committing event offsets failed");
            }
        }
    }
}

/// Lets a warning through at most every 10 s, counting the ones held back.
#[derive(Debug, Default)]
pub struct Throttle {
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    /// `Some(held back since the last one)` when a warning may be logged now.
    pub fn allow(&mut self) -> Option<u64> {
        if self.last.is_some_and(|t| t.elapsed() < Duration::from_secs(10)) {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(Instant::now());
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_throttle_lets_the_first_warning_through_and_counts_the_rest() {
        let mut throttle = Throttle::default();
        assert_eq!(throttle.allow(), Some(0));
        assert_eq!((throttle.allow(), throttle.allow()), (None, None));
        throttle.last = Some(Instant::now() - Duration::from_secs(11));
        assert_eq!(throttle.allow(), Some(2));
    }
}
