//! The search service, black-box through the host over the real users and
//! content services: items are found by their words, with a typo and as a
//! prefix; facets count under the other filters; drafts are found only by
//! their creator and admins; unpublished and deleted items disappear; a
//! reindex keeps answering; bad input is a 4xx. On SQLite + the embedded
//! log, on Postgres + Kafka, and on two hosts sharing one Kafka.

use std::time::{Duration, Instant};

use folio_tests::search::{
    cluster_auth_keys, fresh_group, start_search, start_search_beside, start_search_with,
};
use folio_tests::services::{Api, Reply, backends, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client};
use serde_json::{Value, json};

fn search_path(query: &str) -> String {
    format!("/api/v1/search?{query}")
}

fn ids(r: &Reply) -> Vec<String> {
    r.body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `query` as `token` until `wanted` says yes of the answer.
async fn eventually(
    api: &Api<'_>,
    query: &str,
    token: Option<&str>,
    what: &str,
    wanted: impl Fn(&Reply) -> bool,
) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.get(&search_path(query), token).await;
        if r.status == 200 && wanted(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: `{query}` answered {} {:?}",
            r.status,
            r.body
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn create(api: &Api<'_>, token: &str, item: Value) -> String {
    let r = api.post("/api/v1/content", Some(token), item).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

async fn transition(api: &Api<'_>, admin: &str, id: &str, to: &[&str]) {
    for to in to {
        let r = api
            .post(
                &format!("/api/v1/content/{id}/transitions"),
                Some(admin),
                json!({"to": to}),
            )
            .await;
        assert_eq!(r.status, 200, "{to}: {:?}", r.body);
    }
}

struct Corpus {
    admin: String,
    cora: String,
    carl: String,
    dan: String,
    garden: String,
    almanac: String,
    podcast: String,
    draft: String,
    guide: String,
}

/// Cora's items: two published articles and a podcast about distinct
/// things, and a draft; then waits until the index has them.
async fn corpus(api: &Api<'_>) -> Corpus {
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, _) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (carl, _) = api.user_with_role(&admin, "carl", "creator", &run).await;
    let (dan, _) = api.user_with_role(&admin, "dan", "consumer", &run).await;
    let garden = api
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"name": format!("Garden {run}")}),
        )
        .await;
    assert_eq!(garden.status, 201, "{:?}", garden.body);
    let garden = garden.body["id"].as_str().unwrap().to_string();
    let almanac = create(
        api,
        &cora,
        json!({"title": "The Zanzibar gardening almanac", "type": "article",
               "description": "Twelve months of mulch",
               "body": "<p>Frost comes late on the island; <em>mulch</em> the beds before the rains.</p>",
               "tags": ["garden", "winter"], "categories": [garden]}),
    )
    .await;
    let guide = create(
        api,
        &cora,
        json!({"title": "A frost guide for Zanzibar growers", "type": "article",
               "body": "<p>Mulch, fleece and frost cloth for island gardens.</p>",
               "tags": ["garden"], "categories": [garden]}),
    )
    .await;
    let podcast = create(
        api,
        &cora,
        json!({"title": "Quokka stories", "type": "podcast",
               "body": "<p>An episode about the happiest marsupial.</p>", "tags": ["animals"]}),
    )
    .await;
    let draft = create(
        api,
        &cora,
        json!({"title": "Marmalade secrets", "type": "article",
               "body": "<p>Seville oranges, sugar, patience.</p>", "tags": ["food"]}),
    )
    .await;
    for id in [&almanac, &guide, &podcast] {
        transition(api, &admin, id, &["review", "published"]).await;
    }
    let c = Corpus {
        admin,
        cora,
        carl,
        dan,
        garden,
        almanac,
        podcast,
        draft,
        guide,
    };
    eventually(api, "q=quokka", None, "published podcast indexed", |r| {
        ids(r) == [c.podcast.as_str()]
    })
    .await;
    eventually(api, "q=marmalade", Some(&c.admin), "draft indexed", |r| {
        ids(r) == [c.draft.as_str()]
    })
    .await;
    eventually(api, "q=zanzibar", None, "articles indexed", |r| {
        ids(r).len() == 2
    })
    .await;
    c
}

