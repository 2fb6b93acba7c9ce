//! Capacity that cannot deadlock or spill over: chained calls never wait on
//! the request budget, background work has a budget of its own, a
//! component's bulkhead keeps it from taking every slot, and an event
//! trigger handles events side by side while one key stays in order.

use std::time::{Duration, Instant};

use folio_tests::{
    Host, HostOptions, build_fixtures, client, fixtures_manifest, get_json, post_json, wasm,
};
use serde_json::{Value, json};

fn host_with(manifest: &str, args: &[&str]) -> Host {
    Host::start_with(
        manifest,
        HostOptions {
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        },
    )
}

/// Before the executor, 16 such requests at `--max-instances 4` mostly got
/// 503 or 502: each held a slot while its chained call waited for another.
#[tokio::test]
async fn sixteen_concurrent_chained_requests_at_four_instances_all_succeed() {
    let host = host_with(&fixtures_manifest(&[]), &["--max-instances", "4"]);
    let url = host.url("/fx/fetch?url=http://internal.spin.internal/slow%3Fms%3D150");
    let requests: Vec<_> = (0..16)
        .map(|_| {
            let (client, url) = (client(), url.clone());
            tokio::spawn(async move {
                let response = client.get(url).send().await.unwrap();
                let status = response.status().as_u16();
                (status, response.text().await.unwrap())
            })
        })
        .collect();
    for request in requests {
        let (status, body) = request.await.unwrap();
        assert_eq!(status, 200, "{body}");
        let inner: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(inner["status"], 200, "{body}");
        assert_eq!(inner["body"], "slept 150 ms", "{body}");
    }
}

/// The fixtures component behind a bulkhead of 2, and the same code as
/// `routes` without one.
fn bulkhead_manifest() -> String {
    build_fixtures();
    format!(
        r#"spin_manifest_version = 2
[application]
name = "bulkheads"

[[trigger.http]]
route = "/fx/..."
component = "fixtures"

[[trigger.http]]
route = "/exact"
component = "routes"

[component.fixtures]
source = "{source}"
[component.fixtures.tool.folio]
max_concurrency = 2

[component.routes]
source = "{source}"
"#,
        source = wasm("folio_fixtures").display()
    )
}

