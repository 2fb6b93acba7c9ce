//! Buckets on local disk: `<dir>/objects/<key>` per object, uploads staged
//! in `<dir>/tmp/` and renamed into place after fsync, so an object is either
//! absent, old or complete — never partial.
//!
//! Each object file starts with one JSON line (content type, etag) followed
//! by the object's bytes: metadata and data change in the same rename.
//! Keys were checked by `backend::check_key` (no `..`, no leading `/`, ...);
//! every path is additionally checked to stay under `objects/`.

use std::io::SeekFrom;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

use crate::backend::{BlobError, ByteRange, Listing, ObjectMeta, ObjectSummary, rfc3339};
use crate::presign::Signer;

/// The header line is at most this long (content type ≤ 255 bytes, escaped).
const MAX_HEADER_BYTES: usize = 4096;

#[derive(Clone)]
pub struct DiskBucket {
    inner: Arc<Inner>,
}

struct Inner {
    objects: PathBuf,
    tmp: PathBuf,
    component: String,
    name: String,
    signer: Signer,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Header {
    content_type: String,
    etag: String,
}

impl DiskBucket {
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Opens (creating) the bucket directory; leftovers of uploads a crash
    /// interrupted are removed.
    pub fn open(
        dir: &Path,
        component: &str,
        name: &str,
        signer: Signer,
    ) -> anyhow::Result<DiskBucket> {
        let objects = dir.join("objects");
        let tmp = dir.join("tmp");
        std::fs::create_dir_all(&objects)?;
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp)?;
        }
        std::fs::create_dir_all(&tmp)?;
        Ok(DiskBucket {
            inner: Arc::new(Inner {
                objects,
                tmp,
                component: component.to_string(),
                name: name.to_string(),
                signer,
            }),
        })
    }

    /// The file for `key`, refusing any path that would leave `objects/`.
    fn path(&self, key: &str) -> Result<PathBuf, BlobError> {
        let relative = Path::new(key);
        if !relative
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        {
            return Err(BlobError::InvalidKey(format!(
                "{key:?} is not a plain path"
            )));
        }
        let path = self.inner.objects.join(relative);
        if !path.starts_with(&self.inner.objects) {
            return Err(BlobError::InvalidKey(format!("{key:?} leaves the bucket")));
        }
        Ok(path)
    }

    async fn open_object(
        &self,
        key: &str,
    ) -> Result<Option<(tokio::fs::File, ObjectMeta, u64)>, BlobError> {
        let path = self.path(key)?;
        let file = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if is_absent(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let metadata = file.metadata().await?;
        if !metadata.is_file() {
            return Ok(None);
        }
        // Nothing in a bucket is a symlink unless someone put it there; do not follow one.
        if tokio::fs::symlink_metadata(&path)
            .await?
            .file_type()
            .is_symlink()
        {
            return Ok(None);
        }
        let mut file = file;
        let (header, header_len) = read_header(&mut file).await?;
        let meta = ObjectMeta {
            key: key.to_string(),
            size: metadata.len().saturating_sub(header_len),
            content_type: header.content_type,
            etag: header.etag,
            last_modified: rfc3339(metadata.modified()?),
        };
        Ok(Some((file, meta, header_len)))
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, BlobError> {
        Ok(self.open_object(key).await?.map(|(_, meta, _)| meta))
    }

    pub async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<DiskDownload>, BlobError> {
        let Some((mut file, meta, header_len)) = self.open_object(key).await? else {
            return Ok(None);
        };
        let (offset, remaining) = match range {
            None => (0, meta.size),
            Some(r) if r.offset >= meta.size && meta.size > 0 || r.offset > meta.size => {
                return Err(BlobError::InvalidArgument(format!(
                    "range starts at {} but the object has {} bytes",
                    r.offset, meta.size
                )));
            }
            Some(r) => {
                let rest = meta.size - r.offset;
                (r.offset, r.length.map_or(rest, |l| l.min(rest)))
            }
        };
        file.seek(SeekFrom::Start(header_len + offset)).await?;
        Ok(Some(DiskDownload {
            meta,
            file,
            remaining,
        }))
    }

    pub async fn put(&self, key: &str, content_type: &str) -> Result<DiskUpload, BlobError> {
        let target = self.path(key)?;
        let etag = hex::encode(rand::random::<[u8; 16]>());
        let tmp = self.inner.tmp.join(format!("{etag}.upload"));
        let mut file = tokio::fs::File::create(&tmp).await?;
        let mut header = serde_json::to_vec(&Header {
            content_type: content_type.to_string(),
            etag: etag.clone(),
        })
        .map_err(|e| BlobError::Unavailable(e.to_string()))?;
        header.push(b'\n');
        let guard = TmpFile(Some(tmp));
        file.write_all(&header).await?;
        Ok(DiskUpload {
            key: key.to_string(),
            content_type: content_type.to_string(),
            etag,
            target,
            file: Some(file),
            tmp: guard,
            size: 0,
        })
    }

    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        let path = self.path(key)?;
        match tokio::fs::symlink_metadata(&path).await {
            Ok(m) if m.is_file() || m.file_type().is_symlink() => {}
            Ok(_) => return Ok(()),
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if is_absent(&e) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        // Empty "directories" go with their last object (best effort: a
        // concurrent put may be filling one again).
        let mut dir = path.parent();
        while let Some(d) = dir {
            if d == self.inner.objects || tokio::fs::remove_dir(d).await.is_err() {
                break;
            }
            dir = d.parent();
        }
        Ok(())
    }

    pub async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> Result<Listing, BlobError> {
        let start_dir = match prefix.rsplit_once('/') {
            Some((dirs, _)) => self.path(dirs)?,
            None => self.inner.objects.clone(),
        };
        let root = self.inner.objects.clone();
        let prefix = prefix.to_string();
        let start_after = start_after.map(str::to_string);
        let limit = limit as usize;
        tokio::task::spawn_blocking(move || {
            let mut keys = Vec::new();
            walk(&root, &start_dir, &mut |key, meta| {
                if key.starts_with(&prefix)
                    && start_after.as_deref().is_none_or(|s| key.as_str() > s)
                {
                    keys.push((key, meta.clone()));
                }
            })?;
            keys.sort_by(|a, b| a.0.cmp(&b.0));
            let truncated = keys.len() > limit;
            keys.truncate(limit);
            let mut objects = Vec::with_capacity(keys.len());
            for (key, metadata) in keys {
                let path = root.join(&key);
                let Ok(header) =
                    std::fs::File::open(&path).and_then(|mut f| read_header_sync(&mut f))
                else {
                    continue; // deleted meanwhile
                };
                objects.push(ObjectSummary {
                    size: metadata.len().saturating_sub(header.1),
                    etag: header.0.etag,
                    last_modified: rfc3339(metadata.modified()?),
                    key,
                });
            }
            let next_start_after = if truncated {
                objects.last().map(|o| o.key.clone())
            } else {
                None
            };
            Ok(Listing {
                objects,
                next_start_after,
            })
        })
        .await
        .map_err(|e| BlobError::Unavailable(e.to_string()))?
    }

    pub fn presign(
        &self,
        method: &str,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        self.inner.signer.url(
            method,
            &self.inner.component,
            &self.inner.name,
            key,
            content_type,
            ttl,
        )
    }
}

/// Every regular file under `dir`, as a key relative to `root`.
fn walk(
    root: &Path,
    dir: &Path,
    found: &mut dyn FnMut(String, &std::fs::Metadata),
) -> std::io::Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if is_absent(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_type = entry.file_type()?;
        let path = entry.path();
        if file_type.is_dir() {
            walk(root, &path, found)?;
        } else if file_type.is_file() {
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let Some(key) = relative.to_str() else {
                continue;
            };
            found(key.to_string(), &entry.metadata()?);
        }
    }
    Ok(())
}

