//! Serving originals and renditions: ranges, validators and cache headers a
//! CDN can work with, or a redirect to a presigned URL; and image transforms
//! (`?w=&h=&fit=&fmt=`) from a fixed set, computed once and then kept.

use folio_guest::Connection;
use folio_guest::auth::{Claims, Role};
use folio_guest::blobs::{Bucket, ByteRange, Download, ObjectMeta};
use folio_guest::cdn;
use folio_guest::http::Problem;
use folio_guest::util::{now_ms, parse_rfc3339_ms};
use folio_imaging::{Fit, Format};
use spin_sdk::http::{Method, Response, ResponseOutparam};

use crate::access::{self, Access};
use crate::ingest::image_problem;
use crate::model::{Media, rendition_prefix, transform_key};
use crate::settings::Settings;
use crate::wire::{Head, send, send_download};
use crate::{storage, store};

/// Widths and heights a transform may ask for: a fixed set keeps the cache
/// bounded and stops anyone from making the service render endless sizes.
pub const TRANSFORM_SIZES: [u32; 14] = [
    32, 64, 96, 128, 160, 240, 320, 480, 640, 800, 960, 1280, 1600, 1920,
];
/// How long a presigned URL handed out in a redirect stays valid.
const REDIRECT_EXPIRY_SECS: u32 = 3600;
/// How long a browser or CDN keeps a ready item's bytes: they never change
/// (an id is never reused), and a delete purges its surrogate keys.
const PUBLIC_MAX_AGE: u32 = 86_400;
const PRIVATE_CACHE: &str = "private, no-store";

/// A response, either whole or streamed from an object.
pub enum Reply {
    Whole(Response),
    Object {
        status: u16,
        headers: Vec<(String, String)>,
        download: Option<Download>,
    },
}

impl From<Problem> for Reply {
    fn from(p: Problem) -> Reply {
        Reply::Whole(p.into_response())
    }
}

