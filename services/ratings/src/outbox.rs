//! The outbox drainer: moves events that the store's atomic changes appended to the outbox into
//! an [`EventPublisher`] (Kafka in the binary), at least once.
//!
//! Entries are read through a consumer group, so each is delivered to one drainer (several
//! service replicas can run one each) and stays *pending* until acknowledged. The drainer
//! publishes a batch concurrently and acknowledges (and deletes) only the entries the broker
//! acknowledged. Failed entries stay pending and are sent again, first, after a backoff that
//! grows to [`DrainerSettings::max_wait`]; entries left pending by a drainer that died are
//! claimed by another after [`DrainerSettings::claim_idle`]. A crash between publish and
//! acknowledge therefore re-sends rather than loses, and consumers drop the repeat by
//! `event_id`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use events::EventPublisher;
use events::relay::{OutboxSource, RelayRound, RelaySchedule, RelayStats, run_relay};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use service_common::Backoff;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::store::StoreError;

/// One event waiting in the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    /// The entry's id in the outbox (a stream id).
    pub id: String,
    /// Kafka topic.
    pub topic: String,
    /// Message key (the user id).
    pub key: String,
    /// The encoded event (empty when the entry's data is gone: it is only acknowledged).
    pub payload: Vec<u8>,
}

/// The store side of the outbox: a queue read by named consumers, whose entries stay pending
/// until acknowledged.
pub trait Outbox: Send + Sync + 'static {
    /// Creates the consumer group if it does not exist.
    fn ensure_group(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Up to `count` entries for `consumer`: its own pending entries when `pending`, else new
    /// ones (which become its pending entries).
    fn read(
        &self,
        consumer: &str,
        pending: bool,
        count: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;

    /// Takes over up to `count` entries that other consumers left pending for `min_idle`.
    fn claim_stale(
        &self,
        consumer: &str,
        min_idle: Duration,
        count: usize,
    ) -> impl Future<Output = Result<Vec<OutboxEntry>, StoreError>> + Send;

    /// Acknowledges and removes entries.
    fn ack(&self, ids: &[String]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Entries in the outbox (pending or not yet read).
    fn backlog(&self) -> impl Future<Output = Result<u64, StoreError>> + Send;
}

/// How the drainer paces itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DrainerSettings {
    /// Entries read and published per round.
    pub batch: usize,
    /// How often an idle drainer looks for entries nobody woke it for (other replicas, leftovers).
    pub poll: Duration,
    /// First wait after a failed round; doubles per consecutive failure.
    pub first_wait: Duration,
    /// Longest wait between failed rounds.
    pub max_wait: Duration,
    /// Pending entries of other consumers idle this long are claimed.
    pub claim_idle: Duration,
}

impl Default for DrainerSettings {
    /// Batches of 512, 200 ms polls, waits of 100 ms doubling to 5 s, claims after 30 s.
    fn default() -> Self {
        Self {
            batch: 512,
            poll: Duration::from_millis(200),
            first_wait: Duration::from_millis(100),
            max_wait: Duration::from_secs(5),
            claim_idle: Duration::from_secs(30),
        }
    }
}

/// The drainer's Prometheus metrics.
#[derive(Clone, Debug, Default)]
pub struct DrainerMetrics {
    /// Events the broker acknowledged.
    pub published: Counter,
    /// Publish attempts that failed (each is retried).
    pub failed: Counter,
    /// Entries in the outbox at the last idle check.
    pub backlog: Gauge,
}

impl DrainerMetrics {
    /// Registers the metrics in `registry` (`ratings_outbox_*`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ratings_outbox_published",
            "Events the broker acknowledged",
            self.published.clone(),
        );
        registry.register("ratings_outbox_publish_failures", "Failed publish attempts", self.failed.clone());
        registry.register("ratings_outbox_backlog", "Entries in the outbox", self.backlog.clone());
    }
}

/// Result of one drain round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Round {
    /// Entries read.
    pub read: usize,
    /// Entries published and acknowledged.
    pub published: usize,
    /// Entries whose publish failed (still pending).
    pub failed: usize,
}

/// Moves outbox entries to a publisher, one round at a time for the events crate's relay loop
/// ([`Drainer::run`]); see the module docs.
#[derive(Debug)]
pub struct Drainer<O, P> {
    outbox: Arc<O>,
    publisher: Arc<P>,
    consumer: String,
    settings: DrainerSettings,
    metrics: DrainerMetrics,
    /// Own pending entries go first: after a failure they must leave before newer ones.
    pending: bool,
    last_claim: Option<Instant>,
    group_ready: bool,
}

