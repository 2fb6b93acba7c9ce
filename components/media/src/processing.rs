//! The workers: images are processed inside this component, audio and video
//! by the host's transcoding adapter; deleted items lose every object.
//! Deliveries are at-least-once, so each step is idempotent: a `ready` item
//! is left alone, renditions are rewritten under the same keys.

use folio_guest::http::Problem;
use folio_guest::transcode::{
    self, Container, Error as TranscodeError, Job, JobState, Output, PosterSpec,
    Rendition as Wanted, RenditionKind, TranscodeRequest,
};
use folio_imaging::{Fit, Format, ImageError};

use crate::model::{Media, Rendition, prefix, rendition_prefix};
use crate::settings::Settings;
use crate::{events, storage, store};

/// What a worker makes of one event.
pub enum Outcome {
    Done,
    /// Transient: the host retries with backoff, then dead-letters.
    Retry(String),
}

impl From<Problem> for Outcome {
    fn from(p: Problem) -> Outcome {
        Outcome::Retry(p.detail)
    }
}

/// The image renditions: name, box, fit. Each is written as JPEG and WebP.
pub const IMAGE_RENDITIONS: [(&str, u32, u32, Fit); 4] = [
    ("thumbnail", 160, 160, Fit::Cover),
    ("small", 320, 320, Fit::Contain),
    ("medium", 800, 800, Fit::Contain),
    ("large", 1600, 1600, Fit::Contain),
];

/// Video renditions: progressive MP4s, an HLS ladder of the same heights, a poster.
const VIDEO_HEIGHTS: [u32; 2] = [360, 720];
const POSTER_MAX_WIDTH: u32 = 1280;
const AUDIO_KBPS: u32 = 128;
/// How often a running transcode reports progress and looks for a cancel request.
const POLL_MS: u32 = 1000;
/// The remux that replaces an MP4 or QuickTime original, as a rendition name.
const CLEAN_ORIGINAL: &str = "original-clean";

pub fn process_image(id: &str) -> Result<Outcome, Problem> {
    let conn = store::open()?;
    let Some(media) = store::get(&conn, id)? else {
        return Ok(Outcome::Done);
    };
    if media.is_ready() {
        return Ok(Outcome::Done);
    }
    let settings = Settings::load()?;
    store::start_attempt(&conn, id)?;
    let bucket = storage::bucket()?;
    let Some(mut original) =
        storage::read_all(&bucket, &media.original_key, settings.max_image_bytes)?
    else {
        store::fail(&conn, id, "the original is missing from storage")?;
        return Ok(Outcome::Done);
    };
    let picture = match folio_imaging::decode(&original, &settings.image_limits()) {
        Ok(p) => p,
        // It decoded at upload; a refusal now cannot get better by retrying.
        Err(e) => {
            store::fail(
                &conn,
                id,
                &format!("cannot decode the image: {}", image_error(&e)),
            )?;
            return Ok(Outcome::Done);
        }
    };
    let mut size = media.size;
    // EXIF, XMP, IPTC and text chunks (a camera, a place, a name) leave
    // the original; a JPEG keeps only its orientation.
    let strippable = matches!(
        media.mime.as_str(),
        "image/jpeg" | "image/png" | "image/webp"
    );
    if settings.strip_exif && strippable {
        let stripped = folio_imaging::strip_metadata(&original)
            .map_err(|e| Problem::unavailable(image_error(&e)))?;
        let stripped = match media.mime.as_str() {
            "image/jpeg" => with_orientation(stripped, media.orientation.unwrap_or(1)),
            _ => stripped,
        };
        if stripped.len() != original.len() {
            storage::put_bytes(&bucket, &media.original_key, &media.mime, &stripped)?;
            size = stripped.len() as i64;
            original = stripped;
        }
    }
    drop(original);
    let mut renditions = Vec::new();
    for (name, width, height, fit) in IMAGE_RENDITIONS {
        let encodings =
            folio_imaging::render_each(&picture, width, height, fit, &[Format::Jpeg, Format::Webp])
                .map_err(|e| Problem::unavailable(image_error(&e)))?;
        for (encoded, extension) in encodings.into_iter().zip(["jpg", "webp"]) {
            let path = format!("{name}.{extension}");
            storage::put_bytes(
                &bucket,
                &format!("{}{path}", rendition_prefix(id)),
                encoded.mime,
                &encoded.bytes,
            )?;
            renditions.push(Rendition {
                name: path,
                mime: encoded.mime.to_string(),
                size: encoded.bytes.len() as u64,
                width: Some(encoded.width),
                height: Some(encoded.height),
                duration_ms: None,
                files: Vec::new(),
            });
        }
    }
    record_ready(Media {
        size,
        renditions,
        ..media
    })
}

