//! Time-triggered components (`[[trigger.cron]]`, Spin's cron trigger
//! plugin's manifest and interface): `components/fixture-events` records
//! every `handle-cron-event` call in its database, readable at `/ev/ticks`.

use std::path::Path;
use std::time::{Duration, Instant};

use folio_tests::{Host, HostOptions, build_fixtures, client, start_failure, wasm};
use serde_json::Value;

/// The events fixture under `/ev/...`, woken by `expression`; `extra` is
/// appended to its `[component.events]` table (e.g. `environment`).
fn cron_manifest(expression: &str, extra: &str) -> String {
    cron_manifest_named("events", expression, extra)
}

/// [`cron_manifest`] with the component named `component`.
fn cron_manifest_named(component: &str, expression: &str, extra: &str) -> String {
    build_fixtures();
    format!(
        r#"spin_manifest_version = 2
[application]
name = "cron-fixtures"

[[trigger.http]]
route = "/ev/..."
component = "{component}"

[[trigger.cron]]
component = "{component}"
cron_expression = "{expression}"

[component.{component}]
source = "{}"
sqlite_databases = ["default"]
{extra}
"#,
        wasm("folio_fixture_events").display()
    )
}

/// Cron runs that succeed log at debug (a frequent schedule would fill the
/// log otherwise); these tests read those lines, so they ask for them.
fn start(manifest: &str, data_dir: &Path) -> Host {
    Host::start_with(
        manifest,
        HostOptions {
            data_dir: Some(data_dir.to_path_buf()),
            env: vec![("FOLIO_LOG".into(), "info,folio::cron_trigger=debug".into())],
            ..Default::default()
        },
    )
}

/// Recorded calls as (fire time in Unix seconds, guest clock in Unix ms).
async fn ticks(host: &Host) -> Vec<(i64, i64)> {
    let response = client().get(host.url("/ev/ticks")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_i64().unwrap()))
        .collect()
}

