//! MongoDB down: requests fail with UNAVAILABLE after bounded retries, without internal detail.

use std::time::{Duration, Instant};

use proto::users::v1 as pb;
use tonic::Code;
use users::Secret;

use crate::helpers::{PASSWORD, assert_status, spawn_app_with, test_config};

#[tokio::test]
async fn storage_down_is_unavailable_after_bounded_retries() {
    let closed_port = service_common::testing::free_port();
    let mut config = test_config();
    config.mongo_url = Secret::new(format!("mongodb://127.0.0.1:{closed_port}/"));
    config.mongo_timeout = Duration::from_millis(200);
    config.storage_attempts = 3;
    let mut app = spawn_app_with(config).await;

    let started = Instant::now();
    let register = pb::RegisterRequest {
        username: "ann".into(),
        email: "ann@example.org".into(),
        password: PASSWORD.into(),
        display_name: String::new(),
    };
    let results = [
        app.client.register(register).await.map(|_| ()),
        app.login("ann").await.map(|_| ()),
        app.get(1_000_001).await.map(|_| ()),
        app.set_preferences(1_000_001, pb::Preferences::default()).await.map(|_| ()),
        app.client.delete_user(pb::DeleteUserRequest { user_id: 1_000_001 }).await.map(|_| ()),
    ];
    for res in results {
        let status = assert_status(res.map(tonic::Response::new), Code::Unavailable, "");
        assert_eq!(status.message(), "user storage is unavailable; try again later");
    }
    // 5 requests × 3 attempts × 200 ms server selection, plus ~150 ms of backoff each.
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(10), "bounded: {elapsed:?}");
    assert!(elapsed >= Duration::from_millis(5 * 3 * 200), "retried: {elapsed:?}");
    assert!(app.publisher.events().is_empty());
}
