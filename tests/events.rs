//! Events end to end, through real guests: a component's transactional and
//! fire-and-forget publishes reach a worker component, with retries and a
//! dead-letter topic, on the embedded log (with SQLite) and on Kafka (with
//! Postgres); and nothing committed is lost when the host is killed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use folio_tests::{
    Host, HostOptions, client, events_manifest, post_json, start_with_runtime_config,
};
use serde_json::{Value, json};

async fn rows(host: &Host, what: &str) -> Vec<Value> {
    let response = client()
        .get(host.url(&format!("/ev/{what}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["rows"].as_array().unwrap().clone()
}

/// Received events as (data, topic, type, attempt, extensions, deliveries).
async fn received(host: &Host) -> Vec<(String, String, String, i64, Value, i64)> {
    rows(host, "received")
        .await
        .into_iter()
        .map(|r| {
            (
                r[3].as_str().unwrap().to_string(),
                r[1].as_str().unwrap().to_string(),
                r[2].as_str().unwrap().to_string(),
                r[4].as_i64().unwrap(),
                serde_json::from_str(r[5].as_str().unwrap()).unwrap(),
                r[6].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Waits until every key of `keys` was received; returns what was received.
async fn wait_received(
    host: &Host,
    keys: &BTreeSet<String>,
    within: Duration,
) -> Vec<(String, String, String, i64, Value, i64)> {
    let deadline = Instant::now() + within;
    loop {
        let got = received(host).await;
        let seen: BTreeSet<String> = got.iter().map(|r| r.0.clone()).collect();
        if keys.is_subset(&seen) {
            return got;
        }
        if Instant::now() > deadline {
            let missing: Vec<_> = keys.difference(&seen).take(20).collect();
            panic!(
                "{} of {} events never arrived, e.g. {missing:?}",
                keys.difference(&seen).count(),
                keys.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn keys(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn unique_topic(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

async fn conformance(host: &Host, topic: &str) {
    let write = |keys: &[&str], event_type: &str, commit: bool| json!({"keys": keys, "topic": topic, "type": event_type, "commit": commit});

    // Committed transactional events arrive once each, in order per key.
    let (status, body) = post_json(
        host,
        "/ev/write",
        write(&["a1", "a2", "a3"], "fixture.ok", true),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"].as_array().unwrap().len(), 3);
    // The publishing request's trace travels with the event (CloudEvents
    // `traceparent` extension).
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let response = client()
        .post(host.url("/ev/write"))
        .header("traceparent", format!("00-{trace_id}-00f067aa0ba902b7-01"))
        .json(&write(&["traced"], "fixture.ok", true))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    // A rolled-back transaction's event never does.
    let (status, _) = post_json(
        host,
        "/ev/write",
        write(&["rolled-back"], "fixture.ok", false),
    )
    .await;
    assert_eq!(status, 200);
    // Fire-and-forget publish.
    let (status, body) =
        post_json(host, "/ev/emit", json!({"topic": topic, "key": "emitted"})).await;
    assert_eq!(status, 200, "{body}");
    // A handler that fails its first two tries gets a third.
    let (status, _) = post_json(
        host,
        "/ev/write",
        write(&["flaky"], "fixture.fail-twice", true),
    )
    .await;
    assert_eq!(status, 200);
    // One that always fails, one that rejects, one that traps: dead letters.
    for (key, event_type) in [
        ("doomed", "fixture.always-fail"),
        ("rejected", "fixture.reject"),
        ("trapped", "fixture.trap"),
    ] {
        let (status, _) = post_json(host, "/ev/write", write(&[key], event_type, true)).await;
        assert_eq!(status, 200);
    }

    let expected = keys(&[
        "a1", "a2", "a3", "emitted", "flaky", "doomed", "rejected", "trapped",
    ]);
    let got = wait_received(host, &expected, Duration::from_secs(60)).await;
    let by_key = |k: &str| got.iter().find(|r| r.0 == k).unwrap().clone();
    for k in ["a1", "a2", "a3", "traced", "emitted"] {
        let (_, t, ty, attempt, _, deliveries) = by_key(k);
        assert_eq!(
            (t.as_str(), ty.as_str(), attempt, deliveries),
            (topic, "fixture.ok", 1, 1),
            "{k}"
        );
    }
    let (_, _, _, _, ext, _) = by_key("traced");
    let traceparent = ext["traceparent"].as_str().unwrap_or_default();
    assert!(traceparent.starts_with(&format!("00-{trace_id}-")), "{ext}");
    let (_, _, _, _, ext, _) = by_key("emitted");
    assert_eq!(ext["traceparent"].as_str().map(str::len), Some(55), "{ext}");
    let (_, t, _, attempt, _, _) = by_key("flaky");
    assert_eq!(
        (t.as_str(), attempt),
        (topic, 3),
        "flaky succeeds on its third try"
    );

    let dlq = format!("{topic}.dlq");
    let (_, t, _, _, ext, _) = by_key("doomed");
    assert_eq!(t, dlq);
    assert_eq!(ext["folioattempts"], "3", "{ext}");
    assert_eq!(ext["foliotopic"], topic, "{ext}");
    assert!(
        ext["folioerror"].as_str().unwrap().contains("always fails"),
        "{ext}"
    );
    let (_, t, _, _, ext, _) = by_key("rejected");
    assert_eq!(
        (t.as_str(), ext["folioattempts"].as_str()),
        (dlq.as_str(), Some("1")),
        "rejected at once: {ext}"
    );
    let (_, t, _, _, ext, _) = by_key("trapped");
    assert_eq!(t, dlq);
    assert!(
        ext["folioerror"].as_str().unwrap().contains("trap"),
        "{ext}"
    );

    // Tries the handler saw: one each for the five that succeeded at once,
    // three for flaky, doomed and trapped (max_attempts), one for rejected.
    let tries = rows(host, "tries").await;
    assert_eq!(tries.len(), 5 + 3 + 3 + 3 + 1, "tries: {tries:?}");

    // The rolled-back key is neither stored nor delivered.
    let writes: BTreeSet<String> = rows(host, "writes")
        .await
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert!(!writes.contains("rolled-back"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(received(host).await.iter().all(|r| r.0 != "rolled-back"));

    // Bad input gets a typed error, not a dead host.
    let (status, body) = post_json(
        host,
        "/ev/emit",
        json!({"topic": "no spaces allowed", "key": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("InvalidEvent"),
        "{body}"
    );
    let (status, body) = post_json(
        host,
        "/ev/write",
        json!({"keys": ["x"], "topic": "", "commit": true}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["kind"], "invalid-statement");
}

#[tokio::test]
async fn embedded_log_with_sqlite() {
    let topic = unique_topic("notes");
    let (host, _dir) = start_with_runtime_config(&events_manifest(&topic), None);
    conformance(&host, &topic).await;
}

#[tokio::test]
async fn kafka_with_postgres() {
    let brokers = std::env::var("FOLIO_TEST_KAFKA_BROKERS").expect(
        "FOLIO_TEST_KAFKA_BROKERS is not set: run `bash infra/kafka.sh` and export its address",
    );
    let postgres = std::env::var("FOLIO_TEST_POSTGRES_URL").expect(
        "FOLIO_TEST_POSTGRES_URL is not set: run `bash infra/postgres.sh` and export its URL",
    );
    let topic = unique_topic("notes");
    let config = format!(
        "[event_log]\ntype = \"kafka\"\nbrokers = \"{brokers}\"\n\n[sqlite_database.default]\ntype = \"postgres\"\nurl = \"{postgres}\"\n"
    );
    drop_schema(&postgres, "folio_events").await;
    let (host, _dir) = start_with_runtime_config(&events_manifest(&topic), Some(&config));
    conformance(&host, &topic).await;
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .unwrap();
}

/// kill -9 in the middle of a stream of writes: after a restart, every write
/// the client saw committed has its event delivered, and every delivered
/// event belongs to a committed write.
#[tokio::test]
async fn killed_host_loses_no_committed_event() {
    let topic = unique_topic("kill");
    let manifest = events_manifest(&topic);
    let dir = tempfile::tempdir().unwrap();
    let options = || HostOptions {
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let host = Host::start_with(&manifest, options());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut writers = Vec::new();
    for w in 0..4 {
        let url = host.url("/ev/write");
        let topic = topic.clone();
        let stop = stop_rx.clone();
        writers.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0.. {
                if *stop.borrow() {
                    break;
                }
                let key = format!("w{w}-{i:05}");
                let sent = client()
                    .post(&url)
                    .json(&json!({"keys": [key], "topic": topic}))
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status() == 200 => acked.push(key),
                    _ => break,
                }
            }
            acked
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    host.signal("KILL");
    stop_tx.send_replace(true);
    let mut acked = BTreeSet::new();
    for w in writers {
        acked.extend(w.await.unwrap());
    }
    assert!(
        acked.len() > 20,
        "only {} writes before the kill",
        acked.len()
    );
    drop(host);

    let host = Host::start_with(&manifest, options());
    let got = wait_received(&host, &acked, Duration::from_secs(60)).await;
    let committed: BTreeSet<String> = rows(&host, "writes")
        .await
        .iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    assert!(acked.is_subset(&committed));
    let delivered: BTreeSet<String> = got.iter().map(|r| r.0.clone()).collect();
    // Writes in flight at the kill may have committed without an answer:
    // their events must arrive too, and nothing else may.
    let got = wait_received(&host, &committed, Duration::from_secs(30)).await;
    let delivered_now: BTreeSet<String> = got.iter().map(|r| r.0.clone()).collect();
    assert!(delivered.is_subset(&delivered_now));
    assert_eq!(
        delivered_now, committed,
        "delivered events are exactly the committed writes"
    );
    eprintln!(
        "{} writes acknowledged, {} committed, all delivered",
        acked.len(),
        committed.len()
    );
}
