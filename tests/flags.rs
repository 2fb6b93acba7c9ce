//! The feature flag service, black-box: a flagd flag file imported as is,
//! evaluated over the OpenFeature Remote Evaluation Protocol, rollouts
//! measured over 10,000 subjects, and the answers compared with the rules.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use folio_tests::analytics::analytics_component;
use folio_tests::flags::flags_component;
use folio_tests::search::{cluster_auth_keys, fresh_group, start_search_beside};
use folio_tests::services::{Api, Reply, backends, unique};
use folio_tests::{
    BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, HostOptions, client,
    services_manifest_recording,
};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn start(id: &str, data: &std::path::Path) -> Host {
    let mut manifest = services_manifest_recording(id, id, false, &["folio.flags"]);
    manifest.push_str(&flags_component(id));
    Host::start_with(
        &manifest,
        HostOptions {
            data_dir: Some(data.to_path_buf()),
            ..Default::default()
        },
    )
}

/// A flag file as flagd's documentation writes them: a boolean kill
/// switch, a 30/70 fractional rollout, targeting by role through a shared
/// evaluator, a version rule, a date rule, a disabled flag.
fn flag_file() -> Value {
    json!({
        "$schema": "https://flagd.dev/schema/v0/flags.json",
        "flags": {
            "enhancedSearch": {
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off",
                "targeting": {"fractional": [["on", 30], ["off", 70]]}
            },
            "newRecommendationEngine": {
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off",
                "targeting": {"if": [{"$ref": "staff"}, "on", null]}
            },
            "headline-color": {
                "state": "ENABLED",
                "variants": {"red": "#c00", "blue": "#00c", "green": "#0c0"},
                "defaultVariant": "red",
                "targeting": {"if": [
                    {"sem_ver": [{"var": "appVersion"}, ">=", "2.0.0"]}, "blue",
                    {"starts_with": [{"var": "email"}, "beta-"]}, "green",
                    null
                ]}
            },
            "summer-sale": {
                "state": "ENABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off",
                "targeting": {"if": [{">=": [{"var": "$flagd.timestamp"}, 1000]}, "on", "off"]}
            },
            "retired": {
                "state": "DISABLED",
                "variants": {"on": true, "off": false},
                "defaultVariant": "off"
            }
        },
        "$evaluators": {
            "staff": {"in": [{"var": "role"}, ["admin", "creator"]]}
        }
    })
}

