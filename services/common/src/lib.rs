//! Plumbing shared by every cinerec service binary (serving and `services/*`): the common
//! command-line/env settings, logging set-up (JSON in production), a Prometheus `/metrics`
//! endpoint, gRPC health and reflection, graceful shutdown on SIGTERM, and retry with backoff.
//! Storage and RPC logic stay in each service's own crate.

pub mod duration;
pub mod grpc;
pub mod metrics;
pub mod retry;
pub mod rpc_metrics;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

pub use duration::{DurationError, parse_duration};
pub use retry::{Backoff, retry};
pub use rpc_metrics::RpcMetrics;
pub use settings::{
    LogFormat, Secret, SecretUrl, Service, ServiceSettings, parse_or_exit, parse_with_default_ports,
};
pub use shutdown::shutdown_signal;
#[cfg(feature = "testing")]
pub mod testing;
