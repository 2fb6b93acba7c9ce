//! Channels: where published content goes, each with its kind's settings,
//! its rules (what it takes, when, in which shape) and an optional approval
//! policy. Every field is checked here, so a bad one is a 400 naming it.

use folio_guest::columns::{optional_integer, optional_text, text};
use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::{Connection, Transaction, Value};
use serde_json::{Map, Value as Json, json};

use crate::store::db_error;

pub const KINDS: [&str; 6] = ["webhook", "feed", "sitemap", "newsletter", "http", "cdn"];
pub const ACTIONS: [&str; 3] = ["publish", "update", "unpublish"];
const CONTENT_TYPES: [&str; 4] = ["article", "video", "gallery", "podcast"];
const TRANSFORMS: [&str; 3] = ["full", "summary", "link"];
const ROLES: [&str; 2] = ["admin", "creator"];

#[derive(Clone, Debug)]
pub struct Channel {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub config: Map<String, Json>,
    pub rules: Rules,
    pub approval: Option<ApprovalPolicy>,
    pub status: String,
    pub status_reason: Option<String>,
    pub owner_id: String,
    pub failing_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub types: Vec<String>,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    pub updates: bool,
    pub unpublishes: bool,
    pub embargo: Vec<(i64, i64)>,
    pub delay_seconds: i64,
    pub transform: String,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ApprovalPolicy {
    pub required: i64,
    pub roles: Vec<String>,
}

/// What an item looks like to the rules.
pub struct Subject<'a> {
    pub kind: &'a str,
    pub categories: &'a [String],
    pub tags: &'a [String],
}

impl Rules {
    pub fn takes(&self, item: &Subject, action: &str) -> bool {
        let listed = |allowed: &[String], values: &[String]| {
            allowed.is_empty() || values.iter().any(|v| allowed.contains(v))
        };
        let action_ok = match action {
            "update" => self.updates,
            "unpublish" => self.unpublishes,
            _ => true,
        };
        action_ok
            && (self.types.is_empty() || self.types.iter().any(|t| t == item.kind))
            && listed(&self.categories, item.categories)
            && listed(&self.tags, item.tags)
    }

    /// The first moment a distribution made at `now` may go: after the
    /// delay, and outside every embargo window (windows may chain).
    pub fn not_before(&self, now: i64) -> i64 {
        let mut at = now + self.delay_seconds * 1000;
        loop {
            let inside = self
                .embargo
                .iter()
                .find(|(start, end)| *start <= at && at < *end);
            match inside {
                Some((_, end)) => at = *end,
                None => return at,
            }
        }
    }

    fn to_json(&self) -> Json {
        let windows: Vec<Json> = self
            .embargo
            .iter()
            .map(|(s, e)| json!({"start": folio_guest::util::rfc3339(*s), "end": folio_guest::util::rfc3339(*e)}))
            .collect();
        json!({
            "types": self.types,
            "categories": self.categories,
            "tags": self.tags,
            "updates": self.updates,
            "unpublishes": self.unpublishes,
            "embargo": windows,
            "delaySeconds": self.delay_seconds,
            "transform": self.transform,
        })
    }
}

impl Channel {
    pub fn to_json(&self) -> Json {
        let mut config = self.config.clone();
        // Secrets are never echoed; webhook secrets have their own route.
        config.remove("secret");
        json!({
            "id": self.id,
            "slug": self.slug,
            "name": self.name,
            "kind": self.kind,
            "config": config,
            "rules": self.rules.to_json(),
            "approval": self.approval.as_ref().map(|p| json!({"required": p.required, "roles": p.roles})),
            "status": self.status,
            "statusReason": self.status_reason,
            "ownerId": self.owner_id,
            "failingSince": self.failing_since.map(folio_guest::util::rfc3339),
            "createdAt": folio_guest::util::rfc3339(self.created_at),
            "updatedAt": folio_guest::util::rfc3339(self.updated_at),
            "feedUrls": self.feed_paths(),
        })
    }

    /// Where a feed or sitemap channel is read.
    fn feed_paths(&self) -> Json {
        match self.kind.as_str() {
            "feed" => json!({
                "rss": format!("/feeds/{}.xml", self.slug),
                "atom": format!("/feeds/{}.atom", self.slug),
                "json": format!("/feeds/{}.json", self.slug),
            }),
            "sitemap" => json!({ "sitemap": "/sitemap.xml" }),
            _ => Json::Null,
        }
    }

