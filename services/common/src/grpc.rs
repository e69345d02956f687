//! Standard gRPC services every server exposes: health checking (`grpc.health.v1`) and server
//! reflection over all of cinerec's protobuf packages, in both the current `grpc.reflection.v1`
//! and the older `grpc.reflection.v1alpha` that many clients still speak (Python's
//! `grpcio-reflection`, older grpcurl, Postman).

use tonic_health::pb::health_server::{Health, HealthServer};
use tonic_health::server::HealthReporter;
use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};
use tonic_reflection::server::v1alpha::{
    ServerReflection as ServerReflectionV1Alpha, ServerReflectionServer as ServerReflectionServerV1Alpha,
};

/// The health service and the reporter that sets each service's status.
pub fn health() -> (HealthReporter, HealthServer<impl Health>) {
    tonic_health::server::health_reporter()
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
}

/// Server reflection (`grpc.reflection.v1`) over [`proto::FILE_DESCRIPTOR_SET`] (every cinerec
/// package).
pub fn reflection() -> ServerReflectionServer<impl ServerReflection> {
    reflection_builder().build_v1().expect("the descriptor set compiled into the proto crate is valid")
}

/// The same reflection as [`reflection`] in `grpc.reflection.v1alpha`; add both to a server.
pub fn reflection_v1alpha() -> ServerReflectionServerV1Alpha<impl ServerReflectionV1Alpha> {
    reflection_builder().build_v1alpha().expect("the descriptor set compiled into the proto crate is valid")
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::{v1, v1alpha};

    use super::*;

    /// Lists the services through both reflection versions of a real server on 127.0.0.1.
    #[tokio::test]
    async fn both_reflection_versions_list_the_services() {
        let (_reporter, health) = health();
        let (channel, server) = crate::test_support::loopback(|incoming| {
            tonic::transport::Server::builder()
                .add_service(health)
                .add_service(reflection())
                .add_service(reflection_v1alpha())
                .serve_with_incoming(incoming)
        })
        .await;

        let request = v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::ListServices(String::new())),
        };
        let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel.clone());
        let mut stream =
            client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let Some(v1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            stream.next().await.unwrap().unwrap().message_response
        else {
            panic!("v1: not a list of services")
        };
        let v1_names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();

        let request = v1alpha::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1alpha::server_reflection_request::MessageRequest::ListServices(
                String::new(),
            )),
        };
        let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel);
        let mut stream =
            client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            stream.next().await.unwrap().unwrap().message_response
        else {
            panic!("v1alpha: not a list of services")
        };
        let v1alpha_names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();

        for names in [&v1_names, &v1alpha_names] {
            for expected in
                ["cinerec.recommendation.v1.RecommendationService", "cinerec.users.v1.UsersService"]
            {
                assert!(names.iter().any(|n| n == expected), "{expected} not in {names:?}");
            }
        }
        // Each version lists itself; the cinerec services are the same.
        let ours = |names: &[String]| {
            names.iter().filter(|n| n.starts_with("cinerec.")).cloned().collect::<Vec<_>>()
        };
        assert_eq!(ours(&v1_names), ours(&v1alpha_names));
        assert!(
            v1alpha_names.iter().any(|n| n == "grpc.reflection.v1alpha.ServerReflection"),
            "{v1alpha_names:?}"
        );
        server.abort();
    }
}
