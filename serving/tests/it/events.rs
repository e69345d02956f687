//! The event consumer against the real Kafka-protocol broker (`CINEREC_TEST_KAFKA_BROKERS`,
//! fresh topics per test) and Redis: new ratings change a user's list without a retrain,
//! duplicates apply once, ratings older than the model are ignored, preferences block movies on
//! every path, deletions clear, and a broker that is down at start is waited for.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use events::EventPublisher;
use events::kafka::{KafkaPublisher, ensure_topics};
use prost::Message;
use proto::events::v1::{RatingChange, RatingEvent, UserDeleted, UserPreferencesChanged};
use proto::recommendation::v1::{RecommendBatchRequest, RecommendRequest, RecommendResponse, Source};
use service_common::testing::TestServer;
use serving::ServingConfig;
use serving::overlay::UserOverlay;

use crate::helpers::{self, Client, TestApp, metric, unique};

/// Fresh topics on a broker and a publisher to them.
struct Topics {
    brokers: String,
    ratings: String,
    preferences: String,
    deleted: String,
    publisher: KafkaPublisher,
}

impl Topics {
    /// Fresh topic names on `brokers` (created by the test, so that publishing never races the
    /// consumer's `ensure_topics`).
    async fn new(brokers: &str) -> Self {
        let res = Self {
            brokers: brokers.to_string(),
            ratings: unique("serving-ratings"),
            preferences: unique("serving-preferences"),
            deleted: unique("serving-deleted"),
            publisher: KafkaPublisher::new(brokers).unwrap(),
        };
        let names = [res.ratings.as_str(), res.preferences.as_str(), res.deleted.as_str()];
        let names = &names;
        eventually("creating the test topics", Duration::from_secs(60), || async move {
            ensure_topics(brokers, names).await.ok()
        })
        .await;
        res
    }

    /// A serving config consuming these topics with the cache at `redis_url`.
    fn config(&self, redis_url: &str) -> ServingConfig {
        let mut config = helpers::config(redis_url);
        config.kafka_brokers = self.brokers.clone();
        config.topics.ratings = self.ratings.clone();
        config.topics.user_preferences = self.preferences.clone();
        config.topics.user_deleted = self.deleted.clone();
        config
    }

    async fn publish(&self, topic: &str, user_id: u64, payload: Vec<u8>) {
        self.publisher.publish(topic, &user_id.to_string(), payload).await.unwrap();
    }

    /// Publishes a rating (`None`: deleted) with the given event id.
    async fn rating_with_id(
        &self,
        event_id: &str,
        user_id: u64,
        movie_id: u64,
        rating: Option<f32>,
        at_ms: i64,
    ) {
        let change = match rating {
            Some(_) => RatingChange::Created,
            None => RatingChange::Deleted,
        };
        let event = RatingEvent {
            event_id: event_id.to_string(),
            user_id,
            movie_id,
            rating: rating.unwrap_or(0.0),
            timestamp_ms: at_ms,
            change: change.into(),
        };
        self.publish(&self.ratings, user_id, event.encode_to_vec()).await;
    }

    /// Publishes a rating made now under a fresh event id.
    async fn rating(&self, user_id: u64, movie_id: u64, rating: Option<f32>) {
        self.rating_with_id(&unique("event"), user_id, movie_id, rating, now_ms()).await;
    }

    async fn blocked(&self, user_id: u64, movies: &[u64], at_ms: i64) {
        let event = UserPreferencesChanged {
            event_id: unique("event"),
            user_id,
            blocked_movie_ids: movies.to_vec(),
            timestamp_ms: at_ms,
            ..Default::default()
        };
        self.publish(&self.preferences, user_id, event.encode_to_vec()).await;
    }

