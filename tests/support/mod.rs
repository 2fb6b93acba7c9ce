//! Starts the real `folio` binary on a free loopback port, with a manifest
//! written for the test, and collects its JSON log lines.

pub mod analytics;
pub mod billing;
pub mod flags;
pub mod load;
pub mod media;
pub mod media_flows;
pub mod notifications;
pub mod publishing;
pub mod search;
pub mod services;
pub mod stripe;
pub mod wrk;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

pub use reqwest;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `folio` binary built beside this test binary (`target/<profile>/folio`).
pub fn folio_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("FOLIO_BIN") {
        return bin.into();
    }
    // Test binaries live in `<profile>/deps/`, other binaries in `<profile>/`.
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap();
    let profile_dir = if dir.ends_with("deps") {
        dir.parent().unwrap()
    } else {
        dir
    };
    let bin = profile_dir.join("folio");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build -p folio, same profile)",
        bin.display()
    );
    bin
}

pub fn wasm(name: &str) -> PathBuf {
    repo_root().join(format!("target/wasm32-wasip2/release/{name}.wasm"))
}

/// Builds the fixture components once per test binary.
pub fn build_fixtures() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The admin component embeds the built web app.
        if !repo_root()
            .join("components/admin/web/dist/admin/index.html")
            .is_file()
        {
            let status = Command::new("bash")
                .arg("infra/admin-web.sh")
                .current_dir(repo_root())
                .stdout(std::process::Stdio::null())
                .status()
                .expect("bash runs");
            assert!(status.success(), "building the admin web app failed");
        }
        let status = Command::new("cargo")
            .args([
                "build",
                "--target",
                "wasm32-wasip2",
                "--release",
                "-p",
                "folio-admin",
                "-p",
                "folio-fixtures",
                "-p",
                "folio-fixture-unlinkable",
                "-p",
                "folio-meta",
                "-p",
                "folio-fixture-state",
                "-p",
                "folio-fixture-events",
                "-p",
                "folio-users",
                "-p",
                "folio-content",
                "-p",
                "folio-media",
                "-p",
                "folio-graphql",
                "-p",
                "folio-search",
                "-p",
                "folio-notifications",
                "-p",
                "folio-publishing",
                "-p",
                "folio-flags",
                "-p",
                "folio-analytics",
                "-p",
                "folio-billing",
                "-p",
                "folio-spin-shim",
                "-p",
                "folio-spin-events",
                "-p",
                "folio-spin-cron",
                "-p",
                "folio-spin-gateway",
                "--target-dir",
                "target",
            ])
            .current_dir(repo_root())
            .status()
            .expect("cargo runs");
        assert!(status.success(), "building fixture components failed");
    });
}

/// A manifest serving the fixture component under several routes.
/// `outbound` lists extra `allowed_outbound_hosts` for the `fixtures` component.
pub fn fixtures_manifest(outbound: &[String]) -> String {
    build_fixtures();
    let fixtures = wasm("folio_fixtures");
    let mut hosts = vec!["\"http://*.spin.internal\"".to_string()];
    hosts.extend(outbound.iter().map(|h| format!("\"{h}\"")));
    format!(
        r#"spin_manifest_version = 2
[application]
name = "fixtures"

[variables]
greeting = {{ default = "hello" }}

[[trigger.http]]
route = "/fx/..."
component = "fixtures"

[[trigger.http]]
route = "/fx/special"
component = "routes"

[[trigger.http]]
route = "/exact"
component = "routes"

[[trigger.http]]
route = "/items/:id"
component = "routes"

[[trigger.http]]
route = "/sealed/..."
component = "sealed"

[[trigger.http]]
route = {{ private = true }}
component = "internal"

[component.fixtures]
source = "{fixtures}"
allowed_outbound_hosts = [{hosts}]
variables = {{ message = "{{{{ greeting }}}}, world" }}

[component.routes]
source = "{fixtures}"

[component.sealed]
source = "{fixtures}"

[component.internal]
source = "{fixtures}"
"#,
        fixtures = fixtures.display(),
        hosts = hosts.join(", ")
    )
}