pub fn send_reply(out: ResponseOutparam, reply: Reply, method: &Method) {
    let with_body = !matches!(method, Method::Head);
    match reply {
        Reply::Whole(response) => send(out, response, with_body),
        Reply::Object {
            status,
            headers,
            download,
        } => send_download(
            out,
            status,
            &headers,
            download.as_ref().filter(|_| with_body),
        ),
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/media/{id}/content",
    operation_id = "getMediaContent",
    tag = "media",
    params(
        ("id" = String, Path, description = "The media id (a UUID)"),
        ("w" = Option<u32>, Query, nullable = false, description = "Transform width, one of 32, 64, 96, 128, 160, 240, 320, 480, 640, 800, 960, 1280, 1600, 1920"),
        ("h" = Option<u32>, Query, nullable = false, description = "Transform height, from the same set"),
        ("fit" = Option<String>, Query, nullable = false, description = "contain (default), cover or fill"),
        ("fmt" = Option<String>, Query, nullable = false, description = "jpeg (default), webp or png"),
        ("Range" = Option<String>, Header, nullable = false, description = "One `bytes=` range"),
        ("If-None-Match" = Option<String>, Header, nullable = false),
    ),
    responses(
        (status = 200, description = "The file (or its transform)", content_type = "*/*", body = Vec<u8>, headers(("cache-control" = String, description = "Ready items: `public, max-age=86400, stale-while-revalidate=300, stale-if-error=86400`; otherwise `private, no-store`"), ("surrogate-key" = String, description = "Ready items: `media:<id> media`, space-separated (Fastly)"), ("cache-tag" = String, description = "Ready items: the same keys, comma-separated (Cloudflare)"))),
        (status = 206, description = "The range asked for", content_type = "*/*", body = Vec<u8>, headers(("cache-control" = String, description = "Ready items: `public, max-age=86400, stale-while-revalidate=300, stale-if-error=86400`; otherwise `private, no-store`"), ("surrogate-key" = String, description = "Ready items: `media:<id> media`, space-separated (Fastly)"), ("cache-tag" = String, description = "Ready items: the same keys, comma-separated (Cloudflare)"))),
        (status = 302, description = "With media_delivery = redirect: a presigned URL", headers(("location" = String), ("cache-control" = String, description = "Ready items: `public, max-age=600` (shorter than the URL's life; no stale serving, no surrogate keys); otherwise `private, no-store`"))),
        (status = 304, description = "If-None-Match names the current ETag; the same cache headers as the 200", headers(("etag" = String), ("cache-control" = String), ("surrogate-key" = String), ("cache-tag" = String))),
        (status = 404, description = "No such item, or not yet visible to the caller", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 409, description = "A transform of an item not yet processed", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 416, description = "The range starts past the end", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 422, description = "A bad transform parameter: `errors` names it", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub fn content(head: &Head, id: &str) -> Result<Reply, Problem> {
    let item = readable(head, id)?;
    if has_transform(head) {
        return transform(head, &item);
    }
    serve(
        head,
        &item,
        &item.media.original_key,
        Some(&item.media.filename),
    )
}

#[utoipa::path(
    get,
    path = "/api/v1/media/{id}/renditions/{name}",
    operation_id = "getMediaRendition",
    tag = "media",
    params(
        ("id" = String, Path, description = "The media id (a UUID)"),
        ("name" = String, Path, description = "A rendition's `name` (e.g. `thumbnail.webp`, `720p.mp4`, `hls/master.m3u8`) or a file of its HLS tree"),
        ("Range" = Option<String>, Header, nullable = false, description = "One `bytes=` range"),
    ),
    responses(
        (status = 200, description = "The rendition", content_type = "*/*", body = Vec<u8>, headers(("cache-control" = String, description = "Ready items: `public, max-age=86400, stale-while-revalidate=300, stale-if-error=86400`; otherwise `private, no-store`"), ("surrogate-key" = String, description = "Ready items: `media:<id> media`, space-separated (Fastly)"), ("cache-tag" = String, description = "Ready items: the same keys, comma-separated (Cloudflare)"))),
        (status = 206, description = "The range asked for", content_type = "*/*", body = Vec<u8>, headers(("cache-control" = String, description = "Ready items: `public, max-age=86400, stale-while-revalidate=300, stale-if-error=86400`; otherwise `private, no-store`"), ("surrogate-key" = String, description = "Ready items: `media:<id> media`, space-separated (Fastly)"), ("cache-tag" = String, description = "Ready items: the same keys, comma-separated (Cloudflare)"))),
        (status = 302, description = "With media_delivery = redirect: a presigned URL", headers(("location" = String), ("cache-control" = String, description = "Ready items: `public, max-age=600` (shorter than the URL's life; no stale serving, no surrogate keys); otherwise `private, no-store`"))),
        (status = 304, description = "If-None-Match names the current ETag; the same cache headers as the 200", headers(("etag" = String), ("cache-control" = String), ("surrogate-key" = String), ("cache-tag" = String))),
        (status = 404, description = "No such item or rendition", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
        (status = 416, description = "The range starts past the end", body = crate::openapi::ProblemDetails, content_type = "application/problem+json"),
    )
)]
pub fn rendition(head: &Head, id: &str, path: &str) -> Result<Reply, Problem> {
    let item = readable(head, id)?;
    if item.media.rendition_serving(path).is_none() {
        return Err(Problem::not_found(format!(
            "media {id} has no rendition {path}"
        )));
    }
    serve(
        head,
        &item,
        &format!("{}{path}", rendition_prefix(id)),
        None,
    )
}

/// A media item the caller may fetch, and whether a shared cache may keep
/// it (the same answer for everyone).
pub struct Readable {
    pub media: Media,
    pub shared: bool,
}

/// Ready items as the content using them allows (`access.rs`: public ids
/// are unguessable, like a CDN's); the owner and admins also reach an item
/// still being processed, or used only by unpublished content.
fn readable(head: &Head, id: &str) -> Result<Readable, Problem> {
    let conn = store::open()?;
    let media = store::get(&conn, id)?.ok_or_else(|| not_found(id))?;
    let claims = folio_guest::auth::authenticate_authorization(head.header("authorization")).ok();
    match readable_by(&conn, media, claims.as_ref())? {
        Some(item) => Ok(item),
        None => Err(not_found(id)),
    }
}

/// `media` if `claims` (none: anonymous) may fetch it.
pub fn readable_by(
    conn: &Connection,
    media: Media,
    claims: Option<&Claims>,
) -> Result<Option<Readable>, Problem> {
    if !media.is_ready() {
        let own = claims.is_some_and(|c| c.sub == media.owner_id || c.has_any_role(&[Role::Admin]));
        return Ok(own.then_some(Readable {
            media,
            shared: false,
        }));
    }
    let access = access::of(conn, &media.id)?;
    if !access::allows(conn, &access, &media.owner_id, claims)? {
        return Ok(None);
    }
    Ok(Some(Readable {
        shared: access == Access::Public,
        media,
    }))
}

pub fn not_found(id: &str) -> Problem {
    Problem::not_found(format!("there is no media {id}"))
}

/// `Cache-Control` and, for an item the same for everyone, its surrogate
/// keys; one still being processed, or gated, is private.
fn cache_headers(item: &Readable) -> Vec<(String, String)> {
    if item.shared {
        cdn::shared_headers(PUBLIC_MAX_AGE, &cdn::media_keys(&item.media.id))
    } else {
        vec![("cache-control".into(), PRIVATE_CACHE.into())]
    }
}

fn serve(
    head: &Head,
    item: &Readable,
    key: &str,
    filename: Option<&str>,
) -> Result<Reply, Problem> {
    let bucket = storage::bucket()?;
    if Settings::load()?.redirect_delivery {
        return redirect(&bucket, item, key);
    }
    let meta = bucket
        .head(key)
        .map_err(storage::error)?
        .ok_or_else(|| not_found(&item.media.id))?;
    stream(head, item, &bucket, key, &meta, filename)
}

/// A 302 to a presigned URL of the object.
fn redirect(bucket: &Bucket, item: &Readable, key: &str) -> Result<Reply, Problem> {
    let url = bucket
        .presign_get(key, REDIRECT_EXPIRY_SECS)
        .map_err(storage::error)?;
    let response = Response::builder()
        .status(302)
        .header("location", url)
        // Shorter than the URL's own life, so a cache never hands out a dead
        // one; for that, no stale-while-revalidate or stale-if-error either,
        // and no surrogate keys.
        .header(
            "cache-control",
            if item.shared {
                "public, max-age=600"
            } else {
                PRIVATE_CACHE
            },
        )
        .body(Vec::new())
        .build();
    Ok(Reply::Whole(response))
}

/// The object `meta` describes, whole, as a range, or as a 304.
fn stream(
    head: &Head,
    item: &Readable,
    bucket: &Bucket,
    key: &str,
    meta: &ObjectMeta,
    filename: Option<&str>,
) -> Result<Reply, Problem> {
    let mut headers = object_headers(meta, cache_headers(item), filename);
    let etag = headers[0].1.clone();
    if head
        .header("if-none-match")
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        headers.retain(|(k, _)| k != "content-type" && k != "content-disposition");
        return Ok(Reply::Object {
            status: 304,
            headers,
            download: None,
        });
    }
    let range_applies = head.header("if-range").is_none_or(|v| v == etag);
    let range = match head.header("range").filter(|_| range_applies) {
        Some(value) => match parse_range(value, meta.size) {
            RangeRequest::Satisfiable(offset, length) => Some((offset, length)),
            RangeRequest::Unsatisfiable => {
                let response = Problem::new(
                    416,
                    "Range not satisfiable",
                    format!("the object is {} bytes long", meta.size),
                )
                .with_header("content-range", format!("bytes */{}", meta.size))
                .into_response();
                return Ok(Reply::Whole(response));
            }
            RangeRequest::Ignored => None,
        },
        None => None,
    };
    let (status, byte_range, length) = match range {
        Some((offset, length)) => {
            headers.push((
                "content-range".into(),
                format!("bytes {offset}-{}/{}", offset + length - 1, meta.size),
            ));
            (
                206,
                Some(ByteRange {
                    offset,
                    length: Some(length),
                }),
                length,
            )
        }
        None => (200, None, meta.size),
    };
    headers.push(("content-length".into(), length.to_string()));
    let download = if matches!(head.method, Method::Head) {
        None
    } else {
        Some(
            bucket
                .get(key, byte_range)
                .map_err(storage::error)?
                .ok_or_else(|| not_found(&item.media.id))?,
        )
    };
    Ok(Reply::Object {
        status,
        headers,
        download,
    })
}

/// ETag first; `cache` (`Cache-Control` and any surrogate keys) kept on a 304.
fn object_headers(
    meta: &ObjectMeta,
    cache: Vec<(String, String)>,
    filename: Option<&str>,
) -> Vec<(String, String)> {
    let mut headers = vec![
        (
            "etag".to_string(),
            format!("\"{}\"", meta.etag.trim_matches('"')),
        ),
        ("content-type".into(), meta.content_type.clone()),
        ("accept-ranges".into(), "bytes".into()),
    ];
    headers.extend(cache);
    // Served from the API's origin: never let a browser guess another type.
    headers.push(("x-content-type-options".into(), "nosniff".into()));
    if let Some(ms) = parse_rfc3339_ms(&meta.last_modified) {
        headers.push(("last-modified".into(), http_date(ms)));
    }
    if let Some(name) = filename {
        headers.push(("content-disposition".into(), disposition(name)));
    }
    headers
}

#[derive(Debug, PartialEq)]
pub enum RangeRequest {
    Satisfiable(u64, u64),
    Unsatisfiable,
    /// Malformed or several ranges: answered with the whole object (RFC 9110 §14.2).
    Ignored,
}

/// One `bytes=` range of an object of `size` bytes, as (offset, length).
pub fn parse_range(value: &str, size: u64) -> RangeRequest {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeRequest::Ignored;
    };
    if spec.contains(',') {
        return RangeRequest::Ignored;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Ignored;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), parse(first), parse(last)) {
        // bytes=-n: the last n bytes.
        (true, _, Some(n)) if n > 0 && size > 0 => {
            let n = n.min(size);
            RangeRequest::Satisfiable(size - n, n)
        }
        (true, _, _) => RangeRequest::Unsatisfiable,
        (false, Some(start), end) if last.trim().is_empty() || end.is_some() => {
            if start >= size {
                return RangeRequest::Unsatisfiable;
            }
            let end = end.map_or(size - 1, |e| e.min(size - 1));
            if end < start {
                return RangeRequest::Ignored;
            }
            RangeRequest::Satisfiable(start, end - start + 1)
        }
        _ => RangeRequest::Ignored,
    }
}

