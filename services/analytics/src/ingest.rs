//! Domain events from Kafka into the warehouse: ratings, movies, user preferences and
//! deletions, the gateway's impressions (`RecommendationServed`) and request logs
//! (`RequestLogged`), through the events crate's one consumer loop in batches. A batch is one
//! warehouse transaction; its offsets are committed only after that transaction committed. While
//! the warehouse fails, the same batch is retried with backoff (consumption pauses, nothing is
//! lost; the warehouse's `event_id` keys make the retry store each event once), the readiness
//! probe reports not ready and `cinerec_analytics_consumer_paused` is 1.
//! Undecodable events are counted (`cinerec_analytics_events_skipped_total`) and skipped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use events::consumer::{ConsumerSettings, EventHandler, Stage, run_consumer};
use events::kafka::ReceivedEvent;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use prost::Message;
use proto::events::v1::{
    ActivityRecorded, MovieChange, MovieEvent, RatingChange as WireRatingChange, RatingEvent,
    RecommendationServed, RequestLogged, UserDeleted, UserPreferencesChanged,
};
use service_common::EventTopics;
use warehouse::facts::{
    ActivityFact, MovieFact, RatingChange, RatingFact, RequestFact, ServedList, UserFact,
};
use warehouse::{Batch, Warehouse, WarehouseError};

/// Every topic analytics reads.
pub fn all_topics(topics: &EventTopics) -> Vec<String> {
    [
        &topics.ratings,
        &topics.movies,
        &topics.user_preferences,
        &topics.user_deleted,
        &topics.recommendations_served,
        &topics.request_logs,
        &topics.activity,
    ]
    .into_iter()
    .cloned()
    .collect()
}

