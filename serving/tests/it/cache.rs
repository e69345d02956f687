//! The Redis cache: hits for plain queries of known users, bypass for filtered ones, answers
//! while Redis is down, use again after it returns; the overlay hooks invalidate a user and
//! filter blocked movies out of cached lists; no write overtakes an invalidation.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use engine::ScoredItem;
use proto::recommendation::v1::{RecommendBatchRequest, RecommendRequest, Source};
use service_common::testing::TestServer;
use serving::overlay::RecentRating;
use serving::requests::RatingOutcome;

use crate::helpers::{self, Client, TestApp, metric};

async fn recommend(
    client: &mut Client,
    user_id: u64,
    n: u32,
) -> proto::recommendation::v1::RecommendResponse {
    client.recommend(RecommendRequest { user_id, n, ..Default::default() }).await.unwrap().into_inner()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_queries_are_cached_per_version_and_filtered_ones_bypass_the_cache() {
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(&helpers::redis_url()), store).await;
    let mut client = app.client.clone();

    let first = recommend(&mut client, 7, 100).await;
    assert!(!first.cached);
    let mut hit = recommend(&mut client, 7, 100).await;
    for _ in 0..100 {
        // The write runs in the background: give it a moment.
        if hit.cached {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        hit = recommend(&mut client, 7, 100).await;
    }
    assert!(hit.cached, "the second request is served from the cache");
    assert_eq!((hit.movies.clone(), hit.source()), (first.movies.clone(), Source::Model));
    // Any n up to 100 is a slice of the cached list.
    let short = recommend(&mut client, 7, 15).await;
    assert!(short.cached);
    assert_eq!(short.movies, first.movies[..15]);
    // n above the cached depth, filters and include_seen bypass it.
    assert!(!recommend(&mut client, 7, 101).await.cached);
    let filtered = RecommendRequest {
        user_id: 7,
        n: 10,
        deny_movie_ids: vec![first.movies[0].movie_id],
        ..Default::default()
    };
    let filtered = client.recommend(filtered).await.unwrap().into_inner();
    assert!(!filtered.cached);
    assert_eq!(filtered.movies, first.movies[1..11]);
    let with_seen = RecommendRequest { user_id: 7, n: 10, include_seen: true, ..Default::default() };
    assert!(!client.recommend(with_seen).await.unwrap().into_inner().cached);
    // Batches read the cache in one round trip.
    let batch = RecommendBatchRequest {
        requests: vec![
            RecommendRequest { user_id: 7, n: 5, ..Default::default() },
            RecommendRequest { user_id: 8, n: 5, ..Default::default() },
        ],
    };
    let responses = client.recommend_batch(batch).await.unwrap().into_inner().responses;
    assert_eq!((responses[0].cached, responses[1].cached), (true, false));
    assert_eq!(responses[0].movies, first.movies[..5]);

    // The overlay hooks the event consumer calls: a new rating folds in once the cached list is
    // invalidated; blocked movies are filtered out of cached lists.
    let serving = app.serving.clone();
    let watched = first.movies[0].movie_id;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let rating = RecentRating { movie_id: watched, rating: Some(5.0), timestamp_ms: now_ms };
    assert_eq!(serving.record_rating(7, rating), RatingOutcome::Applied);
    assert!(serving.invalidate_user(7).await.unwrap(), "user 7 had a cached list");
    let folded = recommend(&mut client, 7, 10).await;
    assert_eq!((folded.source(), folded.cached), (Source::FoldIn, false));
    assert!(folded.movies.iter().all(|m| m.movie_id != watched), "the new rating counts as seen");
    serving.forget_user(7);
    assert!(!recommend(&mut client, 7, 10).await.cached, "the entry was invalidated");
    let plain8 = recommend(&mut client, 8, 100).await;
    serving.set_blocked(8, &[plain8.movies[3].movie_id]);
    let blocked = recommend(&mut client, 8, 50).await;
    assert!(blocked.cached, "blocked movies are filtered out of the cached list");
    let mut expected = plain8.movies[..51].to_vec();
    expected.remove(3);
    assert_eq!(blocked.movies, expected);
    let deep = recommend(&mut client, 8, 100).await;
    assert!(!deep.cached, "a cached list left short of n by blocked movies is not used");
    assert_eq!(deep.movies.len(), 100);
    assert!(deep.movies.iter().all(|m| m.movie_id != plain8.movies[3].movie_id));

    let page = app.metrics().await;
    assert!(metric(&page, "cinerec_serving_cache_hits_total") >= 3.0, "{page}");
    assert!(metric(&page, "cinerec_serving_cache_misses_total") >= 3.0, "{page}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_redis_is_down_and_use_the_cache_again_when_it_returns() {
    let mut redis = TestServer::redis();
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(&redis.redis_url()), store).await;
    let mut client = app.client.clone();
    let cached_soon = |client: Client, user_id| async move {
        let mut client = client;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let response = recommend(&mut client, user_id, 10).await;
            if response.cached || Instant::now() > deadline {
                return response.cached;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let reference = recommend(&mut client, 11, 10).await;
    assert!(cached_soon(client.clone(), 11).await, "the cache works before the outage");

    redis.stop();
    let mut slowest = Duration::ZERO;
    for i in 0..200u64 {
        let started = Instant::now();
        let response = recommend(&mut client, 11 + i % 5, 10).await;
        slowest = slowest.max(started.elapsed());
        assert!(!response.cached);
        if i % 5 == 0 {
            assert_eq!(response.movies, reference.movies);
        }
    }
    // Every request went to the cache, failed fast and was answered from the model (a latency
    // bound belongs to the load generator, not to a test on a shared machine).
    println!("slowest request during the outage: {slowest:?}");
    let page = app.metrics().await;
    assert!(metric(&page, r#"cinerec_serving_cache_errors_total{op="get"}"#) >= 200.0, "{page}");
    assert!(!app.serving.cache().is_connected());

    redis.restart();
    assert!(cached_soon(client.clone(), 11).await, "the cache is used again after Redis returns");
    assert!(app.serving.cache().is_connected());
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_starts_with_redis_down_and_uses_it_once_it_comes_up() {
    let mut redis = TestServer::redis();
    redis.stop();
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(&redis.redis_url()), store).await;
    let mut client = app.client.clone();
    let response = recommend(&mut client, 21, 10).await;
    assert_eq!((response.cached, response.movies.len()), (false, 10));
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !recommend(&mut client, 21, 10).await.cached {
        assert!(Instant::now() < deadline, "the cache was not used within 20 s of Redis starting");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_computed_before_an_invalidation_is_never_cached_after_it() {
    let (_dir, store) = helpers::local_store();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(&helpers::redis_url()), store).await;
    let (serving, cache) = (app.serving.clone(), app.serving.cache().clone());
    let model = serving.models().current().unwrap();
    let (version, n_items) = (model.version().clone(), model.n_items());
    let items = [ScoredItem { item_idx: 1, score: 1.0 }];

    // Invalidated between reading the generation and the write: the write is skipped.
    let generation = cache.generation(31);
    serving.invalidate_user(31).await.unwrap();
    cache.put(&version, 31, &items, generation);
    // Invalidated while the write is in flight: whichever of SET and DEL runs first, the entry
    // is gone afterwards.
    let users: Vec<u64> = (1000..1050).collect();
    for &user in &users {
        cache.put(&version, user, &items, cache.generation(user));
        serving.invalidate_user(user).await.unwrap();
    }
    // An undisturbed write lands.
    cache.put(&version, 32, &items, cache.generation(32));
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.get(&version, 32, n_items).await.is_none() {
        assert!(Instant::now() < deadline, "the undisturbed write did not land");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(cache.get(&version, 31, n_items).await, None);
    let found = cache.get_many(&version, &users, n_items).await;
    assert!(found.iter().all(Option::is_none), "{found:?}");
    assert!(metric(&app.metrics().await, "cinerec_serving_cache_writes_skipped_total") >= 1.0);
    app.stop().await;
}
