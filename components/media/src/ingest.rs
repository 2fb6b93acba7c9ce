//! Taking in an upload, from whichever source: the type is sniffed from the
//! first bytes, the bytes stream into storage while they are counted and
//! hashed, the stored file is checked (decoded, or probed by ffprobe), and
//! only then is the item recorded — with `MediaUploaded` in the same commit.
//! Whatever is refused leaves nothing in storage.

use folio_guest::blobs::{Bucket, Upload};
use folio_guest::http::Problem;
use folio_guest::transcode::{self, MediaInfo};
use folio_guest::util::{new_id, now_ms, now_rfc3339, rfc3339};
use folio_imaging::{ImageError, MediaKind, Sniffed};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use crate::model::{Media, original_key};
use crate::settings::Settings;
use crate::wire::{ByteSource, CHUNK, SourceError};
use crate::{events, storage, store};

/// The form field, and the name problems use for the uploaded file.
pub const FILE_FIELD: &str = "file";
/// Bytes read before deciding the type.
const SNIFF_BYTES: usize = 4096;

pub struct NewUpload {
    pub media_id: String,
    pub owner_id: String,
    pub filename: String,
    /// What the client announced (Content-Length, Upload-Length), if anything.
    pub declared_length: Option<u64>,
    /// The resumable upload this completes: marked complete in the commit
    /// that records the item.
    pub completes: Option<String>,
}

pub fn ingest(
    source: &mut dyn ByteSource,
    new: NewUpload,
    settings: &Settings,
) -> Result<Media, SourceError> {
    if new
        .declared_length
        .is_some_and(|length| length > settings.max_upload_bytes)
    {
        return Err(too_large(settings.max_upload_bytes).into());
    }
    let mut head = Vec::new();
    let mut ended = false;
    while head.len() < SNIFF_BYTES && !ended {
        match source.next_chunk(SNIFF_BYTES - head.len())? {
            Some(bytes) => head.extend_from_slice(&bytes),
            None => ended = true,
        }
    }
    if head.is_empty() {
        return Err(Problem::invalid_field(FILE_FIELD, "is empty").into());
    }
    let sniffed = folio_imaging::sniff(&head).ok_or_else(|| unsupported(&head))?;
    let bucket = storage::bucket()?;
    let attempt = Attempt::new(&new.media_id);
    store::begin_ingest(&store::open()?, &attempt.id, &new.media_id, &attempt.key)?;
    let result = store_and_record(source, head, &bucket, &attempt, &sniffed, new, settings);
    if result.is_err() {
        storage::delete_quietly(&bucket, &attempt.key);
        // Left behind if this fails too: the sweeper ends it after the expiry.
        let _ = store::open().and_then(|conn| store::forget_ingest(&conn, &attempt.id));
    }
    result
}

/// One try at taking in an upload, and the object it stores the original in.
struct Attempt {
    id: String,
    key: String,
}

impl Attempt {
    fn new(media_id: &str) -> Attempt {
        let id = new_id();
        let key = original_key(media_id, &id);
        Attempt { id, key }
    }
}

fn store_and_record(
    source: &mut dyn ByteSource,
    head: Vec<u8>,
    bucket: &Bucket,
    attempt: &Attempt,
    sniffed: &Sniffed,
    new: NewUpload,
    settings: &Settings,
) -> Result<Media, SourceError> {
    let key = &attempt.key;
    let stored = store_original(source, head, bucket, key, sniffed, settings)?;
    let checked = check(key, sniffed, &stored, settings)?;
    let now = now_rfc3339();
    let media = Media {
        id: new.media_id,
        owner_id: new.owner_id,
        kind: checked.kind.to_string(),
        mime: sniffed.mime.to_string(),
        filename: new.filename,
        size: stored.size as i64,
        checksum: stored.checksum,
        original_key: key.clone(),
        width: checked.width.map(i64::from),
        height: checked.height.map(i64::from),
        duration_ms: checked.duration_ms.map(|d| d as i64),
        orientation: checked.orientation.map(i64::from),
        status: "uploaded".into(),
        progress: 0.0,
        attempts: 0,
        error: None,
        cancel_requested: false,
        renditions: Vec::new(),
        details: checked.details,
        created_at: now.clone(),
        updated_at: now,
    };
    let conn = store::open()?;
    let tx = conn.begin().map_err(store::db_error)?;
    if store::get_in(&tx, &media.id)?.is_some() {
        return Err(already_exists(&media.id).into());
    }
    if store::was_deleted(&tx, &media.id)? {
        return Err(Problem::conflict(format!(
            "media {} was deleted; an id is never used again",
            media.id
        ))
        .into());
    }
    if !store::end_ingest(&tx, &attempt.id)? {
        return Err(Problem::new(
            408,
            "Request timeout",
            format!(
                "the upload took longer than {} seconds (media_upload_expiry_seconds)",
                settings.upload_expiry_seconds
            ),
        )
        .into());
    }
    store::insert(&tx, &media)?;
    if let Some(upload) = &new.completes {
        store::complete_upload(&tx, upload, &media.id)?;
    }
    events::uploaded(&tx, &media)?;
    tx.commit().map_err(store::db_error)?;
    Ok(media)
}

pub fn already_exists(id: &str) -> Problem {
    Problem::conflict(format!(
        "media {id} exists already; media are never replaced"
    ))
}

/// Deletes what uploads whose process died had stored: an ingest still
/// open after the upload expiry will never finish.
pub fn sweep_abandoned(settings: &Settings) -> Result<usize, Problem> {
    let cutoff = rfc3339(now_ms() - settings.upload_expiry_seconds as i64 * 1000);
    let conn = store::open()?;
    let abandoned = store::abandoned_ingests(&conn, &cutoff, 100)?;
    let bucket = storage::bucket()?;
    for (id, key) in &abandoned {
        bucket.delete(key).map_err(storage::error)?;
        store::forget_ingest(&conn, id)?;
    }
    Ok(abandoned.len())
}

