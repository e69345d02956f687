//! [`Application`]: the REST API over the kit's [`HttpServer`] and the warehouse, the Kafka
//! consumer and the model-version follower as the server's tasks.
//!
//! - `POST /api/v1/events` (bearer ingest token): 1..=500 activity events, 202 with what was
//!   stored; a bad batch is refused whole, naming `events[i].field`.
//! - `GET /api/v1/reports/{report}?from=&to=&bucket=&format=&table=&genre=&n=`: the seven
//!   reports as JSON (every table) or CSV (one table); bad parameters are 400 naming each.
//! - `GET /api/v1/openapi.json`: the API's OpenAPI 3.1 description (`openapi.json` beside the
//!   crate's manifest).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use contract::activity::{ActivityInput, check_batch};
use contract::{ErrorKind, FieldError, PublicError, Secret};
use service_common::{HttpServer, ReadinessProbe, ServerError, Service};
use warehouse::postgres::PgWarehouse;
use warehouse::reports::{self, Bucket, Range, Report};
use warehouse::{Batch, Warehouse, WarehouseError, format_day, parse_day};

use crate::config::Config;
use crate::ingest::{ConsumerHealth, IngestMetrics, IngestSettings};

/// The OpenAPI description served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// Longest report range, in days.
pub const MAX_RANGE_DAYS: i32 = 3_660;

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

/// What the handlers share.
struct Shared<W> {
    warehouse: Arc<W>,
    ingest_token: Secret,
}

/// The handlers' state.
pub struct AppState<W>(Arc<Shared<W>>);

impl<W> Clone for AppState<W> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

/// An error as JSON: `{"error": {"kind", "message", "fields"}}` (the gateway's problem
/// documents are for the public API; this service is internal).
fn error(status: StatusCode, error: PublicError) -> Response {
    let body = serde_json::json!({"error": {"kind": error.kind.as_str(), "message": error.message, "fields": error.fields}});
    (status, Json(body)).into_response()
}

fn invalid(fields: Vec<FieldError>, what: &str) -> Response {
    let mut public = PublicError::new(ErrorKind::Invalid, format!("{} invalid field(s){what}", fields.len()));
    public.fields = fields;
    error(StatusCode::BAD_REQUEST, public)
}

fn unix_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

async fn ingest<W: Warehouse>(
    State(state): State<AppState<W>>,
    headers: HeaderMap,
    body: Result<Json<EventsBody>, JsonRejection>,
) -> Response {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    if !state.0.ingest_token.matches(presented) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            PublicError::new(
                ErrorKind::Unauthenticated,
                "send the ingest token as `Authorization: Bearer <token>`",
            ),
        );
        response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
        return response;
    }
    let Json(body) = match body {
        Ok(body) => body,
        Err(rejection) => {
            // A body that is not the schema is a bad request (400) like any invalid batch;
            // only size and media type keep their own status.
            let status = match rejection.status() {
                s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
                _ => StatusCode::BAD_REQUEST,
            };
            return error(status, PublicError::from(FieldError::new("body", rejection.body_text())));
        }
    };
    let activity = match check_batch(body.events, None) {
        Ok(events) => events,
        Err(fields) => return invalid(fields, "; nothing was stored"),
    };
    let batch = Batch { activity, ..Batch::default() };
    match state.0.warehouse.ingest(&batch, unix_ms()).await {
        Ok(counts) => (StatusCode::ACCEPTED, Json(counts)).into_response(),
        Err(err) => {
            tracing::warn!(error = %err, "storing activity events failed");
            error(StatusCode::SERVICE_UNAVAILABLE, PublicError::unavailable("the warehouse"))
        }
    }
}

/// The parameters of a report request, checked.
#[derive(Debug, PartialEq)]
pub struct ReportQuery {
    /// Days and bucket.
    pub range: Range,
    /// CSV instead of JSON.
    pub csv: bool,
    /// The table to send as CSV.
    pub table: Option<String>,
    /// Top movies of this genre only.
    pub genre: Option<String>,
    /// Top movies per bucket (1..=100).
    pub n: i64,
}

