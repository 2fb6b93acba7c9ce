//! `folio export spin`: the app as a real Spin runs it, beside `folio
//! adapters`. Each component that imports Folio's host interfaces (or
//! `wasi:keyvalue`, whose expiring keys Spin lacks) is composed with the
//! platform shim (`components/spin-shim`): the shim's exports fill those
//! imports, and the component's own bytes are unchanged inside. The
//! manifest is the original one with those components' sources replaced,
//! the adapter service added to their outbound hosts and variables, and
//! what Spin cannot run (components needing interfaces the shim does not
//! provide yet) left out and reported.
//!
//! Spin has no event trigger, and its cron trigger is a plugin: `folio
//! adapters --deliver-to` runs both and sends each event and tick over
//! HTTP. For a component with such triggers the export adds a component
//! per kind (`<id>-events`, `<id>-cron`): the composed component wrapped by
//! a delivery component (`components/spin-events`, `components/spin-cron`)
//! that takes the request on `/_folio/deliver/<id>/...`, checks the
//! service's delivery token and calls the component's own export. A
//! component with `tool.folio` rate limits is put behind a gateway
//! (`components/spin-gateway`) that asks the adapter service for the host's
//! verdict on each request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use wac_graph::types::Package;
use wac_graph::{CompositionGraph, EncodeOptions};

use folio_adapter_protocol::DELIVER_PREFIX;

use crate::manifest::App;

/// What `folio export spin` is asked for.
pub struct ExportRequest<'a> {
    pub app: &'a App,
    /// The shim component (`folio_spin_shim.wasm`); the delivery components
    /// (`folio_spin_events.wasm`, `folio_spin_cron.wasm`) and the rate-limit
    /// gateway (`folio_spin_gateway.wasm`) are beside it.
    pub shim: &'a Path,
    /// Where the Spin app is written: `spin.toml`, composed components and
    /// `spin.env` (the variables Spin needs, secrets among them).
    pub out: &'a Path,
    /// The adapter service's base URL, as Spin's components reach it.
    pub adapters_url: &'a str,
    /// Its `FOLIO_ADAPTERS_SECRET`, from which each component's token derives.
    pub secret: &'a [u8],
    /// Only these components (all when empty).
    pub only: &'a [String],
    /// Variable values Spin must be given (generated keys, `FOLIO_VAR_*`).
    pub variables: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
pub struct ExportReport {
    pub composed: Vec<String>,
    pub unchanged: Vec<String>,
    /// Component, and why Spin cannot run it yet.
    pub left_out: Vec<(String, String)>,
    /// Triggers of components left out, as `kind: component`.
    pub triggers_left_out: Vec<String>,
    /// Triggers `folio adapters --deliver-to` runs, as `kind: component`.
    pub triggers_delivered: Vec<String>,
    /// Components behind the rate-limit gateway (`components/spin-gateway`).
    pub rate_limited: Vec<String>,
}

/// The interfaces the shim answers; a component importing any other
/// `folio:platform` interface cannot run under Spin yet.
fn shim_answers(import: &str) -> bool {
    let name = import.split('@').next().unwrap_or(import);
    name.starts_with("wasi:keyvalue/")
        || [
            "folio:platform/event-types",
            "folio:platform/sql",
            "folio:platform/events",
            "folio:platform/kv-expiry",
            "folio:platform/access-tokens",
            "folio:platform/passwords",
            "folio:platform/search",
            "folio:platform/mail",
            "folio:platform/blobs",
            "folio:platform/transcode",
        ]
        .contains(&name)
}

fn needs_shim(import: &str) -> bool {
    import.starts_with("folio:platform/") || import.starts_with("wasi:keyvalue/")
}

