//! A guest that traps, loops or hogs memory fails only its own request.

use std::time::{Duration, Instant};

use folio_tests::{Host, HostOptions, client, fixtures_manifest};
use serde_json::Value;

fn limited_host() -> Host {
    Host::start_with(
        &fixtures_manifest(&[]),
        HostOptions {
            args: ["--request-timeout-ms", "1000", "--max-memory-mb", "64"]
                .map(String::from)
                .to_vec(),
            ..Default::default()
        },
    )
}

async fn problem(host: &Host, path: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let response = client().get(host.url(path)).send().await.unwrap();
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json",
        "{path}"
    );
    (status, response.json().await.unwrap(), elapsed)
}

#[tokio::test]
async fn a_trap_is_a_500_problem() {
    let host = limited_host();
    let (status, body, _) = problem(&host, "/fx/trap").await;
    assert_eq!(status, 500);
    assert_eq!(body["type"], "urn:folio:problem:guest-trap");
    assert_eq!(body["status"], 500);
    host.wait_for_log(|v| v["message"] == "request failed" && v["data"]["kind"] == "guest-trap");
}

#[tokio::test]
async fn an_infinite_loop_is_a_504_within_the_deadline() {
    let host = limited_host();
    let (status, body, elapsed) = problem(&host, "/fx/loop").await;
    assert_eq!(status, 504);
    assert_eq!(body["type"], "urn:folio:problem:deadline-exceeded");
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn a_guest_blocked_in_a_host_call_is_cut_at_the_deadline() {
    let host = limited_host();
    let (status, _, elapsed) = problem(&host, "/fx/slow?ms=10000").await;
    assert_eq!(status, 504);
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");
}

#[tokio::test]
async fn a_memory_hog_is_refused_and_the_memory_comes_back() {
    let host = limited_host();
    // Warm up so the baseline includes the allocator's steady state.
    for _ in 0..3 {
        client().get(host.url("/fx/counter")).send().await.unwrap();
    }
    let baseline = host.rss_bytes();
    for _ in 0..5 {
        let (status, body, _) = problem(&host, "/fx/hog").await;
        assert_eq!(status, 503);
        assert_eq!(body["type"], "urn:folio:problem:memory-limit");
    }
    let after = host.rss_bytes();
    // Five hogs touched 5 × 64 MiB; the pool must have given it back.
    assert!(
        after < baseline + (48 << 20),
        "host RSS grew from {} MiB to {} MiB",
        baseline >> 20,
        after >> 20
    );
}

#[tokio::test]
async fn healthy_routes_keep_answering_while_fixtures_fail() {
    let host = limited_host();
    let client = client();
    let failing: Vec<_> = ["/fx/trap", "/fx/hog", "/fx/loop", "/fx/trap"]
        .into_iter()
        .cycle()
        .take(16)
        .map(|path| {
            let client = client.clone();
            let url = host.url(path);
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for _ in 0..40 {
        let response = client.get(host.url("/fx/counter")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text().await.unwrap(), "1");
    }
    for f in failing {
        assert!([500, 503, 504].contains(&f.await.unwrap()));
    }
    let health = client.get(host.url("/_folio/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
}

#[tokio::test]
async fn an_oversized_body_is_413() {
    let host = Host::start_with(
        &fixtures_manifest(&[]),
        HostOptions {
            args: ["--max-body-bytes", "1024"].map(String::from).to_vec(),
            ..Default::default()
        },
    );
    let client = client();
    let small = client
        .post(host.url("/fx/echo"))
        .body(vec![b'a'; 1000])
        .send()
        .await
        .unwrap();
    assert_eq!(small.status(), 200);
    assert_eq!(small.bytes().await.unwrap().len(), 1000);
    let big = client
        .post(host.url("/fx/echo"))
        .body(vec![b'a'; 4096])
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    // A chunked body has no Content-Length to check up front; the cap still holds.
    let stream = futures_stream(vec![vec![b'b'; 800], vec![b'b'; 800]]);
    let chunked = client
        .post(host.url("/fx/echo"))
        .body(reqwest::Body::wrap_stream(stream))
        .send()
        .await
        .unwrap();
    assert_eq!(chunked.status(), 413);
}

fn futures_stream(
    chunks: Vec<Vec<u8>>,
) -> impl futures_core::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    ChunkStream(chunks.into_iter())
}

struct ChunkStream(std::vec::IntoIter<Vec<u8>>);

impl futures_core::Stream for ChunkStream {
    type Item = Result<Vec<u8>, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        std::task::Poll::Ready(self.0.next().map(Ok))
    }
}

#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let mut host = Host::start(&fixtures_manifest(&[]));
    let url = host.url("/fx/slow?ms=1500");
    let in_flight = tokio::spawn(async move { client().get(url).send().await.unwrap() });
    // Give the request time to reach the host before the signal, even on a busy machine.
    tokio::time::sleep(Duration::from_millis(500)).await;
    host.signal("TERM");
    let response = in_flight.await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "slept 1500 ms");
    assert_eq!(host.wait_exit(Duration::from_secs(10)), Some(0));
}

#[tokio::test]
async fn instances_beyond_the_bound_wait_then_get_503() {
    let host = Host::start_with(
        &fixtures_manifest(&[]),
        HostOptions {
            args: ["--max-instances", "1"].map(String::from).to_vec(),
            ..Default::default()
        },
    );
    let busy_url = host.url("/fx/slow?ms=4000");
    let busy = tokio::spawn(async move { client().get(busy_url).send().await.unwrap().status() });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let refused = client().get(host.url("/fx/counter")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["type"], "urn:folio:problem:overloaded");
    // It waited for a slot before giving up, rather than failing at once.
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(busy.await.unwrap(), 200);
    // With the slot free again, requests are served.
    let served = client().get(host.url("/fx/counter")).send().await.unwrap();
    assert_eq!(served.status(), 200);
}
