//! `cinerec-movies serve`: the movies gRPC service (PostgreSQL, S3 media, Kafka events). The
//! MovieLens importer is `cinerec-import movies`. `cinerec-movies migrate` applies the schema and
//! exits (Kubernetes runs it as an init container). Settings come from flags or `CINEREC_*`
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
    /// Apply the database migrations not yet applied, then exit (0 when the schema is current).
    Migrate {
        /// PostgreSQL.
        #[command(flatten)]
        database: movies::DatabaseArgs,
        /// Log format.
        #[arg(long, env = "CINEREC_LOG_FORMAT", value_enum, default_value_t)]
        log_format: service_common::LogFormat,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match service_common::parse_or_exit::<Cli>(service_common::Service::Movies, Some("serve")).command {
        Command::Serve(args) => {
            init_logging(service_common::Service::Movies.name(), args.service.log_format);
            let app = Application::build(&args).await.context("starting the movies service")?;
            app.run_until(service_common::shutdown_signal()).await.context("running the movies service")
        }
        Command::Migrate { database, log_format } => {
            init_logging(service_common::Service::Movies.name(), log_format);
            movies::PgMovieStore::connect(&database.settings())
                .await
                .context("migrating the movies database")?;
            tracing::info!("the movies database schema is current");
            Ok(())
        }
    }
}