/// Grant keys that are Folio's own, so they go under `[component.NAME.tool.folio]`.
const FOLIO_GRANTS: &[&str] = &["blob_buckets", "publishes", "transcode", "max_concurrency"];

/// A manifest serving `components/fixture-state` once per entry of
/// `components`: (route prefix, component id, grant lines such as
/// `sqlite_databases = ["default"]` or `blob_buckets = ["media"]`; Folio's
/// own keys are put in the component's `tool.folio` table). Unless a grant
/// says otherwise, the fixture may publish to any topic.
pub fn fixture_state_manifest(components: &[(&str, &str, &str)]) -> String {
    build_fixtures();
    let source = wasm("folio_fixture_state");
    let mut manifest =
        "spin_manifest_version = 2\n[application]\nname = \"state-fixtures\"\n".to_string();
    for (prefix, id, grants) in components {
        let (folio, spin): (Vec<&str>, Vec<&str>) = grants.lines().partition(|line| {
            FOLIO_GRANTS
                .iter()
                .any(|key| line.trim_start().starts_with(key))
        });
        let mut folio = folio.join("\n");
        if !folio.contains("publishes") {
            folio.push_str("\npublishes = [\"*\"]");
        }
        manifest.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{prefix}/...\"\ncomponent = \"{id}\"\n\n[component.{id}]\nsource = \"{}\"\n{}\n[component.{id}.tool.folio]\n{folio}\n",
            source.display(),
            spin.join("\n"),
        ));
    }
    manifest
}

/// A manifest with the users service as component `id`, its routes as in
/// spin.toml, `admin@folio.test` as the bootstrap admin, and
/// `components/fixture-events` (as `{id}-events`, under `/ev/...`) recording
/// every event on `folio.users` in consumer group `group`.
pub fn users_manifest(id: &str, group: &str) -> String {
    services_manifest(id, group, false)
}

/// `users_manifest` plus, when `content`, the content service as
/// `{id}-content` (its routes as in spin.toml), its events recorded too.
pub fn services_manifest(id: &str, group: &str, content: bool) -> String {
    services_manifest_recording(id, group, content, &[])
}

