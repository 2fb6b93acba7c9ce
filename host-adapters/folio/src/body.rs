//! Bodies: request bodies capped while they stream to guests, and small
//! response bodies gathered into one write.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{HeaderValue, Response};
use http_body::{Body, Frame, SizeHint};
use wasmtime_wasi_http::Error;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;

use crate::problem::full_body;

pub struct CappedBody<B> {
    inner: B,
    remaining: u64,
    exceeded: Arc<AtomicBool>,
}

impl<B> CappedBody<B> {
    pub fn new(inner: B, limit: u64, exceeded: Arc<AtomicBool>) -> Self {
        CappedBody {
            inner,
            remaining: limit,
            exceeded,
        }
    }
}

impl<B> Body for CappedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Error>,
{
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        Poll::Ready(match frame {
            Some(Ok(frame)) => {
                let len = frame.data_ref().map_or(0, |d| d.len() as u64);
                if len > self.remaining {
                    self.exceeded.store(true, Ordering::Relaxed);
                    Some(Err(Error::HttpRequestBodySize(None)))
                } else {
                    self.remaining -= len;
                    Some(Ok(frame))
                }
            }
            Some(Err(e)) => Some(Err(e.into())),
            None => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Largest response body gathered into one write instead of streamed.
const COALESCE_LIMIT: usize = 64 << 10;
/// Scheduler turns given to the guest to finish a small body before we stream it.
const COALESCE_YIELDS: usize = 4;

/// Most responses are small and finished a moment after their headers. Sending
/// them whole, with `content-length`, takes one write instead of chunked
/// encoding's three; bodies that are large or still being produced stream
/// as before, behind whatever was already gathered.
pub async fn coalesce(response: Response<HyperOutgoingBody>) -> Response<HyperOutgoingBody> {
    use futures_util::FutureExt;
    use http_body_util::BodyExt;

    let (mut parts, mut body) = response.into_parts();
    let mut gathered: Vec<Bytes> = Vec::new();
    let mut size = 0;
    let mut yields = 0;
    loop {
        match body.frame().now_or_never() {
            Some(None) => {
                let whole = concat(gathered, size);
                parts
                    .headers
                    .insert(http::header::CONTENT_LENGTH, HeaderValue::from(whole.len()));
                parts.headers.remove(http::header::TRANSFER_ENCODING);
                return Response::from_parts(parts, full_body(whole));
            }
            Some(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    size += data.len();
                    gathered.push(data);
                    if size > COALESCE_LIMIT {
                        break;
                    }
                }
                Err(trailers) => {
                    let rest =
                        http_body_util::StreamBody::new(futures_util::stream::once(async move {
                            Ok(trailers)
                        }))
                        .boxed_unsync();
                    return Response::from_parts(parts, prefixed(gathered, rest));
                }
            },
            Some(Some(Err(e))) => {
                let rest = http_body_util::StreamBody::new(futures_util::stream::once(
                    async move { Err(e) },
                ))
                .boxed_unsync();
                return Response::from_parts(parts, prefixed(gathered, rest));
            }
            None if yields < COALESCE_YIELDS => {
                yields += 1;
                tokio::task::yield_now().await;
            }
            None => break,
        }
    }
    Response::from_parts(parts, prefixed(gathered, body))
}

fn concat(chunks: Vec<Bytes>, size: usize) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.into_iter().next().unwrap(),
        _ => {
            let mut all = Vec::with_capacity(size);
            chunks.iter().for_each(|c| all.extend_from_slice(c));
            Bytes::from(all)
        }
    }
}

/// `gathered` first, then whatever `rest` still produces.
fn prefixed(gathered: Vec<Bytes>, rest: HyperOutgoingBody) -> HyperOutgoingBody {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;

    if gathered.is_empty() {
        return rest;
    }
    let head = futures_util::stream::iter(gathered.into_iter().map(|b| Ok(Frame::data(b))));
    let tail = http_body_util::BodyStream::new(rest);
    http_body_util::StreamBody::new(head.chain(tail)).boxed_unsync()
}
