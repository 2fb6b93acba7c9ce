//! Folio's object-storage adapter: `folio:platform/blobs` on local disk (the
//! default) or any S3 server. Buckets are namespaced by component: two
//! components that both declare `media` never see each other's objects.
//! Objects stream through in chunks of at most 4 MiB each way.

mod backend;
mod disk;
pub mod presign;
pub mod runtime_config;
mod s3;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use backend::{
    BlobError, Bucket, ByteRange, Download, Listing, MAX_CHUNK_BYTES, MAX_KEY_BYTES, ObjectMeta,
    ObjectSummary, Upload, check_key,
};
pub use presign::{PresignedTarget, Signer};
pub use runtime_config::{BlobBackendConfig, BlobConfig};
pub use s3::PART_BYTES;

/// Public for `folio adapters`, which makes the shim's calls on them; their
/// serde form is the wire format of those calls.
pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/blob-storage",
        imports: { default: async | trappable },
        additional_derives: [serde::Serialize, serde::Deserialize],
        with: {
            "folio:platform/blobs.bucket": crate::Bucket,
            "folio:platform/blobs.download": crate::Download,
            "folio:platform/blobs.upload": crate::Upload,
        },
        require_store_data_send: true,
    });
}

use bindings::folio::platform::blobs;

/// The buckets one component may open, by the names spin.toml grants.
#[derive(Clone, Default)]
pub struct ComponentBuckets {
    buckets: BTreeMap<String, Bucket>,
}

impl ComponentBuckets {
    /// Adds `bucket` under `name`: one the host already holds open.
    pub fn insert(&mut self, name: String, bucket: Bucket) {
        self.buckets.insert(name, bucket);
    }

    pub async fn open(
        component: &str,
        granted: &[String],
        config: &BlobConfig,
        data_dir: &Path,
        signer: &Signer,
    ) -> anyhow::Result<ComponentBuckets> {
        let mut buckets = BTreeMap::new();
        for name in granted {
            let bucket = match config.backend(name) {
                BlobBackendConfig::Disk { path } => {
                    let root = path.unwrap_or_else(|| data_dir.join("blobs"));
                    let dir = root.join(component).join(name);
                    let bucket = disk::DiskBucket::open(&dir, component, name, signer.clone())
                        .with_context(|| format!("blob bucket `{name}` at {}", dir.display()))?;
                    Bucket::Disk(bucket)
                }
                BlobBackendConfig::S3 {
                    endpoint,
                    region,
                    bucket,
                    access_key_id,
                    secret_access_key,
                    prefix,
                } => {
                    let env = |k: &str| std::env::var(k).ok();
                    let settings = s3::S3Settings {
                        endpoint,
                        region: region
                            .or_else(|| env("AWS_REGION"))
                            .unwrap_or_else(|| "us-east-1".into()),
                        access_key_id: access_key_id.or_else(|| env("AWS_ACCESS_KEY_ID")).with_context(|| {
                            format!("blob bucket `{name}`: no access_key_id and no AWS_ACCESS_KEY_ID")
                        })?,
                        secret_access_key: secret_access_key
                            .or_else(|| env("AWS_SECRET_ACCESS_KEY"))
                            .with_context(|| {
                                format!(
                                    "blob bucket `{name}`: no secret_access_key and no AWS_SECRET_ACCESS_KEY"
                                )
                            })?,
                        bucket,
                    };
                    let prefix = format!("{}{component}/{name}/", prefix.unwrap_or_default());
                    let client = s3::client(&settings);
                    let bucket = s3::S3Bucket::open(client, &settings.bucket, prefix)
                        .await
                        .with_context(|| format!("blob bucket `{name}` on S3"))?;
                    Bucket::S3(bucket)
                }
            };
            buckets.insert(name.clone(), bucket);
        }
        Ok(ComponentBuckets { buckets })
    }

    pub fn get(&self, name: &str) -> Option<&Bucket> {
        self.buckets.get(name)
    }
}

pub struct BlobView<'a> {
    pub table: &'a mut ResourceTable,
    pub buckets: &'a ComponentBuckets,
    /// The calling instance's W3C trace context, for the calls' spans.
    pub traceparent: &'a str,
}

struct BlobData;

impl HasData for BlobData {
    type Data<'a> = BlobView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> BlobView<'_>,
) -> anyhow::Result<()> {
    blobs::add_to_linker::<T, BlobData>(linker, view)?;
    Ok(())
}

type Result<T, E = blobs::Error> = wasmtime::Result<std::result::Result<T, E>>;

impl From<BlobError> for blobs::Error {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::InvalidKey(m) => blobs::Error::InvalidKey(m),
            BlobError::TooLarge(m) => blobs::Error::TooLarge(m),
            BlobError::InvalidArgument(m) => blobs::Error::InvalidArgument(m),
            BlobError::Closed => blobs::Error::Closed,
            BlobError::Unavailable(m) => blobs::Error::Unavailable(m),
        }
    }
}

fn meta(m: ObjectMeta) -> blobs::ObjectMeta {
    blobs::ObjectMeta {
        key: m.key,
        size: m.size,
        content_type: m.content_type,
        etag: m.etag,
        last_modified: m.last_modified,
    }
}

impl BlobView<'_> {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<Bucket> {
        Ok(self.table.get(bucket)?.clone())
    }
}

