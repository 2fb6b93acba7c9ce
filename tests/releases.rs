//! Deploys without downtime in one host: a candidate release loaded beside
//! the live one, reached by testers with `folio-release: candidate`, given a
//! weighted share, promoted, rolled back; and the live manifest reloaded on
//! SIGHUP. Under a steady load of reads and of writes that publish events,
//! no request fails across any of it, every event is handled once, and the
//! cron trigger never runs a tick twice while background work moves between
//! releases. The control routes refuse anyone without the token, and a
//! release that does not load changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use folio_tests::{Host, HostOptions, events_manifest, fixture_rows, ticks_run_once, wasm};
use serde_json::{Value, json};

const TOKEN: &str = "release-manager-token-0123456789abcdef";

/// The events fixture (writes publishing events, a worker, a cron) and the
/// meta component, whose answer names the release by `platform_name`.
fn release_manifest(topic: &str, name: &str) -> String {
    format!(
        "{}\n[[trigger.cron]]\ncomponent = \"events\"\ncron_expression = \"*/1 * * * * *\"\n\n\
         [[trigger.http]]\nroute = \"/api/v1/meta\"\ncomponent = \"meta\"\n\n\
         [component.meta]\nsource = \"{}\"\nvariables = {{ platform_name = \"{name}\" }}\n",
        events_manifest(topic),
        wasm("folio_meta").display()
    )
}

fn start(manifest: &str, runtime_config: &str) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("runtime.toml");
    std::fs::write(&config, runtime_config).unwrap();
    let options = HostOptions {
        args: vec!["--runtime-config".into(), config.display().to_string()],
        ..Default::default()
    };
    (Host::start_with(manifest, options), dir)
}

struct Control<'a> {
    host: &'a Host,
    http: reqwest::Client,
}

impl Control<'_> {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, self.host.url(path))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The platform names of `n` reads, with `header` when given.
    async fn names(&self, n: usize, header: Option<&str>) -> BTreeMap<String, usize> {
        let mut seen = BTreeMap::new();
        for _ in 0..n {
            let mut request = self.http.get(self.host.url("/api/v1/meta"));
            if let Some(value) = header {
                request = request.header("folio-release", value);
            }
            let meta: Value = request.send().await.unwrap().json().await.unwrap();
            *seen
                .entry(meta["name"].as_str().unwrap().to_string())
                .or_insert(0) += 1;
        }
        seen
    }
}

