//! Outbound HTTP only to declared hosts; `*.spin.internal` chains in-process.

use folio_tests::{Host, client, fixtures_manifest, static_server};
use serde_json::Value;

async fn fetch(host: &Host, component_prefix: &str, url: &str) -> (u16, Value) {
    let response = client()
        .get(host.url(&format!("{component_prefix}/fetch")))
        .query(&[("url", url)])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn declared_hosts_work_and_others_are_refused() {
    let allowed_port = static_server("hello from loopback");
    let other_port = static_server("should never be read");
    let host = Host::start(&fixtures_manifest(&[format!(
        "http://127.0.0.1:{allowed_port}"
    )]));

    let (status, body) = fetch(&host, "/fx", &format!("http://127.0.0.1:{allowed_port}/")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["body"], "hello from loopback");

    let (status, body) = fetch(&host, "/fx", &format!("http://127.0.0.1:{other_port}/")).await;
    assert_eq!(status, 502, "undeclared port must be refused: {body}");

    // `sealed` declares no outbound hosts at all.
    let (status, body) = fetch(
        &host,
        "/sealed",
        &format!("http://127.0.0.1:{allowed_port}/"),
    )
    .await;
    assert_eq!(status, 502, "{body}");
    host.wait_for_log(|v| {
        v["level"] == "warn"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("outbound request refused"))
    });
}

#[tokio::test]
async fn spin_internal_chains_to_another_component_in_process() {
    let host = Host::start(&fixtures_manifest(&[]));
    // `internal` has no public route; chaining reaches it by component id.
    let (status, body) = fetch(&host, "/fx", "http://internal.spin.internal/counter").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], 200);
    assert_eq!(body["body"], "1");

    let (status, body) = fetch(&host, "/fx", "http://routes.spin.internal/items/7").await;
    assert_eq!(status, 200, "{body}");
    let headers: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(headers["spin-path-match-id"], "7");

    // The chained call keeps the caller's request id.
    let response = client()
        .get(host.url("/fx/fetch"))
        .query(&[("url", "http://routes.spin.internal/exact")])
        .header("x-request-id", "chain-test-1")
        .send()
        .await
        .unwrap();
    let body: Value = response.json().await.unwrap();
    let headers: Value = serde_json::from_str(body["body"].as_str().unwrap()).unwrap();
    assert_eq!(headers["x-request-id"], "chain-test-1");

    // `sealed` did not declare *.spin.internal.
    let (status, _) = fetch(&host, "/sealed", "http://internal.spin.internal/counter").await;
    assert_eq!(status, 502);

    // An unknown component is an error, not a hang.
    let (status, _) = fetch(&host, "/fx", "http://nobody.spin.internal/").await;
    assert_eq!(status, 502);
}
