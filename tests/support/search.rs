//! The search service in test manifests: `{id}-search` beside the users and
//! content services of [`services_manifest`](crate::services_manifest).

use crate::services::{Backends, unique};
use crate::{Host, HostOptions, services_manifest, wasm};

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