fn has_transform(head: &Head) -> bool {
    ["w", "h", "fit", "fmt"]
        .iter()
        .any(|p| head.param(p).is_some())
}

struct TransformSpec {
    width: u32,
    height: u32,
    fit: Fit,
    format: Format,
    /// The cache key's last segment, e.g. `320x240-cover.webp`.
    name: String,
}

fn transform_spec(head: &Head, media: &Media) -> Result<TransformSpec, Problem> {
    if media.kind != "image" {
        return Err(Problem::invalid_field(
            "w",
            format!(
                "transforms apply to images; media {} is {}",
                media.id, media.kind
            ),
        ));
    }
    let size = |name: &str| -> Result<Option<u32>, Problem> {
        match head.param(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| TRANSFORM_SIZES.contains(n))
                .map(Some)
                .ok_or_else(|| {
                    Problem::invalid_field(name, format!("must be one of {TRANSFORM_SIZES:?}"))
                }),
        }
    };
    let (fit_name, fit) = match head.param("fit").unwrap_or("contain") {
        "contain" => ("contain", Fit::Contain),
        "cover" => ("cover", Fit::Cover),
        "fill" => ("fill", Fit::Fill),
        _ => {
            return Err(Problem::invalid_field(
                "fit",
                "must be contain, cover or fill",
            ));
        }
    };
    let (extension, format) = match head.param("fmt").unwrap_or("jpeg") {
        "jpeg" | "jpg" => ("jpg", Format::Jpeg),
        "webp" => ("webp", Format::Webp),
        "png" => ("png", Format::Png),
        _ => return Err(Problem::invalid_field("fmt", "must be jpeg, webp or png")),
    };
    let (source_w, source_h) = (
        media.width.unwrap_or(1).max(1) as f64,
        media.height.unwrap_or(1).max(1) as f64,
    );
    let (width, height) = match (size("w")?, size("h")?) {
        (Some(w), Some(h)) => (w, h),
        // One side given: the other follows the image's aspect ratio.
        (Some(w), None) => (
            w,
            ((f64::from(w) * source_h / source_w).round() as u32).max(1),
        ),
        (None, Some(h)) => (
            ((f64::from(h) * source_w / source_h).round() as u32).max(1),
            h,
        ),
        (None, None) => return Err(Problem::invalid_field("w", "w or h is required")),
    };
    Ok(TransformSpec {
        width,
        height,
        fit,
        format,
        name: format!("{width}x{height}-{fit_name}.{extension}"),
    })
}

