//! The feature flag service, black-box: a flagd flag file imported as is,
//! evaluated over the OpenFeature Remote Evaluation Protocol, rollouts
//! measured over 10,000 subjects, and the answers compared with the rules.

use std::collections::HashMap;

use folio_tests::services::{Api, unique};
use folio_tests::{
    BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, HostOptions, client,
    services_manifest_recording, wasm,
};
use futures_util::StreamExt;
use serde_json::{Value, json};

fn flags_component(id: &str) -> String {
    let component = format!("{id}-flags");
    let mut text = String::new();
    for route in [
        "/api/v1/flags",
        "/api/v1/flags/...",
        "/ofrep/...",
        "/api/v1/openapi/flags.json",
    ] {
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
        ));
    }
    text.push_str(&format!(
        r#"
[component.{component}]
source = "{}"
sqlite_databases = ["default"]
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
[component.{component}.tool.folio]
publishes = ["folio.flags"]
"#,
        wasm("folio_flags").display()
    ));
    text
}

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
