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
