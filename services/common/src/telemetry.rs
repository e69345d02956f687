//! Logging set-up: `tracing`, filtered by `RUST_LOG` (default `info`), as text on stderr for
//! people or as JSON lines on stdout for the log pipeline.
//!
//! JSON lines follow one ECS-style schema in every service, so one search follows a request
//! through the gateway and every service it called: `@timestamp` (RFC 3339, UTC), `log.level`,
//! `log.logger` (the module), `service.name`, `message`, then the fields of the enclosing spans
//! (outermost first; `request_id`, `http.request.method`, `url.path`, `rpc.method`) and of the
//! event (`http.response.status_code`, `event.duration` in nanoseconds, …; a field named
//! `error` becomes `error.message`). The index template in `k8s/logging/` maps these names.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

use crate::settings::LogFormat;

/// Installs the global subscriber for `service` (its `service.name` in JSON lines). Call once
/// at the top of `main`; a second call is a no-op. Text logs are coloured only when stderr is
/// a terminal.
pub fn init_logging(service: &'static str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let _already_set = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stdout)
            .fmt_fields(JsonFields::new())
            .event_format(EcsFormat { service })
            .try_init(),
    };
}

/// Formats each event as one ECS-style JSON object (the schema in the module docs).
#[derive(Clone, Copy, Debug)]
pub struct EcsFormat {
    /// `service.name` of every line.
    pub service: &'static str,
}

impl<S, N> FormatEvent<S, N> for EcsFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        let mut timestamp = String::new();
        SystemTime.format_time(&mut Writer::new(&mut timestamp))?;
        let meta = event.metadata();
        line.insert("@timestamp".into(), timestamp.into());
        line.insert("log.level".into(), meta.level().as_str().into());
        line.insert("log.logger".into(), meta.target().into());
        line.insert("service.name".into(), self.service.into());
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                let Some(fields) = extensions.get::<FormattedFields<N>>() else { continue };
                if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields) {
                    line.extend(fields.into_iter().map(|(name, value)| (ecs_name(&name), value)));
                }
            }
        }
        event.record(&mut FieldsInto(&mut line));
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// The ECS name of a field: `error` is `error.message`; others are kept.
fn ecs_name(name: &str) -> String {
    match name {
        "error" => "error.message".to_owned(),
        other => other.to_owned(),
    }
}

/// Records an event's fields into the line's object.
struct FieldsInto<'a>(&'a mut Map<String, Value>);

impl Visit for FieldsInto<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(ecs_name(field.name()), value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(ecs_name(field.name()), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(ecs_name(field.name()), value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(ecs_name(field.name()), value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(ecs_name(field.name()), value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0.insert(ecs_name(field.name()), format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::Captured;

    #[test]
    fn lines_carry_the_ecs_fields_and_the_spans_fields() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .fmt_fields(JsonFields::new())
            .event_format(EcsFormat { service: "demo" })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", request_id = "req-7", url.path = "/x");
            let _entered = span.enter();
            tracing::warn!(http.response.status_code = 503_u64, error = "down", "upstream \"unavailable\"");
        });
        let text = captured.text();
        let line: Value = serde_json::from_str(text.trim_end()).unwrap();
        assert_eq!(line["log.level"], "WARN");
        assert_eq!(line["service.name"], "demo");
        assert_eq!(line["message"], "upstream \"unavailable\"");
        assert_eq!(line["request_id"], "req-7");
        assert_eq!(line["url.path"], "/x");
        assert_eq!(line["http.response.status_code"], 503);
        assert_eq!(line["error.message"], "down");
        let timestamp = line["@timestamp"].as_str().unwrap();
        assert!(
            timestamp.len() >= 20 && timestamp.ends_with('Z') && timestamp.as_bytes()[10] == b'T',
            "{timestamp}"
        );
        assert_eq!(text.lines().count(), 1);
    }
}