fn is_absent(e: &std::io::Error) -> bool {
    // ENOTDIR: a path through an object as if it were a directory.
    e.kind() == std::io::ErrorKind::NotFound || e.raw_os_error() == Some(20)
}

async fn read_header(file: &mut tokio::fs::File) -> Result<(Header, u64), BlobError> {
    let mut buf = Vec::with_capacity(256);
    let mut byte = [0u8; 256];
    loop {
        let n = file.read(&mut byte).await?;
        if n == 0 {
            return Err(BlobError::Unavailable(
                "object file without a header".into(),
            ));
        }
        if let Some(end) = byte[..n].iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&byte[..end]);
            let header_len = buf.len() as u64 + 1;
            let header = serde_json::from_slice(&buf)
                .map_err(|e| BlobError::Unavailable(format!("object header: {e}")))?;
            file.seek(SeekFrom::Start(header_len)).await?;
            return Ok((header, header_len));
        }
        buf.extend_from_slice(&byte[..n]);
        if buf.len() > MAX_HEADER_BYTES {
            return Err(BlobError::Unavailable("object header too long".into()));
        }
    }
}

fn read_header_sync(file: &mut std::fs::File) -> std::io::Result<(Header, u64)> {
    use std::io::Read;
    let mut buf = Vec::with_capacity(256);
    let mut byte = [0u8; 256];
    loop {
        let n = file.read(&mut byte)?;
        if n == 0 {
            return Err(std::io::Error::other("object file without a header"));
        }
        if let Some(end) = byte[..n].iter().position(|b| *b == b'\n') {
            buf.extend_from_slice(&byte[..end]);
            let header = serde_json::from_slice(&buf).map_err(std::io::Error::other)?;
            return Ok((header, buf.len() as u64 + 1));
        }
        buf.extend_from_slice(&byte[..n]);
        if buf.len() > MAX_HEADER_BYTES {
            return Err(std::io::Error::other("object header too long"));
        }
    }
}