async fn search_flow(host: &Host) {
    let api = Api { host };
    let c = corpus(&api).await;

    // Words, stemming, a typo, a prefix, a phrase; title over body.
    let r = api.get(&search_path("q=zanzibar"), None).await;
    assert_eq!(r.body["total"], 2, "{:?}", r.body);
    let r = api.get(&search_path("q=gardens%20almanac"), None).await;
    assert_eq!(ids(&r), [c.almanac.as_str()], "stemming: {:?}", r.body);
    let r = api.get(&search_path("q=rain"), None).await;
    assert_eq!(ids(&r), [c.almanac.as_str()], "stemming: {:?}", r.body);
    let snippet = r.body["items"][0]["snippet"].as_str().unwrap_or_default();
    assert!(snippet.contains("<mark>"), "snippet {snippet:?}");
    assert!(
        !snippet.contains("<em>"),
        "snippet is text, escaped: {snippet:?}"
    );
    for typo in ["zanzibr%20", "quoka%20", "almanca%20"] {
        let r = api.get(&search_path(&format!("q={typo}")), None).await;
        assert!(!ids(&r).is_empty(), "typo {typo}: {:?}", r.body);
    }
    let r = api.get(&search_path("q=quok"), None).await;
    assert_eq!(ids(&r), [c.podcast.as_str()], "prefix: {:?}", r.body);
    let r = api.get(&search_path("q=%22frost%20guide%22"), None).await;
    assert_eq!(ids(&r), [c.guide.as_str()], "phrase: {:?}", r.body);
    let r = api.get(&search_path("q=frost%20"), None).await;
    assert_eq!(ids(&r)[0], c.guide, "title match first: {:?}", r.body);

    // Facets count under the other filters.
    let r = api
        .get(
            &search_path("facets=type,tag,category&type=article&sort=publishedAt"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["total"], 2);
    assert_eq!(
        r.body["facets"]["type"],
        json!({"article": 2, "podcast": 1})
    );
    assert_eq!(r.body["facets"]["tag"], json!({"garden": 2, "winter": 1}));
    assert_eq!(
        r.body["facets"]["category"],
        json!({ (c.garden.clone()): 2 })
    );
    let r = api
        .get(&search_path("q=zanzibar&tag=winter&facets=tag"), None)
        .await;
    assert_eq!(ids(&r), [c.almanac.as_str()]);
    assert_eq!(r.body["facets"]["tag"], json!({"garden": 2, "winter": 1}));

    // A draft: its creator and admins find it; nobody else does.
    for (who, token, found) in [
        ("anonymous", None, false),
        ("consumer", Some(c.dan.as_str()), false),
        ("another creator", Some(c.carl.as_str()), false),
        ("its creator", Some(c.cora.as_str()), true),
        ("an admin", Some(c.admin.as_str()), true),
    ] {
        for query in ["q=marmalade", "q=marma", "q=seville%20oranges"] {
            let r = api.get(&search_path(query), token).await;
            assert_eq!(r.status, 200, "{who}: {:?}", r.body);
            assert_eq!(!ids(&r).is_empty(), found, "{who} {query}: {:?}", r.body);
        }
        let r = api.get("/api/v1/search/suggest?q=marm", token).await;
        let titles = r.body["suggestions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(!titles.is_empty(), found, "{who} suggest: {:?}", r.body);
        let r = api
            .get(&format!("/api/v1/search/related/{}", c.draft), token)
            .await;
        assert_eq!(r.status == 200, found, "{who} related: {:?}", r.body);
    }
    let r = api
        .get(&search_path("facets=type&q=marmalade"), Some(&c.carl))
        .await;
    assert_eq!(r.body["facets"]["type"], json!({}), "{:?}", r.body);

    // Suggestions and related items.
    let r = api.get("/api/v1/search/suggest?q=zanz", None).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["suggestions"].as_array().unwrap().len(), 2);
    let r = api
        .get(&format!("/api/v1/search/related/{}", c.almanac), None)
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(ids(&r).first(), Some(&c.guide), "{:?}", r.body);
    assert!(!ids(&r).contains(&c.draft));

    // The index feed is for the search service alone, whatever a caller claims.
    let feed = client()
        .get(host.url("/api/v1/content/index-feed?limit=10"))
        .header("folio-calling-component", "srch-search")
        .bearer_auth(&c.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(feed.status(), 404);

    // Bad input: a clear 4xx naming the parameter, or a capped answer.
    for (query, field) in [
        (format!("q={}", "x".repeat(300)), "q"),
        ("facets=bogus".to_string(), "facets"),
        ("cursor=%%%garbage".to_string(), "cursor"),
        ("cursor=eyJvIjo1fQ".to_string(), "cursor"),
        ("sort=loudest".to_string(), "sort"),
        ("publishedFrom=yesterday".to_string(), "publishedFrom"),
        ("limit=ten".to_string(), "limit"),
        ("hack=1".to_string(), "hack"),
    ] {
        let r = api.get(&search_path(&query), None).await;
        assert_eq!(r.status, 400, "{query}: {:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], field, "{query}: {:?}", r.body);
    }
    for query in [
        "q=%22zanzibar",
        "q=%22%22%22",
        "q=title%3Azanzibar%20OR%20*",
        "q=",
        "limit=100000",
        "q=%E2%80%AE%F0%9F%A6%80",
    ] {
        let r = api.get(&search_path(query), None).await;
        assert_eq!(r.status, 200, "{query}: {:?}", r.body);
        assert!(r.body["items"].as_array().unwrap().len() <= 100);
    }
    let first = api
        .get(&search_path("limit=1&sort=publishedAt"), None)
        .await;
    let next = first.body["_links"]["next"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let second = api.get(&next, None).await;
    assert_eq!(second.status, 200, "{:?}", second.body);
    assert_ne!(ids(&first), ids(&second));

    // Clicks and search analytics (admins only).
    let r = api
        .post(
            "/api/v1/search/clicks",
            None,
            json!({"query": "zanzibar", "contentId": c.almanac, "position": 1}),
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    api.get(&search_path("q=nosuchwordanywhere"), None).await;
    for token in [None, Some(c.dan.as_str()), Some(c.cora.as_str())] {
        let r = api.get("/api/v1/search/analytics", token).await;
        assert!([401, 403].contains(&r.status), "{:?}", r.body);
    }
    let r = api.get("/api/v1/search/analytics", Some(&c.admin)).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let top = r.body["topQueries"].as_array().unwrap();
    let zanzibar = top.iter().find(|q| q["query"] == "zanzibar").unwrap();
    assert!(zanzibar["searches"].as_i64().unwrap() >= 2);
    assert_eq!(zanzibar["clicks"], 1);
    assert!(
        r.body["noResultQueries"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["query"] == "nosuchwordanywhere"),
        "{:?}",
        r.body
    );

    reindex_under_load(&api, &c).await;

    // Archived (unpublished) and deleted items leave the results.
    transition(&api, &c.admin, &c.podcast, &["archived"]).await;
    eventually(&api, "q=quokka", None, "archived item gone", |r| {
        ids(r).is_empty()
    })
    .await;
    let r = api.get(&search_path("q=quokka"), Some(&c.admin)).await;
    assert_eq!(ids(&r), [c.podcast.as_str()], "admins still find it");
    let r = api
        .call(
            "DELETE",
            &format!("/api/v1/content/{}", c.almanac),
            Some(&c.cora),
            None,
        )
        .await;
    assert_eq!(r.status, 204, "{:?}", r.body);
    eventually(
        &api,
        "q=almanac",
        Some(&c.admin),
        "deleted item gone",
        |r| ids(r).is_empty(),
    )
    .await;
}

/// A reindex as an admin only; searches keep answering, with the same
/// results, while it runs and after the swap.
async fn reindex_under_load(api: &Api<'_>, c: &Corpus) {
    for token in [None, Some(c.dan.as_str()), Some(c.cora.as_str())] {
        let r = api.post("/api/v1/search/reindex", token, json!({})).await;
        assert!([401, 403].contains(&r.status), "{:?}", r.body);
    }
    let started = api
        .post("/api/v1/search/reindex", Some(&c.admin), json!({}))
        .await;
    assert_eq!(started.status, 202, "{:?}", started.body);
    let job = started.headers["location"].to_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut searches = 0;
    loop {
        let r = api.get(&search_path("q=zanzibar"), None).await;
        assert_eq!(r.status, 200, "during the reindex: {:?}", r.body);
        assert_eq!(r.body["total"], 2, "during the reindex: {:?}", r.body);
        let r = api.get(&search_path("q=marmalade"), None).await;
        assert!(ids(&r).is_empty(), "a draft leaked during the reindex");
        searches += 2;
        let status = api.get(&job, Some(&c.admin)).await;
        assert_eq!(status.status, 200, "{:?}", status.body);
        match status.body["state"].as_str() {
            Some("done") => {
                assert_eq!(
                    status.body["done"], status.body["total"],
                    "{:?}",
                    status.body
                );
                break;
            }
            Some("running") => {}
            _ => panic!("reindex: {:?}", status.body),
        }
        assert!(Instant::now() < deadline, "reindex: {:?}", status.body);
    }
    assert!(searches >= 2);
    let r = api.get(&search_path("q=zanzibar"), None).await;
    assert_eq!(r.body["total"], 2, "after the swap: {:?}", r.body);
    let r = api.get(&search_path("q=marmalade"), Some(&c.cora)).await;
    assert_eq!(ids(&r), [c.draft.as_str()], "after the swap: {:?}", r.body);
}

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
