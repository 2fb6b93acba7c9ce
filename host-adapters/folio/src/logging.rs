//! One JSON object per line on stdout, with the seed blueprint's fields:
//! timestamp, level, service, traceId, spanId, requestId, message, data.

use std::io::Write;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Fields lifted to the top level of the line; everything else goes under `data`.
const TOP_LEVEL: &[&str] = &["service", "traceId", "spanId", "requestId", "userId"];

pub fn init() {
    let filter = EnvFilter::try_from_env("FOLIO_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,cranelift=warn,wasmtime=warn,hyper=warn"));
    let _ = tracing_subscriber::registry()
        .with(JsonLines.with_filter(filter))
        .try_init();
}

struct JsonLines;

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let mut fields = FieldsVisitor::default();
        event.record(&mut fields);
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::String(now_rfc3339()));
        line.insert(
            "level".into(),
            Value::String(event.metadata().level().as_str().to_ascii_lowercase()),
        );
        let service = fields
            .top
            .remove("service")
            .unwrap_or_else(|| "folio".into());
        line.insert("service".into(), service);
        for (k, v) in std::mem::take(&mut fields.top) {
            line.insert(k, v);
        }
        line.insert("message".into(), Value::String(fields.message));
        if event.metadata().level() <= &tracing::Level::WARN
            && !event.metadata().target().starts_with("folio")
        {
            fields
                .data
                .insert("target".into(), event.metadata().target().into());
        }
        if !fields.data.is_empty() {
            line.insert("data".into(), Value::Object(fields.data));
        }
        let mut text = Value::Object(line).to_string();
        text.push('\n');
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
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

fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    now.format(&format).unwrap_or_default()
}
