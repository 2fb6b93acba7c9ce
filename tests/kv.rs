//! `wasi:keyvalue` driven from a real guest (`components/fixture-state`),
//! through the host, on the embedded store and on Redis.

use std::time::Duration;

use folio_tests::{Host, client, fixture_state_manifest, start_with_runtime_config};
use serde_json::{Value, json};

fn manifest() -> String {
    fixture_state_manifest(&[
        (
            "/a",
            "cache-a",
            r#"key_value_stores = ["default", "sessions"]"#,
        ),
        ("/b", "cache-b", r#"key_value_stores = ["default"]"#),
    ])
}

/// A host on the embedded store, or on Redis when `redis_url` is given.
fn host(redis_url: Option<&str>) -> (Host, tempfile::TempDir) {
    let config = redis_url.map(|url| {
        ["default", "sessions"]
            .map(|store| format!("[key_value_store.{store}]\ntype = \"redis\"\nurl = \"{url}\"\n"))
            .join("\n")
    });
    start_with_runtime_config(&manifest(), config.as_deref())
}

async fn ops(host: &Host, path: &str, store: &str, ops: Value) -> Vec<Value> {
    let response = client()
        .post(host.url(path))
        .json(&json!({ "store": store, "ops": ops }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["results"].as_array().unwrap().clone()
}

async fn guest_conformance(host: &Host, run: &str) {
    let key = |k: &str| format!("{run}-{k}");
    let r = ops(
        host,
        "/a/kv",
        "default",
        json!([
            {"set": {"key": key("greeting"), "value": "hello"}},
            {"get": key("greeting")},
            {"exists": key("greeting")},
            {"increment": {"key": key("visits"), "delta": 2}},
            {"increment": {"key": key("visits"), "delta": 3}},
            {"delete": key("greeting")},
            {"get": key("greeting")},
            {"get": ""},
            {"setTtl": {"key": key("otp"), "value": "123456", "ttlMs": 1500}},
            {"exists": key("otp")},
        ]),
    )
    .await;
    assert_eq!(r[1], json!({"ok": "hello"}));
    assert_eq!(r[2], json!({"ok": true}));
    assert_eq!(r[4], json!({"ok": 5}));
    assert_eq!(r[6], json!({"ok": null}));
    assert!(
        r[7]["error"].is_string(),
        "an empty key must be a typed error: {}",
        r[7]
    );
    assert_eq!(r[9], json!({"ok": true}));

    tokio::time::sleep(Duration::from_millis(2000)).await;
    let r = ops(host, "/a/kv", "default", json!([{"exists": key("otp")}])).await;
    assert_eq!(r[0], json!({"ok": false}), "the key outlived its ttl");

    // Stores are per component and per name.
    let r = ops(host, "/b/kv", "default", json!([{"get": key("visits")}])).await;
    assert_eq!(
        r[0],
        json!({"ok": null}),
        "component b read component a's key"
    );
    let r = ops(host, "/a/kv", "sessions", json!([{"get": key("visits")}])).await;
    assert_eq!(
        r[0],
        json!({"ok": null}),
        "store `sessions` read store `default`"
    );
    let r = ops(host, "/b/kv", "sessions", json!([{"get": "x"}])).await;
    assert_eq!(
        r[0],
        json!({"error": "Error::NoSuchStore"}),
        "an undeclared store opened"
    );
}

#[tokio::test]
async fn embedded_through_a_guest() {
    let (host, _dir) = host(None);
    guest_conformance(&host, "embedded").await;
}

#[tokio::test]
async fn redis_through_a_guest() {
    let url = std::env::var("FOLIO_TEST_REDIS_URL")
        .expect("FOLIO_TEST_REDIS_URL is not set: run `bash infra/redis.sh` and export its URL");
    let run = format!(
        "run{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    );
    let (host, _dir) = host(Some(&url));
    guest_conformance(&host, &run).await;
}
