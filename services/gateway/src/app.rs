//! [`Application`]: the router over the kit's [`HttpServer`], bound at build (port 0 in tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use contract::token::JwtSecret;
use service_common::{HttpServer, ServerError, Service};

use crate::config::Config;
use crate::upstream::{UpstreamError, Upstreams};
use crate::{accounts, ratings, request_id};

/// How often readiness checks the upstreams' health.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An upstream address is unusable.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Binding, serving or the metrics endpoint failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// What every handler shares.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The gRPC clients.
    pub upstreams: Upstreams,
    /// The users service's token secret.
    pub jwt_secret: Arc<JwtSecret>,
}

/// The gateway, bound and not yet serving.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    router: Router,
}

/// The `/api/v1` routes.
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let api = Router::new()
        .route("/auth/register", post(accounts::register))
        .route("/auth/login", post(accounts::login))
        .route("/me", get(accounts::me).patch(accounts::update_me).delete(accounts::delete_me))
        .route("/me/preferences", get(accounts::preferences).put(accounts::put_preferences))
        .route("/me/ratings", get(ratings::mine))
        .route("/me/ratings/{movie_id}", put(ratings::put).delete(ratings::delete))
        .route("/movies/{movie_id}/ratings", get(ratings::of_movie));
    Router::new()
        .nest("/api/v1", api)
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(request_id::layer))
}

impl Application {
    /// Binds the ports of `config.service` and prepares the upstream channels (lazily
    /// connected: readiness reports whether they answer).
    pub async fn build(config: &Config) -> Result<Self, AppError> {
        let upstreams = Upstreams::new(&config.users_url, &config.ratings_url, config.upstream_deadline)?;
        let server = HttpServer::bind(Service::Gateway, &config.service)
            .await?
            .ready_when(READINESS_INTERVAL, Arc::new(upstreams.clone()));
        let state = AppState { upstreams, jwt_secret: Arc::new(config.jwt_secret.clone()) };
        Ok(Self { server, router: router(state, config.max_body_bytes) })
    }

    /// The bound API address.
    pub fn addr(&self) -> SocketAddr {
        self.server.api_addr()
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.metrics_addr()
    }

    /// Serves until `shutdown` completes, then drains requests in flight.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        Ok(self.server.serve(self.router, shutdown).await?)
    }
}