fn transform(head: &Head, item: &Readable) -> Result<Reply, Problem> {
    let media = &item.media;
    if !media.is_ready() {
        return Err(Problem::conflict(format!(
            "media {} is {}; transforms are made from processed images",
            media.id, media.status
        )));
    }
    let spec = transform_spec(head, media)?;
    let key = transform_key(&media.id, &spec.name);
    let bucket = storage::bucket()?;
    let settings = Settings::load()?;
    if let Some(meta) = bucket.head(&key).map_err(storage::error)? {
        if settings.redirect_delivery {
            return redirect(&bucket, item, &key);
        }
        let mut reply = stream(head, item, &bucket, &key, &meta, None)?;
        if let Reply::Object { headers, .. } = &mut reply {
            headers.push(("x-folio-transform".into(), "hit".into()));
        }
        return Ok(reply);
    }
    let original = storage::read_all(&bucket, &media.original_key, settings.max_image_bytes)?
        .ok_or_else(|| not_found(&media.id))?;
    let started = now_ms();
    let picture =
        folio_imaging::decode(&original, &settings.image_limits()).map_err(image_problem)?;
    let encoded = folio_imaging::render(&picture, spec.width, spec.height, spec.fit, spec.format)
        .map_err(image_problem)?;
    let elapsed = now_ms() - started;
    storage::put_bytes(&bucket, &key, encoded.mime, &encoded.bytes)?;
    // `transform` answers ready items only: public, under the item's keys.
    let mut response = Response::builder()
        .status(200)
        .header("content-type", encoded.mime)
        .header("x-content-type-options", "nosniff")
        .header("x-folio-transform", "miss")
        .header("server-timing", format!("transform;dur={elapsed}"))
        .body(encoded.bytes)
        .build();
    if item.shared {
        cdn::shared(&mut response, PUBLIC_MAX_AGE, &cdn::media_keys(&media.id));
    } else {
        response.set_header("cache-control", PRIVATE_CACHE);
    }
    Ok(Reply::Whole(response))
}

