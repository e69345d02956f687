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

/// Waits for `shutdown`, then reports the server (`""`) and every service in `services`
/// NOT_SERVING, so that load balancers and Kubernetes stop routing to it; pass it as the
/// server's shutdown future, which then drains the requests in flight.
pub async fn not_serving_after(
    shutdown: impl Future<Output = ()>,
    reporter: HealthReporter,
    services: &[&str],
) {
    shutdown.await;
    for service in std::iter::once("").chain(services.iter().copied()) {
        reporter.set_service_status(service, tonic_health::ServingStatus::NotServing).await;
    }
    tracing::info!(?services, "shutting down: health reports NOT_SERVING; draining requests in flight");
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

    #[tokio::test]
    async fn health_turns_not_serving_when_shutdown_begins() {
        use tonic_health::pb::HealthCheckRequest;
        let (reporter, _server) = health();
        reporter.set_service_status("demo.Demo", tonic_health::ServingStatus::Serving).await;
        let service = tonic_health::server::HealthService::from_health_reporter(reporter.clone());
        let status = async |name: &str| {
            let request = tonic::Request::new(HealthCheckRequest { service: name.into() });
            service.check(request).await.unwrap().into_inner().status
        };
        assert_eq!(
            status("demo.Demo").await,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
        let (trigger, triggered) = tokio::sync::oneshot::channel::<()>();
        let watcher = tokio::spawn(not_serving_after(
            async {
                let _ = triggered.await;
            },
            reporter,
            &["demo.Demo"],
        ));
        trigger.send(()).unwrap();
        watcher.await.unwrap();
        for name in ["", "demo.Demo"] {
            let not_serving = tonic_health::pb::health_check_response::ServingStatus::NotServing as i32;
            assert_eq!(status(name).await, not_serving, "service {name:?}");
        }
    }

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
