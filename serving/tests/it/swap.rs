//! Model lifecycle: hot swaps under load with zero failed requests, a corrupt newest artifact
//! refused while the previous model keeps serving, loading from the S3 store, and overlays
//! trimmed to what a new model does not know.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use artifacts::VersionId;
use engine::recommend::RecommendOptions;
use proto::recommendation::v1::{ModelInfoRequest, RecommendRequest, RefreshModelRequest, Source};
use serving::overlay::RecentRating;
use serving::requests::RatingOutcome;
use tonic_health::pb::health_check_response::ServingStatus;

use crate::helpers::{self, TestApp, metric};

/// Users the swap test asks for, each answer checked against the model its version names.
const USERS: [u64; 8] = [1, 2, 3, 5, 8, 13, 21, 34];

/// Each user's expected top-10 movie ids under `artifact`.
fn top10(artifact: &artifacts::Artifact) -> HashMap<u64, Vec<u64>> {
    USERS
        .iter()
        .map(|&user_id| {
            let user_idx = artifact.users.dense(user_id).unwrap();
            let items = engine::recommend::recommend(
                artifact.recommender(),
                artifact.training_users().unwrap(),
                user_idx,
                &RecommendOptions::default(),
            )
            .unwrap();
            (user_id, items.iter().map(|s| artifact.items.external(s.item_idx).unwrap()).collect())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_under_load_fail_no_request_and_answer_from_published_versions() {
    let (dir, store) = helpers::local_store();
    let publisher = artifacts::open_store(dir.path().to_str().unwrap(), None).unwrap();
    let variants: Vec<artifacts::Artifact> = (10..15).map(helpers::train).collect();
    let mut expected: HashMap<String, HashMap<u64, Vec<u64>>> = HashMap::new();
    let first = helpers::publish(&store, &variants[0]).await;
    expected.insert(first.to_string(), top10(&variants[0]));
    let mut config = helpers::config(&helpers::redis_url());
    config.refresh_interval = Duration::from_millis(100);
    let app = TestApp::spawn(config, store).await;

    let stop_at = Instant::now() + Duration::from_secs(4);
    let mut clients = Vec::new();
    for c in 0..16 {
        let mut client = app.new_client().await;
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut seen) = (0u32, Vec::new(), Vec::new());
            let mut i = c;
            while Instant::now() < stop_at {
                let user_id = USERS[i % USERS.len()];
                i += 1;
                match client.recommend(RecommendRequest { user_id, n: 10, ..Default::default() }).await {
                    Ok(response) => {
                        let r = response.into_inner();
                        ok += 1;
                        seen.push((
                            r.model_version,
                            user_id,
                            r.movies.iter().map(|m| m.movie_id).collect::<Vec<_>>(),
                        ));
                    }
                    Err(status) => failed.push(status),
                }
            }
            (ok, failed, seen)
        }));
    }
    // Publish four new versions while the clients run; every other one is pulled by the
    // RefreshModel RPC, the others by the 100 ms refresh interval.
    let mut published = vec![first];
    for (i, variant) in variants[1..].iter().enumerate() {
        tokio::time::sleep(Duration::from_millis(600)).await;
        let version = helpers::publish(&publisher, variant).await;
        expected.insert(version.to_string(), top10(variant));
        if i % 2 == 0 {
            let mut client = app.client.clone();
            let refreshed = client.refresh_model(RefreshModelRequest {}).await.unwrap().into_inner();
            assert_eq!(refreshed.model_version, version.as_str());
        }
        published.push(version);
    }
    let (mut total, mut versions_seen) = (0u32, HashSet::new());
    for client in clients {
        let (ok, failed, seen) = client.await.unwrap();
        assert!(failed.is_empty(), "{} failed requests, first: {:?}", failed.len(), failed[0]);
        total += ok;
        for (version, user_id, movies) in seen {
            let per_user = expected.get(&version).unwrap_or_else(|| panic!("unpublished version {version}"));
            assert_eq!(per_user[&user_id], movies, "user {user_id} under {version}");
            versions_seen.insert(version);
        }
    }
    // Timing-free: the responses below came from at least four versions, so the clients ran
    // through the swaps (how many requests fit in 4 s is the load generator's business).
    println!("{total} requests during the swaps");
    assert!(versions_seen.len() >= 4, "responses came from {versions_seen:?} of {published:?}");
    let last = published.last().unwrap();
    // The refresher (100 ms) picks up the last version, which was not pulled by the RPC.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let info = app.client.clone().model_info(ModelInfoRequest {}).await.unwrap().into_inner();
        if info.version == last.as_str() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "serving {} instead of {last}", info.version);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let page = app.metrics().await;
    assert_eq!(metric(&page, "cinerec_serving_model_swaps_total"), 5.0, "{page}");
    assert_eq!(metric(&page, "cinerec_serving_models_refused_total"), 0.0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_newest_artifact_is_refused_and_the_previous_model_keeps_serving() {
    let (dir, store) = helpers::local_store();
    let good = helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(""), store).await;
    let mut client = app.client.clone();
    let before =
        client.recommend(RecommendRequest { user_id: 3, n: 10, ..Default::default() }).await.unwrap();

    // A complete file with one flipped byte (the store's `put` refuses such bytes, so it is
    // written the way a broken uploader would) published as newest; then a file that is not
    // an artifact at all.
    let mut bytes = artifacts::to_bytes(helpers::model()).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    for contents in [bytes, b"definitely not a model".to_vec()] {
        let bad = VersionId::generate();
        fs_err::write(dir.path().join(format!("{bad}.cinerec")), &contents).unwrap();
        fs_err::write(dir.path().join("LATEST"), format!("{bad}\n")).unwrap();
        for _ in 0..2 {
            // The second refresh finds the version already refused and does not fetch it again.
            let refreshed = client.refresh_model(RefreshModelRequest {}).await.unwrap().into_inner();
            assert_eq!((refreshed.swapped, refreshed.model_version.as_str()), (false, good.as_str()));
        }
        let after =
            client.recommend(RecommendRequest { user_id: 3, n: 10, ..Default::default() }).await.unwrap();
        assert_eq!(after.get_ref(), before.get_ref());
        assert_eq!(app.health().await, ServingStatus::Serving);
    }
    let page = app.metrics().await;
    assert_eq!(metric(&page, "cinerec_serving_models_refused_total"), 2.0, "{page}");

    // A good version published afterwards is taken.
    let publisher = artifacts::open_store(dir.path().to_str().unwrap(), None).unwrap();
    let newer = helpers::publish(&publisher, &helpers::train(2)).await;
    let refreshed = client.refresh_model(RefreshModelRequest {}).await.unwrap().into_inner();
    assert_eq!((refreshed.swapped, refreshed.model_version.as_str()), (true, newer.as_str()));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_load_from_the_s3_store() {
    let store = helpers::s3_store().await;
    let version = helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(""), store).await;
    let artifact = Arc::new(helpers::model().clone());
    let response =
        app.client.clone().recommend(RecommendRequest { user_id: 42, n: 10, ..Default::default() }).await;
    let response = response.unwrap().into_inner();
    assert_eq!(response.model_version, version.as_str());
    let user_idx = artifact.users.dense(42).unwrap();
    let engine = engine::recommend::recommend(
        artifact.recommender(),
        artifact.training_users().unwrap(),
        user_idx,
        &RecommendOptions::default(),
    )
    .unwrap();
    let scores: Vec<(u64, f32)> = response.movies.iter().map(|m| (m.movie_id, m.score)).collect();
    let expected: Vec<(u64, f32)> =
        engine.iter().map(|s| (artifact.items.external(s.item_idx).unwrap(), s.score)).collect();
    assert_eq!(scores, expected);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_model_drops_the_overlay_ratings_it_was_trained_on() {
    let (dir, store) = helpers::local_store();
    let publisher = artifacts::open_store(dir.path().to_str().unwrap(), None).unwrap();
    helpers::publish(&store, helpers::model()).await;
    let app = TestApp::spawn(helpers::config(""), store).await;
    let (mut client, serving) = (app.client.clone(), app.serving.clone());
    let now_ms = || SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
    let plain = client.recommend(RecommendRequest { user_id: 5, n: 10, ..Default::default() }).await.unwrap();
    let (watched, blocked) = (plain.get_ref().movies[0].movie_id, plain.get_ref().movies[1].movie_id);
    let rating = |movie_id, timestamp_ms| RecentRating { movie_id, rating: Some(5.0), timestamp_ms };
    assert_eq!(serving.record_rating(5, rating(watched, now_ms())), RatingOutcome::Applied);
    serving.set_blocked(5, &[blocked]);
    let later = now_ms() + 3_600_000;
    assert_eq!(serving.record_rating(6, rating(watched, later)), RatingOutcome::Applied);
    let folded =
        client.recommend(RecommendRequest { user_id: 5, n: 10, ..Default::default() }).await.unwrap();
    assert_eq!(folded.get_ref().source(), Source::FoldIn);

    // Training times have whole-second precision: train the next model a second later.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let newer = helpers::publish(&publisher, &helpers::train(3)).await;
    let refreshed = client.refresh_model(RefreshModelRequest {}).await.unwrap().into_inner();
    assert_eq!((refreshed.swapped, refreshed.model_version.as_str()), (true, newer.as_str()));
    let five = serving.overlays().get(5).unwrap();
    assert_eq!((five.ratings.len(), five.blocked.as_slice()), (0, &[blocked][..]), "blocked movies stay");
    assert_eq!(serving.overlays().get(6).unwrap().ratings, [rating(watched, later)]);
    let after = client.recommend(RecommendRequest { user_id: 5, n: 10, ..Default::default() }).await.unwrap();
    assert_eq!(after.get_ref().source(), Source::Model, "the new model has the rating");
    assert!(after.get_ref().movies.iter().all(|m| m.movie_id != blocked));
    assert_eq!(metric(&app.metrics().await, "cinerec_serving_overlay_users"), 2.0);
    app.stop().await;
}
