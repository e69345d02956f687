//! One tower layer that measures every RPC of a gRPC server, for every service alike:
//! `cinerec_rpc_requests_total{service,method,code}` and
//! `cinerec_rpc_duration_seconds{service,method}` (time to the response headers, which for a
//! unary call is the handler's whole work). Handlers need no code of their own. The same layer
//! catches a panicking handler: the caller gets INTERNAL ("internal error", no detail), the panic
//! is logged once at ERROR with the method, and the process and the connection live on.
//!
//! The code is read from the response: tonic sends a failed unary call as a trailers-only
//! response whose headers carry `grpc-status`, and a successful one with `grpc-status: 0` in the
//! trailers, so a response without the header is `OK`. Label cardinality stays bounded: the
//! method is the last segment of the request path, and a path the server does not serve (answered
//! `UNIMPLEMENTED`) is counted as method `unknown`, so clients cannot mint labels.
//!
//! Each call runs inside an `rpc` span with its path (`url.path`) and the caller's
//! `x-request-id` metadata as field `request_id` (the gateway's field name), so every log line of
//! the handler names the request it serves, across services; the answered call is logged once
//! (target `access`) with `rpc.code` and `event.duration` (nanoseconds).

use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_util::FutureExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing::Instrument;

/// Labels of `cinerec_rpc_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RpcLabels {
    /// The service (`serving`, `users`, `movies`, `ratings`).
    pub service: &'static str,
    /// The RPC (`Recommend`, `Register`, ...), or `unknown`.
    pub method: String,
    /// The gRPC status code name (`OK`, `INVALID_ARGUMENT`, ...).
    pub code: &'static str,
}

/// Labels of `cinerec_rpc_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The service.
    pub service: &'static str,
    /// The RPC, or `unknown`.
    pub method: String,
}

/// Latency histograms by method: 50 µs .. ~3.3 s.
type DurationFamily = Family<MethodLabels, Histogram, fn() -> Histogram>;

/// The RPC metrics of one service: a [`tower::Layer`] for `tonic::transport::Server::layer`.
/// Clones share the counters.
#[derive(Clone, Debug)]
pub struct RpcMetrics {
    service: &'static str,
    requests: Family<RpcLabels, Counter>,
    duration: DurationFamily,
}

impl RpcMetrics {
    /// Registers the two metric families in `registry` (un-prefixed: their names start with
    /// `cinerec_rpc_`) for `service`.
    pub fn register(registry: &mut Registry, service: &'static str) -> Self {
        let requests = Family::<RpcLabels, Counter>::default();
        let duration: DurationFamily =
            Family::new_with_constructor(|| Histogram::new(exponential_buckets(0.000_05, 2.0, 17)));
        registry.register(
            "cinerec_rpc_requests",
            "gRPC requests by service, method and status code",
            requests.clone(),
        );
        registry.register_with_unit(
            "cinerec_rpc_duration",
            "gRPC request latency to the response headers",
            prometheus_client::registry::Unit::Seconds,
            duration.clone(),
        );
        Self { service, requests, duration }
    }

    fn record(&self, path: &str, code: i32, seconds: f64) {
        let method = match code {
            12 => "unknown".to_owned(),
            _ => path.rsplit('/').next().unwrap_or_default().to_owned(),
        };
        let code = code_name(code);
        self.requests.get_or_create(&RpcLabels { service: self.service, method: method.clone(), code }).inc();
        self.duration.get_or_create(&MethodLabels { service: self.service, method }).observe(seconds);
    }
}

/// A trailers-only INTERNAL response, as tonic sends a failed call.
fn internal_error<B: Default>() -> http::Response<B> {
    let mut res = http::Response::new(B::default());
    let headers = res.headers_mut();
    headers.insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/grpc"));
    headers.insert("grpc-status", http::HeaderValue::from_static("13"));
    headers.insert("grpc-message", http::HeaderValue::from_static("internal%20error"));
    res
}

/// The canonical name of a gRPC status code.
pub fn code_name(code: i32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    usize::try_from(code).ok().and_then(|i| NAMES.get(i)).copied().unwrap_or("UNKNOWN")
}

impl<S> tower::Layer<S> for RpcMetrics {
    type Service = RpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RpcMetricsService { inner, metrics: self.clone() }
    }
}

/// The metadata key of the request id the gateway sends (and its log field, minus the dash).
pub const REQUEST_ID: &str = "x-request-id";

/// The service [`RpcMetrics`] wraps around a server's routes.
#[derive(Clone, Debug)]
pub struct RpcMetricsService<S> {
    inner: S,
    metrics: RpcMetrics,
}

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for RpcMetricsService<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let started = Instant::now();
        let path = request.uri().path().to_owned();
        let metrics = self.metrics.clone();
        let span = tracing::info_span!("rpc", url.path = %path, request_id = tracing::field::Empty);
        if let Some(id) = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
            span.record("request_id", id);
        }
        let response = span.in_scope(|| self.inner.call(request)).instrument(span.clone());
        let answered = async move {
            let res = match AssertUnwindSafe(response).catch_unwind().await {
                Ok(res) => res,
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    tracing::error!(service = metrics.service, path = %path, panic = %what, "an RPC handler panicked; answered INTERNAL");
                    Ok(internal_error())
                }
            };
            let code = match &res {
                Ok(response) => response
                    .headers()
                    .get("grpc-status")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                Err(_) => 2,
            };
            let elapsed = started.elapsed();
            metrics.record(&path, code, elapsed.as_secs_f64());
            log_answered(&path, code, elapsed);
            res
        };
        Box::pin(answered.instrument(span))
    }
}

