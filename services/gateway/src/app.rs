//! [`Application`]: the router over the kit's [`HttpServer`], bound at build (port 0 in tests).
//! Every `/api/v1` request passes, outermost first: request id, CORS, authentication, rate
//! limit, then its handler; the web app's pages (`/`) the same with the session cookie in place of
//! the headers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, Method, header};
use contract::token::JwtSecret;
use service_common::{HttpServer, ServerError, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{ApiKeyConfigError, ApiKeys};
use crate::config::Config;
use crate::impressions::{EventQueue, Impressions, QueueMetrics, RequestLogs};
use crate::movies::{GenreIndex, SummaryCache};
use crate::rate_limit::{Limits, RateLimiter, RedisLimiter, RedisLimiterError};
use crate::upstream::{UpstreamError, Upstreams};
use crate::{accounts, auth, movies, openapi, rate_limit, ratings, recommendations, request_id};

/// How often readiness checks the upstreams' health.
const READINESS_INTERVAL: Duration = Duration::from_secs(2);
/// Key prefix of the shared rate limiter in Redis.
const RATE_LIMIT_PREFIX: &str = "cinerec:ratelimit:";
/// How long startup waits for the shared rate limiter's first connection.
const RATE_LIMIT_CONNECT_WAIT: Duration = Duration::from_secs(2);

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// An upstream address is unusable.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// Binding, serving or the metrics endpoint failed.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// The API key configuration is wrong.
    #[error(transparent)]
    ApiKeys(#[from] ApiKeyConfigError),
    /// The API keys file cannot be read.
    #[error("reading the API keys file {path}: {source}")]
    ApiKeysFile {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The shared rate limiter's Redis URL is wrong.
    #[error(transparent)]
    RateLimitRedis(#[from] RedisLimiterError),
    /// A CORS origin is not a valid header value.
    #[error("CORS origin {0:?} is not a valid origin")]
    CorsOrigin(String),
    /// The Kafka client for impressions cannot be made.
    #[error(transparent)]
    Events(#[from] events::EventError),
}

/// What every handler shares, behind one `Arc`: axum clones the state for every extractor and
/// middleware of every request, so a clone must be one reference count.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Shared>);

/// The contents of [`AppState`].
#[derive(Debug)]
pub struct Shared {
    /// The gRPC clients.
    pub upstreams: Upstreams,
    /// The users service's token secret.
    pub jwt_secret: JwtSecret,
    /// API keys of machine clients.
    pub api_keys: ApiKeys,
    /// The rate limiter.
    pub rate_limiter: RateLimiter,
    /// Where served lists go.
    pub impressions: Impressions,
    /// Request logs (`RequestLogged` events).
    pub request_logs: RequestLogs,
    /// Client activity (`ActivityRecorded` events).
    pub activity: crate::activity::ActivityQueue,
    /// Movie ids by genre.
    pub genres: GenreIndex,
    /// Titles, years and genres for lists.
    pub summaries: SummaryCache,
    /// When the web session cookie is `Secure`.
    pub secure_cookies: crate::web::SecureCookies,
    /// The OpenAPI document, as JSON text.
    pub openapi: axum::body::Bytes,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// The gateway, bound and not yet serving.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    router: Router,
}

/// The `/api/v1` routes (paths relative to `/api/v1`) and their OpenAPI document.
pub fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(accounts::register))
        .routes(routes!(accounts::login))
        .routes(routes!(accounts::me, accounts::update_me, accounts::delete_me))
        .routes(routes!(accounts::preferences, accounts::put_preferences))
        .routes(routes!(ratings::mine))
        .routes(routes!(ratings::put, ratings::delete))
        .routes(routes!(ratings::of_user))
        .routes(routes!(ratings::put_user, ratings::delete_user))
        .routes(routes!(ratings::of_movie))
        .routes(routes!(movies::list, movies::create))
        .routes(routes!(movies::get, movies::create_at, movies::update, movies::delete))
        .routes(routes!(movies::put_poster))
        .routes(routes!(movies::put_trailer))
        .routes(routes!(recommendations::mine))
        .routes(routes!(recommendations::why))
        .routes(routes!(recommendations::session))
        .routes(routes!(recommendations::popular))
        .routes(routes!(recommendations::similar))
        .routes(routes!(crate::activity::record))
        .routes(routes!(openapi::document))
        .routes(routes!(openapi::docs))
        .split_for_parts()
}

fn cors(origins: &[String]) -> Result<Option<CorsLayer>, AppError> {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .map(|o| o.trim())
        .filter(|o| !o.is_empty())
        .map(|o| HeaderValue::from_str(o).map_err(|_| AppError::CorsOrigin(o.to_owned())))
        .collect::<Result<_, _>>()?;
    if origins.is_empty() {
        return Ok(None);
    }
    let header = |name: &'static str| HeaderName::from_static(name);
    Ok(Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([Method::GET, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header(auth::API_KEY_HEADER),
                header(request_id::HEADER),
            ])
            .expose_headers([
                header(request_id::HEADER),
                header::RETRY_AFTER,
                header("ratelimit"),
                header("ratelimit-policy"),
            ])
            .max_age(Duration::from_secs(600)),
    ))
}

/// The whole router: `/api/v1` with its layers.
pub fn router(mut shared: Shared, config: &Config) -> Result<Router, AppError> {
    let (api, mut document) = api_routes();
    openapi::complete(&mut document);
    shared.openapi = serde_json::to_vec(&document).unwrap_or_default().into();
    let request_logs = shared.request_logs.clone();
    let state = AppState(Arc::new(shared));
    let api = api
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .with_state(state.clone());
    let web = crate::web::routes()
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit_pages))
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::web::session))
        .merge(crate::web::asset_routes())
        .with_state(state);
    let mut app =
        Router::new().nest("/api/v1", api).merge(web).layer(DefaultBodyLimit::max(config.max_body_bytes));
    if let Some(cors) = cors(&config.cors_origins)? {
        app = app.layer(cors);
    }
    Ok(app
        .layer(axum::middleware::from_fn_with_state(request_logs, crate::impressions::log_request))
        .layer(axum::middleware::from_fn(request_id::layer)))
}

