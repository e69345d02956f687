//! Outages on private servers: Redis stopped mid-run (requests fail cleanly with UNAVAILABLE,
//! readiness follows Redis down and up, the service recovers without a restart), and the Kafka broker stopped while ratings are
//! written (requests succeed, events wait in the outbox and reach the restarted broker exactly
//! once after de-duplication by event id).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use events::kafka::{KafkaPublisher, KafkaSubscriber, ensure_topics};
use events::{Deduplicator, MemoryPublisher};
use prost::Message;
use proto::events::v1::RatingEvent;
use proto::ratings::v1::{GetMovieStatsRequest, ListUserRatingsRequest};
use ratings::domain::MovieId;
use ratings::outbox::Outbox;
use ratings::{Config, RatingStore};
use service_common::testing::{ServingStatus, TestServer, grpc_health};
use tonic::Code;

use crate::{TestApp, eventually, fresh};

#[tokio::test]
async fn redis_outage_fails_cleanly_and_recovers_without_restart() {
    let mut redis = TestServer::redis();
    let publisher = Arc::new(MemoryPublisher::new());
    let config = Config::local(&redis.redis_url(), &fresh("ratings"), "unused:9092", "outage");
    let mut app = TestApp::spawn(config, Arc::clone(&publisher), 10).await;
    app.submit(1, 1, 4.0).await;
    let addr = app.addr;
    let health_is = |want: ServingStatus| async move { grpc_health(addr).await == Some(want) };
    eventually(Duration::from_secs(20), "SERVING", async || health_is(ServingStatus::Serving).await).await;

    redis.stop();
    let started = Instant::now();
    let status = app.try_submit(1, 2, 3.0, "").await.unwrap_err();
    let took = started.elapsed();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    assert!(!status.message().contains("127.0.0.1"), "no internal detail: {}", status.message());
    eventually(Duration::from_secs(20), "NOT_SERVING while Redis is down", async || {
        health_is(ServingStatus::NotServing).await
    })
    .await;
    let status = app.client.get_movie_stats(GetMovieStatsRequest { movie_id: 1 }).await.unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    let request = ListUserRatingsRequest { user_id: 1, ..Default::default() };
    assert_eq!(app.client.list_user_ratings(request).await.unwrap_err().code(), Code::Unavailable);
    eprintln!("redis outage: SubmitRating answered UNAVAILABLE after {took:?}");

    // The private server restarts empty: the catalogue comes back as the importer would put it.
    redis.restart();
    let store = Arc::clone(&app.store);
    eventually(Duration::from_secs(20), "the client reconnected", async || {
        store.add_movies(&[MovieId::parse(2, "movie_id").unwrap()]).await.is_ok()
    })
    .await;
    eventually(Duration::from_secs(20), "SERVING again", async || health_is(ServingStatus::Serving).await)
        .await;
    let response = app.try_submit(1, 2, 3.0, "").await.expect("a submit after the restart");
    assert!(!response.updated);
    let stats = app.stats(2).await;
    assert_eq!((stats.count, stats.mean), (1, 3.0));
    // The drainer recreated its group on the empty server and published the new event.
    eventually(Duration::from_secs(20), "the post-restart event", async || {
        publisher
            .events()
            .iter()
            .any(|e| RatingEvent::decode(e.payload.as_slice()).unwrap().event_id == response.event_id)
    })
    .await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_outage_delays_events_and_loses_none() {
    let mut kafka = TestServer::kafka();
    let brokers = kafka.addr().to_string();
    let topic = fresh("ratings-topic");
    ensure_topics(&brokers, &[&topic]).await.unwrap();
    let publisher = KafkaPublisher::with_delivery_timeout(&brokers, Duration::from_secs(2)).unwrap();
    let config = Config::local(
        &service_common::testing::server_url("CINEREC_TEST_REDIS_URL"),
        &fresh("ratings"),
        &brokers,
        &topic,
    );
    let mut app = TestApp::spawn(config, publisher, 100).await;

    // Before the outage: published and consumed.
    let mut before = HashSet::new();
    for movie in 1..=10 {
        before.insert(app.submit(1, movie, 4.0).await.event_id);
    }
    let subscriber = KafkaSubscriber::new(&brokers, &fresh("group"), &[&topic]).unwrap();
    let mut seen = HashSet::new();
    while !before.is_subset(&seen) {
        let message = tokio::time::timeout(Duration::from_secs(60), subscriber.next())
            .await
            .expect("an event")
            .unwrap();
        seen.insert(RatingEvent::decode(message.payload.as_slice()).unwrap().event_id);
    }
    drop(subscriber);

    // During the outage: every request succeeds; events wait in the outbox.
    kafka.stop();
    let mut during = HashSet::new();
    for i in 0..30u64 {
        let response =
            app.try_submit(2 + i % 3, 1 + i, 2.5, "").await.expect("submits succeed while Kafka is down");
        during.insert(response.event_id);
    }
    let backlog = app.store.backlog().await.unwrap();
    assert!(backlog >= 30, "the outbox holds the events, {backlog} entries");
    let failed = app.relay.failed_rounds();
    eventually(Duration::from_secs(30), "the drainer to fail and back off", async || {
        app.relay.failed_rounds() >= failed + 2
    })
    .await;

    // The in-memory broker restarts empty, like a new cluster: provisioning creates the topic.
    kafka.restart();
    let restarted = Instant::now();
    ensure_topics(&brokers, &[&topic]).await.unwrap();
    eventually(Duration::from_secs(60), "the outbox drained", async || {
        app.store.backlog().await.unwrap() == 0
    })
    .await;
    let drained = restarted.elapsed();

    // A consumer reading the topic from the beginning sees each of them exactly once after
    // de-duplication.
    let subscriber = KafkaSubscriber::new(&brokers, &fresh("group"), &[&topic]).unwrap();
    let mut dedup = Deduplicator::new(10_000);
    let (mut unique, mut duplicates, mut messages) = (Vec::new(), 0, 0);
    loop {
        let wait = if during.iter().all(|id| unique.contains(id)) { 3 } else { 60 };
        let Ok(message) = tokio::time::timeout(Duration::from_secs(wait), subscriber.next()).await else {
            break;
        };
        let event = RatingEvent::decode(message.unwrap().payload.as_slice()).unwrap();
        messages += 1;
        if dedup.first_time(&event.event_id) {
            unique.push(event.event_id);
        } else {
            duplicates += 1;
        }
    }
    let unique_set: HashSet<String> = unique.iter().cloned().collect();
    assert_eq!(unique_set.len(), unique.len());
    assert_eq!(unique_set, during, "every rating made during the outage, exactly once after de-duplication");
    eprintln!(
        "kafka outage: {} events delivered {drained:?} after the broker restart; {messages} messages, {duplicates} duplicates before de-duplication",
        during.len()
    );
    app.stop().await;
}
