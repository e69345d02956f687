//! The outbox: delivery to the real broker (protobuf decoded on the consumer side), events
//! waiting while the publisher fails, and entries a dead drainer left pending being re-sent.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use events::MemoryPublisher;
use events::kafka::{KafkaPublisher, KafkaSubscriber, ensure_topics};
use prost::Message;
use proto::events::v1::{RatingChange, RatingEvent};
use ratings::domain::{MovieId, Review, Stars, UserId};
use ratings::outbox::{Drainer, DrainerMetrics, DrainerSettings, Outbox};
use ratings::store::NewRating;
use ratings::{Config, RatingStore, RedisStore};
use tokio::sync::Notify;

use crate::{TestApp, brokers, eventually, fresh, redis_url};

#[tokio::test]
async fn events_reach_kafka_and_decode() {
    let (brokers, topic) = (brokers(), fresh("ratings-topic"));
    ensure_topics(&brokers, &[&topic]).await.unwrap();
    let config = Config::local(&redis_url(), &fresh("ratings"), &brokers, &topic);
    let mut app = TestApp::spawn(config, KafkaPublisher::new(&brokers).unwrap(), 50).await;
    let mut expected = HashMap::new();
    for i in 0..20u64 {
        let response = app.submit(1 + i % 4, 1 + i, 0.5 * (1 + i % 10) as f32).await;
        expected.insert(response.event_id, (1 + i % 4, 1 + i));
    }
    let subscriber = KafkaSubscriber::new(&brokers, &fresh("group"), &[&topic]).unwrap();
    let mut received = HashMap::new();
    while received.len() < expected.len() {
        let message = tokio::time::timeout(Duration::from_secs(60), subscriber.next())
            .await
            .expect("an event within 60 s")
            .unwrap();
        let event = RatingEvent::decode(message.payload.as_slice()).expect("a RatingEvent");
        assert_eq!(message.key, event.user_id.to_string(), "keyed by user id");
        assert_eq!(event.change(), RatingChange::Created);
        received.insert(event.event_id.clone(), (event.user_id, event.movie_id));
        subscriber.commit(&message).unwrap();
    }
    assert_eq!(received, expected);
    app.stop().await;
}

#[tokio::test]
async fn events_wait_in_the_outbox_while_publishing_fails() {
    let (mut app, publisher) = TestApp::memory().await;
    publisher.set_down(true);
    for movie in 1..=10 {
        app.submit(3, movie, 3.5).await; // requests succeed while the broker is down
    }
    // Not vacuous: the drainer has tried (and been refused) all ten before we look.
    eventually(Duration::from_secs(20), "the drainer to try", async || publisher.refused() >= 10).await;
    assert!(publisher.events().is_empty());
    assert_eq!(app.store.backlog().await.unwrap(), 10, "all ten wait in the outbox");
    publisher.set_down(false);
    eventually(Duration::from_secs(20), "the backlog delivered", async || publisher.events().len() >= 10)
        .await;
    eventually(Duration::from_secs(5), "an empty outbox", async || app.store.backlog().await.unwrap() == 0)
        .await;
    let movies: Vec<u64> = publisher
        .events()
        .iter()
        .map(|e| RatingEvent::decode(e.payload.as_slice()).unwrap().movie_id)
        .collect();
    assert_eq!(movies, (1..=10).collect::<Vec<u64>>(), "once each, in order");
    app.stop().await;
}

#[tokio::test]
async fn entries_a_dead_drainer_left_pending_are_resent() {
    let config = Config::local(&redis_url(), &fresh("ratings"), "unused:9092", "dead-drainer");
    let store = Arc::new(
        RedisStore::connect(&config.redis.url, config.redis.store_settings(&config.topics.ratings))
            .await
            .unwrap(),
    );
    store.add_movies(&[MovieId::parse(1, "movie_id").unwrap()]).await.unwrap();
    for user in 1..=5 {
        let rating = NewRating {
            user: UserId::parse(user, "user_id").unwrap(),
            movie: MovieId::parse(1, "movie_id").unwrap(),
            stars: Stars::parse(4.0).unwrap(),
            review: Review::default(),
            timestamp_ms: 1_700_000_000_000,
            event_id: uuid::Uuid::new_v4(),
        };
        store.submit(&rating).await.unwrap();
    }
    // A drainer takes the entries, then dies before publishing them.
    store.ensure_group().await.unwrap();
    assert_eq!(store.read("dead", false, 100).await.unwrap().len(), 5);
    assert!(store.read("dead", false, 100).await.unwrap().is_empty(), "now pending, not new");

    let publisher = Arc::new(MemoryPublisher::new());
    let settings = DrainerSettings { claim_idle: Duration::from_millis(300), ..DrainerSettings::default() };
    let drainer = Drainer::new(
        Arc::clone(&store),
        Arc::clone(&publisher),
        "alive".into(),
        settings,
        DrainerMetrics::default(),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(drainer.run(Arc::new(Notify::new()), Default::default(), async {
        let _ = stopped.await;
    }));
    eventually(Duration::from_secs(10), "the claimed entries published", async || {
        publisher.events().len() == 5
    })
    .await;
    eventually(Duration::from_secs(5), "an empty outbox", async || store.backlog().await.unwrap() == 0).await;
    stop.send(()).unwrap();
    task.await.unwrap();
}
