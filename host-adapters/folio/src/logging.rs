//! One log line per event on stdout: a JSON object with the seed blueprint's
//! fields (timestamp, level, service, traceId, spanId, requestId, userId,
//! message, data), or a short human-readable line when stdout is a terminal.

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Fields lifted to the top level of the line; everything else goes under `data`.
const TOP_LEVEL: &[&str] = &["service", "traceId", "spanId", "requestId", "userId"];

/// The `service` of events that name neither a service nor a component.
const HOST_SERVICE: &str = "folio";

/// Data fields a human line shows unlabelled, in this order, as in
/// `GET /api/v1/content 200 3.1ms`.
const REQUEST_SUMMARY: &[&str] = &["method", "path", "status", "durationMs"];

/// Top-level fields a human line shows as `key=value` (trace and span ids are
/// left to the JSON lines: they are long and rarely read on a terminal).
const HUMAN_TOP_LEVEL: &[&str] = &["requestId", "userId"];

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human when stdout is a terminal, JSON otherwise.
    #[default]
    Auto,
    Json,
    Human,
}

impl LogFormat {
    fn style(self) -> LineStyle {
        match self {
            LogFormat::Json => LineStyle::Json,
            LogFormat::Human => LineStyle::Human,
            LogFormat::Auto if std::io::stdout().is_terminal() => LineStyle::Human,
            LogFormat::Auto => LineStyle::Json,
        }
    }
}

/// Installs the global subscriber, filtered by `FOLIO_LOG` (an `EnvFilter`
/// directive such as `debug` or `info,folio::guest=warn`).
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_env("FOLIO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,cranelift=warn,wasmtime=warn,hyper=warn"));
    let _ = tracing_subscriber::registry()
        .with(LogLines::new(format.style(), std::io::stdout).with_filter(filter))
        .try_init();
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineStyle {
    Json,
    Human,
}

struct LogLines<W> {
    style: LineStyle,
    out: W,
}

impl<W> LogLines<W> {
    fn new(style: LineStyle, out: W) -> Self {
        LogLines { style, out }
    }
}

impl<S, W> Layer<S> for LogLines<W>
where
    S: Subscriber,
    W: for<'a> MakeWriter<'a> + 'static,
{
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let record = Record::from_event(event, SystemTime::now());
        let mut text = match self.style {
            LineStyle::Json => record.json_line(),
            LineStyle::Human => record.human_line(),
        };
        text.push('\n');
        let _ = self.out.make_writer().write_all(text.as_bytes());
    }
}

/// One event's fields, sorted into what both line styles print.
struct Record {
    time: SystemTime,
    level: Level,
    service: Value,
    /// `TOP_LEVEL` fields other than `service`, in the order they were recorded.
    top: Map<String, Value>,
    message: String,
    data: Map<String, Value>,
}

impl Record {
    fn from_event(event: &Event<'_>, time: SystemTime) -> Record {
        let mut fields = FieldsVisitor::default();
        event.record(&mut fields);
        let metadata = event.metadata();
        if metadata.level() <= &Level::WARN && !metadata.target().starts_with("folio") {
            fields
                .data
                .insert("target".into(), metadata.target().into());
        }
        Record::new(time, *metadata.level(), fields)
    }

    fn new(time: SystemTime, level: Level, mut fields: FieldsVisitor) -> Record {
        Record {
            time,
            level,
            service: service_of(&mut fields.top, &fields.data),
            top: fields.top,
            message: fields.message,
            data: fields.data,
        }
    }

