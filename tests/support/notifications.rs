//! The notification service in test manifests (`{id}-notifications` beside
//! the users and content services of [`services_manifest`]), and the real
//! servers it talks to: an SMTP server (aiosmtpd) and a Web Push receiver
//! that plays the browser, both Python programs in `tests/support/`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::services::Backends;
use crate::{Host, HostOptions, repo_root, services_manifest, wasm};

/// Secrets the host generates when unset, as the real spin.toml declares them.
const GENERATED: &str = "reset_delivery_private_key = { default = \"\", secret = true }\n\
vapid_private_key = { default = \"\", secret = true }\n\
notification_link_secret = { default = \"\", secret = true }\n";

pub struct NotificationsOptions<'a> {
    /// Origins push subscriptions may name (and the component may reach).
    pub push_origins: Vec<String>,
    /// Seconds a live stream stays open.
    pub stream_seconds: u32,
    /// Users told per fan-out step.
    pub fanout_page_size: u32,
    /// Runtime config besides the backends' tables.
    pub runtime_config: String,
    pub backends: Option<&'a Backends>,
    /// The publishing service too, as `{id}-publishing`.
    pub with_publishing: bool,
    /// The billing service too, as `{id}-billing` (manual payments only).
    pub with_billing: bool,
}

impl Default for NotificationsOptions<'_> {
    fn default() -> Self {
        NotificationsOptions {
            push_origins: Vec::new(),
            stream_seconds: 25,
            fanout_page_size: 250,
            runtime_config: "[rate_limits]\nexempt = [\"127.0.0.1\"]\n".into(),
            backends: None,
            with_publishing: false,
            with_billing: false,
        }
    }
}

/// `{id}-notifications`, reading newsletter items from `{id}-content`.
pub fn notifications_component(id: &str, group: &str, options: &NotificationsOptions) -> String {
    let component = format!("{id}-notifications");
    let mut text = String::new();
    for route in [
        "/api/v1/notifications",
        "/api/v1/notifications/...",
        "/api/v1/push-subscriptions",
        "/api/v1/push-subscriptions/...",
        "/api/v1/notification-templates",
        "/api/v1/notification-templates/...",
        "/api/v1/notification-deliveries",
        "/api/v1/users/me/notification-preferences",
        "/api/v1/users/me/follows",
        "/api/v1/openapi/notifications.json",
    ] {
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
        ));
    }
    let outbound: Vec<String> = options
        .push_origins
        .iter()
        .map(|o| format!("{o:?}"))
        .chain([format!("\"http://{id}-content.spin.internal\"")])
        .collect();
    text.push_str(&format!(
        r#"
[[trigger.event]]
component = "{component}"
topics = ["folio.users", "folio.content", "folio.publishing", "folio.billing"]
group = "{group}-notifications-triggers"
concurrency = 4

[[trigger.event]]
component = "{component}"
topics = ["folio.notifications.fanout"]
group = "{group}-notifications-fanout"
concurrency = 2

[[trigger.event]]
component = "{component}"
topics = ["folio.notifications.deliveries"]
group = "{group}-notifications-deliveries"
concurrency = 8
max_attempts = 6
retry_backoff_ms = 200

[[trigger.cron]]
component = "{component}"
cron_expression = "* * * * * *"

[component.{component}]
source = "{}"
sqlite_databases = ["default"]
key_value_stores = ["default"]
allowed_outbound_hosts = [{}]
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
platform_name = "Folio Test"
public_url = "http://folio.test"
reset_delivery_private_key = "{{{{ reset_delivery_private_key }}}}"
vapid_private_key = "{{{{ vapid_private_key }}}}"
vapid_subject = "mailto:ops@folio.test"
push_services = "{}"
notification_link_secret = "{{{{ notification_link_secret }}}}"
notification_locales = "en,fr"
stream_seconds = "{}"
fanout_page_size = "{}"
content_service = "{id}-content"
[component.{component}.tool.folio]
mail = true
publishes = ["folio.notifications.fanout", "folio.notifications.deliveries"]
max_concurrency = 64
[[component.{component}.tool.folio.rate_limits]]
name = "notification-stream"
routes = ["/api/v1/notifications/stream"]
methods = ["GET"]
key = "address"
limit = 60
window_secs = 60
[[component.{component}.tool.folio.rate_limits]]
name = "unsubscribe"
routes = ["/api/v1/notifications/unsubscribe"]
key = "address"
limit = 30
window_secs = 60
"#,
        wasm("folio_notifications").display(),
        outbound.join(", "),
        options.push_origins.join(","),
        options.stream_seconds,
        options.fanout_page_size,
    ));
    text
}