/// `inline` with an ASCII fallback and the UTF-8 name (RFC 6266).
fn disposition(filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("inline; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(unix_ms: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let rfc3339 = folio_guest::util::rfc3339(unix_ms);
    let days = unix_ms.div_euclid(1000).div_euclid(86_400);
    let month: usize = rfc3339[5..7].parse().unwrap_or(1);
    format!(
        "{}, {} {} {} {} GMT",
        DAYS[days.rem_euclid(7) as usize],
        &rfc3339[8..10],
        MONTHS[month - 1],
        &rfc3339[0..4],
        &rfc3339[11..19]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range("bytes=0-9", 100), Satisfiable(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), Satisfiable(90, 10));
        assert_eq!(parse_range("bytes=90-200", 100), Satisfiable(90, 10));
        assert_eq!(parse_range("bytes=-10", 100), Satisfiable(90, 10));
        assert_eq!(parse_range("bytes=-500", 100), Satisfiable(0, 100));
        assert_eq!(parse_range("bytes=100-", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=-0", 100), Unsatisfiable);
        assert_eq!(parse_range("bytes=5-1", 100), Ignored);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Ignored);
        assert_eq!(parse_range("items=0-1", 100), Ignored);
        assert_eq!(parse_range("bytes=x-1", 100), Ignored);
    }

    #[test]
    fn http_dates() {
        assert_eq!(http_date(784_111_777_000), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn dispositions_escape_names() {
        assert_eq!(
            disposition("café \"x\".jpg"),
            "inline; filename=\"caf_ _x_.jpg\"; filename*=UTF-8''caf%C3%A9%20%22x%22.jpg"
        );
    }
}