    pub fn config_str(&self, name: &str) -> Option<&str> {
        self.config
            .get(name)
            .and_then(Json::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Webhooks: the event types (`content.published`, …) it was asked for.
    pub fn wants_event(&self, event_type: &str) -> bool {
        match self.config.get("events").and_then(Json::as_array) {
            Some(events) if !events.is_empty() => {
                events.iter().any(|e| e.as_str() == Some(event_type))
            }
            _ => true,
        }
    }
}

/// `content.published` etc.: the event type a distribution's action sends.
pub fn event_type(action: &str) -> &'static str {
    match action {
        "update" => "content.updated",
        "unpublish" => "content.unpublished",
        _ => "content.published",
    }
}

/// The fields a create or replace writes, checked.
pub struct ChannelInput {
    pub slug: String,
    pub name: String,
    pub kind: String,
    pub config: Map<String, Json>,
    pub rules: Rules,
    pub approval: Option<ApprovalPolicy>,
    pub status: Option<String>,
}

pub fn parse_input(
    body: &Map<String, Json>,
    allow_insecure: bool,
) -> Result<ChannelInput, Problem> {
    const KNOWN: [&str; 7] = [
        "name", "slug", "kind", "config", "rules", "approval", "status",
    ];
    if let Some(unknown) = body.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Problem::invalid_field(unknown, "is not a channel field"));
    }
    let name = required_text(body, "name", 200)?;
    let slug = required_text(body, "slug", 64)?;
    if !slug
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        || slug.starts_with('-')
    {
        return Err(Problem::invalid_field(
            "slug",
            "must be lowercase letters, digits and dashes",
        ));
    }
    let kind = required_text(body, "kind", 20)?;
    if !KINDS.contains(&kind.as_str()) {
        return Err(Problem::invalid_field(
            "kind",
            format!("must be one of {}", KINDS.join(", ")),
        ));
    }
    let config = match body.get("config") {
        None | Some(Json::Null) => Map::new(),
        Some(Json::Object(m)) => m.clone(),
        Some(_) => return Err(Problem::invalid_field("config", "must be an object")),
    };
    let config = check_config(&kind, config, allow_insecure)?;
    let rules = parse_rules(body.get("rules"))?;
    let approval = parse_approval(body.get("approval"))?;
    let status = match body.get("status") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) if s == "active" || s == "paused" => Some(s.clone()),
        Some(_) => {
            return Err(Problem::invalid_field("status", "must be active or paused"));
        }
    };
    Ok(ChannelInput {
        slug,
        name,
        kind,
        config,
        rules,
        approval,
        status,
    })
}

fn required_text(body: &Map<String, Json>, field: &str, max: usize) -> Result<String, Problem> {
    match body.get(field) {
        Some(Json::String(s)) if !s.trim().is_empty() && s.chars().count() <= max => {
            Ok(s.trim().to_string())
        }
        Some(Json::String(_)) => Err(Problem::invalid_field(
            field,
            format!("must be 1 to {max} characters"),
        )),
        None | Some(Json::Null) => Err(Problem::invalid_field(field, "is required")),
        Some(_) => Err(Problem::invalid_field(field, "must be a string")),
    }
}

/// An endpoint URL: absolute http(s), no credentials, no fragment.
pub fn check_endpoint(field: &str, url: &str, allow_insecure: bool) -> Result<(), Problem> {
    let rest = if let Some(rest) = url.strip_prefix("https://") {
        rest
    } else if let Some(rest) = url.strip_prefix("http://") {
        if !allow_insecure {
            return Err(Problem::invalid_field(field, "must be an https:// URL"));
        }
        rest
    } else {
        return Err(Problem::invalid_field(
            field,
            "must be an absolute https:// URL",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty()
        || authority.contains('@')
        || url.contains('#')
        || url.len() > 2000
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Problem::invalid_field(
            field,
            "must name a host, without credentials, fragment or spaces",
        ));
    }
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(host, _)| host)
        .trim_end_matches('.')
        .to_ascii_lowercase();
    if host.ends_with(".spin.internal") || host == "spin.internal" {
        return Err(Problem::invalid_field(
            field,
            "must not name one of this platform's own services",
        ));
    }
    Ok(())
}

