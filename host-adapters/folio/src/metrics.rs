//! Prometheus metrics: RED per route and component, instantiation time,
//! instances in flight. Rendered in the text exposition format.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A group idle this long has no lag.
const LAG_IDLE: Duration = Duration::from_secs(10);

const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
const INSTANTIATION_BUCKETS: &[f64] = &[
    0.000_002_5,
    0.000_005,
    0.000_007_5,
    0.000_01,
    0.000_015,
    0.000_02,
    0.000_03,
    0.000_05,
    0.000_075,
    0.000_1,
    0.000_25,
    0.000_5,
    0.001,
    0.005,
    0.025,
];

/// Transcode jobs take seconds to many minutes.
const TRANSCODE_BUCKETS: &[f64] = &[
    0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0,
];

/// End-to-end event latency: from publish (the event's `time`) to the
/// worker's handler returning success.
const DELIVERY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.35, 0.5, 0.75, 1.0,
    2.5, 5.0, 10.0, 30.0, 60.0,
];

#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    durations: Mutex<BTreeMap<(String, String), Histogram>>,
    errors: Mutex<BTreeMap<(String, String, String), u64>>,
    instantiations: Mutex<BTreeMap<String, Histogram>>,
    in_flight: AtomicI64,
    /// (component, topic, outcome) → count.
    events: Mutex<BTreeMap<(String, String, &'static str), u64>>,
    deliveries: Mutex<BTreeMap<(String, String), Histogram>>,
    /// (component, group) → how long the last event started had waited
    /// since its publish, and when it started.
    lags: Mutex<BTreeMap<(String, String), (f64, Instant)>>,
    relays: Mutex<BTreeMap<String, Arc<folio_events::relay::RelayStats>>>,
    /// (component, outcome) → count, for `[[trigger.cron]]` runs.
    cron_runs: Mutex<BTreeMap<(String, &'static str), u64>>,
    cron_durations: Mutex<BTreeMap<String, Histogram>>,
    /// (component, outcome) → count, for transcode jobs.
    transcode_jobs: Mutex<BTreeMap<(String, &'static str), u64>>,
    transcode_durations: Mutex<BTreeMap<String, Histogram>>,
    /// (component, policy) → requests refused by a rate limit.
    rate_limited: Mutex<BTreeMap<(String, String), u64>>,
    /// destination → (state, times it opened).
    circuits: Mutex<BTreeMap<String, (&'static str, u64)>>,
}

/// One counter, gauge or histogram with its labels, for OTLP export.
#[derive(Debug, Clone)]
pub struct Point {
    pub name: &'static str,
    pub description: &'static str,
    pub unit: &'static str,
    /// A cumulative, monotonic sum (a counter); else a gauge (histograms
    /// are cumulative).
    pub monotonic: bool,
    pub attributes: Vec<(&'static str, String)>,
    pub value: PointValue,
}

#[derive(Debug, Clone)]
pub enum PointValue {
    Int(i64),
    Double(f64),
    Histogram(Buckets),
}

/// A histogram as OTLP carries it: `counts[i]` values at most `bounds[i]`
/// (and above the bound before), one count more for values above the last.
#[derive(Debug, Clone)]
pub struct Buckets {
    pub bounds: &'static [f64],
    pub counts: Vec<u64>,
    pub sum: f64,
    pub count: u64,
}

#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct RequestKey {
    route: String,
    component: String,
    method: String,
    status: u16,
}

struct Histogram {
    bounds: &'static [f64],
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Histogram {
            bounds,
            counts: vec![0; bounds.len()],
            sum: 0.0,
            count: 0,
        }
    }

    fn observe(&mut self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i] += 1;
        }
        self.sum += value;
        self.count += 1;
    }

    fn buckets(&self) -> Buckets {
        let mut counts = self.counts.clone();
        counts.push(self.count - self.counts.iter().sum::<u64>());
        Buckets {
            bounds: self.bounds,
            counts,
            sum: self.sum,
            count: self.count,
        }
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

/// Decrements the in-flight gauge when the instance is gone.
pub struct InFlight(Metrics);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn observe_request(
        &self,
        route: &str,
        component: &str,
        method: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let key = RequestKey {
            route: route.to_string(),
            component: component.to_string(),
            method: method.to_string(),
            status,
        };
        *self.inner.requests.lock().unwrap().entry(key).or_default() += 1;
        self.inner
            .durations
            .lock()
            .unwrap()
            .entry((route.to_string(), component.to_string()))
            .or_insert_with(|| Histogram::new(REQUEST_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    pub fn observe_error(&self, route: &str, component: &str, kind: &str) {
        *self
            .inner
            .errors
            .lock()
            .unwrap()
            .entry((route.to_string(), component.to_string(), kind.to_string()))
            .or_default() += 1;
    }

    pub fn observe_instantiation(&self, component: &str, elapsed: Duration) {
        self.inner
            .instantiations
            .lock()
            .unwrap()
            .entry(component.to_string())
            .or_insert_with(|| Histogram::new(INSTANTIATION_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// `outcome` is `handled`, `retried` or `dead_lettered`.
    pub fn observe_event(&self, component: &str, topic: &str, outcome: &'static str) {
        *self
            .inner
            .events
            .lock()
            .unwrap()
            .entry((component.to_string(), topic.to_string(), outcome))
            .or_default() += 1;
    }

    /// The counters and gauges as OTLP exports them.
    pub fn points(&self) -> Vec<Point> {
        let counter = |name, description, attributes, value: u64| Point {
            name,
            description,
            unit: "1",
            monotonic: true,
            attributes,
            value: PointValue::Int(value as i64),
        };
        let mut out = Vec::new();
        for (k, v) in self.inner.requests.lock().unwrap().iter() {
            out.push(counter(
                "folio_http_requests_total",
                "HTTP requests answered, by route, component, method and status",
                vec![
                    ("http.route", k.route.clone()),
                    ("folio.component", k.component.clone()),
                    ("http.request.method", k.method.clone()),
                    ("http.response.status_code", k.status.to_string()),
                ],
                *v,
            ));
        }
        for ((component, topic, outcome), v) in self.inner.events.lock().unwrap().iter() {
            out.push(counter(
                "folio_events_total",
                "Events given to worker components, by outcome",
                vec![
                    ("folio.component", component.clone()),
                    ("messaging.destination.name", topic.clone()),
                    ("outcome", outcome.to_string()),
                ],
                *v,
            ));
        }
        for ((component, outcome), v) in self.inner.cron_runs.lock().unwrap().iter() {
            out.push(counter(
                "folio_cron_runs_total",
                "Scheduled runs of cron-triggered components, by outcome",
                vec![
                    ("folio.component", component.clone()),
                    ("outcome", outcome.to_string()),
                ],
                *v,
            ));
        }
        let histogram = |name, description, attributes, h: &Histogram| Point {
            name,
            description,
            unit: "s",
            monotonic: false,
            attributes,
            value: PointValue::Histogram(h.buckets()),
        };
        for ((route, component), h) in self.inner.durations.lock().unwrap().iter() {
            out.push(histogram(
                "folio_http_request_duration_seconds",
                "Time from request received to response headers sent",
                vec![
                    ("http.route", route.clone()),
                    ("folio.component", component.clone()),
                ],
                h,
            ));
        }
        for (component, h) in self.inner.instantiations.lock().unwrap().iter() {
            out.push(histogram(
                "folio_instantiation_duration_seconds",
                "Time to create a fresh component instance",
                vec![("folio.component", component.clone())],
                h,
            ));
        }
        for ((component, topic), h) in self.inner.deliveries.lock().unwrap().iter() {
            out.push(histogram(
                "folio_event_delivery_seconds",
                "Time from an event's publish to its worker handling it",
                vec![
                    ("folio.component", component.clone()),
                    ("messaging.destination.name", topic.clone()),
                ],
                h,
            ));
        }
        for (component, h) in self.inner.cron_durations.lock().unwrap().iter() {
            out.push(histogram(
                "folio_cron_run_duration_seconds",
                "Time of one cron run",
                vec![("folio.component", component.clone())],
                h,
            ));
        }
        for (component, h) in self.inner.transcode_durations.lock().unwrap().iter() {
            out.push(histogram(
                "folio_transcode_job_duration_seconds",
                "Time of one transcode job",
                vec![("folio.component", component.clone())],
                h,
            ));
        }
        out.push(counter(
            "folio_telemetry_dropped_spans_total",
            "Spans dropped because the export queue was full",
            Vec::new(),
            crate::telemetry::dropped_spans(),
        ));
        out.push(Point {
            name: "folio_instances_in_flight",
            description: "Component instances running now",
            unit: "1",
            monotonic: false,
            attributes: Vec::new(),
            value: PointValue::Int(self.inner.in_flight.load(Ordering::Relaxed)),
        });
        for ((component, group), (waited, at)) in self.inner.lags.lock().unwrap().iter() {
            out.push(Point {
                name: "folio_event_lag_seconds",
                description: "How long the last event a consumer group started had waited",
                unit: "s",
                monotonic: false,
                attributes: vec![
                    ("folio.component", component.clone()),
                    ("messaging.consumer.group.name", group.clone()),
                ],
                value: PointValue::Double(if at.elapsed() > LAG_IDLE {
                    0.0
                } else {
                    *waited
                }),
            });
        }
        out
    }

    /// A worker starts an event published `waited` ago: the group's lag.
    pub fn observe_event_start(&self, component: &str, group: &str, waited: Duration) {
        self.inner.lags.lock().unwrap().insert(
            (component.to_string(), group.to_string()),
            (waited.as_secs_f64(), Instant::now()),
        );
    }

    pub fn observe_delivery(&self, component: &str, topic: &str, latency: Duration) {
        self.inner
            .deliveries
            .lock()
            .unwrap()
            .entry((component.to_string(), topic.to_string()))
            .or_insert_with(|| Histogram::new(DELIVERY_BUCKETS))
            .observe(latency.as_secs_f64());
    }

    /// Counters of the relay of one component database (`component/database`).
    pub fn relay_stats(&self, label: &str) -> Arc<folio_events::relay::RelayStats> {
        self.inner
            .relays
            .lock()
            .unwrap()
            .entry(label.to_string())
            .or_default()
            .clone()
    }

    /// One run of a cron trigger; `outcome` is `ok`, `error` or a failure kind.
    pub fn observe_cron_run(&self, component: &str, outcome: &'static str, elapsed: Duration) {
        *self
            .inner
            .cron_runs
            .lock()
            .unwrap()
            .entry((component.to_string(), outcome))
            .or_default() += 1;
        self.inner
            .cron_durations
            .lock()
            .unwrap()
            .entry(component.to_string())
            .or_insert_with(|| Histogram::new(REQUEST_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    /// Fire times of a cron trigger not run here: `skipped` (they passed
    /// while the previous run was going), `claimed-elsewhere` (another host
    /// of the cluster ran them) or `unclaimed` (the claim failed).
    pub fn observe_cron_not_run(&self, component: &str, reason: &'static str, ticks: u64) {
        *self
            .inner
            .cron_runs
            .lock()
            .unwrap()
            .entry((component.to_string(), reason))
            .or_default() += ticks;
    }

    /// One transcode job's end; `outcome` is `succeeded`, an error kind or `abandoned`.
    pub fn observe_transcode_job(&self, component: &str, outcome: &'static str, elapsed: Duration) {
        *self
            .inner
            .transcode_jobs
            .lock()
            .unwrap()
            .entry((component.to_string(), outcome))
            .or_default() += 1;
        self.inner
            .transcode_durations
            .lock()
            .unwrap()
            .entry(component.to_string())
            .or_insert_with(|| Histogram::new(TRANSCODE_BUCKETS))
            .observe(elapsed.as_secs_f64());
    }

    pub fn instance_started(&self) -> InFlight {
        self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(self.clone())
    }

    pub fn observe_rate_limited(&self, component: &str, policy: &str) {
        *self
            .inner
            .rate_limited
            .lock()
            .unwrap()
            .entry((component.to_string(), policy.to_string()))
            .or_default() += 1;
    }

    /// A circuit breaker moved to `state` (`closed`, `open`, `half-open`).
    pub fn observe_circuit(&self, destination: &str, state: &'static str) {
        let mut circuits = self.inner.circuits.lock().unwrap();
        let entry = circuits
            .entry(destination.to_string())
            .or_insert(("closed", 0));
        entry.0 = state;
        if state == "open" {
            entry.1 += 1;
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP folio_http_requests_total HTTP requests served, by route, component, method and status.\n");
        out.push_str("# TYPE folio_http_requests_total counter\n");
        for (k, v) in self.inner.requests.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "folio_http_requests_total{{route=\"{}\",component=\"{}\",method=\"{}\",status=\"{}\"}} {v}",
                escape(&k.route),
                escape(&k.component),
                escape(&k.method),
                k.status
            );
        }
        out.push_str("# HELP folio_http_request_errors_total Requests that failed in the host or the guest, by kind.\n");
        out.push_str("# TYPE folio_http_request_errors_total counter\n");
        for ((route, component, kind), v) in self.inner.errors.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "folio_http_request_errors_total{{route=\"{}\",component=\"{}\",kind=\"{kind}\"}} {v}",
                escape(route),
                escape(component)
            );
        }
        out.push_str("# HELP folio_http_request_duration_seconds Time from request received to response headers sent.\n");
        out.push_str("# TYPE folio_http_request_duration_seconds histogram\n");
        for ((route, component), h) in self.inner.durations.lock().unwrap().iter() {
            let labels = format!(
                "route=\"{}\",component=\"{}\"",
                escape(route),
                escape(component)
            );
            h.render(&mut out, "folio_http_request_duration_seconds", &labels);
        }
        out.push_str("# HELP folio_rate_limited_total Requests refused by a rate-limit policy.\n");
        out.push_str("# TYPE folio_rate_limited_total counter\n");
        for ((component, policy), v) in self.inner.rate_limited.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "folio_rate_limited_total{{component=\"{}\",policy=\"{}\"}} {v}",
                escape(component),
                escape(policy)
            );
        }
        let circuits = self.inner.circuits.lock().unwrap();
        out.push_str("# HELP folio_circuit_state Circuit breaker state per destination (1 for the current state).\n");
        out.push_str("# TYPE folio_circuit_state gauge\n");
        for (destination, (state, _)) in circuits.iter() {
            for candidate in ["closed", "open", "half-open"] {
                let _ = writeln!(
                    out,
                    "folio_circuit_state{{destination=\"{}\",state=\"{candidate}\"}} {}",
                    escape(destination),
                    u8::from(*state == candidate)
                );
            }
        }
        out.push_str(
            "# HELP folio_circuit_opened_total Times a destination's circuit breaker opened.\n",
        );
        out.push_str("# TYPE folio_circuit_opened_total counter\n");
        for (destination, (_, opened)) in circuits.iter() {
            let _ = writeln!(
                out,
                "folio_circuit_opened_total{{destination=\"{}\"}} {opened}",
                escape(destination)
            );
        }
        drop(circuits);
        out.push_str("# HELP folio_instantiation_duration_seconds Time to create a fresh component instance.\n");
        out.push_str("# TYPE folio_instantiation_duration_seconds histogram\n");
        for (component, h) in self.inner.instantiations.lock().unwrap().iter() {
            let labels = format!("component=\"{}\"", escape(component));
            h.render(&mut out, "folio_instantiation_duration_seconds", &labels);
        }
        out.push_str("# HELP folio_instances_in_flight Component instances alive right now.\n");
        out.push_str("# TYPE folio_instances_in_flight gauge\n");
        let _ = writeln!(
            out,
            "folio_instances_in_flight {}",
            self.inner.in_flight.load(Ordering::Relaxed)
        );
        out.push_str("# HELP folio_events_total Events given to worker components, by outcome (handled, retried, dead_lettered).\n");
        out.push_str("# TYPE folio_events_total counter\n");
        for ((component, topic, outcome), v) in self.inner.events.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "folio_events_total{{component=\"{}\",topic=\"{}\",outcome=\"{outcome}\"}} {v}",
                escape(component),
                escape(topic)
            );
        }
        out.push_str("# HELP folio_event_delivery_seconds Time from an event's publish to its worker handling it successfully.\n");
        out.push_str("# TYPE folio_event_delivery_seconds histogram\n");
        for ((component, topic), h) in self.inner.deliveries.lock().unwrap().iter() {
            let labels = format!(
                "component=\"{}\",topic=\"{}\"",
                escape(component),
                escape(topic)
            );
            h.render(&mut out, "folio_event_delivery_seconds", &labels);
        }
        out.push_str("# HELP folio_event_lag_seconds How long the last event a consumer group's worker started had waited since it was published (0 once the group has had nothing to do for 10 s): what an autoscaler on event-log lag reads.\n");
        out.push_str("# TYPE folio_event_lag_seconds gauge\n");
        for ((component, group), (waited, at)) in self.inner.lags.lock().unwrap().iter() {
            let lag = if at.elapsed() > LAG_IDLE {
                0.0
            } else {
                *waited
            };
            let _ = writeln!(
                out,
                "folio_event_lag_seconds{{component=\"{}\",group=\"{}\"}} {lag}",
                escape(component),
                escape(group)
            );
        }
        out.push_str("# HELP folio_outbox_relayed_total Outbox events moved to the event log, by component database.\n");
        out.push_str("# TYPE folio_outbox_relayed_total counter\n");
        let relays = self.inner.relays.lock().unwrap();
        for (label, stats) in relays.iter() {
            let _ = writeln!(
                out,
                "folio_outbox_relayed_total{{database=\"{}\"}} {}",
                escape(label),
                stats.relayed.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP folio_outbox_relay_failures_total Relay batches that failed (and were retried).\n");
        out.push_str("# TYPE folio_outbox_relay_failures_total counter\n");
        for (label, stats) in relays.iter() {
            let _ = writeln!(
                out,
                "folio_outbox_relay_failures_total{{database=\"{}\"}} {}",
                escape(label),
                stats.failures.load(Ordering::Relaxed)
            );
        }
        drop(relays);
        out.push_str("# HELP folio_cron_runs_total Scheduled runs of cron-triggered components, by outcome (ok, error, a failure kind, skipped: a tick that came while the previous run was going, claimed-elsewhere: a tick another host of the cluster ran, or unclaimed: its claim failed).\n");
        out.push_str("# TYPE folio_cron_runs_total counter\n");
        for ((component, outcome), v) in self.inner.cron_runs.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "folio_cron_runs_total{{component=\"{}\",outcome=\"{outcome}\"}} {v}",
                escape(component)
            );
        }
        out.push_str("# HELP folio_cron_run_duration_seconds Time of one cron run, from its fire time's wake-up to the handler's return.\n");
        out.push_str("# TYPE folio_cron_run_duration_seconds histogram\n");
        for (component, h) in self.inner.cron_durations.lock().unwrap().iter() {
            let labels = format!("component=\"{}\"", escape(component));
            h.render(&mut out, "folio_cron_run_duration_seconds", &labels);
        }
        out.push_str("# HELP folio_transcode_jobs_total Transcode jobs, by component and outcome (succeeded, failed, invalid-media, timed-out, cancelled, unavailable, abandoned...).\n");
        out.push_str("# TYPE folio_transcode_jobs_total counter\n");
        for ((component, outcome), v) in self.inner.transcode_jobs.lock().unwrap().iter() {
            let _ = writeln!(
                out,
                "folio_transcode_jobs_total{{component=\"{}\",outcome=\"{outcome}\"}} {v}",
                escape(component)
            );
        }
        out.push_str("# HELP folio_transcode_job_duration_seconds Time of one transcode job, from its start (including the wait for a slot) to its end.\n");
        out.push_str("# TYPE folio_transcode_job_duration_seconds histogram\n");
        for (component, h) in self.inner.transcode_durations.lock().unwrap().iter() {
            let labels = format!("component=\"{}\"", escape(component));
            h.render(&mut out, "folio_transcode_job_duration_seconds", &labels);
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("/a", "c", "GET", 200, Duration::from_millis(3));
        m.observe_request("/a", "c", "GET", 200, Duration::from_millis(30));
        let text = m.render();
        assert!(text.contains(
            "folio_http_requests_total{route=\"/a\",component=\"c\",method=\"GET\",status=\"200\"} 2"
        ));
        assert!(text.contains("folio_http_request_duration_seconds_bucket{route=\"/a\",component=\"c\",le=\"0.005\"} 1"));
        assert!(text.contains(
            "folio_http_request_duration_seconds_bucket{route=\"/a\",component=\"c\",le=\"0.05\"} 2"
        ));
        assert!(
            text.contains(
                "folio_http_request_duration_seconds_count{route=\"/a\",component=\"c\"} 2"
            )
        );
    }

    #[test]
    fn counts_cron_runs_by_outcome() {
        let m = Metrics::default();
        m.observe_cron_run("c", "ok", Duration::from_millis(3));
        m.observe_cron_run("c", "ok", Duration::from_millis(4));
        m.observe_cron_not_run("c", "skipped", 2);
        let text = m.render();
        assert!(text.contains("folio_cron_runs_total{component=\"c\",outcome=\"ok\"} 2\n"));
        assert!(text.contains("folio_cron_runs_total{component=\"c\",outcome=\"skipped\"} 2\n"));
        assert!(text.contains("folio_cron_run_duration_seconds_count{component=\"c\"} 2\n"));
    }

    #[test]
    fn counts_transcode_jobs_by_outcome() {
        let m = Metrics::default();
        m.observe_transcode_job("media", "succeeded", Duration::from_secs(3));
        m.observe_transcode_job("media", "timed-out", Duration::from_secs(900));
        let text = m.render();
        assert!(
            text.contains(
                "folio_transcode_jobs_total{component=\"media\",outcome=\"succeeded\"} 1\n"
            )
        );
        assert!(
            text.contains(
                "folio_transcode_jobs_total{component=\"media\",outcome=\"timed-out\"} 1\n"
            )
        );
        assert!(text.contains(
            "folio_transcode_job_duration_seconds_bucket{component=\"media\",le=\"5\"} 1\n"
        ));
        assert!(
            text.contains("folio_transcode_job_duration_seconds_count{component=\"media\"} 2\n")
        );
    }

    #[test]
    fn event_lag_is_the_last_started_events_wait() {
        let m = Metrics::default();
        m.observe_event_start("search", "search-index-h1", Duration::from_millis(2500));
        assert!(m.render().contains(
            "folio_event_lag_seconds{component=\"search\",group=\"search-index-h1\"} 2.5\n"
        ));
        m.observe_event_start("search", "search-index-h1", Duration::from_millis(40));
        assert!(m.render().contains(
            "folio_event_lag_seconds{component=\"search\",group=\"search-index-h1\"} 0.04\n"
        ));
    }

    #[test]
    fn in_flight_gauge_follows_guards() {
        let m = Metrics::default();
        let a = m.instance_started();
        let _b = m.instance_started();
        drop(a);
        assert!(m.render().contains("folio_instances_in_flight 1\n"));
    }
}
