//! [`Application`]: `POST /api/v1/events` over the kit's [`HttpServer`] and the warehouse.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use contract::{ErrorKind, FieldError, PublicError};
use service_common::{HttpServer, ServerError, Service};

use crate::activity::{ActivityInput, check_batch};
use crate::config::Config;
use crate::warehouse::{PgWarehouse, Warehouse, WarehouseError};

/// Why analytics could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The warehouse cannot be used.
    #[error(transparent)]
    Warehouse(#[from] WarehouseError),
    /// Binding, serving or the metrics endpoint failed.
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// `POST /api/v1/events`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsBody {
    /// 1..=500 events.
    pub events: Vec<ActivityInput>,
}

/// An error as JSON: `{"error": {"kind", "message", "fields"}}` (the gateway's problem
/// documents are for the public API; this service is internal).
fn error(status: StatusCode, error: PublicError) -> Response {
    (status, Json(serde_json::json!({"error": {"kind": error.kind.as_str(), "message": error.message, "fields": error.fields}})))
        .into_response()
}

async fn ingest<W: Warehouse>(
    State(warehouse): State<Arc<W>>,
    body: Result<Json<EventsBody>, JsonRejection>,
) -> Response {
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => {
            let field = FieldError::new("body", rejection.body_text());
            return error(rejection.status(), PublicError::from(field));
        }
    };
    let events = match check_batch(body.events) {
        Ok(events) => events,
        Err(fields) => {
            let mut public = PublicError::new(
                ErrorKind::Invalid,
                format!("{} invalid field(s); nothing was stored", fields.len()),
            );
            public.fields = fields;
            return error(StatusCode::BAD_REQUEST, public);
        }
    };
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    match warehouse.ingest_activity(&events, now_ms).await {
        Ok(counts) => (StatusCode::ACCEPTED, Json(counts)).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "storing activity events failed");
            error(StatusCode::SERVICE_UNAVAILABLE, PublicError::unavailable("the warehouse"))
        }
    }
}

/// The routes over `warehouse`.
pub fn router<W: Warehouse>(warehouse: Arc<W>, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/api/v1/events", post(ingest::<W>))
        .with_state(warehouse)
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// Analytics, bound and not yet serving.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    router: Router,
}

impl Application {
    /// Connects the warehouse (migrating it) and binds the ports.
    pub async fn build(config: &Config) -> Result<Self, AppError> {
        let warehouse = Arc::new(
            PgWarehouse::connect(config.warehouse_url.expose(), config.warehouse_max_connections).await?,
        );
        let server = HttpServer::bind(Service::Analytics, &config.service)
            .await?
            .ready_when(Duration::from_secs(2), Arc::clone(&warehouse));
        Ok(Self { server, router: router(warehouse, config.max_body_bytes) })
    }

    /// The bound API address.
    pub fn addr(&self) -> SocketAddr {
        self.server.api_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        Ok(self.server.serve(self.router, shutdown).await?)
    }
}