/// Runs `call` on `bucket`, reported to the host's tracing.
async fn traced<T>(
    traceparent: &str,
    bucket: &Bucket,
    operation: &'static str,
    call: impl Future<Output = std::result::Result<T, BlobError>>,
) -> std::result::Result<T, blobs::Error> {
    let site = folio_observe::Site {
        traceparent,
        capability: "blobs",
        system: bucket.system(),
        operation,
        target: Some(bucket.name()),
        statement: None,
    };
    folio_observe::observed(site, call)
        .await
        .map_err(Into::into)
}

impl blobs::Host for BlobView<'_> {}

impl blobs::HostBucket for BlobView<'_> {
    async fn open(&mut self, name: String) -> Result<Resource<Bucket>> {
        let Some(bucket) = self.buckets.get(&name) else {
            return Ok(Err(blobs::Error::NoSuchBucket(name)));
        };
        let bucket = bucket.clone();
        Ok(Ok(self.table.push(bucket)?))
    }

    async fn head(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> Result<Option<blobs::ObjectMeta>> {
        let bucket = self.bucket(&bucket)?;
        Ok(traced(self.traceparent, &bucket, "head", bucket.head(&key))
            .await
            .map(|m| m.map(meta)))
    }

    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        range: Option<blobs::ByteRange>,
    ) -> Result<Option<Resource<Download>>> {
        let range = range.map(|r| ByteRange {
            offset: r.offset,
            length: r.length,
        });
        let bucket = self.bucket(&bucket)?;
        match traced(self.traceparent, &bucket, "get", bucket.get(&key, range)).await {
            Ok(Some(download)) => Ok(Ok(Some(self.table.push(download)?))),
            Ok(None) => Ok(Ok(None)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn put(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        content_type: String,
    ) -> Result<Resource<Upload>> {
        let bucket = self.bucket(&bucket)?;
        match traced(
            self.traceparent,
            &bucket,
            "put",
            bucket.put(&key, &content_type),
        )
        .await
        {
            Ok(upload) => Ok(Ok(self.table.push(upload)?)),
            Err(e) => Ok(Err(e)),
        }
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<()> {
        let bucket = self.bucket(&bucket)?;
        Ok(traced(self.traceparent, &bucket, "delete", bucket.delete(&key)).await)
    }

    async fn list(
        &mut self,
        bucket: Resource<Bucket>,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> Result<blobs::Listing> {
        let bucket = self.bucket(&bucket)?;
        let listing = bucket.list(&prefix, start_after.as_deref(), limit);
        Ok(traced(self.traceparent, &bucket, "list", listing)
            .await
            .map(|l| blobs::Listing {
                objects: l
                    .objects
                    .into_iter()
                    .map(|o| blobs::ObjectSummary {
                        key: o.key,
                        size: o.size,
                        etag: o.etag,
                        last_modified: o.last_modified,
                    })
                    .collect(),
                next_start_after: l.next_start_after,
            }))
    }

    async fn presign_get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        expires_secs: u32,
    ) -> Result<String> {
        let bucket = self.bucket(&bucket)?;
        let presign = bucket.presign_get(&key, expires_secs);
        Ok(traced(self.traceparent, &bucket, "presign-get", presign).await)
    }

    async fn presign_put(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        content_type: String,
        expires_secs: u32,
    ) -> Result<String> {
        let bucket = self.bucket(&bucket)?;
        let presign = bucket.presign_put(&key, &content_type, expires_secs);
        Ok(traced(self.traceparent, &bucket, "presign-put", presign).await)
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl blobs::HostDownload for BlobView<'_> {
    async fn meta(&mut self, download: Resource<Download>) -> wasmtime::Result<blobs::ObjectMeta> {
        Ok(meta(self.table.get(&download)?.meta().clone()))
    }

    async fn read(&mut self, download: Resource<Download>, max_bytes: u32) -> Result<Vec<u8>> {
        let download = self.table.get_mut(&download)?;
        Ok(download
            .read(max_bytes as usize)
            .await
            .map(|b| b.to_vec())
            .map_err(Into::into))
    }

    async fn drop(&mut self, download: Resource<Download>) -> wasmtime::Result<()> {
        self.table.delete(download)?;
        Ok(())
    }
}

impl blobs::HostUpload for BlobView<'_> {
    async fn write(&mut self, upload: Resource<Upload>, chunk: Vec<u8>) -> Result<()> {
        let upload = self.table.get_mut(&upload)?;
        Ok(upload.write(&chunk).await.map_err(Into::into))
    }

    async fn finish(&mut self, upload: Resource<Upload>) -> Result<blobs::ObjectMeta> {
        let upload = self.table.delete(upload)?;
        let site = folio_observe::Site {
            traceparent: self.traceparent,
            capability: "blobs",
            system: upload.system(),
            operation: "finish-upload",
            target: None,
            statement: None,
        };
        Ok(folio_observe::observed(site, upload.finish())
            .await
            .map(meta)
            .map_err(Into::into))
    }

    /// Dropping an unfinished upload discards it (see `Upload`'s backends).
    async fn drop(&mut self, upload: Resource<Upload>) -> wasmtime::Result<()> {
        self.table.delete(upload)?;
        Ok(())
    }
}