fn config_field<'a>(config: &'a Map<String, Json>, name: &str) -> Result<Option<&'a str>, Problem> {
    match config.get(name) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(Problem::invalid_field(
            &format!("config.{name}"),
            "must be a string",
        )),
    }
}

fn check_config(
    kind: &str,
    mut config: Map<String, Json>,
    allow_insecure: bool,
) -> Result<Map<String, Json>, Problem> {
    let known: &[&str] = match kind {
        "webhook" => &["url", "events", "secret"],
        "feed" => &["title", "description", "language", "limit"],
        "sitemap" => &[],
        "newsletter" => &["audience", "subject"],
        "http" => &["url", "method", "headers", "body", "contentType"],
        "cdn" => &["provider", "endpoint", "serviceId", "zoneId", "tokenSecret"],
        _ => &[],
    };
    if let Some(unknown) = config.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(Problem::invalid_field(
            &format!("config.{unknown}"),
            format!("is not a setting of a {kind} channel"),
        ));
    }
    match kind {
        "webhook" => {
            let url = config_field(&config, "url")?
                .ok_or_else(|| Problem::invalid_field("config.url", "is required"))?;
            check_endpoint("config.url", url, allow_insecure)?;
            if let Some(events) = config.get("events") {
                let list = events.as_array().ok_or_else(|| {
                    Problem::invalid_field("config.events", "must be a list of event types")
                })?;
                for e in list {
                    let ok = e
                        .as_str()
                        .is_some_and(|e| ACTIONS.iter().any(|a| event_type(a) == e));
                    if !ok {
                        return Err(Problem::invalid_field(
                            "config.events",
                            "may list content.published, content.updated, content.unpublished",
                        ));
                    }
                }
            }
            if let Some(secret) = config_field(&config, "secret")? {
                crate::webhooks::secret_key(secret).ok_or_else(|| {
                    Problem::invalid_field(
                        "config.secret",
                        "must be whsec_ followed by 24 to 64 bytes in base64",
                    )
                })?;
            }
        }
        "feed" => {
            for field in ["title", "description", "language"] {
                if let Some(v) = config_field(&config, field)?
                    && v.chars().count() > 500
                {
                    return Err(Problem::invalid_field(
                        &format!("config.{field}"),
                        "must be at most 500 characters",
                    ));
                }
            }
            match config.get("limit") {
                None | Some(Json::Null) => {
                    config.insert("limit".into(), json!(50));
                }
                Some(v) if v.as_i64().is_some_and(|n| (1..=500).contains(&n)) => {}
                Some(_) => {
                    return Err(Problem::invalid_field(
                        "config.limit",
                        "must be a whole number from 1 to 500",
                    ));
                }
            }
        }
        "newsletter" => {
            match config_field(&config, "audience")? {
                None => {
                    config.insert("audience".into(), json!("followers"));
                }
                Some("followers") => {}
                Some(_) => {
                    return Err(Problem::invalid_field(
                        "config.audience",
                        "must be followers (the author's followers)",
                    ));
                }
            }
            if let Some(s) = config_field(&config, "subject")?
                && s.chars().count() > 200
            {
                return Err(Problem::invalid_field(
                    "config.subject",
                    "must be at most 200 characters",
                ));
            }
        }
        "http" => {
            let url = config_field(&config, "url")?
                .ok_or_else(|| Problem::invalid_field("config.url", "is required"))?;
            check_endpoint("config.url", url, allow_insecure)?;
            match config_field(&config, "method")? {
                None => {
                    config.insert("method".into(), json!("POST"));
                }
                Some("POST" | "PUT" | "PATCH") => {}
                Some(_) => {
                    return Err(Problem::invalid_field(
                        "config.method",
                        "must be POST, PUT or PATCH",
                    ));
                }
            }
            if config_field(&config, "contentType")?.is_none() {
                config.insert("contentType".into(), json!("application/json"));
            }
            let body = config_field(&config, "body")?
                .ok_or_else(|| Problem::invalid_field("config.body", "is required (a template)"))?;
            crate::templates::check("config.body", body)?;
            match config.get("headers") {
                None | Some(Json::Null) => {}
                Some(Json::Object(headers)) => {
                    for (name, value) in headers {
                        let field = format!("config.headers.{name}");
                        let valid_name = !name.is_empty()
                            && name
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b));
                        let reserved =
                            ["host", "content-length", "transfer-encoding", "connection"]
                                .contains(&name.to_ascii_lowercase().as_str());
                        let template = value.as_str().ok_or_else(|| {
                            Problem::invalid_field(&field, "must be a string (a template)")
                        })?;
                        if !valid_name || reserved {
                            return Err(Problem::invalid_field(
                                &field,
                                "is not a header name a channel may set",
                            ));
                        }
                        crate::templates::check(&field, template)?;
                    }
                }
                Some(_) => {
                    return Err(Problem::invalid_field(
                        "config.headers",
                        "must be an object of header templates",
                    ));
                }
            }
        }
        "cdn" => {
            let provider = config_field(&config, "provider")?.unwrap_or_default();
            let (id_field, default_endpoint) = match provider {
                "fastly" => ("serviceId", "https://api.fastly.com"),
                "cloudflare" => ("zoneId", "https://api.cloudflare.com"),
                _ => {
                    return Err(Problem::invalid_field(
                        "config.provider",
                        "must be fastly or cloudflare",
                    ));
                }
            };
            let id = config_field(&config, id_field)?.unwrap_or_default();
            if id.is_empty()
                || !id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(Problem::invalid_field(
                    &format!("config.{id_field}"),
                    format!("is required for {provider}: letters, digits, - and _"),
                ));
            }
            match config_field(&config, "endpoint")? {
                None => {
                    config.insert("endpoint".into(), json!(default_endpoint));
                }
                Some(url) => check_endpoint("config.endpoint", url, allow_insecure)?,
            }
            if config_field(&config, "tokenSecret")?.is_none_or(str::is_empty) {
                return Err(Problem::invalid_field(
                    "config.tokenSecret",
                    "is required: the name of the API token in the outbound_secrets variable",
                ));
            }
        }
        _ => {}
    }
    Ok(config)
}

