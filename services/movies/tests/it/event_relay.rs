//! MovieEvents reach the real Kafka-protocol broker (`CINEREC_TEST_KAFKA_BROKERS`) through the
//! outbox relay, keyed by movie id, and survive a broker outage by waiting in the outbox.

use std::sync::Arc;
use std::time::Duration;

use events::MemoryPublisher;
use events::kafka::{KafkaPublisher, KafkaSubscriber, ensure_topics};
use prost::Message;
use proto::events::v1::{MovieChange, MovieEvent};
use service_common::testing::server_url;

use crate::helpers::{Spawn, TestApp, s3_settings, unique, wait_for_events};

#[tokio::test]
async fn created_movie_is_read_back_from_kafka() {
    let brokers = server_url("CINEREC_TEST_KAFKA_BROKERS");
    let topic = unique("cinerec.movies.test");
    ensure_topics(&brokers, &[&topic]).await.unwrap();
    let publisher = KafkaPublisher::new(&brokers).unwrap();
    let mut app =
        TestApp::spawn_with(Spawn { publisher, topic: topic.clone(), media: Box::new(s3_settings) }).await;
    app.create(318, "Shawshank Redemption, The", 1994, &["Crime", "Drama"]).await;

    let subscriber = KafkaSubscriber::new(&brokers, &unique("movies-it"), &[&topic]).unwrap();
    let received = tokio::time::timeout(Duration::from_secs(60), subscriber.next())
        .await
        .expect("a MovieEvent within 60 s")
        .unwrap();
    assert_eq!((received.topic.as_str(), received.key.as_str()), (topic.as_str(), "318"));
    let event = MovieEvent::decode(&*received.payload).unwrap();
    assert_eq!(
        (event.movie_id, event.change(), event.title.as_str()),
        (318, MovieChange::Created, "Shawshank Redemption, The")
    );
    assert!(!event.event_id.is_empty());
    subscriber.commit(&received).unwrap();
    app.finish().await;
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_the_broker_is_down() {
    let publisher = Arc::new(MemoryPublisher::new());
    publisher.set_down(true);
    let mut app = TestApp::spawn(publisher.clone()).await;
    app.create(1, "Toy Story", 1995, &[]).await;
    app.create(2, "Jumanji", 1995, &[]).await;
    // Not vacuous: the relay has tried (and been refused) both events before we look.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while publisher.refused() < 2 {
        assert!(std::time::Instant::now() < deadline, "the relay never tried to publish");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(publisher.events().is_empty());
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM movie_events_outbox")
        .fetch_one(app.store.pool())
        .await
        .unwrap();
    assert_eq!(waiting, 2);

    publisher.set_down(false);
    let events = wait_for_events(&publisher, 2).await;
    let ids: Vec<u64> = events.iter().map(|(_, e)| e.movie_id).collect();
    assert_eq!(ids, [1, 2], "in order");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM movie_events_outbox")
            .fetch_one(app.store.pool())
            .await
            .unwrap();
        if waiting == 0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the outbox empties once published");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    app.finish().await;
}
