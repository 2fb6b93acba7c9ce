//! `folio:platform/blobs`, in the service. Listing, metadata and signed URLs
//! are calls; object bytes stream over their own requests
//! (`folio_adapter_protocol::BLOBS_PATH`): a download reads the response
//! body as the component reads, an upload writes the request body as the
//! component writes, so no object is ever whole in the instance's memory
//! (beyond what the component itself holds).

use std::cell::RefCell;
use std::pin::Pin;

use folio_adapter_protocol::{
    BLOBS_PATH, BUCKET_HEADER, CONTENT_TYPE_HEADER, Call, KEY_HEADER, OBJECT_META_HEADER,
    RANGE_HEADER, Reply, decode_header_value, encode_header_value,
};
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::de::DeserializeOwned;
use spin_sdk::http::{Fields, IncomingResponse, Method, OutgoingRequest, Request, Scheme};
use spin_sdk::wit::wasi::http0_2_0::outgoing_handler;
use spin_sdk::wit::wasi::http0_2_0::types::FutureIncomingResponse;

use crate::bindings::exports::folio::platform::blobs::{
    Bucket, ByteRange, Download, Error, Guest, GuestBucket, GuestDownload, GuestUpload, Listing,
    ObjectMeta, Upload,
};
use crate::remote;

/// A bucket the component may open: its name, checked when opened.
pub struct RemoteBucket(String);

type Chunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>>>>;
type BodySink = Pin<Box<dyn Sink<Vec<u8>, Error = String>>>;

pub struct RemoteDownload {
    meta: ObjectMeta,
    body: RefCell<DownloadBody>,
}

struct DownloadBody {
    /// Kept: dropping the response would cancel the body.
    _response: IncomingResponse,
    chunks: Chunks,
    /// Bytes of the last chunk past what the component asked for.
    left: Vec<u8>,
}

pub struct RemoteUpload {
    body: RefCell<Option<BodySink>>,
    answer: FutureIncomingResponse,
}

fn call<T: DeserializeOwned>(call: &Call) -> Result<T, Error> {
    remote::call::<T, Error>(call).map_err(Error::Unavailable)?
}

/// The headers naming `key` in `bucket`, beside the caller's.
fn object_headers(bucket: &str, key: &str) -> Result<Vec<(String, String)>, Error> {
    let mut headers = remote::caller_headers().map_err(Error::Unavailable)?;
    headers.push((BUCKET_HEADER.into(), encode_header_value(bucket)));
    headers.push((KEY_HEADER.into(), encode_header_value(key)));
    Ok(headers)
}

/// The interface's error a 422 carries, or `unavailable` with what came.
fn refusal(status: u16, body: &[u8]) -> Error {
    match (status, serde_json::from_slice::<Error>(body)) {
        (422, Ok(error)) => error,
        _ => Error::Unavailable(format!(
            "the adapter service answered {status}: {}",
            String::from_utf8_lossy(body)
        )),
    }
}

impl Guest for crate::Shim {
    type Bucket = RemoteBucket;
    type Download = RemoteDownload;
    type Upload = RemoteUpload;
}

impl GuestBucket for RemoteBucket {
    fn open(name: String) -> Result<Bucket, Error> {
        call::<()>(&Call::BlobsOpen {
            bucket: name.clone(),
        })?;
        Ok(Bucket::new(RemoteBucket(name)))
    }

    fn head(&self, key: String) -> Result<Option<ObjectMeta>, Error> {
        call(&Call::BlobsHead {
            bucket: self.0.clone(),
            key,
        })
    }

    fn get(&self, key: String, range: Option<ByteRange>) -> Result<Option<Download>, Error> {
        let mut request = Request::builder();
        request
            .method(Method::Get)
            .uri(remote::url(BLOBS_PATH).map_err(Error::Unavailable)?);
        for (name, value) in object_headers(&self.0, &key)? {
            request.header(name, value);
        }
        if let Some(range) = range {
            let length = range.length.map(|n| n.to_string()).unwrap_or_default();
            request.header(RANGE_HEADER, format!("{}-{length}", range.offset));
        }
        let response: IncomingResponse = spin_sdk::http::run(spin_sdk::http::send(request.build()))
            .map_err(|e| Error::Unavailable(format!("the adapter service did not answer: {e}")))?;
        match response.status() {
            200 => {}
            404 => return Ok(None),
            status => {
                let body = spin_sdk::http::run(response.into_body()).unwrap_or_default();
                return Err(refusal(status, &body));
            }
        }
        let meta = response
            .headers()
            .get(OBJECT_META_HEADER)
            .first()
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(decode_header_value)
            .and_then(|json| serde_json::from_str::<ObjectMeta>(&json).ok())
            .ok_or_else(|| {
                Error::Unavailable("the adapter service sent no object metadata".into())
            })?;
        let chunks: Chunks = Box::pin(
            response
                .take_body_stream()
                .map(|chunk| chunk.map_err(|e| format!("the object's bytes broke off: {e:?}"))),
        );
        Ok(Some(Download::new(RemoteDownload {
            meta,
            body: RefCell::new(DownloadBody {
                _response: response,
                chunks,
                left: Vec::new(),
            }),
        })))
    }

