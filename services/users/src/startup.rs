//! Building and running the server on the kit's [`GrpcServer`]: [`Application::build`] binds
//! the gRPC and metrics ports (port 0 in tests) and connects to MongoDB lazily (readiness follows
//! a MongoDB `ping`); [`Application::run_until`] serves the users service and runs the outbox
//! drainer until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use events::EventPublisher;
use events::relay::{RelaySchedule, RelayStats, run_relay};
use proto::users::v1::users_service_server::UsersServiceServer;
use service_common::{GrpcServer, ServerError, Service};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, OutboxRelay};
use crate::service::{TokenSettings, UsersApi};
use crate::store::{MongoUserStore, StoreError};

/// How often readiness pings MongoDB.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);

/// Why the server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// The MongoDB settings are unusable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Binding, serving or the metrics endpoint failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A bound, not yet running users service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    relay_stats: Arc<RelayStats>,
}

impl Application {
    /// Binds the listeners of `config.service` and sets up the store (lazily connected: MongoDB
    /// may be down now) and the outbox over `publisher`.
    pub async fn build<P: EventPublisher + 'static>(
        config: &Config,
        publisher: P,
    ) -> Result<Self, StartupError> {
        let mut server = GrpcServer::bind(Service::Users, &config.service).await?;
        let store = Arc::new(
            MongoUserStore::connect(&config.mongo_url, &config.mongo_database, config.mongo_timeout).await?,
        );
        let counters = Metrics::register(server.registry());
        let outbox = Arc::new(Outbox::new(store.clone(), publisher, config.backoff(), counters));
        let tokens = TokenSettings { secret: config.jwt_secret.clone(), ttl: config.token_ttl };
        let api = UsersApi::new(
            store.clone(),
            outbox.clone(),
            tokens,
            config.backoff(),
            config.publish_timeout,
            config.topics.clone(),
        );
        let schedule = RelaySchedule { poll: config.outbox_interval, backoff: config.backoff() };
        let relay_stats = Arc::new(RelayStats::default());
        let server = server
            .add_service(UsersServiceServer::new(api))
            .ready_when(READINESS_INTERVAL, Arc::clone(&store))
            .task("outbox drainer", {
                let stats = Arc::clone(&relay_stats);
                move |stop| run_relay("users", OutboxRelay(outbox), schedule, None, stats, stop.stopped())
            });
        Ok(Self { server, relay_stats })
    }

    /// The bound gRPC address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.metrics_addr()
    }

    /// The outbox drainer's counters (tests wait for a round before checking that nothing more
    /// was published).
    pub fn relay_stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.relay_stats)
    }

    /// Serves until `shutdown` completes, then lets in-flight requests finish and stops the
    /// outbox drainer and the metrics endpoint.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartupError> {
        Ok(self.server.serve(shutdown).await?)
    }
}
