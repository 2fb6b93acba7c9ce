//! The search service, black-box through the host over the real users and
//! content services: items are found by their words, with a typo and as a
//! prefix; facets count under the other filters; drafts are found only by
//! their creator and admins; unpublished and deleted items disappear; a
//! reindex keeps answering; bad input is a 4xx. On SQLite + the embedded
//! log, on Postgres + Kafka, and on two hosts sharing one Kafka.

use folio_tests::search::{
    cluster_auth_keys, corpus, create, eventually, fresh_group, ids, search_flow, search_path,
    start_search, start_search_beside, start_search_with, transition,
};
use folio_tests::services::{Api, backends, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, client};
use serde_json::json;

#[tokio::test(flavor = "multi_thread")]
async fn search_on_sqlite_and_the_embedded_log() {
    let (host, _dir) = start_search("srch", &fresh_group("srch"), None, &[], true).await;
    search_flow(&host).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn search_on_postgres_and_kafka() {
    let b = backends();
    let (host, _dir) = start_search("srchpg", &fresh_group("srchpg"), Some(&b), &[], true).await;
    search_flow(&host).await;
}

/// Two hosts on one database and one Kafka: each keeps its own replica of
/// the index (a consumer group per host), so an item written through one
/// is found through both, with the same results.
#[tokio::test(flavor = "multi_thread")]
async fn two_hosts_on_one_kafka_converge() {
    let b = backends();
    let group = fresh_group("srchc");
    let keys = cluster_auth_keys();
    let mut env: Vec<(&str, &str)> = keys
        .iter()
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    env.push(("FOLIO_HOST_ID", "one"));
    let (one, _d1) = start_search("srchc", &group, Some(&b), &env, true).await;
    env.pop();
    env.push(("FOLIO_HOST_ID", "two"));
    let (two, _d2) = start_search("srchc", &group, Some(&b), &env, false).await;
    let (api1, api2) = (Api { host: &one }, Api { host: &two });
    let c = corpus(&api1).await;
    let queries = [
        "q=zanzibar",
        "q=quokka",
        "facets=type,tag",
        "q=frost&sort=publishedAt",
    ];
    for query in queries {
        let expected = api1.get(&search_path(query), None).await;
        let converged = eventually(&api2, query, None, "the second host", |r| {
            ids(r) == ids(&expected)
                && r.body["facets"] == expected.body["facets"]
                && r.body["total"] == expected.body["total"]
        })
        .await;
        assert_eq!(converged.body["total"], expected.body["total"]);
    }
    // A change through the second host reaches the first one's replica.
    transition(&api2, &c.admin, &c.podcast, &["archived"]).await;
    eventually(&api1, "q=quokka", None, "archived on the first host", |r| {
        ids(r).is_empty()
    })
    .await;
}

/// Searches cost CPU: past the component's policy (here 5 a minute per
/// address) a client gets 429 with `Retry-After`, before any instance runs.
/// Clicks (cheap to forge) count against the same budget.
#[tokio::test(flavor = "multi_thread")]
async fn a_search_flood_is_refused() {
    let config = r#"
[[rate_limits.rules]]
component = "srchflood-search"
name = "search"
routes = ["/api/v1/search", "/api/v1/search/..."]
key = "address"
limit = 5
window_secs = 60
"#;
    let (host, _dir) = start_search_with(
        "srchflood",
        &fresh_group("srchflood"),
        None,
        &[],
        true,
        config,
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..8 {
        let r = client()
            .get(host.url(&format!("/api/v1/search?q=flood{i}")))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            assert!(r.headers().contains_key("retry-after"));
        }
        statuses.push(r.status().as_u16());
    }
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    assert_eq!(statuses[5..], [429; 3], "{statuses:?}");
    let mut clicks = Vec::new();
    for _ in 0..3 {
        let r = client()
            .post(host.url("/api/v1/search/clicks"))
            .json(&json!({"query": "x", "contentId": "00000000-0000-4000-8000-000000000000", "position": 1}))
            .send()
            .await
            .unwrap();
        clicks.push(r.status().as_u16());
    }
    assert_eq!(
        clicks, [429; 3],
        "clicks share the searches' budget: {clicks:?}"
    );
}

/// A gated item (`requiredTier`) is found whole only by holders of its
/// tier: everyone else finds it by its title and first paragraph, never
/// by a word of its paid part, and gets its preview as the snippet. Each
/// reader gets it once (never its whole text and its preview side by side),
/// and once it is open again the preview is gone.
#[tokio::test(flavor = "multi_thread")]
async fn a_gated_item_is_found_whole_by_subscribers_and_as_its_preview_by_others() {
    let group = fresh_group("srgt");
    let billing = folio_tests::billing::billing_component("srgt", 0, None);
    let (host, _dir) = start_search_beside(
        "srgt",
        &group,
        None,
        &[],
        true,
        "[rate_limits]\nexempt = [\"127.0.0.1\"]\n",
        &billing,
        &[],
    )
    .await;
    let api = Api { host: &host };
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, _) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (free, _) = api.user_with_role(&admin, "fay", "consumer", &run).await;
    let (member, _) = api.user_with_role(&admin, "mo", "consumer", &run).await;
    let plan = folio_tests::billing::trial_plan(&api, &admin, "members").await;
    let id = create(
        &api,
        &cora,
        json!({"title": "Members briefing", "type": "article", "requiredTier": "members",
               "body": "<p>An opening about quasars.</p><p>The paid part explains xylophones.</p>"}),
    )
    .await;
    transition(&api, &admin, &id, &["review", "published"]).await;
    let r = eventually(&api, "q=quasars", None, "the preview indexed", |r| {
        ids(r) == [id.as_str()]
    })
    .await;
    let hit = &r.body["items"][0];
    assert_eq!(hit["preview"], true, "{hit}");
    let snippet = hit["snippet"].as_str().unwrap_or_default();
    assert!(
        snippet.contains("quasars") && !snippet.contains("xylophone"),
        "{snippet:?}"
    );
    for token in [
        None,
        Some(free.as_str()),
        Some(member.as_str()),
        Some(cora.as_str()),
    ] {
        let r = api.get(&search_path("q=xylophones"), token).await;
        assert_eq!(r.body["total"], 0, "{token:?}: {:?}", r.body);
        let r = api.get(&search_path("q=quasars&facets=type"), token).await;
        assert_eq!(
            (ids(&r), r.body["total"].clone()),
            (vec![id.clone()], json!(1))
        );
        assert_eq!(r.body["facets"]["type"]["article"], 1, "{:?}", r.body);
    }
    let r = api
        .get("/api/v1/search/suggest?q=members+brief", Some(&free))
        .await;
    let suggested: Vec<&str> = r.body["suggestions"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert_eq!(suggested, [id.as_str()], "{:?}", r.body);
    // Admins read every item whole.
    let r = api.get(&search_path("q=xylophones"), Some(&admin)).await;
    assert_eq!(
        (ids(&r), r.body["items"][0]["preview"].clone()),
        (vec![id.clone()], json!(false))
    );

    // Mo subscribes: from billing's event on, he finds and sees all of it.
    folio_tests::billing::subscribe(&api, &member, &plan).await;
    let r = eventually(
        &api,
        "q=xylophones",
        Some(&member),
        "the subscriber's search",
        |r| ids(r) == [id.as_str()],
    )
    .await;
    let hit = &r.body["items"][0];
    assert_eq!(hit["preview"], false, "{hit}");
    assert!(
        hit["snippet"]
            .as_str()
            .unwrap()
            .contains("<mark>xylophones</mark>"),
        "{hit}"
    );
    let r = api.get(&search_path("q=quasars"), Some(&member)).await;
    assert_eq!(
        (ids(&r), r.body["total"].clone()),
        (vec![id.clone()], json!(1))
    );
    // Fay, still free, does not.
    let r = api.get(&search_path("q=xylophones"), Some(&free)).await;
    assert_eq!(r.body["total"], 0, "{:?}", r.body);

    // Opened to all: one document again, whole for everyone.
    let etag = api
        .get(&format!("/api/v1/content/{id}"), Some(&cora))
        .await
        .headers["etag"]
        .clone();
    let r = client()
        .patch(host.url(&format!("/api/v1/content/{id}")))
        .bearer_auth(&cora)
        .header("if-match", etag)
        .json(&json!({"requiredTier": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    eventually(&api, "q=xylophones", None, "the opened item", |r| {
        ids(r) == [id.as_str()]
    })
    .await;
    let r = api.get(&search_path("q=quasars"), Some(&admin)).await;
    assert_eq!(
        (ids(&r), r.body["total"].clone()),
        (vec![id.clone()], json!(1))
    );
    assert_eq!(r.body["items"][0]["preview"], false);
}
