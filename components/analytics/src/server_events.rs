//! Server-side events into the same pipeline: publishes from the content
//! service, sign-ups from the users service. Content events also keep the
//! item's type, category and author, which breakdowns and creators'
//! reports need.

use folio_guest::Value;
use folio_guest::util::parse_rfc3339_ms;
use folio_guest::worker::{Event, HandleError};
use serde_json::Value as Json;

use crate::rollups;
use crate::store::{self, db_error, opt_text};
use crate::track::Tracked;

pub const CONTENT_TOPIC: &str = "folio.content";
pub const USERS_TOPIC: &str = "folio.users";

pub fn content_event(event: &Event) -> Result<(), HandleError> {
    let data: Json = serde_json::from_slice(&event.data).unwrap_or(Json::Null);
    let kind = event.type_.rsplit('.').next().unwrap_or_default();
    let Some(id) = data["id"]
        .as_str()
        .filter(|id| folio_guest::util::is_uuid(id))
    else {
        return Ok(());
    };
    if let Some(content_type) = data["type"].as_str() {
        let category = data["categories"]
            .as_array()
            .and_then(|c| c.first())
            .and_then(Json::as_str)
            .map(str::to_string);
        let db = store::db().map_err(retry)?;
        db.execute(
            "INSERT INTO content_meta (id, title, type, category, author_id) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (id) DO UPDATE SET title = excluded.title, type = excluded.type, \
             category = COALESCE(excluded.category, content_meta.category), \
             author_id = COALESCE(excluded.author_id, content_meta.author_id)",
            &[
                Value::Text(id.to_string()),
                Value::Text(data["title"].as_str().unwrap_or_default().to_string()),
                Value::Text(content_type.to_string()),
                opt_text(&category),
                opt_text(&data["authorId"].as_str().map(str::to_string)),
            ],
        )
        .map_err(|e| retry(db_error(e)))?;
    }
    if kind == "ContentPublished" {
        let tracked = Tracked {
            at: at(event),
            name: "content_published".into(),
            content_id: Some(id.to_string()),
            user_id: data["authorId"].as_str().map(str::to_string),
            ..Tracked::default()
        };
        rollups::take(&event.id, &[tracked], 0).map_err(retry)?;
    }
    Ok(())
}

pub fn users_event(event: &Event) -> Result<(), HandleError> {
    if !event.type_.ends_with(".UserCreated") {
        return Ok(());
    }
    let data: Json = serde_json::from_slice(&event.data).unwrap_or(Json::Null);
    let Some(user_id) = data["user"]["id"].as_str() else {
        return Ok(());
    };
    let tracked = Tracked {
        at: at(event),
        name: "signup".into(),
        user_id: Some(user_id.to_string()),
        ..Tracked::default()
    };
    rollups::take(&event.id, &[tracked], 0).map_err(retry)?;
    Ok(())
}

fn at(event: &Event) -> i64 {
    parse_rfc3339_ms(&event.time).unwrap_or_else(folio_guest::util::now_ms)
}

fn retry(p: folio_guest::http::Problem) -> HandleError {
    HandleError::Retry(p.detail)
}