struct Stored {
    size: u64,
    checksum: String,
    /// The whole file, kept for images only (they are decoded to be checked).
    image_bytes: Option<Vec<u8>>,
}

fn store_original(
    source: &mut dyn ByteSource,
    head: Vec<u8>,
    bucket: &Bucket,
    key: &str,
    sniffed: &Sniffed,
    settings: &Settings,
) -> Result<Stored, SourceError> {
    let is_image = matches!(sniffed.kind, MediaKind::Image);
    let limit = if is_image {
        settings.max_image_bytes.min(settings.max_upload_bytes)
    } else {
        settings.max_upload_bytes
    };
    // Dropped unfinished on any early return: nothing becomes visible.
    let upload = bucket.put(key, sniffed.mime).map_err(storage::error)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    let mut image_bytes = is_image.then(Vec::new);
    let mut chunk = Some(head);
    while let Some(bytes) = chunk {
        size += bytes.len() as u64;
        if size > limit {
            return Err(too_large(limit).into());
        }
        hasher.update(&bytes);
        if let Some(all) = image_bytes.as_mut() {
            all.extend_from_slice(&bytes);
        }
        upload.write(&bytes).map_err(storage::error)?;
        chunk = source.next_chunk(CHUNK)?;
    }
    Upload::finish(upload).map_err(storage::error)?;
    Ok(Stored {
        size,
        checksum: hex(&hasher.finalize()),
        image_bytes,
    })
}

struct Checked {
    kind: &'static str,
    width: Option<u32>,
    height: Option<u32>,
    duration_ms: Option<u64>,
    orientation: Option<u8>,
    details: Json,
}

/// Decodes an image whole (so a truncated one is caught now, not in a
/// worker); asks ffprobe about audio and video.
fn check(
    key: &str,
    sniffed: &Sniffed,
    stored: &Stored,
    settings: &Settings,
) -> Result<Checked, Problem> {
    if let Some(bytes) = &stored.image_bytes {
        let limits = settings.image_limits();
        let info = folio_imaging::inspect(bytes, &limits).map_err(image_problem)?;
        let picture = folio_imaging::decode(bytes, &limits).map_err(image_problem)?;
        return Ok(Checked {
            kind: "image",
            width: Some(picture.width()),
            height: Some(picture.height()),
            duration_ms: None,
            orientation: Some(info.orientation),
            details: json!({}),
        });
    }
    let info = transcode::probe(storage::BUCKET, key).map_err(|e| match e {
        transcode::Error::InvalidMedia(why) => Problem::invalid_field(
            FILE_FIELD,
            format!("is not readable as {}: {}", sniffed.mime, last_line(&why)),
        ),
        other => Problem::unavailable(format!(
            "probing the upload: {}",
            transcode::describe(&other)
        )),
    })?;
    let video = info
        .streams
        .iter()
        .find(|s| s.kind == "video" && s.width.is_some());
    let has_audio = info.streams.iter().any(|s| s.kind == "audio");
    let kind = match (video, has_audio) {
        (Some(_), _) if matches!(sniffed.kind, MediaKind::Video) => "video",
        (_, true) => "audio",
        _ => {
            return Err(Problem::invalid_field(
                FILE_FIELD,
                format!("{} holds no audio or video stream", sniffed.mime),
            ));
        }
    };
    Ok(Checked {
        kind,
        width: video.and_then(|v| v.width),
        height: video.and_then(|v| v.height),
        duration_ms: info.duration_ms,
        orientation: None,
        details: probe_details(&info),
    })
}

fn probe_details(info: &MediaInfo) -> Json {
    let streams: Vec<Json> = info
        .streams
        .iter()
        .map(|s| {
            json!({
                "kind": s.kind,
                "codec": s.codec,
                "width": s.width,
                "height": s.height,
                "frameRate": s.frame_rate,
                "sampleRate": s.sample_rate,
                "channels": s.channels,
            })
        })
        .collect();
    json!({ "format": info.format, "bitRate": info.bit_rate, "streams": streams })
}

pub fn image_problem(e: ImageError) -> Problem {
    match e {
        ImageError::Unsupported(why) => Problem::new(
            415,
            "Unsupported media type",
            format!("{FILE_FIELD}: {why}"),
        ),
        ImageError::Corrupt(why) => {
            Problem::invalid_field(FILE_FIELD, format!("is not a readable image: {why}"))
        }
        ImageError::TooLarge(why) => {
            Problem::invalid_field(FILE_FIELD, format!("is refused: {why}"))
        }
    }
}

fn unsupported(head: &[u8]) -> Problem {
    let looks_like = if head.iter().take(512).all(|b| b.is_ascii()) {
        "text"
    } else {
        "an unknown binary format"
    };
    let mut p = Problem::new(
        415,
        "Unsupported media type",
        format!(
            "{FILE_FIELD}: the bytes are {looks_like}, not a supported image (JPEG, PNG, WebP, GIF), \
             video (MP4, MOV, WebM, Matroska, AVI) or audio (MP3, M4A, WAV, OGG, FLAC) file; \
             the type is read from the file, not from its name or Content-Type"
        ),
    );
    p.errors.push(folio_guest::http::FieldError {
        field: FILE_FIELD.into(),
        message: "is not a supported media type".into(),
    });
    p
}

pub fn too_large(limit: u64) -> Problem {
    Problem::new(
        413,
        "Content too large",
        format!("{FILE_FIELD}: uploads of this kind are limited to {limit} bytes"),
    )
}

fn last_line(text: &str) -> &str {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