pub fn transcode(id: &str) -> Result<Outcome, Problem> {
    let conn = store::open()?;
    let Some(media) = store::get(&conn, id)? else {
        return Ok(Outcome::Done);
    };
    if media.is_ready() {
        return Ok(Outcome::Done);
    }
    if media.cancel_requested {
        store::fail(&conn, id, "cancelled")?;
        return Ok(Outcome::Done);
    }
    store::start_attempt(&conn, id)?;
    let wanted = if media.kind == "video" {
        let duration = media.duration_ms.unwrap_or(0).max(0) as u64;
        let mut wanted: Vec<Wanted> = VIDEO_HEIGHTS
            .iter()
            .map(|h| Wanted {
                name: format!("{h}p"),
                kind: RenditionKind::Mp4(*h),
            })
            .collect();
        wanted.push(Wanted {
            name: "hls".into(),
            kind: RenditionKind::Hls(VIDEO_HEIGHTS.to_vec()),
        });
        wanted.push(Wanted {
            name: "poster".into(),
            kind: RenditionKind::Poster(PosterSpec {
                // A frame a little in, past fades from black.
                at_ms: (duration / 10).min(5_000),
                max_width: POSTER_MAX_WIDTH,
            }),
        });
        wanted
    } else {
        vec![Wanted {
            name: "audio".into(),
            kind: RenditionKind::Audio(AUDIO_KBPS),
        }]
    };
    // MP4 and QuickTime originals (phones write a place and a device into
    // them) are replaced by a copy without metadata, like images.
    let settings = Settings::load()?;
    let clean_container = match media.mime.as_str() {
        "video/quicktime" => Some(Container::Mov),
        "video/mp4" => Some(Container::Mp4),
        _ => None,
    }
    .filter(|_| settings.strip_exif);
    let mut wanted = wanted;
    if let Some(container) = clean_container {
        wanted.push(Wanted {
            name: CLEAN_ORIGINAL.into(),
            kind: RenditionKind::Remux(container),
        });
    }
    let job = match Job::start(&TranscodeRequest {
        bucket: storage::BUCKET.into(),
        source_key: media.original_key.clone(),
        output_prefix: rendition_prefix(id),
        renditions: wanted,
    }) {
        Ok(job) => job,
        Err(e) => return failed(&conn, id, e),
    };
    let outputs = loop {
        match job.wait(POLL_MS) {
            JobState::Running(progress) => {
                store::set_progress(&conn, id, f64::from(progress))?;
                if store::cancel_requested(&conn, id)? {
                    job.cancel();
                }
            }
            JobState::Succeeded(outputs) => break outputs,
            JobState::Failed(e) => return failed(&conn, id, e),
        }
    };
    let (clean, outputs): (Vec<&Output>, Vec<&Output>) =
        outputs.iter().partition(|o| o.name == CLEAN_ORIGINAL);
    let renditions = outputs.into_iter().map(|o| rendition(id, o)).collect();
    let Some(clean) = clean.first() else {
        return record_ready(Media {
            renditions,
            ..media
        });
    };
    // The clean copy becomes the original; the one with metadata goes
    // once the item points away from it.
    let uploaded = media.original_key.clone();
    let outcome = record_ready(Media {
        renditions,
        original_key: clean.key.clone(),
        size: clean.size as i64,
        ..media
    })?;
    storage::delete_quietly(&storage::bucket()?, &uploaded);
    Ok(outcome)
}

