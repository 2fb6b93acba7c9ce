//! OpenTelemetry export: spans (a request, a chained call, an event
//! delivery, a cron run, a guest's database call) and the host's counters and gauges, sent over
//! OTLP/HTTP in protobuf to the collector `[telemetry] otlp_endpoint` (or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`) names. Spans carry the W3C trace context
//! the host already propagates, so a chained call is its caller's child and
//! an event's delivery the child of the request that published it.
//!
//! Recording never blocks a request: spans go into a bounded queue that one
//! task drains in batches; when the collector is slow or away, what does
//! not fit is dropped and counted (`folio_telemetry_dropped_spans_total`).

mod proto;

use std::collections::BTreeMap;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use crate::metrics::{Buckets, Metrics, Point, PointValue};
use crate::trace::TraceContext;
use proto::Writer;

/// `[telemetry]` in the runtime config.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// The collector's base URL (`/v1/traces` and `/v1/metrics` are added);
    /// none (and no `OTEL_EXPORTER_OTLP_ENDPOINT`) turns export off.
    pub otlp_endpoint: Option<String>,
    /// `service.name` of the resource (default `folio`, or `OTEL_SERVICE_NAME`).
    pub service_name: Option<String>,
    /// Extra request headers, e.g. a collector's API key.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// How often queued spans are sent (default 1000 ms).
    pub traces_interval_ms: Option<u64>,
    /// How often the counters and gauges are sent (default 10000 ms).
    pub metrics_interval_ms: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Internal = 1,
    Server = 2,
    Client = 3,
    Consumer = 5,
}

#[derive(Debug, Clone)]
pub enum Attribute {
    Text(String),
    Int(i64),
}

