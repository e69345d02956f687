//! The warehouse ratings source: ml-100k's 100,000 ratings published as `RatingEvent`s to a
//! fresh Kafka topic, stored by analytics' own consumer into a fresh PostgreSQL warehouse (the
//! events path), read back as the files' log in canonical (user, movie) order, trained into a
//! byte-identical model, and through `cinerec train --ratings-warehouse` to the same quality as
//! `--dataset ml-100k`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use analytics::ingest::IngestSettings;
use datasets::{DatasetName, checkout_data_dir};
use events::EventPublisher;
use prost::Message;
use proto::events::v1::{RatingChange, RatingEvent};
use service_common::EventTopics;
use training::source::RatingsSource;
use training::source::warehouse::WarehouseRatings;
use warehouse::postgres::PgWarehouse;

use super::f;

/// Publishes ml-100k as rating events and lets analytics store them; returns the warehouse URL
/// and the seconds publishing and storing took.
fn ml_100k_through_the_events_path() -> (String, f64) {
    let brokers = service_common::testing::server_url("CINEREC_TEST_KAFKA_BROKERS");
    let admin = service_common::testing::server_url("CINEREC_TEST_POSTGRES_URL");
    let ratings = datasets::load_ratings(&checkout_data_dir(), DatasetName::Ml100k).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let unique = |kind: &str| format!("train-it-{kind}-{}", uuid::Uuid::new_v4().simple());
        let topics = EventTopics {
            ratings: unique("ratings"),
            user_preferences: unique("preferences"),
            user_deleted: unique("deleted"),
            movies: unique("movies"),
            recommendations_served: unique("served"),
            request_logs: unique("requests"),
            activity: unique("activity"),
        };
        let started = Instant::now();
        let publisher = Arc::new(
            events::kafka::KafkaPublisher::batching(
                &brokers,
                Duration::from_secs(30),
                Duration::from_millis(20),
            )
            .unwrap(),
        );
        for chunk in ratings.chunks(5_000) {
            let mut sends = tokio::task::JoinSet::new();
            for (k, r) in chunk.iter().enumerate() {
                let event = RatingEvent {
                    event_id: format!("ml100k-{}-{}-{k}", r.user_id, r.movie_id),
                    user_id: r.user_id,
                    movie_id: r.movie_id,
                    rating: r.rating,
                    timestamp_ms: r.timestamp * 1000,
                    change: RatingChange::Created.into(),
                };
                let (publisher, topic) = (Arc::clone(&publisher), topics.ratings.clone());
                sends.spawn(async move {
                    publisher.publish(&topic, &event.user_id.to_string(), event.encode_to_vec()).await
                });
            }
            while let Some(sent) = sends.join_next().await {
                sent.unwrap().unwrap();
            }
        }
        let url = warehouse::postgres::fresh_database(&admin, "training_it").await.unwrap();
        let warehouse = Arc::new(PgWarehouse::connect(&url, 2).await.unwrap());
        let settings = IngestSettings {
            brokers: brokers.clone(),
            group: unique("group"),
            topics,
            max_batch: 2_000,
            linger: Duration::from_millis(20),
        };
        let stored = analytics::ingest::drain(
            Arc::clone(&warehouse),
            settings,
            ratings.len() as u64,
            Duration::from_secs(180),
        )
        .await;
        assert_eq!(stored, Ok(()), "analytics stored every rating in time");
        (url, started.elapsed().as_secs_f64())
    })
}

#[test]
fn training_from_the_warehouse_matches_training_from_the_files() {
    let (url, ingest_seconds) = ml_100k_through_the_events_path();
    let started = Instant::now();
    let from_warehouse = WarehouseRatings { url: url.clone() }.load().unwrap();
    let load_seconds = started.elapsed().as_secs_f64();
    super::assert_same_model_as_the_files(from_warehouse);

    // The command line, against `--dataset ml-100k` in the files' own order: the same quality.
    let (from_warehouse, from_files) = super::train_like_the_files(&["--ratings-warehouse", &url]);
    let dataset = from_warehouse["dataset"].as_str().unwrap();
    assert!(dataset.starts_with("warehouse postgres://"), "{from_warehouse:#}");
    eprintln!(
        "100,000 ratings published and stored through Kafka and analytics in {ingest_seconds:.1} s ({:.0} events/s); \
         read back {load_seconds:.2} s (library), `cinerec train` load {:.2} s from the warehouse, {:.2} s from the files",
        100_000.0 / ingest_seconds,
        f(&from_warehouse["load_seconds"]),
        f(&from_files["load_seconds"])
    );
}

#[test]
fn ratings_warehouse_is_a_train_only_source_with_a_clear_url_error() {
    let err = super::cinerec(&[
        "evaluate",
        "--ratings-warehouse",
        "postgres://x@127.0.0.1:1/w",
        "--model",
        "popularity",
    ])
    .unwrap_err();
    assert!(err.contains("`cinerec train` only"), "{err}");
    let err = super::cinerec(&[
        "train",
        "--ratings-warehouse",
        "postgres://x@127.0.0.1:1/w",
        "--dataset",
        "ml-100k",
    ])
    .unwrap_err();
    assert!(err.contains("cannot be used with"), "{err}");
    let err = super::cinerec(&["train", "--ratings-warehouse", "mysql://u:secret@h/w", "--store", "/tmp/x"])
        .unwrap_err();
    assert!(err.contains("expected a postgres://") && !err.contains("secret"), "{err}");
}