/// The access line of one call (target `access`: `RUST_LOG=info,access=off` silences it):
/// INFO, or WARN for the codes that mean the server failed. Health checks (the probes, every
/// few seconds) are counted in the metrics but not logged.
fn log_answered(path: &str, code: i32, elapsed: std::time::Duration) {
    if path.starts_with("/grpc.health.v1.Health/") {
        return;
    }
    let duration_ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
    let status = code_name(code);
    if matches!(status, "UNKNOWN" | "INTERNAL" | "UNAVAILABLE" | "DATA_LOSS") {
        tracing::event!(target: "access", tracing::Level::WARN, rpc.code = status, event.duration = duration_ns, "rpc failed");
    } else {
        tracing::event!(target: "access", tracing::Level::INFO, rpc.code = status, event.duration = duration_ns, "rpc answered");
    }
}

#[cfg(test)]
mod tests {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    use super::*;
    use crate::test_support::Captured;

    #[tokio::test]
    async fn a_handlers_logs_carry_the_callers_request_id() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().json().with_writer(move || writer.clone()).finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let handler = tower::service_fn(|_: http::Request<()>| async {
            tracing::info!("handling");
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        });
        let mut service = RpcMetricsService {
            inner: handler,
            metrics: RpcMetrics::register(&mut Registry::default(), "demo"),
        };
        let request =
            http::Request::builder().uri("/demo.v1.Demo/Get").header(REQUEST_ID, "req-42").body(()).unwrap();
        tower::Service::call(&mut service, request).await.unwrap();
        let logs = captured.text();
        let line = logs.lines().find(|l| l.contains("handling")).expect("the handler logged");
        assert!(line.contains(r#""request_id":"req-42""#), "{line}");
    }

    /// A real server with the layer: a served call, a refused call and a path nobody serves are
    /// counted with their codes, under the names every service shares.
    #[tokio::test]
    async fn every_call_is_counted_with_its_code() {
        let mut registry = Registry::default();
        let metrics = RpcMetrics::register(&mut registry, "demo");
        let (reporter, health) = tonic_health::server::health_reporter();
        reporter.set_service_status("up", tonic_health::ServingStatus::Serving).await;
        let (channel, server) = crate::test_support::loopback(|incoming| {
            tonic::transport::Server::builder()
                .layer(metrics)
                .add_service(health)
                .serve_with_incoming(incoming)
        })
        .await;
        let mut client = HealthClient::new(channel.clone());
        client.check(HealthCheckRequest { service: "up".into() }).await.unwrap();
        client.check(HealthCheckRequest { service: "up".into() }).await.unwrap();
        let err = client.check(HealthCheckRequest { service: "nope".into() }).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
        // A service this server does not have.
        let mut other =
            tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient::new(channel);
        let request =
            tonic_reflection::pb::v1::ServerReflectionRequest { host: String::new(), message_request: None };
        assert!(other.server_reflection_info(tokio_stream::iter([request])).await.is_err());

        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"cinerec_rpc_requests_total{service="demo",method="Check",code="OK"} 2"#,
            r#"cinerec_rpc_requests_total{service="demo",method="Check",code="NOT_FOUND"} 1"#,
            r#"cinerec_rpc_requests_total{service="demo",method="unknown",code="UNIMPLEMENTED"} 1"#,
            r#"cinerec_rpc_duration_seconds_count{service="demo",method="Check"} 3"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
        server.abort();
    }

    /// A handler that panics answers INTERNAL, is counted, and the service keeps answering.
    #[tokio::test]
    async fn a_panicking_handler_answers_internal_and_the_service_lives_on() {
        use tower::{Layer, Service, ServiceExt};
        let mut registry = Registry::default();
        let metrics = RpcMetrics::register(&mut registry, "demo");
        let handler = tower::service_fn(|request: http::Request<()>| async move {
            if request.uri().path().ends_with("/Boom") {
                panic!("boom");
            }
            Ok::<_, std::convert::Infallible>(http::Response::new(String::from("fine")))
        });
        let mut service = metrics.layer(handler);
        let call = |path: &str| http::Request::builder().uri(path).body(()).unwrap();
        let boom = service.ready().await.unwrap().call(call("/demo.Demo/Boom")).await.unwrap();
        assert_eq!(boom.headers()["grpc-status"], "13");
        assert_eq!(boom.headers()["grpc-message"], "internal%20error");
        assert!(boom.body().is_empty(), "no detail leaks");
        let fine = service.ready().await.unwrap().call(call("/demo.Demo/Fine")).await.unwrap();
        assert_eq!(fine.body(), "fine");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for line in [
            r#"cinerec_rpc_requests_total{service="demo",method="Boom",code="INTERNAL"} 1"#,
            r#"cinerec_rpc_requests_total{service="demo",method="Fine",code="OK"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        }
    }

    #[test]
    fn code_names_are_canonical() {
        assert_eq!(
            (code_name(0), code_name(3), code_name(16)),
            ("OK", "INVALID_ARGUMENT", "UNAUTHENTICATED")
        );
        assert_eq!((code_name(-1), code_name(99)), ("UNKNOWN", "UNKNOWN"));
    }
}
