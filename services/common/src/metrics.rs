//! A Prometheus text-format `/metrics` endpoint on its own port, serving a
//! `prometheus_client` registry.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

/// Serves `GET /metrics` from `registry` on `listener` until `shutdown` completes.
pub async fn serve_metrics(
    listener: TcpListener,
    registry: Arc<Registry>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = Router::new().route("/metrics", get(move || render(registry.clone())));
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

async fn render(registry: Arc<Registry>) -> impl IntoResponse {
    let mut body = String::new();
    match prometheus_client::encoding::text::encode(&mut body, &registry) {
        Ok(()) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")],
            body,
        ),
        Err(err) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("encoding metrics failed: {err}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use prometheus_client::metrics::counter::Counter;

    use super::*;

    #[tokio::test]
    async fn serves_registered_metrics_as_text() {
        let mut registry = Registry::default();
        let requests = Counter::<u64>::default();
        registry.register("demo_requests", "Requests seen", requests.clone());
        requests.inc_by(7);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_metrics(listener, Arc::new(registry), async {
            let _ = stopped.await;
        }));
        let response = crate::testing::scrape_metrics(addr).await;
        assert!(response.contains("demo_requests_total 7"), "{response}");
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
