//! Wiring: [`Application::build`] connects PostgreSQL (migrating it), S3 and Kafka and binds the
//! gRPC and metrics listeners, returning before serving so callers (tests) know the bound
//! addresses; [`Application::run_until`] serves the movies API with health and reflection, runs
//! the outbox relay, and stops gracefully.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use events::EventPublisher;
use events::kafka::KafkaPublisher;
use prometheus_client::registry::Registry;
use proto::movies::v1::movies_service_server::MoviesServiceServer;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tonic::transport::server::TcpIncoming;

use crate::api::MoviesApi;
use crate::config::ServeArgs;
use crate::domain::MAX_TRAILER_BYTES;
use crate::media::{MediaError, MediaStore, S3Media};
use crate::outbox::{RelayMetrics, RelaySettings, run_relay};
use crate::postgres::PgMovieStore;
use crate::store::{MovieStore, StoreError};

/// Largest request the server decodes: the largest trailer plus room for the other fields.
pub const MAX_REQUEST_BYTES: usize = MAX_TRAILER_BYTES + (1 << 20);

/// Why the service could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// PostgreSQL could not be reached or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The media settings are unusable.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The Kafka producer could not be created.
    #[error(transparent)]
    Events(#[from] events::EventError),
    /// Binding a listener failed.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
    /// The metrics server failed.
    #[error("metrics server: {0}")]
    Metrics(std::io::Error),
}

/// Listen addresses and relay settings for [`Application::from_parts`].
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// gRPC listen address (port 0 picks a free one).
    pub listen: SocketAddr,
    /// `/metrics` listen address; `None` serves no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// Outbox relay settings (topic, poll interval).
    pub relay: RelaySettings,
}

type Task = Pin<Box<dyn Future<Output = Result<(), AppError>> + Send>>;
type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A built, not yet running movies service.
pub struct Application {
    addr: SocketAddr,
    metrics_addr: Option<SocketAddr>,
    run: Box<dyn FnOnce(Shutdown) -> Task + Send>,
}

impl std::fmt::Debug for Application {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Application")
            .field("addr", &self.addr)
            .field("metrics_addr", &self.metrics_addr)
            .finish()
    }
}

impl Application {
    /// The production wiring: PostgreSQL (migrated), S3 media, Kafka events.
    pub async fn build(args: &ServeArgs) -> Result<Self, AppError> {
        let store = PgMovieStore::connect(&args.database.settings()).await?;
        let media = S3Media::new(&args.media.settings())?;
        if let Err(err) = media.check_bucket().await {
            tracing::warn!(%err, "the media bucket is not usable yet; uploads will fail until it is");
        }
        let publisher = KafkaPublisher::new(&args.kafka_brokers)?;
        let relay = RelaySettings::default();
        if let Err(err) = events::kafka::ensure_topics(&args.kafka_brokers, &[&relay.topic]).await {
            tracing::warn!(%err, topic = %relay.topic, "could not check the events topic; the relay will retry publishing");
        }
        let options = AppOptions {
            listen: args.service.listen,
            metrics_listen: Some(args.service.metrics_listen),
            relay,
        };
        Self::from_parts(options, store, media, publisher).await
    }

    /// Any store, media store and publisher (tests use fakes or fresh databases and buckets).
    pub async fn from_parts<S: MovieStore, M: MediaStore, P: EventPublisher + 'static>(
        options: AppOptions,
        store: S,
        media: M,
        publisher: P,
    ) -> Result<Self, AppError> {
        let bind =
            async |addr| TcpListener::bind(addr).await.map_err(|source| AppError::Bind { addr, source });
        let listener = bind(options.listen).await?;
        let addr = listener.local_addr().map_err(|source| AppError::Bind { addr: options.listen, source })?;
        let metrics_listener = match options.metrics_listen {
            Some(metrics) => Some(bind(metrics).await?),
            None => None,
        };
        let metrics_addr = metrics_listener.as_ref().and_then(|l| l.local_addr().ok());

        let mut root = Registry::default();
        let rpc_metrics = service_common::RpcMetrics::register(&mut root, "movies");
        let registry = root.sub_registry_with_prefix("movies");
        let relay_metrics = RelayMetrics::default();
        registry.register(
            "events_published",
            "MovieEvents the broker acknowledged",
            relay_metrics.published.clone(),
        );
        registry.register(
            "event_publish_failures",
            "Failed attempts to publish MovieEvents (retried)",
            relay_metrics.failures.clone(),
        );

        let store = Arc::new(store);
        let wake = Arc::new(Notify::new());
        let api = MoviesApi::new(store.clone(), Arc::new(media), wake.clone());
        let run = move |shutdown: Shutdown| -> Task {
            Box::pin(async move {
                let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                let stopped = move || {
                    let mut rx = stop_rx.clone();
                    async move {
                        let _ = rx.wait_for(|stop| *stop).await;
                    }
                };
                let (health_reporter, health) = service_common::grpc::health();
                health_reporter.set_serving::<MoviesServiceServer<MoviesApi<S, M>>>().await;
                let service = MoviesServiceServer::new(api)
                    .max_decoding_message_size(MAX_REQUEST_BYTES)
                    .max_encoding_message_size(MAX_REQUEST_BYTES);
                let relay =
                    tokio::spawn(run_relay(store, publisher, options.relay, wake, relay_metrics, stopped()));
                let metrics = metrics_listener.map(|listener| {
                    tokio::spawn(service_common::metrics::serve_metrics(listener, Arc::new(root), stopped()))
                });
                tracing::info!(%addr, metrics = ?metrics_addr, "movies service listening");
                let served = tonic::transport::Server::builder()
                    .layer(rpc_metrics)
                    .add_service(health)
                    .add_service(service_common::grpc::reflection())
                    .add_service(service_common::grpc::reflection_v1alpha())
                    .add_service(service)
                    .serve_with_incoming_shutdown(
                        TcpIncoming::from(listener),
                        service_common::grpc::not_serving_after(
                            shutdown,
                            health_reporter,
                            &[<MoviesServiceServer<MoviesApi<S, M>> as tonic::server::NamedService>::NAME],
                        ),
                    )
                    .await;
                let _ = stop_tx.send(true);
                let _ = relay.await;
                if let Some(metrics) = metrics
                    && let Ok(Err(err)) = metrics.await
                {
                    return Err(AppError::Metrics(err));
                }
                served?;
                tracing::info!("movies service stopped");
                Ok(())
            })
        };
        Ok(Self { addr, metrics_addr, run: Box::new(run) })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The bound `/metrics` address, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and stops the relay.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        (self.run)(Box::pin(shutdown)).await
    }
}
