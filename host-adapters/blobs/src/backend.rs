//! The buckets behind `folio:platform/blobs`: a directory per component
//! bucket on local disk, or a key prefix per component bucket in an S3
//! bucket. Both stream: nothing here holds a whole object in memory.

use std::time::Duration;

use bytes::Bytes;

use crate::disk::{DiskBucket, DiskDownload, DiskUpload};
use crate::s3::{S3Bucket, S3Download, S3Upload};

pub const MAX_KEY_BYTES: usize = 1024;
/// Largest chunk one `upload.write` takes or one `download.read` returns.
pub const MAX_CHUNK_BYTES: usize = 4 << 20;
pub const MAX_CONTENT_TYPE_BYTES: usize = 255;
pub const MAX_LIST_LIMIT: u32 = 1000;
/// S3's own limit for presigned URLs: seven days.
pub const MAX_PRESIGN_SECS: u32 = 7 * 24 * 3600;

#[derive(Debug, Clone, PartialEq)]
pub enum BlobError {
    InvalidKey(String),
    TooLarge(String),
    InvalidArgument(String),
    /// The upload or download was already finished or failed.
    Closed,
    Unavailable(String),
}

impl std::fmt::Display for BlobError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobError::InvalidKey(m) => write!(f, "invalid key: {m}"),
            BlobError::TooLarge(m) => write!(f, "too large: {m}"),
            BlobError::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            BlobError::Closed => write!(f, "the upload or download is closed"),
            BlobError::Unavailable(m) => write!(f, "unavailable: {m}"),
        }
    }
}

impl std::error::Error for BlobError {}

impl From<std::io::Error> for BlobError {
    fn from(e: std::io::Error) -> Self {
        BlobError::Unavailable(e.to_string())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    pub content_type: String,
    pub etag: String,
    /// RFC 3339, UTC.
    pub last_modified: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ObjectSummary {
    pub key: String,
    pub size: u64,
    pub etag: String,
    pub last_modified: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Listing {
    pub objects: Vec<ObjectSummary>,
    pub next_start_after: Option<String>,
}

/// Bytes `offset..offset+length` (to the end when `length` is none).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ByteRange {
    pub offset: u64,
    pub length: Option<u64>,
}

/// A key is a `/`-separated path of non-empty segments, none `.` or `..`,
/// with no NUL or backslash, at most 1024 bytes. The same rule on every
/// backend, so a key that works on disk works on S3 and back.
pub fn check_key(key: &str) -> Result<(), BlobError> {
    let bad = |why: &str| Err(BlobError::InvalidKey(format!("{why}: {:?}", truncate(key))));
    if key.is_empty() {
        return bad("a key cannot be empty");
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(BlobError::InvalidKey(format!(
            "keys are at most {MAX_KEY_BYTES} bytes; this one is {}",
            key.len()
        )));
    }
    if key.contains('\0') || key.contains('\\') {
        return bad("a key cannot contain NUL or a backslash");
    }
    if key.starts_with('/') {
        return bad("a key cannot start with `/`");
    }
    for segment in key.split('/') {
        match segment {
            "" => return bad("a key cannot have empty segments (`//` or a trailing `/`)"),
            "." | ".." => return bad("a key cannot have `.` or `..` segments"),
            s if s.len() > 255 => return bad("a key segment is at most 255 bytes"),
            _ => {}
        }
    }
    Ok(())
}

/// A list prefix: any string a key could start with.
pub fn check_prefix(prefix: &str) -> Result<(), BlobError> {
    if prefix.len() > MAX_KEY_BYTES || prefix.contains('\0') || prefix.contains('\\') {
        return Err(BlobError::InvalidKey(format!(
            "a prefix is at most {MAX_KEY_BYTES} bytes, without NUL or backslash"
        )));
    }
    // The part before the last `/` names directories: it must be a valid key itself.
    if let Some((dirs, _)) = prefix.rsplit_once('/') {
        check_key(dirs)?;
    }
    Ok(())
}

pub fn check_content_type(content_type: &str) -> Result<(), BlobError> {
    if content_type.len() > MAX_CONTENT_TYPE_BYTES {
        return Err(BlobError::TooLarge(format!(
            "a content type is at most {MAX_CONTENT_TYPE_BYTES} bytes"
        )));
    }
    if !content_type.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(BlobError::InvalidArgument(
            "a content type is printable ASCII".into(),
        ));
    }
    Ok(())
}

pub fn check_expiry(secs: u32) -> Result<Duration, BlobError> {
    if secs == 0 || secs > MAX_PRESIGN_SECS {
        return Err(BlobError::InvalidArgument(format!(
            "expires-secs is 1 to {MAX_PRESIGN_SECS}"
        )));
    }
    Ok(Duration::from_secs(secs.into()))
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

pub fn default_content_type(content_type: &str) -> &str {
    if content_type.is_empty() {
        "application/octet-stream"
    } else {
        content_type
    }
}

pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// One component's bucket.
#[derive(Clone)]
pub enum Bucket {
    Disk(DiskBucket),
    S3(S3Bucket),
}

impl Bucket {
    /// The backend, as traces name it.
    pub fn system(&self) -> &'static str {
        match self {
            Bucket::Disk(_) => "disk",
            Bucket::S3(_) => "s3",
        }
    }

    /// The name the component's grant gives it.
    pub fn name(&self) -> &str {
        match self {
            Bucket::Disk(b) => b.name(),
            Bucket::S3(b) => b.name(),
        }
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, BlobError> {
        check_key(key)?;
        match self {
            Bucket::Disk(b) => b.head(key).await,
            Bucket::S3(b) => b.head(key).await,
        }
    }

    pub async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<Download>, BlobError> {
        check_key(key)?;
        if let Some(ByteRange {
            length: Some(0), ..
        }) = range
        {
            return Err(BlobError::InvalidArgument(
                "a range has at least one byte".into(),
            ));
        }
        Ok(match self {
            Bucket::Disk(b) => b.get(key, range).await?.map(Download::Disk),
            Bucket::S3(b) => b.get(key, range).await?.map(Download::S3),
        })
    }

    pub async fn put(&self, key: &str, content_type: &str) -> Result<Upload, BlobError> {
        check_key(key)?;
        check_content_type(content_type)?;
        let content_type = default_content_type(content_type);
        Ok(match self {
            Bucket::Disk(b) => Upload::Disk(b.put(key, content_type).await?),
            Bucket::S3(b) => Upload::S3(b.put(key, content_type)),
        })
    }

    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        check_key(key)?;
        match self {
            Bucket::Disk(b) => b.delete(key).await,
            Bucket::S3(b) => b.delete(key).await,
        }
    }

    pub async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> Result<Listing, BlobError> {
        check_prefix(prefix)?;
        if limit == 0 || limit > MAX_LIST_LIMIT {
            return Err(BlobError::InvalidArgument(format!(
                "limit is 1 to {MAX_LIST_LIMIT}"
            )));
        }
        if start_after.is_some_and(|s| s.len() > MAX_KEY_BYTES) {
            return Err(BlobError::InvalidKey("start-after is too long".into()));
        }
        match self {
            Bucket::Disk(b) => b.list(prefix, start_after, limit).await,
            Bucket::S3(b) => b.list(prefix, start_after, limit).await,
        }
    }

    pub async fn presign_get(&self, key: &str, expires_secs: u32) -> Result<String, BlobError> {
        check_key(key)?;
        let expires = check_expiry(expires_secs)?;
        match self {
            Bucket::Disk(b) => b.presign("GET", key, "", expires),
            Bucket::S3(b) => b.presign_get(key, expires).await,
        }
    }

    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        expires_secs: u32,
    ) -> Result<String, BlobError> {
        check_key(key)?;
        check_content_type(content_type)?;
        let content_type = default_content_type(content_type);
        let expires = check_expiry(expires_secs)?;
        match self {
            Bucket::Disk(b) => b.presign("PUT", key, content_type, expires),
            Bucket::S3(b) => b.presign_put(key, content_type, expires).await,
        }
    }
}