/// `services_manifest`, the events fixture also recording `extra_topics`.
pub fn services_manifest_recording(
    id: &str,
    group: &str,
    content: bool,
    extra_topics: &[&str],
) -> String {
    build_fixtures();
    let mut topics = vec!["folio.users"];
    if content {
        topics.push("folio.content");
    }
    topics.extend_from_slice(extra_topics);
    let topics = format!("{topics:?}");
    let mut manifest = format!(
        r#"spin_manifest_version = 2
[application]
name = "users-tests"

[variables]
auth_signing_key = {{ required = true, secret = true }}
auth_public_keys = {{ required = true }}
auth_issuer = {{ default = "http://folio.test" }}
auth_audience = {{ default = "folio" }}
bootstrap_admin_email = {{ default = "{BOOTSTRAP_ADMIN_EMAIL}" }}
bootstrap_admin_password = {{ default = "{BOOTSTRAP_ADMIN_PASSWORD}" }}
login_max_failures = {{ default = "5" }}
login_max_failures_per_address = {{ default = "5" }}
mfa_max_failures = {{ default = "5" }}
reset_delivery_public_key = {{ default = "" }}

[[trigger.event]]
component = "{id}-events"
topics = {topics}
group = "{group}"

[[trigger.http]]
route = "/ev/..."
component = "{id}-events"

[component.{id}-events]
source = "{}"
sqlite_databases = ["default"]
[component.{id}-events.tool.folio]
publishes = ["*"]

[component.{id}]
source = "{}"
sqlite_databases = ["default"]
key_value_stores = ["default"]
[component.{id}.tool.folio]
publishes = ["folio.users"]
[component.{id}.variables]
"#,
        wasm("folio_fixture_events").display(),
        wasm("folio_users").display(),
    );
    for var in [
        "auth_signing_key",
        "auth_public_keys",
        "auth_issuer",
        "auth_audience",
        "bootstrap_admin_email",
        "bootstrap_admin_password",
        "login_max_failures",
        "login_max_failures_per_address",
        "mfa_max_failures",
        "reset_delivery_public_key",
    ] {
        manifest.push_str(&format!("{var} = \"{{{{ {var} }}}}\"\n"));
    }
    for route in [
        "/api/v1/auth/...",
        "/api/v1/users/...",
        "/api/v1/service-clients/...",
        "/.well-known/...",
        "/api/v1/openapi/users.json",
    ] {
        manifest.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n"
        ));
    }
    if content {
        manifest.push_str(&format!(
            "\n[component.{id}-content]\nsource = \"{}\"\nsqlite_databases = [\"default\"]\n\
             key_value_stores = [\"default\"]\n[component.{id}-content.tool.folio]\n\
             publishes = [\"folio.content\"]\n[component.{id}-content.variables]\n\
             index_readers = \"{id}-search,{id}-publishing,{id}-notifications\"\n",
            wasm("folio_content").display()
        ));
        for var in ["auth_public_keys", "auth_issuer", "auth_audience"] {
            manifest.push_str(&format!("{var} = \"{{{{ {var} }}}}\"\n"));
        }
        manifest.push_str(&format!(
            "\n[[trigger.cron]]\ncomponent = \"{id}-content\"\ncron_expression = \"* * * * * *\"\n"
        ));
        manifest.push_str(&format!(
            "\n[[trigger.event]]\ncomponent = \"{id}-content\"\ntopics = [\"folio.content\", \"folio.billing\"]\n\
             group = \"{group}-content-cache\"\n"
        ));
        for route in [
            "/api/v1/content/...",
            "/api/v1/categories/...",
            "/api/v1/tags",
            "/api/v1/openapi/content.json",
        ] {
            manifest.push_str(&format!(
                "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}-content\"\n"
            ));
        }
        manifest.push_str(&meta_openapi_component(
            &format!("{id}-meta"),
            "/api/v1/openapi.json",
            &[
                (id, "/api/v1/openapi/users.json"),
                (&format!("{id}-content"), "/api/v1/openapi/content.json"),
            ],
        ));
    }
    manifest
}

/// `services_manifest` with content, plus the media service as `{id}-media`
/// (see [`media::media_component`]) and the GraphQL component as
/// `{id}-graphql` (routes as in spin.toml, chaining to these three), and
/// `{id}-meta-all` merging all four OpenAPI documents at `/all/openapi.json`.
pub fn graphql_manifest(id: &str, group: &str) -> String {
    let mut manifest = services_manifest_recording(id, group, true, &["folio.media"]);
    manifest.push_str(&media::media_component(&format!("{id}-media"), group));
    manifest.push_str(&format!(
        r#"
[[trigger.http]]
route = "/api/v1/graphql"
component = "{id}-graphql"

[[trigger.http]]
route = "/api/v1/graphql/..."
component = "{id}-graphql"

[[trigger.http]]
route = "/api/v1/openapi/graphql.json"
component = "{id}-graphql"

[component.{id}-graphql]
source = "{}"
key_value_stores = ["default"]
allowed_outbound_hosts = ["http://{id}-content.spin.internal", "http://{id}-media.spin.internal", "http://{id}.spin.internal"]
[component.{id}-graphql.variables]
content_service = "{id}-content"
media_service = "{id}-media"
users_service = "{id}"
"#,
        wasm("folio_graphql").display()
    ));
    manifest.push_str(&meta_openapi_component(
        &format!("{id}-meta-all"),
        "/all/openapi.json",
        &[
            (id, "/api/v1/openapi/users.json"),
            (&format!("{id}-content"), "/api/v1/openapi/content.json"),
            (&format!("{id}-media"), "/api/v1/openapi/media.json"),
            (&format!("{id}-graphql"), "/api/v1/openapi/graphql.json"),
        ],
    ));
    manifest
}

