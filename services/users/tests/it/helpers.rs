//! The harness: spawn the service on a fresh database with a memory (or Kafka) publisher,
//! a connected client, status assertions, and a log capture for the secrets tests.

use events::relay::RelayStats;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use events::{EventPublisher, MemoryPublisher};
use proto::users::v1 as pb;
use proto::users::v1::users_service_client::UsersServiceClient;
use tonic::transport::Channel;
use tonic::{Code, Response, Status};
use users::{Config, JwtSecret};

/// Token secret of every test server.
pub const SECRET: &str = "integration-test-secret-0123456789abcdef";
/// Password of the accounts [`TestApp::register`] makes.
pub const PASSWORD: &str = "correct horse battery staple";

/// A running server with its client.
pub struct TestApp {
    /// Connected client.
    pub client: UsersServiceClient<Channel>,
    /// The `/metrics` address.
    pub metrics_addr: SocketAddr,
    /// Events the service published.
    pub publisher: Arc<MemoryPublisher>,
    /// The outbox drainer's round counter.
    pub relay: Arc<RelayStats>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Settings for a test server on port 0 over a fresh database.
pub fn test_config() -> Config {
    let database = format!("users_it_{}", uuid::Uuid::new_v4().simple());
    Config::local(&service_common::testing::server_url("CINEREC_TEST_MONGO_URL"), &database, secret())
}

/// The test secret.
pub fn secret() -> JwtSecret {
    JwtSecret::new(SECRET.as_bytes()).unwrap()
}

/// A server with default test settings and a memory publisher.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(test_config()).await
}

/// A server with `config` and a memory publisher.
pub async fn spawn_app_with(config: Config) -> TestApp {
    let publisher = Arc::new(MemoryPublisher::new());
    let (client, metrics_addr, relay, stop) = spawn_server(config, publisher.clone()).await;
    TestApp { client, metrics_addr, publisher, relay, _stop: stop }
}

/// Starts the service with any publisher; it stops when the returned sender is dropped.
pub async fn spawn_server<P: EventPublisher + 'static>(
    config: Config,
    publisher: P,
) -> (UsersServiceClient<Channel>, SocketAddr, Arc<RelayStats>, tokio::sync::oneshot::Sender<()>) {
    capture_logs();
    let app = users::Application::build(&config, publisher).await.expect("the service starts");
    let addr = app.local_addr();
    let metrics_addr = app.metrics_addr();
    let relay = app.relay_stats();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let client = UsersServiceClient::connect(format!("http://{addr}")).await.expect("the client connects");
    (client, metrics_addr, relay, stop)
}

impl TestApp {
    /// Registers `username` with email `<username>@example.org` and [`PASSWORD`].
    pub async fn register(&mut self, username: &str) -> pb::User {
        let request = pb::RegisterRequest {
            username: username.into(),
            email: format!("{username}@example.org"),
            password: PASSWORD.into(),
            display_name: format!("{username} display"),
        };
        self.client.register(request).await.expect("registration succeeds").into_inner().user.unwrap()
    }

    /// Logs in with [`PASSWORD`].
    pub async fn login(&mut self, login: &str) -> Result<Response<pb::LoginResponse>, Status> {
        self.client.login(pb::LoginRequest { login: login.into(), password: PASSWORD.into() }).await
    }

    /// Fetches a profile.
    pub async fn get(&mut self, user_id: u64) -> Result<Response<pb::User>, Status> {
        self.client.get_user(pb::GetUserRequest { user_id }).await
    }

    /// Replaces the preferences.
    pub async fn set_preferences(
        &mut self,
        user_id: u64,
        preferences: pb::Preferences,
    ) -> Result<Response<pb::User>, Status> {
        self.client
            .update_preferences(pb::UpdatePreferencesRequest { user_id, preferences: Some(preferences) })
            .await
    }
}

/// Asserts that `res` failed with `code` and a message containing `needle`; returns the status.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(
    res: Result<Response<T>, Status>,
    code: Code,
    needle: &str,
) -> Status {
    match res {
        Ok(response) => panic!("expected {code:?} ({needle}), got {:?}", response.into_inner()),
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            assert!(status.message().contains(needle), "expected {needle:?} in {:?}", status.message());
            status
        }
    }
}

/// Polls `condition` every 50 ms for up to 10 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..200 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Sends every log line of this test binary (TRACE for our crates) to a buffer.
fn capture_logs() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "trace,h2=info,hyper=info,hyper_util=info,tower=info,rustls=info",
            ))
            .with_ansi(false)
            .with_writer(|| Capture)
            .init();
    });
}

/// Everything logged so far by every test in this binary.
pub fn captured_logs() -> String {
    String::from_utf8_lossy(&LOGS.lock().unwrap()).into_owned()
}
