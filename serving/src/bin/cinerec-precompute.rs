//! `cinerec-precompute`: after a new model is published, writes the top lists of recently
//! active users into serving's Redis cache under the new version (settings from flags or
//! `CINEREC_*` variables: `--help`). Prints its report as JSON on stdout; exit 1 on failure.

use anyhow::Context;
use clap::Parser;
use serving::precompute::{PrecomputeConfig, run};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = PrecomputeConfig::parse();
    service_common::telemetry::init_logging("precompute", config.log_format);
    let report = run(&config).await.context("precomputing the recommendation cache")?;
    tracing::info!(
        version = %report.version,
        active_users = report.active_users,
        unknown_users = report.unknown_users,
        written = report.written,
        users_per_second = report.users_per_second,
        "precomputed the top lists of the recently active users"
    );
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}
