//! `cinerec-users`: the users service binary. Reads its settings from flags / `CINEREC_*`
//! variables (`--help` lists them; `CINEREC_JWT_SECRET` is required), publishes events to Kafka
//! and serves gRPC until SIGTERM or Ctrl-C.

use anyhow::Context;
use events::kafka::KafkaPublisher;
use users::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = service_common::parse_or_exit(service_common::Service::Users, None);
    service_common::telemetry::init_logging(service_common::Service::Users.name(), config.service.log_format);

    let publisher = KafkaPublisher::new(&config.kafka_brokers)
        .with_context(|| format!("creating the Kafka producer for {}", config.kafka_brokers))?;
    // The publisher creates a missing topic on its first publish (events::kafka).
    let app = Application::build(&config, publisher).await.context("starting the users service")?;
    tracing::info!(
        grpc = %app.local_addr(),
        metrics = %app.metrics_addr(),
        database = %config.mongo_database,
        token_ttl_s = config.token_ttl.as_secs(),
        "cinerec-users starting"
    );
    app.run_until(service_common::shutdown_signal()).await.context("serving")?;
    Ok(())
}