    fn put(&self, key: String, content_type: String) -> Result<Upload, Error> {
        let mut headers = object_headers(&self.0, &key)?;
        headers.push((
            CONTENT_TYPE_HEADER.into(),
            encode_header_value(&content_type),
        ));
        let fields: Vec<(String, Vec<u8>)> = headers
            .into_iter()
            .map(|(name, value)| (name, value.into_bytes()))
            .collect();
        let fields = Fields::from_list(&fields)
            .map_err(|e| Error::InvalidKey(format!("not a header value: {e:?}")))?;
        let url = remote::url(BLOBS_PATH).map_err(Error::Unavailable)?;
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::Unavailable(format!("folio_adapters_url {url:?}")))?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let request = OutgoingRequest::new(fields);
        let scheme = match scheme {
            "https" => Scheme::Https,
            _ => Scheme::Http,
        };
        let set = request.set_method(&Method::Put).is_ok()
            && request.set_scheme(Some(&scheme)).is_ok()
            && request.set_authority(Some(authority)).is_ok()
            && request.set_path_with_query(Some(path)).is_ok();
        if !set {
            return Err(Error::Unavailable(format!("folio_adapters_url {url:?}")));
        }
        let body = request.take_body();
        // Sent now, so the body streams to the service as it is written.
        let answer = outgoing_handler::handle(request, None).map_err(|e| {
            Error::Unavailable(format!("the adapter service did not answer: {e:?}"))
        })?;
        let body: BodySink = Box::pin(body.sink_map_err(|e| format!("{e:?}")));
        Ok(Upload::new(RemoteUpload {
            body: RefCell::new(Some(body)),
            answer,
        }))
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        call(&Call::BlobsDelete {
            bucket: self.0.clone(),
            key,
        })
    }

    fn list(
        &self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> Result<Listing, Error> {
        call(&Call::BlobsList {
            bucket: self.0.clone(),
            prefix,
            start_after,
            limit,
        })
    }

    fn presign_get(&self, key: String, expires_secs: u32) -> Result<String, Error> {
        call(&Call::BlobsPresignGet {
            bucket: self.0.clone(),
            key,
            expires_secs,
        })
    }

    fn presign_put(
        &self,
        key: String,
        content_type: String,
        expires_secs: u32,
    ) -> Result<String, Error> {
        call(&Call::BlobsPresignPut {
            bucket: self.0.clone(),
            key,
            content_type,
            expires_secs,
        })
    }
}

impl GuestDownload for RemoteDownload {
    fn meta(&self) -> ObjectMeta {
        self.meta.clone()
    }

    fn read(&self, max_bytes: u32) -> Result<Vec<u8>, Error> {
        let mut body = self.body.borrow_mut();
        if body.left.is_empty() {
            match spin_sdk::http::run(body.chunks.next()) {
                None => return Ok(Vec::new()),
                Some(Err(e)) => return Err(Error::Unavailable(e)),
                Some(Ok(chunk)) => body.left = chunk,
            }
        }
        let take = body.left.len().min(max_bytes.max(1) as usize);
        let rest = body.left.split_off(take);
        Ok(std::mem::replace(&mut body.left, rest))
    }
}

impl GuestUpload for RemoteUpload {
    fn write(&self, chunk: Vec<u8>) -> Result<(), Error> {
        if chunk.len() > 4 << 20 {
            return Err(Error::TooLarge("a chunk is at most 4 MiB".into()));
        }
        let mut body = self.body.borrow_mut();
        let Some(sink) = body.as_mut() else {
            return Err(Error::Closed);
        };
        if let Err(e) = spin_sdk::http::run(sink.send(chunk)) {
            *body = None;
            return Err(self
                .refused_early()
                .unwrap_or(Error::Unavailable(format!("the upload broke off: {e}"))));
        }
        Ok(())
    }

    fn finish(this: Upload) -> Result<ObjectMeta, Error> {
        let upload: RemoteUpload = this.into_inner();
        let Some(mut sink) = upload.body.take() else {
            return Err(Error::Closed);
        };
        spin_sdk::http::run(sink.close())
            .map_err(|e| Error::Unavailable(format!("the upload broke off: {e}")))?;
        drop(sink);
        let (status, body) = upload.answer()?;
        match status {
            200 => serde_json::from_slice::<Reply<ObjectMeta, Error>>(&body)
                .map(Into::into)
                .map_err(|e| {
                    Error::Unavailable(format!("the adapter service answered something else: {e}"))
                })?,
            status => Err(refusal(status, &body)),
        }
    }
}

impl RemoteUpload {
    /// The service's answer, waiting for it.
    fn answer(&self) -> Result<(u16, Vec<u8>), Error> {
        self.answer.subscribe().block();
        match self.answer.get() {
            Some(Ok(Ok(response))) => {
                let status = response.status();
                let body = spin_sdk::http::run(response.into_body())
                    .map_err(|e| Error::Unavailable(format!("the answer broke off: {e:?}")))?;
                Ok((status, body))
            }
            Some(Ok(Err(e))) => Err(Error::Unavailable(format!(
                "the adapter service did not answer: {e:?}"
            ))),
            _ => Err(Error::Unavailable(
                "the adapter service did not answer".into(),
            )),
        }
    }

    /// Why the service stopped reading, if it already answered (a bad key).
    fn refused_early(&self) -> Option<Error> {
        if !self.answer.subscribe().ready() {
            return None;
        }
        let (status, body) = self.answer().ok()?;
        Some(refusal(status, &body))
    }
}
