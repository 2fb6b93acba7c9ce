//! The media service's events. `folio.media` carries the catalog events
//! other services consume (`MediaUploaded`, `MediaProcessed`, `MediaDeleted`);
//! the two job topics feed this component's own workers, split so that a
//! long transcode never holds up image processing.

use folio_guest::http::Problem;
use folio_guest::{OutgoingEvent, Transaction};
use serde_json::{Value as Json, json};

use crate::model::Media;
use crate::store::db_error;

pub const TOPIC: &str = "folio.media";
pub const IMAGE_JOBS: &str = "folio.media.image-jobs";
pub const AV_JOBS: &str = "folio.media.av-jobs";

pub const UPLOADED: &str = "folio.media.MediaUploaded";
pub const PROCESSED: &str = "folio.media.MediaProcessed";
pub const DELETED: &str = "folio.media.MediaDeleted";
pub const PROCESS_IMAGE: &str = "folio.media.ProcessImage";
pub const TRANSCODE: &str = "folio.media.Transcode";

pub fn publish(
    tx: &Transaction,
    topic: &str,
    event_type: &str,
    media_id: &str,
    data: Json,
) -> Result<(), Problem> {
    tx.publish(&OutgoingEvent {
        topic: topic.into(),
        type_: event_type.into(),
        key: media_id.to_string(),
        subject: Some(media_id.to_string()),
        datacontenttype: "application/json".into(),
        data: data.to_string().into_bytes(),
    })
    .map_err(db_error)?;
    Ok(())
}

/// `MediaUploaded`, and the job that processes it, with the upload's commit.
pub fn uploaded(tx: &Transaction, m: &Media) -> Result<(), Problem> {
    publish(
        tx,
        TOPIC,
        UPLOADED,
        &m.id,
        json!({
            "id": m.id,
            "ownerId": m.owner_id,
            "kind": m.kind,
            "mime": m.mime,
            "size": m.size,
            "checksum": format!("sha256:{}", m.checksum),
            "width": m.width,
            "height": m.height,
            "durationMs": m.duration_ms,
        }),
    )?;
    let (topic, job) = if m.kind == "image" {
        (IMAGE_JOBS, PROCESS_IMAGE)
    } else {
        (AV_JOBS, TRANSCODE)
    };
    publish(tx, topic, job, &m.id, json!({ "id": m.id }))
}

pub fn processed(tx: &Transaction, m: &Media) -> Result<(), Problem> {
    let item = m.view();
    publish(
        tx,
        TOPIC,
        PROCESSED,
        &m.id,
        json!({
            "id": m.id,
            "ownerId": m.owner_id,
            "kind": m.kind,
            "width": m.width,
            "height": m.height,
            "durationMs": m.duration_ms,
            "renditions": item.renditions,
        }),
    )
}

pub fn deleted(tx: &Transaction, m: &Media) -> Result<(), Problem> {
    publish(
        tx,
        TOPIC,
        DELETED,
        &m.id,
        json!({ "id": m.id, "ownerId": m.owner_id, "kind": m.kind }),
    )
}
