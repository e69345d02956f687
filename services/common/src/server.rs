//! [`GrpcServer`]: the one way a cinerec gRPC service starts and stops.
//!
//! `bind` binds the gRPC and `/metrics` ports (port 0 in tests; the bound addresses are
//! returned) and registers the RPC metrics layer; the service then registers its own metrics,
//! adds its gRPC services and background tasks (outbox relays, event consumers, refreshers), and
//! says how readiness is decided. `serve` runs everything with health (`grpc.health.v1`),
//! reflection (`v1` and `v1alpha`), the metrics layer (which also turns a panicking handler into
//! INTERNAL) and `/metrics`, until the shutdown future completes. Then, in order: health reports
//! NOT_SERVING for the server and every service, the server stops accepting and drains the
//! requests in flight for at most the grace period, the background tasks are told to stop and
//! awaited (each for at most the grace period), and the metrics endpoint closes.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::service::RoutesBuilder;
use tonic::transport::server::TcpIncoming;
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::rpc_metrics::RpcMetrics;
use crate::settings::{Service, ServiceSettings};

/// How long in-flight requests and background tasks may take to finish after shutdown begins,
/// unless [`GrpcServer::grace`] says otherwise (Kubernetes waits 30 s before SIGKILL).
pub const DEFAULT_GRACE: Duration = Duration::from_secs(20);

