//! A media item as stored and as the API shows it.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use utoipa::ToSchema;

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
    /// Where the original is in the bucket (see [`original_key`]).
    pub original_key: String,
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

/// The original as stored by upload attempt `attempt`: every attempt
/// writes its own object, so concurrent uploads of one id cannot overwrite
/// each other, and the one that commits first names its key in the row.
pub fn original_key(id: &str, attempt: &str) -> String {
    format!("media/{id}/original-{attempt}")
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

    /// The item as the API shows it.
    pub fn view(&self) -> MediaView {
        MediaView {
            id: self.id.clone(),
            owner_id: self.owner_id.clone(),
            kind: self.kind.clone(),
            mime: self.mime.clone(),
            filename: self.filename.clone(),
            size: self.size,
            checksum: format!("sha256:{}", self.checksum),
            width: self.width,
            height: self.height,
            duration_ms: self.duration_ms,
            orientation: self.orientation,
            status: self.status.clone(),
            processing: Processing {
                progress: self.progress,
                attempts: self.attempts,
                error: self.error.clone(),
                cancel_requested: self.cancel_requested,
            },
            renditions: self
                .renditions
                .iter()
                .map(|r| RenditionView {
                    url: format!("/api/v1/media/{}/renditions/{}", self.id, r.name),
                    name: r.name.clone(),
                    mime: r.mime.clone(),
                    size: r.size,
                    width: r.width,
                    height: r.height,
                    duration_ms: r.duration_ms,
                })
                .collect(),
            details: self.details.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
            links: MediaLinks {
                self_: format!("/api/v1/media/{}", self.id),
                content: self.content_url(),
            },
        }
    }
}

/// A media item.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MediaView {
    pub id: String,
    pub owner_id: String,
    /// `image`, `video` or `audio`.
    pub kind: String,
    /// Decided from the bytes, e.g. `image/jpeg`.
    pub mime: String,
    pub filename: String,
    pub size: i64,
    /// `sha256:` and the hex digest of the bytes as uploaded.
    pub checksum: String,
    /// Upright, for images; the video's frame size.
    pub width: Option<i64>,
    pub height: Option<i64>,
    pub duration_ms: Option<i64>,
    /// EXIF orientation (1-8) of an image as uploaded.
    pub orientation: Option<i64>,
    /// `uploaded`, `processing`, `ready` or `failed`.
    pub status: String,
    pub processing: Processing,
    pub renditions: Vec<RenditionView>,
    /// What probing found: format, bit rate, streams with codecs.
    #[schema(value_type = Object)]
    pub details: Json,
    pub created_at: String,
    pub updated_at: String,
    #[serde(rename = "_links")]
    #[schema(rename = "_links")]
    pub links: MediaLinks,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Processing {
    /// 0 to 1 while a transcode runs.
    pub progress: f64,
    pub attempts: i64,
    /// Why the last attempt failed.
    pub error: Option<String>,
    pub cancel_requested: bool,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RenditionView {
    pub name: String,
    pub url: String,
    pub mime: String,
    pub size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub duration_ms: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MediaLinks {
    #[serde(rename = "self")]
    #[schema(rename = "self")]
    pub self_: String,
    pub content: String,
}
