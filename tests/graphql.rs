//! The GraphQL component, black-box through the host, over the real users,
//! content and media services: a nested query answered with one chained
//! call per service and level (counted in the host's metrics), the limits
//! refused before any call, persisted queries, `me` only with a token, and
//! the batch routes it added to the users and media services.

use std::io::Cursor;
use std::time::{Duration, Instant};

use folio_tests::services::{Api, Reply, start_graphql, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

async fn graphql(api: &Api<'_>, token: Option<&str>, body: Value) -> Reply {
    api.post("/api/v1/graphql", token, body).await
}

/// Requests the host counted for `component` (chained calls included).
async fn requests_of(host: &Host, component: &str) -> u64 {
    let text = client()
        .get(host.url("/_folio/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let label = format!("component=\"{component}\"");
    text.lines()
        .filter(|l| l.starts_with("folio_http_requests_total{") && l.contains(&label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

async fn counts(host: &Host, id: &str) -> [u64; 3] {
    [
        requests_of(host, id).await,
        requests_of(host, &format!("{id}-content")).await,
        requests_of(host, &format!("{id}-media")).await,
    ]
}

fn jpeg() -> Vec<u8> {
    let image = image::RgbImage::from_fn(64, 48, |x, y| image::Rgb([x as u8 * 4, y as u8 * 5, 90]));
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// Uploads a JPEG as `token`'s and waits until it is processed (public).
async fn ready_image(api: &Api<'_>, token: &str) -> String {
    let id = folio_guest::util::new_id();
    let r = client()
        .put(api.host.url(&format!("/api/v1/media/{id}?filename=p.jpg")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(jpeg())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let m = api.get(&format!("/api/v1/media/{id}"), None).await;
        if m.status == 200 && m.body["status"] == "ready" {
            return id;
        }
        assert!(
            Instant::now() < deadline,
            "media {id} not ready: {:?}",
            m.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn publish(api: &Api<'_>, admin: &str, id: &str) {
    for to in ["review", "published"] {
        let t = api
            .post(
                &format!("/api/v1/content/{id}/transitions"),
                Some(admin),
                json!({"to": to}),
            )
            .await;
        assert_eq!(t.status, 200, "{:?}", t.body);
    }
}

fn code(r: &Reply) -> &str {
    r.body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
}

const ITEMS: &str = r#"
query Page($n: Int!, $withMedia: Boolean = true) {
  contents(first: $n) {
    totalCount
    pageInfo { hasNextPage }
    items {
      ...Item
      media @include(if: $withMedia) { id kind mime ... on Media { contentUrl } }
    }
  }
}
fragment Item on Content {
  title
  tags
  author { firstName lastName }
  categories { name parent { name } }
}"#;

#[tokio::test]
async fn graphql_over_the_services() {
    let id = "gq";
    let (host, _dir) = start_graphql(id);
    let api = Api { host: &host };
    let run = unique();
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, cora_id) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (carl, _) = api.user_with_role(&admin, "carl", "creator", &run).await;
    let (dan, dan_id) = api.user_with_role(&admin, "dan", "consumer", &run).await;

    let news = api
        .post("/api/v1/categories", Some(&admin), json!({"name": "News"}))
        .await;
    assert_eq!(news.status, 201, "{:?}", news.body);
    let news_id = news.body["id"].as_str().unwrap().to_string();
    let tech = api
        .post(
            "/api/v1/categories",
            Some(&admin),
            json!({"name": "Tech", "parentId": news_id}),
        )
        .await;
    let tech_id = tech.body["id"].as_str().unwrap().to_string();
    let photo = ready_image(&api, &cora).await;

    let mut ids = Vec::new();
    for (token, title, categories, media) in [
        (
            &cora,
            "Cora's piece",
            vec![tech_id.clone()],
            vec![photo.clone()],
        ),
        (
            &carl,
            "Carl's piece",
            vec![news_id.clone(), tech_id.clone()],
            vec![photo.clone()],
        ),
        (&cora, "Cora again", vec![], vec![]),
    ] {
        let r = api
            .post(
                "/api/v1/content",
                Some(token),
                json!({"title": title, "type": "article", "tags": ["GraphQL"],
                       "categories": categories, "mediaIds": media}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let cid = r.body["id"].as_str().unwrap().to_string();
        publish(&api, &admin, &cid).await;
        ids.push(cid);
    }

    // The nested query, anonymously: one call to the content list, then one
    // to each of users, media and categories for all items at once.
    let before = counts(&host, id).await;
    let r = graphql(&api, None, json!({"query": ITEMS, "variables": {"n": 10}})).await;
    let after = counts(&host, id).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body.get("errors"), None, "{:?}", r.body);
    let contents = &r.body["data"]["contents"];
    assert_eq!(contents["totalCount"], 3);
    assert_eq!(contents["pageInfo"]["hasNextPage"], false);
    let items = contents["items"].as_array().unwrap();
    let titles: Vec<&str> = items.iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["Cora again", "Carl's piece", "Cora's piece"]);
    assert_eq!(
        items[1]["author"],
        json!({"firstName": "carl", "lastName": "Tester"})
    );
    assert_eq!(items[2]["author"]["firstName"], "cora");
    assert_eq!(
        items[1]["categories"],
        json!([{"name": "News", "parent": null}, {"name": "Tech", "parent": {"name": "News"}}])
    );
    assert_eq!(items[2]["tags"], json!(["graphql"]));
    assert_eq!(items[2]["media"][0]["id"], json!(photo));
    assert_eq!(items[2]["media"][0]["mime"], "image/jpeg");
    assert_eq!(
        items[2]["media"][0]["contentUrl"],
        json!(format!("/api/v1/media/{photo}/content"))
    );
    assert_eq!(items[0]["media"], json!([]));
    let [users, content, media] = [0, 1, 2].map(|i| after[i] - before[i]);
    assert_eq!(
        (users, content, media),
        (1, 2, 1),
        "users, content (list + categories), media calls for one query"
    );

    // Limits are refused before any service is called.
    let deep = "{ categories { parent { parent { parent { parent { parent { parent { parent { name } } } } } } } } }";
    let before = counts(&host, id).await;
    let r = graphql(&api, None, json!({"query": deep})).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "DEPTH_LIMIT_EXCEEDED"),
        "{:?}",
        r.body
    );
    let costly = "{ contents(first: 100) { items { title body media { id contentUrl } categories { name } } } }";
    let r = graphql(&api, None, json!({"query": costly})).await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "COMPLEXITY_LIMIT_EXCEEDED"),
        "{:?}",
        r.body
    );
    let r = graphql(
        &api,
        None,
        json!({"query": format!("{{ tags {{ tag }} }} #{}", "x".repeat(17 * 1024))}),
    )
    .await;
    assert_eq!(
        (r.status, code(&r)),
        (413, "QUERY_TOO_LARGE"),
        "{:?}",
        r.body
    );
    assert_eq!(counts(&host, id).await, before, "no service was called");

    // Authors are public profiles: no email to ask for.
    let r = graphql(
        &api,
        None,
        json!({"query": "{ contents { items { author { email } } } }"}),
    )
    .await;
    assert_eq!(
        (r.status, code(&r)),
        (400, "GRAPHQL_VALIDATION_FAILED"),
        "{:?}",
        r.body
    );

    // `me` is the caller's own account, and nobody's without a token.
    let r = graphql(&api, None, json!({"query": "{ me { id email } }"})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["data"], json!({"me": null}));
    assert_eq!(code(&r), "UNAUTHENTICATED");
    assert_eq!(r.body["errors"][0]["path"], json!(["me"]));
    let r = graphql(&api, Some("not-a-token"), json!({"query": "{ me { id } }"})).await;
    assert_eq!(
        (r.body["data"]["me"].clone(), code(&r)),
        (Value::Null, "UNAUTHENTICATED"),
        "{:?}",
        r.body
    );
    let r = graphql(
        &api,
        Some(&dan),
        json!({"query": "{ me { id email role } }"}),
    )
    .await;
    assert_eq!(r.body["data"]["me"]["id"], json!(dan_id), "{:?}", r.body);
    assert_eq!(r.body["data"]["me"]["role"], "consumer");

    // Drafts stay their author's, as in REST: the token goes with every call.
    let draft = api
        .post(
            "/api/v1/content",
            Some(&cora),
            json!({"title": "Draft", "type": "article"}),
        )
        .await;
    let draft_id = draft.body["id"].as_str().unwrap();
    let one = json!({"query": "query($id: ID!) { content(id: $id) { title status author { id } } }",
                     "variables": {"id": draft_id}});
    let r = graphql(&api, None, one.clone()).await;
    assert_eq!(r.body, json!({"data": {"content": null}}));
    let r = graphql(&api, Some(&cora), one).await;
    assert_eq!(
        r.body["data"]["content"],
        json!({"title": "Draft", "status": "draft", "author": {"id": cora_id}})
    );

    // Persisted queries: hash alone → not found; hash + text → runs and
    // registers; hash alone → runs; GET works too.
    let query = "query Tags { tags(first: 5) { tag count } }";
    let hash = hex(&Sha256::digest(query.as_bytes()));
    let ext = json!({"persistedQuery": {"version": 1, "sha256Hash": hash}});
    let r = graphql(&api, None, json!({"extensions": ext})).await;
    assert_eq!(
        (r.status, code(&r)),
        (200, "PERSISTED_QUERY_NOT_FOUND"),
        "{:?}",
        r.body
    );
    let r = graphql(
        &api,
        None,
        json!({"query": "{ tags { tag } }", "extensions": ext}),
    )
    .await;
    assert_eq!((r.status, code(&r)), (400, "PERSISTED_QUERY_HASH_MISMATCH"));
    let r = graphql(&api, None, json!({"query": query, "extensions": ext})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let tags = json!({"data": {"tags": [{"tag": "graphql", "count": 3}]}});
    assert_eq!(r.body, tags);
    let r = graphql(&api, None, json!({"extensions": ext})).await;
    assert_eq!(r.body, tags);
    let url = format!(
        "/api/v1/graphql?extensions={}",
        percent_encode(&ext.to_string())
    );
    let r = api.get(&url, None).await;
    assert_eq!((r.status, r.body.clone()), (200, tags));

    // Malformed requests are 4xx, never 5xx.
    for (content_type, body, status) in [
        ("application/json", "{", 400),
        ("application/json", "[]", 400),
        ("application/json", "{\"query\": 7}", 400),
        ("application/json", "{}", 400),
        ("text/plain", "{ tags { tag } }", 415),
        ("application/json", "{\"query\": \"mutation { x }\"}", 400),
        (
            "application/json",
            "{\"query\": \"{ __schema { types { name } } }\"}",
            400,
        ),
    ] {
        let r = client()
            .post(host.url("/api/v1/graphql"))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{body}");
        let v: Value = r.json().await.unwrap();
        assert!(v["errors"][0]["extensions"]["code"].is_string(), "{v}");
    }

    // The schema, and the endpoint's OpenAPI document merged with the rest.
    let sdl = client()
        .get(host.url("/api/v1/graphql/schema.graphql"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sdl.contains("type Query {"), "{sdl}");
    let merged = api.get("/all/openapi.json", None).await;
    assert_eq!(merged.status, 200, "{:?}", merged.body);
    for path in [
        "/api/v1/graphql",
        "/api/v1/users/profiles",
        "/api/v1/media/batch",
    ] {
        assert!(merged.body["paths"][path].is_object(), "{path}");
    }

    // The batch routes: public fields only, bounded, visibility per item.
    let r = api
        .get(
            &format!("/api/v1/users/profiles?ids={cora_id},{dan_id}"),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(
        r.body,
        json!({"items": [{"id": cora_id, "firstName": "cora", "lastName": "Tester"}]}),
        "consumers have no public profile; no email"
    );
    let many: Vec<String> = (0..101).map(|_| folio_guest::util::new_id()).collect();
    for query in [
        format!("ids={}", many.join(",")),
        "ids=nope".into(),
        String::new(),
    ] {
        let r = api
            .get(&format!("/api/v1/users/profiles?{query}"), None)
            .await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].clone()),
            (422, json!("ids")),
            "{query}"
        );
        let r = api.get(&format!("/api/v1/media/batch?{query}"), None).await;
        assert_eq!(
            (r.status, r.body["errors"][0]["field"].clone()),
            (422, json!("ids")),
            "{query}"
        );
    }
    let r = api
        .get(
            &format!("/api/v1/media/batch?ids={photo},{}", many[0]),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(r.body["items"][0]["id"], json!(photo));
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