pub struct DiskDownload {
    pub meta: ObjectMeta,
    file: tokio::fs::File,
    remaining: u64,
}

impl DiskDownload {
    pub async fn read(&mut self, max: usize) -> Result<Bytes, BlobError> {
        let want = (max as u64).min(self.remaining) as usize;
        if want == 0 {
            return Ok(Bytes::new());
        }
        let mut buf = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            let n = self.file.read(&mut buf[filled..]).await?;
            if n == 0 {
                break;
            }
            filled += n;
        }
        buf.truncate(filled);
        self.remaining -= filled as u64;
        if filled == 0 {
            self.remaining = 0;
        }
        Ok(Bytes::from(buf))
    }
}

/// Removes the staged file unless it was renamed into place.
struct TmpFile(Option<PathBuf>);

impl Drop for TmpFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

pub struct DiskUpload {
    key: String,
    content_type: String,
    etag: String,
    target: PathBuf,
    file: Option<tokio::fs::File>,
    tmp: TmpFile,
    size: u64,
}

impl DiskUpload {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        let file = self.file.as_mut().ok_or(BlobError::Closed)?;
        if let Err(e) = file.write_all(chunk).await {
            self.file = None;
            return Err(e.into());
        }
        self.size += chunk.len() as u64;
        Ok(())
    }

    pub async fn finish(mut self) -> Result<ObjectMeta, BlobError> {
        let mut file = self.file.take().ok_or(BlobError::Closed)?;
        file.flush().await?;
        file.sync_all().await?;
        drop(file);
        let tmp = self.tmp.0.clone().ok_or(BlobError::Closed)?;
        let parent = self.target.parent().expect("under objects/").to_path_buf();
        // A concurrent delete may remove an emptied parent between the two steps: retry once.
        let mut renamed = Err(std::io::Error::other("not tried"));
        for _ in 0..2 {
            if let Err(e) = tokio::fs::create_dir_all(&parent).await {
                return Err(conflict(&self.key, e));
            }
            renamed = tokio::fs::rename(&tmp, &self.target).await;
            if !matches!(&renamed, Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
                break;
            }
        }
        renamed.map_err(|e| conflict(&self.key, e))?;
        self.tmp.0 = None;
        if let Ok(dir) = tokio::fs::File::open(&parent).await {
            let _ = dir.sync_all().await;
        }
        let modified = tokio::fs::metadata(&self.target).await?.modified()?;
        Ok(ObjectMeta {
            key: self.key.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            etag: self.etag.clone(),
            last_modified: rfc3339(modified),
        })
    }
}

/// On disk an object and a "directory" cannot share a name (`a` and `a/b`).
fn conflict(key: &str, e: std::io::Error) -> BlobError {
    match e.raw_os_error() {
        // EEXIST, ENOTDIR, EISDIR, ENOTEMPTY
        Some(17) | Some(20) | Some(21) | Some(39) => BlobError::InvalidKey(format!(
            "{key:?} conflicts with an existing object or prefix (on disk, `a` and `a/b` cannot both exist)"
        )),
        _ => BlobError::Unavailable(e.to_string()),
    }
}
