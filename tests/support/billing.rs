//! The billing service as a test host: its component (routes and cron as
//! in spin.toml, the cron every second) beside the users service, with the
//! events fixture recording `folio.billing`; Stripe, when wanted, is the
//! loopback double of `stripe.rs`.

use std::path::Path;

use serde_json::json;

use crate::services::{Api, Backends};
use crate::{Host, HostOptions, services_manifest_recording, wasm};

pub fn billing_component(id: &str, tax_rate_bp: u32, stripe_api_base: Option<&str>) -> String {
    let component = format!("{id}-billing");
    let mut text = String::new();
    for route in ["/api/v1/billing/...", "/api/v1/openapi/billing.json"] {
        text.push_str(&format!(
            "\n[[trigger.http]]\nroute = \"{route}\"\ncomponent = \"{component}\"\n"
        ));
    }
    text.push_str(&format!(
        r#"
[[trigger.cron]]
component = "{component}"
cron_expression = "* * * * * *"

[component.{component}]
source = "{}"
sqlite_databases = ["default"]
{outbound}
[component.{component}.variables]
auth_public_keys = "{{{{ auth_public_keys }}}}"
auth_issuer = "{{{{ auth_issuer }}}}"
auth_audience = "{{{{ auth_audience }}}}"
tax_rate_bp = "{tax_rate_bp}"
{stripe}
[component.{component}.tool.folio]
publishes = ["folio.billing"]
"#,
        wasm("folio_billing").display(),
        outbound = stripe_api_base
            .map(|base| format!("allowed_outbound_hosts = [\"{base}\"]"))
            .unwrap_or_default(),
        stripe = match stripe_api_base {
            Some(base) => format!(
                "stripe_api_base = \"{base}\"\nstripe_secret_key = \"{}\"\n\
                 stripe_webhook_secret = \"{}\"\npublic_url = \"https://folio.test\"",
                crate::stripe::SECRET_KEY,
                crate::stripe::WEBHOOK_SECRET,
            ),
            None => String::new(),
        }
    ));
    text
}

/// Users (`{id}`) and billing (`{id}-billing`), on SQLite and the embedded
/// log in `data`, or on Postgres + Redis + Kafka when `backends` is given
/// (emptied first).
pub async fn start(id: &str, data: &Path, tax_rate_bp: u32, backends: Option<&Backends>) -> Host {
    start_with(id, data, tax_rate_bp, None, backends).await
}

/// As [`start`], the billing component calling Stripe at `stripe_api_base`
/// (the double's address, allowed as a loopback destination).
pub async fn start_with(
    id: &str,
    data: &Path,
    tax_rate_bp: u32,
    stripe_api_base: Option<&str>,
    backends: Option<&Backends>,
) -> Host {
    let mut manifest = services_manifest_recording(id, id, false, &["folio.billing"]);
    manifest.push_str(&billing_component(id, tax_rate_bp, stripe_api_base));
    launch(id, manifest, data, stripe_api_base.is_some(), backends).await
}

/// Users, content (`{id}-content`) and media (`{id}-media`), both
/// consuming `folio.billing` for the tiers their gated items need, and
/// billing, on SQLite, local disk and the embedded log.
pub async fn start_with_content(id: &str, data: &Path) -> Host {
    let mut manifest = services_manifest_recording(id, id, true, &["folio.billing"]);
    manifest.push_str(&crate::media::media_component(&format!("{id}-media"), id));
    manifest.push_str(&billing_component(id, 0, None));
    launch(id, manifest, data, false, None).await
}

async fn launch(
    id: &str,
    manifest: String,
    data: &Path,
    stripe: bool,
    backends: Option<&Backends>,
) -> Host {
    let loopback = if stripe {
        crate::publishing::LOOPBACK_ALLOWED
    } else {
        ""
    };
    let mut args = Vec::new();
    if let Some(backends) = backends {
        backends
            .reset(&[
                id.to_string(),
                format!("{id}-events"),
                format!("{id}-billing"),
            ])
            .await;
        std::fs::create_dir_all(data).unwrap();
        let path = data.join("runtime.toml");
        std::fs::write(
            &path,
            format!(
                "{loopback}[rate_limits]\nexempt = [\"127.0.0.1\"]\n{}",
                backends.runtime_config()
            ),
        )
        .unwrap();
        args = vec!["--runtime-config".to_string(), path.display().to_string()];
    } else if !loopback.is_empty() {
        std::fs::create_dir_all(data).unwrap();
        let path = data.join("runtime.toml");
        std::fs::write(&path, loopback).unwrap();
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

/// A plan granting `tier`, with a 30-day trial (then 5.00 EUR a month), made
/// by `admin`; its id.
pub async fn trial_plan(api: &Api<'_>, admin: &str, tier: &str) -> String {
    let r = api
        .post(
            "/api/v1/billing/plans",
            Some(admin),
            json!({"name": format!("{tier} plan"), "trialDays": 30, "tiers": [tier],
                   "prices": [{"interval": "month", "currency": "EUR", "amount": 500}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["id"].as_str().unwrap().to_string()
}

/// `token`'s account subscribes to `plan` (with a trial it holds the
/// plan's tiers at once); the subscription as created.
pub async fn subscribe(api: &Api<'_>, token: &str, plan: &str) -> serde_json::Value {
    let r = api
        .post(
            "/api/v1/billing/subscriptions",
            Some(token),
            json!({"planId": plan}),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body
}
