//! "Seen" means rated: for every model kind, no list `cinerec-serve` returns holds a movie the
//! user rated, whatever the rating, over all 943 ml-100k users, on every path: batch, single
//! requests with the cache off, computed and then read back from the cache, and known users
//! folded in with new ratings from the event overlay (a liked and a disliked movie).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use artifacts::ModelKind;
use proto::recommendation::v1::{RecommendBatchRequest, RecommendRequest, RecommendResponse, Source};
use serving::overlay::RecentRating;
use serving::requests::RatingOutcome;

use crate::helpers::{self, TestApp};

/// Every movie each user rated in ml-100k, read from the raw ratings.
fn rated() -> HashMap<u64, HashSet<u64>> {
    let (log, _) = helpers::ml100k();
    let mut res: HashMap<u64, HashSet<u64>> = HashMap::new();
    for e in &log.entries {
        let (user, movie) =
            (log.users.external(e.user_idx).unwrap(), log.items.external(e.item_idx).unwrap());
        res.entry(user).or_default().insert(movie);
    }
    assert_eq!(res.len(), 943);
    res
}

/// Fails naming the path, user and movies when a response holds a rated movie.
fn check(path: &str, kind: ModelKind, user: u64, response: &RecommendResponse, rated: &HashSet<u64>) {
    assert_eq!(response.movies.len(), 50, "{kind} {path}: user {user} got a short list");
    let hit: Vec<u64> = response.movies.iter().map(|m| m.movie_id).filter(|m| rated.contains(m)).collect();
    assert!(hit.is_empty(), "{kind} {path}: user {user} was recommended movies they rated: {hit:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_returns_a_movie_the_user_rated() {
    let rated = rated();
    let mut users: Vec<u64> = rated.keys().copied().collect();
    users.sort_unstable();
    let request = |user_id: u64| RecommendRequest { user_id, n: 50, ..Default::default() };
    for kind in ModelKind::ALL {
        let artifact = helpers::train_kind(kind);
        let (dir, store) = helpers::local_store();
        let version = helpers::publish(&store, &artifact).await;
        let same_store = || artifacts::open_store(dir.path().to_str().unwrap(), None).unwrap();

        // Cache off: batch, and one request per user.
        let app = TestApp::spawn(helpers::config(""), same_store()).await;
        let mut client = app.client.clone();
        let batch = RecommendBatchRequest { requests: users.iter().map(|&u| request(u)).collect() };
        let batch = client.recommend_batch(batch).await.unwrap().into_inner();
        assert_eq!(batch.responses.len(), users.len());
        for (&user, response) in users.iter().zip(&batch.responses) {
            assert_eq!(response.source(), Source::Model, "{kind}: user {user}");
            check("batch", kind, user, response, &rated[&user]);
        }
        for &user in &users {
            let response = client.recommend(request(user)).await.unwrap().into_inner();
            check("uncached", kind, user, &response, &rated[&user]);
        }
        app.stop().await;

        // Cache on: computed lists, then the same lists read back from Redis.
        let app = TestApp::spawn(helpers::config(&helpers::redis_url()), same_store()).await;
        let mut client = app.client.clone();
        for &user in &users {
            let response = client.recommend(request(user)).await.unwrap().into_inner();
            assert!(!response.cached, "{kind}: a fresh cache prefix");
            check("cache miss", kind, user, &response, &rated[&user]);
        }
        let n_items = artifact.items.len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while app.serving.cache().get_many(&version, &users, n_items).await.iter().any(Option::is_none) {
            assert!(Instant::now() < deadline, "{kind}: the cache writes did not land");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for &user in &users {
            let response = client.recommend(request(user)).await.unwrap().into_inner();
            assert!(response.cached, "{kind}: user {user} answered from the cache");
            check("cache hit", kind, user, &response, &rated[&user]);
        }

        // Known users folded in with overlay ratings: every tenth user likes one unrated movie
        // and dislikes another; both are rated now.
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as i64;
        let movies = artifact.items.as_slice();
        let mut folded = 0;
        for &user in users.iter().step_by(10) {
            let mut unrated = movies.iter().copied().filter(|m| !rated[&user].contains(m));
            let (liked, disliked) = (unrated.next().unwrap(), unrated.next().unwrap());
            for (movie_id, stars) in [(liked, 5.0), (disliked, 1.0)] {
                let rating = RecentRating { movie_id, rating: Some(stars), timestamp_ms: now_ms };
                assert_eq!(app.serving.record_rating(user, rating), RatingOutcome::Applied);
            }
            let mut now_rated = rated[&user].clone();
            now_rated.extend([liked, disliked]);
            let response = client.recommend(request(user)).await.unwrap().into_inner();
            assert_eq!(response.source(), Source::FoldIn, "{kind}: user {user}");
            check("overlay fold-in", kind, user, &response, &now_rated);
            folded += 1;
        }
        assert_eq!(folded, 95);
        app.stop().await;
    }
}