/// Why an event was skipped.
#[derive(Debug, PartialEq, Eq)]
pub enum Skip {
    /// Not a message of its topic's type.
    Undecodable,
    /// A zero id or an unknown change.
    Invalid(&'static str),
    /// A topic analytics does not read.
    UnknownTopic,
}

fn positive(id: u64, what: &'static str) -> Result<u64, Skip> {
    if id == 0 { Err(Skip::Invalid(what)) } else { Ok(id) }
}

/// Adds `event` to `batch`, or says why it cannot be.
pub fn decode_into(batch: &mut Batch, topics: &EventTopics, event: &ReceivedEvent) -> Result<(), Skip> {
    let payload = event.payload.as_slice();
    let topic = event.topic.as_str();
    if topic == topics.ratings {
        let e = RatingEvent::decode(payload).map_err(|_| Skip::Undecodable)?;
        let change = match e.change() {
            WireRatingChange::Created => RatingChange::Created,
            WireRatingChange::Updated => RatingChange::Updated,
            WireRatingChange::Deleted => RatingChange::Deleted,
            WireRatingChange::Unspecified => return Err(Skip::Invalid("change")),
        };
        if change != RatingChange::Deleted && !(0.5..=5.0).contains(&e.rating) {
            return Err(Skip::Invalid("rating"));
        }
        batch.ratings.push(RatingFact {
            user_id: positive(e.user_id, "user_id")?,
            movie_id: positive(e.movie_id, "movie_id")?,
            rating: if change == RatingChange::Deleted { 0.0 } else { e.rating },
            change,
            occurred_at_ms: e.timestamp_ms,
            event_id: e.event_id,
        });
    } else if topic == topics.recommendations_served {
        let e = RecommendationServed::decode(payload).map_err(|_| Skip::Undecodable)?;
        let mut movies: Vec<(u32, u64)> = e.movies.iter().map(|m| (m.position, m.movie_id)).collect();
        movies.sort_unstable();
        batch.lists.push(ServedList {
            event_id: e.event_id,
            recommendation_id: e.recommendation_id,
            user_id: (e.user_id != 0).then_some(e.user_id),
            anonymous_id: (!e.anonymous_id.is_empty()).then_some(e.anonymous_id),
            model_version: e.model_version,
            source: e.source,
            surface: e.surface,
            movie_ids: movies.into_iter().map(|(_, m)| m).collect(),
            served_at_ms: e.timestamp_ms,
        });
    } else if topic == topics.request_logs {
        let e = RequestLogged::decode(payload).map_err(|_| Skip::Undecodable)?;
        batch.requests.push(RequestFact {
            event_id: e.event_id,
            route: e.route,
            method: e.method,
            status: u16::try_from(e.status).map_err(|_| Skip::Invalid("status"))?,
            latency_ms: e.latency_ms,
            request_id: e.request_id,
            occurred_at_ms: e.timestamp_ms,
        });
    } else if topic == topics.activity {
        let e = ActivityRecorded::decode(payload).map_err(|_| Skip::Undecodable)?;
        let text = |t: String| (!t.is_empty()).then_some(t);
        let context = serde_json::from_str(&e.context_json).unwrap_or_else(|_| serde_json::json!({}));
        batch.activity.push(ActivityFact {
            event_id: e.event_id,
            event_type: e.event_type,
            occurred_at_ms: e.occurred_at_ms,
            user_id: (e.user_id != 0).then_some(e.user_id),
            anonymous_id: text(e.anonymous_id),
            session_id: text(e.session_id),
            recommendation_id: text(e.recommendation_id),
            movie_id: (e.movie_id != 0).then_some(e.movie_id),
            position: e.position,
            context,
        });
    } else if topic == topics.movies {
        let e = MovieEvent::decode(payload).map_err(|_| Skip::Undecodable)?;
        let deleted = match e.change() {
            MovieChange::Created | MovieChange::Updated => false,
            MovieChange::Deleted => true,
            MovieChange::Unspecified => return Err(Skip::Invalid("change")),
        };
        batch.movies.push(MovieFact {
            movie_id: positive(e.movie_id, "movie_id")?,
            title: e.title,
            year: (e.year != 0).then_some(e.year),
            genres: e.genres,
            deleted,
            occurred_at_ms: e.timestamp_ms,
            event_id: e.event_id,
        });
    } else if topic == topics.user_preferences {
        let e = UserPreferencesChanged::decode(payload).map_err(|_| Skip::Undecodable)?;
        batch.users.push(UserFact {
            user_id: positive(e.user_id, "user_id")?,
            favourite_genres: Some(e.favourite_genres),
            occurred_at_ms: e.timestamp_ms,
            event_id: e.event_id,
        });
    } else if topic == topics.user_deleted {
        let e = UserDeleted::decode(payload).map_err(|_| Skip::Undecodable)?;
        batch.users.push(UserFact {
            user_id: positive(e.user_id, "user_id")?,
            favourite_genres: None,
            occurred_at_ms: e.timestamp_ms,
            event_id: e.event_id,
        });
    } else {
        return Err(Skip::UnknownTopic);
    }
    Ok(())
}

/// `kind` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

/// The consumer's metrics.
#[derive(Clone, Debug, Default)]
pub struct IngestMetrics {
    stored: Family<KindLabel, Counter>,
    duplicates: Counter,
    skipped: Counter,
    failures: Family<KindLabel, Counter>,
    /// 1 while the same batch is being retried (the warehouse fails).
    paused: Gauge,
    batches: Counter,
    handled: Counter,
}

impl IngestMetrics {
    /// Registers the metrics.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "cinerec_analytics_events_stored",
            "Events newly stored in the warehouse",
            m.stored.clone(),
        );
        registry.register(
            "cinerec_analytics_events_duplicate",
            "Events received again and not stored twice",
            m.duplicates.clone(),
        );
        registry.register(
            "cinerec_analytics_events_skipped",
            "Undecodable or invalid events skipped",
            m.skipped.clone(),
        );
        registry.register(
            "cinerec_analytics_consumer_failures",
            "Consumer failures by stage (connect, receive, handle, commit)",
            m.failures.clone(),
        );
        registry.register(
            "cinerec_analytics_consumer_paused",
            "1 while a batch is retried because the warehouse fails",
            m.paused.clone(),
        );
        registry.register(
            "cinerec_analytics_batches",
            "Warehouse transactions of consumed events",
            m.batches.clone(),
        );
        registry.register(
            "cinerec_analytics_events_handled",
            "Kafka messages done with (stored, already there or skipped)",
            m.handled.clone(),
        );
        m
    }

    /// Kafka messages done with so far (stored, already there or skipped).
    pub fn messages_done(&self) -> u64 {
        self.handled.get()
    }
}