/// A host with the users, content and notification services (`{id}`,
/// `{id}-content`, `{id}-notifications`) and the events fixture; `data`
/// keeps its data directory (reuse it to restart the same deployment).
pub fn start_notifications(
    id: &str,
    group: &str,
    data: &std::path::Path,
    options: &NotificationsOptions,
) -> Host {
    let mut manifest = services_manifest(id, group, true).replacen(
        "[variables]\n",
        &format!("[variables]\n{GENERATED}"),
        1,
    );
    manifest.push_str(&notifications_component(id, group, options));
    if options.with_publishing {
        manifest.push_str(&crate::publishing::publishing_component(
            id,
            group,
            &crate::publishing::PublishingOptions::default(),
        ));
    }
    if options.with_billing {
        manifest.push_str(&crate::billing::billing_component(id, 0, None));
    }
    let mut config = options.runtime_config.clone();
    if !options.push_origins.is_empty() || options.with_publishing {
        // The push receivers listen on loopback, which guests may not reach
        // unless allowed.
        config.push_str("[outbound]\nallow_private = [\"127.0.0.0/8\"]\n");
    }
    if let Some(b) = options.backends {
        config.push_str(&b.runtime_config());
    }
    let path = data.join("runtime.toml");
    std::fs::create_dir_all(data).unwrap();
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

/// The interpreter with aiosmtpd and http-ece: `FOLIO_TEST_PYTHON`, or
/// what `infra/pytools.sh` installs.
pub fn python() -> String {
    if let Ok(python) = std::env::var("FOLIO_TEST_PYTHON") {
        return python;
    }
    let out = Command::new("bash")
        .arg(repo_root().join("infra/pytools.sh"))
        .stderr(Stdio::inherit())
        .output()
        .expect("bash runs");
    assert!(out.status.success(), "infra/pytools.sh failed");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A Python program of `tests/support/` that prints one JSON line when ready.
pub struct Helper {
    child: Child,
    pub ready: Value,
}

impl Helper {
    pub fn start(script: &str, args: &[String]) -> Helper {
        let mut child = Command::new(python())
            .arg(repo_root().join("tests/support").join(script))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{script} starts: {e}"));
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{script} said {line:?}: {e}"));
        Helper { child, ready }
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real SMTP server on loopback (STARTTLS with its own CA, AUTH).
pub struct SmtpServer {
    _helper: Helper,
    pub port: u16,
    pub ca: PathBuf,
    dir: tempfile::TempDir,
}

pub const SMTP_USER: &str = "folio";
pub const SMTP_PASSWORD: &str = "smtp-test-password";

/// A message the SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub raw: String,
    pub to: Vec<String>,
    pub subject: String,
    pub message_id: String,
    pub headers: Vec<(String, String)>,
    pub text: String,
    pub html: String,
}

impl Mail {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

impl SmtpServer {
    pub fn start() -> SmtpServer {
        SmtpServer::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<String> = vec![
            "--out".into(),
            dir.path().display().to_string(),
            "--tls".into(),
            "starttls".into(),
            "--user".into(),
            SMTP_USER.into(),
            "--password".into(),
            SMTP_PASSWORD.into(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let helper = Helper::start("smtp_sink.py", &args);
        SmtpServer {
            port: helper.ready["port"].as_u64().unwrap() as u16,
            ca: PathBuf::from(helper.ready["ca"].as_str().unwrap()),
            _helper: helper,
            dir,
        }
    }

    /// `[mail]` for the runtime config: STARTTLS, AUTH, this server's CA.
    pub fn runtime_config(&self) -> String {
        format!(
            "[mail]\ntransport = \"smtp\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"starttls\"\n\
             username = \"{SMTP_USER}\"\npassword = \"{SMTP_PASSWORD}\"\nca_file = \"{}\"\n\
             from = \"Folio Test <no-reply@folio.test>\"\nretry_backoff_ms = 100\n",
            self.port,
            self.ca.display()
        )
    }

    /// Every message accepted so far, in order.
    pub fn messages(&self) -> Vec<Mail> {
        let mut names: Vec<PathBuf> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| parse_mail(&std::fs::read(p).unwrap()))
            .collect()
    }

    /// How many accepted messages contain `needle` in their raw bytes.
    pub fn count_containing(&self, needle: &str) -> usize {
        std::fs::read_dir(self.dir.path())
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "eml"))
            .filter_map(|p| std::fs::read(p).ok())
            .filter(|bytes| String::from_utf8_lossy(bytes).contains(needle))
            .count()
    }

    /// Waits until `wanted` holds for the messages, within `timeout`.
    pub async fn wait_for(&self, timeout: Duration, wanted: impl Fn(&[Mail]) -> bool) -> Vec<Mail> {
        let started = Instant::now();
        loop {
            let messages = self.messages();
            if wanted(&messages) {
                return messages;
            }
            assert!(
                started.elapsed() < timeout,
                "the SMTP server did not get the mail expected within {timeout:?}; it has {:#?}",
                messages
                    .iter()
                    .map(|m| (&m.to, &m.subject))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub fn parse_mail(bytes: &[u8]) -> Mail {
    let parsed = mailparse::parse_mail(bytes).expect("a well-formed message");
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| (h.get_key(), h.get_value()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let (mut text, mut html) = (String::new(), String::new());
    let mut parts = vec![&parsed];
    while let Some(part) = parts.pop() {
        parts.extend(part.subparts.iter());
        match part.ctype.mimetype.as_str() {
            "text/plain" => text = part.get_body().unwrap(),
            "text/html" => html = part.get_body().unwrap(),
            _ => {}
        }
    }
    Mail {
        raw: String::from_utf8_lossy(bytes).to_string(),
        to: get("To").split(',').map(|s| s.trim().to_string()).collect(),
        subject: get("Subject"),
        message_id: get("Message-ID"),
        headers,
        text,
        html,
    }
}

/// A browser that subscribed to push: a real receiver on loopback that
/// checks VAPID and decrypts each message with the subscription's keys.
pub struct PushReceiver {
    _helper: Helper,
    pub origin: String,
    pub subscriptions: Vec<Value>,
    /// A subscription whose push service answers 410 Gone.
    pub gone: Value,
    dir: tempfile::TempDir,
}

impl PushReceiver {
    pub fn start(subscriptions: usize) -> PushReceiver {
        let dir = tempfile::tempdir().unwrap();
        let helper = Helper::start(
            "push_receiver.py",
            &[
                "--out".into(),
                dir.path().display().to_string(),
                "--subscriptions".into(),
                subscriptions.to_string(),
            ],
        );
        PushReceiver {
            origin: format!("http://127.0.0.1:{}", helper.ready["port"]),
            subscriptions: helper.ready["subscriptions"].as_array().unwrap().clone(),
            gone: helper.ready["gone"].clone(),
            _helper: helper,
            dir,
        }
    }

    /// What arrived and decrypted: `{subscription, payload, ttl, urgency, …}`.
    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("received.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub async fn wait_for(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let started = Instant::now();
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                started.elapsed() < timeout,
                "the push receiver got {} of {count} messages within {timeout:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Users the notification service knows, without paying for real sign-ups:
/// `UserCreated` events published through the events fixture, and access
/// tokens signed with the host's own key.
pub async fn synthetic_users(
    host: &Host,
    id: &str,
    dir: &std::path::Path,
    count: usize,
) -> Vec<(String, String)> {
    let seed = std::fs::read_to_string(dir.join("data/auth/signing-key")).unwrap();
    let key = folio_auth::jwt::SigningKey::from_seed_b64(seed.trim()).unwrap();
    let now = crate::services::now() as i64;
    let mut users = Vec::new();
    for i in 0..count {
        let user_id = folio_guest::util::new_id();
        let claims = folio_auth::jwt::Claims {
            iss: "http://folio.test".into(),
            sub: user_id.clone(),
            aud: "folio".into(),
            exp: now + 3600,
            iat: now,
            nbf: now,
            jti: folio_guest::util::new_id(),
            role: "consumer".into(),
            sid: None,
            scope: None,
            client_id: None,
        };
        let view = serde_json::json!({"id": user_id, "email": format!("fan{i}.{id}@example.com"), "firstName": format!("Fan{i}"),
                          "role": "consumer", "status": "active", "preferences": {"language": "en", "timezone": "UTC"}});
        let r = crate::post_json(
            host,
            "/ev/emit",
            serde_json::json!({"topic": "folio.users", "type": "folio.users.UserCreated", "key": user_id, "data": serde_json::json!({"user": view}).to_string()}),
        )
        .await;
        assert_eq!(r.0, 200, "{:?}", r.1);
        users.push((user_id, key.sign(&claims)));
    }
    users
}
