//! Per-request isolation: guest memory never carries state between requests.

use folio_tests::{Host, client, fixtures_manifest};

#[tokio::test]
async fn a_global_counter_is_always_one() {
    let host = Host::start(&fixtures_manifest(&[]));
    let client = client();
    for _ in 0..20 {
        let body = client
            .get(host.url("/fx/counter"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body, "1");
    }
}

#[tokio::test]
async fn a_global_counter_is_one_under_50_concurrent_requests() {
    let host = Host::start(&fixtures_manifest(&[]));
    let client = client();
    let requests = (0..50).map(|_| {
        let client = client.clone();
        let url = host.url("/fx/counter");
        tokio::spawn(async move { client.get(url).send().await.unwrap().text().await.unwrap() })
    });
    for request in requests {
        assert_eq!(request.await.unwrap(), "1");
    }
}

/// A component publishes only to the topics its `publishes` grant names,
/// in a transaction or not; a refused transaction writes nothing.
#[tokio::test]
async fn an_ungranted_topic_is_refused_and_the_transaction_writes_nothing() {
    let topic = format!("granted-{}", std::process::id());
    let host = Host::start(&folio_tests::events_manifest(&topic));
    let (status, body) = folio_tests::post_json(
        &host,
        "/ev/emit",
        serde_json::json!({"topic": "folio.users", "key": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NotAllowed"),
        "{body}"
    );

    let (status, body) = folio_tests::post_json(
        &host,
        "/ev/write",
        serde_json::json!({"keys": ["smuggled"], "topic": "folio.users"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["kind"], "not-allowed", "{body}");
    let writes = folio_tests::get_json(&host, "/ev/writes").await;
    assert_eq!(writes["rows"], serde_json::json!([]), "{writes}");

    let (status, body) = folio_tests::post_json(
        &host,
        "/ev/emit",
        serde_json::json!({"topic": topic, "key": "fine"}),
    )
    .await;
    assert_eq!(status, 200, "{body}");
}