pub fn export(request: ExportRequest<'_>) -> anyhow::Result<ExportReport> {
    let ExportRequest {
        app,
        shim,
        out,
        adapters_url,
        secret,
        only,
        mut variables,
    } = request;
    for id in only {
        if !app.components.contains_key(id) {
            anyhow::bail!("no component `{id}` in {}", app.manifest_path.display());
        }
    }
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let read = |path: &Path| {
        std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
    };
    let shim_bytes = read(shim)?;
    let beside_shim = |name: &str| shim.with_file_name(name);
    let gateway_bytes = read(&beside_shim("folio_spin_gateway.wasm"))?;
    let mut delivery_kinds = Vec::new();
    if !app.event_triggers.is_empty() {
        delivery_kinds.push(("events", read(&beside_shim("folio_spin_events.wasm"))?));
    }
    if !app.cron_triggers.is_empty() {
        delivery_kinds.push(("cron", read(&beside_shim("folio_spin_cron.wasm"))?));
    }
    let text = std::fs::read_to_string(&app.manifest_path)?;
    let mut manifest: toml::Table = toml::from_str(&text)?;
    let adapters_origin = origin(adapters_url)?;

    let mut report = ExportReport::default();
    let mut kept = Vec::new();
    // The delivery components: id, manifest table, route.
    let mut deliveries: Vec<(String, toml::Table, String)> = Vec::new();
    let mut token_variables = Vec::new();
    for decl in app.components.values() {
        if !only.is_empty() && !only.contains(&decl.id) {
            continue;
        }
        let bytes = std::fs::read(&decl.source)
            .with_context(|| format!("component `{}`: {}", decl.id, decl.source.display()))?;
        let imports = imports_of(&decl.id, &bytes)?;
        let missing: Vec<&String> = imports
            .iter()
            .filter(|i| needs_shim(i) && !shim_answers(i))
            .collect();
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|s| s.as_str()).collect();
            report.left_out.push((
                decl.id.clone(),
                format!(
                    "imports {}, which the shim does not provide yet",
                    names.join(", ")
                ),
            ));
            continue;
        }
        let table = component_table(&mut manifest, &decl.id)?;
        // The shim answers these; Spin would otherwise open its own.
        table.remove("sqlite_databases");
        table.remove("key_value_stores");
        table.remove("build");
        if imports.iter().any(|i| needs_shim(i)) {
            let composed = compose(&bytes, &shim_bytes)
                .with_context(|| format!("component `{}`: composing with the shim", decl.id))?;
            let path = out.join(format!("{}.wasm", decl.id));
            if decl.rate_limits.is_empty() {
                std::fs::write(&path, &composed)?;
            } else {
                // Its rate limits, asked of the adapter service before the
                // service sees the request (deliveries below skip them).
                let gated = compose(&gateway_bytes, &composed)
                    .with_context(|| format!("component `{}`: composing the gateway", decl.id))?;
                std::fs::write(&path, gated)?;
                report.rate_limited.push(decl.id.clone());
            }
            table.insert("source".into(), path.display().to_string().into());
            let hosts = table
                .entry("allowed_outbound_hosts")
                .or_insert_with(|| toml::Value::Array(Vec::new()));
            if let toml::Value::Array(hosts) = hosts {
                hosts.push(adapters_origin.clone().into());
            }
            let token_variable = format!("folio_adapters_token_{}", decl.id.replace('-', "_"));
            let vars = table
                .entry("variables")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(vars) = vars {
                vars.insert(
                    "folio_adapters_url".into(),
                    "{{ folio_adapters_url }}".into(),
                );
                vars.insert("folio_adapters_component".into(), decl.id.clone().into());
                // Spin does not name the caller of a chained call: components
                // prove their names to each other (`give_chain_keys`).
                vars.insert("folio_component".into(), decl.id.clone().into());
                vars.insert(
                    "folio_adapters_token".into(),
                    format!("{{{{ {token_variable} }}}}").into(),
                );
            }
            variables.insert(
                token_variable.clone(),
                folio_adapter_protocol::component_token(secret, &decl.id),
            );
            token_variables.push(token_variable);
            report.composed.push(decl.id.clone());
            let service_table = table.clone();
            for (kind, router) in &delivery_kinds {
                let triggered = match *kind {
                    "events" => app.event_triggers.iter().any(|t| t.component == decl.id),
                    _ => app.cron_triggers.iter().any(|t| t.component == decl.id),
                };
                if !triggered {
                    continue;
                }
                let id = format!("{}-{kind}", decl.id);
                let wrapped = compose(router, &composed)
                    .with_context(|| format!("component `{id}`: composing the delivery route"))?;
                let path = out.join(format!("{id}.wasm"));
                std::fs::write(&path, wrapped)?;
                let mut delivery_table = service_table.clone();
                delivery_table.insert("source".into(), path.display().to_string().into());
                let token_variable = format!("folio_delivery_token_{}", decl.id.replace('-', "_"));
                if let Some(toml::Value::Table(vars)) = delivery_table.get_mut("variables") {
                    vars.insert(
                        "folio_delivery_token".into(),
                        format!("{{{{ {token_variable} }}}}").into(),
                    );
                }
                if !variables.contains_key(&token_variable) {
                    variables.insert(
                        token_variable.clone(),
                        folio_adapter_protocol::delivery_token(secret, &decl.id),
                    );
                    token_variables.push(token_variable);
                }
                deliveries.push((
                    id,
                    delivery_table,
                    format!("{DELIVER_PREFIX}{}/{kind}", decl.id),
                ));
            }
        } else {
            table.insert("source".into(), decl.source.display().to_string().into());
            report.unchanged.push(decl.id.clone());
        }
        kept.push(decl.id.clone());
    }
    for (id, table, route) in deliveries {
        manifest
            .get_mut("component")
            .and_then(toml::Value::as_table_mut)
            .ok_or_else(|| anyhow::anyhow!("the manifest has no [component] tables"))?
            .insert(id.clone(), table.into());
        let mut trigger = toml::Table::new();
        trigger.insert("route".into(), route.into());
        trigger.insert("component".into(), id.clone().into());
        http_triggers(&mut manifest)?.push(trigger.into());
        kept.push(id);
    }
    give_chain_keys(
        &mut manifest,
        &report.composed,
        secret,
        &mut variables,
        &mut token_variables,
    );
    for name in token_variables {
        let mut declared = toml::Table::new();
        declared.insert("required".into(), true.into());
        declared.insert("secret".into(), true.into());
        app_variables(&mut manifest)?.insert(name, declared.into());
    }
    let mut declared = toml::Table::new();
    declared.insert("default".into(), adapters_url.into());
    app_variables(&mut manifest)?.insert("folio_adapters_url".into(), declared.into());

    if let Some(toml::Value::Table(components)) = manifest.get_mut("component") {
        components.retain(|id, _| kept.iter().any(|k| k == id));
    }
    if let Some(toml::Value::Table(triggers)) = manifest.get_mut("trigger") {
        for (kind, list) in triggers.iter_mut() {
            let toml::Value::Array(list) = list else {
                continue;
            };
            list.retain(|trigger| {
                let component = trigger
                    .get("component")
                    .and_then(toml::Value::as_str)
                    .unwrap_or_default();
                let exported = kept.iter().any(|k| k == component);
                if kind != "http" {
                    let delivered = report.composed.iter().any(|c| c == component);
                    match delivered {
                        true => &mut report.triggers_delivered,
                        false => &mut report.triggers_left_out,
                    }
                    .push(format!("{kind}: {component}"));
                }
                kind == "http" && exported
            });
        }
        triggers.retain(|kind, _| kind == "http");
    }
    std::fs::write(out.join("spin.toml"), toml::to_string(&manifest)?)?;
    let mut env = String::new();
    for (name, value) in &variables {
        if value.contains('\n') {
            anyhow::bail!("variable {name}: a value on several lines cannot go in spin.env");
        }
        // Single-quoted, so `. spin.env` keeps JSON and spaces as they are.
        let quoted = value.replace('\'', r"'\''");
        env.push_str(&format!(
            "SPIN_VARIABLE_{}='{quoted}'\n",
            name.to_ascii_uppercase()
        ));
    }
    write_private(&out.join("spin.env"), &env)?;
    Ok(report)
}

