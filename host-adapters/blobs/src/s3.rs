//! Buckets on any S3 server (AWS, Garage, MinIO, ...) through aws-sdk-s3,
//! path-style with a custom endpoint. Each component bucket is the key
//! prefix `[prefix]<component>/<bucket>/` of one S3 bucket, and every key is
//! checked before the prefix is added, so no key reaches outside it.
//!
//! Uploads buffer at most one part (8 MiB): an object under one part is one
//! PutObject, a larger one a multipart upload, aborted when the upload fails
//! or is dropped unfinished. Downloads stream the response body.

use std::time::Duration;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_smithy_http_client::tls;
use bytes::{Bytes, BytesMut};

use crate::backend::{BlobError, ByteRange, Listing, ObjectMeta, ObjectSummary};

/// Uploads go out in parts of this size (S3's minimum part is 5 MiB).
pub const PART_BYTES: usize = 8 << 20;

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// One client per S3 binding; component buckets share it.
pub fn client(settings: &S3Settings) -> Client {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let timeouts = aws_sdk_s3::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(60))
        .build();
    let mut config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts)
        .region(Region::new(settings.region.clone()))
        .credentials_provider(Credentials::new(
            settings.access_key_id.clone(),
            settings.secret_access_key.clone(),
            None,
            None,
            "folio-runtime-config",
        ))
        .force_path_style(true)
        // Plain Content-MD5-free requests: every S3 server understands them.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if let Some(endpoint) = &settings.endpoint {
        config = config.endpoint_url(endpoint);
    }
    Client::from_conf(config.build())
}

#[derive(Clone)]
pub struct S3Bucket {
    client: Client,
    bucket: String,
    /// `[prefix]<component>/<bucket>/`
    prefix: String,
}

fn unavailable<E, R>(e: SdkError<E, R>) -> BlobError
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    BlobError::Unavailable(format!("{}", DisplayErrorContext(&e)))
}

fn etag(e: Option<&str>) -> String {
    e.unwrap_or_default().trim_matches('"').to_string()
}

fn rfc3339(t: Option<&aws_sdk_s3::primitives::DateTime>) -> String {
    t.and_then(|t| t.fmt(aws_sdk_s3::primitives::DateTimeFormat::DateTime).ok())
        .unwrap_or_default()
}

impl S3Bucket {
    /// The grant's name: the last segment of `[prefix]<component>/<bucket>/`.
    pub fn name(&self) -> &str {
        self.prefix
            .trim_end_matches('/')
            .rsplit('/')
            .next()
            .unwrap_or_default()
    }

    /// Checks that the S3 bucket answers, so a bad binding fails at start-up.
    pub async fn open(client: Client, bucket: &str, prefix: String) -> anyhow::Result<S3Bucket> {
        client
            .head_bucket()
            .bucket(bucket)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!("S3 bucket `{bucket}`: {}", DisplayErrorContext(&e)))?;
        Ok(S3Bucket {
            client,
            bucket: bucket.to_string(),
            prefix,
        })
    }

    fn full(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    pub async fn head(&self, key: &str) -> Result<Option<ObjectMeta>, BlobError> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
        {
            Ok(o) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: o.content_length().unwrap_or(0).max(0) as u64,
                content_type: o.content_type().unwrap_or_default().to_string(),
                etag: etag(o.e_tag()),
                last_modified: rfc3339(o.last_modified()),
            })),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub async fn get(
        &self,
        key: &str,
        range: Option<ByteRange>,
    ) -> Result<Option<S3Download>, BlobError> {
        let mut request = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key));
        if let Some(r) = range {
            let end = r
                .length
                .map(|l| (r.offset + l - 1).to_string())
                .unwrap_or_default();
            request = request.range(format!("bytes={}-{end}", r.offset));
        }
        match request.send().await {
            Ok(o) => {
                // With a range, the whole size is after the `/` of Content-Range.
                let size = o
                    .content_range()
                    .and_then(|c| c.rsplit_once('/'))
                    .and_then(|(_, total)| total.parse().ok())
                    .unwrap_or(o.content_length().unwrap_or(0).max(0) as u64);
                let meta = ObjectMeta {
                    key: key.to_string(),
                    size,
                    content_type: o.content_type().unwrap_or_default().to_string(),
                    etag: etag(o.e_tag()),
                    last_modified: rfc3339(o.last_modified()),
                };
                Ok(Some(S3Download {
                    meta,
                    body: o.body,
                    pending: Bytes::new(),
                }))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 416) => Err(
                BlobError::InvalidArgument("the range starts past the end of the object".into()),
            ),
            Err(e) => Err(unavailable(e)),
        }
    }

    pub fn put(&self, key: &str, content_type: &str) -> S3Upload {
        S3Upload {
            client: self.client.clone(),
            bucket: self.bucket.clone(),
            key: key.to_string(),
            full_key: self.full(key),
            content_type: content_type.to_string(),
            buffer: BytesMut::new(),
            multipart: None,
            size: 0,
            closed: false,
        }
    }

    pub async fn delete(&self, key: &str) -> Result<(), BlobError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    pub async fn list(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
    ) -> Result<Listing, BlobError> {
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full(prefix))
            .max_keys(limit as i32);
        if let Some(after) = start_after {
            request = request.start_after(self.full(after));
        }
        let page = request.send().await.map_err(unavailable)?;
        let objects: Vec<ObjectSummary> = page
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ObjectSummary {
                    key: o.key()?.strip_prefix(&self.prefix)?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    etag: etag(o.e_tag()),
                    last_modified: rfc3339(o.last_modified()),
                })
            })
            .collect();
        let next_start_after = if page.is_truncated().unwrap_or(false) {
            objects.last().map(|o| o.key.clone())
        } else {
            None
        };
        Ok(Listing {
            objects,
            next_start_after,
        })
    }

    pub async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| BlobError::InvalidArgument(e.to_string()))?;
        let presigned = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .presigned(config)
            .await
            .map_err(unavailable)?;
        Ok(presigned.uri().to_string())
    }

    pub async fn presign_put(
        &self,
        key: &str,
        content_type: &str,
        ttl: Duration,
    ) -> Result<String, BlobError> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| BlobError::InvalidArgument(e.to_string()))?;
        let presigned = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full(key))
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(unavailable)?;
        Ok(presigned.uri().to_string())
    }
}