/// A finished span.
#[derive(Debug, Clone)]
pub struct Span {
    pub trace: TraceContext,
    pub name: String,
    pub kind: SpanKind,
    pub start: SystemTime,
    pub end: SystemTime,
    pub attributes: Vec<(&'static str, Attribute)>,
    /// The failure, for a span that ended in one.
    pub error: Option<String>,
}

const QUEUE: usize = 8192;
const BATCH: usize = 512;

static QUEUE_TX: OnceLock<mpsc::Sender<Span>> = OnceLock::new();
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Whether spans are being exported (so callers can skip building them).
pub fn enabled() -> bool {
    QUEUE_TX.get().is_some()
}

/// Queues a finished span; a no-op when export is off.
pub fn record(span: Span) {
    if !span.trace.sampled {
        return;
    }
    if let Some(tx) = QUEUE_TX.get()
        && tx.try_send(span).is_err()
    {
        DROPPED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Records a span that ends now, having lasted `elapsed`.
pub fn finished(
    trace: &TraceContext,
    name: impl FnOnce() -> String,
    kind: SpanKind,
    elapsed: Duration,
    attributes: impl FnOnce() -> Vec<(&'static str, Attribute)>,
    error: Option<String>,
) {
    if !enabled() {
        return;
    }
    let attributes = attributes();
    let end = SystemTime::now();
    record(Span {
        trace: trace.clone(),
        name: name(),
        kind,
        start: end.checked_sub(elapsed).unwrap_or(end),
        end,
        attributes,
        error,
    });
}

/// The attributes of a span that answered an HTTP request.
pub fn http_attributes(
    method: &http::Method,
    path: &str,
    route: &str,
    status: u16,
    component: &str,
) -> Vec<(&'static str, Attribute)> {
    vec![
        ("http.request.method", Attribute::Text(method.to_string())),
        ("url.path", Attribute::Text(path.to_string())),
        ("http.route", Attribute::Text(route.to_string())),
        ("http.response.status_code", Attribute::Int(status.into())),
        ("folio.component", Attribute::Text(component.to_string())),
    ]
}

/// A guest's call into an adapter: a client span, the child of its
/// instance's span, named `{capability} {operation}`.
fn adapter_span(call: folio_observe::Call<'_>) {
    let site = call.site;
    let trace = TraceContext::from_header(Some(site.traceparent));
    finished(
        &trace,
        || format!("{} {}", site.capability, site.operation),
        SpanKind::Client,
        call.elapsed,
        || {
            let mut attributes = vec![
                ("folio.capability", Attribute::Text(site.capability.into())),
                ("folio.system", Attribute::Text(site.system.into())),
            ];
            if matches!(site.capability, "sql" | "key-value") {
                attributes.push(("db.system.name", Attribute::Text(site.system.into())));
                attributes.push(("db.operation.name", Attribute::Text(site.operation.into())));
            }
            if let Some(target) = site.target {
                attributes.push(("folio.target", Attribute::Text(target.into())));
            }
            if let Some(statement) = site.statement {
                // Statements carry `$n` placeholders, never the values.
                let text: String = statement.chars().take(300).collect();
                attributes.push(("db.query.text", Attribute::Text(text)));
            }
            attributes
        },
        call.error,
    );
}

/// Spans that did not fit the queue.
pub fn dropped_spans() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The running exporter; [`Exporter::shutdown`] sends what is queued.
pub struct Exporter {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Exporter {
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}

/// Starts exporting when a collector is configured; `env` reads the
/// standard `OTEL_*` variables.
pub fn start(
    config: &TelemetryConfig,
    metrics: Metrics,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<Exporter>> {
    let Some(endpoint) = config
        .otlp_endpoint
        .clone()
        .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
        .filter(|e| !e.trim().is_empty())
    else {
        return Ok(None);
    };
    let endpoint: http::Uri = endpoint
        .trim_end_matches('/')
        .parse()
        .map_err(|e| anyhow::anyhow!("[telemetry] otlp_endpoint `{endpoint}`: {e}"))?;
    if !matches!(endpoint.scheme_str(), Some("http" | "https")) || endpoint.host().is_none() {
        anyhow::bail!("[telemetry] otlp_endpoint must be an http(s) URL, not `{endpoint}`");
    }
    let service = config
        .service_name
        .clone()
        .or_else(|| env("OTEL_SERVICE_NAME"))
        .unwrap_or_else(|| "folio".into());
    let resource = Resource {
        service,
        host: crate::manifest::host_id(),
    };
    let (tx, rx) = mpsc::channel(QUEUE);
    if QUEUE_TX.set(tx).is_err() {
        anyhow::bail!("telemetry export was started twice");
    }
    folio_observe::observe_calls(adapter_span);
    let (stop, stopped) = watch::channel(false);
    let sender = Sender {
        endpoint,
        headers: config.headers.clone(),
    };
    let task = tokio::spawn(run(
        rx,
        stopped,
        sender,
        resource,
        metrics,
        Duration::from_millis(config.traces_interval_ms.unwrap_or(1000).max(10)),
        Duration::from_millis(config.metrics_interval_ms.unwrap_or(10_000).max(100)),
    ));
    Ok(Some(Exporter { stop, task }))
}

struct Resource {
    service: String,
    host: String,
}

async fn run(
    mut rx: mpsc::Receiver<Span>,
    mut stopped: watch::Receiver<bool>,
    sender: Sender,
    resource: Resource,
    metrics: Metrics,
    traces_every: Duration,
    metrics_every: Duration,
) {
    let started = SystemTime::now();
    let mut batch = Vec::with_capacity(BATCH);
    let mut traces_tick = tokio::time::interval(traces_every);
    let mut metrics_tick = tokio::time::interval(metrics_every);
    loop {
        tokio::select! {
            Some(span) = rx.recv() => {
                batch.push(span);
                if batch.len() >= BATCH {
                    sender.send("/v1/traces", encode_spans(&resource, &batch)).await;
                    batch.clear();
                }
            }
            _ = traces_tick.tick() => {
                if !batch.is_empty() {
                    sender.send("/v1/traces", encode_spans(&resource, &batch)).await;
                    batch.clear();
                }
            }
            _ = metrics_tick.tick() => {
                sender.send("/v1/metrics", encode_metrics(&resource, &metrics.points(), started)).await;
            }
            _ = stopped.changed() => break,
        }
    }
    while let Ok(span) = rx.try_recv() {
        batch.push(span);
    }
    if !batch.is_empty() {
        sender
            .send("/v1/traces", encode_spans(&resource, &batch))
            .await;
    }
    sender
        .send(
            "/v1/metrics",
            encode_metrics(&resource, &metrics.points(), started),
        )
        .await;
}

struct Sender {
    endpoint: http::Uri,
    headers: BTreeMap<String, String>,
}

impl Sender {
    /// One POST; a failure is logged and the batch dropped (telemetry never
    /// holds the host up).
    async fn send(&self, path: &str, body: Vec<u8>) {
        let url = format!("{}{path}", self.endpoint);
        match tokio::time::timeout(Duration::from_secs(10), self.post(&url, body)).await {
            Ok(Ok(status)) if (200..300).contains(&status) => {}
            Ok(Ok(status)) => tracing::warn!(%url, status, "the OTLP collector refused a batch"),
            Ok(Err(e)) => tracing::warn!(%url, error = %e, "the OTLP collector cannot be reached"),
            Err(_) => tracing::warn!(%url, "the OTLP collector did not answer in 10 s"),
        }
    }

    async fn post(&self, url: &str, body: Vec<u8>) -> anyhow::Result<u16> {
        let uri: http::Uri = url.parse()?;
        let host = uri.host().unwrap_or_default().to_string();
        let https = uri.scheme_str() == Some("https");
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let mut request = http::Request::post(uri.path())
            .header(
                http::header::HOST,
                uri.authority().map_or(host.clone(), |a| a.to_string()),
            )
            .header(http::header::CONTENT_TYPE, "application/x-protobuf");
        for (name, value) in &self.headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let request = request.body(Full::new(Bytes::from(body)))?;
        let tcp = tokio::net::TcpStream::connect((host.as_str(), port)).await?;
        let status = if https {
            let name =
                crate::outbound::tls_server_name(&host).map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let tls = crate::outbound::tls_connector().connect(name, tcp).await?;
            exchange(hyper_util::rt::TokioIo::new(tls), request).await?
        } else {
            exchange(hyper_util::rt::TokioIo::new(tcp), request).await?
        };
        Ok(status)
    }
}

async fn exchange<I>(io: I, request: http::Request<Full<Bytes>>) -> anyhow::Result<u16>
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut send, connection) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(connection);
    let response = send.send_request(request).await?;
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await;
    Ok(status)
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

fn key_value(w: &mut Writer, field: u32, key: &str, value: &Attribute) {
    // KeyValue { key = 1; value = 2 }, AnyValue { string_value = 1; int_value = 3 }
    w.message(field, |kv| {
        kv.string(1, key);
        kv.message(2, |v| match value {
            Attribute::Text(s) => v.string(1, s),
            Attribute::Int(n) => v.int(3, *n),
        });
    });
}

fn resource(w: &mut Writer, resource: &Resource) {
    // Resource { attributes = 1 }
    w.message(1, |r| {
        key_value(
            r,
            1,
            "service.name",
            &Attribute::Text(resource.service.clone()),
        );
        key_value(r, 1, "host.name", &Attribute::Text(resource.host.clone()));
    });
}

fn scope(w: &mut Writer) {
    // InstrumentationScope { name = 1; version = 2 }
    w.message(1, |s| {
        s.string(1, "folio");
        s.string(2, env!("CARGO_PKG_VERSION"));
    });
}

/// ExportTraceServiceRequest { resource_spans = 1 } with one ResourceSpans
/// { resource = 1; scope_spans = 2 } and one ScopeSpans { scope = 1; spans = 2 }.
fn encode_spans(res: &Resource, spans: &[Span]) -> Vec<u8> {
    let mut w = Writer::new();
    w.message(1, |rs| {
        resource(rs, res);
        rs.message(2, |ss| {
            scope(ss);
            for span in spans {
                ss.message(2, |s| encode_span(s, span));
            }
        });
    });
    w.finish()
}

/// Span { trace_id = 1; span_id = 2; parent_span_id = 4; name = 5; kind = 6;
/// start_time_unix_nano = 7; end_time_unix_nano = 8; attributes = 9; status = 15 }
fn encode_span(w: &mut Writer, span: &Span) {
    let decode = |h: &str| hex::decode(h).unwrap_or_default();
    w.bytes(1, &decode(&span.trace.trace_id));
    w.bytes(2, &decode(&span.trace.span_id));
    if let Some(parent) = &span.trace.parent_span_id {
        w.bytes(4, &decode(parent));
    }
    w.string(5, &span.name);
    w.uint(6, span.kind as u64);
    w.fixed64(7, nanos(span.start));
    w.fixed64(8, nanos(span.end));
    for (key, value) in &span.attributes {
        key_value(w, 9, key, value);
    }
    // Status { message = 2; code = 3 } (1 ok, 2 error)
    w.message(15, |s| match &span.error {
        Some(message) => {
            s.string(2, message);
            s.uint(3, 2);
        }
        None => s.uint(3, 1),
    });
}

/// HistogramDataPoint { start_time_unix_nano = 2; time_unix_nano = 3;
/// count = 4; sum = 5; bucket_counts = 6 (packed fixed64); explicit_bounds
/// = 7 (packed double); attributes = 9 }
fn histogram_point(w: &mut Writer, p: &Point, b: &Buckets, start: u64, now: u64) {
    w.fixed64(2, start);
    w.fixed64(3, now);
    w.fixed64(4, b.count);
    w.double(5, b.sum);
    let counts: Vec<u8> = b.counts.iter().flat_map(|c| c.to_le_bytes()).collect();
    w.bytes(6, &counts);
    let bounds: Vec<u8> = b.bounds.iter().flat_map(|x| x.to_le_bytes()).collect();
    w.bytes(7, &bounds);
    for (key, value) in &p.attributes {
        key_value(w, 9, key, &Attribute::Text(value.clone()));
    }
}

/// ExportMetricsServiceRequest { resource_metrics = 1 }: ResourceMetrics
/// { resource = 1; scope_metrics = 2 }, ScopeMetrics { scope = 1; metrics = 2 }.
fn encode_metrics(res: &Resource, points: &[Point], started: SystemTime) -> Vec<u8> {
    let now = nanos(SystemTime::now());
    let start = nanos(started);
    let mut by_name: BTreeMap<&str, Vec<&Point>> = BTreeMap::new();
    for p in points {
        by_name.entry(p.name).or_default().push(p);
    }
    let mut w = Writer::new();
    w.message(1, |rm| {
        resource(rm, res);
        rm.message(2, |sm| {
            scope(sm);
            for (name, points) in &by_name {
                let first = points[0];
                // Metric { name = 1; description = 2; unit = 3; gauge = 5; sum = 7 }
                sm.message(2, |m| {
                    m.string(1, name);
                    m.string(2, first.description);
                    m.string(3, first.unit);
                    let data_points = |d: &mut Writer| {
                        for p in points {
                            // NumberDataPoint { start_time_unix_nano = 2; time_unix_nano = 3;
                            // as_double = 4; as_int = 6; attributes = 7 }
                            d.message(1, |dp| {
                                dp.fixed64(2, start);
                                dp.fixed64(3, now);
                                match &p.value {
                                    PointValue::Double(v) => dp.double(4, *v),
                                    PointValue::Int(v) => dp.fixed64(6, *v as u64),
                                    PointValue::Histogram(_) => {}
                                }
                                for (key, value) in &p.attributes {
                                    key_value(dp, 7, key, &Attribute::Text(value.clone()));
                                }
                            });
                        }
                    };
                    if matches!(first.value, PointValue::Histogram(_)) {
                        // Histogram { data_points = 1; aggregation_temporality = 2 (cumulative) }
                        m.message(9, |h| {
                            for p in points {
                                if let PointValue::Histogram(b) = &p.value {
                                    h.message(1, |dp| histogram_point(dp, p, b, start, now));
                                }
                            }
                            h.uint(2, 2);
                        });
                    } else if first.monotonic {
                        // Sum { data_points = 1; aggregation_temporality = 2 (cumulative); is_monotonic = 3 }
                        m.message(7, |s| {
                            data_points(s);
                            s.uint(2, 2);
                            s.boolean(3, true);
                        });
                    } else {
                        // Gauge { data_points = 1 }
                        m.message(5, data_points);
                    }
                });
            }
        });
    });
    w.finish()
}
