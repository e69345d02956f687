//! `cinerec-loadgen`: closed-loop (or, with `--rate`, open-loop) load against a local
//! `cinerec-serve`, one run per concurrency level, printed as a Markdown table. Examples (server
//! on the default port):
//!
//! ```text
//! cinerec-loadgen --store /tmp/ml20m-models --concurrency 1,16,64 --requests 100000 --duration 10s --warm
//! cinerec-loadgen --store /tmp/ml20m-models --concurrency 16 --rate 10000 --duration 10s --warm
//! ```

use anyhow::Context;
use clap::Parser;
use loadgen::LoadgenConfig;

fn main() -> anyhow::Result<()> {
    let config = LoadgenConfig::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.threads.max(1))
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let reports = runtime.block_on(loadgen::run(&config)).context("load test")?;
    print!("{}", loadgen::table(config.method, &reports));
    Ok(())
}
