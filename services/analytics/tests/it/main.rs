//! Analytics against a real PostgreSQL (`scripts/start-server postgres`): a batch of activity
//! events is accepted and stored once per event id, a resent batch stores nothing new, and an
//! invalid batch is refused whole, naming each bad event and field.

use std::sync::Arc;

use analytics::warehouse::PgWarehouse;
use sqlx::Connection;

/// A fresh database on the test server, as a URL.
async fn fresh_database() -> String {
    let admin = service_common::testing::server_url("CINEREC_TEST_POSTGRES_URL");
    let name = format!("analytics_it_{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut connection = sqlx::PgConnection::connect(&admin).await.expect("the test PostgreSQL");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut connection)
        .await
        .unwrap();
    connection.close().await.unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

fn post(addr: std::net::SocketAddr, body: serde_json::Value) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent
        .post(&format!("http://{addr}/api/v1/events"))
        .header("content-type", "application/json")
        .send(body.to_string())
        .unwrap();
    let status = response.status().as_u16();
    (status, serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_stored_once_and_bad_batches_not_at_all() {
    let url = fresh_database().await;
    let warehouse = Arc::new(PgWarehouse::connect(&url, 2).await.unwrap());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(listener, analytics::app::router(Arc::clone(&warehouse), 1 << 20)).into_future(),
    );

    let event = |id: &str, kind: &str| {
        serde_json::json!({"event_id": id, "event_type": kind, "occurred_at": "2026-12-04T21:05:00Z",
            "user_id": 7, "recommendation_id": "r-1", "movie_id": 1, "position": 2, "context": {"page": "home"}})
    };
    let batch = serde_json::json!({"events": [event("e1", "view"), event("e2", "click")]});
    let body = batch.clone();
    let (status, answer) = tokio::task::spawn_blocking(move || post(addr, body)).await.unwrap();
    assert_eq!((status, answer), (202, serde_json::json!({"stored": 2, "duplicates": 0})));
    let (status, answer) = tokio::task::spawn_blocking(move || post(addr, batch)).await.unwrap();
    assert_eq!((status, answer), (202, serde_json::json!({"stored": 0, "duplicates": 2})), "a resent batch");
    assert_eq!(warehouse.count_activity("e1").await.unwrap(), 1);

    let bad = serde_json::json!({"events": [event("e3", "view"), event("e4", "hover")]});
    let (status, answer) = tokio::task::spawn_blocking(move || post(addr, bad)).await.unwrap();
    assert_eq!(status, 400, "{answer}");
    assert_eq!(answer["error"]["fields"][0]["field"], "events[1].event_type", "{answer}");
    assert_eq!(warehouse.count_activity("e3").await.unwrap(), 0, "nothing of a bad batch is stored");
}
