//! Building and running the server: [`Application::build`] binds the gRPC and metrics ports
//! (port 0 in tests) and connects to MongoDB lazily; [`Application::run_until`] serves the users
//! service with health and reflection, `/metrics`, and the outbox drainer until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use events::EventPublisher;
use prometheus_client::registry::Registry;
use proto::users::v1::users_service_server::UsersServiceServer;
use service_common::grpc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::server::TcpIncoming;

use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbox::Outbox;
use crate::service::{TokenSettings, UsersApi};
use crate::store::{MongoUserStore, StoreError};

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The MongoDB settings are unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A port could not be bound.
    #[error("binding the {what} listener on {addr}: {source}")]
    Bind {
        /// Which listener.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[from] tonic::transport::Error),
}

/// A bound, not yet running users service.
#[derive(Debug)]
pub struct Application<P> {
    grpc: TcpListener,
    grpc_addr: SocketAddr,
    metrics: TcpListener,
    metrics_addr: SocketAddr,
    api: UsersApi<MongoUserStore, P>,
    outbox: Arc<Outbox<MongoUserStore, P>>,
    outbox_interval: Duration,
    registry: Registry,
}

impl<P: EventPublisher + 'static> Application<P> {
    /// Binds the listeners of `config.service` and sets up the store (lazily connected: MongoDB
    /// may be down now) and the outbox over `publisher`.
    pub async fn build(config: &Config, publisher: P) -> Result<Self, StartupError> {
        let grpc = bind("gRPC", config.service.listen).await?;
        let metrics = bind("metrics", config.service.metrics_listen).await?;
        let local = |listener: &TcpListener, what, addr| {
            listener.local_addr().map_err(|source| StartupError::Bind { what, addr, source })
        };
        let grpc_addr = local(&grpc, "gRPC", config.service.listen)?;
        let metrics_addr = local(&metrics, "metrics", config.service.metrics_listen)?;
        let store = Arc::new(
            MongoUserStore::connect(&config.mongo_url, &config.mongo_database, config.mongo_timeout).await?,
        );
        let mut registry = Registry::default();
        let counters = Metrics::register(&mut registry);
        let outbox = Arc::new(Outbox::new(store.clone(), publisher, config.backoff(), counters));
        let tokens = TokenSettings { secret: config.jwt_secret.clone(), ttl: config.token_ttl };
        let api = UsersApi::new(store, outbox.clone(), tokens, config.backoff(), config.publish_timeout);
        Ok(Self {
            grpc,
            grpc_addr,
            metrics,
            metrics_addr,
            api,
            outbox,
            outbox_interval: config.outbox_interval,
            registry,
        })
    }

    /// The bound gRPC address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish and stops the
    /// outbox drainer and the metrics endpoint.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        let (stop, stopped) = watch::channel(false);
        let drainer = tokio::spawn(self.outbox.run(self.outbox_interval, stopped.clone()));
        let mut registry = self.registry;
        let rpc_metrics = service_common::RpcMetrics::register(&mut registry, "users");
        let metrics = tokio::spawn(service_common::metrics::serve_metrics(
            self.metrics,
            Arc::new(registry),
            wait_for(stopped),
        ));
        let (health_reporter, health) = grpc::health();
        health_reporter.set_serving::<UsersServiceServer<UsersApi<MongoUserStore, P>>>().await;
        tracing::info!(grpc = %self.grpc_addr, metrics = %self.metrics_addr, "users service listening");
        let served = tonic::transport::Server::builder()
            .layer(rpc_metrics)
            .add_service(health)
            .add_service(grpc::reflection())
            .add_service(grpc::reflection_v1alpha())
            .add_service(UsersServiceServer::new(self.api))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(self.grpc),
                grpc::not_serving_after(
                    shutdown,
                    health_reporter,
                    &[<UsersServiceServer<UsersApi<MongoUserStore, P>> as tonic::server::NamedService>::NAME],
                ),
            )
            .await;
        let _ = stop.send(true);
        let _ = drainer.await;
        match metrics.await {
            Ok(Err(err)) => tracing::warn!(error = %err, "metrics endpoint failed"),
            Err(err) => tracing::warn!(error = %err, "metrics task failed"),
            Ok(Ok(())) => {}
        }
        tracing::info!("users service stopped");
        Ok(served?)
    }
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, StartupError> {
    TcpListener::bind(addr).await.map_err(|source| StartupError::Bind { what, addr, source })
}

/// Completes once `stopped` turns true or its sender is gone.
async fn wait_for(mut stopped: watch::Receiver<bool>) {
    while !*stopped.borrow_and_update() {
        if stopped.changed().await.is_err() {
            return;
        }
    }
}
