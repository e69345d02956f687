//! Kafka implementation of [`EventPublisher`] and a consumer with manual commits, over
//! librdkafka (`rdkafka`). Settings follow what the Tansu test broker and production Kafka both
//! accept: `acks=all`, bounded delivery timeout, no idempotent producer (Tansu lacks it; event
//! ids make duplicates harmless), consumer offsets committed only after processing.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::util::Timeout;
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::{EventError, EventPublisher};

/// How long a publish may wait for the broker's acknowledgement by default.
pub const DEFAULT_DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Publishes to Kafka; `publish` returns once the broker acknowledged (acks=all) or the
/// delivery timeout passed. The first publish to a topic creates it when missing
/// ([`ensure_topics`]), so no service start-up creates topics.
pub struct KafkaPublisher {
    producer: FutureProducer,
    delivery_timeout: Duration,
    brokers: String,
    /// Topics known to exist (created or checked by this publisher). An async lock held while a
    /// topic is created: concurrent first publishes wait for one creation instead of each
    /// starting an admin client (thousands of threads under a burst).
    ensured: tokio::sync::Mutex<std::collections::HashSet<String>>,
}

impl std::fmt::Debug for KafkaPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaPublisher")
            .field("delivery_timeout", &self.delivery_timeout)
            .finish_non_exhaustive()
    }
}

impl KafkaPublisher {
    /// A producer for `brokers` (comma-separated `host:port`) with the default delivery timeout.
    pub fn new(brokers: &str) -> Result<Self, EventError> {
        Self::with_delivery_timeout(brokers, DEFAULT_DELIVERY_TIMEOUT)
    }

    /// A producer whose publishes fail after `delivery_timeout` without an acknowledgement.
    pub fn with_delivery_timeout(brokers: &str, delivery_timeout: Duration) -> Result<Self, EventError> {
        Self::batching(brokers, delivery_timeout, Duration::from_millis(2))
    }

    /// A producer that waits up to `linger` to fill a batch (fewer, larger requests for
    /// high-volume, latency-tolerant events such as impressions).
    pub fn batching(brokers: &str, delivery_timeout: Duration, linger: Duration) -> Result<Self, EventError> {
        let producer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("acks", "all")
            .set("enable.idempotence", "false")
            .set("linger.ms", linger.as_millis().to_string())
            .set("message.timeout.ms", delivery_timeout.as_millis().max(1).to_string())
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "1000")
            .create()
            .map_err(|e| client_error(brokers, "producer", &e))?;
        Ok(Self { producer, delivery_timeout, brokers: brokers.to_string(), ensured: Default::default() })
    }

    /// Creates `topic` once per publisher when it is missing, within the delivery timeout. A
    /// failure is logged and the publish goes ahead (the broker may auto-create topics, or forbid
    /// this client to create them); the next publish tries again.
    async fn ensure_topic(&self, topic: &str) {
        let mut ensured = self.ensured.lock().await;
        if ensured.contains(topic) {
            return;
        }
        match tokio::time::timeout(self.delivery_timeout, ensure_topics(&self.brokers, &[topic])).await {
            Ok(Ok(())) => {
                ensured.insert(topic.to_string());
            }
            Ok(Err(err)) => tracing::warn!(%err, topic, "could not create the topic; publishing anyway"),
            Err(_) => tracing::warn!(topic, "creating the topic timed out; publishing anyway"),
        }
    }
}

impl EventPublisher for KafkaPublisher {
    async fn publish(&self, topic: &str, key: &str, payload: Vec<u8>) -> Result<(), EventError> {
        self.ensure_topic(topic).await;
        let record = FutureRecord::to(topic).key(key).payload(&payload);
        match self.producer.send(record, Timeout::After(self.delivery_timeout)).await {
            Ok(_) => Ok(()),
            Err((err, _message)) => {
                Err(EventError::Publish { topic: topic.to_string(), reason: err.to_string() })
            }
        }
    }
}