/// An object being read, in chunks.
pub enum Download {
    Disk(DiskDownload),
    S3(S3Download),
}

impl Download {
    pub fn meta(&self) -> &ObjectMeta {
        match self {
            Download::Disk(d) => &d.meta,
            Download::S3(d) => &d.meta,
        }
    }

    /// Up to `max` of the next bytes; empty at the end.
    pub async fn read(&mut self, max: usize) -> Result<Bytes, BlobError> {
        if max == 0 {
            return Err(BlobError::InvalidArgument("max-bytes is at least 1".into()));
        }
        let max = max.min(MAX_CHUNK_BYTES);
        match self {
            Download::Disk(d) => d.read(max).await,
            Download::S3(d) => d.read(max).await,
        }
    }
}

/// An object being written, in chunks; invisible until `finish`, discarded
/// when dropped unfinished.
pub enum Upload {
    Disk(DiskUpload),
    S3(S3Upload),
}

impl Upload {
    pub fn system(&self) -> &'static str {
        match self {
            Upload::Disk(_) => "disk",
            Upload::S3(_) => "s3",
        }
    }
}

impl Upload {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        if chunk.len() > MAX_CHUNK_BYTES {
            return Err(BlobError::TooLarge(format!(
                "a chunk is at most {MAX_CHUNK_BYTES} bytes; this one is {}",
                chunk.len()
            )));
        }
        match self {
            Upload::Disk(u) => u.write(chunk).await,
            Upload::S3(u) => u.write(chunk).await,
        }
    }

    pub async fn finish(self) -> Result<ObjectMeta, BlobError> {
        match self {
            Upload::Disk(u) => u.finish().await,
            Upload::S3(u) => u.finish().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "a",
            "a/b.txt",
            "photos/2024/x y.jpg",
            "..a",
            "a..",
            ".hidden",
        ] {
            assert_eq!(check_key(ok), Ok(()), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", ".", "..", "../x", "a/../b", "a/./b", "a\\b", "a\0b",
        ] {
            assert!(
                matches!(check_key(bad), Err(BlobError::InvalidKey(_))),
                "{bad:?}"
            );
        }
        assert!(check_key(&"a".repeat(1025)).is_err());
        assert!(check_key(&"a".repeat(256)).is_err());
    }
}
