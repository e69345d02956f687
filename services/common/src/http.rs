//! [`HttpServer`]: the kit's REST counterpart of [`crate::GrpcServer`], for the gateway and
//! analytics. `bind` binds the API and `/metrics` ports; `serve(router, shutdown)` adds
//! `/health/live` (200 while the process serves) and `/health/ready` (200 only while the
//! readiness probe answers and no shutdown has begun; 503 otherwise), records
//! `cinerec_http_requests_total{service,route,status}` and
//! `cinerec_http_request_duration_seconds{service,route}` for every request (the route is the
//! matched path template, so ids never become labels), and at shutdown turns readiness off,
//! stops accepting and drains requests in flight within the grace period, then stops its
//! background tasks. Handlers can read the peer's address (`ConnectInfo<SocketAddr>`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::server::{
    DEFAULT_GRACE, NamedTask, Probe, ReadinessProbe, ServerError, StopSignal, boxed_probe, drain_within,
    metrics_stopped, named_task, spawn_prober, start_tasks, stop_tasks,
};
use crate::settings::{Service, ServiceSettings};

/// Labels of `cinerec_http_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteStatus {
    service: &'static str,
    route: String,
    status: u16,
}

/// Labels of `cinerec_http_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    service: &'static str,
    route: String,
}

type DurationFamily = Family<RouteLabels, Histogram, fn() -> Histogram>;

/// The HTTP metrics of one service; clones share the counters.
#[derive(Clone, Debug)]
struct HttpMetrics {
    service: &'static str,
    requests: Family<RouteStatus, Counter>,
    duration: DurationFamily,
}

impl HttpMetrics {
    fn register(registry: &mut Registry, service: &'static str) -> Self {
        let requests = Family::<RouteStatus, Counter>::default();
        let duration: DurationFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_05, 2.0, 17)));
        registry.register(
            "cinerec_http_requests",
            "HTTP requests by service, route and status",
            requests.clone(),
        );
        registry.register_with_unit(
            "cinerec_http_request_duration",
            "HTTP request latency to the response headers",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        Self { service, requests, duration }
    }
}

/// Records one request (the route template, or `unmatched` for paths no route serves).
async fn record(State(metrics): State<HttpMetrics>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    metrics
        .requests
        .get_or_create(&RouteStatus { service: metrics.service, route: route.clone(), status })
        .inc();
    metrics
        .duration
        .get_or_create(&RouteLabels { service: metrics.service, route })
        .observe(started.elapsed().as_secs_f64());
    response
}

/// A bound, not yet running HTTP service; see the [module docs](self).
pub struct HttpServer {
    service: Service,
    api: TcpListener,
    api_addr: SocketAddr,
    metrics: TcpListener,
    metrics_addr: SocketAddr,
    registry: Registry,
    http_metrics: HttpMetrics,
    readiness: Option<(Duration, Probe)>,
    tasks: Vec<NamedTask>,
    grace: Duration,
}