fn only(name: &str, n: usize) -> BTreeMap<String, usize> {
    BTreeMap::from([(name.to_string(), n)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn switching_and_rolling_back_releases_under_load_fails_no_request() {
    let topic = format!("releases-{}", std::process::id());
    let (host, dir) = start(
        &release_manifest(&topic, "blue"),
        &format!("[releases]\nbearer_token = \"{TOKEN}\"\n"),
    );
    let green = dir.path().join("green.toml");
    std::fs::write(&green, release_manifest(&topic, "green")).unwrap();
    let control = Control {
        host: &host,
        http: reqwest::Client::new(),
    };

    // The load: readers and writers, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..4 {
        let (stop, topic, base) = (stop.clone(), topic.clone(), host.url(""));
        clients.push(tokio::spawn(async move {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let (mut acked, mut failures, mut reads) = (Vec::new(), Vec::new(), 0);
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let key = format!("c{c}-{i:05}");
                i += 1;
                let write = http
                    .post(format!("{base}/ev/write"))
                    .json(&json!({"keys": [key], "topic": topic}))
                    .send()
                    .await;
                match write {
                    Ok(r) if r.status() == 200 => acked.push(key),
                    Ok(r) => failures.push(format!("write {key}: {}", r.status())),
                    Err(e) => failures.push(format!("write {key}: {e}")),
                }
                match http.get(format!("{base}/api/v1/meta")).send().await {
                    Ok(r) if r.status() == 200 => reads += 1,
                    Ok(r) => failures.push(format!("read: {}", r.status())),
                    Err(e) => failures.push(format!("read: {e}")),
                }
            }
            (acked, failures, reads)
        }));
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    // Nobody without the token gets in, whatever they try.
    let http = reqwest::Client::new();
    for (method, path) in [
        (reqwest::Method::GET, "/_folio/releases"),
        (reqwest::Method::POST, "/_folio/releases/promote"),
        (reqwest::Method::POST, "/_folio/releases/rollback"),
    ] {
        let bare = http
            .request(method.clone(), host.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(bare.status(), 401, "{method} {path} without a token");
        let guessed = http
            .request(method.clone(), host.url(path))
            .bearer_auth("release-manager-token-0123456789abcdeX")
            .send()
            .await
            .unwrap();
        assert_eq!(guessed.status(), 401, "{method} {path} with a wrong token");
    }
    let (status, state) = control
        .call(reqwest::Method::GET, "/_folio/releases", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(state["live"]["id"], 1, "{state}");
    assert!(state["candidate"].is_null(), "{state}");

    // Blue-green: the candidate loads beside the live release and serves
    // only the requests that ask for it.
    let (status, state) = control
        .call(
            reqwest::Method::POST,
            "/_folio/releases",
            Some(json!({"manifest": green.display().to_string()})),
        )
        .await;
    assert_eq!(status, 201, "{state}");
    assert_eq!(state["candidate"]["id"], 2, "{state}");
    assert_eq!(state["candidate"]["weight"], 0, "{state}");
    assert_eq!(control.names(20, None).await, only("blue", 20));
    assert_eq!(
        control.names(20, Some("candidate")).await,
        only("green", 20)
    );
    assert_eq!(control.names(5, Some("2")).await, only("green", 5));
    assert_eq!(control.names(5, Some("live")).await, only("blue", 5));

    // Canary: half the requests.
    let (status, state) = control
        .call(
            reqwest::Method::PUT,
            "/_folio/releases/candidate/weight",
            Some(json!({"weight": 50})),
        )
        .await;
    assert_eq!(status, 200, "{state}");
    let split = control.names(200, None).await;
    let green_share = split.get("green").copied().unwrap_or(0);
    assert!(
        (60..=140).contains(&green_share),
        "50% canary served {split:?}"
    );

    // Promote, roll back, roll forward: each switch is immediate.
    let (status, state) = control
        .call(reqwest::Method::POST, "/_folio/releases/promote", None)
        .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(
        (
            state["live"]["id"].as_u64(),
            state["previous"]["id"].as_u64()
        ),
        (Some(2), Some(1)),
        "{state}"
    );
    assert!(state["candidate"].is_null(), "{state}");
    assert_eq!(control.names(20, None).await, only("green", 20));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (status, state) = control
        .call(reqwest::Method::POST, "/_folio/releases/rollback", None)
        .await;
    assert_eq!(status, 200, "{state}");
    assert_eq!(state["live"]["id"], 1, "{state}");
    assert_eq!(control.names(20, None).await, only("blue", 20));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // A release that does not load, or a request that makes no sense,
    // changes nothing.
    let broken = dir.path().join("broken.toml");
    std::fs::write(
        &broken,
        release_manifest(&topic, "broken").replace(
            &wasm("folio_meta").display().to_string(),
            &green.display().to_string(),
        ),
    )
    .unwrap();
    for (body, expected) in [
        (
            json!({"manifest": dir.path().join("absent.toml").display().to_string()}),
            422,
        ),
        (json!({"manifest": broken.display().to_string()}), 422),
        (json!({"manifest": 5}), 400),
        (json!({}), 400),
    ] {
        let (status, problem) = control
            .call(
                reqwest::Method::POST,
                "/_folio/releases",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, expected, "{body}: {problem}");
        if expected == 400 {
            assert!(
                problem["title"].as_str().unwrap().contains("manifest"),
                "{problem}"
            );
        }
    }
    let (status, problem) = control
        .call(
            reqwest::Method::PUT,
            "/_folio/releases/candidate/weight",
            Some(json!({"weight": 101})),
        )
        .await;
    assert_eq!(status, 400, "{problem}");
    assert!(problem["title"].as_str().unwrap().contains("weight"));
    let (status, _) = control
        .call(
            reqwest::Method::PUT,
            "/_folio/releases/candidate/weight",
            Some(json!({"weight": 10})),
        )
        .await;
    assert_eq!(status, 409, "a weight without a candidate");
    assert_eq!(control.names(10, None).await, only("blue", 10));

    // SIGHUP reloads the live manifest; a manifest that does not parse
    // leaves the live release serving.
    std::fs::write(host.manifest_path(), release_manifest(&topic, "indigo")).unwrap();
    host.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while control.names(1, None).await != only("indigo", 1) {
        assert!(Instant::now() < deadline, "SIGHUP did not switch");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    std::fs::write(host.manifest_path(), "spin_manifest_version = 2\n[oops").unwrap();
    host.signal("HUP");
    host.wait_for_log(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("reload refused"))
    });
    assert_eq!(control.names(10, None).await, only("indigo", 10));
    tokio::time::sleep(Duration::from_secs(2)).await;

    stop.store(true, Ordering::Relaxed);
    let (mut acked, mut failures, mut reads) = (Vec::new(), Vec::new(), 0);
    for client in clients {
        let (a, f, r) = client.await.unwrap();
        acked.extend(a);
        failures.extend(f);
        reads += r;
    }
    assert!(
        failures.is_empty(),
        "{} of {} requests failed across the switches: {:?}",
        failures.len(),
        acked.len() + reads + failures.len(),
        &failures[..failures.len().min(5)]
    );
    assert!(acked.len() > 100, "only {} writes", acked.len());

    // Every write's event handled exactly once, whichever release was live.
    let acked: BTreeSet<String> = acked.into_iter().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let received = fixture_rows(&host, "/ev/received").await;
        let mut by_key: BTreeMap<String, usize> = BTreeMap::new();
        for r in &received {
            *by_key.entry(r[3].as_str().unwrap().into()).or_default() += 1;
        }
        if let Some((key, n)) = by_key.iter().find(|(_, n)| **n > 1) {
            panic!("event of {key} handled {n} times");
        }
        let have: BTreeSet<String> = by_key.into_keys().collect();
        if acked.is_subset(&have) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} events never handled",
            acked.difference(&have).count(),
            acked.len()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let ticks = ticks_run_once(&host).await;
    assert!(ticks.len() >= 5, "only {} cron ticks", ticks.len());
    eprintln!(
        "{} writes and {reads} reads across a promotion, a rollback, a SIGHUP reload and a refused one, 0 failed; \
         every event handled once; {} cron ticks, none twice",
        acked.len(),
        ticks.len()
    );
}

#[tokio::test]
async fn without_a_token_configured_there_are_no_release_routes() {
    let (host, _dir) = start(&release_manifest("releases-off", "blue"), "");
    for path in ["/_folio/releases", "/_folio/releases/promote"] {
        let response = reqwest::Client::new()
            .post(host.url(path))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
    }
}
