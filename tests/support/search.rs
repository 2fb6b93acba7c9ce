//! The search service in test manifests: `{id}-search` beside the users and
//! content services of [`services_manifest`](crate::services_manifest).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::services::{Api, Backends, Reply, unique};
use crate::{
    BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, HostOptions, client, services_manifest,
    wasm,
};

/// The search component `{id}-search`, reading the feed of `{id}-content`,
/// evaluating flags with `{id}-flags` and asking `{id}-analytics` for
/// popularity (routes, workers and grants as in spin.toml).
pub fn search_component(id: &str, group: &str) -> String {
    let component = format!("{id}-search");
    let mut text = String::new();
    for route in [
        "/api/v1/search",
        "/api/v1/search/...",
        "/api/v1/openapi/search.json",
    ] {
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
        ));
    }
    text.push_str(&format!(
        r#"
[[trigger.event]]
component = "{component}"
topics = ["folio.content"]
group = "{group}-search-index-{{host}}"
concurrency = 8

[[trigger.event]]
component = "{component}"
topics = ["folio.search.reindex"]
group = "{group}-search-reindex"

[[trigger.event]]
component = "{component}"
topics = ["folio.billing"]
group = "{group}-search-entitlements"

[component.{component}]
source = "{}"
sqlite_databases = ["default"]
allowed_outbound_hosts = ["http://{id}-content.spin.internal", "http://{id}-flags.spin.internal", "http://{id}-analytics.spin.internal"]
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
content_service = "{id}-content"
flags_service = "{id}-flags"
analytics_service = "{id}-analytics"
[component.{component}.tool.folio]
search_indexes = ["content"]
publishes = ["folio.search.reindex"]
"#,
        wasm("folio_search").display()
    ));
    text
}

/// A host with the users, content and search services (`{id}`,
/// `{id}-content`, `{id}-search`), on SQLite and the embedded log, or on
/// Postgres + Redis + Kafka when `backends` is given. `group` names the
/// consumer groups (hosts sharing it share reindex work; each host's index
/// group is its own through `{host}`); `env` adds e.g. `FOLIO_HOST_ID`.
pub async fn start_search(
    id: &str,
    group: &str,
    backends: Option<&Backends>,
    env: &[(&str, &str)],
    fresh: bool,
) -> (Host, tempfile::TempDir) {
    let exempt_loopback = "[rate_limits]\nexempt = [\"127.0.0.1\"]\n";
    start_search_with(id, group, backends, env, fresh, exempt_loopback).await
}

/// `start_search` with `runtime_config` (TOML) in place of its loopback
/// exemption from rate limits.
pub async fn start_search_with(
    id: &str,
    group: &str,
    backends: Option<&Backends>,
    env: &[(&str, &str)],
    fresh: bool,
    runtime_config: &str,
) -> (Host, tempfile::TempDir) {
    start_search_beside(id, group, backends, env, fresh, runtime_config, "", &[]).await
}

/// `start_search_with` and `extra_manifest` (more components), whose
/// databases (`extra_components`) are emptied too when `fresh`.
#[allow(clippy::too_many_arguments)]
pub async fn start_search_beside(
    id: &str,
    group: &str,
    backends: Option<&Backends>,
    env: &[(&str, &str)],
    fresh: bool,
    runtime_config: &str,
    extra_manifest: &str,
    extra_components: &[String],
) -> (Host, tempfile::TempDir) {
    let mut manifest = services_manifest(id, group, true);
    manifest.push_str(&search_component(id, group));
    manifest.push_str(extra_manifest);
    let dir = tempfile::tempdir().unwrap();
    let mut config = runtime_config.to_string();
    if let Some(b) = backends {
        config.push_str(&b.runtime_config());
        if fresh {
            let mut components = vec![
                id.to_string(),
                format!("{id}-events"),
                format!("{id}-content"),
                format!("{id}-search"),
            ];
            components.extend_from_slice(extra_components);
            b.reset(&components).await;
        }
    }
    let path = dir.path().join("runtime.toml");
    std::fs::write(&path, config).unwrap();
    let host = Host::start_with(
        &manifest,
        HostOptions {
            args: vec!["--runtime-config".into(), path.display().to_string()],
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            data_dir: Some(dir.path().join("data")),
        },
    );
    (host, dir)
}

/// A group name no earlier run used.
pub fn fresh_group(id: &str) -> String {
    format!("{id}-{}", unique())
}

/// One signing key pair for all the hosts of a cluster (from `folio
/// auth-keys`), as a deployment configures them: environment variables.
pub fn cluster_auth_keys() -> Vec<(String, String)> {
    let keys = std::process::Command::new(crate::folio_bin())
        .arg("auth-keys")
        .output()
        .unwrap();
    String::from_utf8(keys.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(name, value)| (name.to_string(), value.trim_matches('\'').to_string()))
        .collect()
}

pub fn search_path(query: &str) -> String {
    format!("/api/v1/search?{query}")
}

pub fn ids(r: &Reply) -> Vec<String> {
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
pub async fn eventually(
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

pub async fn create(api: &Api<'_>, token: &str, item: Value) -> String {
    let r = api.post("/api/v1/content", Some(token), item).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

pub async fn transition(api: &Api<'_>, admin: &str, id: &str, to: &[&str]) {
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

pub struct Corpus {
    pub admin: String,
    pub cora: String,
    pub carl: String,
    pub dan: String,
    pub garden: String,
    pub almanac: String,
    pub podcast: String,
    pub draft: String,
    pub guide: String,
}

/// Cora's items: two published articles and a podcast about distinct
/// things, and a draft; then waits until the index has them.
pub async fn corpus(api: &Api<'_>) -> Corpus {
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

/// The search suite over one host (or a Spin app): the corpus, words,
/// stemming, typos, prefixes, phrases, facets, drafts by who may see them,
/// suggestions, related items, bad input, clicks and analytics, a reindex
/// under searches, and items leaving the index.
pub async fn search_flow(host: &Host) {
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
pub async fn reindex_under_load(api: &Api<'_>, c: &Corpus) {
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
