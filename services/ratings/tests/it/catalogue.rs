//! The ratable movies follow the movies service's `MovieEvent`s on the real broker.

use std::time::Duration;

use events::EventPublisher;
use events::kafka::{KafkaPublisher, ensure_topics};
use prost::Message;
use proto::events::v1::{MovieChange, MovieEvent};
use tonic::Code;

use crate::{TestApp, brokers, eventually, fresh, redis_url};

#[tokio::test]
async fn movie_events_add_and_remove_ratable_movies() {
    let (brokers, movies_topic) = (brokers(), fresh("movies-topic"));
    ensure_topics(&brokers, &[&movies_topic]).await.unwrap();
    let mut config =
        ratings::Config::local(&redis_url(), &fresh("ratings"), &brokers, &fresh("ratings-topic"));
    config.follow_movies = true;
    config.topics.movies = movies_topic.clone();
    let mut app = TestApp::spawn(config, events::MemoryPublisher::new(), 0).await;
    let status = app.try_submit(1, 5000, 4.0, "").await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "not in the catalogue yet");

    let publisher = KafkaPublisher::new(&brokers).unwrap();
    let event = |change: MovieChange| {
        let event = MovieEvent {
            event_id: uuid::Uuid::new_v4().to_string(),
            movie_id: 5000,
            change: change.into(),
            title: "New Movie (2026)".into(),
            timestamp_ms: 1,
            ..MovieEvent::default()
        };
        event.encode_to_vec()
    };
    publisher.publish(&movies_topic, "5000", event(MovieChange::Created)).await.unwrap();
    eventually(Duration::from_secs(60), "the created movie to be ratable", async || {
        app.try_submit(1, 5000, 4.0, "").await.is_ok()
    })
    .await;
    publisher.publish(&movies_topic, "5000", event(MovieChange::Deleted)).await.unwrap();
    eventually(Duration::from_secs(60), "the deleted movie to be refused", async || {
        app.try_submit(2, 5000, 3.0, "").await.is_err_and(|s| s.code() == Code::InvalidArgument)
    })
    .await;
    app.stop().await;
}
