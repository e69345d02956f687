//! [`Application`]: builds the service from a [`ServingConfig`] — metrics, model store, cache,
//! the first model load, both listeners — and runs it until a shutdown signal. `build` binds
//! the ports and returns, so tests start a server on `127.0.0.1:0` and read its address.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use artifacts::{ModelStore, StoreError};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic_health::server::{HealthReporter, HealthService};
use tracing::info;

use crate::cache::{CacheError, CacheSettings, RecCache};
use crate::config::ServingConfig;
use crate::consumer::{self, ConsumerSettings};
use crate::metrics::Metrics;
use crate::models::{Models, SERVICE_NAME};
use crate::service::RecommendationApi;
use crate::serving::Serving;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The model store URI or its settings are invalid.
    #[error("model store: {0}")]
    Store(#[from] StoreError),
    /// The cache settings are invalid.
    #[error("recommendation cache: {0}")]
    Cache(#[from] CacheError),
    /// A listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The metrics server failed.
    #[error("metrics server: {0}")]
    Metrics(std::io::Error),
}

/// A built, not yet running service.
#[derive(Debug)]
pub struct Application {
    serving: Arc<Serving>,
    health: HealthReporter,
    grpc: TcpListener,
    addr: SocketAddr,
    metrics_listener: TcpListener,
    metrics_addr: SocketAddr,
    registry: Arc<Registry>,
    rpc_metrics: service_common::RpcMetrics,
    refresh_interval: Duration,
    events: Option<ConsumerSettings>,
}

impl Application {
    /// Opens the store, connects the cache (Redis being down is not an error), loads the newest
    /// model (an empty or unreachable store is not an error either: health says NOT_SERVING and
    /// queries get UNAVAILABLE until a model appears) and binds both ports.
    pub async fn build(config: ServingConfig) -> Result<Self, AppError> {
        let store = artifacts::open_store(&config.store)?;
        Self::build_with_store(config, store).await
    }

    /// [`Self::build`] over an already opened store (`config.store` is ignored), e.g. an S3
    /// store whose settings do not come from the environment.
    pub async fn build_with_store(config: ServingConfig, store: ModelStore) -> Result<Self, AppError> {
        let mut registry = Registry::default();
        let metrics = Arc::new(Metrics::new(&mut registry));
        let rpc_metrics = service_common::RpcMetrics::register(&mut registry, "serving");
        let cache_settings = CacheSettings {
            url: config.redis_url.clone(),
            ttl: config.cache_ttl,
            timeout: config.cache_timeout,
            prefix: config.cache_prefix.clone(),
        };
        let cache = RecCache::connect(&cache_settings, metrics.clone(), Duration::from_secs(2)).await?;
        let health = HealthReporter::new();
        let models = Models::new(store, config.scoring, metrics.clone(), health.clone()).await;
        // Failures are logged and counted inside; the refresher keeps trying.
        let _ = models.refresh().await;
        let serving =
            Arc::new(Serving::new(models, cache, config.query_limit(), config.overlay_max_users, metrics));
        let events = (!config.kafka_brokers.trim().is_empty()).then(|| ConsumerSettings {
            brokers: config.kafka_brokers.trim().to_string(),
            group: config.kafka_group_or_random(),
            ratings_topic: config.ratings_topic.clone(),
            preferences_topic: config.preferences_topic.clone(),
            user_deleted_topic: config.user_deleted_topic.clone(),
        });
        if events.is_none() {
            info!("no Kafka brokers: the event consumer is off");
        }
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr).await.map_err(|source| AppError::Bind { addr, source })
        };
        let grpc = bind(config.service.listen).await?;
        let metrics_listener = bind(config.service.metrics_listen).await?;
        let local = |l: &TcpListener, addr| l.local_addr().map_err(|source| AppError::Bind { addr, source });
        Ok(Self {
            addr: local(&grpc, config.service.listen)?,
            metrics_addr: local(&metrics_listener, config.service.metrics_listen)?,
            serving,
            health,
            grpc,
            metrics_listener,
            registry: Arc::new(registry),
            rpc_metrics,
            refresh_interval: config.refresh_interval,
            events,
        })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The shared state (for tests).
    pub fn serving(&self) -> Arc<Serving> {
        self.serving.clone()
    }

    /// The event consumer's group, when it is on.
    pub fn kafka_group(&self) -> Option<&str> {
        self.events.as_ref().map(|e| e.group.as_str())
    }

    /// Serves gRPC (recommendations, health, reflection), `/metrics`, the model refresher and
    /// (with Kafka brokers) the event consumer until `shutdown` completes; then reports
    /// NOT_SERVING, lets in-flight requests finish and closes the cache connection.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) -> Result<(), AppError> {
        let Self {
            serving,
            health,
            grpc,
            addr,
            metrics_listener,
            metrics_addr,
            registry,
            rpc_metrics,
            refresh_interval,
            events,
        } = self;
        let (stop, stopped) = watch::channel(false);
        let wait = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        let metrics_task =
            tokio::spawn(service_common::metrics::serve_metrics(metrics_listener, registry, wait()));
        let refresher = {
            let (serving, wait) = (serving.clone(), wait());
            tokio::spawn(async move { serving.models().refresh_every(refresh_interval, wait).await })
        };
        let consumer = events.map(|settings| tokio::spawn(consumer::run(serving.clone(), settings, wait())));
        info!(%addr, %metrics_addr, refresh_interval_s = refresh_interval.as_secs_f64(), "serving recommendations");
        let signal = {
            let health = health.clone();
            async move {
                service_common::grpc::not_serving_after(shutdown, health, &[SERVICE_NAME]).await;
                let _ = stop.send(true);
            }
        };
        let incoming = TcpIncoming::from(grpc).with_nodelay(Some(true));
        let res = Server::builder()
            .layer(rpc_metrics)
            .add_service(tonic_health::pb::health_server::HealthServer::new(
                HealthService::from_health_reporter(health),
            ))
            .add_service(service_common::grpc::reflection())
            .add_service(service_common::grpc::reflection_v1alpha())
            .add_service(RecommendationApi::new(serving.clone()).into_server())
            .serve_with_incoming_shutdown(incoming, signal)
            .await;
        serving.close();
        let _ = refresher.await;
        if let Some(consumer) = consumer {
            let _ = consumer.await;
        }
        let metrics_res = metrics_task.await;
        serving.cache().close().await;
        info!("stopped");
        res?;
        match metrics_res {
            Ok(Ok(())) => Ok(()),
            Ok(Err(err)) => Err(AppError::Metrics(err)),
            Err(join) => Err(AppError::Metrics(std::io::Error::other(join.to_string()))),
        }
    }
}
