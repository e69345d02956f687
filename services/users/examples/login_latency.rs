//! Login latency and throughput through a real gRPC client: argon2id verification, the MongoDB
//! lookup and token signing, with the service in-process on 127.0.0.1:0.
//!
//! ```text
//! eval "$(scripts/start-server mongo)"
//! cargo run -p users --example login_latency -- [LOGINS] [CONCURRENCY]
//! kill "$CINEREC_MONGO_PID"
//! ```

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use events::MemoryPublisher;
use proto::users::v1 as pb;
use proto::users::v1::users_service_client::UsersServiceClient;
use users::{Application, Config, JwtSecret};

const PASSWORD: &str = "correct horse battery staple";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let logins: usize = args.next().map_or(Ok(200), |a| a.parse()).context("LOGINS")?;
    let concurrency: usize = args.next().map_or(Ok(8), |a| a.parse()).context("CONCURRENCY")?;
    let database = format!("users_bench_{}", uuid::Uuid::new_v4().simple());
    let secret = JwtSecret::new(b"login-latency-example-secret-0123456789".to_vec())?;
    let config =
        Config::local(&service_common::testing::server_url("CINEREC_TEST_MONGO_URL"), &database, secret);
    let app = Application::build(&config, Arc::new(MemoryPublisher::new())).await?;
    let addr = app.local_addr();
    let (_stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async {
        let _ = stopped.await;
    }));
    let mut client = UsersServiceClient::connect(format!("http://{addr}")).await?;
    let register = pb::RegisterRequest {
        username: "bench".into(),
        email: "bench@example.org".into(),
        password: PASSWORD.into(),
        display_name: String::new(),
    };
    client.register(register).await?;
    let login = || pb::LoginRequest { login: "bench".into(), password: PASSWORD.into() };
    for _ in 0..5 {
        client.login(login()).await?;
    }

    let mut latencies = Vec::with_capacity(logins);
    for _ in 0..logins {
        let started = Instant::now();
        client.login(login()).await?;
        latencies.push(started.elapsed());
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "sequential logins: {logins}, p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        at(1.0).as_secs_f64() * 1e3
    );

    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let mut client = client.clone();
            tokio::spawn(async move {
                for _ in 0..logins / concurrency {
                    client.login(login()).await?;
                }
                Ok::<_, tonic::Status>(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    let done = logins / concurrency * concurrency;
    println!(
        "concurrent logins: {done} from {concurrency} clients in {:.2} s = {:.0} logins/s ({} cores)",
        started.elapsed().as_secs_f64(),
        done as f64 / started.elapsed().as_secs_f64(),
        std::thread::available_parallelism().map_or(0, usize::from)
    );
    Ok(())
}
