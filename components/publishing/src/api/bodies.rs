//! The shapes of request and answer bodies, for the OpenAPI document. The
//! handlers build their JSON from the domain types; these describe it.
#![allow(dead_code)]

use utoipa::ToSchema;

pub use folio_guest::openapi::ProblemDetails;

/// A channel as written by an admin.
#[derive(ToSchema)]
pub struct ChannelInput {
    pub name: String,
    /// Lowercase letters, digits and dashes; unique. Feeds are served at `/feeds/{slug}.xml|.atom|.json`.
    pub slug: String,
    /// `webhook`, `feed`, `sitemap`, `newsletter`, `http` or `cdn`.
    pub kind: String,
    /// Per kind. webhook: `url`, `events` (content.published, content.updated, content.unpublished), `secret` (whsec_…, generated when absent). feed: `title`, `description`, `language`, `limit`. newsletter: `audience` (followers), `subject`. http: `url`, `method`, `headers` and `body` (templates over `item`, `event`, `secrets`), `contentType`. cdn: `provider` (fastly, cloudflare), `endpoint`, `serviceId` or `zoneId`, `tokenSecret` (a name in the outbound_secrets variable).
    #[schema(value_type = Object)]
    pub config: Option<serde_json::Value>,
    #[schema(inline)]
    pub rules: Option<Rules>,
    #[schema(inline)]
    pub approval: Option<Approval>,
    /// `active` (default) or `paused`.
    pub status: Option<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Rules {
    /// Content types taken (all when empty).
    pub types: Option<Vec<String>>,
    /// Category ids; an item in any of them is taken (all when empty).
    pub categories: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    /// Whether edits of published items are sent (default true).
    pub updates: Option<bool>,
    /// Whether unpublishing is sent (default true).
    pub unpublishes: Option<bool>,
    /// Windows (`{start, end}`, RFC 3339) in which nothing is sent; what falls in one goes when it ends.
    #[schema(value_type = Vec<Object>)]
    pub embargo: Option<Vec<serde_json::Value>>,
    pub delay_seconds: Option<i64>,
    /// `full` (default), `summary` or `link`.
    pub transform: Option<String>,
}

#[derive(ToSchema)]
pub struct Approval {
    /// Approvals needed, 1 to 10.
    pub required: i64,
    /// Whose approvals count: `admin`, `creator`.
    pub roles: Option<Vec<String>>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Channel {
    pub id: String,
    pub name: String,
    pub slug: String,
    pub kind: String,
    #[schema(value_type = Object)]
    pub config: serde_json::Value,
    #[schema(inline)]
    pub rules: Rules,
    #[schema(inline)]
    pub approval: Option<Approval>,
    /// `active`, `paused` or `disabled` (by the service: a 410, or failing for days).
    pub status: String,
    pub status_reason: Option<String>,
    pub owner_id: String,
    pub failing_since: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// A webhook's signing secret, in the answer to its creation only.
    pub secret: Option<String>,
}

#[derive(ToSchema)]
pub struct ChannelList {
    pub items: Vec<Channel>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Secrets {
    /// Live secrets, newest first; more than one during a rotation, each signing.
    pub secrets: Vec<String>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct RotateInput {
    /// How long the old secrets keep signing, 0 to 604800 (default 86400).
    pub overlap_seconds: Option<i64>,
}

#[derive(ToSchema)]
pub struct ReplayInput {
    /// Distributions made from this time (RFC 3339)…
    pub from: String,
    /// …until before this one.
    pub to: String,
}

#[derive(ToSchema)]
pub struct ReplayResult {
    pub replayed: i64,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct Distribution {
    pub id: String,
    pub content_id: String,
    pub channel_id: String,
    pub version: i64,
    /// `publish`, `update` or `unpublish`.
    pub action: String,
    /// `pending`, `awaiting-approval`, `delivering`, `delivered`, `failed`, `retrying` or `cancelled`.
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub delivered_at: Option<String>,
    /// Each attempt: `attempt`, `at`, `statusCode`, `latencyMs`, `response` (first KiB), `error`.
    #[schema(value_type = Vec<Object>)]
    pub attempt_log: Vec<serde_json::Value>,
}

#[derive(ToSchema)]
pub struct DistributionPage {
    pub items: Vec<Distribution>,
    /// Pass as `cursor` for older ones; null on the last page.
    pub next: Option<String>,
}

#[derive(ToSchema)]
pub struct DecisionInput {
    /// `approve` or `reject`.
    pub decision: String,
    pub comment: Option<String>,
}

#[derive(ToSchema)]
pub struct DecisionResult {
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

#[derive(ToSchema)]
pub struct ApprovalQueue {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PreviewLinkInput {
    /// The version to show (default: the current one).
    pub version: Option<i64>,
    /// 60 to 2592000 (default 604800).
    pub expires_in_seconds: Option<i64>,
}

#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
pub struct PreviewLink {
    pub id: String,
    /// Shown once: only a hash is kept.
    pub url: String,
    pub version: i64,
    pub expires_at: String,
}

#[derive(ToSchema)]
pub struct PreviewLinkList {
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
}

/// A private feed key and the feed URLs that carry it.
#[derive(ToSchema)]
pub struct FeedKey {
    /// Shown once: only a hash is kept. A new key revokes the old.
    pub key: String,
    /// Each feed channel: `channel` (its slug), `name`, and its `rss`, `atom`
    /// and `json` URLs with the key.
    #[schema(value_type = Vec<Object>)]
    pub feeds: Vec<serde_json::Value>,
}
