//! `cinerec-movies serve`: the movies gRPC service (PostgreSQL, S3 media, Kafka events). The
//! MovieLens importer is `cinerec-import movies`. Settings come from flags or `CINEREC_*`
//! variables.

use anyhow::Context;
use clap::{Parser, Subcommand};
use movies::{Application, ServeArgs};
use service_common::telemetry::init_logging;

/// The movies service.
#[derive(Parser)]
#[command(name = "cinerec-movies", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the MoviesService gRPC API (PostgreSQL, S3 media, Kafka events).
    Serve(Box<ServeArgs>),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match service_common::parse_or_exit::<Cli>(service_common::Service::Movies, Some("serve")).command {
        Command::Serve(args) => {
            init_logging(args.service.log_format);
            let app = Application::build(&args).await.context("starting the movies service")?;
            app.run_until(service_common::shutdown_signal()).await.context("running the movies service")
        }
    }
}
