//! The OpenAPI 3.1 document of this service, generated from the handlers'
//! `#[utoipa::path]` annotations and the types their answers serialize;
//! served at `GET /api/v1/openapi/media.json`.

#![allow(dead_code)]

use folio_guest::openapi::BearerAuth;
use spin_sdk::http::Response;
use utoipa::{OpenApi, ToSchema};

use crate::{api, delivery, resumable};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Folio media service",
        description = "Uploads (streamed, multipart, tus 1.0 resumable) whose type is read from their bytes; images processed into renditions, audio and video transcoded by ffmpeg; delivery with byte ranges, validators and image transforms. Ready items are public; uploads need a creator's or admin's bearer token. Errors are RFC 9457 problem details."
    ),
    paths(
        api::upload_form,
        api::list,
        api::upload_raw,
        api::get,
        api::batch,
        api::delete,
        api::cancel,
        delivery::content,
        delivery::rendition,
        resumable::create,
        resumable::offset,
        resumable::state,
        resumable::append,
        resumable::terminate,
    ),
    modifiers(&BearerAuth)
)]
pub struct MediaApi;

pub use folio_guest::openapi::ProblemDetails;

/// `multipart/form-data` with the file in `file`; other fields are ignored.
#[derive(ToSchema)]
pub struct UploadForm {
    #[schema(value_type = String, format = Binary)]
    pub file: Vec<u8>,
}

pub fn document() -> Response {
    folio_guest::openapi::served(MediaApi::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_described_in_openapi_3_1() {
        let doc: serde_json::Value =
            serde_json::from_str(&MediaApi::openapi().to_json().unwrap()).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let paths = doc["paths"].as_object().unwrap();
        for (path, methods) in [
            ("/api/v1/media", &["get", "post"][..]),
            ("/api/v1/media/{id}", &["get", "put", "delete"]),
            ("/api/v1/media/{id}/cancel", &["post"]),
            ("/api/v1/media/batch", &["get"]),
            ("/api/v1/media/{id}/content", &["get"]),
            ("/api/v1/media/{id}/renditions/{name}", &["get"]),
            ("/api/v1/media/uploads", &["post"]),
            (
                "/api/v1/media/uploads/{upload}",
                &["head", "get", "patch", "delete"],
            ),
        ] {
            for method in methods {
                assert!(
                    paths[path][method].is_object(),
                    "{method} {path} is not described"
                );
            }
        }
    }

    /// The documented item is what the API serializes: every documented
    /// property is in the JSON and every JSON key is documented.
    #[test]
    fn the_item_schema_matches_its_serialization() {
        let doc: serde_json::Value =
            serde_json::from_str(&MediaApi::openapi().to_json().unwrap()).unwrap();
        let schema = &doc["components"]["schemas"]["MediaView"]["properties"];
        let item = crate::model::Media {
            id: "00000000-0000-4000-8000-000000000000".into(),
            owner_id: "u".into(),
            kind: "image".into(),
            mime: "image/png".into(),
            filename: "a.png".into(),
            size: 1,
            checksum: "00".into(),
            original_key: "media/00000000-0000-4000-8000-000000000000/original-a".into(),
            width: None,
            height: None,
            duration_ms: None,
            orientation: None,
            status: "ready".into(),
            progress: 1.0,
            attempts: 1,
            error: None,
            cancel_requested: false,
            renditions: Vec::new(),
            details: serde_json::json!({}),
            created_at: "2026-12-01T00:00:00.000Z".into(),
            updated_at: "2026-12-01T00:00:00.000Z".into(),
        };
        let json = serde_json::to_value(item.view()).unwrap();
        let documented: Vec<&String> = schema.as_object().unwrap().keys().collect();
        let serialized: Vec<&String> = json.as_object().unwrap().keys().collect();
        let mut documented = documented;
        let mut serialized = serialized;
        documented.sort();
        serialized.sort();
        assert_eq!(documented, serialized);
    }
}
