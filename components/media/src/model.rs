//! A media item as stored and as the API shows it.

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

pub const KINDS: [&str; 3] = ["image", "video", "audio"];
pub const STATUSES: [&str; 4] = ["uploaded", "processing", "ready", "failed"];

#[derive(Debug, Clone)]
pub struct Media {
    pub id: String,
    pub owner_id: String,
    /// `image`, `video` or `audio`.
    pub kind: String,
    /// Decided by sniffing the bytes, never taken from the client.
    pub mime: String,
    pub filename: String,
    pub size: i64,
    /// SHA-256 (hex) of the bytes as uploaded.
    pub checksum: String,
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    /// EXIF orientation (1-8) of an image as uploaded; width and height are upright.
    pub orientation: Option<i64>,
    pub status: String,
    pub progress: f64,
    pub attempts: i64,
    pub error: Option<String>,
    pub cancel_requested: bool,
    pub renditions: Vec<Rendition>,
    /// What probing found: codecs, frame rate, sample rate, ...
    pub details: Json,
    pub created_at: String,
    pub updated_at: String,
}

/// One derived file (or, for HLS, one tree of files) of a media item.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Rendition {
    /// `thumbnail.jpg`, `720p.mp4`, `hls/master.m3u8`, ...: the path below
    /// `/api/v1/media/{id}/renditions/` and below the item's `r/` prefix.
    pub name: String,
    pub mime: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Other files served below the same name (HLS playlists and segments), relative to `r/`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
}

/// Where a media item's objects live in the `media` bucket: everything of
/// item `id` is below `media/{id}/`, so deleting the prefix removes it all.
pub fn prefix(id: &str) -> String {
    format!("media/{id}/")
}

pub fn original_key(id: &str) -> String {
    format!("media/{id}/original")
}

pub fn rendition_prefix(id: &str) -> String {
    format!("media/{id}/r/")
}

pub fn transform_key(id: &str, spec: &str) -> String {
    format!("media/{id}/t/{spec}")
}

impl Media {
    pub fn is_ready(&self) -> bool {
        self.status == "ready"
    }

    pub fn content_url(&self) -> String {
        format!("/api/v1/media/{}/content", self.id)
    }

    /// The rendition `path` names, or the one whose files include it.
    pub fn rendition_serving(&self, path: &str) -> Option<&Rendition> {
        self.renditions
            .iter()
            .find(|r| r.name == path || r.files.iter().any(|f| f == path))
    }

    pub fn to_json(&self) -> Json {
        let renditions: Vec<Json> = self
            .renditions
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(Rendition {
                    files: Vec::new(),
                    ..r.clone()
                })
                .expect("renditions serialize");
                v["url"] = json!(format!("/api/v1/media/{}/renditions/{}", self.id, r.name));
                v
            })
            .collect();
        json!({
            "id": self.id,
            "ownerId": self.owner_id,
            "kind": self.kind,
            "mime": self.mime,
            "filename": self.filename,
            "size": self.size,
            "checksum": format!("sha256:{}", self.checksum),
            "width": self.width,
            "height": self.height,
            "durationMs": self.duration_ms,
            "orientation": self.orientation,
            "status": self.status,
            "processing": {
                "progress": self.progress,
                "attempts": self.attempts,
                "error": self.error,
                "cancelRequested": self.cancel_requested,
            },
            "renditions": renditions,
            "details": self.details,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "_links": {
                "self": format!("/api/v1/media/{}", self.id),
                "content": self.content_url(),
            },
        })
    }
}
