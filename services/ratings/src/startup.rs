//! [`Application`]: connects to Redis and builds the service on the kit's
//! [`GrpcServer`] (ports bound at build, port 0 in tests; readiness follows a Redis `PING`; the
//! outbox drainer and the movie-events follower run as its tasks).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use events::EventPublisher;
use events::kafka::KafkaPublisher;
use events::relay::RelayStats;
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
    relay_stats: Arc<RelayStats>,
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
        let store =
            RedisStore::connect(&config.redis.url, config.redis.store_settings(&config.topics.ratings))
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
            topic = %config.topics.ratings,
            consumer,
            "ratings service starting"
        );
        let wake = Arc::new(Notify::new());
        let drainer =
            Drainer::new(Arc::clone(&store), Arc::new(publisher), consumer, config.drainer(), metrics);
        let relay_stats = Arc::new(RelayStats::default());
        let mut server = server
            .add_service(RatingsServiceServer::new(RatingsGrpc::new(Arc::clone(&store), Arc::clone(&wake))))
            .ready_when(READINESS_INTERVAL, Arc::clone(&store))
            .task("outbox drainer", {
                let stats = Arc::clone(&relay_stats);
                move |stop| drainer.run(wake, stats, stop.stopped())
            });
        if config.follow_movies {
            let (store, brokers, topic) =
                (Arc::clone(&store), config.kafka_brokers.clone(), config.topics.movies.clone());
            server = server.task("movie events", move |stop| {
                catalogue::follow_movies(store, brokers, topic, stop.stopped())
            });
        }
        Ok(Self { server, store, relay_stats })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.metrics_addr()
    }

    /// The outbox drainer's counters (tests wait for a round before checking that nothing was
    /// published).
    pub fn relay_stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.relay_stats)
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