/// Parses report parameters; every bad, unknown or repeated one is named. `today` is the
/// default `to`; `from` defaults to 29 days before `to`.
pub fn parse_report_query(
    pairs: &[(String, String)],
    today: i32,
    accept_csv: bool,
) -> Result<ReportQuery, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut seen: HashMap<&str, &str> = HashMap::new();
    for (name, value) in pairs {
        match name.as_str() {
            "from" | "to" | "bucket" | "format" | "table" | "genre" | "n" => {
                if seen.insert(name, value).is_some() {
                    errors.push(FieldError::new(name.clone(), "is given more than once"));
                }
            }
            other => errors.push(FieldError::new(other, "is not a parameter of reports")),
        }
    }
    let day = |name: &str, default: i32, errors: &mut Vec<FieldError>| match seen.get(name) {
        None => default,
        Some(text) => parse_day(text).unwrap_or_else(|| {
            errors.push(FieldError::new(name, "must be a date such as 2026-12-05"));
            default
        }),
    };
    let to = day("to", today, &mut errors);
    let from = day("from", to - 29, &mut errors);
    if from > to {
        errors.push(FieldError::new("from", "must not be after `to`"));
    } else if to - from >= MAX_RANGE_DAYS {
        errors.push(FieldError::new("from", format!("the range may span at most {MAX_RANGE_DAYS} days")));
    }
    let bucket = match seen.get("bucket") {
        None => Bucket::Day,
        Some(text) => Bucket::parse(text).unwrap_or_else(|| {
            errors.push(FieldError::new("bucket", "must be day, week or month"));
            Bucket::Day
        }),
    };
    let csv = match seen.get("format") {
        None => accept_csv,
        Some(&"csv") => true,
        Some(&"json") => false,
        Some(_) => {
            errors.push(FieldError::new("format", "must be json or csv"));
            false
        }
    };
    let n = match seen.get("n") {
        None => 10,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                errors.push(FieldError::new("n", "must be an integer from 1 to 100"));
                10
            }
        },
    };
    let genre = seen.get("genre").map(|g| (*g).to_owned());
    if let Some(g) = &genre
        && !contract::catalog::GENRES.contains(&g.as_str())
    {
        errors.push(FieldError::new(
            "genre",
            format!("must be one of {}", contract::catalog::GENRES.join(", ")),
        ));
    }
    if errors.is_empty() {
        Ok(ReportQuery {
            range: Range { from, to, bucket },
            csv,
            table: seen.get("table").map(|t| (*t).to_owned()),
            genre,
            n,
        })
    } else {
        Err(errors)
    }
}

async fn run_report<W: Warehouse>(
    warehouse: &W,
    name: &str,
    query: &ReportQuery,
) -> Option<Result<Report, WarehouseError>> {
    let range = query.range;
    Some(match name {
        "overview" => reports::overview(warehouse, range).await,
        "funnel" => reports::funnel(warehouse, range).await,
        "feedback" => reports::feedback(warehouse, range).await,
        "catalogue" => reports::catalogue(warehouse, range).await,
        "top-movies" => reports::top_movies(warehouse, range, query.genre.as_deref(), query.n).await,
        "performance" => reports::performance(warehouse, range).await,
        "models" => reports::models(warehouse, range).await,
        _ => return None,
    })
}

async fn report<W: Warehouse>(
    State(state): State<AppState<W>>,
    Path(name): Path<String>,
    Query(pairs): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let accept_csv =
        headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.starts_with("text/csv"));
    let today = warehouse::day_of_ms(unix_ms());
    let query = match parse_report_query(&pairs, today, accept_csv) {
        Ok(query) => query,
        Err(fields) => return invalid(fields, ""),
    };
    let started = std::time::Instant::now();
    let Some(result) = run_report(&*state.0.warehouse, &name, &query).await else {
        let message = format!("no report `{name}`; the reports are {}", reports::REPORTS.join(", "));
        return error(StatusCode::NOT_FOUND, PublicError::new(ErrorKind::NotFound, message));
    };
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            tracing::warn!(report = %name, error = %err, "a report failed");
            return error(StatusCode::SERVICE_UNAVAILABLE, PublicError::unavailable("the warehouse"));
        }
    };
    tracing::debug!(report = %name, ms = started.elapsed().as_secs_f64() * 1000.0, "report computed");
    if query.csv {
        let table = match &query.table {
            None => report.tables.first(),
            Some(name) => report.table(name),
        };
        let Some(table) = table else {
            let names: Vec<&str> = report.tables.iter().map(|t| t.name).collect();
            return invalid(
                vec![FieldError::new("table", format!("must be one of {}", names.join(", ")))],
                "",
            );
        };
        let disposition = format!("inline; filename=\"{}-{}.csv\"", report.report, table.name);
        return (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            table.csv(),
        )
            .into_response();
    }
    let tables: serde_json::Map<String, serde_json::Value> =
        report.tables.iter().map(|t| (t.name.to_owned(), serde_json::Value::from(t.objects()))).collect();
    Json(serde_json::json!({
        "report": report.report,
        "from": format_day(query.range.from),
        "to": format_day(query.range.to),
        "bucket": query.range.bucket,
        "tables": tables,
    }))
    .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// The routes over `warehouse`; `POST /api/v1/events` takes `ingest_token`.