fn string_list(value: Option<&Json>, field: &str) -> Result<Vec<String>, Problem> {
    match value {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) if items.len() <= 100 => items
            .iter()
            .map(|v| match v.as_str() {
                Some(s) if !s.is_empty() && s.len() <= 200 => Ok(s.to_string()),
                _ => Err(Problem::invalid_field(field, "must hold non-empty strings")),
            })
            .collect(),
        Some(_) => Err(Problem::invalid_field(
            field,
            "must be a list of at most 100 strings",
        )),
    }
}

fn parse_rules(value: Option<&Json>) -> Result<Rules, Problem> {
    let empty = Map::new();
    let rules = match value {
        None | Some(Json::Null) => &empty,
        Some(Json::Object(m)) => m,
        Some(_) => return Err(Problem::invalid_field("rules", "must be an object")),
    };
    const KNOWN: [&str; 8] = [
        "types",
        "categories",
        "tags",
        "updates",
        "unpublishes",
        "embargo",
        "delaySeconds",
        "transform",
    ];
    if let Some(unknown) = rules.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(Problem::invalid_field(
            &format!("rules.{unknown}"),
            "is not a rule",
        ));
    }
    let types = string_list(rules.get("types"), "rules.types")?;
    if let Some(bad) = types.iter().find(|t| !CONTENT_TYPES.contains(&t.as_str())) {
        return Err(Problem::invalid_field(
            "rules.types",
            format!(
                "`{bad}` is not a content type ({})",
                CONTENT_TYPES.join(", ")
            ),
        ));
    }
    let flag = |name: &str| match rules.get(name) {
        None | Some(Json::Null) => Ok(true),
        Some(Json::Bool(b)) => Ok(*b),
        Some(_) => Err(Problem::invalid_field(
            &format!("rules.{name}"),
            "must be true or false",
        )),
    };
    let mut embargo = Vec::new();
    match rules.get("embargo") {
        None | Some(Json::Null) => {}
        Some(Json::Array(windows)) if windows.len() <= 50 => {
            for w in windows {
                let time = |name: &str| {
                    w.get(name)
                        .and_then(Json::as_str)
                        .and_then(crate::store::parse_time)
                        .ok_or_else(|| {
                            Problem::invalid_field(
                                "rules.embargo",
                                "each window is {start, end}, RFC 3339 times",
                            )
                        })
                };
                let (start, end) = (time("start")?, time("end")?);
                if end <= start {
                    return Err(Problem::invalid_field(
                        "rules.embargo",
                        "a window must end after it starts",
                    ));
                }
                embargo.push((start, end));
            }
        }
        Some(_) => {
            return Err(Problem::invalid_field(
                "rules.embargo",
                "must be a list of at most 50 {start, end} windows",
            ));
        }
    }
    let delay_seconds = match rules.get("delaySeconds") {
        None | Some(Json::Null) => 0,
        Some(v) => v
            .as_i64()
            .filter(|n| (0..=30 * 86400).contains(n))
            .ok_or_else(|| {
                Problem::invalid_field("rules.delaySeconds", "must be 0 to 2592000 seconds")
            })?,
    };
    let transform = match rules.get("transform") {
        None | Some(Json::Null) => "full".to_string(),
        Some(Json::String(t)) if TRANSFORMS.contains(&t.as_str()) => t.clone(),
        Some(_) => {
            return Err(Problem::invalid_field(
                "rules.transform",
                "must be full, summary or link",
            ));
        }
    };
    Ok(Rules {
        types,
        categories: string_list(rules.get("categories"), "rules.categories")?,
        tags: string_list(rules.get("tags"), "rules.tags")?,
        updates: flag("updates")?,
        unpublishes: flag("unpublishes")?,
        embargo,
        delay_seconds,
        transform,
    })
}

