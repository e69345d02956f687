//! The service's Prometheus metrics: RPC outcomes by method and status code (bounded: 7 methods
//! × a handful of codes) and outbox deliveries.

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

/// Label set of [`Metrics::rpcs`]: `rpc` and `code`.
pub type RpcLabels = Vec<(&'static str, &'static str)>;

/// Counters shared by the handlers and the outbox drainer.
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    /// Finished RPCs by method and gRPC status code.
    pub rpcs: Family<RpcLabels, Counter>,
    /// Events the broker acknowledged.
    pub events_delivered: Counter,
    /// Delivery attempts that failed (the events stay in the outbox).
    pub delivery_failures: Counter,
}

impl Metrics {
    /// Fresh counters, registered in `registry` under `users_*`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        registry.register("users_rpcs", "Finished RPCs by method and status code", metrics.rpcs.clone());
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

    /// Counts one finished `rpc` with status `code`.
    pub fn rpc(&self, rpc: &'static str, code: tonic::Code) {
        self.rpcs.get_or_create(&vec![("rpc", rpc), ("code", code_name(code))]).inc();
    }
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code;
    match code {
        Code::Ok => "OK",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::Unauthenticated => "UNAUTHENTICATED",
        Code::Unavailable => "UNAVAILABLE",
        Code::Internal => "INTERNAL",
        _ => "OTHER",
    }
}
