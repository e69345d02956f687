//! Standard gRPC services every server exposes: health checking (`grpc.health.v1`) and server
//! reflection over all of cinerec's protobuf packages.

use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};

/// The health service and the reporter that sets each service's status.
pub fn health() -> (HealthReporter, HealthServer<impl Health>) {
    tonic_health::server::health_reporter()
}

/// Server reflection over [`proto::FILE_DESCRIPTOR_SET`] (every cinerec package).
pub fn reflection() -> ServerReflectionServer<impl ServerReflection> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .build_v1()
        .expect("the descriptor set compiled into the proto crate is valid")
}