fn parse_approval(value: Option<&Json>) -> Result<Option<ApprovalPolicy>, Problem> {
    let policy = match value {
        None | Some(Json::Null) => return Ok(None),
        Some(Json::Object(m)) => m,
        Some(_) => {
            return Err(Problem::invalid_field(
                "approval",
                "must be {required, roles} or null",
            ));
        }
    };
    if let Some(unknown) = policy
        .keys()
        .find(|k| !["required", "roles"].contains(&k.as_str()))
    {
        return Err(Problem::invalid_field(
            &format!("approval.{unknown}"),
            "is not an approval setting",
        ));
    }
    let required = policy
        .get("required")
        .and_then(Json::as_i64)
        .filter(|n| (1..=10).contains(n))
        .ok_or_else(|| Problem::invalid_field("approval.required", "must be 1 to 10"))?;
    let mut roles = string_list(policy.get("roles"), "approval.roles")?;
    if roles.is_empty() {
        roles.push("admin".into());
    }
    if let Some(bad) = roles.iter().find(|r| !ROLES.contains(&r.as_str())) {
        return Err(Problem::invalid_field(
            "approval.roles",
            format!("`{bad}` cannot approve (admin, creator)"),
        ));
    }
    Ok(Some(ApprovalPolicy { required, roles }))
}

const COLUMNS: &str = "id, slug, name, kind, config, rules, approval, status, status_reason, \
    owner_id, failing_since, created_at, updated_at";

fn from_row(r: &[Value]) -> Channel {
    let object =
        |v: &Value| -> Map<String, Json> { serde_json::from_str(&text(v)).unwrap_or_default() };
    let rules_json = serde_json::from_str::<Json>(&text(&r[5])).unwrap_or(Json::Null);
    let approval_json = optional_text(&r[6]).and_then(|t| serde_json::from_str::<Json>(&t).ok());
    Channel {
        id: text(&r[0]),
        slug: text(&r[1]),
        name: text(&r[2]),
        kind: text(&r[3]),
        config: object(&r[4]),
        rules: parse_rules(Some(&rules_json)).unwrap_or_else(|_| default_rules()),
        approval: parse_approval(approval_json.as_ref()).ok().flatten(),
        status: text(&r[7]),
        status_reason: optional_text(&r[8]),
        owner_id: text(&r[9]),
        failing_since: optional_integer(&r[10]),
        created_at: optional_integer(&r[11]).unwrap_or_default(),
        updated_at: optional_integer(&r[12]).unwrap_or_default(),
    }
}

fn default_rules() -> Rules {
    parse_rules(None).expect("empty rules are valid")
}

fn stored_rules(rules: &Rules) -> String {
    // Stored in the shape a client writes, so one parser reads both.
    let mut json = rules.to_json();
    json["embargo"] = Json::Array(
        rules
            .embargo
            .iter()
            .map(|(s, e)| {
                json!({"start": folio_guest::util::rfc3339(*s), "end": folio_guest::util::rfc3339(*e)})
            })
            .collect(),
    );
    json.to_string()
}

fn approval_text(policy: &Option<ApprovalPolicy>) -> Value {
    match policy {
        Some(p) => Value::Text(json!({"required": p.required, "roles": p.roles}).to_string()),
        None => Value::Null,
    }
}