/// Why a round failed (the entries stay pending for the next one).
#[derive(Debug, thiserror::Error)]
pub enum DrainError {
    /// Redis failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker did not acknowledge some entries.
    #[error("{failed} of the round's events were not acknowledged: {first}")]
    Publish {
        /// How many.
        failed: usize,
        /// The first error.
        first: String,
    },
}

impl<O: Outbox, P: EventPublisher + 'static> Drainer<O, P> {
    /// A drainer named `consumer` (unique per process) over `outbox`.
    pub fn new(
        outbox: Arc<O>,
        publisher: Arc<P>,
        consumer: String,
        settings: DrainerSettings,
        metrics: DrainerMetrics,
    ) -> Self {
        Self {
            outbox,
            publisher,
            consumer,
            settings,
            metrics,
            pending: true,
            last_claim: None,
            group_ready: false,
        }
    }

    /// Drains until `shutdown` completes (the current round finishes first); `wake` is notified
    /// by writers after each change so that events leave without waiting for the next poll.
    pub async fn run(
        self,
        wake: Arc<Notify>,
        stats: Arc<RelayStats>,
        shutdown: impl Future<Output = ()> + Send,
    ) {
        let schedule = RelaySchedule {
            poll: self.settings.poll,
            backoff: Backoff {
                initial: self.settings.first_wait,
                max: self.settings.max_wait,
                attempts: u32::MAX,
            },
        };
        run_relay("ratings", self, schedule, Some(wake), stats, shutdown).await;
    }

    async fn step(&mut self) -> Result<RelayRound, DrainError> {
        if !self.group_ready {
            self.outbox.ensure_group().await?;
            self.group_ready = true;
        }
        if self.last_claim.is_none_or(|t| t.elapsed() >= self.settings.claim_idle / 2) {
            self.last_claim = Some(Instant::now());
            let claimed = self
                .outbox
                .claim_stale(&self.consumer, self.settings.claim_idle, self.settings.batch)
                .await?;
            if !claimed.is_empty() {
                tracing::info!(entries = claimed.len(), "claimed outbox entries another drainer left");
                self.pending = true;
            }
        }
        let (round, first_error) = self.round(self.pending).await?;
        if let Some(first) = first_error {
            self.pending = true;
            return Err(DrainError::Publish { failed: round.failed, first });
        }
        if round.read > 0 {
            return Ok(RelayRound { published: round.published, more: true });
        }
        if self.pending {
            // Own pending entries are done: new ones next, at once.
            self.pending = false;
            return Ok(RelayRound { published: 0, more: true });
        }
        if let Ok(backlog) = self.outbox.backlog().await {
            self.metrics.backlog.set(backlog.min(i64::MAX as u64) as i64);
        }
        Ok(RelayRound::default())
    }

    /// One round: reads a batch (own pending entries when `pending`), publishes it
    /// concurrently, acknowledges what the broker acknowledged.
    /// Returns the round and the first publish error, if any.
    pub async fn round(&self, pending: bool) -> Result<(Round, Option<String>), StoreError> {
        let entries = self.outbox.read(&self.consumer, pending, self.settings.batch).await?;
        let mut round = Round { read: entries.len(), ..Round::default() };
        if entries.is_empty() {
            return Ok((round, None));
        }
        let mut tasks = JoinSet::new();
        let mut done = Vec::with_capacity(entries.len());
        for entry in entries {
            if entry.topic.is_empty() || entry.payload.is_empty() {
                done.push(entry.id); // data gone: nothing to send, just acknowledge
                continue;
            }
            let publisher = Arc::clone(&self.publisher);
            // Spawned in order: the producer queues them in this order, keeping a key's order.
            tasks.spawn(async move {
                let res = publisher.publish(&entry.topic, &entry.key, entry.payload).await;
                (entry.id, res)
            });
        }
        let mut first_error = None;
        while let Some(joined) = tasks.join_next().await {
            match joined {
                Ok((id, Ok(()))) => done.push(id),
                Ok((_, Err(err))) => {
                    round.failed += 1;
                    first_error.get_or_insert(err.to_string());
                }
                Err(join) => {
                    round.failed += 1;
                    first_error.get_or_insert(join.to_string());
                }
            }
        }
        if first_error.is_some() {
            self.metrics.failed.inc_by(round.failed as u64);
        }
        self.outbox.ack(&done).await?;
        round.published = done.len();
        self.metrics.published.inc_by(done.len() as u64);
        Ok((round, first_error))
    }
}

impl<O: Outbox, P: EventPublisher + 'static> OutboxSource for Drainer<O, P> {
    type Error = DrainError;

    async fn relay_round(&mut self) -> Result<RelayRound, DrainError> {
        let res = self.step().await;
        if res.is_err() {
            self.pending = true;
        }
        res
    }
}
