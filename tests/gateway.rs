//! The gateway in front of every component, black-box: who the client is
//! (trusted proxies only), rate limits (429 with Retry-After and RateLimit
//! headers, per address, shared through Redis), CORS and security headers,
//! limits on slow and idle connections, and circuit breakers on chained calls.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use folio_tests::{
    Host, build_fixtures, client, start_with_runtime_config, users_manifest, users_rate_limits,
    wasm,
};
use serde_json::{Value, json};

/// Two fixture components: `front` (may call any `*.spin.internal`) under
/// `/fx/...`, and `dep` under `/dep/...`; `extra` is appended (policies).
fn manifest(extra: &str) -> String {
    build_fixtures();
    let fixtures = wasm("folio_fixtures");
    format!(
        r#"spin_manifest_version = 2
[application]
name = "gateway"

[[trigger.http]]
route = "/fx/..."
component = "front"

[[trigger.http]]
route = "/dep/..."
component = "dep"

[component.front]
source = "{fixtures}"
allowed_outbound_hosts = ["http://*.spin.internal"]

[component.dep]
source = "{fixtures}"
{extra}"#,
        fixtures = fixtures.display()
    )
}

const COUNTER_LIMIT: &str = r#"
[[component.front.tool.folio.rate_limits]]
name = "counter"
routes = ["/fx/counter"]
key = "address"
limit = 3
window_secs = 60
"#;

async fn get_from(host: &Host, path: &str, from: Option<&str>) -> reqwest::Response {
    let mut request = client().get(host.url(path));
    if let Some(from) = from {
        request = request.header("x-forwarded-for", from);
    }
    request.send().await.unwrap()
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test]
async fn forwarded_addresses_are_believed_only_from_trusted_proxies() {
    let (untrusting, _d1) = start_with_runtime_config(&manifest(""), None);
    let seen: Value = get_from(&untrusting, "/fx/headers", Some("203.0.113.9"))
        .await
        .json()
        .await
        .unwrap();
    let addr = seen["spin-client-addr"].as_str().unwrap();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "a spoofed header was believed: {addr}"
    );

    let (trusting, _d2) = start_with_runtime_config(
        &manifest(""),
        Some("[http]\ntrusted_proxies = [\"127.0.0.0/8\"]\n"),
    );
    let seen: Value = get_from(&trusting, "/fx/headers", Some("198.51.100.1, 203.0.113.9"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(seen["spin-client-addr"], "203.0.113.9:0");
}

#[tokio::test]
async fn a_policy_refuses_past_its_limit_per_address_with_retry_after() {
    let (host, _dir) = start_with_runtime_config(
        &manifest(COUNTER_LIMIT),
        Some("[http]\ntrusted_proxies = [\"127.0.0.1\"]\n"),
    );
    for remaining in [2, 1, 0] {
        let r = get_from(&host, "/fx/counter", Some("192.0.2.10")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "ratelimit-policy"), "\"counter\";q=3;w=60");
        assert!(
            header(&r, "ratelimit").starts_with(&format!("\"counter\";r={remaining};t=")),
            "{}",
            header(&r, "ratelimit")
        );
    }
    let refused = get_from(&host, "/fx/counter", Some("192.0.2.10")).await;
    assert_eq!(refused.status(), 429);
    let retry: u64 = header(&refused, "retry-after").parse().unwrap();
    assert!(
        (15..=20).contains(&retry),
        "one request refills in 20 s: {retry}"
    );
    assert_eq!(header(&refused, "content-type"), "application/problem+json");
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:folio:problem:rate-limited");
    assert!(problem["detail"].as_str().unwrap().contains("`counter`"));

    // Another address has its own bucket; a route without a policy has none;
    // an IPv6 client rotating within its /64 is one client.
    assert_eq!(
        get_from(&host, "/fx/counter", Some("192.0.2.11"))
            .await
            .status(),
        200
    );
    let other = get_from(&host, "/fx/headers", Some("192.0.2.10")).await;
    assert_eq!(other.status(), 200);
    assert!(header(&other, "ratelimit").is_empty());
    for i in 0..3 {
        let from = format!("2001:db8:7:7::{i:x}");
        assert_eq!(
            get_from(&host, "/fx/counter", Some(&from)).await.status(),
            200
        );
    }
    assert_eq!(
        get_from(&host, "/fx/counter", Some("2001:db8:7:7:ffff::1"))
            .await
            .status(),
        429
    );
    let metrics = client()
        .get(host.url("/_folio/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("folio_rate_limited_total{component=\"front\",policy=\"counter\"} 2"),
        "{metrics}"
    );
}

#[tokio::test]
async fn rate_limit_counters_are_shared_by_hosts_on_one_redis() {
    let url = std::env::var("FOLIO_TEST_REDIS_URL")
        .expect("FOLIO_TEST_REDIS_URL is not set: run `bash infra/redis.sh` and export its URL");
    let config = format!(
        "[http]\ntrusted_proxies = [\"127.0.0.1\"]\n[rate_limits]\nstore = \"redis\"\nurl = \"{url}\"\n"
    );
    let (a, _da) = start_with_runtime_config(&manifest(COUNTER_LIMIT), Some(&config));
    let (b, _db) = start_with_runtime_config(&manifest(COUNTER_LIMIT), Some(&config));
    // A fresh address per run: counters outlive hosts in Redis.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let client_address = format!(
        "10.{}.{}.{}",
        nanos % 250,
        (nanos >> 8) % 250,
        (nanos >> 16) % 250
    );
    for _ in 0..3 {
        assert_eq!(
            get_from(&a, "/fx/counter", Some(&client_address))
                .await
                .status(),
            200
        );
    }
    let on_b = get_from(&b, "/fx/counter", Some(&client_address)).await;
    assert_eq!(on_b.status(), 429, "host B did not see host A's counts");
    assert_eq!(
        get_from(&a, "/fx/counter", Some(&client_address))
            .await
            .status(),
        429
    );
}

