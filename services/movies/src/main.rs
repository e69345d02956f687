//! `cinerec-movies`: `serve` runs the movies gRPC service; `import` loads a MovieLens dataset's
//! movies into its database (idempotently). Settings come from flags or `CINEREC_*` variables.

use anyhow::Context;
use clap::{Parser, Subcommand};
use movies::{Application, ImportArgs, PgMovieStore, ServeArgs};
use service_common::telemetry::init_logging;

/// The movies service and its importer.
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
    /// Import a MovieLens dataset's movies (and links.csv ids); re-running changes nothing.
    Import(ImportArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match service_common::parse_or_exit::<Cli>(service_common::Service::Movies, Some("serve")).command {
        Command::Serve(args) => {
            init_logging(args.service.log_format);
            let app = Application::build(&args).await.context("starting the movies service")?;
            app.run_until(service_common::shutdown_signal()).await.context("running the movies service")
        }
        Command::Import(args) => {
            init_logging(service_common::LogFormat::Text);
            let data_dir = match args.data_dir {
                Some(dir) => dir,
                None => datasets::data_dir().context("finding the data directory")?,
            };
            let store =
                PgMovieStore::connect(&args.database.settings()).await.context("connecting to PostgreSQL")?;
            let report = movies::import_movies(&store, &data_dir, args.dataset)
                .await
                .with_context(|| format!("importing {} from {}", args.dataset, data_dir.display()))?;
            println!(
                "{}: {} movies read ({} with links): {} inserted, {} updated, {} unchanged",
                args.dataset,
                report.read,
                report.linked,
                report.counts.inserted,
                report.counts.updated,
                report.counts.unchanged
            );
            Ok(())
        }
    }
}
