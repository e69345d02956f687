//! Wiring on the kit's [`GrpcServer`]: [`Application::build`] connects PostgreSQL (migrating it),
//! S3 and Kafka and binds the gRPC and metrics listeners, returning before serving so callers
//! (tests) know the bound addresses; [`Application::run_until`] serves the movies API (readiness
//! follows a PostgreSQL `SELECT 1`), runs the outbox relay, and stops gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use events::EventPublisher;
use events::kafka::KafkaPublisher;
use events::relay::{RelayStats, run_relay};
use proto::movies::v1::movies_service_server::MoviesServiceServer;
use service_common::{GrpcServer, ServerError, Service, ServiceSettings};
use tokio::sync::Notify;

use crate::api::MoviesApi;
use crate::config::ServeArgs;
use crate::domain::MAX_TRAILER_BYTES;
use crate::media::{MediaError, MediaStore, S3Media};
use crate::outbox::{MoviesOutbox, RelayMetrics, RelaySettings};
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
    /// Binding, serving or the metrics endpoint failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// How often readiness pings PostgreSQL.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);

/// Listen addresses and relay settings for [`Application::from_parts`].
#[derive(Clone, Debug)]
pub struct AppOptions {
    /// gRPC and `/metrics` listen addresses (port 0 picks a free one).
    pub service: ServiceSettings,
    /// Outbox relay settings (topic, poll interval).
    pub relay: RelaySettings,
}

/// A built, not yet running movies service.
#[derive(Debug)]
pub struct Application {
    server: GrpcServer,
    relay_stats: Arc<RelayStats>,
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
        let relay = RelaySettings { topic: args.topics.movies.clone(), ..RelaySettings::default() };
        let options = AppOptions { service: args.service.clone(), relay };
        Self::from_parts(options, store, media, publisher).await
    }

    /// Any store, media store and publisher (tests use fakes or fresh databases and buckets).
    pub async fn from_parts<S: MovieStore, M: MediaStore, P: EventPublisher + 'static>(
        options: AppOptions,
        store: S,
        media: M,
        publisher: P,
    ) -> Result<Self, AppError> {
        let mut server = GrpcServer::bind(Service::Movies, &options.service).await?;
        let registry = server.registry().sub_registry_with_prefix("movies");
        let relay_metrics = RelayMetrics::default();
        let relay_stats = Arc::new(RelayStats::default());
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
        let api = MoviesServiceServer::new(MoviesApi::new(store.clone(), Arc::new(media), wake.clone()))
            .max_decoding_message_size(MAX_REQUEST_BYTES)
            .max_encoding_message_size(MAX_REQUEST_BYTES);
        let server = server.add_service(api).ready_when(READINESS_INTERVAL, Arc::clone(&store)).task(
            "outbox relay",
            {
                let stats = Arc::clone(&relay_stats);
                move |stop| {
                    let schedule = options.relay.schedule();
                    let outbox = MoviesOutbox::new(store, publisher, options.relay.topic, relay_metrics);
                    run_relay("movies", outbox, schedule, Some(wake), stats, stop.stopped())
                }
            },
        );
        Ok(Self { server, relay_stats })
    }

    /// The bound gRPC address.
    pub fn addr(&self) -> SocketAddr {
        self.server.grpc_addr()
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.metrics_addr()
    }

    /// The outbox relay's counters (tests wait for a round before checking that nothing was
    /// published).
    pub fn relay_stats(&self) -> Arc<RelayStats> {
        Arc::clone(&self.relay_stats)
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and stops the relay.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        Ok(self.server.serve(shutdown).await?)
    }
}
