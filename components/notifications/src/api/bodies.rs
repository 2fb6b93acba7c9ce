//! Request and answer bodies, serialized from these types and documented
//! from the same ones.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

pub use folio_guest::openapi::ProblemDetails;

/// An inbox entry.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxItem {
    pub id: String,
    /// `account`, `editorial`, `following`, `billing` or `product`.
    pub category: String,
    /// The template it was written from.
    pub kind: String,
    pub title: String,
    pub body: String,
    #[schema(required = true)]
    pub link: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true, format = DateTime)]
    pub read_at: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    /// Pass as `cursor` for older entries; null on the last page.
    #[schema(required = true)]
    pub next: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct UnreadCount {
    pub unread: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Updated {
    pub updated: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StreamTicket {
    /// Pass as `?ticket=` to `GET /api/v1/notifications/stream` (an
    /// EventSource cannot send a bearer token).
    pub ticket: String,
    pub expires_in: u64,
}

/// `POST /api/v1/notifications` (admins): to one user or to every user with a role.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct BroadcastRequest {
    pub user_id: Option<String>,
    /// `admin`, `creator` or `consumer`.
    pub role: Option<String>,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// What the notifications are recorded under.
    pub source: String,
}

#[derive(Serialize, ToSchema)]
pub struct VapidPublicKey {
    /// The `applicationServerKey` for `PushManager.subscribe` (base64url, uncompressed P-256 point).
    #[serde(rename = "publicKey")]
    pub public_key: String,
}

/// A browser's `PushSubscription.toJSON()`.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PushSubscriptionRequest {
    pub endpoint: String,
    pub keys: PushKeys,
    pub expiration_time: Option<i64>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PushKeys {
    pub p256dh: String,
    pub auth: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscriptionView {
    pub id: String,
    pub endpoint: String,
    #[schema(required = true)]
    pub user_agent: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PushSubscriptionList {
    pub items: Vec<PushSubscriptionView>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QuietHoursView {
    /// `HH:MM`, local time.
    pub start: String,
    pub end: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreferencesView {
    /// category → channel (`email`, `push`, `inApp`) → on.
    pub channels: BTreeMap<String, BTreeMap<String, bool>>,
    /// The pairs that cannot be turned off, as `category.channel`.
    pub mandatory: Vec<String>,
    #[schema(required = true)]
    pub quiet_hours: Option<QuietHoursView>,
    /// `off`, `daily` or `weekly`.
    pub digest: String,
    /// The user's time zone (from their profile), in which quiet hours and digests run.
    pub time_zone: String,
}

/// Any subset of the preferences; what is left out stays as it is.
#[derive(ToSchema)]
#[schema(rename_all = "camelCase")]
#[allow(dead_code)]
pub struct PreferencesUpdate {
    pub channels: Option<BTreeMap<String, BTreeMap<String, bool>>>,
    /// `{start, end}` as `HH:MM`, or null for none.
    pub quiet_hours: Option<serde_json::Value>,
    pub digest: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FollowView {
    /// `author` or `category`.
    pub kind: String,
    pub id: String,
    #[schema(format = DateTime)]
    pub created_at: String,
}

#[derive(Serialize, ToSchema)]
pub struct FollowList {
    pub items: Vec<FollowView>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct FollowRequest {
    /// `author` or `category`.
    pub kind: String,
    pub id: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    pub key: String,
    pub category: String,
    pub description: String,
    /// Locales an admin wrote a version in.
    pub locales: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TemplateList {
    pub items: Vec<TemplateSummary>,
}

#[derive(Serialize, ToSchema, Clone)]
#[serde(rename_all = "camelCase")]
pub struct TemplateParts {
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StoredTemplate {
    pub locale: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    pub updated_by: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateView {
    pub key: String,
    pub category: String,
    pub description: String,
    /// Sample values of the variables the template gets.
    pub sample_data: serde_json::Value,
    pub built_in: TemplateParts,
    pub locales: Vec<StoredTemplate>,
    /// Locales a version may be written in.
    pub supported_locales: Vec<String>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TemplateUpdate {
    pub locale: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders the stored template (or the parts given here, unsaved) with its
/// sample data, over which `data` is laid.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PreviewRequest {
    pub locale: Option<String>,
    pub data: Option<serde_json::Value>,
    pub subject: Option<String>,
    pub text: Option<String>,
    pub html: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    #[schema(format = DateTime)]
    pub at: String,
    /// `sent`, `failed` or `retry`.
    pub outcome: String,
    pub response: String,
    pub elapsed_ms: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryView {
    pub id: String,
    pub notification_id: String,
    pub user_id: String,
    /// `email` or `push`.
    pub channel: String,
    /// `pending`, `deferred` (quiet hours), `digest`, `sent`, `failed` or `skipped`.
    pub status: String,
    pub attempts: i64,
    #[schema(required = true)]
    pub response: Option<String>,
    #[schema(format = DateTime)]
    pub not_before: String,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(required = true, format = DateTime)]
    pub sent_at: Option<String>,
    pub attempt_log: Vec<Attempt>,
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    #[schema(required = true)]
    pub next: Option<String>,
}
