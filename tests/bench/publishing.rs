//! Webhook deliveries per second and publish-to-delivered latency, on a
//! real host, to a receiver on loopback that checks every signature.
//!
//!     cargo build --release -p folio -p folio-tests --bin folio-publishing-bench
//!     "$CARGO_TARGET_DIR"/release/folio-publishing-bench [--endpoints 50]
//!         [--items 40] [--parallel 8] [--rate 20] [--backends | --postgres]
//!
//! 1. `--endpoints` webhook channels, each its own URL on one receiver
//!    (hyper, in this process) that verifies the Standard Webhooks
//!    signature of every request with the channel's secret and answers 204.
//! 2. `--items` articles are written and put in review; one more is
//!    published and delivered first, to warm up.
//! 3. Burst: `--items` are published (the admin's transition, `--parallel`
//!    at a time), as fast as that goes: the service's capacity. Each
//!    publication is one content event, which the service turns into one
//!    distribution per channel, sent concurrently.
//! 4. Paced: `--items` more, `--rate` a second, open loop (20 items/s × 50
//!    endpoints = 1,000 deliveries/s offered): the latency at that load.
//!
//! Deliveries/s = deliveries / (last delivery − first publish sent).
//! Latency = a delivery's arrival − its item's publish answered (the commit
//! that made the content event). Embedded (SQLite and the embedded log)
//! unless `--backends` (Postgres and Kafka from FOLIO_TEST_POSTGRES_URL,
//! FOLIO_TEST_KAFKA_BROKERS) or `--postgres` (Postgres, the embedded log). Prints numbers and PASS/MISS against the
//! targets; asserts only that every delivery was authentic and none missing.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use folio_tests::load::{ms, percentile};
use folio_tests::publishing::{
    PublishingOptions, admin, channel, draft, start_publishing, transition,
};
use folio_tests::services::{Api, backends, unique};
use futures_util::StreamExt;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use serde_json::{Value, json};
use sha2::Sha256;

const TARGET_PER_SECOND: f64 = 1000.0;
const TARGET_P99_MS: f64 = 1000.0;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

struct Delivery {
    at: Instant,
    content_id: String,
    webhook_id: String,
    authentic: bool,
}

#[derive(Default)]
struct Received {
    keys: HashMap<String, Vec<u8>>,
    deliveries: Vec<Delivery>,
}

fn authentic(key: &[u8], headers: &hyper::HeaderMap, body: &[u8]) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(timestamp), Some(signatures)) = (
        header("webhook-id"),
        header("webhook-timestamp"),
        header("webhook-signature"),
    ) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    signatures.split(' ').any(|s| s == expected)
}

