//! The application manifest: the subset of Spin manifest v2 that Folio serves.
//!
//! Parsing is strict about what Folio relies on (routes, sources, grants) and
//! tolerant of Spin fields it does not use yet, so the same `spin.toml` keeps
//! working under `spin up`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Deserialize;

use folio_sql::TopicGrants;

use crate::gateway::RateLimitRule;
use crate::outbound::AllowedHosts;
use crate::routing::RoutePattern;

#[derive(Debug, Clone)]
pub struct App {
    pub name: String,
    pub version: String,
    /// Directory of the manifest; relative paths in it resolve from here.
    pub root: PathBuf,
    pub manifest_path: PathBuf,
    pub variables: BTreeMap<String, VariableDecl>,
    pub components: BTreeMap<String, ComponentDecl>,
    pub http_triggers: Vec<HttpTrigger>,
    pub event_triggers: Vec<EventTrigger>,
    pub cron_triggers: Vec<CronTrigger>,
}

#[derive(Debug, Clone)]
pub struct HttpTrigger {
    pub component: String,
    /// `None` for `route = { private = true }`: reachable only through service chaining.
    pub route: Option<RoutePattern>,
}

/// `[[trigger.event]]`: a worker component consuming topics of the event log.
#[derive(Debug, Clone)]
pub struct EventTrigger {
    pub component: String,
    pub topics: Vec<String>,
    /// Consumer group; hosts sharing it share the work. Defaults to the
    /// component id; `{host}` in it becomes [`host_id`], giving each host a
    /// group of its own (every host then sees every event).
    pub group: String,
    /// Tries per event before it is dead-lettered.
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each retry (with jitter).
    pub retry_backoff: std::time::Duration,
    /// Where failed events go; default `<topic>.dlq`.
    pub dead_letter_topic: Option<String>,
    /// The deadline of each try (`timeout_ms`, a Folio extension), for
    /// workers that do long work such as transcoding; none means the
    /// host's request timeout.
    pub timeout: Option<std::time::Duration>,
    /// Events handled at once (`concurrency`, a Folio extension, default 1).
    /// Events with the same key are always handled one after another, in order.
    pub concurrency: usize,
}

/// `[[trigger.cron]]` (the key and fields of Spin's cron trigger plugin):
/// a component woken on a schedule through its `handle-cron-event` export.
#[derive(Debug, Clone)]
pub struct CronTrigger {
    pub component: String,
    /// As written in the manifest, for logs.
    pub cron_expression: String,
    /// Seconds, minutes, hours, day of month, month, day of week (and an
    /// optional year), evaluated in UTC.
    pub schedule: cron::Schedule,
}

