//! SIGTERM under load, on the real binary: `cinerec-serve` reports NOT_SERVING, stops taking new
//! connections, lets the requests in flight finish, and exits 0.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proto::recommendation::v1::RecommendRequest;
use service_common::testing::free_port;

use crate::helpers::{self, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_drains_and_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    let store = artifacts::open_store(dir.path().to_str().unwrap(), None).unwrap();
    helpers::publish(&store, helpers::model()).await;
    let (port, metrics_port) = (free_port(), free_port());
    let child = Command::new(env!("CARGO_BIN_EXE_cinerec-serve"))
        .args(["--store", dir.path().to_str().unwrap()])
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--metrics-listen",
            &format!("127.0.0.1:{metrics_port}"),
        ])
        .env_remove("CINEREC_CACHE_REDIS_URL")
        .env_remove("CINEREC_KAFKA_BROKERS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    // Drain both pipes as the server writes (one access line per call): a full pipe would
    // block its logging, and with it the calls.
    let drain = |pipe: Box<dyn std::io::Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::BufReader::new(pipe).read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let mut guard = KillOnDrop(Some(child.id()));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        if let Ok(client) = Client::connect(url.clone()).await {
            break client;
        }
        assert!(Instant::now() < deadline, "cinerec-serve did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    // Eight clients, each on its own connection, asking until the server goes away.
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut tasks = Vec::new();
    for c in 0..8u64 {
        let (mut client, ok, refused) = (client.clone(), ok.clone(), refused.clone());
        if c % 2 == 1 {
            client = Client::connect(url.clone()).await.unwrap();
        }
        tasks.push(tokio::spawn(async move {
            let mut unexpected = Vec::new();
            for i in 0.. {
                let request =
                    RecommendRequest { user_id: 1 + (c * 97 + i) % 900, n: 10, ..Default::default() };
                match client.recommend(request).await {
                    Ok(response) => {
                        assert_eq!(response.into_inner().movies.len(), 10);
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    // The end, each a request the server never took: the server is gone
                    // (UNAVAILABLE), the stream was opened after its GOAWAY (HTTP/2: not
                    // processed; tonic says INTERNAL), or it was still queued in the client
                    // when the drained connection closed (hyper's `Canceled`: never sent).
                    Err(status) if status.code() == tonic::Code::Unavailable || never_sent(&status) => {
                        refused.fetch_add(1, Ordering::SeqCst);
                        break;
                    }
                    Err(status) => unexpected.push(status),
                }
            }
            unexpected
        }));
    }
    // Evidence of load before the signal.
    while ok.load(Ordering::SeqCst) < 500 {
        assert!(Instant::now() < deadline, "no load reached the server");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    guard.0 = None;
    let log = stdout.join().unwrap() + &stderr.join().unwrap();
    assert_eq!(exit.code(), Some(0), "cinerec-serve exit after SIGTERM:\n{log}");
    assert!(log.contains("health reports NOT_SERVING"), "{log}");
    for task in tasks {
        let unexpected = task.await.unwrap();
        assert!(unexpected.is_empty(), "requests failed otherwise than by the shutdown: {unexpected:?}");
    }
    assert_eq!(refused.load(Ordering::SeqCst), 8, "every client saw the server go away");
    println!("{} requests answered before and during the drain", ok.load(Ordering::SeqCst));
}

/// Kills the server if the test fails before it has exited.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            let _ = Command::new("kill").args(["-KILL", &pid.to_string()]).status();
        }
    }
}

/// Whether the client never got `status`'s request onto the wire or into the server: opened after
/// the server's GOAWAY, or dropped from the client's queue when the drained connection closed.
fn never_sent(status: &tonic::Status) -> bool {
    let detail = format!("{status:?}");
    detail.contains("GoAway")
        || (status.code() == tonic::Code::Cancelled && detail.contains("connection closed"))
}