impl std::fmt::Debug for HttpServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpServer")
            .field("service", &self.service)
            .field("api_addr", &self.api_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl HttpServer {
    /// Binds `settings.listen` and `settings.metrics_listen` for `service`.
    pub async fn bind(service: Service, settings: &ServiceSettings) -> Result<Self, ServerError> {
        let (api, api_addr) = crate::server::bind_listener("HTTP", settings.listen).await?;
        let (metrics, metrics_addr) =
            crate::server::bind_listener("metrics", settings.metrics_listen).await?;
        let mut registry = Registry::default();
        let http_metrics = HttpMetrics::register(&mut registry, service.name());
        Ok(Self {
            service,
            api,
            api_addr,
            metrics,
            metrics_addr,
            registry,
            http_metrics,
            readiness: None,
            tasks: Vec::new(),
            grace: DEFAULT_GRACE,
        })
    }

    /// The bound API address (the real port when 0 was asked for).
    pub fn api_addr(&self) -> SocketAddr {
        self.api_addr
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The registry `/metrics` serves: register the service's own metrics here.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// `/health/ready` answers 200 only while `probe` (e.g. the upstreams' health) answers,
    /// checked now and every `interval`. Without a probe the service is ready while it runs.
    pub fn ready_when<P: ReadinessProbe>(mut self, interval: Duration, probe: Arc<P>) -> Self {
        self.readiness = Some((interval, boxed_probe(probe)));
        self
    }

    /// Runs `task` while the server runs; it must finish soon after its [`StopSignal`] fires
    /// (after the requests in flight drained).
    pub fn task<F, Fut>(mut self, name: &'static str, task: F) -> Self
    where
        F: FnOnce(StopSignal) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.tasks.push(named_task(name, task));
        self
    }

    /// How long requests in flight and background tasks may take after shutdown begins.
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Serves `app` (with the health routes and the metrics layer) until `shutdown` completes.
    pub async fn serve(
        self,
        app: Router,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let Self {
            service,
            api,
            api_addr,
            metrics,
            metrics_addr,
            registry,
            http_metrics,
            readiness,
            tasks,
            grace,
        } = self;
        let service_name = service.name();
        let (stop, stopped) = watch::channel(false);
        let signal = || StopSignal(stopped.clone());
        let metrics_server =
            tokio::spawn(crate::metrics::serve_metrics(metrics, Arc::new(registry), signal().stopped()));
        let tasks = start_tasks(tasks, &stopped);
        let draining = Arc::new(AtomicBool::new(false));
        let ready = Arc::new(AtomicBool::new(readiness.is_none()));
        let prober = readiness.map(|(interval, probe)| {
            let ready = Arc::clone(&ready);
            let on_change = move |now: bool| {
                ready.store(now, Ordering::SeqCst);
                std::future::ready(())
            };
            spawn_prober(service_name, interval, probe, Arc::clone(&draining), signal(), on_change)
        });
        let is_ready = {
            let (ready, draining) = (Arc::clone(&ready), Arc::clone(&draining));
            move || async move {
                if ready.load(Ordering::SeqCst) && !draining.load(Ordering::SeqCst) {
                    (StatusCode::OK, "ready")
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "not ready")
                }
            }
        };
        let app = app
            .route("/health/live", get(|| async { "live" }))
            .route("/health/ready", get(is_ready))
            .layer(axum::middleware::from_fn_with_state(http_metrics, record));

        let (began, begun) = tokio::sync::oneshot::channel::<()>();
        let on_shutdown = {
            let draining = Arc::clone(&draining);
            async move {
                shutdown.await;
                draining.store(true, Ordering::SeqCst);
                tracing::info!(
                    service = service_name,
                    grace_s = grace.as_secs_f64(),
                    "shutting down: not ready; draining requests in flight"
                );
                let _ = began.send(());
            }
        };
        tracing::info!(service = service_name, http = %api_addr, metrics = %metrics_addr, "listening");
        let app = app.into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(api, app).with_graceful_shutdown(on_shutdown).into_future();
        let served = drain_within(service_name, grace, served, begun).await.map_err(ServerError::Http);
        let _ = stop.send(true);
        if let Some(prober) = prober {
            let _ = prober.await;
        }
        stop_tasks(service_name, grace, tasks).await;
        let metrics_res = metrics_stopped(metrics_server).await;
        tracing::info!(service = service_name, "stopped");
        served?;
        metrics_res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::http_get;

    struct Flag(AtomicBool);

    impl ReadinessProbe for Flag {
        async fn is_ready(&self) -> bool {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// Readiness follows the probe; routes are counted by template; shutdown closes the ports.
    #[tokio::test]
    async fn health_follows_the_probe_and_requests_are_counted_by_route() {
        let settings = ServiceSettings::loopback();
        let flag = Arc::new(Flag(AtomicBool::new(false)));
        let server = HttpServer::bind(Service::Gateway, &settings).await.unwrap();
        let (addr, metrics_addr) = (server.api_addr(), server.metrics_addr());
        let server = server.ready_when(Duration::from_millis(10), Arc::clone(&flag));
        let app = Router::new().route("/items/{id}", get(|| async { "item" }));
        let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.serve(app, async {
            let _ = triggered.await;
        }));
        let wait_for = async |want: &str| {
            for _ in 0..500 {
                if http_get(addr, "/health/ready").await.starts_with(want) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("readiness never answered {want}");
        };
        wait_for("HTTP/1.1 503").await;
        flag.0.store(true, Ordering::SeqCst);
        wait_for("HTTP/1.1 200").await;
        assert!(http_get(addr, "/health/live").await.starts_with("HTTP/1.1 200"));
        for id in [1, 2] {
            assert!(http_get(addr, &format!("/items/{id}")).await.ends_with("item"));
        }
        assert!(http_get(addr, "/nowhere").await.starts_with("HTTP/1.1 404"));
        let page = crate::testing::scrape_metrics(metrics_addr).await;
        crate::testing::assert_lines(
            &page,
            &[
                r#"cinerec_http_requests_total{service="gateway",route="/items/{id}",status="200"} 2"#,
                r#"cinerec_http_requests_total{service="gateway",route="unmatched",status="404"} 1"#,
            ],
        );
        trigger.send(()).unwrap();
        running.await.unwrap().unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "API port closed");
    }
}
