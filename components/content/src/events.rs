//! The content service's events (CloudEvents on topic `folio.content`),
//! written to the outbox in the transaction of the change they announce.

use folio_guest::http::Problem;
use folio_guest::{OutgoingEvent, Transaction};
use serde_json::{Value as Json, json};

use crate::model::Content;
use crate::store::db_error;

pub const TOPIC: &str = "folio.content";

pub fn publish(tx: &Transaction, kind: &str, content_id: &str, data: Json) -> Result<(), Problem> {
    tx.publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: format!("folio.content.{kind}"),
        key: content_id.to_string(),
        subject: Some(content_id.to_string()),
        datacontenttype: "application/json".into(),
        data: data.to_string().into_bytes(),
    })
    .map_err(db_error)?;
    Ok(())
}

/// The item without its body: consumers that need the body fetch it.
pub fn summary(c: &Content) -> Json {
    json!({
        "id": c.id,
        "title": c.title,
        "status": c.status,
        "type": c.kind,
        "authorId": c.author_id,
        "categories": c.categories,
        "tags": c.tags,
        "mediaIds": c.media_ids,
        "publishedAt": c.published_at,
        "requiredTier": c.required_tier,
        "version": c.version,
    })
}