    async fn deleted(&self, user_id: u64, at_ms: i64) {
        let event = UserDeleted { event_id: unique("event"), user_id, timestamp_ms: at_ms };
        self.publish(&self.deleted, user_id, event.encode_to_vec()).await;
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

/// Polls `check` every 50 ms until it returns a value; panics after `limit`.
async fn eventually<T, F: Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const SOON: Duration = Duration::from_secs(30);

async fn recommend(client: &Client, user_id: u64, n: u32) -> RecommendResponse {
    let mut client = client.clone();
    client.recommend(RecommendRequest { user_id, n, ..Default::default() }).await.unwrap().into_inner()
}

/// The user's list once it is served from the cache.
async fn cached_list(client: &Client, user_id: u64, n: u32) -> RecommendResponse {
    eventually("a cached list", SOON, || async move {
        let response = recommend(client, user_id, n).await;
        response.cached.then_some(response)
    })
    .await
}

fn ids(response: &RecommendResponse) -> Vec<u64> {
    response.movies.iter().map(|m| m.movie_id).collect()
}

/// The overlay's ratings as `(movie, stars)`.
fn overlay_ratings(overlay: Option<std::sync::Arc<UserOverlay>>) -> Vec<(u64, Option<f32>)> {
    overlay.map_or_else(Vec::new, |o| o.ratings.iter().map(|r| (r.movie_id, r.rating)).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_ratings_change_the_list_without_a_retrain() {
    let topics = Topics::new(&helpers::kafka_brokers()).await;
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(topics.config(&helpers::redis_url()), store).await;
    let (client, serving) = (&app.client, &*app.serving);
    let model = serving.models().current().unwrap();
    let user = 42;

    let before = cached_list(client, user, 20).await;
    assert_eq!(before.source(), Source::Model);
    let top = &ids(&before)[..];
    topics.rating(user, top[0], Some(5.0)).await;
    let after = eventually("the rating folds in", SOON, || async move {
        let response = recommend(client, user, 20).await;
        (response.source() == Source::FoldIn).then_some(response)
    })
    .await;
    assert!(!after.cached, "the first answer after the event is computed, not cached");
    assert!(!ids(&after).contains(&top[0]), "the rated movie is excluded as seen");
    assert_eq!(
        serving.cache().get(model.version(), user, model.n_items()).await,
        None,
        "the cached list was invalidated"
    );

    // Below the positive threshold: excluded as seen, not folded in as a positive.
    topics.rating(user, top[1], Some(2.0)).await;
    eventually("the low rating", SOON, || async move {
        (overlay_ratings(serving.overlays().get(user)).len() == 2).then_some(())
    })
    .await;
    let low = recommend(client, user, 20).await;
    assert!(!ids(&low).contains(&top[1]) && !ids(&low).contains(&top[0]));
    let hidden: Vec<u64> = ids(&after).into_iter().filter(|&m| m != top[1]).collect();
    assert_eq!(ids(&low)[..19], hidden[..19], "a low rating only hides the movie (implicit ALS)");

    // The same event id twice: applied once. A later event tells when both were consumed.
    topics.rating_with_id("dup-1", user, top[2], Some(5.0), now_ms()).await;
    topics.rating_with_id("dup-1", user, top[3], Some(5.0), now_ms()).await;
    // Older than the model: the model has it, so it is not added.
    let trained_at = model.trained_at_ms();
    topics.rating_with_id(&unique("old"), user, top[4], Some(5.0), trained_at - 86_400_000).await;
    topics.rating(user, top[5], Some(4.5)).await;
    let ratings = eventually("the later event", SOON, || async move {
        let ratings = overlay_ratings(serving.overlays().get(user));
        ratings.iter().any(|&(movie, _)| movie == top[5]).then_some(ratings)
    })
    .await;
    assert_eq!(
        ratings,
        [(top[0], Some(5.0)), (top[1], Some(2.0)), (top[2], Some(5.0)), (top[5], Some(4.5))],
        "the duplicate and the old rating are not in the overlay"
    );
    // A deleted rating is recorded as removed: the movie may come back.
    topics.rating(user, top[0], None).await;
    eventually("the deletion", SOON, || async move {
        overlay_ratings(serving.overlays().get(user)).contains(&(top[0], None)).then_some(())
    })
    .await;

    // A user the model does not know: popularity until they rate, then their own fold-in.
    let newcomer = 10_000_000 + u64::from(std::process::id());
    assert_eq!(recommend(client, newcomer, 10).await.source(), Source::Popularity);
    for &movie in &top[..3] {
        topics.rating(newcomer, movie, Some(5.0)).await;
    }
    let folded = eventually("the newcomer's fold-in", SOON, || async move {
        let response = recommend(client, newcomer, 10).await;
        (response.source() == Source::FoldIn && serving.overlays().get(newcomer)?.ratings.len() == 3)
            .then_some(response)
    })
    .await;
    assert!(top[..3].iter().all(|movie| !ids(&folded).contains(movie)));

    let page = app.metrics().await;
    let events = |outcome: &str| {
        metric(&page, &format!(r#"cinerec_serving_events_total{{kind="rating",outcome="{outcome}"}}"#))
    };
    assert_eq!((events("applied"), events("duplicate"), events("ignored")), (8.0, 1.0, 1.0), "{page}");
    assert_eq!(metric(&page, "cinerec_serving_overlay_users"), 2.0, "{page}");
    assert_eq!(metric(&page, "cinerec_serving_event_consumer_up"), 1.0, "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferences_block_movies_on_every_path_and_deletion_clears() {
    let topics = Topics::new(&helpers::kafka_brokers()).await;
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(topics.config(&helpers::redis_url()), store).await;
    let (client, serving) = (&app.client, &*app.serving);
    let user = 77;

    let before = cached_list(client, user, 20).await;
    let top = &ids(&before)[..];
    let blocked = [top[0], top[2]];
    topics.blocked(user, &blocked, now_ms()).await;
    let shows_blocked = |response: &RecommendResponse| ids(response).iter().any(|m| blocked.contains(m));
    let shows_blocked = &shows_blocked;
    let first = eventually("the blocked movies disappear", SOON, || async move {
        let response = recommend(client, user, 20).await;
        (!shows_blocked(&response)).then_some(response)
    })
    .await;
    assert!(!first.cached, "the cached list was invalidated");
    let expected: Vec<u64> = top.iter().copied().filter(|m| !blocked.contains(m)).collect();
    assert_eq!(ids(&first)[..18], expected[..]);
    let cached = cached_list(client, user, 20).await;
    assert!(!shows_blocked(&cached), "the cached path filters them out");
    assert_eq!(ids(&cached), ids(&first));
    let mut uncached = client.clone();
    for request in [
        RecommendRequest { user_id: user, n: 20, include_seen: true, ..Default::default() },
        RecommendRequest { user_id: user, n: 20, recent_movie_ids: vec![top[5]], ..Default::default() },
        RecommendRequest { user_id: user, n: 300, ..Default::default() },
    ] {
        let response = uncached.recommend(request).await.unwrap().into_inner();
        assert!(!response.cached && !shows_blocked(&response), "{response:?}");
    }
    let batch = RecommendBatchRequest {
        requests: vec![
            RecommendRequest { user_id: user, n: 20, ..Default::default() },
            RecommendRequest { user_id: user, n: 20, include_seen: true, ..Default::default() },
        ],
    };
    let responses = uncached.recommend_batch(batch).await.unwrap().into_inner().responses;
    assert!(responses[0].cached && responses.iter().all(|r| !shows_blocked(r)));

    // Deletion forgets the user; their older preferences arriving late stay ignored.
    let deleted_at = now_ms();
    topics.deleted(user, deleted_at).await;
    let restored = eventually("the deletion", SOON, || async move {
        let response = recommend(client, user, 20).await;
        (serving.overlays().get(user).is_none() && shows_blocked(&response)).then_some(response)
    })
    .await;
    assert_eq!(ids(&restored), top);
    topics.blocked(user, &blocked, deleted_at - 1_000).await;
    topics.blocked(user + 1, &blocked, now_ms()).await;
    eventually("the later preferences", SOON, || async move { serving.overlays().get(user + 1).map(drop) })
        .await;
    assert!(serving.overlays().get(user).is_none(), "preferences older than the deletion are ignored");
    let page = app.metrics().await;
    let events = |kind: &str, outcome: &str| {
        metric(&page, &format!(r#"cinerec_serving_events_total{{kind="{kind}",outcome="{outcome}"}}"#))
    };
    assert_eq!(
        (
            events("preferences", "applied"),
            events("preferences", "ignored"),
            events("user_deleted", "applied")
        ),
        (2.0, 1.0, 1.0),
        "{page}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_waits_for_a_broker_that_is_down_at_start() {
    let mut kafka = TestServer::kafka();
    kafka.stop();
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let mut config = helpers::config("");
    config.kafka_brokers = kafka.addr().to_string();
    let app = TestApp::spawn(config, store).await;
    let (client, running) = (&app.client, &app);
    let user = 5;

    // The server answers from the model while the consumer retries.
    eventually("a failed connection attempt", SOON, || async move {
        (metric(&running.metrics().await, r#"cinerec_serving_event_errors_total{stage="connect"}"#) >= 1.0)
            .then_some(())
    })
    .await;
    let before = recommend(client, user, 10).await;
    assert_eq!(before.source(), Source::Model);
    assert_eq!(app.health().await, tonic_health::pb::health_check_response::ServingStatus::Serving);

    kafka.restart();
    let brokers = &kafka.addr().to_string();
    let publisher = KafkaPublisher::new(brokers).unwrap();
    let topics = &[
        proto::events::topics::RATINGS,
        proto::events::topics::USER_PREFERENCES,
        proto::events::topics::USER_DELETED,
    ];
    eventually("creating the topics", Duration::from_secs(60), || async move {
        ensure_topics(brokers, topics).await.ok()
    })
    .await;
    let event = RatingEvent {
        event_id: unique("event"),
        user_id: user,
        movie_id: before.movies[0].movie_id,
        rating: 5.0,
        timestamp_ms: now_ms(),
        change: RatingChange::Created.into(),
    };
    publisher.publish(topics[0], &user.to_string(), event.encode_to_vec()).await.unwrap();
    let after = eventually("the event applied", Duration::from_secs(60), || async move {
        let response = recommend(client, user, 10).await;
        (response.source() == Source::FoldIn).then_some(response)
    })
    .await;
    assert!(after.movies.iter().all(|m| m.movie_id != before.movies[0].movie_id));
    assert_eq!(metric(&app.metrics().await, "cinerec_serving_event_consumer_up"), 1.0);
    app.stop().await;
}
