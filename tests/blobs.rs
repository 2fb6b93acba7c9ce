//! `folio:platform/blobs` driven from a real guest (`components/fixture-state`),
//! through the host, on local disk and on a real S3 server (Garage, from
//! `infra/s3.sh`): the contract, isolation between components, typed errors,
//! dropped uploads, presigned URLs fetched with a plain HTTP client, and a
//! 1 GiB object streamed both ways with bounded host memory.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use folio_tests::{Host, client, fixture_state_manifest, start_with_runtime_config};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

fn manifest() -> String {
    fixture_state_manifest(&[
        ("/a", "media-a", r#"blob_buckets = ["media", "avatars"]"#),
        ("/b", "media-b", r#"blob_buckets = ["media"]"#),
    ])
}

struct S3 {
    endpoint: String,
    bucket: String,
    access_key_id: String,
    secret_access_key: String,
}

fn s3() -> S3 {
    let var = |k: &str| {
        std::env::var(k)
            .unwrap_or_else(|_| panic!("{k} is not set: run `eval \"$(bash infra/s3.sh)\"` first"))
    };
    S3 {
        endpoint: var("FOLIO_TEST_S3_ENDPOINT"),
        bucket: var("FOLIO_TEST_S3_BUCKET"),
        access_key_id: var("FOLIO_TEST_S3_ACCESS_KEY_ID"),
        secret_access_key: var("FOLIO_TEST_S3_SECRET_ACCESS_KEY"),
    }
}

/// Runtime config binding both bucket names to S3 (none: both on disk),
/// plus `extra` TOML.
fn runtime_config(s3: Option<&S3>, extra: &str) -> Option<String> {
    let bindings = s3.map(|s| {
        ["media", "avatars"]
            .map(|name| {
                format!(
                    "[blob_bucket.{name}]\ntype = \"s3\"\nendpoint = \"{}\"\nregion = \"garage\"\nbucket = \"{}\"\naccess_key_id = \"{}\"\nsecret_access_key = \"{}\"\nprefix = \"{}/\"\n",
                    s.endpoint,
                    s.bucket,
                    s.access_key_id,
                    s.secret_access_key,
                    unique("run"),
                )
            })
            .join("\n")
    });
    match (bindings, extra) {
        (None, "") => None,
        (b, extra) => Some(format!("{extra}\n{}", b.unwrap_or_default())),
    }
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}{nanos:x}")
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn url(host: &Host, prefix: &str, action: &str, params: &[(&str, &str)]) -> String {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect();
    host.url(&format!("{prefix}/blobs/{action}?{}", query.join("&")))
}

async fn put(
    host: &Host,
    prefix: &str,
    params: &[(&str, &str)],
    content_type: &str,
    body: Vec<u8>,
) -> (u16, Value) {
    let response = client()
        .put(url(host, prefix, "object", params))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn call(
    host: &Host,
    method: &str,
    prefix: &str,
    action: &str,
    params: &[(&str, &str)],
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client()
        .request(method, url(host, prefix, action, params))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn get(
    host: &Host,
    prefix: &str,
    params: &[(&str, &str)],
) -> (u16, Vec<u8>, reqwest::header::HeaderMap) {
    let response = client()
        .get(url(host, prefix, "object", params))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, response.bytes().await.unwrap().to_vec(), headers)
}

fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u64 * 31 + seed as u64).wrapping_mul(7) as u8)
        .collect()
}

