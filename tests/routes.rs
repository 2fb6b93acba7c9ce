//! Spin's route rules and request headers, through the real host.

use folio_tests::{Host, client, fixtures_manifest};
use serde_json::Value;

async fn headers_at(host: &Host, path: &str) -> Value {
    let response = client().get(host.url(path)).send().await.unwrap();
    assert_eq!(response.status(), 200, "{path}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn exact_wildcard_parameter_and_specificity() {
    let host = Host::start(&fixtures_manifest(&[]));

    let exact = headers_at(&host, "/exact").await;
    assert_eq!(exact["spin-matched-route"], "/exact");
    assert_eq!(exact["spin-path-info"], "");

    let wildcard = headers_at(&host, "/fx/headers/deeper?q=1").await;
    assert_eq!(wildcard["spin-matched-route"], "/fx/...");
    assert_eq!(wildcard["spin-raw-component-route"], "/fx/...");
    assert_eq!(wildcard["spin-component-route"], "/fx");
    assert_eq!(wildcard["spin-path-info"], "/headers/deeper");
    assert_eq!(wildcard["spin-base-path"], "/");
    assert_eq!(
        wildcard["spin-full-url"],
        format!("http://{}/fx/headers/deeper?q=1", host.addr)
    );
    let client_addr = wildcard["spin-client-addr"].as_str().unwrap();
    assert!(client_addr.starts_with("127.0.0.1:"), "{client_addr}");

    let param = headers_at(&host, "/items/42").await;
    assert_eq!(param["spin-matched-route"], "/items/:id");
    assert_eq!(param["spin-path-match-id"], "42");

    // An exact route beats the wildcard that also covers it.
    let special = headers_at(&host, "/fx/special").await;
    assert_eq!(special["spin-matched-route"], "/fx/special");
}

#[tokio::test]
async fn unknown_paths_get_a_problem_404() {
    let host = Host::start(&fixtures_manifest(&[]));
    for path in ["/nothing", "/exact/more", "/items/1/2", "/fxx"] {
        let response = client().get(host.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 404);
        assert_eq!(body["instance"], path);
    }
}

#[tokio::test]
async fn private_components_have_no_route() {
    let host = Host::start(&fixtures_manifest(&[]));
    // `internal` is declared with `route = { private = true }`: nothing outside reaches it.
    let response = client()
        .get(host.url("/internal/counter"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn variables_reach_the_guest_through_spin_and_wasi_config() {
    let host = Host::start(&fixtures_manifest(&[]));
    let v: Value = client()
        .get(host.url("/fx/variables"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["spin"], "hello, world");
    assert_eq!(v["config"], "hello, world");
    assert_eq!(v["undefinedIsError"], true);

    let overridden = Host::start_with(
        &fixtures_manifest(&[]),
        folio_tests::HostOptions {
            env: vec![("FOLIO_VAR_GREETING".into(), "bonjour".into())],
            ..Default::default()
        },
    );
    let v: Value = client()
        .get(overridden.url("/fx/variables"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["spin"], "bonjour, world");
}

#[tokio::test]
async fn meta_component_serves_the_real_manifest() {
    let host = Host::start(&folio_tests::whole_app_manifest());
    let response = client().get(host.url("/api/v1/meta")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let meta: Value = response.json().await.unwrap();
    assert_eq!(meta["name"], "Folio");
    assert_eq!(meta["build"]["target"], "wasm32-wasip2");
    assert!(
        meta["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "meta")
    );
    let wrong = client()
        .post(host.url("/api/v1/meta"))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 405);

    let document: Value = client()
        .get(host.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut references = Vec::new();
    collect_references(&document, &mut references);
    assert!(references.len() > 100, "{} references", references.len());
    let dangling: Vec<&String> = references
        .iter()
        .filter(|reference| {
            let pointer = reference.strip_prefix('#').unwrap_or(reference);
            document.pointer(pointer).is_none()
        })
        .collect();
    assert!(dangling.is_empty(), "unresolvable: {dangling:?}");
}

fn collect_references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(reference)) => into.push(reference.clone()),
                    _ => collect_references(value, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, into)),
        _ => {}
    }
}

#[tokio::test]
async fn small_bodies_are_sent_whole_and_large_ones_stream_intact() {
    let host = Host::start(&fixtures_manifest(&[]));
    let client = client();
    let small = client
        .post(host.url("/fx/echo"))
        .body("tiny")
        .send()
        .await
        .unwrap();
    assert_eq!(small.headers()["content-length"], "4");
    assert_eq!(small.text().await.unwrap(), "tiny");

    // Past the coalescing limit the body streams; every byte must still arrive in order.
    let large: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let response = client
        .post(host.url("/fx/echo"))
        .body(large.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &large[..]);
}