/// The meta component as `id` at `route`, merging the OpenAPI documents of
/// `sources` (component id, path), as in spin.toml's `openapi_sources`.
pub fn meta_openapi_component(id: &str, route: &str, sources: &[(&str, &str)]) -> String {
    let list: Vec<String> = sources.iter().map(|(c, p)| format!("{c}:{p}")).collect();
    let hosts: Vec<String> = sources
        .iter()
        .map(|(c, _)| format!("\"http://{c}.spin.internal\""))
        .collect();
    format!(
        "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{id}\"\n\n[component.{id}]\n\
         source = \"{}\"\nallowed_outbound_hosts = [{}]\n\
         variables = {{ openapi_sources = \"{}\" }}\n",
        wasm("folio_meta").display(),
        hosts.join(", "),
        list.join(",")
    )
}

pub const BOOTSTRAP_ADMIN_EMAIL: &str = "admin@folio.test";
pub const BOOTSTRAP_ADMIN_PASSWORD: &str = "bootstrap admin passphrase 7";

/// A manifest with `components/fixture-events` under `/ev/...`, as a worker
/// of `topic` (3 tries, 20 ms first backoff) and of `topic.dlq`. Consumer
/// groups are named after the topic: a group a killed host left behind makes
/// a broker wait for that member before it admits a new one.
pub fn events_manifest(topic: &str) -> String {
    build_fixtures();
    format!(
        r#"spin_manifest_version = 2
[application]
name = "events-fixtures"

[[trigger.http]]
route = "/ev/..."
component = "events"

[[trigger.event]]
component = "events"
topics = ["{topic}"]
group = "{topic}-main"
max_attempts = 3
retry_backoff_ms = 20

[[trigger.event]]
component = "events"
topics = ["{topic}.dlq"]
group = "{topic}-dead-letters"

[component.events]
source = "{}"
sqlite_databases = ["default"]
[component.events.tool.folio]
publishes = ["{topic}", "{topic}.*"]
"#,
        wasm("folio_fixture_events").display()
    )
}

pub struct Host {
    child: Child,
    pub addr: String,
    logs: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

#[derive(Default)]
pub struct HostOptions {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// The host's data directory; by default one of its own, so hosts that
    /// run at the same time never share embedded state (the embedded event
    /// log takes one host per file).
    pub data_dir: Option<PathBuf>,
}

/// Every test host's `compiled/` is this one directory, so tests do not
/// compile the same components again (entries are written by rename).
fn share_compile_cache(data_dir: &Path) {
    let link = data_dir.join("compiled");
    if link.exists() {
        return;
    }
    let shared = repo_root().join("target/folio-test-data/compiled");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::create_dir_all(data_dir).unwrap();
    std::os::unix::fs::symlink(&shared, link).unwrap();
}

impl Host {
    pub fn start(manifest: &str) -> Host {
        Host::start_with(manifest, HostOptions::default())
    }

    pub fn start_with(manifest: &str, options: HostOptions) -> Host {
        let mut line: Vec<String> = [
            "up",
            "--manifest",
            "{manifest_dir}/spin.toml",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
            "{data_dir}",
        ]
        .map(String::from)
        .to_vec();
        line.extend(options.args);
        Host::start_command_line(manifest, &line, options.env, options.data_dir)
    }

