//! Test support (feature `testing`): a server process a test owns, so that it can stop and
//! restart it on the same port to exercise outages (Redis, the Kafka broker, the log store).
//! Binaries come from the variables `scripts/start-server` prints (`CINEREC_REDIS_SERVER_BIN`,
//! `CINEREC_TANSU_BIN`, `CINEREC_OSMEM_BIN`, `CINEREC_RSYSLOGD_BIN`).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A server child process on a fixed 127.0.0.1 port; killed on drop.
#[derive(Debug)]
pub struct TestServer {
    program: PathBuf,
    args: Vec<String>,
    port: u16,
    child: Option<Child>,
}

impl TestServer {
    /// Starts a private Redis (no persistence) on a free port.
    pub fn redis() -> Self {
        let program = binary("CINEREC_REDIS_SERVER_BIN", "redis-server");
        let port = free_port();
        let args = ["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"];
        Self::start(program, args.iter().map(|a| a.to_string()).collect(), port)
    }

    /// Starts a private Tansu Kafka-protocol broker (in-memory storage) on a free port.
    pub fn kafka() -> Self {
        let program = binary("CINEREC_TANSU_BIN", "tansu");
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        let args = vec![
            "broker".into(),
            "--listener-url".into(),
            url.clone(),
            "--advertised-listener-url".into(),
            url,
            "--storage-engine".into(),
            "memory://tansu/".into(),
        ];
        Self::start(program, args, port)
    }

    /// Starts a private osmem-server (an in-memory server of the OpenSearch/Elasticsearch REST
    /// API, the log store's stand-in) on a free port.
    pub fn osmem() -> Self {
        let program = binary("CINEREC_OSMEM_BIN", "osmem-server");
        let port = free_port();
        let args =
            vec!["-addr".into(), format!("127.0.0.1:{port}"), "-no-stdin-watch".into(), "-no-ja".into()];
        Self::start(program, args, port)
    }

    /// Starts rsyslogd in the foreground with `config`, which must listen on `port` (imtcp).
    pub fn rsyslog(config: &std::path::Path, pid_file: &std::path::Path, port: u16) -> Self {
        let program = binary("CINEREC_RSYSLOGD_BIN", "rsyslogd");
        let args = vec![
            "-n".into(),
            "-f".into(),
            config.display().to_string(),
            "-i".into(),
            pid_file.display().to_string(),
        ];
        Self::start(program, args, port)
    }

    fn start(program: PathBuf, args: Vec<String>, port: u16) -> Self {
        let mut server = Self { program, args, port, child: None };
        server.restart();
        server
    }

    /// `127.0.0.1:port`.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// `redis://127.0.0.1:port` (for Redis servers).
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the process and waits until the port is closed.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(self.addr()).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// (Re)starts the process on the same port and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", self.program.display()));
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(self.addr()).is_err() {
            assert!(Instant::now() < deadline, "{} did not open port {}", self.program.display(), self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn binary(variable: &str, name: &str) -> PathBuf {
    std::env::var_os(variable).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{variable} is not set: run the tests through scripts/test, which installs {name} and sets it")
    })
}

/// A 127.0.0.1 port nothing listens on right now: for a server's own port, or as the address
/// of a server that is down.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free local port").port()
}

/// The value of a `CINEREC_TEST_*` variable naming a server `scripts/test` started; panics with
/// instructions when it is not set.
pub fn server_url(variable: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| {
        panic!("{variable} is not set: these tests need the servers that scripts/test starts (see scripts/start-server)")
    })
}

/// `GET path` over a fresh HTTP/1.1 connection to `addr`: the whole response, status line and
/// headers included (panics naming the address when it cannot connect).
pub async fn http_get(addr: SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream =
        tokio::net::TcpStream::connect(addr).await.unwrap_or_else(|e| panic!("GET {path} at {addr}: {e}"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

/// `GET /metrics` of a service's metrics port, the whole Prometheus text page (panics naming the
/// address when the endpoint does not answer 200).
pub async fn scrape_metrics(addr: SocketAddr) -> String {
    let response = http_get(addr, "/metrics").await;
    assert!(response.starts_with("HTTP/1.1 200"), "metrics at {addr}: {response}");
    response
}

/// Asserts that each of `lines` is a whole line of `page` (e.g. a metrics sample with its
/// value), naming the missing line and showing the page.
pub fn assert_lines(page: &str, lines: &[&str]) {
    for line in lines {
        assert!(page.lines().any(|l| l == *line), "{line} not in\n{page}");
    }
}

/// A server's health status as `grpc.health.v1` reports it.
pub use tonic_health::pb::health_check_response::ServingStatus;

/// The health status (`grpc.health.v1`, the whole server) of the gRPC server at `addr`, or
/// `None` when it cannot be asked.
pub async fn grpc_health(addr: SocketAddr) -> Option<ServingStatus> {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{addr}")).ok()?.connect().await.ok()?;
    let mut client = HealthClient::new(channel);
    let response = client.check(HealthCheckRequest { service: String::new() }).await.ok()?;
    ServingStatus::try_from(response.into_inner().status).ok()
}