#[tokio::test]
async fn a_component_stuck_in_loops_takes_only_its_own_slots() {
    let host = host_with(
        &bulkhead_manifest(),
        &["--max-instances", "4", "--request-timeout-ms", "1500"],
    );
    let stuck: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (client(), host.url("/fx/loop"));
            tokio::spawn(async move {
                let response = client.get(url).send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (
                    status,
                    body["type"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(2) {
        let sent = Instant::now();
        let response = client().get(host.url("/exact")).send().await.unwrap();
        assert_eq!(response.status(), 200, "another component is refused");
        slowest = slowest.max(sent.elapsed());
    }
    // Loops hold at most 2 of the 4 slots, so `/exact` never waits for a
    // slot (that wait is 2 s, then 503); spinning guests yield every epoch
    // tick, so they do not hold the executor's threads either. Latency here
    // is CPU shared with two spinning guests (and the other tests); the
    // numbers are in `folio-bulkhead-bench`.
    assert!(
        slowest < Duration::from_millis(1500),
        "slowest: {slowest:?}"
    );
    let mut busy = 0;
    for request in stuck {
        let (status, kind) = request.await.unwrap();
        match kind.as_str() {
            "urn:folio:problem:deadline-exceeded" => assert_eq!(status, 504),
            "urn:folio:problem:component-busy" => {
                assert_eq!(status, 503);
                busy += 1;
            }
            other => panic!("{status} {other}"),
        }
    }
    assert!(busy > 0, "8 loops at a bulkhead of 2 should turn some away");
    let line = host.wait_for_log(|v| v["data"]["kind"] == "component-busy");
    assert_eq!(line["service"], "fixtures", "{line}");
}

/// The events fixture as a worker of `topic` (`concurrency` lanes) and of
/// its dead letters, beside the fixtures component under `/fx/`.
fn events_and_http_manifest(topic: &str, concurrency: usize) -> String {
    build_fixtures();
    format!(
        r#"spin_manifest_version = 2
[application]
name = "background-budget"

[[trigger.http]]
route = "/ev/..."
component = "events"

[[trigger.http]]
route = "/fx/..."
component = "fixtures"

[[trigger.event]]
component = "events"
topics = ["{topic}"]
group = "{topic}-main"
max_attempts = 2
retry_backoff_ms = 20
concurrency = {concurrency}

[[trigger.event]]
component = "events"
topics = ["{topic}.dlq"]
group = "{topic}-dead-letters"

[component.events]
source = "{events}"
sqlite_databases = ["default"]
[component.events.tool.folio]
publishes = ["{topic}"]

[component.fixtures]
source = "{fixtures}"
"#,
        events = wasm("folio_fixture_events").display(),
        fixtures = wasm("folio_fixtures").display()
    )
}

fn unique_topic(prefix: &str) -> String {
    format!("{prefix}-{}", std::process::id())
}

async fn emit(host: &Host, topic: &str, key: &str, data: &str) {
    let (status, body) = post_json(
        host,
        "/ev/emit",
        json!({"topic": topic, "type": "fixture.slow", "key": key, "data": data}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}

async fn rows(host: &Host, path: &str) -> Vec<Value> {
    get_json(host, path).await["rows"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_for_rows(host: &Host, path: &str, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = rows(host, path).await;
        if rows.len() >= count || Instant::now() > deadline {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Before the background budget, events waiting for a slot under an HTTP
/// flood failed their try and, after `max_attempts`, went to the DLQ.
#[tokio::test]
async fn an_http_flood_at_the_instance_limit_dead_letters_no_event() {
    let topic = unique_topic("flooded");
    let host = host_with(
        &events_and_http_manifest(&topic, 1),
        &["--max-instances", "2", "--max-background-instances", "2"],
    );
    for i in 0..12 {
        emit(&host, &topic, &format!("k{i}"), &format!("k{i}")).await;
    }
    // 24 requests that each hold one of the 2 slots for 400 ms: the slots
    // stay full for as long as the 12 slow events take.
    let flood: Vec<_> = (0..24)
        .map(|_| {
            let (client, url) = (client(), host.url("/fx/slow?ms=400"));
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut refused = 0;
    for request in flood {
        if request.await.unwrap() == 503 {
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "the flood should have filled every request slot"
    );
    let spans = wait_for_rows(&host, "/ev/spans", 12).await;
    assert_eq!(spans.len(), 12, "every event handled: {spans:?}");
    let received = rows(&host, "/ev/received").await;
    let dead: Vec<_> = received
        .iter()
        .filter(|row| row[1].as_str().is_some_and(|t| t.ends_with(".dlq")))
        .collect();
    assert!(dead.is_empty(), "dead-lettered: {dead:?}");
    let metrics = client()
        .get(host.url("/_folio/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!metrics.contains("outcome=\"dead_lettered\""), "{metrics}");
}

#[tokio::test]
async fn events_of_one_key_stay_in_order_while_keys_run_side_by_side() {
    let topic = unique_topic("lanes");
    let host = host_with(&events_and_http_manifest(&topic, 4), &[]);
    // A key's lane is a hash of the topic (new each run) and the key: four
    // keys all fell into one lane about one run in 64, eight do one in 16,384.
    let keys = ["a", "b", "c", "d", "e", "f", "g", "h"];
    let rounds = 3;
    for round in 0..rounds {
        for key in keys {
            emit(&host, &topic, key, &format!("{key}-{round}")).await;
        }
    }
    let events = keys.len() * rounds;
    let spans = wait_for_rows(&host, "/ev/spans", events).await;
    assert_eq!(spans.len(), events, "{spans:?}");
    let span = |row: &Value| {
        (
            row[0].as_str().unwrap().to_string(),
            row[1].as_i64().unwrap(),
            row[2].as_i64().unwrap(),
        )
    };
    let spans: Vec<_> = spans.iter().map(span).collect();
    for key in keys {
        let of_key: Vec<_> = spans
            .iter()
            .filter(|(d, _, _)| d.starts_with(key))
            .collect();
        let order: Vec<&str> = of_key.iter().map(|(d, _, _)| d.as_str()).collect();
        let expected: Vec<String> = (0..rounds).map(|r| format!("{key}-{r}")).collect();
        assert_eq!(order, expected, "key {key} out of order");
        for pair in of_key.windows(2) {
            assert!(
                pair[0].2 <= pair[1].1,
                "key {key} ran two events at once: {pair:?}"
            );
        }
    }
    let overlapping = spans.iter().enumerate().any(|(i, a)| {
        spans[i + 1..]
            .iter()
            .any(|b| a.1 < b.2 && b.1 < a.2 && a.0[..1] != b.0[..1])
    });
    assert!(overlapping, "no two keys ran side by side: {spans:?}");
}