pub struct S3Download {
    pub meta: ObjectMeta,
    body: ByteStream,
    pending: Bytes,
}

impl S3Download {
    pub async fn read(&mut self, max: usize) -> Result<Bytes, BlobError> {
        while self.pending.is_empty() {
            match self.body.next().await {
                None => return Ok(Bytes::new()),
                Some(Ok(chunk)) => self.pending = chunk,
                Some(Err(e)) => {
                    return Err(BlobError::Unavailable(format!(
                        "{}",
                        DisplayErrorContext(&e)
                    )));
                }
            }
        }
        let n = max.min(self.pending.len());
        Ok(self.pending.split_to(n))
    }
}

struct Multipart {
    upload_id: String,
    parts: Vec<CompletedPart>,
}

pub struct S3Upload {
    client: Client,
    bucket: String,
    key: String,
    full_key: String,
    content_type: String,
    buffer: BytesMut,
    multipart: Option<Multipart>,
    size: u64,
    closed: bool,
}

impl S3Upload {
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), BlobError> {
        if self.closed {
            return Err(BlobError::Closed);
        }
        self.buffer.extend_from_slice(chunk);
        self.size += chunk.len() as u64;
        while self.buffer.len() >= PART_BYTES {
            let part = self.buffer.split_to(PART_BYTES).freeze();
            if let Err(e) = self.upload_part(part).await {
                self.fail().await;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn upload_part(&mut self, part: Bytes) -> Result<(), BlobError> {
        if self.multipart.is_none() {
            let created = self
                .client
                .create_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.full_key)
                .content_type(&self.content_type)
                .send()
                .await
                .map_err(unavailable)?;
            let upload_id = created
                .upload_id()
                .ok_or_else(|| BlobError::Unavailable("no upload id from S3".into()))?
                .to_string();
            self.multipart = Some(Multipart {
                upload_id,
                parts: Vec::new(),
            });
        }
        let multipart = self.multipart.as_mut().expect("created above");
        let number = multipart.parts.len() as i32 + 1;
        let uploaded = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(&self.full_key)
            .upload_id(&multipart.upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(unavailable)?;
        multipart.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(uploaded.e_tag().map(str::to_string))
                .build(),
        );
        Ok(())
    }

    /// Abandons the upload: nothing becomes visible.
    async fn fail(&mut self) {
        self.closed = true;
        self.buffer = BytesMut::new();
        if let Some(m) = self.multipart.take() {
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.full_key)
                .upload_id(m.upload_id)
                .send()
                .await;
        }
    }

    pub async fn finish(mut self) -> Result<ObjectMeta, BlobError> {
        if self.closed {
            return Err(BlobError::Closed);
        }
        let result = self.complete().await;
        if result.is_err() {
            self.fail().await;
        }
        self.closed = true;
        result
    }

    async fn complete(&mut self) -> Result<ObjectMeta, BlobError> {
        let etag_value = if self.multipart.is_none() {
            let body = std::mem::take(&mut self.buffer).freeze();
            let put = self
                .client
                .put_object()
                .bucket(&self.bucket)
                .key(&self.full_key)
                .content_type(&self.content_type)
                .body(ByteStream::from(body))
                .send()
                .await
                .map_err(unavailable)?;
            etag(put.e_tag())
        } else {
            if !self.buffer.is_empty() {
                let last = std::mem::take(&mut self.buffer).freeze();
                self.upload_part(last).await?;
            }
            let m = self.multipart.as_ref().expect("multipart");
            let done = self
                .client
                .complete_multipart_upload()
                .bucket(&self.bucket)
                .key(&self.full_key)
                .upload_id(&m.upload_id)
                .multipart_upload(
                    CompletedMultipartUpload::builder()
                        .set_parts(Some(m.parts.clone()))
                        .build(),
                )
                .send()
                .await
                .map_err(unavailable)?;
            self.multipart = None;
            etag(done.e_tag())
        };
        // The server's clock, not ours.
        let last_modified = match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(&self.full_key)
            .send()
            .await
        {
            Ok(h) => rfc3339(h.last_modified()),
            Err(_) => crate::backend::rfc3339(std::time::SystemTime::now()),
        };
        Ok(ObjectMeta {
            key: self.key.clone(),
            size: self.size,
            content_type: self.content_type.clone(),
            etag: etag_value,
            last_modified,
        })
    }
}

impl Drop for S3Upload {
    /// An upload dropped unfinished (the guest dropped it, trapped or timed
    /// out) aborts its multipart upload, so no parts linger on the server.
    fn drop(&mut self) {
        let Some(m) = self.multipart.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let request = self
            .client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(&self.full_key)
            .upload_id(m.upload_id);
        runtime.spawn(async move {
            if let Err(e) = request.send().await {
                tracing::warn!(
                    "aborting a dropped multipart upload failed: {}",
                    DisplayErrorContext(&e)
                );
            }
        });
    }
}