async fn wait_ticks(host: &Host, at_least: usize, within: Duration) -> Vec<(i64, i64)> {
    let deadline = Instant::now() + within;
    loop {
        let got = ticks(host).await;
        if got.len() >= at_least {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{} ticks after {within:?}, wanted {at_least}; logs:\n{}",
            got.len(),
            host.logs().join("\n")
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metrics(host: &Host) -> String {
    client()
        .get(host.url("/_folio/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one counter line, 0 when absent.
fn counter(metrics: &str, series: &str) -> u64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0)
}

/// Three hosts sharing the component's database on Postgres (a cluster):
/// each fire time runs on exactly one of them, and the others count it as
/// claimed elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_runs_each_fire_time_once() {
    let backends = folio_tests::services::backends();
    let component = format!("cron{}", folio_tests::services::unique());
    backends.reset(std::slice::from_ref(&component)).await;
    let manifest = cron_manifest_named(&component, "*/1 * * * * *", "");
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let hosts: Vec<Host> = dirs
        .iter()
        .enumerate()
        .map(|(n, dir)| {
            let config = dir.path().join("runtime.toml");
            std::fs::write(&config, backends.postgres_config()).unwrap();
            Host::start_with(
                &manifest,
                HostOptions {
                    args: vec!["--runtime-config".into(), config.display().to_string()],
                    data_dir: Some(dir.path().join("data")),
                    env: vec![("FOLIO_HOST_ID".into(), format!("cron-host-{n}"))],
                },
            )
        })
        .collect();
    let got = wait_ticks(&hosts[0], 6, Duration::from_secs(20)).await;
    let mut stamps: Vec<i64> = got.iter().map(|t| t.0).collect();
    let runs = stamps.len();
    stamps.sort_unstable();
    stamps.dedup();
    assert_eq!(
        stamps.len(),
        runs,
        "a fire time ran more than once: {got:?}"
    );
    let mut elsewhere = 0;
    for host in &hosts {
        let text = metrics(host).await;
        elsewhere += counter(
            &text,
            &format!(
                "folio_cron_runs_total{{component=\"{component}\",outcome=\"claimed-elsewhere\"}}"
            ),
        );
    }
    // Every host is up for the last ticks at least: others saw them taken.
    assert!(
        elsewhere >= 3,
        "{elsewhere} claimed elsewhere for {runs} runs"
    );
}

#[tokio::test]
async fn an_every_second_schedule_calls_the_component_every_second() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(&cron_manifest("*/1 * * * * *", ""), dir.path());
    let got = wait_ticks(&host, 4, Duration::from_secs(10)).await;
    let stamps: Vec<i64> = got.iter().map(|t| t.0).collect();
    assert!(
        stamps.windows(2).all(|w| w[1] > w[0]),
        "fire times must increase: {stamps:?}"
    );
    let span = stamps.last().unwrap() - stamps[0];
    assert!(
        span <= 2 * (stamps.len() as i64 - 1),
        "about one call a second: {stamps:?}"
    );
    for (timestamp, at_ms) in &got {
        let late = at_ms - timestamp * 1000;
        assert!(
            (0..3000).contains(&late),
            "called {late} ms after its fire time: {got:?}"
        );
    }

    let line = host.wait_for_log(|v| v["message"] == "cron run handled");
    assert_eq!(line["data"]["component"], "events", "{line}");
    assert_eq!(line["data"]["outcome"], "ok", "{line}");
    assert_eq!(line["data"]["cronExpression"], "*/1 * * * * *", "{line}");
    assert_eq!(line["traceId"].as_str().map(str::len), Some(32), "{line}");
    assert!(line["requestId"].is_string(), "{line}");
    let text = metrics(&host).await;
    let ok = counter(
        &text,
        "folio_cron_runs_total{component=\"events\",outcome=\"ok\"}",
    );
    assert!(ok >= 4, "{text}");
}

#[tokio::test]
async fn runs_never_overlap_and_failures_are_logged_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    // Each run takes 2.2 s on an every-second schedule, then fails.
    let manifest = cron_manifest(
        "*/1 * * * * *",
        "environment = { FIXTURE_CRON_SLEEP_MS = \"2200\", FIXTURE_CRON_FAIL = \"1\" }",
    );
    let host = start(&manifest, dir.path());
    let got = wait_ticks(&host, 3, Duration::from_secs(12)).await;
    for pair in got.windows(2) {
        let gap = pair[1].1 - pair[0].1;
        assert!(
            gap >= 2200,
            "a run started {gap} ms after the last: {got:?}"
        );
        assert!(
            pair[1].0 - pair[0].0 >= 3,
            "the ticks during a run are skipped: {got:?}"
        );
    }

    let line = host.wait_for_log(|v| v["message"] == "cron run failed");
    assert_eq!(line["level"], "warn", "{line}");
    assert_eq!(line["data"]["outcome"], "error", "{line}");
    assert_eq!(line["data"]["error"], "scripted cron failure", "{line}");
    host.wait_for_log(|v| v["message"] == "cron ticks skipped: the previous run was still going");
    let text = metrics(&host).await;
    let series = |outcome: &str| {
        counter(
            &text,
            &format!("folio_cron_runs_total{{component=\"events\",outcome=\"{outcome}\"}}"),
        )
    };
    assert!(series("error") >= 2, "{text}");
    assert!(series("skipped") >= 2, "{text}");
    assert_eq!(series("ok"), 0, "{text}");
}

#[tokio::test]
async fn the_schedule_resumes_after_a_restart_and_sigterm_lets_the_run_finish() {
    let dir = tempfile::tempdir().unwrap();
    // A run takes 1.5 s, so SIGTERM right after a tick is recorded lands
    // inside a run.
    let manifest = cron_manifest(
        "*/1 * * * * *",
        "environment = { FIXTURE_CRON_SLEEP_MS = \"1500\" }",
    );
    let mut host = start(&manifest, dir.path());
    let before = wait_ticks(&host, 1, Duration::from_secs(10)).await;
    host.signal("TERM");
    assert_eq!(host.wait_exit(Duration::from_secs(15)), Some(0));
    let logs: Vec<Value> = host
        .logs()
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let stopping = logs
        .iter()
        .position(|v| {
            v["message"]
                .as_str()
                .unwrap_or("")
                .starts_with("shutting down")
        })
        .expect("a shutting-down line");
    assert!(
        logs[stopping..]
            .iter()
            .any(|v| v["message"] == "cron run handled" && v["data"]["outcome"] == "ok"),
        "the run in hand finishes after SIGTERM: {logs:#?}"
    );
    drop(host);

    let host = start(&manifest, dir.path());
    let last_before = before.iter().map(|t| t.0).max().unwrap();
    let after = wait_ticks(&host, before.len() + 2, Duration::from_secs(12)).await;
    assert!(
        after.starts_with(&before),
        "the component's ticks survive the restart: {before:?} then {after:?}"
    );
    assert!(
        after.iter().filter(|t| t.0 > last_before).count() >= 2,
        "ticks continue after the restart: {after:?}"
    );
}

fn single_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{stderr}");
    lines[0]
}

#[test]
fn a_component_without_the_cron_export_fails_start_up() {
    build_fixtures();
    // `folio_fixtures` exports only wasi:http/incoming-handler.
    let manifest = format!(
        "spin_manifest_version = 2\n[application]\nname = \"x\"\n\
         [[trigger.cron]]\ncomponent = \"plain\"\ncron_expression = \"0 * * * * *\"\n\
         [component.plain]\nsource = \"{}\"\n",
        wasm("folio_fixtures").display()
    );
    let (code, stderr) = start_failure(&manifest, &[]);
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.contains("spin.toml"), "{line}");
    assert!(line.contains("component `plain`"), "{line}");
    assert!(
        line.contains("a [[trigger.cron]] names it, but it does not export handle-cron-event"),
        "{line}"
    );
}

#[test]
fn a_bad_cron_expression_fails_start_up_naming_it() {
    // Five fields: the classic crontab form, without seconds.
    let manifest = cron_manifest("*/5 * * * *", "");
    let (code, stderr) = start_failure(&manifest, &[]);
    assert_ne!(code, 0);
    let line = single_line(&stderr);
    assert!(line.contains("spin.toml"), "{line}");
    assert!(
        line.contains("[[trigger.cron]] #1 (component `events`)"),
        "{line}"
    );
    assert!(line.contains("cron_expression `*/5 * * * *`"), "{line}");
    assert!(line.contains("5 fields"), "{line}");
}
