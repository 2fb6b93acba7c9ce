//! The analytics service as a test host: its component (routes, worker,
//! cron, warehouse bucket as in spin.toml) beside the users and content
//! services.

use std::path::Path;

use crate::services::Backends;
use crate::{Host, HostOptions, services_manifest_recording, wasm};

pub fn analytics_component(id: &str, variables: &[(&str, &str)], rate_limits: bool) -> String {
    let component = format!("{id}-analytics");
    let mut text = String::new();
    for route in [
        "/api/v1/analytics/...",
        "/api/v1/experiments",
        "/api/v1/experiments/...",
        "/a.js",
        "/api/v1/openapi/analytics.json",
    ] {
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
        ));
    }
    text.push_str(&format!(
        r#"
[[trigger.event]]
component = "{component}"
topics = ["folio.analytics.events", "folio.content", "folio.users"]
group = "{id}-analytics"
concurrency = 2

[[trigger.cron]]
component = "{component}"
cron_expression = "* * * * * *"

[component.{component}]
source = "{}"
sqlite_databases = ["default"]
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
"#,
        wasm("folio_analytics").display()
    ));
    for (name, value) in variables {
        text.push_str(&format!("{name} = \"{value}\"\n"));
    }
    text.push_str(&format!(
        "[component.{component}.tool.folio]\nblob_buckets = [\"warehouse\"]\npublishes = [\"folio.analytics.events\"]\n"
    ));
    if rate_limits {
        text.push_str(&format!(
            r#"[[component.{component}.tool.folio.rate_limits]]
name = "analytics-events"
routes = ["/api/v1/analytics/events"]
key = "address"
limit = 40
window_secs = 60
[[component.{component}.tool.folio.rate_limits]]
name = "experiment-assignments"
routes = ["/api/v1/experiments/..."]
key = "address"
limit = 40
window_secs = 60
"#
        ));
    }
    text
}

pub fn start(id: &str, data: &Path, variables: &[(&str, &str)], rate_limits: bool) -> Host {
    start_on(id, data, variables, rate_limits, None)
}

/// `start` with the databases on Postgres when `backends` are given (the
/// event log and the warehouse bucket stay embedded, in `data`: the
/// reports count every event, and Kafka's topics hold every run's).
pub fn start_on(
    id: &str,
    data: &Path,
    variables: &[(&str, &str)],
    rate_limits: bool,
    backends: Option<&Backends>,
) -> Host {
    let mut manifest = services_manifest_recording(id, id, true, &[]);
    manifest.push_str(&analytics_component(id, variables, rate_limits));
    let mut args = Vec::new();
    if let Some(backends) = backends {
        let path = data.join("runtime.toml");
        std::fs::create_dir_all(data).unwrap();
        std::fs::write(&path, backends.postgres_config()).unwrap();
        args = vec!["--runtime-config".to_string(), path.display().to_string()];
    }
    Host::start_with(
        &manifest,
        HostOptions {
            args,
            data_dir: Some(data.to_path_buf()),
            ..Default::default()
        },
    )
}
