//! Analytics ingestion rate, aggregation lag and report latency, on a real
//! host (embedded: SQLite and the embedded event log).
//!
//!     cargo build --release -p folio -p folio-tests --bin folio-analytics-bench
//!     "$CARGO_TARGET_DIR"/release/folio-analytics-bench [--batches 2000]
//!         [--parallel 16] [--rate 50] [--seconds 20] [--reports 2000] [--pages 200]
//!
//! 1. Burst: `--batches` requests of 100 events each (pageviews, reads,
//!    clicks from 500 browsers over `--pages` pages, 5 referrers, some UTM
//!    tags), `--parallel` at a time: accepted events/s, request p99. Then
//!    the time until the rollups hold every event: aggregation throughput.
//! 2. Paced: `--rate` batches a second for `--seconds`, open loop. A batch's
//!    aggregation lag is the first moment (polled every 50 ms) the
//!    overview's event total covers it, minus its 202: an upper bound,
//!    since the worker takes batches about in log order.
//! 3. Reports: `--reports` overview requests (a week of days, a day of
//!    hours), 4 at a time, over everything ingested: p50/p99.
//!
//! Prints numbers and PASS/MISS against the targets; asserts only that no
//! event was lost.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use folio_tests::analytics::start;
use folio_tests::load::{ms, percentile};
use folio_tests::services::{Api, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client};
use futures_util::StreamExt;
use serde_json::{Value, json};

const TARGET_EVENTS_PER_SECOND: f64 = 20_000.0;
const TARGET_LAG_P99_MS: f64 = 10_000.0;
const TARGET_OVERVIEW_P99_MS: f64 = 50.0;
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn item_id(n: u64) -> String {
    format!("0192f0c4-0000-7000-8000-{n:012}")
}

/// Batch `i`: one browser's 100 events over `pages` pages.
fn batch(i: u64, pages: u64) -> String {
    let referrers = [
        "news.example",
        "google.com",
        "bing.com",
        "social.example",
        "mail.example",
    ];
    let events: Vec<Value> = (0..100u64)
        .map(|j| {
            let page = (i * 7 + j * 13) % pages;
            let url = if j % 10 == 0 {
                format!("https://site.folio.test/posts/{page}?utm_source=newsletter&utm_campaign=c{}", i % 5)
            } else {
                format!("https://site.folio.test/posts/{page}")
            };
            match j % 5 {
                0..=2 => json!({"name": "pageview", "url": url, "referrer": format!("https://{}/", referrers[(i + j) as usize % 5]), "contentId": item_id(page)}),
                3 => json!({"name": "read", "url": url, "contentId": item_id(page), "props": {"seconds": (j * 3) % 300, "depth": (j * 7) % 101}}),
                _ => json!({"name": "cta_click", "url": url, "props": {"button": "subscribe"}}),
            }
        })
        .collect();
    json!({ "events": events }).to_string()
}

async fn send(host: &Host, i: u64, pages: u64) -> Duration {
    let started = Instant::now();
    let response = client()
        .post(host.url("/api/v1/analytics/events"))
        .header("user-agent", format!("{BROWSER} reader/{}", i % 500))
        .header("content-type", "text/plain")
        .body(batch(i, pages))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202, "{:?}", response.text().await);
    started.elapsed()
}

async fn total_events(api: &Api<'_>, admin: &str) -> i64 {
    let r = api
        .get(
            "/api/v1/analytics/reports/overview?interval=day",
            Some(admin),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    r.body["totals"]["events"].as_i64().unwrap()
}

fn verdict(pass: bool) -> &'static str {
    if pass { "PASS" } else { "MISS" }
}

