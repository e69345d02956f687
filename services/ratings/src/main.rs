//! `cinerec-ratings serve`: the ratings service (gRPC over Redis, outbox drained to Kafka) until
//! SIGTERM. The MovieLens importer is `cinerec-import ratings`.

use anyhow::Context;
use ratings::Application;
use ratings::config::{Cli, Command};
use service_common::telemetry::init_logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve(config) => {
            init_logging(service_common::Service::Ratings.name(), config.service.log_format);
            let app = Application::build(config).await.context("starting the ratings service")?;
            app.run_until(service_common::shutdown_signal()).await.context("serving")?;
        }
    }
    Ok(())
}
