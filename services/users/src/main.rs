//! `cinerec-users`: the users service binary. Reads its settings from flags / `CINEREC_*`
//! variables (`--help` lists them; `CINEREC_JWT_SECRET` is required), publishes events to Kafka
//! and serves gRPC until SIGTERM or Ctrl-C.

use anyhow::Context;
use events::kafka::{KafkaPublisher, ensure_topics};
use proto::events::topics;
use users::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = service_common::parse_or_exit(service_common::Service::Users, None);
    service_common::telemetry::init_logging(config.service.log_format);

    let publisher = KafkaPublisher::new(&config.kafka_brokers)
        .with_context(|| format!("creating the Kafka producer for {}", config.kafka_brokers))?;
    // Topics usually exist already; creating them is a convenience for fresh brokers, and the
    // outbox keeps events until the broker takes them, so a failure here is not fatal.
    if let Err(err) =
        ensure_topics(&config.kafka_brokers, &[topics::USER_PREFERENCES, topics::USER_DELETED]).await
    {
        tracing::warn!(error = %err, "could not check the event topics; continuing");
    }

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
