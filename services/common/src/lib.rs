//! The service kit every cinerec service binary starts from (serving and `services/*`; the
//! gateway and analytics next): [`GrpcServer`] (binds the ports, serves health, reflection,
//! `/metrics` and the RPC metrics layer, decides readiness, runs background tasks, drains on
//! SIGTERM within a grace period), the common command-line/env settings with each service's
//! default ports, one duration grammar, logging set-up (JSON in production) and retry with
//! backoff. Storage and RPC logic stay in each service's own crate.

pub mod duration;
pub mod grpc;
pub mod http;
pub mod metrics;
pub mod retry;
pub mod rpc_metrics;
pub mod server;
pub mod settings;
pub mod shutdown;
pub mod telemetry;

pub use duration::{DurationError, parse_duration};
pub use http::HttpServer;
pub use retry::{Backoff, retry};
pub use rpc_metrics::RpcMetrics;
pub use server::{GrpcServer, ReadinessProbe, ServerError, StopSignal};
pub use settings::{
    EventTopics, JwtSecretParser, LogFormat, Secret, SecretUrl, Service, ServiceSettings, parse_or_exit,
    parse_with_default_ports,
};
pub use shutdown::shutdown_signal;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

/// Helpers of this crate's own unit tests.
#[cfg(test)]
mod test_support {
    use tokio_stream::wrappers::TcpListenerStream;
    use tonic::transport::Channel;

    /// Runs `serve` (a server future over the incoming connections) on a fresh 127.0.0.1 port
    /// and returns a channel connected to it, with the server's task.
    pub async fn loopback<F>(
        serve: impl FnOnce(TcpListenerStream) -> F,
    ) -> (Channel, tokio::task::JoinHandle<F::Output>)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(serve(TcpListenerStream::new(listener)));
        let channel = Channel::from_shared(format!("http://{addr}")).unwrap().connect().await.unwrap();
        (channel, server)
    }

    /// A log writer the test reads back.
    #[derive(Clone, Default)]
    pub struct Captured(pub std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Captured {
        /// Everything written so far.
        pub fn text(&self) -> String {
            String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
        }
    }

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
}