/// Why a server could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// A listen address could not be bound.
    #[error("cannot listen ({what}) on {addr}: {source}")]
    Bind {
        /// `gRPC` or `metrics`.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The gRPC server failed.
    #[error("gRPC server: {0}")]
    Serve(#[source] tonic::transport::Error),
    /// The HTTP server failed.
    #[error("HTTP server: {0}")]
    Http(#[source] std::io::Error),
    /// The metrics endpoint failed.
    #[error("metrics endpoint: {0}")]
    Metrics(#[source] std::io::Error),
}

/// Tells a background task that the server is stopping.
#[derive(Clone, Debug)]
pub struct StopSignal(pub(crate) watch::Receiver<bool>);

impl StopSignal {
    /// A signal that fires when `receiver` sees `true` (for driving a task outside a server,
    /// e.g. in tests).
    pub fn from_watch(receiver: watch::Receiver<bool>) -> Self {
        Self(receiver)
    }

    /// Completes once the server stops (or is gone).
    pub async fn stopped(mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// What readiness asks: whether the service's store answers now (one quick round trip, no
/// retries). Each service's store implements it (Redis `PING`, MongoDB `ping`, `SELECT 1`).
pub trait ReadinessProbe: Send + Sync + 'static {
    /// `true` when the dependency answers.
    fn is_ready(&self) -> impl Future<Output = bool> + Send;
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
pub(crate) type Task = Box<dyn FnOnce(StopSignal) -> BoxFuture + Send>;

/// A task given to a server builder: its name and how to start it.
pub(crate) type NamedTask = (&'static str, Task);

/// Boxes a task closure for [`NamedTask`].
pub(crate) fn named_task<F, Fut>(name: &'static str, task: F) -> NamedTask
where
    F: FnOnce(StopSignal) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    (name, Box::new(move |stop| Box::pin(task(stop))))
}

/// Starts `tasks`, each with its own [`StopSignal`] from `stopped`.
pub(crate) fn start_tasks(
    tasks: Vec<NamedTask>,
    stopped: &watch::Receiver<bool>,
) -> Vec<(&'static str, tokio::task::JoinHandle<()>)> {
    tasks.into_iter().map(|(name, task)| (name, tokio::spawn(task(StopSignal(stopped.clone()))))).collect()
}

/// Waits for each started task to finish after the stop signal, at most `grace` each; a task
/// still running then is aborted (and logged).
pub(crate) async fn stop_tasks(
    service: &'static str,
    grace: Duration,
    tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)>,
) {
    for (name, task) in tasks {
        let abort = task.abort_handle();
        if tokio::time::timeout(grace, task).await.is_err() {
            tracing::warn!(service, task = name, "task did not stop within the grace period; aborted");
            abort.abort();
        }
    }
}
pub(crate) type Probe = Box<dyn Fn() -> Pin<Box<dyn Future<Output = bool> + Send>> + Send + Sync>;

/// How health's SERVING status is decided while the server runs.
enum Readiness {
    /// SERVING from the start.
    Always,
    /// SERVING while the probe answers `true`, checked at this interval.
    Probe(Duration, Probe),
    /// The service sets its status through [`GrpcServer::health_reporter`] (e.g. serving, ready
    /// once a model is loaded).
    Manual,
}

/// A bound, not yet running gRPC service; see the [module docs](self).
pub struct GrpcServer {
    service: Service,
    grpc: TcpListener,
    grpc_addr: SocketAddr,
    metrics: TcpListener,
    metrics_addr: SocketAddr,
    registry: Registry,
    rpc_metrics: RpcMetrics,
    health: HealthReporter,
    routes: RoutesBuilder,
    names: Vec<&'static str>,
    readiness: Readiness,
    tasks: Vec<NamedTask>,
    grace: Duration,
}

impl std::fmt::Debug for GrpcServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcServer")
            .field("service", &self.service)
            .field("grpc_addr", &self.grpc_addr)
            .field("metrics_addr", &self.metrics_addr)
            .field("services", &self.names)
            .field("tasks", &self.tasks.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .field("grace", &self.grace)
            .finish_non_exhaustive()
    }
}

impl GrpcServer {
    /// Binds `settings.listen` and `settings.metrics_listen` for `service`.
    pub async fn bind(service: Service, settings: &ServiceSettings) -> Result<Self, ServerError> {
        let (grpc, grpc_addr) = bind_listener("gRPC", settings.listen).await?;
        let (metrics, metrics_addr) = bind_listener("metrics", settings.metrics_listen).await?;
        let mut registry = Registry::default();
        let rpc_metrics = RpcMetrics::register(&mut registry, service.name());
        let (health, _) = tonic_health::server::health_reporter();
        Ok(Self {
            service,
            grpc,
            grpc_addr,
            metrics,
            metrics_addr,
            registry,
            rpc_metrics,
            health,
            routes: RoutesBuilder::default(),
            names: Vec::new(),
            readiness: Readiness::Always,
            tasks: Vec::new(),
            grace: DEFAULT_GRACE,
        })
    }

    /// The bound gRPC address (the real port when 0 was asked for).
    pub fn grpc_addr(&self) -> SocketAddr {
        self.grpc_addr
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.metrics_addr
    }

    /// The registry `/metrics` serves: register the service's own metrics here.
    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }

    /// The health reporter (for [`GrpcServer::manual_readiness`]).
    pub fn health_reporter(&self) -> HealthReporter {
        self.health.clone()
    }

    /// Adds a gRPC service; health reports it by its full name.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: tower::Service<http::Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.routes.add_service(service);
        self.names.push(S::NAME);
        self
    }

    /// Reports SERVING only while `probe` (e.g. the service's store) answers, checked now and
    /// every `interval`; NOT_SERVING otherwise.
    pub fn ready_when<P: ReadinessProbe>(mut self, interval: Duration, probe: Arc<P>) -> Self {
        self.readiness = Readiness::Probe(interval, boxed_probe(probe));
        self
    }

    /// The service sets its own health status through [`GrpcServer::health_reporter`]; the kit
    /// still reports NOT_SERVING when shutdown begins.
    pub fn manual_readiness(mut self) -> Self {
        self.readiness = Readiness::Manual;
        self
    }

    /// Runs `task` while the server runs; it must finish soon after its [`StopSignal`] fires.
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

    /// Serves until `shutdown` completes, then stops as the [module docs](self) describe.
    pub async fn serve(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let Self {
            service,
            grpc,
            grpc_addr,
            metrics,
            metrics_addr,
            registry,
            rpc_metrics,
            health,
            mut routes,
            names,
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
        let statuses = std::iter::once("").chain(names.iter().copied()).collect::<Vec<_>>();
        let prober = match readiness {
            Readiness::Always => {
                set_status(&health, &statuses, ServingStatus::Serving).await;
                None
            }
            Readiness::Manual => None,
            Readiness::Probe(interval, probe) => {
                let (health, statuses) = (health.clone(), statuses.clone());
                let on_change = move |ready: bool| {
                    let (health, statuses) = (health.clone(), statuses.clone());
                    async move {
                        let status = if ready { ServingStatus::Serving } else { ServingStatus::NotServing };
                        set_status(&health, &statuses, status).await;
                    }
                };
                Some(spawn_prober(service_name, interval, probe, Arc::clone(&draining), signal(), on_change))
            }
        };

        let (began, begun) = tokio::sync::oneshot::channel::<()>();
        let on_shutdown = {
            let (health, statuses, draining) = (health.clone(), statuses.clone(), Arc::clone(&draining));
            async move {
                shutdown.await;
                draining.store(true, Ordering::SeqCst);
                set_status(&health, &statuses, ServingStatus::NotServing).await;
                tracing::info!(
                    service = service_name,
                    grace_s = grace.as_secs_f64(),
                    "shutting down: health reports NOT_SERVING; draining requests in flight"
                );
                let _ = began.send(());
            }
        };
        routes
            .add_service(tonic_health::pb::health_server::HealthServer::new(
                tonic_health::server::HealthService::from_health_reporter(health),
            ))
            .add_service(crate::grpc::reflection(&names))
            .add_service(crate::grpc::reflection_v1alpha(&names));
        tracing::info!(service = service_name, grpc = %grpc_addr, metrics = %metrics_addr, "listening");
        let served = tonic::transport::Server::builder()
            .layer(rpc_metrics)
            .add_routes(routes.routes())
            .serve_with_incoming_shutdown(TcpIncoming::from(grpc).with_nodelay(Some(true)), on_shutdown);
        let served = drain_within(service_name, grace, served, begun).await.map_err(ServerError::Serve);

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

/// Awaits `served` (a server whose graceful shutdown begins when `begun` fires), giving the
/// requests in flight at most `grace` after that; past it the server and its connections are
/// dropped.
pub(crate) async fn drain_within<E>(
    service: &'static str,
    grace: Duration,
    served: impl Future<Output = Result<(), E>>,
    begun: tokio::sync::oneshot::Receiver<()>,
) -> Result<(), E> {
    let grace_over = async {
        match begun.await {
            Ok(()) => tokio::time::sleep(grace).await,
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        served = served => served,
        () = grace_over => {
            tracing::warn!(service, grace_s = grace.as_secs_f64(), "grace period over: closing connections with requests still in flight");
            Ok(())
        }
    }
}

/// The outcome of the metrics endpoint's task, once it stopped.
pub(crate) async fn metrics_stopped(
    task: tokio::task::JoinHandle<std::io::Result<()>>,
) -> Result<(), ServerError> {
    match task.await {
        Ok(res) => res.map_err(ServerError::Metrics),
        Err(join) => Err(ServerError::Metrics(std::io::Error::other(join))),
    }
}

/// Asks `probe` now and every `interval` until `stop` (or once `draining` is set), calling
/// `on_change` whenever the answer changes (the first answer included).
pub(crate) fn spawn_prober<F, Fut>(
    service: &'static str,
    interval: Duration,
    probe: Probe,
    draining: Arc<AtomicBool>,
    stop: StopSignal,
    on_change: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(bool) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut stop = std::pin::pin!(stop.stopped());
        let mut last = None;
        loop {
            let ready = probe().await;
            if draining.load(Ordering::SeqCst) {
                return;
            }
            if last != Some(ready) {
                on_change(ready).await;
                tracing::info!(service, ready, "readiness changed");
                last = Some(ready);
            }
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = &mut stop => return,
            }
        }
    })
}

/// Binds `addr` and returns the listener with its bound address (`what` names it in errors).
pub(crate) async fn bind_listener(
    what: &'static str,
    addr: SocketAddr,
) -> Result<(TcpListener, SocketAddr), ServerError> {
    let listener =
        TcpListener::bind(addr).await.map_err(|source| ServerError::Bind { what, addr, source })?;
    let bound = listener.local_addr().map_err(|source| ServerError::Bind { what, addr, source })?;
    Ok((listener, bound))
}

/// Boxes a [`ReadinessProbe`] into the form the probe loop calls.
pub(crate) fn boxed_probe<P: ReadinessProbe>(probe: Arc<P>) -> Probe {
    Box::new(move || {
        let probe = Arc::clone(&probe);
        Box::pin(async move { probe.is_ready().await })
    })
}

async fn set_status(health: &HealthReporter, names: &[&str], status: ServingStatus) {
    for name in names {
        health.set_service_status(*name, status).await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_check_response::ServingStatus as Wire;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;

    fn loopback() -> ServiceSettings {
        ServiceSettings::loopback()
    }

    /// Ready while its flag is set; counts the questions.
    #[derive(Default)]
    struct Flag {
        ready: AtomicBool,
        asked: AtomicUsize,
    }

    impl ReadinessProbe for Flag {
        async fn is_ready(&self) -> bool {
            self.asked.fetch_add(1, Ordering::SeqCst);
            self.ready.load(Ordering::SeqCst)
        }
    }

    async fn status(client: &mut HealthClient<tonic::transport::Channel>) -> i32 {
        let request = HealthCheckRequest { service: String::new() };
        client.check(request).await.unwrap().into_inner().status
    }

    /// Readiness follows the probe both ways; shutdown turns it NOT_SERVING at once (seen by a
    /// health `Watch` stream, a request that never ends by itself), the grace period bounds the
    /// drain of that stream, the tasks stop and both ports close.
    #[tokio::test]
    async fn readiness_follows_the_probe_and_shutdown_stops_everything() {
        let flag = Arc::new(Flag::default());
        let task_stopped = Arc::new(AtomicBool::new(false));
        let server = GrpcServer::bind(Service::Users, &loopback()).await.unwrap();
        let (addr, metrics_addr) = (server.grpc_addr(), server.metrics_addr());
        let server = server
            .ready_when(Duration::from_millis(20), Arc::clone(&flag))
            .task("marker", {
                let task_stopped = Arc::clone(&task_stopped);
                move |stop| async move {
                    stop.stopped().await;
                    task_stopped.store(true, Ordering::SeqCst);
                }
            })
            .grace(Duration::from_millis(300));
        let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(server.serve(async {
            let _ = triggered.await;
        }));
        let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = HealthClient::new(channel);
        let wait_for = async |client: &mut HealthClient<_>, want: Wire| {
            for _ in 0..500 {
                if status(client).await == want as i32 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            panic!("health never became {want:?}");
        };
        wait_for(&mut client, Wire::NotServing).await;
        assert!(flag.asked.load(Ordering::SeqCst) >= 1, "the probe ran");
        flag.ready.store(true, Ordering::SeqCst);
        wait_for(&mut client, Wire::Serving).await;
        flag.ready.store(false, Ordering::SeqCst);
        wait_for(&mut client, Wire::NotServing).await;
        flag.ready.store(true, Ordering::SeqCst);
        wait_for(&mut client, Wire::Serving).await;
        let scraped = crate::testing::scrape_metrics(metrics_addr).await;
        assert!(
            scraped.contains("cinerec_rpc_requests_total{service=\"users\",method=\"Check\",code=\"OK\"}"),
            "{scraped}"
        );

        let mut watch =
            client.watch(HealthCheckRequest { service: String::new() }).await.unwrap().into_inner();
        assert_eq!(watch.message().await.unwrap().unwrap().status, Wire::Serving as i32);

        trigger.send(()).unwrap();
        assert_eq!(watch.message().await.unwrap().unwrap().status, Wire::NotServing as i32);
        running.await.unwrap().unwrap();
        assert!(task_stopped.load(Ordering::SeqCst), "the task saw the stop signal");
        assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "gRPC port closed");
        assert!(tokio::net::TcpStream::connect(metrics_addr).await.is_err(), "metrics port closed");
    }
}
