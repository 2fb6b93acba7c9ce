//! Object bytes between the shim and the component's buckets, streamed in
//! both directions (`folio_adapter_protocol::BLOBS_PATH`): a download is the
//! response body, read from the bucket as the shim reads it; an upload is
//! the request body, written to the bucket as it arrives. Neither side
//! holds a whole object.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use folio_adapter_protocol::{
    BUCKET_HEADER, CONTENT_TYPE_HEADER, KEY_HEADER, OBJECT_META_HEADER, RANGE_HEADER, Reply,
    decode_header_value, encode_header_value,
};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Request, Response, StatusCode};
use wasmtime::component::{Resource, ResourceTable};

use folio_blobs::bindings::folio::platform::blobs::{
    self as wit, HostBucket, HostDownload, HostUpload,
};

use super::{Body, full, text};
use crate::capability::blobs_view;
use crate::runtime::LoadedComponent;

/// Bytes read from the bucket per step of a download.
const READ_CHUNK: u32 = 1 << 20;
/// Bytes gathered from the request before each write of an upload (the
/// interface takes at most 4 MiB at once).
const WRITE_CHUNK: usize = 1 << 20;

/// The object the request names, or what is wrong with the request.
fn object_of(headers: &HeaderMap) -> Result<(String, String), String> {
    let named = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(decode_header_value)
            .ok_or_else(|| format!("no {name} header"))
    };
    Ok((named(BUCKET_HEADER)?, named(KEY_HEADER)?))
}

fn range_of(headers: &HeaderMap) -> Result<Option<wit::ByteRange>, String> {
    let Some(range) = headers.get(RANGE_HEADER) else {
        return Ok(None);
    };
    let bad = || "folio-range: `offset-` or `offset-length`".to_string();
    let (offset, length) = range
        .to_str()
        .ok()
        .and_then(|r| r.split_once('-'))
        .ok_or_else(bad)?;
    Ok(Some(wit::ByteRange {
        offset: offset.parse().map_err(|_| bad())?,
        length: match length {
            "" => None,
            n => Some(n.parse().map_err(|_| bad())?),
        },
    }))
}

/// An answer of the interface's error.
fn refused(error: wit::Error) -> Response<Body> {
    json(StatusCode::UNPROCESSABLE_ENTITY, &error)
}

fn json(status: StatusCode, value: &impl serde::Serialize) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(
            serde_json::to_vec(value).expect("WIT records serialize"),
        ))
        .expect("a valid response")
}

fn trapped(trap: wasmtime::Error) -> Response<Body> {
    text(StatusCode::BAD_REQUEST, &format!("{trap:#}"))
}

/// A bucket call's value, or the answer its refusal or trap gets.
#[expect(
    clippy::result_large_err,
    reason = "the answer goes straight back to the client"
)]
fn settled<T>(call: wasmtime::Result<Result<T, wit::Error>>) -> Result<T, Response<Body>> {
    match call {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) => Err(refused(e)),
        Err(trap) => Err(trapped(trap)),
    }
}

/// `GET`: the object's bytes as they are read, its metadata in a header.
pub async fn download(
    loaded: Arc<LoadedComponent>,
    headers: &HeaderMap,
    traceparent: String,
) -> Response<Body> {
    let ((bucket, key), range) = match (object_of(headers), range_of(headers)) {
        (Ok(object), Ok(range)) => (object, range),
        (Err(bad), _) | (_, Err(bad)) => return text(StatusCode::BAD_REQUEST, &bad),
    };
    let mut table = ResourceTable::new();
    let mut view = blobs_view(&mut table, &loaded.states, &traceparent);
    let bucket = match settled(HostBucket::open(&mut view, bucket).await) {
        Ok(bucket) => bucket,
        Err(answer) => return answer,
    };
    let download = match settled(HostBucket::get(&mut view, bucket, key, range).await) {
        Ok(Some(download)) => download.rep(),
        Ok(None) => return text(StatusCode::NOT_FOUND, "no such object"),
        Err(answer) => return answer,
    };
    let meta = match HostDownload::meta(&mut view, Resource::new_own(download)).await {
        Ok(meta) => meta,
        Err(trap) => return trapped(trap),
    };
    let meta = serde_json::to_string(&meta).expect("WIT records serialize");
    let steps = futures_util::stream::unfold(Some(table), move |table| {
        let (loaded, traceparent) = (loaded.clone(), traceparent.clone());
        async move {
            let mut table = table?;
            let mut view = blobs_view(&mut table, &loaded.states, &traceparent);
            let read = HostDownload::read(&mut view, Resource::new_own(download), READ_CHUNK).await;
            match read {
                Ok(Ok(chunk)) if chunk.is_empty() => None,
                Ok(Ok(chunk)) => Some((Ok(Frame::data(Bytes::from(chunk))), Some(table))),
                // The shim sees the body break off, and answers `unavailable`.
                Ok(Err(e)) => Some((Err(std::io::Error::other(format!("{e:?}"))), None)),
                Err(trap) => Some((Err(std::io::Error::other(format!("{trap:#}"))), None)),
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(OBJECT_META_HEADER, encode_header_value(&meta))
        .header("content-type", "application/octet-stream")
        .body(BodyExt::boxed_unsync(StreamBody::new(steps)))
        .expect("a valid response")
}

/// `PUT`: the request body written to a new object as it arrives, and the
/// `finish` answer. A body that breaks off leaves nothing under the key.
pub async fn upload(
    loaded: Arc<LoadedComponent>,
    request: Request<Incoming>,
    traceparent: String,
) -> Response<Body> {
    let (bucket, key) = match object_of(request.headers()) {
        Ok(object) => object,
        Err(bad) => return text(StatusCode::BAD_REQUEST, &bad),
    };
    let content_type = request
        .headers()
        .get(CONTENT_TYPE_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(decode_header_value)
        .unwrap_or_else(|| "application/octet-stream".into());
    let mut table = ResourceTable::new();
    let mut view = blobs_view(&mut table, &loaded.states, &traceparent);
    let bucket = match settled(HostBucket::open(&mut view, bucket).await) {
        Ok(bucket) => bucket,
        Err(answer) => return answer,
    };
    let upload = match settled(HostBucket::put(&mut view, bucket, key, content_type).await) {
        Ok(upload) => upload.rep(),
        Err(answer) => return answer,
    };
    let mut body = request.into_body();
    let mut pending = BytesMut::new();
    loop {
        let frame = body.frame().await;
        let end = frame.is_none();
        match frame {
            Some(Err(e)) => {
                return text(StatusCode::BAD_REQUEST, &format!("the body broke off: {e}"));
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    pending.extend_from_slice(&data);
                }
            }
            None => {}
        }
        if pending.len() >= WRITE_CHUNK || (end && !pending.is_empty()) {
            let chunk = pending.split().to_vec();
            if let Err(answer) =
                settled(HostUpload::write(&mut view, Resource::new_own(upload), chunk).await)
            {
                return answer;
            }
        }
        if end {
            break;
        }
    }
    match HostUpload::finish(&mut view, Resource::new_own(upload)).await {
        Ok(finished) => json(StatusCode::OK, &Reply::from(finished)),
        Err(trap) => trapped(trap),
    }
}
