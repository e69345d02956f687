//! [`Application`]: connects to Redis and builds the service on the kit's
//! [`GrpcServer`] (ports bound at build, port 0 in tests; readiness follows a Redis `PING`; the
//! outbox drainer and the movie-events follower run as its tasks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use events::EventPublisher;
use events::kafka::KafkaPublisher;
use proto::ratings::v1::ratings_service_server::RatingsServiceServer;
use service_common::{GrpcServer, ServerError, Service};
use tokio::sync::Notify;

use crate::catalogue;
use crate::config::Config;
use crate::outbox::{Drainer, DrainerMetrics};
use crate::redis_store::RedisStore;
use crate::service::RatingsGrpc;
use crate::store::StoreError;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Redis could not be reached or configured.
    #[error("Redis at {url}: {source}")]
    Redis {
        /// The URL, password masked.
        url: String,
        /// The store error.
        #[source]
        source: StoreError,
    },
    /// The Kafka producer could not be created.
    #[error(transparent)]
    Kafka(#[from] events::EventError),
    /// Binding, serving or the metrics endpoint failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// How often readiness pings Redis.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);

/// The service, bound and connected, ready to run.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    store: Arc<RedisStore>,
}

impl Application {
    /// Connects to Redis and creates the Kafka producer named in `config`, and binds both ports.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let publisher = KafkaPublisher::new(&config.kafka_brokers)?;
        Self::with_publisher(config, publisher).await
    }

    /// Like [`Application::build`] with events going to `publisher`.
    pub async fn with_publisher<P: EventPublisher + 'static>(
        config: Config,
        publisher: P,
    ) -> Result<Self, StartupError> {
        let store = RedisStore::connect(&config.redis.url, config.redis.store_settings(&config.topic))
            .await
            .map_err(|source| StartupError::Redis { url: config.redis.url.to_string(), source })?;
        let store = Arc::new(store);
        let mut server = GrpcServer::bind(Service::Ratings, &config.service).await?;
        let metrics = DrainerMetrics::default();
        metrics.register(server.registry().sub_registry_with_prefix("cinerec"));
        let consumer = format!("ratings-{}", uuid::Uuid::new_v4().simple());
        tracing::info!(
            redis = %config.redis.url,
            prefix = %config.redis.prefix,
            topic = %config.topic,
            consumer,
            "ratings service starting"
        );
        let wake = Arc::new(Notify::new());
        let drainer = Drainer::new(
            Arc::clone(&store),
            Arc::new(publisher),
            consumer,
            config.drainer(),
            Arc::clone(&wake),
            metrics,
        );
        let mut server = server
            .add_service(RatingsServiceServer::new(RatingsGrpc::new(Arc::clone(&store), wake)))
            .ready_when(READINESS_INTERVAL, {
                let store = Arc::clone(&store);
                move || {
                    let store = Arc::clone(&store);
                    async move { store.ping().await }
                }
            })
            .task("outbox drainer", move |stop| drainer.run(stop.stopped()));
        if config.follow_movies {
            let (store, brokers, topic) =
                (Arc::clone(&store), config.kafka_brokers.clone(), config.movies_topic.clone());
            server =
                server.task("movie events", move |stop| follow_movies(store, brokers, topic, stop.stopped()));
        }
        Ok(Self { server, store })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.metrics_addr()
    }

    /// The store (tests and the importer use it directly).
    pub fn store(&self) -> Arc<RedisStore> {
        Arc::clone(&self.store)
    }

    /// Serves until `shutdown` completes: in-flight requests finish, the drainer ends its round.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let served = self.server.serve(shutdown).await;
        self.store.quit().await;
        Ok(served?)
    }
}

/// Subscribes to the movie events (retrying while Kafka is unreachable: the ratings API does
/// not wait for it) and follows them until `shutdown`.
async fn follow_movies(
    store: Arc<RedisStore>,
    brokers: String,
    topic: String,
    shutdown: impl Future<Output = ()> + Send,
) {
    const GROUP: &str = "cinerec-ratings-catalogue";
    let mut shutdown = std::pin::pin!(shutdown);
    let backoff = service_common::Backoff {
        initial: std::time::Duration::from_millis(200),
        max: std::time::Duration::from_secs(10),
        attempts: u32::MAX,
    };
    let mut attempt = 0;
    let subscriber = loop {
        attempt += 1;
        let subscribed = async {
            events::kafka::ensure_topics(&brokers, &[&topic]).await?;
            events::kafka::KafkaSubscriber::new(&brokers, GROUP, &[&topic])
        };
        match subscribed.await {
            Ok(subscriber) => break subscriber,
            Err(err) => {
                tracing::warn!(%err, attempt, topic, "cannot subscribe to movie events yet");
                tokio::select! {
                    () = tokio::time::sleep(backoff.delay(attempt)) => {}
                    () = &mut shutdown => return,
                }
            }
        }
    };
    tracing::info!(topic, group = GROUP, "following movie events");
    catalogue::follow_movies(&store, subscriber, shutdown).await;
}
