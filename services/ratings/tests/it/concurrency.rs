//! Many concurrent writers on the same movie (different users and the same user): no update is
//! lost, the aggregate equals a recomputation, and there is exactly one event per change.

use std::collections::HashSet;
use std::time::Duration;

use proto::ratings::v1::{DeleteRatingRequest, SubmitRatingRequest};
use tonic::Code;

use crate::{TestApp, eventually, raw_redis, recomputed_and_stored, redis_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_never_lose_an_update() {
    let (app, publisher) = TestApp::memory().await;
    let writers = 32u64;
    let per_writer = 60u64;
    let mut tasks = tokio::task::JoinSet::new();
    for writer in 0..writers {
        let mut client = app.client.clone();
        tasks.spawn(async move {
            let mut changes = 0u64;
            let mut state = writer.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            for i in 0..per_writer {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let roll = state >> 33;
                // Half the writers share users 1..=4 (the same user from many connections);
                // the others have their own user. Movies 1 and 2 are shared by all.
                let user = if writer % 2 == 0 { 1 + roll % 4 } else { 100 + writer };
                let movie = 1 + (roll >> 8) % 2;
                if i % 7 == 6 {
                    match client.delete_rating(DeleteRatingRequest { user_id: user, movie_id: movie }).await {
                        Ok(_) => changes += 1,
                        Err(status) => assert_eq!(status.code(), Code::NotFound, "{status:?}"),
                    }
                } else {
                    let rating = 0.5 * (1 + (roll >> 16) % 10) as f32;
                    let request =
                        SubmitRatingRequest { user_id: user, movie_id: movie, rating, review: String::new() };
                    client.submit_rating(request).await.expect("submit");
                    changes += 1;
                }
            }
            changes
        });
    }
    let mut changes = 0;
    while let Some(done) = tasks.join_next().await {
        changes += done.unwrap();
    }
    let redis = raw_redis(&redis_url()).await;
    for movie in [1, 2] {
        let (recomputed, stored) = recomputed_and_stored(&redis, &app.prefix, movie).await;
        assert_eq!(stored, recomputed, "movie {movie}: stored (count, sum) vs recomputed");
        assert!(recomputed.0 > 0);
    }
    eventually(Duration::from_secs(30), "one event per change", async || {
        publisher.events().len() as u64 >= changes
    })
    .await;
    // Not vacuous: two more drainer rounds ran since, so a repeat would be out by now.
    let rounds = app.relay.rounds();
    eventually(Duration::from_secs(20), "two more drainer rounds", async || app.relay.rounds() >= rounds + 2)
        .await;
    assert_eq!(publisher.events().len() as u64, changes, "exactly one event per change");
    let ids: HashSet<Vec<u8>> = publisher.events().into_iter().map(|e| e.payload).collect();
    assert_eq!(ids.len() as u64, changes, "distinct events");
    app.stop().await;
}
