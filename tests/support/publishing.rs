//! The publishing service in test manifests (`{id}-publishing` beside the
//! users and content services of [`services_manifest_recording`], which
//! also records `folio.publishing`), and a real webhook receiver
//! (`tests/support/webhook_receiver.py`, verifying signatures with the
//! Standard Webhooks reference library).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::notifications::{Helper, python};
use crate::services::{Api, Backends};
use crate::{
    BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD, Host, HostOptions, client, repo_root,
    services_manifest_recording, wasm,
};

pub struct PublishingOptions<'a> {
    pub retry_schedule: String,
    pub disable_after: String,
    pub lease: String,
    pub sitemap_page_size: usize,
    pub outbound_secrets: Value,
    /// Runtime config besides the backends' tables.
    pub runtime_config: String,
    pub backends: Option<&'a Backends>,
    /// More components for the manifest (e.g. billing).
    pub extra_manifest: String,
}

/// Loopback receivers are private addresses: the tests allowlist them.
pub const LOOPBACK_ALLOWED: &str = "[outbound]\nallow_private = [\"127.0.0.0/8\"]\n";

impl Default for PublishingOptions<'_> {
    fn default() -> Self {
        PublishingOptions {
            retry_schedule: "1s,1s,1s".into(),
            disable_after: "5d".into(),
            lease: "60s".into(),
            sitemap_page_size: 50_000,
            outbound_secrets: json!({}),
            runtime_config: format!("{LOOPBACK_ALLOWED}[rate_limits]\nexempt = [\"127.0.0.1\"]\n"),
            backends: None,
            extra_manifest: String::new(),
        }
    }
}

pub fn publishing_component(id: &str, group: &str, options: &PublishingOptions) -> String {
    let component = format!("{id}-publishing");
    let mut text = String::new();
    for route in [
        "/api/v1/channels",
        "/api/v1/channels/...",
        "/api/v1/approvals",
        "/api/v1/content/:id/approvals",
        "/api/v1/content/:id/distributions",
        "/api/v1/content/:id/preview-links",
        "/api/v1/preview-links/...",
        "/api/v1/distributions",
        "/api/v1/distributions/...",
        "/api/v1/openapi/publishing.json",
        "/preview/...",
        "/feeds/...",
        "/api/v1/feeds/...",
        "/sitemap.xml",
        "/sitemaps/...",
    ] {
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
        ));
    }
    let secrets = options.outbound_secrets.to_string().replace('"', "\\\"");
    text.push_str(&format!(
        r#"
[[trigger.event]]
component = "{component}"
topics = ["folio.content", "folio.media"]
group = "{group}-publishing-intake"
concurrency = 4

[[trigger.event]]
component = "{component}"
topics = ["folio.publishing.deliveries"]
group = "{group}-publishing-deliveries"
concurrency = 8

[[trigger.event]]
component = "{component}"
topics = ["folio.billing"]
group = "{group}-publishing-entitlements"

[[trigger.cron]]
component = "{component}"
cron_expression = "* * * * * *"

[component.{component}]
source = "{}"
sqlite_databases = ["default"]
allowed_outbound_hosts = ["https://*:*", "http://*:*", "http://{id}-content.spin.internal", "http://{id}.spin.internal"]
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
platform_name = "Folio Test"
public_url = "http://folio.test"
content_service = "{id}-content"
users_service = "{id}"
allow_insecure_endpoints = "true"
retry_schedule = "{}"
disable_after = "{}"
delivery_lease = "{}"
sitemap_page_size = "{}"
outbound_secrets = "{secrets}"
[component.{component}.tool.folio]
publishes = ["folio.publishing", "folio.publishing.deliveries"]
max_concurrency = 64
[[component.{component}.tool.folio.rate_limits]]
name = "preview-links"
routes = ["/preview/..."]
key = "address"
limit = 60
window_secs = 60
"#,
        wasm("folio_publishing").display(),
        options.retry_schedule,
        options.disable_after,
        options.lease,
        options.sitemap_page_size,
    ));
    text
}

