//! Object storage over HTTP, streaming both ways, for the black-box tests.
//! Every action takes `?bucket=NAME&key=KEY` (percent-encoded; the key is in
//! the query so `../` reaches the host as written):
//!
//! - `PUT .../blobs/object`: the body becomes the object (`content-type`
//!   header), written in chunks of `chunk` bytes (default 1 MiB); with
//!   `drop=1` the upload is dropped instead of finished, with `trap=1` the
//!   guest traps mid-upload.
//! - `GET .../blobs/object` (`offset`, `length` for a range): streams it out.
//! - `GET .../blobs/head`, `DELETE .../blobs/object`,
//!   `GET .../blobs/list?prefix=&start-after=&limit=`,
//!   `GET .../blobs/presign-get?expires=`, `GET .../blobs/presign-put?content-type=&expires=`.
//!
//! Interface errors answer 4xx/5xx `{"error": {"kind", "message"}}`.

use folio_guest::blobs::{Bucket, ByteRange, Error, ObjectMeta, Upload};
use folio_guest::streams::write_all;
use serde_json::{Value as Json, json};
use spin_sdk::http::{Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam};
use wasi::io::streams::StreamError;

const CHUNK: usize = 1 << 20;

pub fn handle(action: &str, request: IncomingRequest, out: ResponseOutparam) {
    let query = query(&request.path_with_query().unwrap_or_default());
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let bucket_name = param("bucket").unwrap_or_else(|| "media".into());
    let key = param("key").unwrap_or_default();
    let method = request.method();
    let bucket = match Bucket::open(&bucket_name) {
        Ok(b) => b,
        Err(e) => return reply(out, error(e)),
    };
    use spin_sdk::http::Method;
    let result: Result<(u16, Json), Error> = match (action, method) {
        ("object", Method::Put) => {
            let content_type = header(&request, "content-type").unwrap_or_default();
            let chunk = param("chunk")
                .and_then(|c| c.parse().ok())
                .unwrap_or(CHUNK);
            put(
                &bucket,
                &key,
                &content_type,
                request,
                chunk,
                param("drop").is_some(),
                param("trap").is_some(),
            )
        }
        ("object", Method::Get) => {
            let range = param("offset").map(|o| ByteRange {
                offset: o.parse().unwrap_or(0),
                length: param("length").and_then(|l| l.parse().ok()),
            });
            return get(&bucket, &key, range, out);
        }
        ("object", Method::Delete) => bucket.delete(&key).map(|_| (200, json!({"deleted": key}))),
        ("head", _) => bucket.head(&key).map(|m| match m {
            Some(m) => (200, meta(&m)),
            None => (404, json!({"error": {"kind": "not-found"}})),
        }),
        ("list", _) => bucket
            .list(
                &param("prefix").unwrap_or_default(),
                param("start-after").as_deref(),
                param("limit").and_then(|l| l.parse().ok()).unwrap_or(1000),
            )
            .map(|l| {
                let objects: Vec<Json> = l
                    .objects
                    .iter()
                    .map(|o| json!({"key": o.key, "size": o.size, "etag": o.etag, "lastModified": o.last_modified}))
                    .collect();
                (200, json!({"objects": objects, "nextStartAfter": l.next_start_after}))
            }),
        ("presign-get", _) => bucket
            .presign_get(&key, expires(&param("expires")))
            .map(|url| (200, json!({ "url": url }))),
        ("presign-put", _) => bucket
            .presign_put(
                &key,
                &param("content-type").unwrap_or_default(),
                expires(&param("expires")),
            )
            .map(|url| (200, json!({ "url": url }))),
        ("oversized-chunk", _) => bucket.put(&key, "application/octet-stream").and_then(|upload| {
            upload.write(&vec![0u8; (4 << 20) + 1])?;
            Ok((200, json!({"accepted": true})))
        }),
        _ => Ok((404, json!({"error": {"kind": "no-such-action"}}))),
    };
    reply(
        out,
        match result {
            Ok(ok) => ok,
            Err(e) => error(e),
        },
    )
}

fn expires(v: &Option<String>) -> u32 {
    v.as_deref().and_then(|e| e.parse().ok()).unwrap_or(300)
}

