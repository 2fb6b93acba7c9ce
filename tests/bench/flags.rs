//! What a feature flag costs the request that asks it, on a real host
//! (SQLite and the embedded event log).
//!
//!     cargo build --release -p folio -p folio-tests --bin folio-flags-bench
//!     "$CARGO_TARGET_DIR"/release/folio-flags-bench [--requests 2000] [--parallel 8]
//!
//! 1. OFREP: bulk evaluations of the flag file (5 flags, targeting
//!    rules, a fractional rollout), as an OpenFeature provider asks them.
//! 2. The guest helper's cost: the same search (`q=okapi`, relevance, so
//!    it asks `enhancedSearch`, here off) on a host whose flags service
//!    evaluates it, and on a host without one (the helper's call fails at
//!    once and the default applies). The difference is one chained bulk
//!    evaluation.
//!
//! Prints p50/p99 and requests/s; asserts only that every answer was 200.

use std::time::{Duration, Instant};

use folio_tests::flags::flags_component;
use folio_tests::load::{ms, percentile};
use folio_tests::search::{fresh_group, start_search, start_search_beside};
use folio_tests::services::{Api, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client};
use futures_util::StreamExt;
use serde_json::json;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn flag_file() -> serde_json::Value {
    json!({
        "flags": {
            "enhancedSearch": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "off", "targeting": {"if": [{"==": [{"var": "role"}, "beta"]}, "on", null]}},
            "newRecommendationEngine": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "off", "targeting": {"if": [{"$ref": "staff"}, "on", null]}},
            "rollout": {"state": "ENABLED", "variants": {"on": true, "off": false},
                "defaultVariant": "off", "targeting": {"fractional": [["on", 30], ["off", 70]]}},
            "headline-color": {"state": "ENABLED", "variants": {"red": "#c00", "blue": "#00c"},
                "defaultVariant": "red", "targeting": {"if": [{"sem_ver": [{"var": "appVersion"}, ">=", "2.0.0"]}, "blue", null]}},
            "retired": {"state": "DISABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off"}
        },
        "$evaluators": {"staff": {"in": [{"var": "role"}, ["admin", "creator"]]}}
    })
}

/// `requests` sends of `one`, `parallel` at a time: sorted latencies and
/// the wall time.
async fn drive<F, Fut>(requests: usize, parallel: usize, one: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures_util::stream::iter(0..requests)
        .map(|i| {
            let request = one(i);
            async move {
                let t = Instant::now();
                let status = request.await;
                assert_eq!(status, 200);
                t.elapsed()
            }
        })
        .buffer_unordered(parallel)
        .collect()
        .await;
    let wall = started.elapsed();
    latencies.sort();
    (latencies, wall)
}

fn report(what: &str, latencies: &[Duration], wall: Duration) -> f64 {
    let p50 = ms(percentile(latencies, 50.0));
    println!(
        "{what}: p50 {p50:.2} ms, p99 {:.2} ms, {:.0} requests/s",
        ms(percentile(latencies, 99.0)),
        latencies.len() as f64 / wall.as_secs_f64()
    );
    p50
}

async fn search(host: &Host) -> u16 {
    client()
        .get(host.url("/api/v1/search?q=okapi"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::main]
async fn main() {
    let requests = arg("--requests", 2000);
    let parallel = arg("--parallel", 8);
    let run = unique();
    let exempt_loopback = "[rate_limits]\nexempt = [\"127.0.0.1\"]\n";

    let with_id = format!("fb{run}");
    let (with_flags, _d1) = start_search_beside(
        &with_id,
        &fresh_group(&with_id),
        None,
        &[],
        true,
        exempt_loopback,
        &flags_component(&with_id),
        &[],
    )
    .await;
    let api = Api { host: &with_flags };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let r = api
        .call("PUT", "/api/v1/flags", Some(&admin), Some(flag_file()))
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);

    // 1. OFREP bulk.
    let host = &with_flags;
    let (latencies, wall) = drive(requests, parallel, |i| async move {
        client()
            .post(host.url("/ofrep/v1/evaluate/flags"))
            .json(&json!({"context": {"targetingKey": format!("user-{i}"), "appVersion": "2.1.0"}}))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    })
    .await;
    report(
        &format!("OFREP bulk evaluation (5 flags), {parallel} at a time"),
        &latencies,
        wall,
    );

    // 2. A search that asks a flag, with and without the flags service.
    let without_id = format!("fn{run}");
    let (without_flags, _d2) =
        start_search(&without_id, &fresh_group(&without_id), None, &[], true).await;
    let mut p50s = Vec::new();
    for (what, host) in [
        (
            "search asking enhancedSearch, flags service present",
            &with_flags,
        ),
        (
            "search asking enhancedSearch, no flags service",
            &without_flags,
        ),
    ] {
        // Warm: instance pools, the index, the circuit breaker's state.
        drive(200, parallel, |_| search(host)).await;
        let (latencies, wall) = drive(requests, parallel, |_| search(host)).await;
        p50s.push(report(
            &format!("{what}, {parallel} at a time"),
            &latencies,
            wall,
        ));
    }
    println!(
        "the flag evaluation adds {:.2} ms at p50 to a search",
        p50s[0] - p50s[1]
    );
}
