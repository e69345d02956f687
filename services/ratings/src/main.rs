//! `cinerec-ratings`: `serve` runs the ratings service (gRPC over Redis, outbox drained to
//! Kafka) until SIGTERM; `import` loads a MovieLens dataset into Redis.

use anyhow::Context;
use ratings::config::{Cli, Command};
use ratings::import::{ImportOptions, import_dataset};
use ratings::{Application, RedisStore};
use service_common::telemetry::init_logging;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse_args(std::env::args_os()).unwrap_or_else(|e| e.exit());
    match cli.command {
        Command::Serve(config) => {
            init_logging(config.service.log_format);
            let app = Application::build(config).await.context("starting the ratings service")?;
            app.run_until(service_common::shutdown_signal()).await.context("serving")?;
        }
        Command::Import(args) => {
            init_logging(service_common::LogFormat::Text);
            let name: datasets::DatasetName = args.dataset.parse()?;
            let data_dir = match args.data_dir.clone().filter(|d| !d.as_os_str().is_empty()) {
                Some(dir) => dir,
                None => datasets::data_dir()?,
            };
            let store = RedisStore::connect(&args.redis.url, args.redis.store_settings(&args.topic))
                .await
                .with_context(|| format!("connecting to {}", args.redis.url))?;
            let options = ImportOptions { events: args.events, batch: args.batch };
            let report = import_dataset(&store, &data_dir, name, options)
                .await
                .with_context(|| format!("importing {name} from {}", data_dir.display()))?;
            println!(
                "{name}: {} movies, {} ratings ({} new, {} changed, {} kept) into {} prefix {} in {:.2} s{}",
                report.movies,
                report.ratings,
                report.created,
                report.updated,
                report.kept,
                args.redis.url,
                args.redis.prefix,
                report.seconds,
                if args.events { ", events in the outbox" } else { "" }
            );
            store.quit().await;
        }
    }
    Ok(())
}