/// Spin neither names the caller of a chained call nor strips a header that
/// claims to, so callers prove their names (`folio_guest::http::chained_from`).
/// Each composed component gets a key per composed callee it declares
/// (`http://<callee>.spin.internal` among its outbound hosts;
/// `*.spin.internal` declares them all) as `folio_chain_to_<callee>`, and
/// the callee the same key as `folio_chain_from_<caller>`. A key opens one
/// callee to one caller: no component holds what it would need to pass for
/// another, and a proof one callee receives is worth nothing at the next.
fn give_chain_keys(
    manifest: &mut toml::Table,
    composed: &[String],
    secret: &[u8],
    variables: &mut BTreeMap<String, String>,
    secret_variables: &mut Vec<String>,
) {
    let Some(toml::Value::Table(components)) = manifest.get_mut("component") else {
        return;
    };
    // A delivery component (`<id>-events`) carries its service's name.
    let name_of = |table: &toml::Value| {
        table
            .get("variables")
            .and_then(|vars| vars.get("folio_component"))
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    };
    let mut pairs = std::collections::BTreeSet::new();
    for table in components.values() {
        let Some(caller) = name_of(table) else {
            continue;
        };
        let hosts = table
            .get("allowed_outbound_hosts")
            .and_then(toml::Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(toml::Value::as_str);
        for host in hosts {
            let Some(name) = host
                .strip_prefix("http://")
                .and_then(|host| host.strip_suffix(".spin.internal"))
            else {
                continue;
            };
            for callee in composed {
                if (name == "*" || name == callee) && *callee != caller {
                    pairs.insert((caller.clone(), callee.clone()));
                }
            }
        }
    }
    let snake = |id: &str| id.replace('-', "_");
    for (caller, callee) in pairs {
        let app_variable = format!("folio_chain_{}_to_{}", snake(&caller), snake(&callee));
        let reference = toml::Value::from(format!("{{{{ {app_variable} }}}}"));
        for (_, table) in components.iter_mut() {
            let me = name_of(table);
            let Some(toml::Value::Table(vars)) = table.get_mut("variables") else {
                continue;
            };
            if me.as_deref() == Some(caller.as_str()) {
                vars.insert(
                    format!("folio_chain_to_{}", snake(&callee)),
                    reference.clone(),
                );
            }
            if me.as_deref() == Some(callee.as_str()) {
                vars.insert(
                    format!("folio_chain_from_{}", snake(&caller)),
                    reference.clone(),
                );
            }
        }
        variables.insert(
            app_variable.clone(),
            folio_adapter_protocol::chain_key(secret, &caller, &callee),
        );
        secret_variables.push(app_variable);
    }
}

fn component_table<'m>(
    manifest: &'m mut toml::Table,
    id: &str,
) -> anyhow::Result<&'m mut toml::Table> {
    manifest
        .get_mut("component")
        .and_then(|c| c.get_mut(id))
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| anyhow::anyhow!("no [component.{id}] table"))
}