async fn guest_conformance(host: &Host, run: &str) {
    let key = |k: &str| format!("{run}/{k}");
    let doc = key("doc.txt");

    // Put, head, get, range.
    let (status, meta) = put(
        host,
        "/a",
        &[("key", &doc)],
        "text/plain",
        b"hello".to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["size"], 5);
    let (status, head) = call(host, "GET", "/a", "head", &[("key", &doc)]).await;
    assert_eq!(status, 200);
    assert_eq!(head["contentType"], "text/plain");
    assert_eq!(head["etag"], meta["etag"]);
    let (status, body, headers) = get(host, "/a", &[("key", &doc)]).await;
    assert_eq!((status, body.as_slice()), (200, &b"hello"[..]));
    assert_eq!(headers["content-type"], "text/plain");
    let (_, body, _) = get(
        host,
        "/a",
        &[("key", &doc), ("offset", "1"), ("length", "3")],
    )
    .await;
    assert_eq!(body, b"ell");

    // Larger than one S3 part, through small guest chunks.
    let big = pattern(9 << 20, 3);
    let (status, meta) = put(
        host,
        "/a",
        &[("key", &key("big.bin")), ("chunk", "65536")],
        "application/octet-stream",
        big.clone(),
    )
    .await;
    assert_eq!(status, 200, "{meta}");
    let (_, body, headers) = get(host, "/a", &[("key", &key("big.bin"))]).await;
    assert_eq!(headers["x-blob-size"], big.len().to_string().as_str());
    assert!(body == big, "the 9 MiB object came back different");

    // Listing.
    for i in 0..5 {
        put(
            host,
            "/a",
            &[("key", &key(&format!("list/{i}")))],
            "text/plain",
            vec![b'x'; i],
        )
        .await;
    }
    let (_, page) = call(
        host,
        "GET",
        "/a",
        "list",
        &[("prefix", &key("list/")), ("limit", "3")],
    )
    .await;
    let keys: Vec<&str> = page["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, [key("list/0"), key("list/1"), key("list/2")]);
    let after = page["nextStartAfter"].as_str().unwrap().to_string();
    let (_, page) = call(
        host,
        "GET",
        "/a",
        "list",
        &[
            ("prefix", &key("list/")),
            ("limit", "3"),
            ("start-after", &after),
        ],
    )
    .await;
    assert_eq!(page["objects"].as_array().unwrap().len(), 2);
    assert_eq!(page["nextStartAfter"], Value::Null);
    assert_eq!(page["objects"][1]["size"], 4);

    // Isolation: component b's `media` is not component a's; b has no `avatars`.
    let (status, _) = call(host, "GET", "/b", "head", &[("key", &doc)]).await;
    assert_eq!(status, 404, "component b read component a's object");
    let (_, page) = call(host, "GET", "/b", "list", &[("prefix", run)]).await;
    assert_eq!(page["objects"], json!([]), "component b listed a's objects");
    let (status, err) = call(
        host,
        "GET",
        "/b",
        "head",
        &[("bucket", "avatars"), ("key", &doc)],
    )
    .await;
    assert_eq!(
        (status, &err["error"]["kind"]),
        (404, &json!("no-such-bucket")),
        "{err}"
    );
    let (status, _) = call(
        host,
        "GET",
        "/a",
        "head",
        &[("bucket", "avatars"), ("key", &doc)],
    )
    .await;
    assert_eq!(status, 404, "bucket `avatars` read bucket `media`");

    // Bad input: typed 4xx, never a host failure.
    let long = "k".repeat(2000);
    for bad in [
        "../etc/passwd",
        "a/../../b",
        "/abs",
        "a//b",
        "",
        "a\\b",
        "a\0b",
        long.as_str(),
    ] {
        let (status, err) = put(host, "/a", &[("key", bad)], "text/plain", b"x".to_vec()).await;
        assert_eq!(
            (status, &err["error"]["kind"]),
            (400, &json!("invalid-key")),
            "{bad:?}: {err}"
        );
        let (status, err) = call(host, "GET", "/a", "head", &[("key", bad)]).await;
        assert_eq!(
            (status, &err["error"]["kind"]),
            (400, &json!("invalid-key")),
            "{bad:?}: {err}"
        );
    }
    let (status, err) = call(
        host,
        "POST",
        "/a",
        "oversized-chunk",
        &[("key", &key("chunky"))],
    )
    .await;
    assert_eq!(
        (status, &err["error"]["kind"]),
        (413, &json!("too-large")),
        "{err}"
    );
    let (status, err) = call(host, "GET", "/a", "list", &[("limit", "5000")]).await;
    assert_eq!(
        (status, &err["error"]["kind"]),
        (400, &json!("invalid-argument")),
        "{err}"
    );

    // Dropped and trapped uploads leave nothing behind.
    let (status, r) = put(
        host,
        "/a",
        &[("key", &key("dropped")), ("drop", "1")],
        "text/plain",
        pattern(9 << 20, 1),
    )
    .await;
    assert_eq!((status, &r["dropped"]), (200, &json!(true)), "{r}");
    let (status, _) = call(host, "GET", "/a", "head", &[("key", &key("dropped"))]).await;
    assert_eq!(status, 404, "a dropped upload became visible");
    let (status, _) = put(
        host,
        "/a",
        &[("key", &key("trapped")), ("trap", "1"), ("chunk", "65536")],
        "text/plain",
        pattern(100_000, 2),
    )
    .await;
    assert_eq!(status, 500);
    let (status, _) = call(host, "GET", "/a", "head", &[("key", &key("trapped"))]).await;
    assert_eq!(status, 404, "a trapped upload became visible");
    let (status, _) = put(
        host,
        "/a",
        &[("key", &doc), ("drop", "1")],
        "text/plain",
        b"replacement".to_vec(),
    )
    .await;
    assert_eq!(status, 200);
    let (_, body, _) = get(host, "/a", &[("key", &doc)]).await;
    assert_eq!(body, b"hello", "a dropped replacement changed the object");

    // Presigned URLs work with a plain HTTP client, and only as signed.
    let (status, r) = call(
        host,
        "GET",
        "/a",
        "presign-get",
        &[("key", &doc), ("expires", "60")],
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let get_url = r["url"].as_str().unwrap().to_string();
    let response = client().get(&get_url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), b"hello");
    let tampered = get_url.replacen("doc.txt", "big.bin", 1);
    assert_eq!(client().get(&tampered).send().await.unwrap().status(), 403);

    let uploaded = key("uploaded.csv");
    let (_, r) = call(
        host,
        "GET",
        "/a",
        "presign-put",
        &[
            ("key", &uploaded),
            ("content-type", "text/csv"),
            ("expires", "60"),
        ],
    )
    .await;
    let put_url = r["url"].as_str().unwrap().to_string();
    let wrong = client()
        .put(&put_url)
        .header("content-type", "text/html")
        .body("a,b\n")
        .send()
        .await
        .unwrap();
    assert_eq!(
        wrong.status(),
        403,
        "a PUT with another content type was accepted"
    );
    let response = client()
        .put(&put_url)
        .header("content-type", "text/csv")
        .body(pattern(5 << 20, 9))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    let (status, head) = call(host, "GET", "/a", "head", &[("key", &uploaded)]).await;
    assert_eq!(status, 200);
    assert_eq!(
        (head["size"].as_u64(), head["contentType"].as_str()),
        (Some(5 << 20), Some("text/csv"))
    );
    let (_, body, _) = get(host, "/a", &[("key", &uploaded)]).await;
    assert!(body == pattern(5 << 20, 9));

    let (_, r) = call(
        host,
        "GET",
        "/a",
        "presign-get",
        &[("key", &doc), ("expires", "1")],
    )
    .await;
    let short = r["url"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let expired = client().get(&short).send().await.unwrap();
    let status = expired.status().as_u16();
    let body = expired.text().await.unwrap();
    // Folio answers 403; AWS 403 AccessDenied; Garage 400 "Date is too old".
    assert!(
        status == 403 || status == 400 && (body.contains("xpired") || body.contains("too old")),
        "an expired URL worked: {status} {body}"
    );
    let (status, _) = call(
        host,
        "GET",
        "/a",
        "presign-get",
        &[("key", &doc), ("expires", "0")],
    )
    .await;
    assert_eq!(status, 400);

    // Delete.
    let (status, _) = call(host, "DELETE", "/a", "object", &[("key", &doc)]).await;
    assert_eq!(status, 200);
    let (status, _) = call(host, "GET", "/a", "head", &[("key", &doc)]).await;
    assert_eq!(status, 404);
    let (status, _, _) = get(host, "/a", &[("key", &doc)]).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn disk_through_a_guest() {
    let (host, dir) = start_with_runtime_config(&manifest(), None);
    guest_conformance(&host, "run").await;
    // Nothing staged is left, and objects live under the component's own directory.
    let bucket = dir.path().join("data/blobs/media-a/media");
    assert_eq!(std::fs::read_dir(bucket.join("tmp")).unwrap().count(), 0);
    assert!(bucket.join("objects/run/big.bin").is_file());
}

#[tokio::test]
async fn s3_through_a_guest() {
    let s3 = s3();
    let config = runtime_config(Some(&s3), "");
    let (host, _dir) = start_with_runtime_config(&manifest(), config.as_deref());
    guest_conformance(&host, "run").await;
}

#[test]
fn a_bucket_binding_no_component_declares_fails_at_start() {
    let (code, stderr) = folio_tests::start_failure_with_runtime_config(
        &self::manifest(),
        "[blob_bucket.meda]\ntype = \"disk\"\n",
    );
    assert_ne!(code, 0);
    assert!(stderr.contains("[blob_bucket.meda]"), "{stderr}");
}

#[test]
fn an_unreachable_s3_binding_fails_at_start() {
    let (code, stderr) = folio_tests::start_failure_with_runtime_config(
        &self::manifest(),
        "[blob_bucket.media]\ntype = \"s3\"\nendpoint = \"http://127.0.0.1:9\"\nbucket = \"x\"\naccess_key_id = \"a\"\nsecret_access_key = \"b\"\n",
    );
    assert_ne!(code, 0);
    assert!(
        stderr.contains("media-a") && stderr.contains("blob bucket `media`"),
        "{stderr}"
    );
}

const GIB: u64 = 1 << 30;
/// The host's peak resident memory may not grow by more than this while a
/// 1 GiB object goes through it in each direction.
const MAX_PEAK_GROWTH: u64 = 300 << 20;

fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// Streams 1 GiB in through the guest and back out, never holding it in
/// the test's memory; checks the sha256 and the host's peak RSS.
async fn one_gib_round_trip(s3: Option<&S3>) {
    let extra = "[limits]\nmax_body_bytes = 2147483648\nrequest_timeout_ms = 600000\n";
    let config = runtime_config(s3, extra);
    let (host, _dir) = start_with_runtime_config(&manifest(), config.as_deref());
    // Forget the start-up peak (compiling components): count the transfer only.
    std::fs::write(format!("/proc/{}/clear_refs", host.pid()), "5").unwrap();
    let baseline = peak_rss(host.pid());

    let sent = Arc::new(Mutex::new(Sha256::new()));
    let hasher = sent.clone();
    let chunks = futures_util::stream::iter((0..GIB >> 20).map(move |i| {
        let chunk = pattern(1 << 20, i as u8);
        hasher.lock().unwrap().update(&chunk);
        Ok::<_, std::io::Error>(chunk)
    }));
    let started = Instant::now();
    let response = reqwest::Client::new()
        .put(url(&host, "/a", "object", &[("key", "huge.bin")]))
        .header("content-type", "application/octet-stream")
        .header("content-length", GIB.to_string())
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let meta: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{meta}");
    assert_eq!(meta["size"].as_u64(), Some(GIB));
    let up = started.elapsed();

    let started = Instant::now();
    let mut response = reqwest::Client::new()
        .get(url(&host, "/a", "object", &[("key", "huge.bin")]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let mut received = Sha256::new();
    let mut size = 0u64;
    while let Some(chunk) = response.chunk().await.unwrap() {
        size += chunk.len() as u64;
        received.update(&chunk);
    }
    let down = started.elapsed();
    assert_eq!(size, GIB);
    let sent = sent.lock().unwrap().clone().finalize();
    assert_eq!(received.finalize(), sent, "the object came back different");

    let peak = peak_rss(host.pid());
    let backend = if s3.is_some() { "s3" } else { "disk" };
    eprintln!(
        "1 GiB on {backend}: up {up:.1?}, down {down:.1?}; host peak RSS {} MiB (baseline {} MiB)",
        peak >> 20,
        baseline >> 20
    );
    assert!(
        peak < baseline + MAX_PEAK_GROWTH,
        "host peak RSS {} MiB grew more than {} MiB over {} MiB",
        peak >> 20,
        MAX_PEAK_GROWTH >> 20,
        baseline >> 20
    );
    let (status, _) = call(&host, "DELETE", "/a", "object", &[("key", "huge.bin")]).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn one_gib_streams_through_disk_with_bounded_memory() {
    one_gib_round_trip(None).await;
}

#[tokio::test]
async fn one_gib_streams_through_s3_with_bounded_memory() {
    one_gib_round_trip(Some(&s3())).await;
}