    fn json_line(&self) -> String {
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(rfc3339_utc(self.time)));
        line.insert(
            "level".into(),
            Value::String(self.level.as_str().to_ascii_lowercase()),
        );
        line.insert("service".into(), self.service.clone());
        for (name, value) in &self.top {
            line.insert(name.clone(), value.clone());
        }
        line.insert("message".into(), Value::String(self.message.clone()));
        if !self.data.is_empty() {
            line.insert("data".into(), Value::Object(self.data.clone()));
        }
        Value::Object(line).to_string()
    }

    /// `12:03:04.123  INFO content  request handled  GET /x 200 3.1ms  route=/x requestId=ab12`
    fn human_line(&self) -> String {
        let service = plain_text(&self.service);
        let mut line = format!(
            "{} {:>5} {service}  {}",
            local_clock_time(self.time),
            self.level.as_str(),
            self.message.replace('\n', "\\n"),
        );
        let summary: Vec<String> = REQUEST_SUMMARY
            .iter()
            .filter_map(|name| Some(summary_part(name, self.data.get(*name)?)))
            .collect();
        if !summary.is_empty() {
            line.push_str("  ");
            line.push_str(&summary.join(" "));
        }
        let repeats_service =
            |name: &str, value: &Value| name == "component" && plain_text(value) == service;
        let data = self.data.iter().filter(|(name, value)| {
            !(REQUEST_SUMMARY.contains(&name.as_str()) || repeats_service(name, value))
        });
        let top = self
            .top
            .iter()
            .filter(|(name, _)| HUMAN_TOP_LEVEL.contains(&name.as_str()));
        let labelled: Vec<String> = data
            .chain(top)
            .map(|(name, value)| format!("{name}={}", labelled_value(value)))
            .collect();
        if !labelled.is_empty() {
            line.push_str("  ");
            line.push_str(&labelled.join(" "));
        }
        line
    }
}

/// The event's `service` field, else its non-empty `component` field, else
/// the host's own name.
fn service_of(top: &mut Map<String, Value>, data: &Map<String, Value>) -> Value {
    let named = |value: &Value| !matches!(value, Value::String(s) if s.is_empty());
    match top.remove("service") {
        Some(service) if named(&service) => service,
        _ => match data.get("component") {
            Some(component) if named(component) => component.clone(),
            _ => Value::String(HOST_SERVICE.into()),
        },
    }
}

fn summary_part(name: &str, value: &Value) -> String {
    match (name, value.as_f64()) {
        ("durationMs", Some(ms)) => format!("{ms:.1}ms"),
        _ => plain_text(value),
    }
}

fn plain_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A string as is when that reads unambiguously in `key=value`, else quoted.
fn labelled_value(value: &Value) -> String {
    match value {
        Value::String(s)
            if !s.is_empty()
                && !s
                    .chars()
                    .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=') =>
        {
            s.clone()
        }
        other => other.to_string(),
    }
}

#[derive(Default)]
struct FieldsVisitor {
    message: String,
    top: Map<String, Value>,
    data: Map<String, Value>,
}

impl FieldsVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        let name = field.name();
        if name == "message" {
            self.message = match value {
                Value::String(s) => s,
                other => other.to_string(),
            };
        } else if TOP_LEVEL.contains(&name) {
            self.top.insert(name.to_string(), value);
        } else {
            self.data.insert(name.to_string(), value);
        }
    }
}

impl Visit for FieldsVisitor {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, Value::String(format!("{value:?}")));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
}

fn rfc3339_utc(time: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(time)
        .format(&format)
        .unwrap_or_default()
}

fn local_clock_time(time: SystemTime) -> String {
    chrono::DateTime::<chrono::Local>::from(time)
        .format("%H:%M:%S%.3f")
        .to_string()
}

