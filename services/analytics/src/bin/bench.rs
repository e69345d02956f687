//! `cinerec-analytics-bench`: Kafka-to-warehouse ingest rate and report latency over a seeded
//! synthetic stream (`--help` lists the knobs); see `analytics::bench`.

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    analytics::bench::run(analytics::bench::BenchArgs::parse()).await
}
