//! `/_folio/blobs/<component>/<bucket>/<key>?expires=..&sig=..`: presigned
//! URLs of buckets on local disk, served by the host itself (an S3 bucket's
//! presigned URLs point at the S3 server instead). GET streams the object
//! out, PUT streams the request body into an upload that becomes visible
//! only when the whole body has arrived. A bad or expired signature is 403.

use bytes::{Bytes, BytesMut};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use folio_blobs::{Bucket, PresignedTarget};

use crate::problem::problem_body;
use crate::runtime::AppRuntime;

/// Bytes per frame going out, and gathered per upload write coming in.
const CHUNK: usize = 1 << 20;

pub async fn serve(
    runtime: &AppRuntime,
    request: Request<Incoming>,
    request_id: &str,
) -> Response<HyperOutgoingBody> {
    let path = request.uri().path().to_string();
    let problem = |status: StatusCode, kind: &str, title: &str, detail: String| {
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/problem+json")
            .body(problem_body(
                kind,
                title,
                status,
                Some(&detail),
                &path,
                request_id,
            ))
            .expect("static response parts are valid")
    };
    let forbidden = |detail: String| {
        problem(
            StatusCode::FORBIDDEN,
            "presigned-url-refused",
            "The presigned URL is not valid",
            detail,
        )
    };
    let Some(target) = PresignedTarget::parse(&path, request.uri().query()) else {
        return forbidden(
            "expected /_folio/blobs/<component>/<bucket>/<key>?expires=..&sig=..".into(),
        );
    };
    let method = request.method().as_str().to_string();
    if method != "GET" && method != "PUT" {
        return problem(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Presigned URLs take GET or PUT",
            format!("{method} is not GET or PUT"),
        );
    }
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let Some((bucket, signer)) = runtime.blob_bucket(&target.component, &target.bucket) else {
        return forbidden("no such component bucket".into());
    };
    if let Err(why) = signer.verify(&method, &target, &content_type) {
        return forbidden(why);
    }
    if !matches!(bucket, Bucket::Disk(_)) {
        return forbidden("this bucket is not on local disk".into());
    }
    let outcome = if method == "GET" {
        get(&bucket, &target.key).await
    } else {
        put(&bucket, &target.key, &content_type, request.into_body()).await
    };
    match outcome {
        Ok(response) => response,
        Err((status, detail)) => problem(
            status,
            "blob-request-failed",
            "The object request failed",
            detail,
        ),
    }
}

type Outcome = Result<Response<HyperOutgoingBody>, (StatusCode, String)>;

fn status_of(e: &folio_blobs::BlobError) -> StatusCode {
    match e {
        folio_blobs::BlobError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

async fn get(bucket: &Bucket, key: &str) -> Outcome {
    let download = match bucket.get(key, None).await {
        Ok(Some(d)) => d,
        Ok(None) => return Err((StatusCode::NOT_FOUND, format!("no object {key:?}"))),
        Err(e) => return Err((status_of(&e), e.to_string())),
    };
    let meta = download.meta().clone();
    let frames = futures_util::stream::unfold(Some(download), |state| async move {
        let mut download = state?;
        match download.read(CHUNK).await {
            Ok(b) if b.is_empty() => None,
            Ok(b) => Some((Ok(Frame::data(b)), Some(download))),
            Err(e) => Some((
                Err(wasmtime_wasi_http::Error::InternalError(Some(
                    e.to_string(),
                ))),
                None,
            )),
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, meta.content_type)
        .header(http::header::CONTENT_LENGTH, meta.size)
        .header(http::header::ETAG, format!("\"{}\"", meta.etag))
        .body(http_body_util::StreamBody::new(frames).boxed_unsync())
        .expect("valid response parts"))
}

async fn put(bucket: &Bucket, key: &str, content_type: &str, mut body: Incoming) -> Outcome {
    let fail = |e: folio_blobs::BlobError| (status_of(&e), e.to_string());
    let mut upload = bucket.put(key, content_type).await.map_err(fail)?;
    let mut pending = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| (StatusCode::BAD_REQUEST, format!("request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            pending.extend_from_slice(&data);
            if pending.len() >= CHUNK {
                upload.write(&pending.split()).await.map_err(fail)?;
            }
        }
    }
    if !pending.is_empty() {
        upload.write(&pending).await.map_err(fail)?;
    }
    let meta = upload.finish().await.map_err(fail)?;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(http::header::ETAG, format!("\"{}\"", meta.etag))
        .body(crate::problem::full_body(Bytes::new()))
        .expect("valid response parts"))
}
