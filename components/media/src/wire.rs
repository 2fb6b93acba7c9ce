//! What the streaming handlers need from wasi:http: the request's head
//! without its body, the body as a source of chunks, and responses written
//! whole or streamed from object storage.

use folio_guest::blobs::Download;
use folio_guest::http::{Problem, form_pairs};
use folio_guest::streams::write_all;
use spin_sdk::http::{IncomingRequest, Method, OutgoingBody, ResponseOutparam};
use spin_sdk::wit::wasi::http0_2_0::types::IncomingBody;
use wasi::io::streams::{InputStream, StreamError};

/// Chunks read from the request body (or from stored objects) at a time.
pub const CHUNK: usize = 1 << 20;

/// The request line and headers.
pub struct Head {
    pub method: Method,
    pub path: String,
    pub query: Vec<(String, String)>,
    headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    pub fn of(request: &IncomingRequest) -> Head {
        let path_with_query = request.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = path_with_query
            .split_once('?')
            .unwrap_or((&path_with_query, ""));
        Head {
            method: request.method(),
            path: path.to_string(),
            query: form_pairs(query),
            headers: request.headers().entries(),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn segments(&self) -> Vec<&str> {
        self.path
            .trim_start_matches('/')
            .trim_end_matches('/')
            .split('/')
            .collect()
    }
}

/// Why a source of bytes stopped short.
pub enum SourceError {
    /// The client went away or the connection broke: what arrived so far is
    /// all there is (a resumable upload keeps it).
    Interrupted(String),
    Refused(Problem),
}

impl From<Problem> for SourceError {
    fn from(p: Problem) -> SourceError {
        SourceError::Refused(p)
    }
}

impl SourceError {
    pub fn into_problem(self) -> Problem {
        match self {
            SourceError::Interrupted(why) => {
                Problem::bad_request(format!("the upload was interrupted: {why}"))
            }
            SourceError::Refused(p) => p,
        }
    }
}

/// Bytes that arrive in chunks; `Ok(None)` is the end.
pub trait ByteSource {
    fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, SourceError>;
}

/// The request body, read as it arrives.
pub struct RequestBody {
    // Declared before `_body`: a stream must be dropped before its body.
    stream: InputStream,
    _body: IncomingBody,
}

impl RequestBody {
    pub fn of(request: IncomingRequest) -> RequestBody {
        let body = request.consume().expect("the body is taken once");
        RequestBody {
            stream: body.stream().expect("the stream is taken once"),
            _body: body,
        }
    }
}

impl ByteSource for RequestBody {
    fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, SourceError> {
        loop {
            match self.stream.blocking_read(max as u64) {
                Ok(bytes) if bytes.is_empty() => continue,
                Ok(bytes) => return Ok(Some(bytes)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(e)) => {
                    return Err(SourceError::Interrupted(e.to_debug_string()));
                }
            }
        }
    }
}

/// An object in storage, read in chunks.
impl ByteSource for Download {
    fn next_chunk(&mut self, max: usize) -> Result<Option<Vec<u8>>, SourceError> {
        let bytes = self
            .read(max.min(4 << 20) as u32)
            .map_err(|e| Problem::unavailable(format!("reading from object storage: {e}")))?;
        Ok((!bytes.is_empty()).then_some(bytes))
    }
}

use folio_guest::http::outgoing;
pub use folio_guest::http::send;

/// Streams `download` (already positioned at its range) as the body.
pub fn send_download(
    out: ResponseOutparam,
    status: u16,
    headers: &[(String, String)],
    download: Option<&Download>,
) {
    let response = outgoing(status, headers);
    let body = response.body().expect("the body is taken once");
    out.set(response);
    if let Some(download) = download {
        let stream = body.write().expect("the stream is taken once");
        loop {
            match download.read(4 << 20) {
                Ok(chunk) if chunk.is_empty() => break,
                Ok(chunk) => {
                    if write_all(&stream, &chunk).is_err() {
                        return;
                    }
                }
                // The status is sent: all that is left is an unfinished body.
                Err(_) => return,
            }
        }
        let _ = stream.blocking_flush();
        drop(stream);
    }
    let _ = OutgoingBody::finish(body, None);
}