#[derive(Debug, Clone)]
pub struct ComponentDecl {
    pub id: String,
    pub source: PathBuf,
    pub allowed_outbound_hosts: AllowedHosts,
    pub key_value_stores: Vec<String>,
    pub sqlite_databases: Vec<String>,
    /// Object-storage buckets (`[component.NAME.tool.folio] blob_buckets`).
    pub blob_buckets: Vec<String>,
    /// Topics the component may publish to (`tool.folio` `publishes`).
    pub publishes: TopicGrants,
    /// Whether it may run ffmpeg jobs (`tool.folio` `transcode = true`).
    pub transcode: bool,
    /// Full-text indexes (`tool.folio` `search_indexes`).
    pub search_indexes: Vec<String>,
    /// Whether it may send mail (`tool.folio` `mail = true`).
    pub mail: bool,
    /// At most this many of its HTTP requests run at once (`tool.folio`
    /// `max_concurrency`): one slow component cannot take every instance slot.
    pub max_concurrency: Option<usize>,
    /// Rate-limit policies on its routes (`tool.folio` `rate_limits`).
    pub rate_limits: Vec<RateLimitRule>,
    /// Component variable name to template (`"{{ app_var }}"` or a literal).
    pub variables: BTreeMap<String, String>,
    /// Environment variables the guest sees (`environment` in spin.toml).
    pub environment: BTreeMap<String, String>,
    pub build: Option<BuildDecl>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildDecl {
    pub command: String,
    pub workdir: Option<String>,
    #[serde(default)]
    pub watch: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    spin_manifest_version: i64,
    application: RawApplication,
    #[serde(default)]
    variables: BTreeMap<String, VariableDecl>,
    #[serde(default)]
    trigger: RawTriggers,
    #[serde(default)]
    component: BTreeMap<String, RawComponent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApplication {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    authors: Vec<String>,
    /// Spin's extension point: `[application.tool.NAME]` tables, which Spin ignores.
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
}

/// `[component.NAME.tool.folio]`: what Folio grants a component beyond
/// Spin's own keys. Spin ignores `tool` tables, so the manifest stays one
/// that Spin accepts.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFolioComponent {
    #[serde(default)]
    blob_buckets: Vec<String>,
    #[serde(default)]
    publishes: Vec<String>,
    #[serde(default)]
    transcode: bool,
    #[serde(default)]
    search_indexes: Vec<String>,
    #[serde(default)]
    mail: bool,
    max_concurrency: Option<usize>,
    #[serde(default)]
    rate_limits: Vec<RateLimitRule>,
}

/// `[application.tool.folio]`: nothing is defined there yet; the table is
/// read so that a misspelt key is an error rather than silently ignored.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawFolioApplication {}

#[derive(Deserialize, Default)]
struct RawTriggers {
    #[serde(default)]
    http: Vec<RawHttpTrigger>,
    #[serde(default)]
    event: Vec<RawEventTrigger>,
    #[serde(default)]
    cron: Vec<RawCronTrigger>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCronTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    component: String,
    cron_expression: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEventTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    component: String,
    topics: Vec<String>,
    group: Option<String>,
    #[serde(default = "default_max_attempts")]
    max_attempts: u32,
    #[serde(default = "default_retry_backoff_ms")]
    retry_backoff_ms: u64,
    dead_letter_topic: Option<String>,
    /// Folio extension: this trigger's instances get this deadline (epoch
    /// deadline and wall clock) instead of `[limits] request_timeout_ms`.
    timeout_ms: Option<u64>,
    /// Folio extension: events handled at once (same key: in order).
    #[serde(default = "default_concurrency")]
    concurrency: usize,
}

fn default_concurrency() -> usize {
    1
}

fn default_max_attempts() -> u32 {
    5
}

fn default_retry_backoff_ms() -> u64 {
    500
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttpTrigger {
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
    route: RawRoute,
    component: String,
    #[serde(default)]
    #[allow(dead_code)]
    executor: Option<toml::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawRoute {
    Path(String),
    Private { private: bool },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    source: RawSource,
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    key_value_stores: Vec<String>,
    #[serde(default)]
    sqlite_databases: Vec<String>,
    /// Not Spin's: refused with a pointer to where it belongs.
    blob_buckets: Option<toml::Value>,
    #[serde(default)]
    variables: BTreeMap<String, String>,
    #[serde(default)]
    environment: BTreeMap<String, String>,
    #[serde(default)]
    files: Vec<toml::Value>,
    #[serde(default)]
    exclude_files: Vec<String>,
    build: Option<BuildDecl>,
    #[serde(default)]
    tool: BTreeMap<String, toml::Table>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawSource {
    Path(String),
    Remote {
        #[allow(dead_code)]
        url: String,
        #[allow(dead_code)]
        digest: String,
    },
}

impl App {
    /// Keeps only components `ids` and their triggers (a selective
    /// deployment: SpinKube's `components`, Spin's `--component-id`).
    pub fn retain_components(&mut self, ids: &[String]) -> anyhow::Result<()> {
        if let Some(unknown) = ids.iter().find(|id| !self.components.contains_key(*id)) {
            anyhow::bail!("--component-id `{unknown}`: the manifest has no such component");
        }
        self.components.retain(|id, _| ids.contains(id));
        self.http_triggers.retain(|t| ids.contains(&t.component));
        self.event_triggers.retain(|t| ids.contains(&t.component));
        self.cron_triggers.retain(|t| ids.contains(&t.component));
        Ok(())
    }

    pub fn load(manifest_path: &Path) -> anyhow::Result<App> {
        let text = std::fs::read_to_string(manifest_path)
            .with_context(|| format!("{}: cannot read manifest", manifest_path.display()))?;
        Self::parse(manifest_path, &text)
            .map_err(|e| anyhow::anyhow!("{}: {}", manifest_path.display(), one_line(&e)))
    }

    pub fn parse(manifest_path: &Path, text: &str) -> anyhow::Result<App> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| toml_error(text, &e))?;
        if let Some(table) = raw.application.tool.get("folio") {
            let _: RawFolioApplication = table
                .clone()
                .try_into()
                .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message().trim()))
                .context("[application.tool.folio]")?;
        }
        if raw.spin_manifest_version != 2 {
            bail!(
                "spin_manifest_version is {}; Folio reads version 2",
                raw.spin_manifest_version
            );
        }
        let root = manifest_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();

        for name in raw.variables.keys() {
            check_variable_name(name).with_context(|| format!("[variables] {name}"))?;
        }
        for (name, decl) in &raw.variables {
            if decl.required && decl.default.is_some() {
                bail!("[variables] {name}: a variable cannot be both required and have a default");
            }
        }

        let mut components = BTreeMap::new();
        for (id, rc) in raw.component {
            let ctx = || format!("[component.{id}]");
            let source = match rc.source {
                RawSource::Path(p) => root.join(p),
                RawSource::Remote { .. } => {
                    bail!("{}: remote sources (url + digest) are not supported", ctx())
                }
            };
            if !rc.files.is_empty() || !rc.exclude_files.is_empty() {
                bail!(
                    "{}: `files` is not supported: components get no filesystem in Folio",
                    ctx()
                );
            }
            if rc.blob_buckets.is_some() {
                bail!(
                    "{}: `blob_buckets` is not a Spin manifest key (Spin refuses the whole manifest); \
                     put it under [component.{id}.tool.folio]",
                    ctx()
                );
            }
            let folio: RawFolioComponent = match rc.tool.get("folio") {
                Some(table) => table
                    .clone()
                    .try_into()
                    .map_err(|e: toml::de::Error| anyhow::anyhow!("{}", e.message().trim()))
                    .with_context(|| format!("[component.{id}.tool.folio]"))?,
                None => RawFolioComponent::default(),
            };
            let folio_ctx = || format!("[component.{id}.tool.folio]");
            for index in &folio.search_indexes {
                check_bucket_name(index)
                    .with_context(|| format!("{}: search_indexes", folio_ctx()))?;
            }
            for bucket in &folio.blob_buckets {
                check_bucket_name(bucket)
                    .with_context(|| format!("{}: blob_buckets", folio_ctx()))?;
            }
            let publishes = TopicGrants::parse(&folio.publishes)
                .map_err(|e| anyhow::anyhow!("{}: publishes: {e}", folio_ctx()))?;
            if folio.max_concurrency == Some(0) {
                bail!("{}: max_concurrency must be at least 1", folio_ctx());
            }
            let mut policy_names = std::collections::BTreeSet::new();
            for rule in &folio.rate_limits {
                rule.check()
                    .map_err(|e| anyhow::anyhow!("{}: rate_limits: {e}", folio_ctx()))?;
                if !policy_names.insert(&rule.name) {
                    bail!(
                        "{}: rate_limits: two policies are named `{}`",
                        folio_ctx(),
                        rule.name
                    );
                }
            }
            let allowed_outbound_hosts = AllowedHosts::parse(&rc.allowed_outbound_hosts)
                .with_context(|| format!("{}: allowed_outbound_hosts", ctx()))?;
            for (var, template) in &rc.variables {
                check_variable_name(var).with_context(|| format!("{}: variables", ctx()))?;
                for referenced in template_references(template)
                    .with_context(|| format!("{}: variables.{var}", ctx()))?
                {
                    if !raw.variables.contains_key(&referenced) {
                        bail!(
                            "{}: variables.{var} refers to `{referenced}`, which [variables] does not declare",
                            ctx()
                        );
                    }
                }
            }
            components.insert(
                id.clone(),
                ComponentDecl {
                    id: id.clone(),
                    source,
                    allowed_outbound_hosts,
                    key_value_stores: rc.key_value_stores,
                    sqlite_databases: rc.sqlite_databases,
                    blob_buckets: folio.blob_buckets,
                    publishes,
                    transcode: folio.transcode,
                    search_indexes: folio.search_indexes,
                    mail: folio.mail,
                    max_concurrency: folio.max_concurrency,
                    rate_limits: folio.rate_limits,
                    variables: rc.variables,
                    environment: rc.environment,
                    build: rc.build,
                },
            );
        }

        let mut http_triggers = Vec::new();
        let mut seen_routes: BTreeMap<String, String> = BTreeMap::new();
        for (i, t) in raw.trigger.http.into_iter().enumerate() {
            if !components.contains_key(&t.component) {
                bail!(
                    "[[trigger.http]] #{}: component `{}` is not defined in [component]",
                    i + 1,
                    t.component
                );
            }
            let route = match t.route {
                RawRoute::Path(p) => {
                    let pattern = RoutePattern::parse(&p)
                        .with_context(|| format!("[[trigger.http]] #{}: route", i + 1))?;
                    if let Some(other) =
                        seen_routes.insert(pattern.canonical(), t.component.clone())
                    {
                        bail!(
                            "[[trigger.http]] #{}: route `{p}` is already served by component `{other}`",
                            i + 1
                        );
                    }
                    Some(pattern)
                }
                RawRoute::Private { private: true } => None,
                RawRoute::Private { private: false } => {
                    bail!(
                        "[[trigger.http]] #{}: route must be a path or {{ private = true }}",
                        i + 1
                    )
                }
            };
            http_triggers.push(HttpTrigger {
                component: t.component,
                route,
            });
        }

        let mut event_triggers = Vec::new();
        for (i, t) in raw.trigger.event.into_iter().enumerate() {
            let ctx = || format!("[[trigger.event]] #{}", i + 1);
            if !components.contains_key(&t.component) {
                bail!(
                    "{}: component `{}` is not defined in [component]",
                    ctx(),
                    t.component
                );
            }
            if t.topics.is_empty() {
                bail!("{}: topics must name at least one topic", ctx());
            }
            for topic in t.topics.iter().chain(&t.dead_letter_topic) {
                check_topic(topic).with_context(ctx)?;
            }
            if t.max_attempts == 0 {
                bail!("{}: max_attempts must be at least 1", ctx());
            }
            if t.timeout_ms == Some(0) {
                bail!("{}: timeout_ms must be at least 1", ctx());
            }
            if !(1..=256).contains(&t.concurrency) {
                bail!("{}: concurrency must be 1 to 256", ctx());
            }
            event_triggers.push(EventTrigger {
                group: t
                    .group
                    .map(|g| g.replace("{host}", &host_id()))
                    .unwrap_or_else(|| t.component.clone()),
                component: t.component,
                topics: t.topics,
                max_attempts: t.max_attempts,
                retry_backoff: std::time::Duration::from_millis(t.retry_backoff_ms),
                dead_letter_topic: t.dead_letter_topic,
                timeout: t.timeout_ms.map(std::time::Duration::from_millis),
                concurrency: t.concurrency,
            });
        }

        let mut cron_triggers = Vec::new();
        for (i, t) in raw.trigger.cron.into_iter().enumerate() {
            let ctx = || format!("[[trigger.cron]] #{} (component `{}`)", i + 1, t.component);
            if !components.contains_key(&t.component) {
                bail!(
                    "{}: component `{}` is not defined in [component]",
                    ctx(),
                    t.component
                );
            }
            let schedule = parse_cron(&t.cron_expression).with_context(ctx)?;
            cron_triggers.push(CronTrigger {
                component: t.component,
                cron_expression: t.cron_expression,
                schedule,
            });
        }

        Ok(App {
            name: raw.application.name,
            version: raw.application.version.unwrap_or_else(|| "0.0.0".into()),
            root,
            manifest_path: manifest_path.to_path_buf(),
            variables: raw.variables,
            components,
            http_triggers,
            event_triggers,
            cron_triggers,
        })
    }