fn http_triggers(manifest: &mut toml::Table) -> anyhow::Result<&mut Vec<toml::Value>> {
    manifest
        .entry("trigger")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| anyhow::anyhow!("[trigger] is not a table"))?
        .entry("http")
        .or_insert_with(|| toml::Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| anyhow::anyhow!("[[trigger.http]] is not an array"))
}

fn app_variables(manifest: &mut toml::Table) -> anyhow::Result<&mut toml::Table> {
    manifest
        .entry("variables")
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        .as_table_mut()
        .ok_or_else(|| anyhow::anyhow!("[variables] is not a table"))
}

/// `scheme://host:port` of `url`, as `allowed_outbound_hosts` wants it.
fn origin(url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url
        .parse()
        .with_context(|| format!("adapters URL {url:?}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some(scheme @ ("http" | "https")), Some(authority)) => {
            Ok(format!("{scheme}://{authority}"))
        }
        _ => anyhow::bail!("adapters URL {url:?} must be http:// or https:// with a host"),
    }
}

/// The names of what `bytes` (a component) imports.
fn imports_of(id: &str, bytes: &[u8]) -> anyhow::Result<Vec<String>> {
    let mut graph = CompositionGraph::new();
    let package = Package::from_bytes(id, None, bytes.to_vec(), graph.types_mut())
        .with_context(|| format!("component `{id}` is not a Wasm component"))?;
    Ok(graph.types()[package.ty()]
        .imports
        .keys()
        .cloned()
        .collect())
}