/// Runs `emit` with a subscriber that writes `style` lines into a buffer
/// instead of stdout, and returns those lines.
#[cfg(test)]
pub(crate) fn capture_lines(style: LogFormat, emit: impl FnOnce()) -> Vec<String> {
    use std::sync::{Arc, Mutex, PoisonError};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);
    impl Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber =
        tracing_subscriber::registry().with(LogLines::new(style.style(), move || writer.clone()));
    tracing::subscriber::with_default(subscriber, emit);
    let bytes = buffer.0.lock().unwrap().clone();
    String::from_utf8(bytes)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(top: &[(&str, Value)], message: &str, data: &[(&str, Value)]) -> FieldsVisitor {
        let map = |pairs: &[(&str, Value)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect()
        };
        FieldsVisitor {
            message: message.into(),
            top: map(top),
            data: map(data),
        }
    }

    fn service(top: &[(&str, Value)], data: &[(&str, Value)]) -> Value {
        Record::new(SystemTime::UNIX_EPOCH, Level::INFO, fields(top, "", data)).service
    }

    #[test]
    fn service_is_the_service_field_else_the_component_else_folio() {
        let component = || ("component", Value::from("content"));
        assert_eq!(
            service(&[("service", "fixtures".into())], &[component()]),
            "fixtures"
        );
        assert_eq!(service(&[], &[component()]), "content");
        assert_eq!(service(&[], &[("component", "".into())]), "folio");
        assert_eq!(service(&[("service", "".into())], &[]), "folio");
        assert_eq!(service(&[], &[]), "folio");
    }

    #[test]
    fn the_service_field_is_not_repeated_in_the_line() {
        let record = Record::new(
            SystemTime::UNIX_EPOCH,
            Level::WARN,
            fields(
                &[("service", "fixtures".into()), ("requestId", "r1".into())],
                "boom",
                &[("stream", "stderr".into())],
            ),
        );
        let line: Value = serde_json::from_str(&record.json_line()).unwrap();
        assert_eq!(
            line,
            serde_json::json!({
                "timestamp": "1970-01-01T00:00:00.000Z",
                "level": "warn",
                "service": "fixtures",
                "requestId": "r1",
                "message": "boom",
                "data": { "stream": "stderr" },
            })
        );
    }

    /// The human line after its clock time, which is in the local time zone.
    fn human_line_after_clock(record: &Record) -> String {
        let line = record.human_line();
        let (clock, rest) = line.split_at(12);
        assert_eq!(clock.len(), 12, "{line}");
        assert_eq!(&clock[2..3], ":", "{line}");
        assert_eq!(&clock[8..9], ".", "{line}");
        rest.to_string()
    }

    #[test]
    fn a_handled_request_reads_as_a_summary_then_key_values() {
        let record = Record::new(
            SystemTime::now(),
            Level::INFO,
            fields(
                &[
                    ("requestId", "ab12".into()),
                    ("traceId", "4bf92f3577b34da6a3ce929d0e0e4736".into()),
                    ("spanId", "00f067aa0ba902b7".into()),
                ],
                "request handled",
                &[
                    ("method", "GET".into()),
                    ("path", "/api/v1/content".into()),
                    ("route", "/api/v1/content/...".into()),
                    ("component", "content".into()),
                    ("status", 200.into()),
                    ("durationMs", 3.1234.into()),
                ],
            ),
        );
        assert_eq!(
            human_line_after_clock(&record),
            "  INFO content  request handled  GET /api/v1/content 200 3.1ms  \
             route=/api/v1/content/... requestId=ab12"
        );
    }

    #[test]
    fn levels_align_and_awkward_values_are_quoted() {
        let record = |level, data: &[(&str, Value)]| {
            Record::new(SystemTime::now(), level, fields(&[], "two\nlines", data))
        };
        assert_eq!(
            human_line_after_clock(&record(Level::ERROR, &[])),
            " ERROR folio  two\\nlines"
        );
        assert_eq!(
            human_line_after_clock(&record(
                Level::WARN,
                &[
                    ("error", "disk full".into()),
                    ("empty", "".into()),
                    ("attempt", 3.into()),
                    ("retry", true.into()),
                ]
            )),
            "  WARN folio  two\\nlines  error=\"disk full\" empty=\"\" attempt=3 retry=true"
        );
    }

    #[test]
    fn events_become_lines_of_the_chosen_format() {
        let emit = || tracing::info!(component = "media", requestId = "r9", count = 2, "stored");
        let json = capture_lines(LogFormat::Json, emit);
        assert_eq!(json.len(), 1);
        let line: Value = serde_json::from_str(&json[0]).unwrap();
        assert_eq!(line["service"], "media");
        assert_eq!(line["requestId"], "r9");
        assert_eq!(line["message"], "stored");
        assert_eq!(
            line["data"],
            serde_json::json!({ "component": "media", "count": 2 })
        );

        let human = capture_lines(LogFormat::Human, emit);
        assert_eq!(human.len(), 1);
        assert!(
            human[0].ends_with("  INFO media  stored  count=2 requestId=r9"),
            "{}",
            human[0]
        );
    }
}