    /// Runs `folio` with command line `line` (SpinKube's, say), the manifest
    /// written to `{manifest_dir}/spin.toml`; `{manifest_dir}` and
    /// `{data_dir}` in `line` and in `env`'s values are replaced.
    pub fn start_command_line(
        manifest: &str,
        line: &[String],
        env: Vec<(String, String)>,
        data_dir: Option<PathBuf>,
    ) -> Host {
        let dir = tempfile::tempdir().unwrap();
        let manifest_path = dir.path().join("spin.toml");
        std::fs::write(&manifest_path, manifest).unwrap();
        let data_dir = data_dir.unwrap_or_else(|| dir.path().join(".folio"));
        share_compile_cache(&data_dir);
        let fill = |a: &str| {
            a.replace("{manifest_dir}", &dir.path().display().to_string())
                .replace("{data_dir}", &data_dir.display().to_string())
        };
        let mut cmd = Command::new(folio_bin());
        cmd.args(line.iter().map(|a| fill(a)))
            .envs(env.iter().map(|(k, v)| (k.clone(), fill(v))))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("folio starts");
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        let sink = logs.clone();
        // `FOLIO_TEST_ECHO_LOGS=1` shows the host's log as it runs (with `--nocapture`).
        let echo = std::env::var_os("FOLIO_TEST_ECHO_LOGS").is_some();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if echo {
                    eprintln!("[folio] {line}");
                }
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && v["message"] == "serving"
                {
                    let _ = addr_tx.send(v["data"]["address"].as_str().unwrap().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let stderr = child.stderr.take().unwrap();
        let stderr_lines = Arc::new(Mutex::new(Vec::new()));
        let stderr_sink = stderr_lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[folio stderr] {line}");
                stderr_sink.lock().unwrap().push(line);
            }
        });
        let addr = match addr_rx.recv_timeout(Duration::from_secs(120)) {
            Ok(addr) => addr,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "folio did not start; logs:\n{}",
                    logs.lock().unwrap().join("\n")
                );
            }
        };
        Host {
            child,
            addr,
            logs,
            stderr: stderr_lines,
            _dir: dir,
        }
    }

    /// The manifest the host was started with (`{manifest_dir}/spin.toml`).
    pub fn manifest_path(&self) -> PathBuf {
        self._dir.path().join("spin.toml")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().unwrap().clone()
    }

    /// What the host wrote to stderr so far (guests' own `eprintln!` among it).
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for a log line satisfying `pred` (logs are written after the response).
    pub fn wait_for_log(&self, pred: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            for line in self.logs() {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line)
                    && pred(&v)
                {
                    return v;
                }
            }
            assert!(
                Instant::now() < deadline,
                "no matching log line in:\n{}",
                self.logs().join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident memory of the host process, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .unwrap()
            .trim()
            .trim_end_matches(" kB")
            .trim()
            .parse()
            .unwrap();
        kb * 1024
    }

    pub fn signal(&self, signal: &str) {
        send_signal(self.pid(), signal);
    }

    /// Waits for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("folio did not exit within {timeout:?}");
    }
}

