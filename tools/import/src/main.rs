//! `cinerec-import movies|ratings`: loads a MovieLens dataset into the movies service's
//! PostgreSQL or the ratings service's Redis (idempotently; re-running changes nothing).
//! Settings come from flags or `CINEREC_*` variables.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use importer::{movies as movie_import, ratings as rating_import};
use movies::PgMovieStore;
use ratings::RedisStore;
use service_common::telemetry::init_logging;

/// The MovieLens importers.
#[derive(Debug, Parser)]
#[command(name = "cinerec-import", version, about, max_term_width = 110)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Import a MovieLens dataset's movies (and links.csv ids) into the movies database.
    Movies(MoviesArgs),
    /// Load a MovieLens dataset's movies and ratings into the ratings Redis (no events unless
    /// --events).
    Ratings(Box<RatingsArgs>),
}

/// `cinerec-import movies`.
#[derive(Clone, Debug, Args)]
pub struct MoviesArgs {
    /// PostgreSQL.
    #[command(flatten)]
    pub database: movies::DatabaseArgs,
    /// Folder holding the dataset folders (`<dir>/ml-latest-small/movies.csv`); default
    /// `$CINEREC_DATA_DIR`, else the user cache folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// MovieLens dataset: ml-latest-small, ml-latest, ml-100k, ml-1m, ml-10m, ml-20m, ml-25m.
    #[arg(long, default_value = "ml-latest-small")]
    pub dataset: datasets::DatasetName,
}

/// `cinerec-import ratings`.
#[derive(Clone, Debug, Args)]
pub struct RatingsArgs {
    /// Redis.
    #[command(flatten)]
    pub redis: ratings::config::RedisArgs,
    /// Folder holding the MovieLens datasets (`ml-100k/u.data`, ...) [default:
    /// $XDG_CACHE_HOME/cinerec/datasets, else ~/.cache/cinerec/datasets].
    #[arg(long, env = "CINEREC_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// Dataset (ml-100k, ml-1m, ml-10m, ml-20m, ml-25m, ml-latest, ml-latest-small).
    #[arg(long, env = "CINEREC_DATASET")]
    pub dataset: String,
    /// Also write a `RatingEvent` per imported rating to the outbox (the service publishes them).
    #[arg(long)]
    pub events: bool,
    /// The event topics (`RatingEvent`s go to `--ratings-topic`).
    #[command(flatten)]
    pub topics: service_common::EventTopics,
    /// Ratings per pipelined round trip.
    #[arg(long, default_value_t = 2000)]
    pub batch: usize,
}

/// `dir`, else the data directory of the `datasets` crate.
fn data_dir(dir: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    match dir.filter(|d| !d.as_os_str().is_empty()) {
        Some(dir) => Ok(dir),
        None => datasets::data_dir().context("finding the data directory"),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    init_logging("import", service_common::LogFormat::Text);
    match Cli::parse().command {
        Command::Movies(args) => {
            let data_dir = data_dir(args.data_dir)?;
            let store =
                PgMovieStore::connect(&args.database.settings()).await.context("connecting to PostgreSQL")?;
            let report = movie_import::import_movies(&store, &data_dir, args.dataset)
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
        }
        Command::Ratings(args) => {
            let name: datasets::DatasetName = args.dataset.parse()?;
            let data_dir = data_dir(args.data_dir)?;
            let store = RedisStore::connect(&args.redis.url, args.redis.store_settings(&args.topics.ratings))
                .await
                .with_context(|| format!("connecting to {}", args.redis.url))?;
            let options = rating_import::ImportOptions { events: args.events, batch: args.batch };
            let report = rating_import::import_dataset(&store, &data_dir, name, options)
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