    /// Components that some trigger serves, in manifest order, without repeats.
    pub fn triggered_components(&self) -> Vec<&ComponentDecl> {
        let mut seen = std::collections::HashSet::new();
        self.http_triggers
            .iter()
            .map(|t| &t.component)
            .chain(self.event_triggers.iter().map(|t| &t.component))
            .chain(self.cron_triggers.iter().map(|t| &t.component))
            .filter(|c| seen.insert(c.as_str()))
            .map(|c| &self.components[c])
            .collect()
    }

    pub fn serves_http(&self, component: &str) -> bool {
        self.http_triggers.iter().any(|t| t.component == component)
    }

    pub fn handles_events(&self, component: &str) -> bool {
        self.event_triggers.iter().any(|t| t.component == component)
    }

    pub fn runs_on_schedule(&self, component: &str) -> bool {
        self.cron_triggers.iter().any(|t| t.component == component)
    }
}

/// A cron expression as Spin's cron trigger plugin reads it (the `cron`
/// crate's syntax): six fields starting with seconds, an optional seventh
/// for the year, or a shorthand such as `@hourly`.
pub fn parse_cron(expression: &str) -> anyhow::Result<cron::Schedule> {
    use std::str::FromStr;
    cron::Schedule::from_str(expression).map_err(|e| {
        // The crate's message is the expression, a caret line, then the reason.
        let text = e.to_string();
        let mut reason = text
            .lines()
            .skip_while(|l| !l.trim_start().starts_with('^'))
            .skip(1)
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
            .trim_end_matches('.')
            .to_string();
        let fields = expression.split_whitespace().count();
        if reason.is_empty()
            && !expression.trim_start().starts_with('@')
            && fields != 6
            && fields != 7
        {
            reason = format!("{fields} fields where 6 (or 7, with a year) are expected");
        } else if reason.is_empty() {
            reason = "it does not parse".into();
        }
        anyhow::anyhow!(
            "cron_expression `{expression}` is not valid: {reason}; the fields are \
             second minute hour day-of-month month day-of-week [year], in UTC, e.g. `0 */5 * * * *`"
        )
    })
}

