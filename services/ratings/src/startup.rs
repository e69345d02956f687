//! [`Application`]: connects to Redis, binds the gRPC and metrics ports (tests use port 0 and
//! read the bound addresses), then serves the ratings service with health and reflection, the
//! `/metrics` endpoint and the outbox drainer until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use events::EventPublisher;
use events::kafka::KafkaPublisher;
use prometheus_client::registry::Registry;
use proto::ratings::v1::ratings_service_server::RatingsServiceServer;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tonic::transport::server::TcpIncoming;

use crate::catalogue;
use crate::config::Config;
use crate::outbox::{Drainer, DrainerMetrics};
use crate::redis_store::RedisStore;
use crate::service::RatingsGrpc;
use crate::store::StoreError;

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Binding a listen address failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// Redis could not be reached or configured.
    #[error("Redis at {url}: {source}")]
    Redis {
        /// The URL, password masked.
        url: String,
        /// The store error.
        source: StoreError,
    },
    /// The Kafka producer could not be created.
    #[error(transparent)]
    Kafka(#[from] events::EventError),
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The metrics endpoint failed.
    #[error("metrics endpoint: {0}")]
    Metrics(std::io::Error),
}

/// The service, bound and connected, ready to run.
#[derive(Debug)]
pub struct Application<P> {
    listener: TcpListener,
    metrics_listener: TcpListener,
    store: Arc<RedisStore>,
    publisher: Arc<P>,
    config: Config,
}

impl Application<KafkaPublisher> {
    /// Connects to Redis and creates the Kafka producer named in `config`, and binds both ports.
    pub async fn build(config: Config) -> Result<Self, StartupError> {
        let publisher = KafkaPublisher::new(&config.kafka_brokers)?;
        Self::with_publisher(config, publisher).await
    }
}

impl<P: EventPublisher + 'static> Application<P> {
    /// Like [`Application::build`] with events going to `publisher`.
    pub async fn with_publisher(config: Config, publisher: P) -> Result<Self, StartupError> {
        let store = RedisStore::connect(&config.redis.url, config.redis.store_settings(&config.topic))
            .await
            .map_err(|source| StartupError::Redis { url: config.redis.url.to_string(), source })?;
        let bind = |addr| async move {
            TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { addr, source })
        };
        let listener = bind(config.service.listen).await?;
        let metrics_listener = bind(config.service.metrics_listen).await?;
        Ok(Self {
            listener,
            metrics_listener,
            store: Arc::new(store),
            publisher: Arc::new(publisher),
            config,
        })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addr().expect("a bound listener has an address")
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_listener.local_addr().expect("a bound listener has an address")
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
        let Self { listener, metrics_listener, store, publisher, config } = self;
        let (stop_tx, stop_rx) = watch::channel(false);
        let stopped = move || {
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        };
        let wake = Arc::new(Notify::new());
        let mut registry = Registry::default();
        let rpc_metrics = service_common::RpcMetrics::register(&mut registry, "ratings");
        let metrics = DrainerMetrics::default();
        metrics.register(registry.sub_registry_with_prefix("cinerec"));
        let consumer = format!("ratings-{}", uuid::Uuid::new_v4().simple());
        tracing::info!(
            addr = %listener.local_addr().map_err(|source| StartupError::Bind { addr: config.service.listen, source })?,
            redis = %config.redis.url,
            prefix = %config.redis.prefix,
            topic = %config.topic,
            consumer,
            "ratings service starting"
        );
        let drainer = Drainer::new(
            Arc::clone(&store),
            publisher,
            consumer,
            config.drainer(),
            Arc::clone(&wake),
            metrics,
        );
        let drainer = tokio::spawn(drainer.run(stopped()));
        let catalogue = config.follow_movies.then(|| {
            let (store, brokers, topic) =
                (Arc::clone(&store), config.kafka_brokers.clone(), config.movies_topic.clone());
            tokio::spawn(follow_movies(store, brokers, topic, stopped()))
        });
        let metrics_server = tokio::spawn(service_common::metrics::serve_metrics(
            metrics_listener,
            Arc::new(registry),
            stopped(),
        ));
        let (health_reporter, health) = service_common::grpc::health();
        health_reporter.set_serving::<RatingsServiceServer<RatingsGrpc<RedisStore>>>().await;
        let service = RatingsServiceServer::new(RatingsGrpc::new(Arc::clone(&store), wake));
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let served = tonic::transport::Server::builder()
            .layer(rpc_metrics)
            .add_service(health)
            .add_service(service_common::grpc::reflection())
            .add_service(service_common::grpc::reflection_v1alpha())
            .add_service(service)
            .serve_with_incoming_shutdown(
                incoming,
                service_common::grpc::not_serving_after(
                    shutdown,
                    health_reporter,
                    &[<RatingsServiceServer<RatingsGrpc<RedisStore>> as tonic::server::NamedService>::NAME],
                ),
            )
            .await;
        let _ = stop_tx.send(true);
        let _ = drainer.await;
        if let Some(catalogue) = catalogue {
            let _ = catalogue.await;
        }
        let metrics_res = metrics_server.await;
        store.quit().await;
        served?;
        match metrics_res {
            Ok(res) => res.map_err(StartupError::Metrics),
            Err(join) => Err(StartupError::Metrics(std::io::Error::other(join))),
        }
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
