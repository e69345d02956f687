//! `cinerec-serve`: the gRPC recommendation service. Configuration comes from flags or
//! `CINEREC_*` variables (`cinerec-serve --help`); it stops gracefully on SIGTERM / Ctrl-C.

use anyhow::Context;
use serving::{Application, ServingConfig};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: ServingConfig = service_common::parse_or_exit(service_common::Service::Serving, None);
    service_common::telemetry::init_logging(
        service_common::Service::Serving.name(),
        config.service.log_format,
    );
    tracing::info!(
        store = %config.store,
        redis = %config.redis_url,
        cache_ttl_s = config.cache_ttl.as_secs(),
        query_limit = config.query_limit(),
        kafka_brokers = %config.kafka_brokers,
        "starting cinerec-serve"
    );
    let app = Application::build(config).await.context("starting cinerec-serve")?;
    app.run_until_stopped(service_common::shutdown_signal()).await.context("running cinerec-serve")
}