/// `socket` with each import that `plug` exports filled by one instance of
/// `plug`: a service and the shim, or a delivery component and a service.
fn compose(socket: &[u8], plug: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut graph = CompositionGraph::new();
    let socket = Package::from_bytes("folio:socket", None, socket.to_vec(), graph.types_mut())?;
    let socket = graph.register_package(socket)?;
    let plug = Package::from_bytes("folio:plug", None, plug.to_vec(), graph.types_mut())?;
    let plug = graph.register_package(plug)?;
    wac_graph::plug(&mut graph, vec![plug], socket)?;
    Ok(graph.encode(EncodeOptions::default())?)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// Where `folio build` puts the shim, beside the other components.
pub fn default_shim(app: &App) -> PathBuf {
    app.root
        .join("target/wasm32-wasip2/release/folio_spin_shim.wasm")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shim_answers_what_it_exports_and_nothing_else() {
        assert!(shim_answers("folio:platform/sql@0.1.0"));
        assert!(shim_answers("wasi:keyvalue/atomics@0.2.0-draft2"));
        assert!(shim_answers("folio:platform/search@0.1.0"));
        assert!(shim_answers("folio:platform/blobs@0.1.0"));
        assert!(!shim_answers("folio:platform/sql-admin@0.1.0"));
        assert!(!shim_answers("folio:platform/event-handler@0.1.0"));
        assert!(needs_shim("folio:platform/blobs@0.1.0"));
        assert!(!needs_shim("wasi:http/outgoing-handler@0.2.0"));
    }

    #[test]
    fn each_caller_and_declared_callee_share_a_key_no_other_component_holds() {
        let mut manifest: toml::Table = toml::from_str(
            r#"
            [component.search]
            allowed_outbound_hosts = ["http://content.spin.internal", "http://analytics.spin.internal", "https://example.com"]
            variables = { folio_component = "search" }
            [component.search-events]
            allowed_outbound_hosts = ["http://content.spin.internal", "http://analytics.spin.internal"]
            variables = { folio_component = "search" }
            [component.content]
            variables = { folio_component = "content" }
            [component.analytics]
            allowed_outbound_hosts = ["http://*.spin.internal", "http://billing.spin.internal"]
            variables = { folio_component = "analytics" }
            [component.meta]
            allowed_outbound_hosts = ["http://content.spin.internal"]
            "#,
        )
        .unwrap();
        let composed = ["search", "content", "analytics"].map(String::from);
        let (mut values, mut secrets) = (BTreeMap::new(), Vec::new());
        give_chain_keys(&mut manifest, &composed, b"k", &mut values, &mut secrets);

        let chain_variables = |id: &str| -> Vec<(String, String)> {
            let mut found: Vec<(String, String)> = manifest["component"][id]
                .get("variables")
                .and_then(toml::Value::as_table)
                .into_iter()
                .flatten()
                .filter(|(name, _)| name.starts_with("folio_chain_"))
                .map(|(name, value)| (name.clone(), value.as_str().unwrap().to_string()))
                .collect();
            found.sort();
            found
        };
        let pair = |name: &str, app: &str| (name.to_string(), format!("{{{{ {app} }}}}"));
        let search = vec![
            pair(
                "folio_chain_from_analytics",
                "folio_chain_analytics_to_search",
            ),
            pair(
                "folio_chain_to_analytics",
                "folio_chain_search_to_analytics",
            ),
            pair("folio_chain_to_content", "folio_chain_search_to_content"),
        ];
        assert_eq!(chain_variables("search"), search);
        assert_eq!(chain_variables("search-events"), search);
        assert_eq!(
            chain_variables("content"),
            vec![
                pair(
                    "folio_chain_from_analytics",
                    "folio_chain_analytics_to_content"
                ),
                pair("folio_chain_from_search", "folio_chain_search_to_content"),
            ]
        );
        // `*.spin.internal` reaches every composed component but itself;
        // billing is not composed, and meta (not composed) gets nothing.
        assert_eq!(
            chain_variables("analytics"),
            vec![
                pair("folio_chain_from_search", "folio_chain_search_to_analytics"),
                pair("folio_chain_to_content", "folio_chain_analytics_to_content"),
                pair("folio_chain_to_search", "folio_chain_analytics_to_search"),
            ]
        );
        assert!(chain_variables("meta").is_empty());

        assert_eq!(secrets.len(), 4);
        assert_eq!(
            values["folio_chain_search_to_content"],
            folio_adapter_protocol::chain_key(b"k", "search", "content")
        );
        let distinct: std::collections::BTreeSet<_> = values.values().collect();
        assert_eq!(distinct.len(), 4);
        assert_ne!(
            folio_adapter_protocol::chain_key(b"k", "search", "content"),
            folio_adapter_protocol::chain_key(b"k", "content", "search")
        );
    }

    #[test]
    fn the_adapters_origin_is_scheme_host_and_port() {
        assert_eq!(
            origin("http://127.0.0.1:3901/").unwrap(),
            "http://127.0.0.1:3901"
        );
        assert!(origin("127.0.0.1:3901").is_err());
        assert!(origin("ftp://x").is_err());
    }
}
