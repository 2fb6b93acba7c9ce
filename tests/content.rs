//! The content service, black-box through the host, with tokens from the
//! users service: on SQLite with embedded stores, and on Postgres + Redis + Kafka.

use folio_tests::services::{Api, backends, events_about, start_services, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host};
use serde_json::{Value, json};

async fn with_if_match(
    api: &Api<'_>,
    method: &str,
    path: &str,
    token: &str,
    etag: Option<&str>,
    body: Value,
) -> folio_tests::services::Reply {
    let mut request = folio_tests::client()
        .request(method.parse().unwrap(), api.host.url(path))
        .bearer_auth(token)
        .json(&body);
    if let Some(etag) = etag {
        request = request.header("if-match", etag);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    folio_tests::services::Reply {
        status,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    }
}

/// `Cache-Control`, `Surrogate-Key` and `Cache-Tag` of an answer, the keys
/// `None` when absent.
fn cdn_headers(headers: &reqwest::header::HeaderMap) -> (String, Option<String>, Option<String>) {
    let text = |name: &str| headers.get(name).map(|v| v.to_str().unwrap().to_string());
    (
        text("cache-control").unwrap_or_default(),
        text("surrogate-key"),
        text("cache-tag"),
    )
}

/// What a CDN may keep `max_age` seconds and serve stale, under `keys`.
fn shared(max_age: u32, keys: &[&str]) -> (String, Option<String>, Option<String>) {
    (
        format!("public, max-age={max_age}, stale-while-revalidate=300, stale-if-error=86400"),
        Some(keys.join(" ")),
        Some(keys.join(",")),
    )
}

async fn content_flow(host: &Host) {
    let api = Api { host };
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, cora_id) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (carl, _) = api.user_with_role(&admin, "carl", "creator", &run).await;
    let (dan, _) = api.user_with_role(&admin, "dan", "consumer", &run).await;

    // Categories: a tree with unique slugs, written by admins only.
    let news = api
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"name": format!("News {run}")}),
        )
        .await;
    assert_eq!(news.status, 201, "{:?}", news.body);
    let news_id = news.body["id"].as_str().unwrap().to_string();
    let tech = api
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"name": "Tech", "slug": format!("tech-{run}"), "parentId": news_id}),
        )
        .await;
    assert_eq!(tech.status, 201, "{:?}", tech.body);
    let tech_id = tech.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        api.post("/api/v1/categories", Some(&cora), json!({"name": "Mine"}))
            .await
            .status,
        403
    );
    let dup = api
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"name": "Again", "slug": format!("tech-{run}")}),
        )
        .await;
    assert_eq!(dup.status, 409);
    let cycle = api
        .call(
            "PUT",
            &format!("/api/v1/categories/{news_id}"),
            Some(&admin),
            Some(json!({"name": "News", "parentId": tech_id})),
        )
        .await;
    assert_eq!(
        (cycle.status, cycle.body["errors"][0]["field"].clone()),
        (422, json!("parentId"))
    );
    let tree = api.get("/api/v1/categories?tree=true", None).await;
    let node = tree.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == json!(news_id))
        .unwrap()
        .clone();
    assert_eq!(node["children"][0]["id"], json!(tech_id));
    let by_slug = api
        .get(&format!("/api/v1/categories/by-slug/tech-{run}"), None)
        .await;
    assert_eq!(by_slug.body["id"], json!(tech_id));
    // Categories are public: a CDN keeps them under `categories`.
    assert_eq!(cdn_headers(&tree.headers), shared(60, &["categories"]));
    let tech_key = format!("category:{tech_id}");
    assert_eq!(
        cdn_headers(&by_slug.headers),
        shared(60, &["categories", &tech_key])
    );

    // Create: validation, roles, sanitized bodies.
    let item = json!({
        "title": "First steps",
        "description": "An introduction",
        "body": "<p>Hello</p><script>alert(1)</script><img src=x onerror=alert(1)><a href=\"javascript:alert(1)\">x</a>",
        "type": "article",
        "tags": ["Intro", "rust"],
        "categories": [tech_id],
        "metadata": {"readingMinutes": 3},
    });
    for (patch, field) in [
        (json!({"title": null}), "title"),
        (json!({"type": "poem"}), "type"),
        (json!({"title": "<script>alert(1)</script>"}), "title"),
        (
            json!({"categories": ["00000000-0000-4000-8000-000000000000"]}),
            "categories",
        ),
        (json!({"metadata": [1, 2]}), "metadata"),
    ] {
        let mut bad = item.clone();
        for (k, v) in patch.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let r = api.post("/api/v1/content", Some(&cora), bad).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].clone()),
            (422, json!(field)),
            "{:?}",
            r.body
        );
    }
    assert_eq!(
        api.post("/api/v1/content", Some(&dan), item.clone())
            .await
            .status,
        403
    );
    assert_eq!(
        api.post("/api/v1/content", None, item.clone()).await.status,
        401
    );
    let created = api.post("/api/v1/content", Some(&cora), item.clone()).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    let id = created.body["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.headers["location"],
        format!("/api/v1/content/{id}").as_str()
    );
    assert_eq!(
        (
            created.body["status"].clone(),
            created.body["version"].clone()
        ),
        (json!("draft"), json!(1))
    );
    let body = created.body["body"].as_str().unwrap().to_lowercase();
    assert!(body.contains("<p>hello</p>"), "{body}");
    for bad in ["<script", "onerror", "javascript:"] {
        assert!(!body.contains(bad), "{body}");
    }
    assert_eq!(created.body["tags"], json!(["intro", "rust"]));

    // Drafts are private; ETags and conditional requests.
    assert_eq!(
        api.get(&format!("/api/v1/content/{id}"), None).await.status,
        404
    );
    assert_eq!(
        api.get(&format!("/api/v1/content/{id}"), Some(&carl))
            .await
            .status,
        404
    );
    let read = api.get(&format!("/api/v1/content/{id}"), Some(&cora)).await;
    let etag = read.headers["etag"].to_str().unwrap().to_string();
    // Its author's draft: no shared cache may keep it, so no surrogate keys.
    let private = ("private, no-cache".to_string(), None, None);
    assert_eq!(cdn_headers(&read.headers), private);
    let not_modified = folio_tests::client()
        .get(host.url(&format!("/api/v1/content/{id}")))
        .bearer_auth(&cora)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), 304);
    assert_eq!(cdn_headers(not_modified.headers()), private);
    let path = format!("/api/v1/content/{id}");
    let no_precondition = with_if_match(
        &api,
        "PATCH",
        &path,
        &cora,
        None,
        json!({"title": "Second"}),
    )
    .await;
    assert_eq!(no_precondition.status, 428);
    let patched = with_if_match(
        &api,
        "PATCH",
        &path,
        &cora,
        Some(&etag),
        json!({"title": "Second steps"}),
    )
    .await;
    assert_eq!(
        (patched.status, patched.body["version"].clone()),
        (200, json!(2)),
        "{:?}",
        patched.body
    );
    let stale = with_if_match(
        &api,
        "PATCH",
        &path,
        &cora,
        Some(&etag),
        json!({"title": "Lost update"}),
    )
    .await;
    assert_eq!(stale.status, 412);
    let etag2 = patched.headers["etag"].to_str().unwrap().to_string();
    let mut replacement = item.clone();
    replacement["title"] = json!("Third steps");
    let put = with_if_match(&api, "PUT", &path, &cora, Some(&etag2), replacement).await;
    assert_eq!(
        (put.status, put.body["version"].clone()),
        (200, json!(3)),
        "{:?}",
        put.body
    );

    // Revisions and restore.
    let revisions = api.get(&format!("{path}/revisions"), Some(&cora)).await;
    assert_eq!(revisions.body["items"].as_array().unwrap().len(), 3);
    let first = api.get(&format!("{path}/revisions/1"), Some(&cora)).await;
    assert_eq!(first.body["content"]["title"], "First steps");
    let restored = api
        .post(
            &format!("{path}/revisions/1/restore"),
            Some(&cora),
            json!({}),
        )
        .await;
    assert_eq!(
        (
            restored.status,
            restored.body["title"].clone(),
            restored.body["version"].clone()
        ),
        (200, json!("First steps"), json!(4))
    );

    // The workflow, with roles.
    let transition = |token: &str, to: &str| {
        let token = token.to_string();
        let to = to.to_string();
        let path = path.clone();
        let api = &api;
        async move {
            api.post(
                &format!("{path}/transitions"),
                Some(&token),
                json!({"to": to}),
            )
            .await
        }
    };
    let skip = transition(&cora, "published").await;
    assert_eq!(
        (skip.status, skip.body["allowed"].clone()),
        (409, json!(["review"])),
        "{:?}",
        skip.body
    );
    assert_eq!(transition(&cora, "review").await.status, 200);
    assert_eq!(
        transition(&cora, "published").await.status,
        403,
        "publishing is an admin's decision"
    );
    assert_eq!(transition(&carl, "draft").await.status, 404);
    let published = transition(&admin, "published").await;
    assert_eq!(published.status, 200, "{:?}", published.body);
    assert!(published.body["publishedAt"].is_string());
    let public = api.get(&path, None).await;
    assert_eq!(
        (public.status, public.body["title"].clone()),
        (200, json!("First steps"))
    );
    // Published: a CDN keeps it under its keys, and a 304 says the same.
    let item_keys = [
        format!("content:{id}"),
        "content-type:article".to_string(),
        "content".to_string(),
    ];
    let item_keys: Vec<&str> = item_keys.iter().map(String::as_str).collect();
    assert_eq!(cdn_headers(&public.headers), shared(0, &item_keys));
    let revalidated = folio_tests::client()
        .get(host.url(&path))
        .header("if-none-match", public.headers["etag"].to_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), 304);
    assert_eq!(cdn_headers(revalidated.headers()), shared(0, &item_keys));
    let back = transition(&cora, "draft").await;
    assert_eq!(
        (back.status, back.body["allowed"].clone()),
        (409, json!(["archived"]))
    );

    // Idempotent create.
    let idem = format!("create-{run}");
    let post_with_key = |body: Value| {
        folio_tests::client()
            .post(host.url("/api/v1/content"))
            .bearer_auth(&cora)
            .header("idempotency-key", &idem)
            .json(&body)
            .send()
    };
    let a: Value = post_with_key(json!({"title": "Once", "type": "video"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let b = post_with_key(json!({"title": "Once", "type": "video"}))
        .await
        .unwrap();
    assert_eq!(b.status(), 201);
    assert_eq!(b.headers()["idempotent-replayed"], "true");
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    let other = post_with_key(json!({"title": "Twice", "type": "video"}))
        .await
        .unwrap();
    assert_eq!(other.status(), 422);

    // Lists: visibility, filters, sorting, both paging styles, fields.
    for i in 0..5 {
        let r = api
            .post("/api/v1/content", Some(&admin), json!({"title": format!("Listed {run} {i}"), "type": "podcast", "tags": [format!("t{run}")]}))
            .await;
        let lid = r.body["id"].as_str().unwrap().to_string();
        for to in ["review", "published"] {
            let t = api
                .post(
                    &format!("/api/v1/content/{lid}/transitions"),
                    Some(&admin),
                    json!({"to": to}),
                )
                .await;
            assert_eq!(t.status, 200, "{:?}", t.body);
        }
    }
    let tag = format!("t{run}");
    let page1 = api
        .get(
            &format!("/api/v1/content?tag={tag}&sort=title&limit=2"),
            None,
        )
        .await;
    assert_eq!(page1.status, 200, "{:?}", page1.body);
    assert_eq!(page1.body["pagination"]["total"], 5);
    // Published-only lists are the same for every such caller: shared, and
    // varying with Authorization (creators and admins see more).
    assert_eq!(
        cdn_headers(&page1.headers),
        shared(60, &["content-list", "content"])
    );
    assert!(page1.headers.get_all("vary").iter().any(|v| {
        v.to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization")
    }));
    let podcasts = api
        .get(&format!("/api/v1/content?tag={tag}&type=podcast"), None)
        .await;
    assert_eq!(podcasts.body["pagination"]["total"], 5);
    assert_eq!(
        cdn_headers(&podcasts.headers),
        shared(60, &["content-list", "content", "content-type:podcast"])
    );
    let titles = |r: &Value| -> Vec<String> {
        r["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["title"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        titles(&page1.body),
        vec![format!("Listed {run} 0"), format!("Listed {run} 1")]
    );
    let next = page1.body["_links"]["next"]["href"]
        .as_str()
        .unwrap()
        .to_string();
    let page2 = api.get(&next, None).await;
    assert_eq!(
        titles(&page2.body),
        vec![format!("Listed {run} 2"), format!("Listed {run} 3")]
    );
    assert!(page2.body["_links"]["prev"]["href"].is_string());
    let mut by_cursor = Vec::new();
    let mut url = format!("/api/v1/content?tag={tag}&sort=-title&limit=2");
    loop {
        let r = api.get(&url, None).await;
        by_cursor.extend(titles(&r.body));
        match r.body["pagination"]["nextCursor"].as_str() {
            Some(cursor) => {
                url = format!("/api/v1/content?tag={tag}&sort=-title&limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(
        by_cursor,
        (0..5)
            .rev()
            .map(|i| format!("Listed {run} {i}"))
            .collect::<Vec<_>>()
    );
    // Keyset pages (the default) go back too; page numbers still work, but
    // not together with a cursor.
    let back = page2.body["_links"]["prev"]["href"].as_str().unwrap();
    assert_eq!(titles(&api.get(back, None).await.body), titles(&page1.body));
    assert!(next.contains("cursor="), "{next}");
    let numbered = api
        .get(
            &format!("/api/v1/content?tag={tag}&sort=title&limit=2&page=2"),
            None,
        )
        .await;
    assert_eq!(titles(&numbered.body), titles(&page2.body));
    assert!(
        numbered.body["_links"]["next"]["href"]
            .as_str()
            .unwrap()
            .contains("page=3")
    );
    assert_eq!(numbered.body["pagination"]["total"], 5);
    let cursor = page1.body["pagination"]["nextCursor"].as_str().unwrap();
    let both = api
        .get(
            &format!("/api/v1/content?tag={tag}&sort=title&page=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(
        (both.status, both.body["errors"][0]["field"].clone()),
        (422, json!("page"))
    );
    // Forged cursors are the client's mistake, named, whatever they hold.
    let b64 = |v: Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let some_id = "0b7f5a5e-1c1d-4c1e-9a0e-3d2b1c0a9f8e";
    for forged in [
        "not a cursor!".to_string(),
        b64(json!(["title", "listed", some_id, "a"])),
        b64(json!(["-createdAt", "yesterday", some_id, "a"])),
        b64(json!([
            "-createdAt",
            "2026-12-01T09:00:00Z",
            "1 OR 1=1",
            "a"
        ])),
        b64(json!([
            "-createdAt",
            "2026-12-01T09:00:00Z",
            some_id,
            "sideways"
        ])),
        "A".repeat(3000),
    ] {
        let r = api
            .get(&format!("/api/v1/content?cursor={forged}"), None)
            .await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].clone()),
            (422, json!("cursor")),
            "{forged}: {:?}",
            r.body
        );
    }
    let bad_total = api.get("/api/v1/content?total=some", None).await;
    assert_eq!(
        (
            bad_total.status,
            bad_total.body["errors"][0]["field"].clone()
        ),
        (422, json!("total"))
    );
    let only = api
        .get(
            &format!("/api/v1/content?tag={tag}&fields=id,title&limit=1"),
            None,
        )
        .await;
    let keys: Vec<&String> = only.body["items"][0].as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 3, "{keys:?}");
    let drafts = api
        .get(
            &format!("/api/v1/content?status=draft&authorId={cora_id}"),
            None,
        )
        .await;
    assert_eq!(
        drafts.body["pagination"]["total"], 0,
        "anonymous callers see published content only"
    );
    let mine = api
        .get(
            &format!("/api/v1/content?status=published&authorId={cora_id}"),
            Some(&cora),
        )
        .await;
    assert_eq!(mine.body["pagination"]["total"], 1);
    // A creator's list may hold their drafts: never shared.
    assert_eq!(
        cdn_headers(&mine.headers),
        ("no-store".to_string(), None, None)
    );
    let q = api
        .get(&format!("/api/v1/content?q=listed%20{run}%203"), None)
        .await;
    assert_eq!(titles(&q.body), vec![format!("Listed {run} 3")]);
    let bad = api.get("/api/v1/content?sort=body", None).await;
    assert_eq!(
        (bad.status, bad.body["errors"][0]["field"].clone()),
        (422, json!("sort"))
    );
    let tags = api.get("/api/v1/tags", None).await;
    assert!(
        tags.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["tag"] == json!(tag) && t["count"] == 5)
    );
    assert_eq!(
        cdn_headers(&tags.headers),
        shared(60, &["content-list", "content"])
    );

    // Deletion: soft for authors, purge for admins.
    let gone = api.call("DELETE", &path, Some(&cora), None).await;
    assert_eq!(gone.status, 204);
    assert_eq!(api.get(&path, Some(&cora)).await.status, 404);
    assert_eq!(
        api.call("DELETE", &format!("{path}?purge=true"), Some(&cora), None)
            .await
            .status,
        403
    );
    assert_eq!(
        api.call("DELETE", &format!("{path}?purge=true"), Some(&admin), None)
            .await
            .status,
        204
    );

    events_about(
        host,
        &id,
        &[
            "folio.content.ContentCreated",
            "folio.content.ContentUpdated",
            "folio.content.ContentStatusChanged",
            "folio.content.ContentPublished",
            "folio.content.ContentDeleted",
        ],
    )
    .await;

    // After creates, edits, transitions, archiving, a deletion and a purge,
    // the kept counts answer exactly what counting every row answers.
    for (filter, token) in [
        ("", None),
        ("?type=podcast", None),
        ("?status=draft", Some(&admin)),
        ("?status=review&type=article", Some(&admin)),
        ("?status=archived", Some(&admin)),
        ("?status=published", Some(&admin)),
        ("", Some(&admin)),
    ] {
        let token = token.map(String::as_str);
        let cheap = api.get(&format!("/api/v1/content{filter}"), token).await;
        let separator = if filter.is_empty() { "?" } else { "&" };
        let exact = api
            .get(
                &format!("/api/v1/content{filter}{separator}total=exact"),
                token,
            )
            .await;
        assert_eq!(
            cheap.body["pagination"]["total"], exact.body["pagination"]["total"],
            "{filter}: {:?} vs {:?}",
            cheap.body["pagination"], exact.body["pagination"]
        );
        assert_eq!(cheap.body["pagination"]["totalExact"], true, "{filter}");
    }
}

#[tokio::test]
async fn embedded() {
    let (host, _dir) = start_services("content-flow", None, &[], true).await;
    content_flow(&host).await;
}

#[tokio::test]
async fn postgres_redis_kafka() {
    let b = backends();
    let (host, _dir) = start_services("content-flow", Some(&b), &[], true).await;
    content_flow(&host).await;
}

/// `scheduledAt` plus a publish request: the item publishes itself when due,
/// also when the host was down at that moment; a cancelled schedule does not.
#[tokio::test]
async fn scheduled_publication_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = folio_tests::services_manifest("content-schedule", "content-schedule", true);
    let options = || folio_tests::HostOptions {
        data_dir: Some(dir.path().join("data")),
        ..Default::default()
    };
    let host = Host::start_with(&manifest, options());
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let now_ms = folio_guest::util::now_ms();
    let due = folio_guest::util::rfc3339(now_ms - now_ms % 1000 + 4_000);
    let mut ids = Vec::new();
    for title in ["Scheduled", "Cancelled"] {
        let r = api
            .post(
                "/api/v1/content",
                Some(&admin),
                json!({"title": title, "type": "article", "scheduledAt": due}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        let review = api
            .post(
                &format!("/api/v1/content/{id}/transitions"),
                Some(&admin),
                json!({"to": "review"}),
            )
            .await;
        assert_eq!(review.status, 200);
        let publish = api
            .post(
                &format!("/api/v1/content/{id}/transitions"),
                Some(&admin),
                json!({"to": "published"}),
            )
            .await;
        assert_eq!(publish.status, 202, "{:?}", publish.body);
        let scheduled = publish.body["scheduledAt"].as_str().unwrap();
        assert_eq!(
            folio_guest::util::parse_rfc3339_ms(scheduled),
            folio_guest::util::parse_rfc3339_ms(&due)
        );
        ids.push(id);
    }
    let cancel = api
        .call(
            "DELETE",
            &format!("/api/v1/content/{}/schedule", ids[1]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(cancel.status, 204);
    // The calendar's question: what is scheduled in a window (the cancelled
    // one no longer is).
    let window = |from: i64, to: i64| {
        format!(
            "/api/v1/content?scheduledFrom={}&scheduledTo={}",
            folio_guest::util::rfc3339(from),
            folio_guest::util::rfc3339(to)
        )
    };
    let scheduled = api
        .get(&window(now_ms - 60_000, now_ms + 60_000), Some(&admin))
        .await;
    assert_eq!(scheduled.status, 200, "{:?}", scheduled.body);
    let listed: Vec<&str> = scheduled.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(listed, vec![ids[0].as_str()]);
    // Items waiting in review stay out of an anonymous caller's window.
    let anonymous = api
        .get(&window(now_ms - 60_000, now_ms + 60_000), None)
        .await;
    assert_eq!(anonymous.status, 200);
    assert_eq!(anonymous.body["items"], json!([]));
    let later = api
        .get(&window(now_ms + 60_000, now_ms + 120_000), Some(&admin))
        .await;
    assert_eq!(later.body["items"], json!([]));
    let bad = api
        .get("/api/v1/content?scheduledFrom=tomorrow", Some(&admin))
        .await;
    assert_eq!(bad.status, 422);
    assert_eq!(bad.body["errors"][0]["field"], "scheduledFrom");
    assert_eq!(
        api.get(&format!("/api/v1/content/{}", ids[0]), None)
            .await
            .status,
        404,
        "not yet"
    );
    drop(host);
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    let host = Host::start_with(&manifest, options());
    let api = Api { host: &host };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let r = api.get(&format!("/api/v1/content/{}", ids[0]), None).await;
        if r.status == 200 {
            assert_eq!(r.body["status"], "published");
            assert!(r.body["scheduledAt"].is_null());
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never published: {:?}",
            r.body
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let cancelled = api
        .get(&format!("/api/v1/content/{}", ids[1]), Some(&admin))
        .await;
    assert_eq!(cancelled.body["status"], "review", "{:?}", cancelled.body);
}

/// Creates an item as `token` and, unless `status` is "draft", moves it
/// there through the workflow; returns its id.
async fn item_in(api: &Api<'_>, token: &str, title: &str, status: &str) -> String {
    let r = api
        .post(
            "/api/v1/content",
            Some(token),
            json!({"title": title, "type": "article", "body": "<p>text</p>"}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id = r.body["id"].as_str().unwrap().to_string();
    let path = match status {
        "draft" => &[][..],
        "review" => &["review"][..],
        "published" => &["review", "published"][..],
        other => panic!("{other}"),
    };
    for to in path {
        let t = api
            .post(
                &format!("/api/v1/content/{id}/transitions"),
                Some(token),
                json!({ "to": to }),
            )
            .await;
        assert_eq!(t.status, 200, "{:?}", t.body);
    }
    id
}

async fn relations_and_read_cache(host: &Host, redis: Option<(&str, &str)>) {
    let api = Api { host };
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, _) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (dan, _) = api.user_with_role(&admin, "dan", "consumer", &run).await;
    let a = item_in(&api, &admin, &format!("Alpha {run}"), "published").await;
    let b = item_in(&api, &admin, &format!("Beta {run}"), "published").await;
    let draft = item_in(&api, &cora, &format!("Cora's draft {run}"), "draft").await;
    let cora_item = item_in(&api, &cora, &format!("Cora's {run}"), "draft").await;

    // Relationships: typed, validated, visible both ways, never leaking drafts.
    let relations = |id: &str| format!("/api/v1/content/{id}/relations");
    let link = |kind: &str, target: &str| json!({"kind": kind, "targetId": target});
    let added = api
        .post(&relations(&a), Some(&admin), link("related", &b))
        .await;
    assert_eq!(added.status, 201, "{:?}", added.body);
    assert_eq!(
        added.headers["location"],
        format!("/api/v1/content/{a}/relations/related/{b}").as_str()
    );
    let again = api
        .post(&relations(&a), Some(&admin), link("related", &b))
        .await;
    assert_eq!(again.status, 200);
    for (body, field) in [
        (link("cousin", &b), "kind"),
        (link("related", &a), "targetId"),
        (link("related", "not-an-id"), "targetId"),
        (json!({"kind": "related"}), "targetId"),
        (
            json!({"kind": "related", "targetId": b, "extra": 1}),
            "extra",
        ),
    ] {
        let r = api.post(&relations(&a), Some(&admin), body).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].clone()),
            (422, json!(field)),
            "{:?}",
            r.body
        );
    }
    assert_eq!(
        api.post(&relations(&a), None, link("series", &b))
            .await
            .status,
        401
    );
    assert_eq!(
        api.post(&relations(&a), Some(&dan), link("series", &b))
            .await
            .status,
        403
    );
    assert_eq!(
        api.post(&relations(&a), Some(&cora), link("series", &b))
            .await
            .status,
        403,
        "creators link only their own items"
    );
    // Cora links her item to her draft and to a published item.
    let r = api
        .post(&relations(&cora_item), Some(&cora), link("series", &draft))
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let r = api
        .post(
            &relations(&cora_item),
            Some(&cora),
            link("translationOf", &a),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    // Nobody else may link to her draft: it does not exist for them.
    let r = api
        .post(&relations(&b), Some(&admin), link("related", &draft))
        .await;
    assert_eq!(r.status, 201, "admins see every item");
    let seen = api.get(&relations(&a), None).await;
    assert_eq!(seen.status, 200);
    let kinds = |r: &folio_tests::services::Reply| -> Vec<(String, String, String)> {
        r.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["kind"].as_str().unwrap().to_string(),
                    i["direction"].as_str().unwrap().to_string(),
                    i["content"]["id"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        kinds(&seen),
        vec![("related".into(), "outgoing".into(), b.clone())],
        "the translation comes from a draft, so anonymous readers do not see it"
    );
    let as_cora = api.get(&relations(&a), Some(&cora)).await;
    assert!(kinds(&as_cora).contains(&(
        "translationOf".into(),
        "incoming".into(),
        cora_item.clone()
    )));
    let of_b = api
        .get(&format!("{}?kind=related", relations(&b)), None)
        .await;
    assert_eq!(
        kinds(&of_b),
        vec![("related".into(), "incoming".into(), a.clone())],
        "the link to Cora's draft stays hidden"
    );
    assert_eq!(
        api.get(&relations(&draft), None).await.status,
        404,
        "a draft's links are as hidden as the draft"
    );
    let delete = format!("/api/v1/content/{a}/relations/related/{b}");
    assert_eq!(
        api.call("DELETE", &delete, Some(&cora), None).await.status,
        403
    );
    assert_eq!(
        api.call("DELETE", &delete, Some(&admin), None).await.status,
        204
    );
    assert_eq!(
        api.call("DELETE", &delete, Some(&admin), None).await.status,
        404
    );
    assert!(kinds(&api.get(&relations(&a), None).await).is_empty());

    // The read cache: a read after a successful write never sees what it replaced.
    let path = format!("/api/v1/content/{a}");
    let list = format!("/api/v1/content?status=published&q=alpha%20{run}");
    assert_eq!(api.get(&path, None).await.body["version"], 3);
    assert_eq!(
        api.get(&list, Some(&dan)).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    if let Some((url, component)) = redis {
        // The published item went into the cache on that read; prove reads
        // come from there by planting a different title.
        let client = redis::Client::open(url).unwrap();
        let mut c = client.get_multiplexed_async_connection().await.unwrap();
        let key = format!("folio:{component}:default:item:{a}");
        let cached: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        let mut entry: Value = serde_json::from_slice(&cached).unwrap();
        assert_eq!(entry["version"], 3);
        // The same version, so a late cache repair leaves it alone.
        entry["content"]["title"] = json!("planted");
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(entry.to_string())
            .query_async(&mut c)
            .await
            .unwrap();
        assert_eq!(api.get(&path, None).await.body["title"], "planted");
        let lists: Vec<String> = redis::cmd("KEYS")
            .arg(format!("folio:{component}:default:list:*"))
            .query_async(&mut c)
            .await
            .unwrap();
        assert!(!lists.is_empty(), "the public list went into the cache");
    }
    for round in 0..5 {
        let current = api.get(&path, Some(&admin)).await;
        let etag = current.headers["etag"].to_str().unwrap().to_string();
        let title = format!("Alpha {run} round {round}");
        let written = with_if_match(
            &api,
            "PATCH",
            &path,
            &admin,
            Some(&etag),
            json!({ "title": title }),
        )
        .await;
        assert_eq!(written.status, 200, "{:?}", written.body);
        let read = api.get(&path, None).await;
        assert_eq!(read.body["title"], json!(title));
        assert_eq!(read.body["version"], written.body["version"]);
        let listed = api.get(&list, None).await;
        assert_eq!(listed.body["items"][0]["title"], json!(title));
        assert_eq!(
            api.get(&list, Some(&dan)).await.body["items"][0]["title"],
            json!(title)
        );
    }
    let archived = api
        .post(
            &format!("{path}/transitions"),
            Some(&admin),
            json!({"to": "archived"}),
        )
        .await;
    assert_eq!(archived.status, 200, "{:?}", archived.body);
    assert_eq!(api.get(&path, None).await.status, 404);
    assert!(
        api.get(&list, None).await.body["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let deleted = api
        .call(
            "DELETE",
            &format!("/api/v1/content/{b}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(deleted.status, 204);
    assert_eq!(
        api.get(&format!("/api/v1/content/{b}"), None).await.status,
        404
    );
    assert_eq!(api.get(&relations(&b), Some(&admin)).await.status, 404);
}

#[tokio::test]
async fn relations_and_read_cache_embedded() {
    let (host, _dir) = start_services("content-cache", None, &[], true).await;
    relations_and_read_cache(&host, None).await;
}

#[tokio::test]
async fn relations_and_read_cache_postgres_redis() {
    let b = backends();
    let (host, _dir) = start_services("content-cache", Some(&b), &[], true).await;
    relations_and_read_cache(&host, Some((&b.redis, "content-cache-content"))).await;
}

/// `/api/v1/openapi/content.json` is this service's OpenAPI 3.1 document,
/// and `/api/v1/openapi.json` (the meta component) merges it with the users
/// service's; a path two sources describe is a 500, a source that fails a 502.
#[tokio::test]
async fn openapi_documents() {
    let dir = tempfile::tempdir().unwrap();
    let id = "content-openapi";
    let mut manifest = folio_tests::services_manifest(id, id, true);
    let users = (id, "/api/v1/openapi/users.json");
    manifest.push_str(&folio_tests::meta_openapi_component(
        "openapi-twice",
        "/twice/openapi.json",
        &[users, users],
    ));
    manifest.push_str(&folio_tests::meta_openapi_component(
        "openapi-gone",
        "/gone/openapi.json",
        &[
            users,
            ("content-openapi-content", "/api/v1/openapi/gone.json"),
        ],
    ));
    let host = Host::start_with(
        &manifest,
        folio_tests::HostOptions {
            data_dir: Some(dir.path().join("data")),
            ..Default::default()
        },
    );
    let api = Api { host: &host };

    let content = api.get("/api/v1/openapi/content.json", None).await;
    assert_eq!(content.status, 200);
    assert_eq!(content.body["openapi"], "3.1.0");
    let paths = content.body["paths"].as_object().unwrap();
    for (path, method) in [
        ("/api/v1/content", "get"),
        ("/api/v1/content", "post"),
        ("/api/v1/content/{id}", "patch"),
        ("/api/v1/content/{id}/transitions", "post"),
        ("/api/v1/content/{id}/revisions/{n}/restore", "post"),
        ("/api/v1/categories/{id}", "put"),
        ("/api/v1/tags", "get"),
        ("/api/v1/content/{id}/relations", "post"),
        ("/api/v1/content/{id}/relations/{kind}/{target}", "delete"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    assert!(paths.keys().all(|p| !p.starts_with("/api/v1/auth")));
    let schemas = &content.body["components"]["schemas"];
    assert!(schemas["ContentItem"]["properties"]["_links"].is_object());
    assert_eq!(
        content.body["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let all = api.get("/api/v1/openapi.json", None).await;
    assert_eq!(all.status, 200, "{:?}", all.body);
    assert_eq!(all.body["openapi"], "3.1.0");
    assert_eq!(all.body["info"]["title"], "Folio");
    let paths = all.body["paths"].as_object().unwrap();
    for path in [
        "/api/v1/auth/login",
        "/api/v1/users/{id}",
        "/.well-known/jwks.json",
        "/api/v1/content",
        "/api/v1/content/{id}",
        "/api/v1/categories",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    let users_doc = api.get("/api/v1/openapi/users.json", None).await.body;
    assert_eq!(
        paths.len(),
        users_doc["paths"].as_object().unwrap().len()
            + content.body["paths"].as_object().unwrap().len()
    );
    let schemas = all.body["components"]["schemas"].as_object().unwrap();
    for name in ["UserView", "ContentItem", "ProblemDetails"] {
        assert!(schemas.contains_key(name), "{name} missing");
    }
    assert_eq!(
        schemas["ProblemDetails"],
        users_doc["components"]["schemas"]["ProblemDetails"]
    );

    let twice = api.get("/twice/openapi.json", None).await;
    assert_eq!(twice.status, 500, "{:?}", twice.body);
    assert!(
        twice.body["detail"]
            .as_str()
            .unwrap()
            .contains("is described by both content-openapi and content-openapi"),
        "{:?}",
        twice.body
    );
    let gone = api.get("/gone/openapi.json", None).await;
    assert_eq!(gone.status, 502, "{:?}", gone.body);
    assert_eq!(gone.headers["content-type"], "application/problem+json");
    assert!(
        gone.body["detail"]
            .as_str()
            .unwrap()
            .contains("content-openapi-content"),
        "{:?}",
        gone.body
    );
}

/// `POST /api/v1/content/import`: NDJSON from admins only; every line is
/// checked before anything is written; the same upload twice creates
/// nothing twice; lists and their totals see the items at once.
#[tokio::test]
async fn bulk_import() {
    let (host, _dir) = start_services("content-import", None, &[], true).await;
    let api = Api { host: &host };
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, _) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let upload = |token: Option<&str>, content_type: &str, body: String| {
        let mut request = folio_tests::client()
            .post(host.url("/api/v1/content/import"))
            .header("content-type", content_type.to_string())
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            let location = response
                .headers()
                .get("location")
                .map(|v| v.to_str().unwrap().to_string());
            let text = response.text().await.unwrap();
            (
                status,
                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
                location,
            )
        }
    };
    let published_id = "6f1c2b3a-4d5e-4f60-8a1b-2c3d4e5f6a7b";
    let lines = [
        json!({"id": published_id, "title": format!("Imported {run} one"), "type": "article",
               "body": "<p>old <script>x</script>news</p>", "status": "published",
               "createdAt": "2024-03-01T08:00:00Z", "publishedAt": "2024-03-01T09:00:00Z",
               "tags": [format!("imp{run}")]}),
        json!({"title": format!("Imported {run} two"), "type": "podcast", "tags": [format!("imp{run}")]}),
        json!({"title": format!("Imported {run} three"), "type": "video", "status": "archived"}),
    ];
    let ndjson = |lines: &[Value]| {
        lines
            .iter()
            .map(|l| l.to_string() + "\n")
            .collect::<String>()
    };
    let body = ndjson(&lines);

    // Who may import, and in what form.
    let nobody = upload(None, "application/x-ndjson", body.clone()).await;
    assert_eq!(nobody.0, 401, "{:?}", nobody.1);
    let creator = upload(Some(&cora), "application/x-ndjson", body.clone()).await;
    assert_eq!(creator.0, 403, "{:?}", creator.1);
    let as_json = upload(Some(&admin), "application/json", body.clone()).await;
    assert_eq!(as_json.0, 415, "{:?}", as_json.1);

    // A bad line anywhere writes nothing, and is named.
    let mut bad = lines.to_vec();
    bad[1] = json!({"type": "podcast"});
    let refused = upload(Some(&admin), "application/x-ndjson", ndjson(&bad)).await;
    assert_eq!(refused.0, 422, "{:?}", refused.1);
    assert_eq!(refused.1["line"], 2, "{:?}", refused.1);
    assert_eq!(refused.1["errors"][0]["field"], "title");
    let not_json = upload(
        Some(&admin),
        "application/x-ndjson",
        format!("{}\nnot json\n", lines[0]),
    )
    .await;
    assert_eq!((not_json.0, not_json.1["line"].clone()), (400, json!(2)));
    let twice = upload(
        Some(&admin),
        "application/x-ndjson",
        ndjson(&[lines[0].clone(), lines[0].clone()]),
    )
    .await;
    assert_eq!(
        (twice.0, twice.1["errors"][0]["field"].clone()),
        (422, json!("id"))
    );
    let mut nowhere = lines[1].clone();
    nowhere["categories"] = json!(["0b7f5a5e-1c1d-4c1e-9a0e-3d2b1c0a9f8e"]);
    let missing = upload(Some(&admin), "application/x-ndjson", ndjson(&[nowhere])).await;
    assert_eq!(
        (missing.0, missing.1["errors"][0]["field"].clone()),
        (422, json!("categories"))
    );
    let huge = json!({"title": "Huge", "type": "article", "body": "x".repeat(3 << 20)});
    let too_long = upload(Some(&admin), "application/x-ndjson", ndjson(&[huge])).await;
    assert_eq!((too_long.0, too_long.1["line"].clone()), (413, json!(1)));
    assert_eq!(
        api.get(&format!("/api/v1/content/{published_id}"), None)
            .await
            .status,
        404,
        "a refused upload wrote something"
    );

    // The upload itself, then the same again.
    let (status, outcome, location) =
        upload(Some(&admin), "application/x-ndjson", body.clone()).await;
    assert_eq!(status, 200, "{outcome:?}");
    assert_eq!(
        (
            outcome["lines"].clone(),
            outcome["created"].clone(),
            outcome["skipped"].clone()
        ),
        (json!(3), json!(3), json!(0))
    );
    let job = api.get(&location.unwrap(), Some(&admin)).await;
    assert_eq!(
        (job.body["state"].clone(), job.body["created"].clone()),
        (json!("done"), json!(3))
    );
    assert_eq!(
        api.get(
            &format!(
                "/api/v1/content/imports/{}",
                outcome["id"].as_str().unwrap()
            ),
            Some(&cora)
        )
        .await
        .status,
        403
    );
    let again = upload(Some(&admin), "application/x-ndjson", body).await;
    assert_eq!(
        (again.1["created"].clone(), again.1["skipped"].clone()),
        (json!(0), json!(3)),
        "{:?}",
        again.1
    );

    // The items are there as imported, sanitized, and listed at once.
    let one = api
        .get(&format!("/api/v1/content/{published_id}"), None)
        .await;
    assert_eq!(one.status, 200, "{:?}", one.body);
    assert!(
        one.body["publishedAt"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-01T09:00:00"),
        "{:?}",
        one.body
    );
    assert!(!one.body["body"].as_str().unwrap().contains("script"));
    let tagged = api
        .get(&format!("/api/v1/content?tag=imp{run}"), None)
        .await;
    assert_eq!(tagged.body["pagination"]["total"], 1, "{:?}", tagged.body);
    let drafts = api
        .get(
            &format!("/api/v1/content?tag=imp{run}&status=draft"),
            Some(&admin),
        )
        .await;
    assert_eq!(drafts.body["pagination"]["total"], 1);
    for filter in ["", "?status=archived", "?type=podcast"] {
        let cheap = api
            .get(&format!("/api/v1/content{filter}"), Some(&admin))
            .await;
        let separator = if filter.is_empty() { "?" } else { "&" };
        let exact = api
            .get(
                &format!("/api/v1/content{filter}{separator}total=exact"),
                Some(&admin),
            )
            .await;
        assert_eq!(
            cheap.body["pagination"]["total"], exact.body["pagination"]["total"],
            "{filter}"
        );
    }
    events_about(&host, published_id, &["folio.content.ContentImported"]).await;
}