impl Application {
    /// Binds the ports of `config.service` and prepares the upstream channels (lazily
    /// connected: readiness reports whether they answer), the rate limiter and the impression
    /// publisher.
    pub async fn build(config: &Config) -> Result<Self, AppError> {
        let mut api_keys = config.api_keys.clone();
        if let Some(path) = &config.api_keys_file {
            let text = fs_err::read_to_string(path)
                .map_err(|source| AppError::ApiKeysFile { path: path.clone(), source })?;
            api_keys.extend(ApiKeys::parse(&text)?)?;
        }
        let upstreams = Upstreams::new(&config.upstream_urls(), config.upstream_deadline)?;
        let mut server = HttpServer::bind(Service::Gateway, &config.service)
            .await?
            .ready_when(READINESS_INTERVAL, Arc::new(upstreams.clone()));
        let shared = match config.rate_limit_redis.is_empty() {
            true => None,
            false => Some(
                RedisLimiter::connect(
                    config.rate_limit_redis.expose(),
                    RATE_LIMIT_PREFIX,
                    config.rate_limit_redis_timeout,
                    RATE_LIMIT_CONNECT_WAIT,
                )
                .await?,
            ),
        };
        let limits = Limits {
            anonymous: config.rate_limit_anonymous,
            user: config.rate_limit_user,
            key: config.rate_limit_key,
        };
        let rate_limiter =
            RateLimiter::new(limits, config.trusted_proxies.clone(), shared, server.registry());
        let impression_metrics =
            QueueMetrics::register(server.registry(), "impressions", "RecommendationServed");
        let request_log_metrics = QueueMetrics::register(server.registry(), "request_logs", "RequestLogged");
        let activity_metrics = QueueMetrics::register(server.registry(), "activity", "ActivityRecorded");
        let (impressions, request_logs, activity) = if config.kafka_brokers.is_empty() {
            tracing::info!("no Kafka brokers: impressions, request logs and activity are not published");
            (
                EventQueue::off(impression_metrics),
                EventQueue::off(request_log_metrics),
                EventQueue::off(activity_metrics),
            )
        } else {
            // Many small events that may wait: 20 ms batches cost the broker far less.
            let publisher = Arc::new(events::kafka::KafkaPublisher::batching(
                &config.kafka_brokers,
                events::kafka::DEFAULT_DELIVERY_TIMEOUT,
                Duration::from_millis(20),
            )?);
            let (impressions, task) = EventQueue::start(
                Arc::clone(&publisher),
                config.topics.recommendations_served.clone(),
                impression_metrics,
            );
            server = server.task("impressions", task);
            let (request_logs, task) = EventQueue::start(
                Arc::clone(&publisher),
                config.topics.request_logs.clone(),
                request_log_metrics,
            );
            server = server.task("request-logs", task);
            let (activity, task) =
                EventQueue::start(publisher, config.topics.activity.clone(), activity_metrics);
            server = server.task("activity", task);
            (impressions, request_logs, activity)
        };
        tracing::info!(
            api_keys = api_keys.len(),
            shared_rate_limit = !config.rate_limit_redis.is_empty(),
            "gateway configured"
        );
        let state = Shared {
            upstreams,
            jwt_secret: config.jwt_secret.clone(),
            api_keys,
            rate_limiter,
            impressions,
            request_logs,
            activity,
            genres: GenreIndex::default(),
            summaries: SummaryCache::default(),
            secure_cookies: config.secure_cookies,
            openapi: axum::body::Bytes::new(),
        };
        Ok(Self { server, router: router(state, config)? })
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