fn check_topic(topic: &str) -> anyhow::Result<()> {
    if !folio_sql::valid_topic(topic) {
        bail!("topic `{topic}` must be 1-249 letters, digits, `.`, `_` or `-`");
    }
    Ok(())
}

fn check_variable_name(name: &str) -> anyhow::Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        bail!(
            "`{name}` is not a valid variable name (lowercase letters, digits and `_`, starting with a letter)"
        );
    }
    Ok(())
}

/// The manifest `reference` names: a manifest file, a directory holding
/// `spin.toml`, or an image reference (what SpinKube's executor passes to
/// `up -f`), which this host cannot pull: it stands for the app baked into
/// the image, `FOLIO_BAKED_APP`, checked against `FOLIO_APP_REFERENCE`
/// when the image names the app it was built with.
pub fn resolve_app_reference(
    reference: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<PathBuf> {
    let path = Path::new(reference);
    if path.is_dir() {
        return Ok(path.join("spin.toml"));
    }
    if path.exists() || !reference.contains([':', '/']) || reference.ends_with(".toml") {
        return Ok(path.to_path_buf());
    }
    let Some(baked) = env("FOLIO_BAKED_APP").filter(|p| Path::new(p).is_file()) else {
        anyhow::bail!(
            "`{reference}` is neither a manifest nor a directory, and this host pulls no \
             images: build the app into the image and set FOLIO_BAKED_APP to its spin.toml"
        );
    };
    if let Some(expected) = env("FOLIO_APP_REFERENCE")
        && expected != reference
    {
        anyhow::bail!(
            "asked to serve `{reference}`, but this image holds `{expected}` (FOLIO_APP_REFERENCE)"
        );
    }
    Ok(PathBuf::from(baked))
}

/// This host's name in `{host}` of a consumer group: `FOLIO_HOST_ID`, or
/// the machine's host name (a pod's name on Kubernetes, stable in a
/// StatefulSet, like the index it keeps on its volume).
pub fn host_id() -> String {
    let raw = std::env::var("FOLIO_HOST_ID")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let id: String = raw
        .trim()
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                true => c,
                false => '_',
            },
        )
        .take(100)
        .collect();
    if id.is_empty() { "folio".into() } else { id }
}

