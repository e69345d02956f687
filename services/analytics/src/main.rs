//! `cinerec-analytics`: settings from flags / `CINEREC_*` variables (`--help` lists them;
//! `CINEREC_WAREHOUSE_URL` is required); serves until SIGTERM or Ctrl-C, or with `--migrate-only`
//! applies the warehouse migrations and exits.

use analytics::{Application, Config};
use anyhow::Context;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = service_common::parse_or_exit(service_common::Service::Analytics, None);
    service_common::telemetry::init_logging(
        service_common::Service::Analytics.name(),
        config.service.log_format,
    );
    if config.migrate_only {
        warehouse::postgres::PgWarehouse::connect(config.warehouse_url.expose(), 1)
            .await
            .context("migrating the warehouse")?;
        tracing::info!("the warehouse schema is current");
        return Ok(());
    }
    let app = Application::build(&config).await.context("starting analytics")?;
    tracing::info!(http = %app.addr(), "cinerec-analytics starting");
    app.run_until(service_common::shutdown_signal()).await.context("serving")?;
    Ok(())
}
