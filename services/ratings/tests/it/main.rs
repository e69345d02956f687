//! The ratings service through a real tonic client on 127.0.0.1:0, against the real Redis
//! (`CINEREC_TEST_REDIS_URL`) and Kafka-protocol broker (`CINEREC_TEST_KAFKA_BROKERS`) that
//! `scripts/test` starts; a fresh key prefix and topic per test. Outage tests run private
//! servers (`TestServer`) they stop and restart.

use std::sync::Arc;
use std::time::Duration;

use events::{EventPublisher, MemoryPublisher};
use fred::prelude::{ClientLike, HashesInterface};
use proto::ratings::v1::ratings_service_client::RatingsServiceClient;
use proto::ratings::v1::{GetMovieStatsRequest, MovieStats, SubmitRatingRequest, SubmitRatingResponse};
use ratings::domain::MovieId;
use ratings::{Application, Config, RatingStore, RedisStore};
use service_common::testing::server_url;
use tokio::sync::oneshot;
use tonic::transport::Channel;

mod api;
mod catalogue;
mod concurrency;
mod import;
mod outages;
mod outbox;

fn redis_url() -> String {
    server_url("CINEREC_TEST_REDIS_URL")
}

fn brokers() -> String {
    server_url("CINEREC_TEST_KAFKA_BROKERS")
}

/// A unique name for a key prefix, topic or consumer group.
fn fresh(name: &str) -> String {
    format!("test-{name}-{}", uuid::Uuid::new_v4().simple())
}

/// A running service and a client of it; stopped on drop.
struct TestApp {
    client: RatingsServiceClient<Channel>,
    addr: std::net::SocketAddr,
    store: Arc<RedisStore>,
    /// The outbox drainer's round counters.
    relay: Arc<events::relay::RelayStats>,
    prefix: String,
    metrics: std::net::SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
}

impl TestApp {
    /// The service on `config` publishing to `publisher`, with movies 1..=`movies` in the
    /// catalogue.
    async fn spawn<P: EventPublisher + 'static>(config: Config, publisher: P, movies: u64) -> Self {
        let prefix = config.redis.prefix.clone();
        let app = Application::with_publisher(config, publisher).await.expect("the service starts");
        let (addr, metrics) = (app.addr(), app.metrics_addr());
        let store = app.store();
        let relay = app.relay_stats();
        let ids: Vec<MovieId> = (1..=movies).map(|id| MovieId::parse(id, "movie_id").unwrap()).collect();
        store.add_movies(&ids).await.unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            app.run_until(async {
                let _ = stopped.await;
            })
            .await
            .expect("the service runs");
        });
        let client = RatingsServiceClient::connect(format!("http://{addr}")).await.expect("a connection");
        Self { client, addr, store, relay, prefix, metrics, stop: Some(stop), server: Some(server) }
    }

    /// The service on the shared test Redis with a fresh prefix, events into a memory
    /// publisher, movies 1..=100 in the catalogue.
    async fn memory() -> (Self, Arc<MemoryPublisher>) {
        let publisher = Arc::new(MemoryPublisher::new());
        let config = Config::local(&redis_url(), &fresh("ratings"), "unused:9092", "ratings-test");
        (Self::spawn(config, Arc::clone(&publisher), 100).await, publisher)
    }

    async fn submit(&mut self, user: u64, movie: u64, rating: f32) -> SubmitRatingResponse {
        self.try_submit(user, movie, rating, "")
            .await
            .unwrap_or_else(|s| panic!("submit {user}/{movie}: {s}"))
    }

    async fn try_submit(
        &mut self,
        user_id: u64,
        movie_id: u64,
        rating: f32,
        review: &str,
    ) -> Result<SubmitRatingResponse, tonic::Status> {
        let request = SubmitRatingRequest { user_id, movie_id, rating, review: review.to_owned() };
        self.client.submit_rating(request).await.map(tonic::Response::into_inner)
    }

    async fn stats(&mut self, movie_id: u64) -> MovieStats {
        self.client.get_movie_stats(GetMovieStatsRequest { movie_id }).await.unwrap().into_inner()
    }

    /// Stops the server and waits for it (drainer included).
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A plain client of the test Redis, for checking stored state against a recomputation.
async fn raw_redis(url: &str) -> fred::clients::Client {
    let client =
        fred::types::Builder::from_config(fred::prelude::Config::from_url(url).unwrap()).build().unwrap();
    client.init().await.unwrap();
    client
}

/// (count, half-star sum) recomputed from the movie's ratings hash, and the stored aggregate.
async fn recomputed_and_stored(
    redis: &fred::clients::Client,
    prefix: &str,
    movie: u64,
) -> ((u64, u64), (u64, u64)) {
    let ratings: std::collections::HashMap<String, String> =
        redis.hgetall(format!("{prefix}:movie:{movie}:ratings")).await.unwrap();
    let sum = ratings.values().map(|v| v.split_once(':').unwrap().0.parse::<u64>().unwrap()).sum();
    let stats: std::collections::HashMap<String, u64> =
        redis.hgetall(format!("{prefix}:movie:{movie}:stats")).await.unwrap();
    let stored = (stats.get("count").copied().unwrap_or(0), stats.get("sum").copied().unwrap_or(0));
    ((ratings.len() as u64, sum), stored)
}

/// Polls `check` every 50 ms until it is true or `timeout` passes.
async fn eventually(timeout: Duration, what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
