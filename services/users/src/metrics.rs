//! The service's own Prometheus metrics: outbox deliveries. RPCs are counted by the service
//! kit's layer (`cinerec_rpc_requests_total{service="users",method,code}`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// Counters shared by the handlers and the outbox drainer.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Events the broker acknowledged.
    pub events_delivered: Counter,
    /// Delivery attempts that failed (the events stay in the outbox).
    pub delivery_failures: Counter,
}

impl Metrics {
    /// Fresh counters, registered in `registry` under `users_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register(
            "users_events_delivered",
            "Outbox events the broker acknowledged",
            metrics.events_delivered.clone(),
        );
        registry.register(
            "users_event_delivery_failures",
            "Outbox deliveries that failed (the events stay queued)",
            metrics.delivery_failures.clone(),
        );
        metrics
    }
}
