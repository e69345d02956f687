//! `cinerec-analytics` against a real PostgreSQL and the Kafka-protocol broker
//! (`scripts/start-server postgres|kafka`):
//!
//! - `http`: `POST /api/v1/events` (stored once per event id, a bad batch refused whole naming
//!   `events[i].field`, the ingest token required), the reports as JSON and CSV with every bad
//!   parameter named, and the OpenAPI document valid against the OpenAPI 3.1 schema;
//! - `kafka`: every topic's events through the consumer into the reports, a redelivery that
//!   changes no report, and a warehouse outage mid-stream (a proxy between analytics and
//!   PostgreSQL cut): consumption pauses, readiness and the paused metric say so, and after
//!   the warehouse returns every event is stored exactly once.

mod http;
mod kafka;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use analytics::{Application, Config};
use clap::Parser;

/// The ingest token the tests configure.
pub const TOKEN: &str = "test-ingest-token";

/// A fresh database on the test server.
pub async fn fresh_database() -> String {
    let admin = service_common::testing::server_url("CINEREC_TEST_POSTGRES_URL");
    warehouse::postgres::fresh_database(&admin, "analytics_it").await.unwrap()
}

/// Analytics settings on loopback ports over `warehouse_url`, plus `extra` flags.
pub fn config(warehouse_url: &str, extra: &[&str]) -> Config {
    let mut args = vec![
        "cinerec-analytics",
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
        "--warehouse-url",
        warehouse_url,
        "--ingest-token",
        TOKEN,
    ];
    if !extra.contains(&"--kafka-brokers") {
        args.extend(["--kafka-brokers", ""]);
    }
    args.extend_from_slice(extra);
    Config::try_parse_from(args).unwrap()
}

/// A running analytics service.
pub struct Running {
    /// The API address.
    pub addr: SocketAddr,
    /// The metrics / health address.
    pub metrics: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Builds and serves `config`.
    pub async fn start(config: Config) -> Self {
        let app = Application::build(&config).await.unwrap();
        let (addr, metrics) = (app.addr(), app.metrics_addr());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            app.run_until(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        Self { addr, metrics, stop: Some(stop), task: Some(task) }
    }

    /// Stops the service and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

/// An HTTP answer: status, content type, body.
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// Body text.
    pub body: String,
}

impl Answer {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// Sends a request (blocking client on a blocking thread).
pub async fn send(
    method: &'static str,
    url: String,
    token: Option<&'static str>,
    body: Option<serde_json::Value>,
) -> Answer {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = match (method, body) {
            ("POST", Some(body)) => {
                let mut request = agent.post(&url).header("content-type", "application/json");
                if let Some(token) = token {
                    request = request.header("authorization", format!("Bearer {token}"));
                }
                request.send(body.to_string()).unwrap()
            }
            _ => agent.get(&url).call().unwrap(),
        };
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Answer {
            status: response.status().as_u16(),
            content_type,
            body: response.body_mut().read_to_string().unwrap(),
        }
    })
    .await
    .unwrap()
}

/// Waits until `check` gives `Some`, polling every 100 ms for at most `within`.
pub async fn eventually<T>(what: &str, within: Duration, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
