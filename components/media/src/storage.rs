//! The `media` bucket: originals, renditions and cached transforms of every
//! item, all below `media/{id}/`.

use folio_guest::blobs::{Bucket, Error};
use folio_guest::http::Problem;

pub const BUCKET: &str = "media";

pub fn bucket() -> Result<Bucket, Problem> {
    Bucket::open(BUCKET).map_err(error)
}

pub fn error(e: Error) -> Problem {
    match e {
        Error::Unavailable(m) => Problem::unavailable(format!("object storage: {m}")),
        other => Problem::new(
            500,
            "Internal error",
            format!(
                "object storage refused a request ({}): {other:?}",
                other.kind()
            ),
        ),
    }
}

/// For clean-up after a refusal: the refusal is what the caller must hear.
pub fn delete_quietly(bucket: &Bucket, key: &str) {
    let _ = bucket.delete(key);
}

/// Deletes every object below `prefix`; safe to repeat.
pub fn delete_prefix(bucket: &Bucket, prefix: &str) -> Result<u64, Problem> {
    let mut deleted = 0;
    let mut after: Option<String> = None;
    loop {
        let page = bucket.list(prefix, after.as_deref(), 1000).map_err(error)?;
        for object in &page.objects {
            bucket.delete(&object.key).map_err(error)?;
            deleted += 1;
        }
        match page.next_start_after {
            Some(next) => after = Some(next),
            None => return Ok(deleted),
        }
    }
}

/// A whole object, refused when over `limit` bytes.
pub fn read_all(bucket: &Bucket, key: &str, limit: u64) -> Result<Option<Vec<u8>>, Problem> {
    let Some(download) = bucket.get(key, None).map_err(error)? else {
        return Ok(None);
    };
    let size = download.meta().size;
    if size > limit {
        return Err(Problem::new(
            413,
            "Content too large",
            format!("{key} is {size} bytes, over the limit of {limit}"),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    loop {
        let chunk = download.read(4 << 20).map_err(error)?;
        if chunk.is_empty() {
            return Ok(Some(bytes));
        }
        bytes.extend_from_slice(&chunk);
    }
}

pub fn put_bytes(
    bucket: &Bucket,
    key: &str,
    content_type: &str,
    bytes: &[u8],
) -> Result<(), Problem> {
    let upload = bucket.put(key, content_type).map_err(error)?;
    for chunk in bytes.chunks(4 << 20) {
        upload.write(chunk).map_err(error)?;
    }
    folio_guest::blobs::Upload::finish(upload).map_err(error)?;
    Ok(())
}