pub fn router<W: Warehouse>(warehouse: Arc<W>, ingest_token: Secret, max_body_bytes: usize) -> Router {
    Router::new()
        .route("/api/v1/events", post(ingest::<W>))
        .route("/api/v1/reports/{report}", get(report::<W>))
        .route("/api/v1/openapi.json", get(openapi))
        .with_state(AppState(Arc::new(Shared { warehouse, ingest_token })))
        .layer(DefaultBodyLimit::max(max_body_bytes))
}

/// Ready while the warehouse answers and the consumer is not stuck on a failing batch.
struct Readiness<W> {
    warehouse: Arc<W>,
    consumer: ConsumerHealth,
}

impl<W: Warehouse> ReadinessProbe for Readiness<W> {
    async fn is_ready(&self) -> bool {
        self.consumer.is_healthy() && self.warehouse.ping().await
    }
}

/// Analytics, bound and not yet serving.
#[derive(Debug)]
pub struct Application {
    server: HttpServer,
    router: Router,
}

impl Application {
    /// Connects the warehouse (migrating it), binds the ports and prepares the consumer and the
    /// model-version follower (when configured).
    pub async fn build(config: &Config) -> Result<Self, AppError> {
        let warehouse = Arc::new(
            PgWarehouse::connect(config.warehouse_url.expose(), config.warehouse_max_connections).await?,
        );
        let health = ConsumerHealth::default();
        let mut server = HttpServer::bind(Service::Analytics, &config.service).await?;
        let metrics = IngestMetrics::register(server.registry());
        let probe = Readiness { warehouse: Arc::clone(&warehouse), consumer: health.clone() };
        server = server.ready_when(Duration::from_secs(2), Arc::new(probe));
        if config.kafka_brokers.trim().is_empty() {
            tracing::info!("no Kafka brokers: only POST /api/v1/events feeds the warehouse");
        } else {
            let settings = IngestSettings {
                brokers: config.kafka_brokers.clone(),
                group: config.kafka_group.clone(),
                topics: config.topics.clone(),
                max_batch: config.ingest_batch,
                linger: config.ingest_linger,
            };
            let warehouse = Arc::clone(&warehouse);
            server = server.task("consumer", move |stop| {
                crate::ingest::run(warehouse, settings, metrics, health, stop.stopped())
            });
        }
        if !config.serving_url.is_empty() {
            let (warehouse, url, every) =
                (Arc::clone(&warehouse), config.serving_url.clone(), config.model_poll);
            server = server.task("models", move |stop| {
                crate::models::follow_models(warehouse, url, every, stop.stopped())
            });
        }
        let router = router(warehouse, config.ingest_token.clone(), config.max_body_bytes);
        Ok(Self { server, router })
    }

    /// The bound API address.
    pub fn addr(&self) -> SocketAddr {
        self.server.api_addr()
    }

    /// The bound `/metrics` address.
    pub fn metrics_addr(&self) -> SocketAddr {
        self.server.metrics_addr()
    }

    /// Serves until `shutdown` completes.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), AppError> {
        Ok(self.server.serve(self.router, shutdown).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
    }

    #[test]
    fn report_parameters_default_and_name_each_bad_one() {
        let today = parse_day("2026-12-05").unwrap();
        let q = parse_report_query(&[], today, false).unwrap();
        assert_eq!(
            (format_day(q.range.from), format_day(q.range.to), q.range.bucket, q.n),
            ("2026-11-06".into(), "2026-12-05".into(), Bucket::Day, 10)
        );
        let q = parse_report_query(
            &pairs(&[("format", "csv"), ("bucket", "week"), ("genre", "Drama")]),
            today,
            false,
        )
        .unwrap();
        assert!(q.csv && q.range.bucket == Bucket::Week && q.genre.as_deref() == Some("Drama"));
        let bad = pairs(&[
            ("from", "2026-13-01"),
            ("bucket", "year"),
            ("n", "0"),
            ("n", "5"),
            ("colour", "red"),
            ("genre", "Sitcom"),
        ]);
        let fields: Vec<String> =
            parse_report_query(&bad, today, false).unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["n", "colour", "from", "bucket", "genre"], "a repeated parameter is named once");
        let backwards = pairs(&[("from", "2026-12-05"), ("to", "2026-12-01")]);
        assert_eq!(parse_report_query(&backwards, today, false).unwrap_err()[0].field, "from");
    }
}
