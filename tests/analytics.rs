//! The analytics service, black-box: events in through the public API,
//! rollups and reports out with exact counts, the Parquet warehouse read
//! back with DuckDB, the visitor hash rotating with its salt, Do Not Track,
//! bots, bad input, floods, other people's reports, and an A/B experiment
//! checked against a textbook computation.

use std::path::Path;
use std::time::{Duration, Instant};

use folio_tests::analytics::{start, start_on};
use folio_tests::services::{Api, Backends, backends, unique};
use folio_tests::{BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, client, repo_root};
use futures_util::StreamExt;
use serde_json::{Value, json};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36";

fn browser(n: u32) -> String {
    format!("{BROWSER} reader/{n}")
}

async fn track(
    host: &Host,
    user_agent: &str,
    extra_headers: &[(&str, &str)],
    token: Option<&str>,
    events: Value,
) -> (u16, Value) {
    let mut request = client()
        .post(host.url("/api/v1/analytics/events"))
        .header("user-agent", user_agent)
        .header("content-type", "text/plain")
        .body(json!({ "events": events }).to_string());
    for (name, value) in extra_headers {
        request = request.header(*name, *value);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

fn field(body: &Value) -> Value {
    body["errors"][0]["field"].clone()
}

/// Polls `path` until `done` holds for its JSON, or fails after 30 s with the last answer.
async fn wait_for(api: &Api<'_>, path: &str, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api.get(path, Some(token)).await;
        assert_eq!(r.status, 200, "{path}: {:?}", r.body);
        if done(&r.body) {
            return r.body;
        }
        assert!(
            Instant::now() < deadline,
            "{path} never got there: {:#}",
            r.body
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn python() -> String {
    std::env::var("FOLIO_TEST_PYTHON")
        .expect("FOLIO_TEST_PYTHON is set: run `bash infra/pytools.sh` (infra/test.sh does)")
}

fn duckdb_counts(events_dir: &Path) -> Value {
    let copies = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(python())
        .arg(repo_root().join("tests/support/warehouse_counts.py"))
        .arg(events_dir)
        .arg(copies.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn events_in_rollups_and_reports_out_with_exact_counts() {
    rollups_flow(&format!("an{}", unique()), None).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_in_rollups_and_reports_out_on_postgres() {
    let b = backends();
    let id = format!("anpg{}", unique());
    let components: Vec<String> = ["", "-events", "-content", "-analytics"]
        .iter()
        .map(|suffix| format!("{id}{suffix}"))
        .collect();
    b.reset(&components).await;
    rollups_flow(&id, Some(&b)).await;
}

async fn rollups_flow(id: &str, backends: Option<&Backends>) {
    let id = id.to_string();
    let run = unique();
    let data = tempfile::tempdir().unwrap();
    let host = start_on(
        &id,
        data.path(),
        &[("warehouse_flush", "1s")],
        false,
        backends,
    );
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let (cora, _) = api.user_with_role(&admin, "cora", "creator", &run).await;
    let (dan, _) = api.user_with_role(&admin, "dan", "creator", &run).await;
    let (reader, _) = api.user_with_role(&admin, "rhea", "consumer", &run).await;
    let item = api
        .post(
            "/api/v1/content",
            Some(&cora),
            json!({"title": "Counting readers", "body": "<p>Hello</p>", "type": "article"}),
        )
        .await;
    assert_eq!(item.status, 201, "{:?}", item.body);
    let item_id = item.body["id"].as_str().unwrap().to_string();
    let site = "https://news.folio.test";

    // The tracking script: small, cookie-free, honouring DNT and GPC, beacons.
    let script = client().get(host.url("/a.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    let source = script.text().await.unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut gz, source.as_bytes()).unwrap();
    let gzipped = gz.finish().unwrap().len();
    assert!(gzipped <= 1536, "a.js is {gzipped} bytes gzipped");
    for needle in ["sendBeacon", "doNotTrack", "globalPrivacyControl"] {
        assert!(source.contains(needle), "a.js lacks {needle}");
    }
    assert!(!source.contains("cookie") && !source.contains("localStorage"));

    // Bad input: refused whole and named, never counted.
    let too_many: Vec<Value> = (0..101)
        .map(|_| json!({"name": "pageview", "url": format!("{site}/")}))
        .collect();
    let huge_props: serde_json::Map<String, Value> = (0..40)
        .map(|i| (format!("p{i}"), json!("x".repeat(200))))
        .collect();
    for (events, expected) in [
        (json!(too_many), "events"),
        (json!([]), "events"),
        (
            json!([{"name": "pageview", "url": format!("{site}/"), "timestamp": "2099-01-01T00:00:00Z"}]),
            "events[0].timestamp",
        ),
        (
            json!([{"name": "pageview", "url": format!("{site}/")}, {"name": "my custom event!", "url": format!("{site}/")}]),
            "events[1].name",
        ),
        (
            json!([{"name": "newsletter_signup", "url": format!("{site}/"), "props": huge_props}]),
            "events[0].props",
        ),
        (
            json!([{"name": "pageview", "url": "javascript:alert(1)"}]),
            "events[0].url",
        ),
        (
            json!([{"name": "read", "url": format!("{site}/"), "contentId": item_id, "props": {"seconds": -4, "depth": 50}}]),
            "events[0].props.seconds",
        ),
        (
            json!([{"name": "pageview", "url": format!("{site}/"), "contentId": "../../etc/passwd"}]),
            "events[0].contentId",
        ),
    ] {
        let (status, body) = track(&host, &browser(9), &[], None, events).await;
        assert_eq!((status, field(&body)), (422, json!(expected)), "{body}");
    }
    let (status, _) = track(&host, &browser(9), &[], None, json!({"not": "a list"})).await;
    assert_eq!(status, 422);

    // Do Not Track, Global Privacy Control and bots: nothing recorded.
    let pageview = json!([{"name": "pageview", "url": format!("{site}/private")}]);
    for headers in [[("dnt", "1")], [("sec-gpc", "1")]] {
        let (status, body) = track(&host, &browser(7), &headers, None, pageview.clone()).await;
        assert_eq!(
            (status, body["accepted"].clone()),
            (202, json!(0)),
            "{body}"
        );
    }
    for bot in [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "",
    ] {
        let (status, body) = track(&host, bot, &[], None, pageview.clone()).await;
        assert_eq!(
            (status, body["dropped"].clone()),
            (202, json!("bot")),
            "{body}"
        );
    }

    // Three readers. A: three pages (one with a malformed UTM value, dropped
    // and counted); B: one page and a read (a bounce); C: one page and a
    // custom event (a bounce); the signed-in reader: one page.
    let (status, body) = track(&host, &browser(1), &[], None, json!([
        {"name": "pageview", "url": format!("{site}/posts/counting?utm_source=newsletter&utm_medium=email"), "referrer": "https://www.news.example/today", "contentId": item_id},
        {"name": "pageview", "url": format!("{site}/about")},
        {"name": "pageview", "url": format!("{site}/pricing?utm_campaign=%00%01spam")},
    ])).await;
    assert_eq!(
        (
            status,
            body["accepted"].clone(),
            body["discarded"]["utm"].clone()
        ),
        (202, json!(3), json!(1)),
        "{body}"
    );
    let (status, _) = track(&host, &browser(2), &[], None, json!([
        {"name": "pageview", "url": format!("{site}/posts/counting"), "contentId": item_id},
        {"name": "read", "url": format!("{site}/posts/counting"), "contentId": item_id, "props": {"seconds": 30, "depth": 80}},
    ])).await;
    assert_eq!(status, 202);
    let (status, _) = track(&host, &browser(3), &[], None, json!([
        {"name": "pageview", "url": format!("{site}/"), "referrer": "https://www.google.com/search?q=folio"},
        {"name": "cta_click", "url": format!("{site}/"), "props": {"button": "subscribe", "position": 2}},
    ])).await;
    assert_eq!(status, 202);
    let (status, _) = track(
        &host,
        &browser(4),
        &[],
        Some(&reader),
        json!([
            {"name": "pageview", "url": format!("{site}/")},
        ]),
    )
    .await;
    assert_eq!(status, 202);

    let overview = wait_for(&api, "/api/v1/analytics/reports/overview", &admin, |b| {
        b["totals"]["pageviews"] == json!(6) && b["totals"]["reads"] == json!(1)
    })
    .await;
    let totals = &overview["totals"];
    assert_eq!(totals["visitors"], json!(4), "{overview:#}");
    assert_eq!(totals["visits"], json!(4));
    assert_eq!(totals["averageReadSeconds"], json!(30.0));
    // B, C and the signed-in reader saw one page each; A saw three.
    assert_eq!(totals["bounceRate"], json!(0.75));
    assert_eq!(overview["series"].as_array().unwrap().len(), 7);
    let today = overview["series"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(today["pageviews"], json!(6));

    let referrers = api
        .get("/api/v1/analytics/reports/referrers", Some(&admin))
        .await;
    let visits: Vec<(String, i64)> = referrers.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["value"].as_str().unwrap().to_string(),
                i["visits"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        visits,
        vec![
            ("(direct)".to_string(), 2),
            ("google.com".into(), 1),
            ("news.example".into(), 1)
        ],
        "{:#}",
        referrers.body
    );
    let sources = api
        .get(
            "/api/v1/analytics/reports/breakdown?dimension=utm_source",
            Some(&admin),
        )
        .await;
    assert_eq!(sources.body["items"][0]["value"], json!("newsletter"));
    assert_eq!(sources.body["items"][0]["pageviews"], json!(1));
    let campaigns = api
        .get(
            "/api/v1/analytics/reports/breakdown?dimension=utm_campaign",
            Some(&admin),
        )
        .await;
    assert_eq!(
        campaigns.body["items"],
        json!([]),
        "the malformed campaign was dropped"
    );
    let custom = api
        .get(
            "/api/v1/analytics/reports/breakdown?dimension=event&sort=events&limit=50",
            Some(&admin),
        )
        .await;
    let event_count = |name: &str| {
        custom.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["value"] == json!(name))
            .map_or(0, |i| i["events"].as_i64().unwrap())
    };
    assert_eq!(
        (
            event_count("pageview"),
            event_count("read"),
            event_count("cta_click")
        ),
        (6, 1, 1)
    );

    let top = api
        .get("/api/v1/analytics/reports/top-content", Some(&admin))
        .await;
    assert_eq!(
        top.body["items"][0]["value"],
        json!(item_id),
        "{:#}",
        top.body
    );
    assert_eq!(top.body["items"][0]["pageviews"], json!(2));
    assert_eq!(top.body["items"][0]["title"], json!("Counting readers"));
    let per_item = format!("/api/v1/analytics/reports/content/{item_id}");
    let detail = api.get(&per_item, Some(&admin)).await;
    let t = &detail.body["totals"];
    assert_eq!(
        (
            t["pageviews"].clone(),
            t["reads"].clone(),
            t["averageReadDepth"].clone()
        ),
        (json!(2), json!(1), json!(80.0)),
        "{:#}",
        detail.body
    );
    assert_eq!(t["readDepth"], json!({"25": 1, "50": 1, "75": 1, "100": 0}));

    // CSV export, with formula cells defused.
    let csv = client()
        .get(host.url("/api/v1/analytics/reports/overview?interval=day"))
        .bearer_auth(&admin)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("at,visitors,visits,pageviews,events,reads,averageReadSeconds,bounceRate")
    );
    assert!(csv.lines().last().unwrap().contains(",4,4,6,"), "{csv}");

    // Funnels: sessions that saw the item and then read it.
    let funnel = api
        .get(
            "/api/v1/analytics/reports/funnel?steps=pageview:/posts/counting,read",
            Some(&admin),
        )
        .await;
    let sessions: Vec<i64> = funnel.body["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["sessions"].as_i64().unwrap())
        .collect();
    assert_eq!(sessions, vec![2, 1], "{:#}", funnel.body);
    assert_eq!(funnel.body["steps"][1]["fromPrevious"], json!(0.5));

    // Retention: the signed-in reader (and every sign-up) is in this week's cohort.
    let retention = wait_for(&api, "/api/v1/analytics/reports/retention", &admin, |b| {
        b["cohorts"].as_array().unwrap().last().unwrap()["users"]
            .as_i64()
            .unwrap()
            >= 3
    })
    .await;
    let this_week = retention["cohorts"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(
        this_week["weeks"],
        json!([this_week["users"]]),
        "{retention:#}"
    );

    // Who may read what: admins everything, creators their own items only.
    assert_eq!(api.get(&per_item, Some(&cora)).await.status, 200);
    assert_eq!(api.get(&per_item, Some(&dan)).await.status, 404);
    assert_eq!(api.get(&per_item, Some(&reader)).await.status, 404);
    let dans_top = api
        .get("/api/v1/analytics/reports/top-content", Some(&dan))
        .await;
    assert_eq!(dans_top.body["items"], json!([]));
    let coras_top = api
        .get("/api/v1/analytics/reports/top-content", Some(&cora))
        .await;
    assert_eq!(coras_top.body["items"][0]["value"], json!(item_id));
    for path in [
        "overview",
        "referrers",
        "funnel?steps=a,b",
        "retention",
        "breakdown?dimension=page",
    ] {
        let path = format!("/api/v1/analytics/reports/{path}");
        assert_eq!(api.get(&path, Some(&cora)).await.status, 403, "{path}");
        assert_eq!(api.get(&path, Some(&reader)).await.status, 403, "{path}");
        assert_eq!(api.get(&path, None).await.status, 401, "{path}");
    }
    // Expensive ranges are refused before any work.
    for (path, expected) in [
        ("overview?interval=minute&from=2026-01-01", "from"),
        ("overview?interval=fortnight", "interval"),
        ("overview?from=yesterday", "from"),
        ("overview?interval=month&to=9999-12-31", "to"),
        ("breakdown?dimension=visitor", "dimension"),
        ("top-content?limit=100000", "limit"),
        ("funnel?steps=pageview", "steps"),
        ("overview?sql=1", "sql"),
    ] {
        let r = api
            .get(&format!("/api/v1/analytics/reports/{path}"), Some(&admin))
            .await;
        assert_eq!(
            (r.status, field(&r.body)),
            (422, json!(expected)),
            "{path}: {:?}",
            r.body
        );
    }

    // The warehouse: Parquet files per date, read by DuckDB, agree with the rollups.
    let events_dir = data
        .path()
        .join(format!("blobs/{id}-analytics/warehouse/objects/events"));
    let deadline = Instant::now() + Duration::from_secs(30);
    let (counts, overview) = loop {
        let overview = api
            .get("/api/v1/analytics/reports/overview", Some(&admin))
            .await
            .body;
        if events_dir.exists() && std::fs::read_dir(&events_dir).unwrap().next().is_some() {
            let counts = duckdb_counts(&events_dir);
            if counts["rows"] == overview["totals"]["events"] {
                break (counts, overview);
            }
        }
        if Instant::now() > deadline {
            let logs: Vec<String> = host
                .logs()
                .into_iter()
                .filter(|l| {
                    l.contains("analytics")
                        && (l.contains("cron") || l.contains("error") || l.contains("warn"))
                })
                .collect();
            panic!(
                "the warehouse never caught up: {overview:#}\n{}",
                logs.join("\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    assert_eq!(counts["byName"]["pageview"], json!(6), "{counts:#}");
    assert_eq!(counts["byName"]["read"], json!(1));
    assert_eq!(counts["byName"]["cta_click"], json!(1));
    assert_eq!(counts["visitors"], overview["totals"]["visitors"]);
    assert_eq!(
        (counts["readSeconds"].clone(), counts["readDepth"].clone()),
        (json!(30), json!(80))
    );
    let today = overview["series"].as_array().unwrap().last().unwrap()["at"]
        .as_str()
        .unwrap()[..10]
        .to_string();
    assert_eq!(counts["pageviewsByDate"][today], json!(6), "{counts:#}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_visitor_hash_rotates_with_its_salt_and_floods_are_refused() {
    let run = unique();
    let data = tempfile::tempdir().unwrap();
    let id = format!("ar{run}");
    let host = start(&id, data.path(), &[("salt_period", "3s")], true);
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let page = json!([{"name": "pageview", "url": "https://news.folio.test/"}]);
    // Two pageviews early in one salt period, one in the next: the same
    // browser is one visitor, then another.
    let period_start = || {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis();
        (now % 3000) < 500
    };
    while !period_start() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for _ in 0..2 {
        assert_eq!(track(&host, BROWSER, &[], None, page.clone()).await.0, 202);
    }
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(track(&host, BROWSER, &[], None, page.clone()).await.0, 202);
    let overview = wait_for(&api, "/api/v1/analytics/reports/overview", &admin, |b| {
        b["totals"]["pageviews"] == json!(3)
    })
    .await;
    assert_eq!(overview["totals"]["visitors"], json!(2), "{overview:#}");
    assert_eq!(overview["totals"]["visits"], json!(2));
    assert_eq!(overview["totals"]["bounceRate"], json!(0.5));

    // A flood from one address is cut off (limit 40 a minute here).
    let statuses: Vec<u16> = futures_util::stream::iter(0..60)
        .map(|_| track(&host, BROWSER, &[], None, page.clone()))
        .buffer_unordered(8)
        .map(|(status, _)| status)
        .collect()
        .await;
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert!(refused >= 20, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 202 || *s == 429),
        "{statuses:?}"
    );
    let guesses: Vec<u16> = futures_util::stream::iter(0..60)
        .map(|i| {
            let url = host.url(&format!(
                "/api/v1/experiments/guess-{i}/assignment?subject=s{i}"
            ));
            async move { client().get(url).send().await.unwrap().status().as_u16() }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    assert!(
        guesses.iter().filter(|s| **s == 429).count() >= 20,
        "{guesses:?}"
    );
    assert!(
        guesses.iter().all(|s| *s == 404 || *s == 429),
        "{guesses:?}"
    );
}

/// A 64-bit mix (SplitMix64) for a generated data set that is the same on every run.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_experiment_reports_a_known_effect_within_its_interval() {
    let run = unique();
    let data = tempfile::tempdir().unwrap();
    let id = format!("ax{run}");
    let host = start(&id, data.path(), &[], false);
    let api = Api { host: &host };
    let (admin, _) = api
        .login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await;
    let experiment = json!({
        "key": "checkout-button",
        "name": "Green checkout button",
        "variants": [{"key": "control", "weight": 50}, {"key": "green", "weight": 50}],
        "goal": "purchase",
    });
    for (patch, expected) in [
        (
            json!({"variants": [{"key": "only", "weight": 1}]}),
            "variants",
        ),
        (
            json!({"variants": [{"key": "a", "weight": 0}, {"key": "b", "weight": 1}]}),
            "variants[0].weight",
        ),
        (json!({"goal": "buy now!"}), "goal"),
        (json!({"key": "../x"}), "key"),
        (json!({"targeting": {"roles": ["root"]}}), "targeting.roles"),
    ] {
        let mut bad = experiment.clone();
        for (k, v) in patch.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let r = api.post("/api/v1/experiments", Some(&admin), bad).await;
        assert_eq!(
            (r.status, field(&r.body)),
            (422, json!(expected)),
            "{:?}",
            r.body
        );
    }
    let created = api
        .post("/api/v1/experiments", Some(&admin), experiment.clone())
        .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        api.post("/api/v1/experiments", Some(&admin), experiment)
            .await
            .status,
        409
    );

    // 4,000 subjects: conversion 10% in control, 14% with the green button.
    const SUBJECTS: u64 = 4000;
    let assigned: Vec<(String, String)> = futures_util::stream::iter(0..SUBJECTS)
        .map(|i| {
            let url = host.url(&format!(
                "/api/v1/experiments/checkout-button/assignment?subject=visitor-{i}"
            ));
            async move {
                let body: Value = client()
                    .get(url)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(body["exposed"], json!(true), "{body}");
                (
                    format!("visitor-{i}"),
                    body["variant"].as_str().unwrap().to_string(),
                )
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    // Assignment is deterministic: asking again (without exposing) gives the same variant.
    for (subject, variant) in assigned.iter().take(50) {
        let r = api
            .get(
                &format!(
                    "/api/v1/experiments/checkout-button/assignment?subject={subject}&expose=false"
                ),
                None,
            )
            .await;
        assert_eq!(
            (
                r.body["variant"].as_str().unwrap(),
                r.body["exposed"].clone()
            ),
            (variant.as_str(), json!(false))
        );
    }
    let mut counts = std::collections::HashMap::<&str, (u64, u64)>::new();
    let mut purchases = Vec::new();
    for (subject, variant) in &assigned {
        let n: u64 = subject.trim_start_matches("visitor-").parse().unwrap();
        let rate = if variant == "green" { 0.14 } else { 0.10 };
        let converts = ((mix(n) >> 11) as f64 / (1u64 << 53) as f64) < rate;
        let slot = counts.entry(variant.as_str()).or_default();
        slot.1 += 1;
        if converts {
            slot.0 += 1;
            purchases.push(json!({"name": "purchase", "url": "https://shop.folio.test/thanks", "subject": subject}));
        }
    }
    // Goal events from subjects never exposed do not count.
    purchases.push(json!({"name": "purchase", "url": "https://shop.folio.test/thanks", "subject": "never-assigned"}));
    for (n, batch) in purchases.chunks(100).enumerate() {
        let (status, body) = track(&host, &browser(n as u32), &[], None, json!(batch)).await;
        assert_eq!(status, 202, "{body}");
    }
    let total_conversions = counts.values().map(|c| c.0).sum::<u64>();
    let results = wait_for(
        &api,
        "/api/v1/experiments/checkout-button/results",
        &admin,
        |b| {
            b["variants"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v["conversions"].as_u64().unwrap())
                .sum::<u64>()
                == total_conversions
        },
    )
    .await;
    let variant = |key: &str| {
        results["variants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["key"] == json!(key))
            .unwrap()
            .clone()
    };
    let (control, green) = (variant("control"), variant("green"));
    for (key, v) in [("control", &control), ("green", &green)] {
        let (c, n) = counts[key];
        assert_eq!(
            (
                v["conversions"].as_u64().unwrap(),
                v["exposures"].as_u64().unwrap()
            ),
            (c, n),
            "{results:#}"
        );
    }
    let textbook = {
        let input = json!({"control": [counts["control"].0, counts["control"].1], "treatment": [counts["green"].0, counts["green"].1]});
        let mut child = std::process::Command::new(python())
            .arg(repo_root().join("tests/support/ab_textbook.py"))
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), input.to_string().as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let close = |a: &Value, b: &Value| (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9;
    assert!(
        close(&green["difference"], &textbook["difference"]),
        "{results:#} {textbook}"
    );
    assert!(
        close(&green["zScore"], &textbook["z"]),
        "{results:#} {textbook}"
    );
    assert!(
        close(&green["pValue"], &textbook["pValue"]),
        "{results:#} {textbook}"
    );
    assert!(close(&green["differenceInterval"]["low"], &textbook["low"]));
    assert!(close(
        &green["differenceInterval"]["high"],
        &textbook["high"]
    ));
    let (low, high) = (
        green["differenceInterval"]["low"].as_f64().unwrap(),
        green["differenceInterval"]["high"].as_f64().unwrap(),
    );
    assert!(
        low < 0.04 && 0.04 < high,
        "the true effect (+4 points) is inside [{low}, {high}]: {counts:?}"
    );
    assert_eq!(green["significant"], json!(true), "{results:#}");
    assert_eq!(
        results["sampleRatio"]["mismatch"],
        json!(false),
        "{results:#}"
    );

    // Sample-ratio mismatch: exposures recorded for the control only.
    let lopsided = json!({
        "key": "lopsided",
        "variants": [{"key": "control", "weight": 1}, {"key": "b", "weight": 1}],
        "goal": "purchase",
        "targeting": {"locales": ["fr"]},
    });
    assert_eq!(
        api.post("/api/v1/experiments", Some(&admin), lopsided)
            .await
            .status,
        201
    );
    let outside = api
        .get(
            "/api/v1/experiments/lopsided/assignment?subject=x&locale=en-GB",
            None,
        )
        .await;
    assert_eq!(
        (
            outside.body["variant"].clone(),
            outside.body["exposed"].clone()
        ),
        (Value::Null, json!(false))
    );
    for i in 0..400 {
        let base = format!("/api/v1/experiments/lopsided/assignment?subject=s{i}&locale=fr-CA");
        let peek = api.get(&format!("{base}&expose=false"), None).await;
        if peek.body["variant"] == json!("control") {
            assert_eq!(api.get(&base, None).await.body["exposed"], json!(true));
        }
    }
    let lopsided = api
        .get("/api/v1/experiments/lopsided/results", Some(&admin))
        .await;
    assert_eq!(
        lopsided.body["sampleRatio"]["mismatch"],
        json!(true),
        "{:#}",
        lopsided.body
    );
    assert_eq!(
        lopsided.body["warnings"][0]["code"],
        json!("sample-ratio-mismatch")
    );

    // Only admins read results or create experiments.
    let (creator, _) = api.user_with_role(&admin, "xena", "creator", &run).await;
    assert_eq!(
        api.get(
            "/api/v1/experiments/checkout-button/results",
            Some(&creator)
        )
        .await
        .status,
        403
    );
    assert_eq!(
        api.get("/api/v1/experiments/checkout-button/results", None)
            .await
            .status,
        401
    );
    let stopped = api
        .post(
            "/api/v1/experiments/checkout-button/stop",
            Some(&admin),
            json!({}),
        )
        .await;
    assert_eq!(stopped.body["status"], json!("stopped"));
    let after = api
        .get(
            "/api/v1/experiments/checkout-button/assignment?subject=visitor-1",
            None,
        )
        .await;
    assert_eq!(after.body["variant"], Value::Null);
}