fn put(
    bucket: &Bucket,
    key: &str,
    content_type: &str,
    request: IncomingRequest,
    chunk: usize,
    drop_it: bool,
    trap: bool,
) -> Result<(u16, Json), Error> {
    let upload = bucket.put(key, content_type)?;
    let body = request.consume().expect("body taken once");
    let stream = body.stream().expect("stream taken once");
    let mut pending: Vec<u8> = Vec::with_capacity(chunk);
    let mut written = 0u64;
    loop {
        match stream.blocking_read((chunk - pending.len()) as u64) {
            Ok(bytes) => {
                pending.extend_from_slice(&bytes);
                if pending.len() >= chunk {
                    upload.write(&pending)?;
                    written += pending.len() as u64;
                    pending.clear();
                    if trap {
                        panic!("trapping mid-upload, as asked");
                    }
                }
            }
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Ok((
                    400,
                    json!({"error": {"kind": "body", "message": e.to_debug_string()}}),
                ));
            }
        }
    }
    if !pending.is_empty() {
        upload.write(&pending)?;
        written += pending.len() as u64;
    }
    if drop_it {
        drop(upload);
        return Ok((200, json!({"dropped": true, "written": written})));
    }
    let meta_ = Upload::finish(upload)?;
    Ok((200, meta(&meta_)))
}

fn get(bucket: &Bucket, key: &str, range: Option<ByteRange>, out: ResponseOutparam) {
    let download = match bucket.get(key, range) {
        Ok(Some(d)) => d,
        Ok(None) => return reply(out, (404, json!({"error": {"kind": "not-found"}}))),
        Err(e) => return reply(out, error(e)),
    };
    let m = download.meta();
    let headers = Fields::from_list(&[
        (
            "content-type".to_string(),
            m.content_type.clone().into_bytes(),
        ),
        ("x-blob-size".to_string(), m.size.to_string().into_bytes()),
        ("etag".to_string(), m.etag.clone().into_bytes()),
    ])
    .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    let body = response.body().expect("body taken once");
    out.set(response);
    let stream = body.write().expect("stream taken once");
    loop {
        let chunk = match download.read(CHUNK as u32) {
            Ok(c) => c,
            // Headers are gone: the only way to say "failed" is an unfinished body.
            Err(_) => return,
        };
        if chunk.is_empty() {
            break;
        }
        if write_all(&stream, &chunk).is_err() {
            return;
        }
    }
    let _ = stream.blocking_flush();
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

fn meta(m: &ObjectMeta) -> Json {
    json!({
        "key": m.key,
        "size": m.size,
        "contentType": m.content_type,
        "etag": m.etag,
        "lastModified": m.last_modified,
    })
}

fn error(e: Error) -> (u16, Json) {
    let status = match &e {
        Error::NoSuchBucket(_) => 404,
        Error::InvalidKey(_) | Error::InvalidArgument(_) => 400,
        Error::TooLarge(_) => 413,
        Error::Closed => 409,
        Error::Unavailable(_) => 503,
    };
    (
        status,
        json!({"error": {"kind": e.kind(), "message": e.to_string()}}),
    )
}

fn reply(out: ResponseOutparam, (status, body): (u16, Json)) {
    let headers = Fields::from_list(&[("content-type".to_string(), b"application/json".to_vec())])
        .expect("valid headers");
    let response = OutgoingResponse::new(headers);
    let _ = response.set_status_code(status);
    let body_handle = response.body().expect("body taken once");
    out.set(response);
    let stream = body_handle.write().expect("stream taken once");
    let _ = write_all(&stream, body.to_string().as_bytes());
    let _ = stream.blocking_flush();
    drop(stream);
    let _ = OutgoingBody::finish(body_handle, None);
}

fn header(request: &IncomingRequest, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)
        .into_iter()
        .next()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
}

/// `a=1&b=x%2Fy` → [("a", "1"), ("b", "x/y")]
fn query(path_with_query: &str) -> Vec<(String, String)> {
    let Some((_, q)) = path_with_query.split_once('?') else {
        return Vec::new();
    };
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

fn decode(s: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 2 < bytes.len())
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        match (escaped, bytes[i]) {
            (Some(b), _) => {
                out.push(b);
                i += 3;
            }
            (None, b'+') => {
                out.push(b' ');
                i += 1;
            }
            (None, b) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