/// Records a failed attempt; all but cancellation and unreadable media are retried.
fn failed(conn: &folio_guest::Connection, id: &str, e: TranscodeError) -> Result<Outcome, Problem> {
    store::fail(conn, id, &transcode::describe(&e))?;
    Ok(match e {
        TranscodeError::Cancelled
        | TranscodeError::InvalidMedia(_)
        | TranscodeError::NotFound(_) => Outcome::Done,
        other => Outcome::Retry(transcode::describe(&other)),
    })
}

fn rendition(id: &str, output: &Output) -> Rendition {
    let base = rendition_prefix(id);
    let relative = |key: &str| key.strip_prefix(&base).unwrap_or(key).to_string();
    let name = relative(&output.key);
    Rendition {
        files: output
            .keys
            .iter()
            .map(|k| relative(k))
            .filter(|k| *k != name)
            .collect(),
        name,
        mime: output.content_type.clone(),
        size: output.size,
        width: output.width,
        height: output.height,
        duration_ms: output.duration_ms,
    }
}

/// `ready` with `MediaProcessed`, in one commit. If the item was deleted
/// while it was being processed, what was just written is removed too.
fn record_ready(media: Media) -> Result<Outcome, Problem> {
    let conn = store::open()?;
    let tx = conn.begin().map_err(store::db_error)?;
    if store::finish(&tx, &media)? {
        let ready = Media {
            status: "ready".into(),
            progress: 1.0,
            ..media
        };
        events::processed(&tx, &ready)?;
        tx.commit().map_err(store::db_error)?;
    } else {
        drop(tx);
        storage::delete_prefix(&storage::bucket()?, &prefix(&media.id))?;
    }
    Ok(Outcome::Done)
}

/// After `MediaDeleted`: every object of the item.
pub fn remove_objects(id: &str) -> Result<Outcome, Problem> {
    storage::delete_prefix(&storage::bucket()?, &prefix(id))?;
    Ok(Outcome::Done)
}

fn image_error(e: &ImageError) -> String {
    match e {
        ImageError::Unsupported(m) | ImageError::Corrupt(m) | ImageError::TooLarge(m) => m.clone(),
    }
}

/// Puts back, as the only metadata, the EXIF orientation stripping removed:
/// without it a photo taken upright displays on its side.
fn with_orientation(jpeg: Vec<u8>, orientation: i64) -> Vec<u8> {
    if !(2..=8).contains(&orientation) || jpeg.len() < 2 {
        return jpeg;
    }
    // "Exif\0\0", a big-endian TIFF header, one IFD entry: 0x0112 SHORT 1 = orientation.
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01\x01\x12\0\x03\0\0\0\x01".to_vec();
    exif.extend_from_slice(&[0, orientation as u8, 0, 0, 0, 0, 0, 0]);
    let mut out = Vec::with_capacity(jpeg.len() + exif.len() + 4);
    out.extend_from_slice(&jpeg[..2]);
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orientation_survives_stripping() {
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new(&mut jpeg)
            .encode(&[200u8; 8 * 4 * 3], 8, 4, image::ExtendedColorType::Rgb8)
            .unwrap();
        let stripped = folio_imaging::strip_metadata(&with_orientation(jpeg.clone(), 6)).unwrap();
        let kept = with_orientation(stripped, 6);
        let info = folio_imaging::inspect(&kept, &folio_imaging::Limits::default()).unwrap();
        assert_eq!((info.orientation, info.width, info.height), (6, 8, 4));
        assert_eq!(with_orientation(jpeg.clone(), 1), jpeg);
    }
}