async fn evaluate(host: &Host, key: &str, context: Value, token: Option<&str>) -> (u16, Value) {
    let mut request = client()
        .post(host.url(&format!("/ofrep/v1/evaluate/flags/{key}")))
        .json(&json!({ "context": context }));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let r = request.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// The bulk evaluation for `user-1`, conditional on `etag` when given.
async fn bulk(host: &Host, etag: Option<&str>) -> reqwest::Response {
    let mut request = client()
        .post(host.url("/ofrep/v1/evaluate/flags"))
        .json(&json!({"context": {"targetingKey": "user-1"}}));
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    request.send().await.unwrap()
}

async fn rollout(host: &Host, keys: &[String]) -> HashMap<String, bool> {
    futures_util::stream::iter(keys.iter().map(|k| async move {
        let (status, body) =
            evaluate(host, "enhancedSearch", json!({"targetingKey": k}), None).await;
        assert_eq!(status, 200, "{body:?}");
        assert_eq!(body["reason"], json!("TARGETING_MATCH"), "{body:?}");
        (k.clone(), body["value"].as_bool().unwrap())
    }))
    .buffer_unordered(16)
    .collect()
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_flagd_file_evaluates_over_ofrep_as_its_rules_say() {
    let run = unique();
    let dir = tempfile::tempdir().unwrap();
    let id = format!("fl{run}");
    let host = start(&id, &dir.path().join("a"));
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (creator, _) = api.user_with_role(&admin, "flagger", "creator", &run).await;

    // Only admins write flags; the file is checked as flagd would.
    let put = |token: String, body: Value| {
        let host = &host;
        async move {
            let r = client()
                .put(host.url("/api/v1/flags"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    assert_eq!(put(creator.clone(), flag_file()).await.0, 403);
    let mut broken = flag_file();
    broken["flags"]["enhancedSearch"]["defaultVariant"] = json!("maybe");
    let (status, body) = put(admin.clone(), broken).await;
    assert_eq!(status, 422, "{body:?}");
    assert!(
        body["detail"].as_str().unwrap().contains("enhancedSearch"),
        "{body:?}"
    );
    let (status, body) = put(admin.clone(), flag_file()).await;
    assert_eq!(status, 200, "{body:?}");

    // Rules.
    let (_, r) = evaluate(
        &host,
        "newRecommendationEngine",
        json!({"role": "consumer"}),
        None,
    )
    .await;
    assert_eq!(
        (r["value"].clone(), r["reason"].clone()),
        (json!(false), json!("DEFAULT")),
        "{r:?}"
    );
    let (_, r) = evaluate(
        &host,
        "newRecommendationEngine",
        json!({"targetingKey": "x"}),
        Some(&creator),
    )
    .await;
    assert_eq!(
        r["value"],
        json!(true),
        "a creator's verified role counts: {r:?}"
    );
    // A client cannot claim a role its token does not have.
    let (_, r) = evaluate(
        &host,
        "newRecommendationEngine",
        json!({"role": "admin"}),
        Some(&creator),
    )
    .await;
    assert_eq!(r["value"], json!(true));
    let (consumer, _) = api.user_with_role(&admin, "reader", "consumer", &run).await;
    let (_, r) = evaluate(
        &host,
        "newRecommendationEngine",
        json!({"role": "admin"}),
        Some(&consumer),
    )
    .await;
    assert_eq!(r["value"], json!(false), "the token's role wins: {r:?}");
    for (context, color, variant) in [
        (json!({"appVersion": "2.1.0"}), "#00c", "blue"),
        (
            json!({"appVersion": "1.9.9", "email": "beta-tester@example.com"}),
            "#0c0",
            "green",
        ),
        (json!({"appVersion": "1.0.0"}), "#c00", "red"),
    ] {
        let (status, r) = evaluate(&host, "headline-color", context.clone(), None).await;
        assert_eq!(status, 200);
        assert_eq!(
            (r["value"].as_str(), r["variant"].as_str()),
            (Some(color), Some(variant)),
            "{context}: {r:?}"
        );
    }
    let (_, r) = evaluate(&host, "summer-sale", json!({}), None).await;
    assert_eq!(r["value"], json!(true), "$flagd.timestamp is now: {r:?}");
    // Disabled: no value (the caller's default applies), as flagd answers.
    let (status, r) = evaluate(&host, "retired", json!({}), None).await;
    assert_eq!(
        (status, r["reason"].as_str()),
        (200, Some("DISABLED")),
        "{r:?}"
    );
    assert!(r.get("value").is_none(), "{r:?}");
    let (status, r) = evaluate(&host, "no-such-flag", json!({}), None).await;
    assert_eq!(
        (status, r["errorCode"].as_str()),
        (404, Some("FLAG_NOT_FOUND"))
    );
    let r = client()
        .post(host.url("/ofrep/v1/evaluate/flags/enhancedSearch"))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["errorCode"],
        json!("PARSE_ERROR")
    );

    // A 30 % rollout: 30 % ± 2 % of 10,000 subjects, the same on every ask.
    let subjects: Vec<String> = (0..10_000).map(|n| format!("user-{n}")).collect();
    let first = rollout(&host, &subjects).await;
    let on = first.values().filter(|v| **v).count();
    assert!((2800..=3200).contains(&on), "{on} of 10,000 are on");
    let again = rollout(&host, &subjects[..1000]).await;
    assert!(
        again.iter().all(|(k, v)| first[k] == *v),
        "assignments are stable"
    );

    // Bulk, with a validator.
    let all = bulk(&host, None).await;
    assert_eq!(all.status(), 200);
    let etag = all.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = all.json().await.unwrap();
    let listed: Vec<&str> = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"enhancedSearch") && listed.contains(&"headline-color"),
        "{listed:?}"
    );
    let enhanced = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["key"] == json!("enhancedSearch"))
        .unwrap();
    assert_eq!(enhanced["value"], json!(first["user-1"]));
    assert_eq!(bulk(&host, Some(&etag)).await.status(), 304);

    // A change applies to the next evaluation, and is an event.
    let r = client()
        .put(host.url("/api/v1/flags/enhancedSearch"))
        .bearer_auth(&admin)
        .json(&json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let (_, r) = evaluate(
        &host,
        "enhancedSearch",
        json!({"targetingKey": "user-3"}),
        None,
    )
    .await;
    assert_eq!(
        (r["value"].clone(), r["reason"].clone()),
        (json!(true), json!("STATIC")),
        "{r:?}"
    );
    folio_tests::services::events_about(&host, "enhancedSearch", &["folio.flags.FlagChanged"])
        .await;
    assert_eq!(
        bulk(&host, Some(&etag)).await.status(),
        200,
        "the change made a new validator"
    );

    // Another host with the same file assigns the same subjects alike.
    drop(host);
    let other = start(&format!("{id}b"), &dir.path().join("b"));
    let other_api = Api { host: &other };
    let (admin_b, _) = other_api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let r = client()
        .put(other.url("/api/v1/flags"))
        .bearer_auth(&admin_b)
        .json(&flag_file())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let there = rollout(&other, &subjects[..2000]).await;
    assert!(
        there.iter().all(|(k, v)| first[k] == *v),
        "assignments agree across hosts"
    );
}

/// Two hosts on one database and one Kafka, each with the users, content,
/// search, flags and analytics services: `enhancedSearch` and
/// `newRecommendationEngine` gate what search ranks by popularity, a change
/// made through one host applies on the other within a second, targeting
/// sees the caller's verified role, and the analytics service's popularity
/// route answers no outside caller.
#[tokio::test(flavor = "multi_thread")]
async fn flags_gate_search_features_on_every_host_within_a_second() {
    let b = backends();
    let id = format!("flgs{}", unique());
    let group = fresh_group(&id);
    let mut peers = flags_component(&id);
    peers.push_str(&analytics_component(
        &id,
        &[("popularity_readers", &format!("{id}-search"))],
        false,
    ));
    let peer_databases = [format!("{id}-flags"), format!("{id}-analytics")];
    let keys = cluster_auth_keys();
    let env_of = |host_id: &'static str| {
        let mut env: Vec<(&str, &str)> = keys
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        env.push(("FOLIO_HOST_ID", host_id));
        env
    };
    let exempt_loopback = "[rate_limits]\nexempt = [\"127.0.0.1\"]\n";
    let (one, _d1) = start_search_beside(
        &id,
        &group,
        Some(&b),
        &env_of("one"),
        true,
        exempt_loopback,
        &peers,
        &peer_databases,
    )
    .await;
    let (two, _d2) = start_search_beside(
        &id,
        &group,
        Some(&b),
        &env_of("two"),
        false,
        exempt_loopback,
        &peers,
        &peer_databases,
    )
    .await;
    let (api1, api2) = (Api { host: &one }, Api { host: &two });
    let (admin, _) = api1
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (creator, _) = api1.user_with_role(&admin, "gina", "creator", &id).await;

    // Two articles alike but for one word, and one that shares their tag.
    let mut items = Vec::new();
    for (title, tags) in [
        ("Okapi field notes north", ["okapi"]),
        ("Okapi field notes south", ["okapi"]),
        ("Forest giraffes", ["okapi"]),
    ] {
        let r = api1
            .post(
                "/api/v1/content",
                Some(&creator),
                json!({"title": title, "type": "article", "tags": tags,
                       "body": "<p>The okapi lives in the Ituri rainforest.</p>"}),
            )
            .await;
        assert_eq!(r.status, 201, "{:?}", r.body);
        let item = r.body["id"].as_str().unwrap().to_string();
        for to in ["review", "published"] {
            let r = api1
                .post(
                    &format!("/api/v1/content/{item}/transitions"),
                    Some(&admin),
                    json!({"to": to}),
                )
                .await;
            assert_eq!(r.status, 200, "{:?}", r.body);
        }
        items.push(item);
    }
    let base = items[2].clone();
    let search = "/api/v1/search?q=okapi%20field";
    let related = format!("/api/v1/search/related/{base}");
    let order = |r: &Reply| -> Vec<String> {
        r.body["items"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|i| i["id"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    let until = |api: &'static str, path: String, token: Option<String>, wanted: usize| {
        let host = if api == "one" { &one } else { &two };
        async move {
            let api = Api { host };
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let r = api.get(&path, token.as_deref()).await;
                if r.status == 200 && r.body["items"].as_array().map_or(0, Vec::len) == wanted {
                    return r;
                }
                assert!(Instant::now() < deadline, "{path}: {:?}", r.body);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    // Both hosts' replicas of the index hold the articles.
    for host in ["one", "two"] {
        until(host, search.to_string(), None, 2).await;
        until(host, related.clone(), None, 2).await;
    }
    let plain_search = order(&api2.get(search, None).await);
    let plain_related = order(&api2.get(&related, None).await);

    // Popularity the index does not know: clicks on the second search
    // result, pageviews of the second related item.
    let (clicked, viewed) = (plain_search[1].clone(), plain_related[1].clone());
    for _ in 0..3 {
        let r = api1
            .post(
                "/api/v1/search/clicks",
                None,
                json!({"query": "okapi field", "contentId": clicked, "position": 2}),
            )
            .await;
        assert_eq!(r.status, 204, "{:?}", r.body);
    }
    let pageviews: Vec<Value> = (0..5)
        .map(|_| json!({"name": "pageview", "url": "https://site.folio.test/okapi", "contentId": viewed}))
        .collect();
    let r = client()
        .post(one.url("/api/v1/analytics/events"))
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
        )
        .header("content-type", "text/plain")
        .body(json!({ "events": pageviews }).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api1
            .get(
                &format!("/api/v1/analytics/reports/content/{viewed}"),
                Some(&admin),
            )
            .await;
        if r.body["totals"]["pageviews"] == json!(5) {
            break;
        }
        assert!(Instant::now() < deadline, "rollups: {:?}", r.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Flags off (no flags at all): the index's order stands.
    assert_eq!(order(&api2.get(search, None).await), plain_search);
    assert_eq!(order(&api2.get(&related, None).await), plain_related);

    // Turned on through host one; host two ranks by popularity within 1 s.
    let put = |key: &'static str, definition: Value| {
        let admin = admin.clone();
        let api1 = &api1;
        async move {
            let r = api1
                .call(
                    "PUT",
                    &format!("/api/v1/flags/{key}"),
                    Some(&admin),
                    Some(definition),
                )
                .await;
            assert!([200, 201].contains(&r.status), "{key}: {:?}", r.body);
            Instant::now()
        }
    };
    let on =
        json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"});
    let flipped = |plain: &[String]| vec![plain[1].clone(), plain[0].clone()];
    let changed_at = put("enhancedSearch", on.clone()).await;
    loop {
        if order(&api2.get(search, None).await) == flipped(&plain_search) {
            break;
        }
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "enhancedSearch did not reach the other host within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        order(&api2.get(&related, None).await),
        plain_related,
        "related items have their own flag"
    );
    let changed_at = put("newRecommendationEngine", on.clone()).await;
    loop {
        if order(&api2.get(&related, None).await) == flipped(&plain_related) {
            break;
        }
        assert!(
            changed_at.elapsed() < Duration::from_secs(1),
            "newRecommendationEngine did not reach the other host within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Targeting by role sees the caller's verified token, not a claim.
    put(
        "enhancedSearch",
        json!({"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "off",
               "targeting": {"if": [{"==": [{"var": "role"}, "admin"]}, "on", "off"]}}),
    )
    .await;
    assert_eq!(order(&api2.get(search, None).await), plain_search);
    assert_eq!(order(&api2.get(search, Some(&creator)).await), plain_search);
    assert_eq!(
        order(&api2.get(search, Some(&admin)).await),
        flipped(&plain_search)
    );

    // Items' traffic is for the search service only: not for outside
    // callers, admins included, nor for a forged caller header.
    let popularity = format!("/api/v1/analytics/popularity?ids={viewed}");
    for token in [None, Some(admin.as_str())] {
        let r = api1.get(&popularity, token).await;
        assert_eq!(r.status, 404, "{:?}", r.body);
    }
    let r = client()
        .get(one.url(&popularity))
        .header("folio-calling-component", format!("{id}-search"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
