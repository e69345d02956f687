//! `cinerec-gateway`: the REST front door. Settings from flags / `CINEREC_*` variables
//! (`--help` lists them; `CINEREC_JWT_SECRET` is required); serves until SIGTERM or Ctrl-C.

use anyhow::Context;
use gateway::{Application, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config: Config = service_common::parse_or_exit(service_common::Service::Gateway, None);
    service_common::telemetry::init_logging(
        service_common::Service::Gateway.name(),
        config.service.log_format,
    );
    let app = Application::build(&config).await.context("starting the gateway")?;
    tracing::info!(http = %app.addr(), metrics = %app.metrics_addr(), users = %config.users_url, "cinerec-gateway starting");
    app.run_until(service_common::shutdown_signal()).await.context("serving")?;
    Ok(())
}