pub fn get(db: &Connection, id: &str) -> Result<Option<Channel>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM channels WHERE id = $1"),
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub fn by_slug(db: &Connection, slug: &str) -> Result<Option<Channel>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM channels WHERE slug = $1"),
            &[Value::Text(slug.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

/// The channels with these ids (a delivery batch's), in one query.
pub fn by_ids(db: &Connection, ids: &[String]) -> Result<Vec<Channel>, Problem> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (list, params) = folio_guest::columns::text_in_list(ids);
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM channels WHERE id IN ({list})"),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

/// Every channel, oldest first (an admin has tens, not thousands).
pub fn all(db: &Connection) -> Result<Vec<Channel>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM channels ORDER BY created_at, id"),
            &[],
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

pub fn active_in(tx: &Transaction) -> Result<Vec<Channel>, Problem> {
    let rows = tx
        .query(
            &format!(
                "SELECT {COLUMNS} FROM channels WHERE status = 'active' ORDER BY created_at, id"
            ),
            &[],
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}

pub fn insert(
    tx: &Transaction,
    id: &str,
    input: &ChannelInput,
    owner: &str,
) -> Result<(), Problem> {
    let now = now_ms();
    tx.execute(
        "INSERT INTO channels (id, slug, name, kind, config, rules, approval, status, owner_id, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        &[
            Value::Text(id.to_string()),
            Value::Text(input.slug.clone()),
            Value::Text(input.name.clone()),
            Value::Text(input.kind.clone()),
            Value::Text(Json::Object(without_secret(&input.config)).to_string()),
            Value::Text(stored_rules(&input.rules)),
            approval_text(&input.approval),
            Value::Text(input.status.clone().unwrap_or_else(|| "active".into())),
            Value::Text(owner.to_string()),
            Value::Integer(now),
        ],
    )
    .map_err(unique_slug)?;
    Ok(())
}

pub fn replace(tx: &Transaction, id: &str, input: &ChannelInput) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "UPDATE channels SET slug = $2, name = $3, kind = $4, config = $5, rules = $6, \
             approval = $7, status = COALESCE($8, status), \
             status_reason = CASE WHEN $8 IS NULL THEN status_reason ELSE NULL END, \
             failing_since = CASE WHEN $8 = 'active' THEN NULL ELSE failing_since END, \
             updated_at = $9 WHERE id = $1",
            &[
                Value::Text(id.to_string()),
                Value::Text(input.slug.clone()),
                Value::Text(input.name.clone()),
                Value::Text(input.kind.clone()),
                Value::Text(Json::Object(without_secret(&input.config)).to_string()),
                Value::Text(stored_rules(&input.rules)),
                approval_text(&input.approval),
                input.status.clone().map(Value::Text).unwrap_or(Value::Null),
                Value::Integer(now_ms()),
            ],
        )
        .map_err(unique_slug)?;
    Ok(changed == 1)
}

fn without_secret(config: &Map<String, Json>) -> Map<String, Json> {
    let mut config = config.clone();
    config.remove("secret");
    config
}

fn unique_slug(e: folio_guest::SqlError) -> Problem {
    match e {
        folio_guest::SqlError::ConstraintViolation(_) => Problem {
            status: 409,
            ..Problem::invalid_field("slug", "is taken by another channel")
        },
        other => db_error(other),
    }
}

/// Turns a channel off for good (until an admin turns it on), cancelling
/// what it still had to send.
pub fn disable(tx: &Transaction, id: &str, reason: &str) -> Result<bool, Problem> {
    let now = now_ms();
    let changed = tx
        .execute(
            "UPDATE channels SET status = 'disabled', status_reason = $2, updated_at = $3 \
             WHERE id = $1 AND status <> 'disabled'",
            &[
                Value::Text(id.to_string()),
                Value::Text(reason.to_string()),
                Value::Integer(now),
            ],
        )
        .map_err(db_error)?;
    tx.execute(
        "UPDATE distributions SET status = 'cancelled', reason = $2, updated_at = $3, claim = NULL \
         WHERE channel_id = $1 AND status IN ('pending', 'awaiting-approval', 'retrying')",
        &[
            Value::Text(id.to_string()),
            Value::Text(format!("channel disabled: {reason}")),
            Value::Integer(now),
        ],
    )
    .map_err(db_error)?;
    Ok(changed == 1)
}