/// Bucket names become directory names on disk and key prefixes on S3.
fn check_bucket_name(name: &str) -> anyhow::Result<()> {
    let ok = (1..=63).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if !ok {
        bail!(
            "`{name}` is not a valid name (1 to 63 lowercase letters, digits, `-` and `_`, starting with a letter or digit)"
        );
    }
    Ok(())
}

/// Names of application variables a component variable template uses: `"{{ name }}"`.
pub fn template_references(template: &str) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("unclosed `{{{{` in `{template}`");
        };
        let name = after[..end].trim();
        check_variable_name(name)?;
        out.push(name.to_string());
        rest = &after[end + 2..];
    }
    Ok(out)
}

/// `line L, column C: message`, instead of toml's multi-line snippet.
pub fn toml_error(text: &str, err: &toml::de::Error) -> anyhow::Error {
    let message = err.message().replace('\n', " ");
    match err.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            anyhow::anyhow!("invalid TOML at line {line}, column {column}: {message}")
        }
        None => anyhow::anyhow!("invalid TOML: {message}"),
    }
}

/// Flattens an error chain into the one line start-up errors promise.
pub fn one_line(err: &anyhow::Error) -> String {
    err.chain()
        .map(|e| e.to_string().replace('\n', " ").trim().to_string())
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
greeting = { default = "hi" }
token = { required = true, secret = true }
[[trigger.http]]
route = "/a/..."
component = "a"
[[trigger.http]]
route = { private = true }
component = "b"
[component.a]
source = "a.wasm"
allowed_outbound_hosts = ["http://127.0.0.1:8080", "http://*.spin.internal"]
variables = { message = "{{ greeting }}, world", secret = "{{ token }}" }
[component.a.build]
command = "cargo build"
[component.b]
source = "b.wasm"
"#;

    #[test]
    fn parses_a_spin_v2_manifest() {
        let app = App::parse(Path::new("dir/spin.toml"), GOOD).unwrap();
        assert_eq!(app.name, "t");
        assert_eq!(app.components["a"].source, Path::new("dir/a.wasm"));
        assert_eq!(app.http_triggers.len(), 2);
        assert!(app.http_triggers[1].route.is_none());
        assert!(app.variables["token"].required);
    }

    #[test]
    fn rejects_unknown_component_in_trigger() {
        let bad = GOOD.replace("component = \"b\"", "component = \"zz\"");
        let err = App::parse(Path::new("spin.toml"), &bad).unwrap_err();
        assert!(
            one_line(&err).contains("component `zz` is not defined"),
            "{err:#}"
        );
    }

    #[test]
    fn rejects_undeclared_template_variable() {
        let bad = GOOD.replace("{{ greeting }}", "{{ nope }}");
        let err = App::parse(Path::new("spin.toml"), &bad).unwrap_err();
        assert!(one_line(&err).contains("`nope`"), "{err:#}");
    }

    #[test]
    fn reads_blob_buckets_and_rejects_names_that_are_not_labels() {
        let with = format!("{GOOD}[component.b.tool.folio]\nblob_buckets = [\"media\"]\n");
        let app = App::parse(Path::new("spin.toml"), &with).unwrap();
        assert_eq!(app.components["b"].blob_buckets, ["media"]);
        for bad in ["../up", "Media", "", "a/b"] {
            let manifest = with.replace("\"media\"", &format!("{bad:?}"));
            let err = App::parse(Path::new("spin.toml"), &manifest).unwrap_err();
            assert!(one_line(&err).contains("blob_buckets"), "{bad}: {err:#}");
        }
    }

    #[test]
    fn folio_settings_live_in_tool_folio_tables() {
        let with = format!(
            "{GOOD}[component.b.tool.folio]\npublishes = [\"folio.media\", \"jobs.*\"]\n\
             transcode = true\nmax_concurrency = 3\n[application.tool.folio]\n"
        );
        let app = App::parse(Path::new("spin.toml"), &with).unwrap();
        let b = &app.components["b"];
        assert!(b.transcode);
        assert_eq!(b.max_concurrency, Some(3));
        assert!(b.publishes.allows("folio.media"));
        assert!(b.publishes.allows("jobs.images"));
        assert!(!b.publishes.allows("folio.media.av-jobs"));
        assert!(!b.publishes.allows("jobsx"));
        let a = &app.components["a"];
        assert!(!a.transcode && !a.publishes.allows("folio.media"));

        let misspelt = with.replace("transcode = true", "transcoding = true");
        let err = App::parse(Path::new("spin.toml"), &misspelt).unwrap_err();
        let line = one_line(&err);
        assert!(line.contains("[component.b.tool.folio]"), "{line}");
        assert!(line.contains("transcoding"), "{line}");

        let old_place = GOOD.replace(
            "[component.b]\nsource = \"b.wasm\"",
            "[component.b]\nsource = \"b.wasm\"\nblob_buckets = [\"media\"]",
        );
        let err = App::parse(Path::new("spin.toml"), &old_place).unwrap_err();
        assert!(
            one_line(&err).contains("[component.b.tool.folio]"),
            "{err:#}"
        );

        let zero = with.replace("max_concurrency = 3", "max_concurrency = 0");
        assert!(App::parse(Path::new("spin.toml"), &zero).is_err());
        let bad_topic = with.replace("jobs.*", "jobs/*");
        assert!(App::parse(Path::new("spin.toml"), &bad_topic).is_err());
    }

    /// Spin's manifest v2 schema: `[application]` and `[component.*]` deny
    /// keys they do not know; `tool` tables are Spin's extension point.
    #[test]
    fn the_repositorys_spin_toml_uses_only_spins_keys_outside_tool_tables() {
        const APPLICATION: &[&str] = &[
            "name",
            "version",
            "description",
            "authors",
            "targets",
            "trigger",
            "tool",
        ];
        const COMPONENT: &[&str] = &[
            "source",
            "description",
            "variables",
            "environment",
            "files",
            "exclude_files",
            "allowed_http_hosts",
            "allowed_outbound_hosts",
            "key_value_stores",
            "sqlite_databases",
            "ai_models",
            "targets",
            "build",
            "tool",
            "dependencies_inherit_configuration",
            "dependencies",
        ];
        const TOP: &[&str] = &[
            "spin_manifest_version",
            "application",
            "variables",
            "trigger",
            "component",
        ];
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../spin.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml::Table = toml::from_str(&text).unwrap();
        let unknown = |table: &toml::Table, known: &[&str], at: &str| -> Vec<String> {
            table
                .keys()
                .filter(|k| !known.contains(&k.as_str()))
                .map(|k| format!("{at}.{k}"))
                .collect()
        };
        let mut found = unknown(&doc, TOP, "");
        found.extend(unknown(
            doc["application"].as_table().unwrap(),
            APPLICATION,
            "application",
        ));
        for (id, component) in doc["component"].as_table().unwrap() {
            found.extend(unknown(
                component.as_table().unwrap(),
                COMPONENT,
                &format!("component.{id}"),
            ));
        }
        assert!(found.is_empty(), "keys Spin refuses: {found:?}");
        App::load(&path).unwrap();
    }

    #[test]
    fn event_triggers_take_a_concurrency() {
        let worker = |extra: &str| {
            format!("{GOOD}\n[[trigger.event]]\ncomponent = \"b\"\ntopics = [\"media\"]\n{extra}")
        };
        let app = App::parse(Path::new("spin.toml"), &worker("")).unwrap();
        assert_eq!(app.event_triggers[0].concurrency, 1);
        let app = App::parse(Path::new("spin.toml"), &worker("concurrency = 8\n")).unwrap();
        assert_eq!(app.event_triggers[0].concurrency, 8);
        for bad in ["concurrency = 0\n", "concurrency = 1000\n"] {
            let err = App::parse(Path::new("spin.toml"), &worker(bad)).unwrap_err();
            assert!(one_line(&err).contains("concurrency"), "{err:#}");
        }
    }

    #[test]
    fn rejects_duplicate_routes() {
        let bad = GOOD.replace("route = { private = true }", "route = \"/a/...\"");
        let err = App::parse(Path::new("spin.toml"), &bad).unwrap_err();
        assert!(one_line(&err).contains("already served"), "{err:#}");
    }

    #[test]
    fn reads_cron_triggers_as_spins_plugin_writes_them() {
        let with = format!(
            "{GOOD}\n[[trigger.cron]]\ncomponent = \"b\"\ncron_expression = \"*/1 * * * * *\"\n"
        );
        let app = App::parse(Path::new("spin.toml"), &with).unwrap();
        assert_eq!(app.cron_triggers.len(), 1);
        assert_eq!(app.cron_triggers[0].component, "b");
        assert_eq!(app.cron_triggers[0].cron_expression, "*/1 * * * * *");
        assert!(app.runs_on_schedule("b"));
        assert_eq!(app.triggered_components().len(), 2);
        let start = chrono::DateTime::parse_from_rfc3339("2026-01-01T00:00:00.500Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let next: Vec<_> = app.cron_triggers[0]
            .schedule
            .after(&start)
            .take(2)
            .map(|t| t.to_rfc3339())
            .collect();
        assert_eq!(
            next,
            ["2026-01-01T00:00:01+00:00", "2026-01-01T00:00:02+00:00"]
        );
    }

    #[test]
    fn rejects_bad_cron_triggers_naming_the_component() {
        let cron = |component: &str, expression: &str| {
            format!(
                "{GOOD}\n[[trigger.cron]]\ncomponent = \"{component}\"\ncron_expression = \"{expression}\"\n"
            )
        };
        let err = App::parse(Path::new("spin.toml"), &cron("zz", "0 * * * * *")).unwrap_err();
        let line = one_line(&err);
        assert!(line.contains("[[trigger.cron]] #1"), "{line}");
        assert!(line.contains("component `zz` is not defined"), "{line}");
        // Five fields (no seconds), words, an out-of-range second.
        for bad in ["*/5 * * * *", "every minute", "61 * * * * *"] {
            let err = App::parse(Path::new("spin.toml"), &cron("b", bad)).unwrap_err();
            let line = one_line(&err);
            assert!(line.contains("component `b`"), "{line}");
            assert!(line.contains(&format!("cron_expression `{bad}`")), "{line}");
            assert!(!line.contains('\n'));
        }
        let missing = format!("{GOOD}\n[[trigger.cron]]\ncomponent = \"b\"\n");
        let err = App::parse(Path::new("spin.toml"), &missing).unwrap_err();
        assert!(one_line(&err).contains("cron_expression"), "{err:#}");
    }

    #[test]
    fn event_triggers_may_set_their_own_timeout_but_not_zero() {
        let worker = |extra: &str| {
            format!("{GOOD}\n[[trigger.event]]\ncomponent = \"b\"\ntopics = [\"media\"]\n{extra}")
        };
        let app = App::parse(Path::new("spin.toml"), &worker("")).unwrap();
        assert_eq!(app.event_triggers[0].timeout, None);
        let app = App::parse(Path::new("spin.toml"), &worker("timeout_ms = 600000\n")).unwrap();
        assert_eq!(
            app.event_triggers[0].timeout,
            Some(std::time::Duration::from_secs(600))
        );
        let err = App::parse(Path::new("spin.toml"), &worker("timeout_ms = 0\n")).unwrap_err();
        let line = one_line(&err);
        assert!(line.contains("[[trigger.event]] #1"), "{line}");
        assert!(line.contains("timeout_ms must be at least 1"), "{line}");
    }

    #[test]
    fn syntax_errors_are_reported_on_one_line() {
        let err = App::parse(
            Path::new("spin.toml"),
            "spin_manifest_version = 2\n[application\n",
        )
        .unwrap_err();
        assert!(!one_line(&err).contains('\n'));
    }
}