/// The repo's policies on the users service, the meta route next to it: 64
/// registrations at once from one address are mostly refused, and the
/// unrelated route stays fast while they run.
#[tokio::test]
async fn a_registration_flood_is_refused_and_other_routes_stay_fast() {
    let mut manifest = users_manifest("u", "gateway-flood");
    manifest.push_str(&folio_tests::meta_openapi_component(
        "u-meta",
        "/api/v1/meta",
        &[("u", "/api/v1/openapi/users.json")],
    ));
    manifest.push_str(&users_rate_limits("u"));
    let (host, _dir) = start_with_runtime_config(&manifest, None);
    for _ in 0..20 {
        assert_eq!(get_from(&host, "/api/v1/meta", None).await.status(), 200);
    }
    let flood = (0..64).map(|i| {
        let url = host.url("/api/v1/auth/register");
        async move {
            client()
                .post(url)
                .json(&json!({
                    "email": format!("flood{i}.{}@example.com", std::process::id()),
                    "password": "a long and quiet river 42",
                    "firstName": "Flood",
                    "lastName": "Er",
                }))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    });
    let flood = tokio::spawn(futures_util::future::join_all(flood));
    let mut latencies = Vec::new();
    while !flood.is_finished() || latencies.len() < 50 {
        let started = Instant::now();
        assert_eq!(get_from(&host, "/api/v1/meta", None).await.status(), 200);
        latencies.push(started.elapsed());
    }
    let statuses = flood.await.unwrap();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    let accepted = statuses.iter().filter(|s| **s == 202 || **s == 201).count();
    assert_eq!(refused + accepted, 64, "{statuses:?}");
    assert!(accepted <= 10 && refused >= 54, "{statuses:?}");
    latencies.sort();
    let p99 = latencies[(latencies.len() * 99).div_ceil(100) - 1];
    eprintln!(
        "meta during the flood: {} requests, p50 {:?}, p99 {p99:?}",
        latencies.len(),
        latencies[latencies.len() / 2]
    );
    assert!(p99 < Duration::from_millis(20), "p99 {p99:?}");
}

#[tokio::test]
async fn cors_preflights_and_security_headers() {
    let config = r#"
[http]
strict_transport_security = "max-age=63072000"
[http.cors]
allowed_origins = ["https://admin.example.com"]
allow_credentials = true
"#;
    let (host, _dir) = start_with_runtime_config(&manifest(""), Some(config));
    let preflight = |origin: &'static str, method: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, host.url("/fx/echo"))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let allowed = preflight("https://admin.example.com", "POST")
        .await
        .unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(
        header(&allowed, "access-control-allow-origin"),
        "https://admin.example.com"
    );
    assert_eq!(header(&allowed, "access-control-allow-credentials"), "true");
    assert!(header(&allowed, "access-control-allow-methods").contains("POST"));
    let refused = preflight("https://evil.example", "POST").await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(header(&refused, "access-control-allow-origin").is_empty());
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:folio:problem:cors-refused");

    let from_admin = client()
        .get(host.url("/fx/headers"))
        .header("origin", "https://admin.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&from_admin, "access-control-allow-origin"),
        "https://admin.example.com"
    );
    assert!(header(&from_admin, "access-control-expose-headers").contains("ratelimit"));
    let from_evil = client()
        .get(host.url("/fx/headers"))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(header(&from_evil, "access-control-allow-origin").is_empty());

    for path in ["/fx/headers", "/nowhere", "/_folio/health"] {
        let r = client().get(host.url(path)).send().await.unwrap();
        assert_eq!(header(&r, "x-content-type-options"), "nosniff", "{path}");
        assert_eq!(
            header(&r, "strict-transport-security"),
            "max-age=63072000",
            "{path}"
        );
        assert!(!header(&r, "referrer-policy").is_empty(), "{path}");
    }
}

/// Reads until the server closes the connection; how long that took.
fn time_to_close(stream: &mut TcpStream, limit: Duration) -> Duration {
    stream.set_read_timeout(Some(limit)).unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return started.elapsed(),
            Ok(_) => continue,
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_are_closed_and_connections_are_capped() {
    let config = "[http]\nheader_read_timeout_ms = 500\nidle_timeout_ms = 700\n";
    let (host, _dir) = start_with_runtime_config(&manifest(""), Some(config));
    let addr = host.url("").trim_start_matches("http://").to_string();

    // Slowloris: half a request head, then nothing.
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /fx/headers HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let closed = time_to_close(&mut slow, Duration::from_secs(5));
    assert!(
        closed < Duration::from_secs(2),
        "a slow head held its connection {closed:?}"
    );

    // Keep-alive with nothing to do.
    let mut idle = TcpStream::connect(&addr).unwrap();
    idle.write_all(b"GET /fx/headers HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut first = [0u8; 12];
    idle.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"HTTP/1.1 200");
    let closed = time_to_close(&mut idle, Duration::from_secs(5));
    assert!(
        closed < Duration::from_secs(2),
        "an idle connection stayed {closed:?}"
    );

    let (capped, _dir) = start_with_runtime_config(
        &manifest(""),
        Some("[http]\nmax_connections = 1\nheader_read_timeout_ms = 1000\n"),
    );
    let addr = capped.url("").trim_start_matches("http://").to_string();
    let _holder = TcpStream::connect(&addr).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let r = client()
        .get(capped.url("/fx/headers"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "the second connection was served beside the first: {:?}",
        started.elapsed()
    );
}

async fn fetch_through_front(host: &Host, dep_path: &str) -> (Value, Duration) {
    let started = Instant::now();
    let url = format!("http://dep.spin.internal{dep_path}");
    let r = client()
        .get(host.url("/fx/fetch"))
        .query(&[("url", url.as_str())])
        .send()
        .await
        .unwrap();
    (r.json().await.unwrap(), started.elapsed())
}

#[tokio::test]
async fn a_hanging_dependency_trips_its_breaker_which_closes_when_it_recovers() {
    let config =
        "[outbound]\ncall_timeout_ms = 300\nminimum_calls = 4\nopen_ms = 1500\nmax_retries = 0\n";
    let (host, _dir) = start_with_runtime_config(&manifest(""), Some(config));
    for _ in 0..4 {
        let (answer, took) = fetch_through_front(&host, "/dep/slow?ms=5000").await;
        assert_eq!(answer["status"], 504, "{answer}");
        assert!(took < Duration::from_secs(2), "{took:?}");
    }
    let (answer, took) = fetch_through_front(&host, "/dep/counter").await;
    assert_eq!(answer["status"], 503, "{answer}");
    assert!(
        answer["body"].as_str().unwrap().contains("circuit-open"),
        "{answer}"
    );
    assert!(
        took < Duration::from_millis(200),
        "an open breaker answered in {took:?}"
    );
    let metrics = |host: &Host| {
        let url = host.url("/_folio/metrics");
        async move {
            client()
                .get(url)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    let m = metrics(&host).await;
    assert!(
        m.contains("folio_circuit_state{destination=\"dep.spin.internal\",state=\"open\"} 1"),
        "{m}"
    );

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (answer, _) = fetch_through_front(&host, "/dep/counter").await;
    assert_eq!(answer["status"], 200, "the trial call: {answer}");
    let (answer, _) = fetch_through_front(&host, "/dep/counter").await;
    assert_eq!(answer["status"], 200, "{answer}");
    let m = metrics(&host).await;
    assert!(
        m.contains("folio_circuit_state{destination=\"dep.spin.internal\",state=\"closed\"} 1")
    );
    assert!(m.contains("folio_circuit_opened_total{destination=\"dep.spin.internal\"} 1"));
}
