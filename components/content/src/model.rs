//! A content item, its workflow and who may do what with it.

use folio_auth::jwt::{Claims, Role};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

pub const STATUSES: [&str; 4] = ["draft", "review", "published", "archived"];
pub const KINDS: [&str; 4] = ["article", "video", "gallery", "podcast"];

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Content {
    pub id: String,
    pub title: String,
    pub description: String,
    pub body: String,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    pub media_ids: Vec<String>,
    pub author_id: String,
    pub metadata: Map<String, Json>,
    pub published_at: Option<String>,
    pub scheduled_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<String>,
    /// The paid tier a reader needs for all of it; others get the preview.
    #[serde(default)]
    pub required_tier: Option<String>,
}

impl Content {
    /// A copy to change into the next version: version and `updatedAt` moved on.
    pub fn next_version(&self) -> Content {
        Content {
            updated_at: folio_guest::util::now_rfc3339(),
            version: self.version + 1,
            ..self.clone()
        }
    }

    /// The next version in status `to`; publishing stamps `publishedAt` and
    /// ends any schedule.
    pub fn with_status(&self, to: &str) -> Content {
        let mut next = self.next_version();
        next.status = to.to_string();
        if to == "published" {
            next.published_at = Some(next.updated_at.clone());
            next.scheduled_at = None;
        }
        next
    }

    /// Published and not deleted: what anyone may read, and the cache keeps.
    pub fn is_public(&self) -> bool {
        self.status == "published" && self.deleted_at.is_none()
    }

    /// Whether it needs a tier `caller` may not hold (its author and admins
    /// always read all of it).
    pub fn is_gated_for(&self, caller: &Caller) -> bool {
        self.required_tier.is_some()
            && !caller.is_admin()
            && caller.user_id() != Some(self.author_id.as_str())
    }

    /// What a reader without the tier gets: the title, the description and
    /// the body's first paragraph.
    pub fn preview(&self) -> Content {
        Content {
            body: folio_guest::entitlements::first_paragraph(&self.body).to_string(),
            ..self.clone()
        }
    }

    /// The strong validator of this version, for `ETag` / `If-Match`.
    pub fn etag(&self) -> String {
        format!("\"{}-v{}\"", self.id, self.version)
    }
}

/// The fields a client writes; everything else the service keeps.
#[derive(Clone, Debug)]
pub struct Draft {
    pub title: String,
    pub description: String,
    pub body: String,
    pub kind: String,
    pub categories: Vec<String>,
    pub tags: Vec<String>,
    pub media_ids: Vec<String>,
    pub metadata: Map<String, Json>,
    pub scheduled_at: Option<String>,
    pub required_tier: Option<String>,
}

impl Draft {
    pub fn of(c: &Content) -> Draft {
        Draft {
            title: c.title.clone(),
            description: c.description.clone(),
            body: c.body.clone(),
            kind: c.kind.clone(),
            categories: c.categories.clone(),
            tags: c.tags.clone(),
            media_ids: c.media_ids.clone(),
            metadata: c.metadata.clone(),
            scheduled_at: c.scheduled_at.clone(),
            required_tier: c.required_tier.clone(),
        }
    }
}

/// The caller as far as content is concerned.
pub enum Caller {
    Anonymous,
    User { id: String, role: Role },
}

impl Caller {
    pub fn from_claims(claims: Option<Claims>) -> Caller {
        match claims {
            Some(c) => match c.role() {
                Some(role) => Caller::User { id: c.sub, role },
                None => Caller::Anonymous,
            },
            None => Caller::Anonymous,
        }
    }

    pub fn is_admin(&self) -> bool {
        matches!(
            self,
            Caller::User {
                role: Role::Admin,
                ..
            }
        )
    }

    pub fn user_id(&self) -> Option<&str> {
        match self {
            Caller::User { id, .. } => Some(id),
            Caller::Anonymous => None,
        }
    }

    /// Creators write their own content, admins everything.
    pub fn can_write(&self, c: &Content) -> bool {
        match self {
            Caller::User {
                role: Role::Admin, ..
            } => true,
            Caller::User {
                id,
                role: Role::Creator,
            } => *id == c.author_id,
            _ => false,
        }
    }

    pub fn can_create(&self) -> bool {
        matches!(
            self,
            Caller::User {
                role: Role::Admin | Role::Creator,
                ..
            }
        )
    }

    /// Published content is public; the rest only to its author and admins.
    pub fn can_read(&self, c: &Content) -> bool {
        c.is_public() || self.can_write(c)
    }
}

/// The workflow: which statuses follow which.
pub fn next_statuses(from: &str) -> &'static [&'static str] {
    match from {
        "draft" => &["review"],
        "review" => &["draft", "published"],
        "published" => &["archived"],
        "archived" => &["draft"],
        _ => &[],
    }
}

/// Whether `caller` may move content from `from` to `to` (a step the
/// workflow allows): publishing is an editor's (admin's) decision.
pub fn may_transition(caller: &Caller, content: &Content, to: &str) -> bool {
    if !caller.can_write(content) {
        return false;
    }
    caller.is_admin() || to != "published"
}