/// A host with users, content and publishing; `data` keeps its data
/// directory (reuse it to restart the same deployment).
pub fn start_publishing(id: &str, group: &str, data: &Path, options: &PublishingOptions) -> Host {
    let mut manifest = services_manifest_recording(id, group, true, &["folio.publishing"]);
    manifest.push_str(&publishing_component(id, group, options));
    manifest.push_str(&options.extra_manifest);
    let mut config = options.runtime_config.clone();
    if let Some(b) = options.backends {
        config.push_str(&b.runtime_config());
    }
    std::fs::create_dir_all(data).unwrap();
    let path = data.join("runtime.toml");
    std::fs::write(&path, config).unwrap();
    Host::start_with(
        &manifest,
        HostOptions {
            args: vec!["--runtime-config".into(), path.display().to_string()],
            env: Vec::new(),
            data_dir: Some(data.join("data")),
        },
    )
}

/// The webhook (and CDN API) receiver.
pub struct Receiver {
    _helper: Helper,
    pub port: u16,
}

impl Receiver {
    pub fn start() -> Receiver {
        let helper = Helper::start("webhook_receiver.py", &[]);
        let port = helper.ready["port"].as_u64().unwrap() as u16;
        Receiver {
            _helper: helper,
            port,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Scripts what `/hooks/{name}` answers and which secrets it checks.
    pub async fn script(&self, name: &str, script: Value) {
        let r = client()
            .post(self.url(&format!("/_control/{name}")))
            .json(&script)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 204);
    }

    pub async fn received(&self, name: &str) -> Vec<Value> {
        let r = client()
            .get(self.url(&format!("/_received?name={name}")))
            .send()
            .await
            .unwrap();
        r.json::<Vec<Value>>().await.unwrap()
    }

    /// What `name` got, once `done` says it is enough.
    pub async fn wait_for(
        &self,
        name: &str,
        timeout: Duration,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received(name).await;
            if done(&got) {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "{name} received {} requests: {:#?}",
                got.len(),
                got.iter().map(|r| &r["body"]).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A delivery's JSON body.
pub fn body(delivery: &Value) -> Value {
    serde_json::from_str(delivery["body"].as_str().unwrap()).unwrap()
}

pub async fn admin(api: &Api<'_>) -> String {
    api.login(BOOTSTRAP_ADMIN_EMAIL, BOOTSTRAP_ADMIN_PASSWORD)
        .await
        .0
}

/// Creates a channel; returns its JSON (a webhook's with its secret).
pub async fn channel(api: &Api<'_>, admin: &str, body: Value) -> Value {
    let r = api.post("/api/v1/channels", Some(admin), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}

/// A draft by `author`; returns its id.
pub async fn draft(api: &Api<'_>, author: &str, body: Value) -> String {
    let r = api.post("/api/v1/content", Some(author), body).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// `review` by the author, then `published` by an admin.
pub async fn publish(api: &Api<'_>, id: &str, author: &str, admin: &str) {
    for (to, who) in [("review", author), ("published", admin)] {
        transition(api, id, to, who).await;
    }
}

pub async fn transition(api: &Api<'_>, id: &str, to: &str, who: &str) {
    let r = api
        .post(
            &format!("/api/v1/content/{id}/transitions"),
            Some(who),
            json!({"to": to}),
        )
        .await;
    assert_eq!(r.status, 200, "{to}: {:?}", r.body);
}

/// The item's distributions once `done` says so (read as an admin).
pub async fn distributions(
    api: &Api<'_>,
    admin: &str,
    content_id: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = api
            .get(
                &format!("/api/v1/content/{content_id}/distributions"),
                Some(admin),
            )
            .await;
        // 404 until the service has taken in the item's first event.
        assert!(r.status == 200 || r.status == 404, "{:?}", r.body);
        let items = r.body["items"].as_array().cloned().unwrap_or_default();
        if r.status == 200 && done(&items) {
            return items;
        }
        assert!(
            Instant::now() < deadline,
            "distributions of {content_id}: {items:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// What feedparser (PyPI) makes of the feed at `url`.
pub fn parse_feed(url: &str) -> Value {
    let out = Command::new(python())
        .arg(repo_root().join("tests/support/parse_feed.py"))
        .arg(url)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "parse_feed.py {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// PATCHes an item as `who`, with the `If-Match` its current version needs.
pub async fn edit(api: &Api<'_>, id: &str, who: &str, patch: Value) {
    let path = format!("/api/v1/content/{id}");
    let current = client()
        .get(api.host.url(&path))
        .bearer_auth(who)
        .send()
        .await
        .unwrap();
    let etag = current.headers()["etag"].to_str().unwrap().to_string();
    let r = client()
        .patch(api.host.url(&path))
        .bearer_auth(who)
        .header("if-match", etag)
        .json(&patch)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert_eq!(status, 200, "{}", r.text().await.unwrap());
}