impl Host {
    /// A process started some other way (a real Spin, say) that answers at
    /// `addr`; it is killed with the `Host`.
    pub fn adopt(child: Child, addr: String) -> Host {
        Host {
            child,
            addr,
            logs: Arc::default(),
            stderr: Arc::default(),
            _dir: tempfile::tempdir().unwrap(),
        }
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a host with its own data directory and, when given, a runtime
/// config file with `runtime_config` (TOML) as its contents.
pub fn start_with_runtime_config(
    manifest: &str,
    runtime_config: Option<&str>,
) -> (Host, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = Vec::new();
    if let Some(config) = runtime_config {
        let path = dir.path().join("runtime.toml");
        std::fs::write(&path, config).unwrap();
        args = vec!["--runtime-config".into(), path.display().to_string()];
    }
    let host = Host::start_with(
        manifest,
        HostOptions {
            args,
            data_dir: Some(dir.path().join("data")),
            ..Default::default()
        },
    );
    (host, dir)
}

/// Runs `folio up` expecting it to fail at start-up; returns (exit code, stderr).
pub fn start_failure(manifest: &str, env: &[(&str, &str)]) -> (i32, String) {
    run_to_failure(manifest, None, env)
}

/// Like [`start_failure`], with a runtime config file holding `runtime_config`.
pub fn start_failure_with_runtime_config(manifest: &str, runtime_config: &str) -> (i32, String) {
    run_to_failure(manifest, Some(runtime_config), &[])
}

fn run_to_failure(
    manifest: &str,
    runtime_config: Option<&str>,
    env: &[(&str, &str)],
) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let manifest_path = dir.path().join("spin.toml");
    std::fs::write(&manifest_path, manifest).unwrap();
    let mut command = Command::new(folio_bin());
    command
        .arg("up")
        .arg("--manifest")
        .arg(&manifest_path)
        .arg("--listen")
        .arg("127.0.0.1:0")
        .arg("--data-dir")
        .arg(dir.path().join(".folio"));
    if let Some(config) = runtime_config {
        let config_path = dir.path().join("runtime.toml");
        std::fs::write(&config_path, config).unwrap();
        command.arg("--runtime-config").arg(config_path);
    }
    let output = command
        .envs(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// Sends `signal` (a `kill` name such as `KILL` or `STOP`) to process `pid`.
pub fn send_signal(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

/// GETs `path` and parses the answer as JSON.
pub async fn get_json(host: &Host, path: &str) -> serde_json::Value {
    client()
        .get(host.url(path))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The fire times the events fixture's cron trigger ran at, after checking
/// that none ran twice.
pub async fn ticks_run_once(host: &Host) -> Vec<i64> {
    let ticks: Vec<i64> = fixture_rows(host, "/ev/ticks")
        .await
        .iter()
        .map(|r| r[0].as_i64().unwrap())
        .collect();
    let distinct: std::collections::BTreeSet<i64> = ticks.iter().copied().collect();
    assert_eq!(distinct.len(), ticks.len(), "a tick ran twice: {ticks:?}");
    ticks
}

/// The rows a fixture component lists at `path` (`/ev/received`, ...).
/// `/ev/writes` and `/ev/received` are read page by page, in key order, since
/// a loaded test can leave more rows than one SQL answer may hold.
pub async fn fixture_rows(host: &Host, path: &str) -> Vec<Vec<serde_json::Value>> {
    let paged = path.ends_with("/writes") || path.ends_with("/received");
    let mut rows = Vec::new();
    let mut after = Some(String::new());
    while let Some(key) = after.take() {
        let url = if paged {
            reqwest::Url::parse_with_params(&host.url(path), [("after", &key)]).unwrap()
        } else {
            reqwest::Url::parse(&host.url(path)).unwrap()
        };
        let body: serde_json::Value = client()
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap_or_else(|e| panic!("{path} did not answer JSON: {e}"));
        let page = body["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("no rows at {path}: {body}"));
        rows.extend(page.iter().map(|r| r.as_array().unwrap().clone()));
        after = body["next"].as_str().map(str::to_string);
    }
    rows
}

/// POSTs `body` as JSON; returns the status and the answer (JSON when it parses).
pub async fn post_json(
    host: &Host,
    path: &str,
    body: serde_json::Value,
) -> (u16, serde_json::Value) {
    let response = client()
        .post(host.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
    )
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A loopback HTTP server answering every request with `body`; returns its port.
pub fn static_server(body: &'static str) -> u16 {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = stream.read(&mut buf);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            });
        }
    });
    port
}

/// Drops Postgres schemas (a component's state) so a run starts empty.
pub async fn drop_schemas(admin_url: &str, schemas: &[&str]) {
    use sqlx::{Connection, Executor};
    let mut admin = sqlx::PgConnection::connect(admin_url).await.unwrap();
    for schema in schemas {
        admin
            .execute(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
            )))
            .await
            .unwrap();
    }
}

/// The shipped application (`spin.toml`) with its components' sources made
/// absolute, so a test host in a directory of its own serves it; builds
/// the components first.
pub fn whole_app_manifest() -> String {
    build_fixtures();
    std::fs::read_to_string(repo_root().join("spin.toml"))
        .unwrap()
        .replace(
            "source = \"target/",
            &format!("source = \"{}/target/", repo_root().display()),
        )
}

/// The rate-limit policies spin.toml gives the users service, for component
/// `id` of a test manifest: the tests exercise the shipped defaults.
pub fn users_rate_limits(id: &str) -> String {
    let spin = std::fs::read_to_string(repo_root().join("spin.toml")).unwrap();
    let mut out = String::new();
    let mut inside = false;
    for line in spin.lines() {
        if line.starts_with('[') {
            inside = line == "[[component.users.tool.folio.rate_limits]]";
        }
        if inside {
            out.push_str(&line.replace("component.users.", &format!("component.{id}.")));
            out.push('\n');
        }
    }
    assert!(
        out.contains("\"register\""),
        "spin.toml limits the users service"
    );
    format!("\n{out}")
}
