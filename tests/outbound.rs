//! Outbound HTTP only to declared hosts, and over the network only to public
//! addresses unless `[outbound] allow_private` lists them (SSRF protection);
//! `*.spin.internal` chains in-process.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use folio_tests::{
    Host, client, fixtures_manifest, start_failure_with_runtime_config, start_with_runtime_config,
    static_server,
};
use serde_json::Value;

/// Lets guests reach the test's loopback servers.
const ALLOW_LOOPBACK: &str = "[outbound]\nallow_private = [\"127.0.0.0/8\"]\n";

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
    let (host, _dir) = start_with_runtime_config(
        &fixtures_manifest(&[format!("http://127.0.0.1:{allowed_port}")]),
        Some(ALLOW_LOOPBACK),
    );

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

/// A loopback HTTP server that counts the connections it accepts.
fn counting_server() -> (u16, Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            count.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = stream.read(&mut buf);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 8\r\nconnection: close\r\n\r\nreached!",
                );
            });
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn non_public_destinations_are_refused_unless_allowed() {
    let (port, accepted) = counting_server();
    let manifest = fixtures_manifest(&[
        format!("http://127.0.0.1:{port}"),
        format!("http://localhost:{port}"),
        format!("http://169.254.169.254:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://[::ffff:7f00:1]:{port}"),
    ]);

    // Declared in allowed_outbound_hosts, yet not public: refused before connecting.
    let host = Host::start(&manifest);
    for url in [
        format!("http://127.0.0.1:{port}/"),
        // A name resolving to loopback is judged by its addresses.
        format!("http://localhost:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        // Cloud metadata services live on link-local.
        format!("http://169.254.169.254:{port}/latest/meta-data/"),
    ] {
        let (status, body) = fetch(&host, "/fx", &url).await;
        assert_eq!(status, 502, "{url}: {body}");
        assert!(
            body["error"]
                .as_str()
                .is_some_and(|e| e.contains("DestinationIpProhibited")),
            "{url}: {body}"
        );
    }
    let line = host.wait_for_log(|v| {
        v["level"] == "warn"
            && v["data"]["host"] == "localhost"
            && v["message"]
                .as_str()
                .is_some_and(|m| m.contains("not public"))
    });
    assert_eq!(line["data"]["component"], "fixtures", "{line}");
    assert!(
        line["data"]["refused"]
            .as_str()
            .is_some_and(|r| r.contains("127.0.0.1") || r.contains("::1")),
        "{line}"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the loopback server was reached"
    );
    drop(host);

    // Listed in allow_private: it goes through, names as well as addresses
    // (localhost may resolve to ::1 first: that one is skipped or refused).
    let (host, _dir) = start_with_runtime_config(&manifest, Some(ALLOW_LOOPBACK));
    for url in [
        format!("http://127.0.0.1:{port}/"),
        format!("http://localhost:{port}/"),
    ] {
        let (status, body) = fetch(&host, "/fx", &url).await;
        assert_eq!(status, 200, "{url}: {body}");
        assert_eq!(body["body"], "reached!", "{url}: {body}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
    let (status, body) = fetch(
        &host,
        "/fx",
        &format!("http://169.254.169.254:{port}/latest/meta-data/"),
    )
    .await;
    assert_eq!(status, 502, "only the listed networks: {body}");
}

#[test]
fn a_malformed_allow_private_entry_stops_start_up() {
    let (code, stderr) = start_failure_with_runtime_config(
        &fixtures_manifest(&[]),
        "[outbound]\nallow_private = [\"127.0.0.0/8\", \"10.0.0.0/33\"]\n",
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("allow_private") && stderr.contains("10.0.0.0/33"),
        "{stderr}"
    );
}
