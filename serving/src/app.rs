//! [`Application`]: builds the service from a [`ServingConfig`] — metrics, model store, cache,
//! the first model load, both listeners — and runs it until a shutdown signal. `build` binds
//! the ports and returns, so tests start a server on `127.0.0.1:0` and read its address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use artifacts::{ModelStore, StoreError};
use service_common::{GrpcServer, ServerError, Service};
use tracing::info;

use crate::cache::{CacheError, CacheSettings, RecCache};
use crate::config::ServingConfig;
use crate::consumer::{self, ConsumerSettings};
use crate::grpc_api::RecommendationApi;
use crate::metrics::Metrics;
use crate::model_slot::Models;
use crate::requests::Serving;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The model store URI or its settings are invalid.
    #[error("model store: {0}")]
    Store(#[from] StoreError),
    /// The cache settings are invalid.
    #[error("recommendation cache: {0}")]
    Cache(#[from] CacheError),
    /// Binding, serving or the metrics endpoint failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A built, not yet running service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    serving: Arc<Serving>,
    kafka_group: Option<String>,
}

impl Application {
    /// Opens the store, connects the cache (Redis being down is not an error), loads the newest
    /// model (an empty or unreachable store is not an error either: health says NOT_SERVING and
    /// queries get UNAVAILABLE until a model appears) and binds both ports.
    pub async fn build(config: ServingConfig) -> Result<Self, AppError> {
        let store = artifacts::open_store(&config.store, config.s3.connection().as_ref())?;
        Self::build_with_store(config, store).await
    }

    /// [`Self::build`] over an already opened store (`config.store` and the S3 flags are
    /// ignored), e.g. a store a test prepared.
    pub async fn build_with_store(config: ServingConfig, store: ModelStore) -> Result<Self, AppError> {
        let mut server = GrpcServer::bind(Service::Serving, &config.service).await?;
        let metrics = Arc::new(Metrics::new(server.registry()));
        let cache_settings = CacheSettings {
            url: config.redis_url.clone(),
            ttl: config.cache_ttl,
            timeout: config.cache_timeout,
            prefix: config.cache_prefix.clone(),
        };
        let cache = RecCache::connect(&cache_settings, metrics.clone(), Duration::from_secs(2)).await?;
        // Readiness: SERVING once a model is loaded (the model slot reports it).
        let models = Models::new(store, config.scoring, metrics.clone(), server.health_reporter()).await;
        // Failures are logged and counted inside; the refresher keeps trying.
        let _ = models.refresh().await;
        let serving =
            Arc::new(Serving::new(models, cache, config.query_limit(), config.overlay_max_users, metrics));
        let events = (!config.kafka_brokers.trim().is_empty()).then(|| ConsumerSettings {
            brokers: config.kafka_brokers.trim().to_string(),
            group: config.kafka_group_or_random(),
            ratings_topic: config.topics.ratings.clone(),
            preferences_topic: config.topics.user_preferences.clone(),
            user_deleted_topic: config.topics.user_deleted.clone(),
        });
        let kafka_group = events.as_ref().map(|e| e.group.clone());
        let refresh_interval = config.refresh_interval;
        info!(refresh_interval_s = refresh_interval.as_secs_f64(), "serving recommendations");
        let mut server =
            server
                .add_service(RecommendationApi::new(serving.clone()).into_server())
                .manual_readiness()
                .task("model refresher", {
                    let serving = serving.clone();
                    move |stop| async move {
                        serving.models().refresh_every(refresh_interval, stop.stopped()).await
                    }
                });
        match events {
            Some(settings) => {
                let serving = serving.clone();
                server = server
                    .task("event consumer", move |stop| consumer::run(serving, settings, stop.stopped()));
            }
            None => info!("no Kafka brokers: the event consumer is off"),
        }
        Ok(Self { server, serving, kafka_group })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.metrics_addr()
    }

    /// The shared state (for tests).
    pub fn serving(&self) -> Arc<Serving> {
        self.serving.clone()
    }

    /// The event consumer's group, when it is on.
    pub fn kafka_group(&self) -> Option<&str> {
        self.kafka_group.as_deref()
    }

    /// Serves gRPC (recommendations, health, reflection), `/metrics`, the model refresher and
    /// (with Kafka brokers) the event consumer until `shutdown` completes; then reports
    /// NOT_SERVING, lets in-flight requests finish and closes the cache connection.
    pub async fn run_until_stopped(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        let Self { server, serving, .. } = self;
        let served = server.serve(shutdown).await;
        serving.close();
        serving.cache().close().await;
        Ok(served?)
    }
}
