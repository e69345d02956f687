//! The Kafka publisher and subscriber against a real Kafka-protocol broker (Tansu, started by
//! `scripts/test`; `CINEREC_TEST_KAFKA_BROKERS`), one fresh topic and group per test.

use std::time::Duration;

use events::kafka::{KafkaPublisher, KafkaSubscriber, ensure_topics};
use events::{EventError, EventPublisher};
use service_common::testing::server_url;

fn brokers() -> String {
    server_url("CINEREC_TEST_KAFKA_BROKERS")
}

fn fresh(name: &str) -> String {
    format!("test-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// Nobody creates the topic beforehand: the publisher's first publish does.
#[tokio::test]
async fn the_first_publish_creates_a_missing_topic() {
    let (brokers, topic) = (brokers(), fresh("created-on-publish"));
    let publisher = KafkaPublisher::new(&brokers).unwrap();
    publisher.publish(&topic, "k", b"first".to_vec()).await.expect("the topic is created, then published to");
    let subscriber = KafkaSubscriber::new(&brokers, &fresh("group"), &[&topic]).unwrap();
    let event =
        tokio::time::timeout(Duration::from_secs(60), subscriber.next()).await.expect("an event").unwrap();
    assert_eq!((event.topic.as_str(), event.payload.as_slice()), (topic.as_str(), b"first".as_slice()));
}

#[tokio::test]
async fn published_events_are_consumed_in_order_with_keys() {
    let (brokers, topic) = (brokers(), fresh("order"));
    ensure_topics(&brokers, &[&topic]).await.unwrap();
    ensure_topics(&brokers, &[&topic]).await.expect("an existing topic is fine");
    let publisher = KafkaPublisher::new(&brokers).unwrap();
    for i in 0..5u8 {
        publisher.publish(&topic, &format!("user-{i}"), vec![i; 3]).await.unwrap();
    }
    let subscriber = KafkaSubscriber::new(&brokers, &fresh("group"), &[&topic]).unwrap();
    let mut received = Vec::new();
    while received.len() < 5 {
        let event = tokio::time::timeout(Duration::from_secs(60), subscriber.next())
            .await
            .expect("an event")
            .unwrap();
        subscriber.commit(&event).unwrap();
        received.push(event);
    }
    let keys: Vec<&str> = received.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["user-0", "user-1", "user-2", "user-3", "user-4"]);
    assert!(received.iter().enumerate().all(|(i, e)| e.payload == vec![i as u8; 3] && e.topic == topic));
}

#[tokio::test]
async fn publishing_to_a_closed_port_fails_within_the_timeout() {
    let closed = format!("127.0.0.1:{}", service_common::testing::free_port());
    let publisher = KafkaPublisher::with_delivery_timeout(&closed, Duration::from_millis(500)).unwrap();
    let err = publisher.publish("any-topic", "1", vec![1]).await.unwrap_err();
    assert!(matches!(err, EventError::Publish { ref topic, .. } if topic == "any-topic"), "{err}");
}
