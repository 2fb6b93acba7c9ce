//! The publishing service, black-box: real receivers on loopback (a
//! webhook receiver verifying every signature with the Standard Webhooks
//! reference library, and CDN purge APIs), feeds read back by feedparser,
//! and a host killed in the middle of deliveries.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use folio_tests::publishing::{
    PublishingOptions, Receiver, admin, body, channel, distributions, draft, edit, parse_feed,
    publish, start_publishing, transition,
};
use folio_tests::services::{Api, Backends, backends, events_about, unique};
use folio_tests::{client, send_signal};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

fn article(title: &str) -> Value {
    json!({"title": title, "type": "article", "description": format!("About {title}."),
           "body": format!("<p>{title}: the words.</p>"), "tags": ["news"]})
}

fn webhook(name: &str, receiver: &Receiver, hook: &str, extra: Value) -> Value {
    let mut body = json!({
        "name": name,
        "slug": format!("{}-{}", hook, unique()).to_lowercase(),
        "kind": "webhook",
        "config": {"url": receiver.url(&format!("/hooks/{hook}"))},
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    body
}

fn statuses(items: &[Value]) -> Vec<&str> {
    items.iter().filter_map(|d| d["status"].as_str()).collect()
}

#[tokio::test]
async fn webhooks_are_signed_retried_replayed_and_disabled_when_gone() {
    webhooks_flow("pw", None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn webhooks_on_postgres_and_kafka() {
    let b = backends();
    let id = format!("pwpg{}", unique());
    b.reset(&[
        id.clone(),
        format!("{id}-events"),
        format!("{id}-content"),
        format!("{id}-publishing"),
    ])
    .await;
    webhooks_flow(&id, Some(&b)).await;
}

async fn webhooks_flow(id: &str, backends: Option<&Backends>) {
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let receiver = Receiver::start();
    let host = start_publishing(
        id,
        &format!("{id}-{run}"),
        data.path(),
        &PublishingOptions {
            outbound_secrets: json!({"mastodon": "m-token"}),
            backends,
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let (author, _) = api.user_with_role(&admin, "wauthor", "creator", &run).await;
    let (other, _) = api.user_with_role(&admin, "wother", "creator", &run).await;

    // Only admins manage channels; every field is checked.
    let r = api
        .post(
            "/api/v1/channels",
            Some(&author),
            webhook("x", &receiver, "ok", json!({})),
        )
        .await;
    assert_eq!(r.status, 403, "{:?}", r.body);
    for (bad, field) in [
        (
            json!({"config": {"url": "ftp://example.com/"}}),
            "config.url",
        ),
        (
            json!({"config": {"url": "http://x-content.spin.internal/api"}}),
            "config.url",
        ),
        (
            json!({"config": {"url": "https://user:pw@example.com/"}}),
            "config.url",
        ),
        (
            json!({"config": {"url": "https://example.com/", "events": ["content.deleted"]}}),
            "config.events",
        ),
        (json!({"rules": {"types": ["poem"]}}), "rules.types"),
        (
            json!({"rules": {"embargo": [{"start": "2026-01-02T00:00:00Z", "end": "2026-01-01T00:00:00Z"}]}}),
            "rules.embargo",
        ),
        (json!({"approval": {"required": 0}}), "approval.required"),
        (json!({"slug": "Not A Slug"}), "slug"),
    ] {
        let r = api
            .post(
                "/api/v1/channels",
                Some(&admin),
                webhook("bad", &receiver, "ok", bad),
            )
            .await;
        assert_eq!(r.status, 422, "{field}: {:?}", r.body);
        assert_eq!(r.body["errors"][0]["field"], json!(field), "{:?}", r.body);
    }
    assert_eq!(
        api.get("/api/v1/channels", Some(&admin)).await.body["items"],
        json!([])
    );

    let ok = channel(&api, &admin, webhook("Partner", &receiver, "ok", json!({}))).await;
    let flaky = channel(
        &api,
        &admin,
        webhook("Flaky", &receiver, "flaky", json!({})),
    )
    .await;
    let gone = channel(&api, &admin, webhook("Gone", &receiver, "gone", json!({}))).await;
    let secret = |c: &Value| c["secret"].as_str().unwrap().to_string();
    assert!(secret(&ok).starts_with("whsec_"));
    receiver
        .script("ok", json!({"secrets": [secret(&ok)]}))
        .await;
    receiver
        .script(
            "flaky",
            json!({"secrets": [secret(&flaky)], "fail": 2, "failStatus": 503, "retryAfter": 1}),
        )
        .await;
    receiver
        .script("gone", json!({"secrets": [secret(&gone)], "status": 410}))
        .await;
    // The secret is never in the channel's own representation.
    let shown = api
        .get(
            &format!("/api/v1/channels/{}", ok["id"].as_str().unwrap()),
            Some(&admin),
        )
        .await;
    assert!(
        !shown.body.to_string().contains(&secret(&ok)),
        "{:?}",
        shown.body
    );

    // A templated POST, as to a Mastodon server; the token is a named secret.
    channel(
        &api,
        &admin,
        json!({"name": "Mastodon", "slug": "mastodon", "kind": "http",
               "config": {"url": receiver.url("/mastodon/api/v1/statuses"),
                          "headers": {"Authorization": "Bearer {{ secrets.mastodon }}"},
                          "body": "{\"status\": {{ (item.title ~ ' ' ~ item.url) | tojson }}, \"visibility\": \"public\"}"},
               "rules": {"updates": false, "unpublishes": false, "transform": "summary"}}),
    )
    .await;
    let r = api
        .post(
            "/api/v1/channels",
            Some(&admin),
            json!({"name": "Broken", "slug": "broken", "kind": "http",
                   "config": {"url": "https://example.com/", "body": "{% for %}"}}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.body["errors"][0]["field"], json!("config.body"));

    let id = draft(&api, &author, article("First light")).await;
    publish(&api, &id, &author, &admin).await;
    let toot = receiver.wait_for("mastodon", WAIT, |r| !r.is_empty()).await;
    assert_eq!(toot[0]["headers"]["authorization"], json!("Bearer m-token"));
    assert_eq!(
        body(&toot[0]),
        json!({"status": format!("First light http://folio.test/content/{id}"), "visibility": "public"})
    );
    assert!(toot[0]["headers"]["idempotency-key"].is_string());

    let got = receiver.wait_for("ok", WAIT, |r| !r.is_empty()).await;
    assert_eq!(got[0]["verifiedWith"], json!([0]), "{:?}", got[0]);
    let sent = body(&got[0]);
    assert_eq!(sent["type"], json!("content.published"));
    assert_eq!(sent["data"]["id"], json!(id));
    assert_eq!(sent["data"]["title"], json!("First light"));
    assert_eq!(
        sent["data"]["body"],
        json!("<p>First light: the words.</p>")
    );
    assert_eq!(
        sent["data"]["url"],
        json!(format!("http://folio.test/content/{id}"))
    );

    // Fails twice (503, Retry-After: 1), then delivered: one webhook-id.
    let got = receiver.wait_for("flaky", WAIT, |r| r.len() >= 3).await;
    let ids: HashSet<&str> = got
        .iter()
        .map(|r| r["headers"]["webhook-id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 1, "{got:?}");
    assert!(got.iter().all(|r| r["verifiedWith"] == json!([0])));
    assert!(
        got.iter().all(|r| r["body"] == got[0]["body"]),
        "same bytes each time"
    );
    let gap = got[1]["at"].as_f64().unwrap() - got[0]["at"].as_f64().unwrap();
    assert!(gap >= 0.9, "retried after {gap} s despite Retry-After: 1");

    // 410: the channel is disabled and its owner told.
    receiver.wait_for("gone", WAIT, |r| !r.is_empty()).await;
    let gone_id = gone["id"].as_str().unwrap();
    let all = distributions(&api, &admin, &id, |d| {
        d.len() == 4
            && d.iter()
                .all(|d| ["delivered", "failed"].contains(&d["status"].as_str().unwrap()))
    })
    .await;
    let of = |channel: &Value| {
        all.iter()
            .find(|d| d["channelId"] == channel["id"])
            .unwrap()
            .clone()
    };
    assert_eq!(of(&ok)["status"], json!("delivered"));
    let flaky_d = of(&flaky);
    assert_eq!(flaky_d["status"], json!("delivered"), "{flaky_d:?}");
    let codes: Vec<&Value> = flaky_d["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["statusCode"])
        .collect();
    assert_eq!(codes, [&json!(503), &json!(503), &json!(200)]);
    assert_eq!(of(&gone)["status"], json!("failed"));
    let r = api
        .get(&format!("/api/v1/channels/{gone_id}"), Some(&admin))
        .await;
    assert_eq!(r.body["status"], json!("disabled"), "{:?}", r.body);
    assert!(r.body["statusReason"].as_str().unwrap().contains("410"));
    events_about(&host, gone_id, &["folio.publishing.ChannelDisabled"]).await;

    // Authors see their items' distributions; nobody else but admins.
    assert_eq!(
        api.get(
            &format!("/api/v1/content/{id}/distributions"),
            Some(&author)
        )
        .await
        .status,
        200
    );
    assert_eq!(
        api.get(&format!("/api/v1/content/{id}/distributions"), Some(&other))
            .await
            .status,
        403
    );
    assert_eq!(
        api.get("/api/v1/distributions", Some(&author)).await.status,
        403
    );

    // Rotation: both secrets sign during the overlap.
    let ok_id = ok["id"].as_str().unwrap();
    let r = api
        .post(
            &format!("/api/v1/channels/{ok_id}/secrets/rotate"),
            Some(&admin),
            json!({"overlapSeconds": 3600}),
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let secrets = r.body["secrets"].as_array().unwrap().clone();
    assert_eq!(secrets.len(), 2);
    assert_eq!(secrets[1], json!(secret(&ok)));
    receiver
        .script("ok", json!({"secrets": [secrets[0], secrets[1]]}))
        .await;

    // An edit is an update; unpublishing is sent too.
    edit(&api, &id, &author, json!({"title": "First light, revised"})).await;
    let got = receiver.wait_for("ok", WAIT, |r| r.len() >= 2).await;
    assert_eq!(body(&got[1])["type"], json!("content.updated"));
    assert_eq!(
        body(&got[1])["data"]["title"],
        json!("First light, revised")
    );
    assert_eq!(
        got[1]["verifiedWith"],
        json!([0, 1]),
        "new and old secret both sign"
    );
    let sigs = got[1]["headers"]["webhook-signature"].as_str().unwrap();
    assert_eq!(sigs.split(' ').count(), 2, "{sigs}");

    transition(&api, &id, "archived", &admin).await;
    let got = receiver.wait_for("ok", WAIT, |r| r.len() >= 3).await;
    assert_eq!(body(&got[2])["type"], json!("content.unpublished"));

    // A manual retry and a replay send the same webhook-id again.
    let first_id = got[0]["headers"]["webhook-id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .post(
            &format!("/api/v1/distributions/{first_id}/retry"),
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    let got = receiver.wait_for("ok", WAIT, |r| r.len() >= 4).await;
    assert_eq!(got[3]["headers"]["webhook-id"], json!(first_id));
    let r = api
        .post(
            &format!("/api/v1/channels/{ok_id}/replay"),
            Some(&admin),
            json!({"from": "2020-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(r.status, 422, "more than 31 days: {:?}", r.body);
    let now = chrono_now();
    let r = api
        .post(
            &format!("/api/v1/channels/{ok_id}/replay"),
            Some(&admin),
            json!({"from": now.0, "to": now.1}),
        )
        .await;
    assert_eq!(r.status, 202, "{:?}", r.body);
    assert_eq!(r.body["replayed"], json!(3));
    let got = receiver.wait_for("ok", WAIT, |r| r.len() >= 7).await;
    let replayed: HashSet<&str> = got[4..]
        .iter()
        .map(|r| r["headers"]["webhook-id"].as_str().unwrap())
        .collect();
    let original: HashSet<&str> = got[..3]
        .iter()
        .map(|r| r["headers"]["webhook-id"].as_str().unwrap())
        .collect();
    assert_eq!(replayed, original);

    let r = api
        .get(
            &format!("/api/v1/distributions?channel={ok_id}&status=delivered"),
            Some(&admin),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["items"].as_array().unwrap().len(), 3, "{:?}", r.body);
    let r = api
        .get("/api/v1/distributions?status=lost", Some(&admin))
        .await;
    assert_eq!(r.status, 422);
}

/// An hour either side of now, as RFC 3339.
fn chrono_now() -> (String, String) {
    let now = folio_tests::services::now() as i64;
    let at = |s: i64| folio_guest::util::rfc3339(s * 1000);
    (at(now - 3600), at(now + 3600))
}

#[tokio::test]
async fn two_editors_approve_edits_reset_and_embargoes_hold() {
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let receiver = Receiver::start();
    let host = start_publishing(
        "pa",
        &format!("pa-{run}"),
        data.path(),
        &PublishingOptions::default(),
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let (author, _) = api.user_with_role(&admin, "aauthor", "creator", &run).await;
    let (peer, _) = api.user_with_role(&admin, "apeer", "creator", &run).await;
    let (editor2, _) = api.user_with_role(&admin, "aeditor", "admin", &run).await;

    let gated = channel(
        &api,
        &admin,
        webhook(
            "Syndication",
            &receiver,
            "gated",
            json!({"approval": {"required": 2, "roles": ["admin"]}}),
        ),
    )
    .await;
    receiver
        .script("gated", json!({"secrets": [gated["secret"]]}))
        .await;

    let id = draft(&api, &author, article("Needs review")).await;
    publish(&api, &id, &author, &admin).await;
    let d = distributions(&api, &admin, &id, |d| d.len() == 1).await;
    assert_eq!(d[0]["status"], json!("awaiting-approval"));
    events_about(&host, &id, &["folio.publishing.ApprovalRequested"]).await;
    let r = api
        .get("/api/v1/approvals?status=pending", Some(&peer))
        .await;
    assert_eq!(r.status, 200);
    let queued = &r.body["items"][0];
    assert_eq!(queued["contentId"], json!(id));
    assert_eq!(queued["channels"][0]["required"], json!(2));

    let decide = |who: String, decision: &'static str| {
        let api = Api { host: &host };
        let path = format!("/api/v1/content/{id}/approvals");
        async move {
            api.post(
                &path,
                Some(&who),
                json!({"decision": decision, "comment": "ok"}),
            )
            .await
        }
    };
    // No self-approval; a role the policy does not name has no say.
    assert_eq!(decide(author.clone(), "approve").await.status, 403);
    assert_eq!(decide(peer.clone(), "approve").await.status, 403);
    let r = decide(admin.clone(), "approve").await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.body["channels"][0]["approvals"], json!(1));
    assert_eq!(r.body["channels"][0]["status"], json!("awaiting-approval"));
    let r = decide(admin.clone(), "maybe").await;
    assert_eq!(r.status, 422);

    // An edit resets the approvals: one approval of the old text does not count.
    edit(&api, &id, &author, json!({"body": "<p>Rewritten.</p>"})).await;
    let d = distributions(&api, &admin, &id, |d| d.len() == 2).await;
    let mut s = statuses(&d);
    s.sort();
    assert_eq!(s, ["awaiting-approval", "cancelled"], "{d:#?}");
    assert_eq!(decide(editor2.clone(), "approve").await.status, 200);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        receiver.received("gated").await.is_empty(),
        "one approval is not two"
    );
    let r = decide(admin.clone(), "approve").await;
    assert_eq!(
        r.body["channels"][0]["status"],
        json!("approved"),
        "{:?}",
        r.body
    );
    let got = receiver.wait_for("gated", WAIT, |r| !r.is_empty()).await;
    let sent = body(&got[0]);
    assert_eq!(sent["type"], json!("content.published"));
    assert_eq!(sent["data"]["body"], json!("<p>Rewritten.</p>"));
    events_about(&host, &id, &["folio.publishing.ContentApproved"]).await;
    let r = api.get("/api/v1/approvals", Some(&admin)).await;
    assert_eq!(r.body["items"], json!([]), "the queue is empty");

    // A reject cancels.
    let rejected = draft(&api, &author, article("Not this one")).await;
    publish(&api, &rejected, &author, &admin).await;
    distributions(&api, &admin, &rejected, |d| {
        statuses(d) == ["awaiting-approval"]
    })
    .await;
    assert_eq!(decide_on(&api, &rejected, &editor2, "reject").await, 200);
    distributions(&api, &admin, &rejected, |d| statuses(d) == ["cancelled"]).await;
    events_about(&host, &rejected, &["folio.publishing.ContentRejected"]).await;

    // An embargo window holds distributions until it ends.
    let now = folio_tests::services::now() as i64;
    let end = now + 4;
    let embargoed = channel(
        &api,
        &admin,
        webhook(
            "Embargoed",
            &receiver,
            "embargo",
            json!({"rules": {"embargo": [{"start": folio_guest::util::rfc3339((now - 60) * 1000),
                                          "end": folio_guest::util::rfc3339(end * 1000)}]}}),
        ),
    )
    .await;
    receiver
        .script("embargo", json!({"secrets": [embargoed["secret"]]}))
        .await;
    let held = draft(&api, &author, article("Embargoed news")).await;
    publish(&api, &held, &author, &admin).await;
    let d = distributions(&api, &admin, &held, |d| {
        d.iter().any(|d| d["channelId"] == embargoed["id"])
    })
    .await;
    let mine = d
        .iter()
        .find(|d| d["channelId"] == embargoed["id"])
        .unwrap();
    assert_eq!(mine["status"], json!("pending"), "{mine:?}");
    let got = receiver.wait_for("embargo", WAIT, |r| !r.is_empty()).await;
    let at = got[0]["at"].as_f64().unwrap();
    assert!(
        at >= end as f64,
        "delivered at {at}, the embargo ended at {end}"
    );
}

async fn decide_on(api: &Api<'_>, id: &str, who: &str, decision: &str) -> u16 {
    api.post(
        &format!("/api/v1/content/{id}/approvals"),
        Some(who),
        json!({"decision": decision}),
    )
    .await
    .status
}

#[tokio::test]
async fn feeds_validate_sitemaps_split_and_cdns_are_purged_by_key() {
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let receiver = Receiver::start();
    let host = start_publishing(
        "pf",
        &format!("pf-{run}"),
        data.path(),
        &PublishingOptions {
            sitemap_page_size: 2,
            outbound_secrets: json!({"fastly": "fastly-token", "cloudflare": "cf-token"}),
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let (author, _) = api.user_with_role(&admin, "fauthor", "creator", &run).await;

    channel(
        &api,
        &admin,
        json!({"name": "News", "slug": "news", "kind": "feed",
               "config": {"title": "Folio news", "language": "en"},
               "rules": {"types": ["article"], "tags": ["news"]}}),
    )
    .await;
    channel(
        &api,
        &admin,
        json!({"name": "Sitemap", "slug": "sitemap", "kind": "sitemap"}),
    )
    .await;
    channel(
        &api,
        &admin,
        json!({"name": "Fastly", "slug": "fastly", "kind": "cdn",
               "config": {"provider": "fastly", "endpoint": receiver.url("/fastly"),
                          "serviceId": "svc1", "tokenSecret": "fastly"}}),
    )
    .await;
    channel(
        &api,
        &admin,
        json!({"name": "Cloudflare", "slug": "cloudflare", "kind": "cdn",
               "config": {"provider": "cloudflare", "endpoint": receiver.url("/cloudflare"),
                          "zoneId": "zone1", "tokenSecret": "cloudflare"}}),
    )
    .await;

    let mut ids = Vec::new();
    for title in ["One & only", "Two > \"one\"", "Three"] {
        let id = draft(&api, &author, article(title)).await;
        publish(&api, &id, &author, &admin).await;
        ids.push(id);
    }
    let off_topic = draft(
        &api,
        &author,
        json!({"title": "Not news", "type": "article", "body": "<p>x</p>", "tags": ["misc"]}),
    )
    .await;
    publish(&api, &off_topic, &author, &admin).await;
    for id in ids.iter().chain([&off_topic]) {
        distributions(&api, &admin, id, |d| {
            !d.is_empty() && d.iter().all(|d| d["status"] == json!("delivered"))
        })
        .await;
    }

    // RSS and Atom parse cleanly in feedparser; only the rule's items are in.
    for (path, version) in [("/feeds/news.xml", "rss20"), ("/feeds/news.atom", "atom10")] {
        let feed = parse_feed(&host.url(path));
        assert_eq!(feed["bozo"], json!(false), "{path}: {feed:?}");
        assert_eq!(feed["version"], json!(version));
        assert_eq!(feed["title"], json!("Folio news"));
        let titles: Vec<&str> = feed["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles.len(), 3, "{path}: {titles:?}");
        assert!(
            titles.contains(&"One & only") && titles.contains(&"Two > \"one\""),
            "{titles:?}"
        );
        let entry = &feed["entries"][0];
        assert!(
            entry["link"]
                .as_str()
                .unwrap()
                .starts_with("http://folio.test/content/")
        );
        assert!(
            entry["content"][0].as_str().unwrap().contains("the words."),
            "{entry:?}"
        );
    }
    let r = client()
        .get(host.url("/feeds/news.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.headers()["content-type"],
        "application/feed+json; charset=utf-8"
    );
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let modified = r.headers()["last-modified"].to_str().unwrap().to_string();
    assert!(
        r.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("stale-while-revalidate")
    );
    let feed: Value = r.json().await.unwrap();
    assert_eq!(feed["version"], json!("https://jsonfeed.org/version/1.1"));
    assert_eq!(feed["items"].as_array().unwrap().len(), 3);
    for item in feed["items"].as_array().unwrap() {
        assert!(
            item["id"].is_string() && item["content_html"].is_string(),
            "{item:?}"
        );
    }
    // Conditional GETs.
    let r = client()
        .get(host.url("/feeds/news.json"))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let r = client()
        .get(host.url("/feeds/news.xml"))
        .header("if-modified-since", &modified)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    assert_eq!(
        client()
            .get(host.url("/feeds/nope.xml"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Four items at two per page: an index of two sitemaps.
    let index = client()
        .get(host.url("/sitemap.xml"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(index.contains("<sitemapindex"), "{index}");
    assert!(
        index.contains("http://folio.test/sitemaps/2.xml"),
        "{index}"
    );
    let mut locs = 0;
    for n in [1, 2] {
        let page = client()
            .get(host.url(&format!("/sitemaps/{n}.xml")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(page.contains("<urlset"), "{page}");
        locs += page.matches("<loc>").count();
    }
    assert_eq!(locs, 4);
    assert_eq!(
        client()
            .get(host.url("/sitemaps/3.xml"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Unpublishing takes the item out of the feed and purges its keys.
    transition(&api, &ids[0], "archived", &admin).await;
    distributions(&api, &admin, &ids[0], |d| {
        d.iter()
            .filter(|d| d["action"] == json!("unpublish"))
            .count()
            == 4
            && d.iter().all(|d| d["status"] == json!("delivered"))
    })
    .await;
    let feed = parse_feed(&host.url("/feeds/news.xml"));
    assert_eq!(feed["entries"].as_array().unwrap().len(), 2);

    let fastly = receiver.wait_for("fastly", WAIT, |r| r.len() >= 5).await;
    let keys: Vec<&str> = fastly
        .iter()
        .map(|r| r["headers"]["surrogate-key"].as_str().unwrap())
        .collect();
    assert!(
        fastly
            .iter()
            .all(|r| r["headers"]["fastly-key"] == json!("fastly-token"))
    );
    assert!(
        fastly
            .iter()
            .all(|r| r["path"] == json!("/fastly/service/svc1/purge"))
    );
    assert!(
        keys.contains(&format!("content:{} content-list", ids[0]).as_str()),
        "{keys:?}"
    );
    let cloudflare = receiver
        .wait_for("cloudflare", WAIT, |r| r.len() >= 5)
        .await;
    assert!(
        cloudflare
            .iter()
            .all(|r| r["headers"]["authorization"] == json!("Bearer cf-token"))
    );
    assert!(
        cloudflare
            .iter()
            .all(|r| r["path"] == json!("/cloudflare/client/v4/zones/zone1/purge_cache"))
    );
    let tags: Vec<Value> = cloudflare.iter().map(|r| body(r)["tags"].clone()).collect();
    assert!(tags.contains(&json!([format!("content:{}", ids[0]), "content-list"])));

    // A media item's change purges its key.
    let media_id = "0192f0c4-0000-7000-8000-00000000abcd";
    let r = client()
        .post(host.url("/ev/emit"))
        .json(
            &json!({"topic": "folio.media", "type": "folio.media.MediaDeleted", "key": media_id,
                      "data": json!({"id": media_id}).to_string()}),
        )
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
    let fastly = receiver
        .wait_for("fastly", WAIT, |r| {
            r.iter()
                .any(|r| r["headers"]["surrogate-key"] == json!(format!("media:{media_id}")))
        })
        .await;
    assert!(!fastly.is_empty());

    // A scheduled publication makes the same distributions as a manual one.
    let now_ms = folio_guest::util::now_ms();
    let due = folio_guest::util::rfc3339(now_ms - now_ms % 1000 + 3_000);
    let mut scheduled = article("Scheduled news");
    scheduled["scheduledAt"] = json!(due);
    let later = draft(&api, &author, scheduled).await;
    transition(&api, &later, "review", &author).await;
    let r = api
        .post(
            &format!("/api/v1/content/{later}/transitions"),
            Some(&admin),
            json!({"to": "published"}),
        )
        .await;
    assert_eq!(r.status, 202, "scheduled, not published yet: {:?}", r.body);
    let shape = |d: &[Value]| {
        let mut shape: Vec<(String, String, String)> = d
            .iter()
            .map(|d| {
                (
                    d["channelId"].as_str().unwrap().to_string(),
                    d["action"].as_str().unwrap().to_string(),
                    d["status"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        shape.sort();
        shape
    };
    let by_hand = shape(&distributions(&api, &admin, &ids[1], |_| true).await);
    let by_schedule = distributions(&api, &admin, &later, |d| {
        d.len() == by_hand.len() && d.iter().all(|d| d["status"] == json!("delivered"))
    })
    .await;
    assert_eq!(shape(&by_schedule), by_hand);
}

#[tokio::test]
async fn preview_links_show_one_version_until_they_expire_or_are_revoked() {
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let host = start_publishing(
        "pv",
        &format!("pv-{run}"),
        data.path(),
        &PublishingOptions {
            // No exemption: the preview route's rate limit applies.
            runtime_config: folio_tests::publishing::LOOPBACK_ALLOWED.into(),
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let (author, _) = api.user_with_role(&admin, "vauthor", "creator", &run).await;
    let (other, _) = api.user_with_role(&admin, "vother", "creator", &run).await;
    let id = draft(&api, &author, article("Secret draft")).await;
    // The service learns of the draft from its event.
    let path = format!("/api/v1/content/{id}/preview-links");
    let deadline = Instant::now() + WAIT;
    let link = loop {
        let r = api
            .post(&path, Some(&author), json!({"expiresInSeconds": 60}))
            .await;
        if r.status == 201 {
            break r.body;
        }
        assert!(Instant::now() < deadline, "{:?}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(api.post(&path, Some(&other), json!({})).await.status, 403);
    let r = api
        .post(&path, Some(&author), json!({"expiresInSeconds": 5}))
        .await;
    assert_eq!(r.status, 422, "below a minute: {:?}", r.body);
    let url = link["url"]
        .as_str()
        .unwrap()
        .replace("http://folio.test", "");

    let page = client().get(host.url(&url)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["cache-control"], "private, no-store");
    assert!(
        page.headers()["x-robots-tag"]
            .to_str()
            .unwrap()
            .contains("noindex")
    );
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Secret draft") && html.contains("the words."),
        "{html}"
    );

    // The link shows its version, not later edits.
    edit(&api, &id, &author, json!({"title": "Renamed"})).await;
    let html = client()
        .get(host.url(&url))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Secret draft") && !html.contains("Renamed"),
        "{html}"
    );

    // Revoked: gone.
    let r = api
        .call(
            "DELETE",
            &format!("/api/v1/preview-links/{}", link["id"].as_str().unwrap()),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(r.status, 403);
    let r = api
        .call(
            "DELETE",
            &format!("/api/v1/preview-links/{}", link["id"].as_str().unwrap()),
            Some(&author),
            None,
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(
        client().get(host.url(&url)).send().await.unwrap().status(),
        404
    );

    // Expired: gone (the database is told the link ends now).
    let short = api
        .post(&path, Some(&author), json!({"expiresInSeconds": 60}))
        .await
        .body;
    let short_url = short["url"]
        .as_str()
        .unwrap()
        .replace("http://folio.test", "");
    assert_eq!(
        client()
            .get(host.url(&short_url))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    expire_preview_links(data.path(), "pv-publishing").await;
    assert_eq!(
        client()
            .get(host.url(&short_url))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    // Guessing is a 404 each time, then a 429.
    let mut codes = HashMap::new();
    for _ in 0..70 {
        let guess = folio_guest::util::b64url(&folio_guest::util::random::<32>());
        let status = client()
            .get(host.url(&format!("/preview/{guess}")))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16();
        *codes.entry(status).or_insert(0) += 1;
    }
    assert_eq!(
        codes.keys().copied().collect::<HashSet<u16>>(),
        HashSet::from([404, 429]),
        "{codes:?}"
    );
}

/// Moves every preview link's expiry to the past, in the embedded database.
async fn expire_preview_links(data: &std::path::Path, component: &str) {
    let db = data.join(format!("data/sqlite/{component}.default.db"));
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("UPDATE preview_links SET expires_at = 0")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
}

#[tokio::test]
async fn a_host_killed_mid_delivery_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let receiver = Receiver::start();
    let options = PublishingOptions {
        lease: "3s".into(),
        ..Default::default()
    };
    let group = format!("pk-{run}");
    let mut host = start_publishing("pk", &group, data.path(), &options);
    let (admin, author, hook) = {
        let api = Api { host: &host };
        let admin = admin(&api).await;
        let (author, _) = api.user_with_role(&admin, "kauthor", "creator", &run).await;
        let hook = channel(&api, &admin, webhook("Slow", &receiver, "slow", json!({}))).await;
        (admin, author, hook)
    };
    // Slow answers: the kill finds deliveries in flight.
    receiver
        .script(
            "slow",
            json!({"secrets": [hook["secret"]], "delayMs": 1500}),
        )
        .await;
    let mut ids = Vec::new();
    {
        let api = Api { host: &host };
        for n in 0..12 {
            let id = draft(&api, &author, article(&format!("Item {n}"))).await;
            publish(&api, &id, &author, &admin).await;
            ids.push(id);
        }
    }
    receiver.wait_for("slow", WAIT, |r| !r.is_empty()).await;
    send_signal(host.pid(), "KILL");
    host.wait_exit(Duration::from_secs(10));
    let before = receiver.received("slow").await.len();
    assert!(
        before < 12,
        "the kill came too late to test anything: {before} delivered"
    );

    let host = start_publishing("pk", &group, data.path(), &options);
    let api = Api { host: &host };
    for id in &ids {
        distributions(&api, &admin, id, |d| {
            d.len() == 1 && d[0]["status"] == json!("delivered")
        })
        .await;
    }
    let got = receiver.received("slow").await;
    let mut bodies: HashMap<String, String> = HashMap::new();
    for r in &got {
        assert_eq!(r["verifiedWith"], json!([0]));
        let webhook_id = r["headers"]["webhook-id"].as_str().unwrap().to_string();
        let text = r["body"].as_str().unwrap().to_string();
        // A duplicate is the same message: same id, same bytes.
        if let Some(seen) = bodies.insert(webhook_id, text.clone()) {
            assert_eq!(seen, text);
        }
    }
    let items: HashSet<String> = got
        .iter()
        .map(|r| body(r)["data"]["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(items, ids.iter().cloned().collect::<HashSet<_>>());
    assert_eq!(bodies.len(), 12, "one webhook-id per item");
}

#[tokio::test]
async fn private_endpoints_are_refused_and_a_channel_failing_for_days_is_disabled() {
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let receiver = Receiver::start();
    // No allowlist: the loopback receiver is a private address to the host.
    let host = start_publishing(
        "pd",
        &format!("pd-{run}"),
        data.path(),
        &PublishingOptions {
            runtime_config: "[rate_limits]\nexempt = [\"127.0.0.1\"]\n".into(),
            retry_schedule: "1s,1s,1s,1s,1s,1s,1s,1s".into(),
            disable_after: "2s".into(),
            ..Default::default()
        },
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let (author, _) = api.user_with_role(&admin, "dauthor", "creator", &run).await;
    let hook = channel(
        &api,
        &admin,
        webhook("Internal", &receiver, "internal", json!({})),
    )
    .await;
    let id = draft(&api, &author, article("Probe")).await;
    publish(&api, &id, &author, &admin).await;
    let d = distributions(&api, &admin, &id, |d| {
        d.len() == 1 && ["cancelled", "failed"].contains(&d[0]["status"].as_str().unwrap())
    })
    .await;
    let attempts = d[0]["attemptLog"].as_array().unwrap();
    assert!(attempts.len() >= 2, "{d:?}");
    assert!(
        attempts.iter().all(
            |a| a["statusCode"].is_null() && a["error"].as_str().unwrap().contains("rohibited")
        ),
        "{attempts:?}"
    );
    assert!(
        receiver.received("internal").await.is_empty(),
        "nothing reached the address"
    );
    let hook_id = hook["id"].as_str().unwrap();
    let r = api
        .get(&format!("/api/v1/channels/{hook_id}"), Some(&admin))
        .await;
    assert_eq!(r.body["status"], json!("disabled"), "{:?}", r.body);
    assert!(
        r.body["statusReason"]
            .as_str()
            .unwrap()
            .contains("failing with no success")
    );
    events_about(&host, hook_id, &["folio.publishing.ChannelDisabled"]).await;
}

/// A gated item (`requiredTier`) goes into public feeds as its preview: the
/// first paragraph, never the paid part. A reader's private feed key brings
/// it whole into their feeds once they hold its tier, and only then; the
/// keyed answer is theirs alone (private cache, no surrogate keys). Guessed,
/// replaced and revoked keys are refused.
#[tokio::test(flavor = "multi_thread")]
async fn feeds_carry_a_gated_item_whole_only_through_a_subscribers_key() {
    let data = tempfile::tempdir().unwrap();
    let run = unique();
    let host = start_publishing(
        "pg",
        &format!("pg-{run}"),
        data.path(),
        &PublishingOptions {
            extra_manifest: folio_tests::billing::billing_component("pg", 0, None),
            ..PublishingOptions::default()
        },
    );
    let api = Api { host: &host };
    let admin = admin(&api).await;
    let (author, _) = api.user_with_role(&admin, "gauthor", "creator", &run).await;
    let (free, _) = api.user_with_role(&admin, "gfree", "consumer", &run).await;
    let (member, _) = api
        .user_with_role(&admin, "gmember", "consumer", &run)
        .await;
    channel(
        &api,
        &admin,
        json!({"name": "Members", "slug": "members", "kind": "feed",
               "config": {"title": "Members"}}),
    )
    .await;
    let id = draft(
        &api,
        &author,
        json!({"title": "Paid piece", "type": "article", "requiredTier": "members",
               "body": "<p>Free opening.</p><p>Paid secret paragraph.</p>"}),
    )
    .await;
    publish(&api, &id, &author, &admin).await;
    distributions(&api, &admin, &id, |d| {
        !d.is_empty() && d.iter().all(|d| d["status"] == json!("delivered"))
    })
    .await;
    let fetch = |url: String| async move {
        let r = client().get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    };
    let html = |feed: &Value| {
        feed["items"][0]["content_html"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let (status, headers, feed) = fetch(host.url("/feeds/members.json")).await;
    assert_eq!(status, 200);
    assert!(
        html(&feed).contains("Free opening.") && !html(&feed).contains("Paid secret"),
        "{feed}"
    );
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("public")
    );

    let key_of = |token: String| {
        let api = &api;
        async move {
            let r = api.post("/api/v1/feeds/key", Some(&token), json!({})).await;
            assert_eq!(r.status, 201, "{:?}", r.body);
            assert_eq!(r.headers["cache-control"], "no-store");
            let feed = r.body["feeds"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["channel"] == "members")
                .cloned()
                .unwrap();
            let key = r.body["key"].as_str().unwrap().to_string();
            assert_eq!(
                feed["json"],
                format!("http://folio.test/feeds/members.json?key={key}")
            );
            key
        }
    };
    let free_key = key_of(free.clone()).await;
    let member_key = key_of(member.clone()).await;
    let keyed = |key: &str| host.url(&format!("/feeds/members.json?key={key}"));
    // Not subscribed: the preview, even through a key.
    for key in [&free_key, &member_key] {
        let (status, headers, feed) = fetch(keyed(key)).await;
        assert_eq!(status, 200);
        assert!(!html(&feed).contains("Paid secret"), "{feed}");
        assert_eq!(headers["cache-control"], "private, max-age=300");
        assert!(headers.get("surrogate-key").is_none());
    }
    let plan = folio_tests::billing::trial_plan(&api, &admin, "members").await;
    folio_tests::billing::subscribe(&api, &member, &plan).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let (whole_etag, feed) = loop {
        let (status, headers, feed) = fetch(keyed(&member_key)).await;
        assert_eq!(status, 200);
        if html(&feed).contains("Paid secret paragraph.") {
            break (headers["etag"].clone(), feed);
        }
        assert!(
            Instant::now() < deadline,
            "the subscriber's feed stayed a preview: {feed}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        feed["feed_url"]
            .as_str()
            .unwrap()
            .ends_with(&format!("?key={member_key}")),
        "{feed}"
    );
    // The validator is the subscriber's: a public ETag does not match it.
    let (_, public_headers, _) = fetch(host.url("/feeds/members.json")).await;
    assert_ne!(public_headers["etag"], whole_etag);
    let r = client()
        .get(keyed(&member_key))
        .header("if-none-match", whole_etag.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let (_, _, feed) = fetch(keyed(&free_key)).await;
    assert!(!html(&feed).contains("Paid secret"), "{feed}");

    // Keys an attacker might try: guessed, replaced, revoked.
    let guessed = "A".repeat(43);
    let (status, headers, problem) = fetch(keyed(&guessed)).await;
    assert_eq!(
        (status, problem["status"].clone()),
        (403, json!(403)),
        "{problem}"
    );
    assert_eq!(headers["content-type"], "application/problem+json");
    let replacement = key_of(member.clone()).await;
    assert_eq!(fetch(keyed(&member_key)).await.0, 403);
    assert_eq!(fetch(keyed(&replacement)).await.0, 200);
    let r = client()
        .delete(host.url("/api/v1/feeds/key"))
        .bearer_auth(&member)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(fetch(keyed(&replacement)).await.0, 403);
    let r = api.post("/api/v1/feeds/key", None, json!({})).await;
    assert_eq!(r.status, 401);
}
