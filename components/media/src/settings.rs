//! The media service's configuration: component variables, each with a default.

use folio_guest::http::Problem;

pub struct Settings {
    /// The largest upload, whole or resumable.
    pub max_upload_bytes: u64,
    /// Images are held in memory to be checked and processed: the largest image file.
    pub max_image_bytes: u64,
    /// Decoding limit: an image declaring more pixels is refused before decoding.
    pub max_pixels: u64,
    /// Remove EXIF/XMP/IPTC metadata (camera, GPS) from JPEG originals before serving them.
    pub strip_exif: bool,
    /// `stream`: the service streams objects; `redirect`: it answers 302 to a presigned URL (S3).
    pub redirect_delivery: bool,
    /// Resumable uploads not completed within this are deleted, and so is
    /// what an upload that ran longer (its process died) had stored.
    pub upload_expiry_seconds: u64,
}

impl Settings {
    pub fn load() -> Result<Settings, Problem> {
        Ok(Settings {
            max_upload_bytes: number("media_max_upload_bytes", 2 << 30)?,
            max_image_bytes: number("media_max_image_bytes", 64 << 20)?,
            max_pixels: number("media_max_pixels", 40_000_000)?,
            strip_exif: match variable("media_strip_exif").as_deref() {
                None | Some("true") => true,
                Some("false") => false,
                Some(other) => return Err(misconfigured("media_strip_exif", other)),
            },
            redirect_delivery: match variable("media_delivery").as_deref() {
                None | Some("stream") => false,
                Some("redirect") => true,
                Some(other) => return Err(misconfigured("media_delivery", other)),
            },
            upload_expiry_seconds: match number("media_upload_expiry_seconds", 86_400)? {
                0 => return Err(misconfigured("media_upload_expiry_seconds", "0")),
                seconds => seconds,
            },
        })
    }

    pub fn image_limits(&self) -> folio_imaging::Limits {
        folio_imaging::Limits {
            max_pixels: self.max_pixels,
            ..folio_imaging::Limits::default()
        }
    }
}

/// An unset or empty variable counts as absent.
fn variable(name: &str) -> Option<String> {
    spin_sdk::variables::get(name)
        .ok()
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn number(name: &str, default: u64) -> Result<u64, Problem> {
    match variable(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| misconfigured(name, &v)),
    }
}

fn misconfigured(name: &str, value: &str) -> Problem {
    Problem::unavailable(format!(
        "the media service is misconfigured: {name} = {value:?}"
    ))
}