/// A receiver for `/e/{n}`; returns its port.
async fn receiver(state: Arc<Mutex<Received>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |request: hyper::Request<hyper::body::Incoming>| {
                        let state = state.clone();
                        async move {
                            let endpoint = request.uri().path().to_string();
                            let headers = request.headers().clone();
                            let body = request.into_body().collect().await.unwrap().to_bytes();
                            let at = Instant::now();
                            let parsed: Value =
                                serde_json::from_slice(&body).unwrap_or(Value::Null);
                            let mut state = state.lock().unwrap();
                            let key = state.keys.get(&endpoint).cloned().unwrap_or_default();
                            let delivery = Delivery {
                                at,
                                content_id: parsed["data"]["id"]
                                    .as_str()
                                    .unwrap_or_default()
                                    .to_string(),
                                webhook_id: headers
                                    .get("webhook-id")
                                    .and_then(|v| v.to_str().ok())
                                    .unwrap_or_default()
                                    .to_string(),
                                authentic: authentic(&key, &headers, &body),
                            };
                            state.deliveries.push(delivery);
                            Ok::<_, Infallible>(
                                hyper::Response::builder()
                                    .status(204)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    port
}

async fn wait_deliveries(state: &Arc<Mutex<Received>>, count: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while state.lock().unwrap().deliveries.len() < count {
        assert!(
            Instant::now() < deadline,
            "{} of {count} deliveries arrived",
            state.lock().unwrap().deliveries.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::main]
async fn main() {
    let endpoints = arg("--endpoints", 50);
    let items = arg("--items", 40);
    let parallel = arg("--parallel", 8);
    let rate = arg("--rate", 20);
    let use_backends = std::env::args().any(|a| a == "--backends");
    let postgres_only = std::env::args().any(|a| a == "--postgres");
    let run = unique();
    let state = Arc::new(Mutex::new(Received::default()));
    let port = receiver(state.clone()).await;

    let dir = tempfile::tempdir().unwrap();
    let b = (use_backends || postgres_only).then(backends);
    if let Some(b) = &b {
        // A run starts empty: channels left by an earlier run would take deliveries too.
        let components: Vec<String> = ["bp", "bp-content", "bp-events", "bp-publishing"]
            .map(String::from)
            .to_vec();
        b.reset(&components).await;
    }
    let mut options = PublishingOptions {
        backends: b.as_ref().filter(|_| use_backends),
        ..Default::default()
    };
    if let (true, Some(b)) = (postgres_only, &b) {
        // Postgres and Redis, the embedded event log.
        let all = b.runtime_config();
        let without_log = all.split("[event_log]").next().unwrap_or_default();
        options.runtime_config.push_str(without_log);
    }
    let host = start_publishing("bp", &format!("bp-{run}"), dir.path(), &options);
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let (author, _) = api.user_with_role(&admin, "bauthor", "creator", &run).await;

    for n in 0..endpoints {
        let path = format!("/e/{n}");
        let created = channel(
            &api,
            &admin,
            json!({"name": format!("Endpoint {n}"), "slug": format!("e{n}-{run}").to_lowercase(),
                   "kind": "webhook",
                   "config": {"url": format!("http://127.0.0.1:{port}{path}")}}),
        )
        .await;
        let secret = created["secret"].as_str().unwrap();
        let key = STANDARD
            .decode(secret.trim_start_matches("whsec_"))
            .unwrap();
        state.lock().unwrap().keys.insert(path, key);
    }

    let mut drafts = Vec::new();
    for n in 0..=2 * items {
        let id = draft(
            &api,
            &author,
            json!({"title": format!("Bench item {n}"), "type": "article",
                   "description": "A benchmark article.",
                   "body": format!("<p>{}</p>", "Words of the benchmark. ".repeat(40))}),
        )
        .await;
        transition(&api, &id, "review", &author).await;
        drafts.push(id);
    }
    // Warm-up: the first item, all its deliveries.
    let warm = drafts.remove(0);
    transition(&api, &warm, "published", &admin).await;
    wait_deliveries(&state, endpoints, Duration::from_secs(60)).await;
    state.lock().unwrap().deliveries.clear();

    let burst: Vec<String> = drafts.drain(..items).collect();
    let burst_result = phase(
        &host,
        &admin,
        &state,
        &burst,
        endpoints,
        Pace::Burst(parallel),
    )
    .await;
    let paced_result = phase(&host, &admin, &state, &drafts, endpoints, Pace::Rate(rate)).await;
    println!(
        "publishing bench ({}): {endpoints} endpoints, {items} items per phase",
        match (use_backends, postgres_only) {
            (true, _) => "Postgres + Kafka",
            (_, true) => "Postgres + embedded log",
            _ => "embedded",
        }
    );
    let verdict = |pass: bool| if pass { "PASS" } else { "MISS" };
    let r = &burst_result;
    println!(
        "  burst ({parallel} publishes at a time; publishing took {:.0} ms): capacity",
        ms(r.publishing)
    );
    println!(
        "    {} deliveries in {:.0} ms = {:.0} deliveries/s (target >= {TARGET_PER_SECOND}: {})",
        r.deliveries,
        ms(r.elapsed),
        r.rate,
        verdict(r.rate >= TARGET_PER_SECOND)
    );
    println!(
        "    publish-to-delivered while the queue drains: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        ms(r.p50),
        ms(r.p99),
        ms(r.max)
    );
    let r = &paced_result;
    println!(
        "  paced ({rate} items/s = {} deliveries/s offered, open loop): latency",
        rate * endpoints
    );
    println!(
        "    {} deliveries in {:.0} ms ({:.0}/s achieved)",
        r.deliveries,
        ms(r.elapsed),
        r.rate
    );
    println!(
        "    publish-to-delivered: p50 {:.0} ms, p99 {:.0} ms (target < {TARGET_P99_MS} ms: {}), max {:.0} ms",
        ms(r.p50),
        ms(r.p99),
        verdict(ms(r.p99) < TARGET_P99_MS),
        ms(r.max)
    );
    if std::env::args().any(|a| a == "--metrics") {
        let text = folio_tests::client()
            .get(host.url("/_folio/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for line in text.lines().filter(|l| {
            (l.contains("_sum") || l.contains("_count") || l.starts_with("folio_events_total"))
                && l.contains("publishing")
        }) {
            println!("  {line}");
        }
    }
    for r in [&burst_result, &paced_result] {
        println!(
            "  signatures failed: {}; duplicates: {}",
            r.forged, r.duplicates
        );
        assert_eq!(
            r.forged, 0,
            "every delivery is signed with its channel's secret"
        );
    }
}

#[derive(Clone, Copy)]
enum Pace {
    /// This many publishes in flight at once, as fast as they go.
    Burst(usize),
    /// Items per second, open loop.
    Rate(usize),
}

struct PhaseResult {
    deliveries: usize,
    publishing: Duration,
    elapsed: Duration,
    rate: f64,
    p50: Duration,
    p99: Duration,
    max: Duration,
    forged: usize,
    duplicates: usize,
}

async fn phase(
    host: &folio_tests::Host,
    admin: &str,
    state: &Arc<Mutex<Received>>,
    items: &[String],
    endpoints: usize,
    pace: Pace,
) -> PhaseResult {
    state.lock().unwrap().deliveries.clear();
    let started = Instant::now();
    let publish = |n: usize, id: String| {
        let api = Api { host };
        let admin = admin.to_string();
        async move {
            if let Pace::Rate(rate) = pace {
                let due = started + Duration::from_secs_f64(n as f64 / rate as f64);
                tokio::time::sleep_until(due.into()).await;
            }
            transition(&api, &id, "published", &admin).await;
            (id, Instant::now())
        }
    };
    let in_flight = match pace {
        Pace::Burst(n) => n,
        Pace::Rate(_) => items.len(),
    };
    let published: HashMap<String, Instant> = futures_util::stream::iter(
        items
            .iter()
            .cloned()
            .enumerate()
            .map(|(n, id)| publish(n, id)),
    )
    .buffer_unordered(in_flight)
    .collect()
    .await;
    let publishing = started.elapsed();
    let expected = items.len() * endpoints;
    wait_deliveries(state, expected, Duration::from_secs(300)).await;
    let state = state.lock().unwrap();
    let last = state.deliveries.iter().map(|d| d.at).max().unwrap();
    let elapsed = last - started;
    let mut latencies: Vec<Duration> = state
        .deliveries
        .iter()
        .filter_map(|d| {
            published
                .get(&d.content_id)
                .map(|p| d.at.saturating_duration_since(*p))
        })
        .collect();
    latencies.sort();
    assert_eq!(
        latencies.len(),
        expected,
        "every delivery is of an item published now"
    );
    let ids: HashSet<&str> = state
        .deliveries
        .iter()
        .map(|d| d.webhook_id.as_str())
        .collect();
    PhaseResult {
        deliveries: expected,
        publishing,
        elapsed,
        rate: expected as f64 / elapsed.as_secs_f64(),
        p50: percentile(&latencies, 50.0),
        p99: percentile(&latencies, 99.0),
        max: *latencies.last().unwrap(),
        forged: state.deliveries.iter().filter(|d| !d.authentic).count(),
        duplicates: state.deliveries.len() - ids.len(),
    }
}
