//! End-to-end events per second: from a component's transactional publish
//! (each transaction inserts its rows and publishes one event per row) to the
//! worker component's handler, on the embedded log and on Kafka (when
//! `FOLIO_TEST_KAFKA_BROKERS` is set).
//!
//!     cargo run --release -p folio-tests --bin folio-events-bench -- [EVENTS] [PER_TX] [CLIENTS] [RATE]
//!
//! With RATE (events/s) the clients pace their transactions to offer that
//! load, and the latencies are those at that load; without it they publish
//! as fast as they can, which measures the maximum rate (and latencies that
//! include the queue such a flood builds).
//!
//! Latency is publish (the event's `time`) to handler success, read from the
//! host's `folio_event_delivery_seconds` histogram and interpolated within
//! its buckets, as Prometheus' `histogram_quantile` does. It prints numbers;
//! it asserts nothing.

use std::time::{Duration, Instant};

use folio_tests::{Host, HostOptions, client, events_manifest};
use serde_json::json;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let arg = |i: usize, default: usize| -> usize {
        std::env::args()
            .nth(i)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (events, per_tx, clients, rate) = (arg(1, 50_000), arg(2, 50), arg(3, 4), arg(4, 0));
    folio_tests::build_fixtures();
    let offered = match rate {
        0 => "as fast as possible".to_string(),
        r => format!("offered at {r} events/s"),
    };
    println!(
        "# Events end to end ({events} events, {per_tx} per transaction, {clients} clients, {offered})"
    );
    println!("| log | events/s end to end | p50 latency | p99 latency |");
    println!("| --- | ---: | ---: | ---: |");
    let load = Load {
        events,
        per_tx,
        clients,
        rate,
    };
    run("embedded", None, &load).await?;
    match std::env::var("FOLIO_TEST_KAFKA_BROKERS") {
        Ok(brokers) => run("kafka", Some(brokers), &load).await?,
        Err(_) => println!(
            "| kafka | skipped: set FOLIO_TEST_KAFKA_BROKERS (bash infra/kafka.sh) | | | |"
        ),
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Load {
    events: usize,
    per_tx: usize,
    clients: usize,
    /// Events per second offered; 0 for as fast as possible.
    rate: usize,
}

async fn run(log: &str, brokers: Option<String>, load: &Load) -> anyhow::Result<()> {
    let Load {
        events,
        per_tx,
        clients,
        rate,
    } = *load;
    let dir = tempfile::tempdir()?;
    let topic = format!("bench-{}-{log}", std::process::id());
    let mut args = Vec::new();
    if let Some(brokers) = &brokers {
        let config = dir.path().join("runtime.toml");
        std::fs::write(
            &config,
            format!("[event_log]\ntype = \"kafka\"\nbrokers = \"{brokers}\"\npartitions = 3\n"),
        )?;
        args = vec!["--runtime-config".into(), config.display().to_string()];
    }
    let host = Host::start_with(
        &events_manifest(&topic),
        HostOptions {
            args,
            data_dir: Some(dir.path().join("data")),
            ..Default::default()
        },
    );
    let url = host.url("/ev/write");
    let transactions = events / per_tx;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = url.clone();
        let topic = topic.clone();
        // Each client sends one transaction per `interval`.
        let interval =
            (rate > 0).then(|| Duration::from_secs_f64((per_tx * clients) as f64 / rate as f64));
        tasks.push(tokio::spawn(async move {
            let begin = Instant::now();
            for (n, t) in (c..transactions).step_by(clients).enumerate() {
                if let Some(interval) = interval {
                    tokio::time::sleep_until((begin + interval * n as u32).into()).await;
                }
                let keys: Vec<String> = (0..per_tx).map(|i| format!("t{t}-{i}")).collect();
                let response = client()
                    .post(&url)
                    .json(&json!({"keys": keys, "topic": topic, "type": "fixture.bench"}))
                    .send()
                    .await
                    .expect("write");
                assert_eq!(response.status(), 200);
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let published = started.elapsed();
    let total = transactions * per_tx;
    let deadline = Instant::now() + Duration::from_secs(600);
    let histogram = loop {
        let metrics = client()
            .get(host.url("/_folio/metrics"))
            .send()
            .await?
            .text()
            .await?;
        let buckets = delivery_buckets(&metrics, &topic);
        if buckets.last().is_some_and(|(_, n)| *n as usize >= total) {
            break buckets;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "events did not all arrive: {buckets:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let elapsed = started.elapsed();
    println!(
        "| {log} | {:.0} | {:.1} ms | {:.1} ms |",
        total as f64 / elapsed.as_secs_f64(),
        quantile(&histogram, 0.50) * 1000.0,
        quantile(&histogram, 0.99) * 1000.0,
    );
    eprintln!("  ({log}: published {total} in {published:?}, all handled after {elapsed:?})");
    Ok(())
}

/// Cumulative (upper bound, count) pairs of the topic's delivery histogram.
fn delivery_buckets(metrics: &str, topic: &str) -> Vec<(f64, u64)> {
    let needle = format!("topic=\"{topic}\",le=\"");
    metrics
        .lines()
        .filter(|l| l.starts_with("folio_event_delivery_seconds_bucket"))
        .filter_map(|l| {
            let rest = &l[l.find(&needle)? + needle.len()..];
            let (bound, count) = rest.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, count.trim().parse().ok()?))
        })
        .collect()
}

fn quantile(buckets: &[(f64, u64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0, |b| b.1) as f64;
    let rank = q * total;
    let mut previous = (0.0, 0u64);
    for &(bound, count) in buckets {
        if count as f64 >= rank {
            if bound.is_infinite() {
                return previous.0;
            }
            let in_bucket = (count - previous.1) as f64;
            let fraction = if in_bucket == 0.0 {
                0.0
            } else {
                (rank - previous.1 as f64) / in_bucket
            };
            return previous.0 + (bound - previous.0) * fraction;
        }
        previous = (bound, count);
    }
    previous.0
}