#[tokio::main]
async fn main() {
    let batches = arg("--batches", 2000) as u64;
    let parallel = arg("--parallel", 16);
    let rate = arg("--rate", 50) as u64;
    let seconds = arg("--seconds", 20) as u64;
    let reports = arg("--reports", 2000);
    let pages = arg("--pages", 200).max(1) as u64;
    let data = tempfile::tempdir().unwrap();
    let id = format!("ab{}", unique());
    let host = start(&id, data.path(), &[("warehouse_flush", "60s")], false);
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    send(&host, 0, pages).await;
    let baseline = loop {
        let n = total_events(&api, &admin).await;
        if n >= 100 {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // 1. Burst.
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures_util::stream::iter(1..=batches)
        .map(|i| send(&host, i, pages))
        .buffer_unordered(parallel)
        .collect()
        .await;
    let ingest_elapsed = started.elapsed();
    latencies.sort();
    let events = batches * 100;
    let per_second = events as f64 / ingest_elapsed.as_secs_f64();
    let expected = baseline + events as i64;
    while total_events(&api, &admin).await < expected {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let drained = started.elapsed();
    println!(
        "ingestion: {events} events in batches of 100, {parallel} at a time: {per_second:.0} events/s accepted \
         (request p50 {:.1} ms, p99 {:.1} ms) [{} target {TARGET_EVENTS_PER_SECOND:.0}/s]",
        ms(percentile(&latencies, 50.0)),
        ms(percentile(&latencies, 99.0)),
        verdict(per_second >= TARGET_EVENTS_PER_SECOND),
    );
    println!(
        "aggregation: every event in the rollups {:.1} s after the burst began: {:.0} events/s aggregated",
        drained.as_secs_f64(),
        events as f64 / drained.as_secs_f64()
    );

    // 2. Paced, open loop: the lag from a batch's 202 to its rollups.
    let accepted: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let base = expected;
    let paced = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start_at = tokio::time::Instant::now();
    let host_ref = &host;
    let senders = futures_util::stream::iter(0..paced)
        .map(|k| {
            let accepted = accepted.clone();
            async move {
                tokio::time::sleep_until(start_at + interval * k as u32).await;
                send(host_ref, batches + 1 + k, pages).await;
                accepted.lock().unwrap().push((k, Instant::now()));
            }
        })
        .buffer_unordered(256)
        .collect::<Vec<()>>();
    let mut polls: Vec<(Instant, i64)> = Vec::new();
    let poller = async {
        let goal = base + paced as i64 * 100;
        loop {
            let n = total_events(&api, &admin).await;
            polls.push((Instant::now(), n - base));
            if n >= goal {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    futures_util::join!(senders, poller);
    let mut accepted = accepted.lock().unwrap().clone();
    accepted.sort_by_key(|(_, at)| *at);
    let mut lags: Vec<Duration> = accepted
        .iter()
        .enumerate()
        .map(|(n, (_, at))| {
            let covered = (n as i64 + 1) * 100;
            let seen = polls
                .iter()
                .find(|(_, total)| *total >= covered)
                .expect("every event aggregated")
                .0;
            seen.saturating_duration_since(*at)
        })
        .collect();
    lags.sort();
    let lag_p99 = ms(percentile(&lags, 99.0));
    println!(
        "aggregation lag at {} events/s offered for {seconds} s: p50 {:.0} ms, p99 {lag_p99:.0} ms [{} target < {TARGET_LAG_P99_MS:.0} ms]",
        rate * 100,
        ms(percentile(&lags, 50.0)),
        verdict(lag_p99 < TARGET_LAG_P99_MS),
    );

    // 3. Reports over everything ingested.
    let total = total_events(&api, &admin).await;
    let mut report_latencies: Vec<Duration> = futures_util::stream::iter(0..reports)
        .map(|k| {
            let path = if k % 2 == 0 {
                "/api/v1/analytics/reports/overview?interval=day"
            } else {
                "/api/v1/analytics/reports/overview?interval=hour"
            };
            let (api, admin) = (&api, &admin);
            async move {
                let started = Instant::now();
                let r = api.get(path, Some(admin)).await;
                assert_eq!(r.status, 200);
                started.elapsed()
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    report_latencies.sort();
    let overview_p99 = ms(percentile(&report_latencies, 99.0));
    println!(
        "overview report over {total} events, 4 at a time: p50 {:.1} ms, p99 {overview_p99:.1} ms [{} target < {TARGET_OVERVIEW_P99_MS:.0} ms]",
        ms(percentile(&report_latencies, 50.0)),
        verdict(overview_p99 < TARGET_OVERVIEW_P99_MS),
    );
}