/// Whether the consumer is keeping up: false while the warehouse refuses its batches.
#[derive(Clone, Debug)]
pub struct ConsumerHealth(Arc<AtomicBool>);

impl Default for ConsumerHealth {
    fn default() -> Self {
        Self(Arc::new(AtomicBool::new(true)))
    }
}

impl ConsumerHealth {
    /// The last batch was stored (or none failed yet).
    pub fn is_healthy(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// The consumer's handler: decodes a batch and stores it in one transaction.
struct WarehouseWriter<W> {
    warehouse: Arc<W>,
    topics: EventTopics,
    metrics: IngestMetrics,
    health: ConsumerHealth,
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

impl<W: Warehouse> WarehouseWriter<W> {
    async fn store(&mut self, events: &[ReceivedEvent]) -> Result<(), WarehouseError> {
        let now = now_ms();
        let mut batch = Batch::default();
        for event in events {
            if let Err(skip) = decode_into(&mut batch, &self.topics, event) {
                self.metrics.skipped.inc();
                tracing::warn!(topic = %event.topic, offset = event.offset, reason = ?skip, "skipping an event");
            }
        }
        if batch.is_empty() {
            self.metrics.handled.inc_by(events.len() as u64);
            return Ok(());
        }
        let kinds = [
            ("rating", batch.ratings.len()),
            ("impression_list", batch.lists.len()),
            ("request", batch.requests.len()),
            ("activity", batch.activity.len()),
            ("movie", batch.movies.len()),
            ("user", batch.users.len()),
        ];
        match self.warehouse.ingest(&batch, now).await {
            Ok(counts) => {
                if !self.health.is_healthy() {
                    tracing::info!("the warehouse accepts events again; consumption resumes");
                }
                self.health.0.store(true, Ordering::Relaxed);
                self.metrics.paused.set(0);
                self.metrics.batches.inc();
                self.metrics.handled.inc_by(events.len() as u64);
                self.metrics.duplicates.inc_by(counts.duplicates);
                // Stored counts by kind: the duplicates are too few to split.
                for (kind, n) in kinds {
                    if n > 0 {
                        self.metrics.stored.get_or_create(&KindLabel { kind }).inc_by(n as u64);
                    }
                }
                Ok(())
            }
            Err(err) => {
                self.health.0.store(false, Ordering::Relaxed);
                self.metrics.paused.set(1);
                Err(err)
            }
        }
    }
}

impl<W: Warehouse> EventHandler for WarehouseWriter<W> {
    type Error = WarehouseError;

    async fn handle(&mut self, event: &ReceivedEvent) -> Result<(), WarehouseError> {
        self.store(std::slice::from_ref(event)).await
    }

    async fn handle_batch(&mut self, events: &[ReceivedEvent]) -> Result<(), WarehouseError> {
        self.store(events).await
    }

    fn failed(&mut self, stage: Stage) {
        self.metrics.failures.get_or_create(&KindLabel { kind: stage.label() }).inc();
    }
}

/// How the consumer runs.
#[derive(Clone, Debug)]
pub struct IngestSettings {
    /// Bootstrap servers.
    pub brokers: String,
    /// Consumer group.
    pub group: String,
    /// The topics.
    pub topics: EventTopics,
    /// Events per warehouse transaction, at most.
    pub max_batch: usize,
    /// Longest wait to fill a batch.
    pub linger: Duration,
}

/// Consumes the topics into `warehouse` until `shutdown` completes.
pub async fn run<W: Warehouse>(
    warehouse: Arc<W>,
    settings: IngestSettings,
    metrics: IngestMetrics,
    health: ConsumerHealth,
    shutdown: impl Future<Output = ()>,
) {
    let consumer = ConsumerSettings {
        brokers: settings.brokers,
        group: settings.group,
        topics: all_topics(&settings.topics),
        backoff: service_common::Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            attempts: u32::MAX,
        },
        max_batch: settings.max_batch,
        linger: settings.linger,
    };
    let writer = WarehouseWriter { warehouse, topics: settings.topics, metrics, health };
    run_consumer(consumer, writer, shutdown).await;
}

/// Consumes into `warehouse` until `messages` Kafka messages are done with (stored, already
/// there or skipped), then stops the consumer; `Err(messages done)` when `within` passed first.
/// For loads and benchmarks: a one-off drain of topics.
pub async fn drain<W: Warehouse>(
    warehouse: Arc<W>,
    settings: IngestSettings,
    messages: u64,
    within: Duration,
) -> Result<(), u64> {
    let metrics = IngestMetrics::default();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let consumer =
        tokio::spawn(run(warehouse, settings, metrics.clone(), ConsumerHealth::default(), stopped));
    let deadline = tokio::time::Instant::now() + within;
    let reached = loop {
        let done = metrics.messages_done();
        if done >= messages || tokio::time::Instant::now() >= deadline {
            break done;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let _ = stop.send(());
    let _ = consumer.await;
    if reached >= messages { Ok(()) } else { Err(reached) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::events::v1::ServedMovie;

    fn received(topic: &str, payload: Vec<u8>) -> ReceivedEvent {
        ReceivedEvent { topic: topic.into(), key: String::new(), payload, partition: 0, offset: 0 }
    }

    #[test]
    fn every_topic_decodes_into_its_fact_and_bad_events_are_named() {
        let topics = EventTopics::default();
        let mut batch = Batch::default();
        let rating = RatingEvent {
            event_id: "r1".into(),
            user_id: 7,
            movie_id: 3,
            rating: 4.5,
            timestamp_ms: 1000,
            change: WireRatingChange::Created.into(),
        };
        decode_into(&mut batch, &topics, &received(&topics.ratings, rating.encode_to_vec())).unwrap();
        let served = RecommendationServed {
            event_id: "s1".into(),
            recommendation_id: "rec".into(),
            user_id: 7,
            movies: vec![ServedMovie { movie_id: 9, position: 1 }, ServedMovie { movie_id: 8, position: 0 }],
            ..RecommendationServed::default()
        };
        decode_into(&mut batch, &topics, &received(&topics.recommendations_served, served.encode_to_vec()))
            .unwrap();
        assert_eq!(batch.ratings[0].rating, 4.5);
        assert_eq!(batch.lists[0].movie_ids, [8, 9], "in position order");
        assert_eq!(batch.lists[0].anonymous_id, None);

        let garbage = received(&topics.ratings, vec![0xff, 0xff, 0xff]);
        assert_eq!(decode_into(&mut batch, &topics, &garbage), Err(Skip::Undecodable));
        let zero = RatingEvent { user_id: 0, ..rating.clone() };
        let zero = received(&topics.ratings, zero.encode_to_vec());
        assert_eq!(decode_into(&mut batch, &topics, &zero), Err(Skip::Invalid("user_id")));
        let elsewhere = received("other", rating.encode_to_vec());
        assert_eq!(decode_into(&mut batch, &topics, &elsewhere), Err(Skip::UnknownTopic));
        assert_eq!(batch.len(), 2);
    }
}
