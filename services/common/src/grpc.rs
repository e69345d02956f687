//! Server reflection every gRPC server exposes (the health service itself is added by
//! [`crate::GrpcServer`]): the descriptors of all of cinerec's protobuf packages and health, in
//! both the current `grpc.reflection.v1` and the older `grpc.reflection.v1alpha` that many
//! clients still speak (Python's `grpcio-reflection`, older grpcurl, Postman).

use tonic_reflection::server::v1::{ServerReflection, ServerReflectionServer};
use tonic_reflection::server::v1alpha::{
    ServerReflection as ServerReflectionV1Alpha, ServerReflectionServer as ServerReflectionServerV1Alpha,
};

/// The health service's full name.
pub const HEALTH_SERVICE: &str = "grpc.health.v1.Health";

/// Reflection over every cinerec package and the health service, advertising only `services`
/// (the ones this server runs), health, and the reflection service itself.
fn reflection_builder(
    services: &[&str],
    reflection_service: &str,
) -> tonic_reflection::server::Builder<'static> {
    let builder = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    services
        .iter()
        .copied()
        .chain([HEALTH_SERVICE, reflection_service])
        .fold(builder, |builder, name| builder.with_service_name(name))
}

/// Server reflection (`grpc.reflection.v1`) listing `services`, health and itself, with the
/// descriptors of every cinerec package.
pub fn reflection(services: &[&str]) -> ServerReflectionServer<impl ServerReflection> {
    reflection_builder(services, "grpc.reflection.v1.ServerReflection")
        .build_v1()
        .expect("the descriptor sets compiled into proto and tonic-health are valid")
}

/// The same reflection as [`reflection`] in `grpc.reflection.v1alpha`; add both to a server.
pub fn reflection_v1alpha(services: &[&str]) -> ServerReflectionServerV1Alpha<impl ServerReflectionV1Alpha> {
    reflection_builder(services, "grpc.reflection.v1alpha.ServerReflection")
        .build_v1alpha()
        .expect("the descriptor sets compiled into proto and tonic-health are valid")
}

#[cfg(test)]
mod tests {
    use tokio_stream::StreamExt;
    use tonic_reflection::pb::{v1, v1alpha};

    use super::*;

    /// Lists the services through both reflection versions of a real server on 127.0.0.1.
    #[tokio::test]
    async fn both_reflection_versions_list_the_services() {
        let (_reporter, health) = tonic_health::server::health_reporter();
        let (channel, server) = crate::test_support::loopback(|incoming| {
            tonic::transport::Server::builder()
                .add_service(health)
                .add_service(reflection(&["cinerec.users.v1.UsersService"]))
                .add_service(reflection_v1alpha(&["cinerec.users.v1.UsersService"]))
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
        let mut client = v1alpha::server_reflection_client::ServerReflectionClient::new(channel.clone());
        let mut stream =
            client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let Some(v1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
            stream.next().await.unwrap().unwrap().message_response
        else {
            panic!("v1alpha: not a list of services")
        };
        let v1alpha_names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();

        // Only what this server runs: its service, health and reflection (each version itself).
        let sorted = |mut names: Vec<String>| {
            names.sort();
            names
        };
        assert_eq!(
            sorted(v1_names),
            ["cinerec.users.v1.UsersService", "grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection"]
        );
        assert_eq!(
            sorted(v1alpha_names),
            [
                "cinerec.users.v1.UsersService",
                "grpc.health.v1.Health",
                "grpc.reflection.v1alpha.ServerReflection"
            ]
        );

        // The health service's descriptor resolves too (a client can call it by reflection).
        let request = v1::ServerReflectionRequest {
            host: String::new(),
            message_request: Some(v1::server_reflection_request::MessageRequest::FileContainingSymbol(
                HEALTH_SERVICE.into(),
            )),
        };
        let mut client = v1::server_reflection_client::ServerReflectionClient::new(channel);
        let mut stream =
            client.server_reflection_info(tokio_stream::iter([request])).await.unwrap().into_inner();
        let response = stream.next().await.unwrap().unwrap().message_response;
        assert!(
            matches!(response, Some(v1::server_reflection_response::MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
            "{response:?}"
        );
        server.abort();
    }
}