/// Creates `topics` (one partition, replication 1 unless the broker decides otherwise) when they
/// do not exist yet; existing topics are left alone.
pub async fn ensure_topics(brokers: &str, topics: &[&str]) -> Result<(), EventError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| client_error(brokers, "admin client", &e))?;
    let new_topics: Vec<NewTopic<'_>> =
        topics.iter().map(|topic| NewTopic::new(topic, 1, TopicReplication::Fixed(1))).collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let results = admin
        .create_topics(&new_topics, &options)
        .await
        .map_err(|e| EventError::Admin { brokers: brokers.to_string(), reason: e.to_string() })?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(EventError::Admin {
                    brokers: brokers.to_string(),
                    reason: format!("creating `{topic}`: {code}"),
                });
            }
        }
    }
    Ok(())
}

/// One consumed message, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceivedEvent {
    /// Topic it came from.
    pub topic: String,
    /// Message key (user id or movie id as text); empty when absent.
    pub key: String,
    /// Encoded event.
    pub payload: Vec<u8>,
    /// Partition.
    pub partition: i32,
    /// Offset within the partition.
    pub offset: i64,
}

/// A consumer-group member that reads from the earliest uncommitted offset and commits only
/// what the caller says it has processed ([`KafkaSubscriber::commit`]).
pub struct KafkaSubscriber {
    consumer: StreamConsumer,
}

impl std::fmt::Debug for KafkaSubscriber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSubscriber").finish_non_exhaustive()
    }
}

impl KafkaSubscriber {
    /// Joins `group_id` on `brokers` and subscribes to `topics` (which must exist; see
    /// [`ensure_topics`]). A new group starts at the earliest offset.
    pub fn new(brokers: &str, group_id: &str, topics: &[&str]) -> Result<Self, EventError> {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set("group.id", group_id)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            // Quick group joins: the Tansu test broker otherwise takes ~20 s for the first message.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .set("reconnect.backoff.ms", "50")
            .set("reconnect.backoff.max.ms", "1000")
            .create()
            .map_err(|e| client_error(brokers, "consumer", &e))?;
        consumer
            .subscribe(topics)
            .map_err(|e| EventError::Consume { reason: format!("subscribing to {topics:?}: {e}") })?;
        Ok(Self { consumer })
    }

    /// Waits for the next message.
    pub async fn next(&self) -> Result<ReceivedEvent, EventError> {
        let message =
            self.consumer.recv().await.map_err(|e| EventError::Consume { reason: e.to_string() })?;
        Ok(ReceivedEvent {
            topic: message.topic().to_string(),
            key: message.key().map(|k| String::from_utf8_lossy(k).into_owned()).unwrap_or_default(),
            payload: message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            partition: message.partition(),
            offset: message.offset(),
        })
    }

    /// Marks `event` and everything before it in its partition as processed for the group
    /// (asynchronous commit; after a crash the group resumes after the last committed event).
    pub fn commit(&self, event: &ReceivedEvent) -> Result<(), EventError> {
        self.commit_all(std::slice::from_ref(event))
    }

    /// Marks `events` (and everything before each in its partition) as processed: one commit
    /// of each partition's highest offset.
    pub fn commit_all(&self, events: &[ReceivedEvent]) -> Result<(), EventError> {
        let mut last: std::collections::BTreeMap<(&str, i32), i64> = std::collections::BTreeMap::new();
        for event in events {
            let offset = last.entry((&event.topic, event.partition)).or_insert(event.offset);
            *offset = (*offset).max(event.offset);
        }
        let mut positions = TopicPartitionList::new();
        for ((topic, partition), offset) in &last {
            positions
                .add_partition_offset(topic, *partition, Offset::Offset(offset + 1))
                .map_err(|e| EventError::Consume { reason: e.to_string() })?;
        }
        self.consumer
            .commit(&positions, CommitMode::Async)
            .map_err(|e| EventError::Consume { reason: format!("committing offsets {last:?}: {e}") })
    }
}

fn client_error(brokers: &str, what: &str, err: &KafkaError) -> EventError {
    EventError::Client { brokers: brokers.to_string(), reason: format!("creating the Kafka {what}: {err}") }
}
