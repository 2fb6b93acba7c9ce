//! `GET /api/v1/notifications/stream`: the caller's new inbox entries as
//! Server-Sent Events, each with its `id`, so a reconnecting EventSource
//! resumes after the last one it saw (`Last-Event-ID`). The instance
//! watches a counter in the key-value store that every write to the inbox
//! bumps, and reads the database only when it moved. A stream ends after
//! `stream_seconds` (it holds an instance, which has a deadline); the
//! client reconnects after the `retry` it was told.

use std::time::{Duration, Instant};

use folio_guest::http::{Problem, header, outgoing, query_pairs, respond, send};
use spin_sdk::http::{OutgoingBody, Request, ResponseOutparam};

use crate::api::bodies::ProblemDetails;
use crate::api::inbox::{self, ticket_key};
use crate::config;
use crate::notify::inbox_key;
use crate::store;

const POLL: Duration = Duration::from_millis(100);
const KEEPALIVE: Duration = Duration::from_secs(15);
const FULL_CHECK: Duration = Duration::from_secs(5);
const RECONNECT_MS: u64 = 500;
const BATCH: i64 = 100;

#[utoipa::path(
    get, path = "/api/v1/notifications/stream", operation_id = "streamNotifications", tag = "notifications",
    params(
        ("ticket" = Option<String>, Query, description = "From `POST /api/v1/notifications/stream-tickets`, for clients that cannot send a bearer token (EventSource)"),
        ("Last-Event-ID" = Option<i64>, Header, description = "Resume after this entry"),
    ),
    responses(
        (status = 200, description = "`event: notification` with the inbox entry as `data` (JSON), its `id` the resume point; `: keepalive` comments", content_type = "text/event-stream"),
        (status = 400, description = "A bad Last-Event-ID or query parameter", body = ProblemDetails, content_type = "application/problem+json"),
        (status = 401, description = "No valid bearer token or ticket", body = ProblemDetails, content_type = "application/problem+json")
    ),
    security(("bearer" = []))
)]
pub fn serve(request: Request, out: ResponseOutparam) {
    let (user_id, resume_after) = match open(&request) {
        Ok(opened) => opened,
        Err(problem) => return send(out, respond(Err(problem)), true),
    };
    let db = match store::db() {
        Ok(db) => db,
        Err(problem) => return send(out, respond(Err(problem)), true),
    };
    let mut last_seq = match resume_after {
        Some(seq) => seq,
        None => match inbox::latest_seq(&db, &user_id) {
            Ok(seq) => seq,
            Err(problem) => return send(out, respond(Err(problem)), true),
        },
    };
    let headers = [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-store"),
        ("x-accel-buffering", "no"),
    ]
    .map(|(k, v)| (k.to_string(), v.to_string()));
    let response = outgoing(200, &headers);
    let body = response.body().expect("the body is taken once");
    out.set(response);
    let stream = body.write().expect("the stream is taken once");
    let write = |text: &str| -> bool {
        folio_guest::streams::write_all(&stream, text.as_bytes()).is_ok()
            && stream.blocking_flush().is_ok()
    };
    if !write(&format!("retry: {RECONNECT_MS}\n\n")) {
        return;
    }
    let bucket = folio_guest::kv::open("default").ok();
    let key = inbox_key(&user_id);
    let deadline = Instant::now() + Duration::from_secs(config::stream_seconds());
    // The counter as last read; `None` inside when it was never bumped. With
    // no store to ask, or once in a while anyway, the database is read.
    let mut seen_version: Option<Option<Vec<u8>>> = None;
    let mut last_write = Instant::now();
    let mut last_full_check = Instant::now();
    while Instant::now() < deadline {
        let version = bucket.as_ref().map(|b| b.get(&key).ok().flatten());
        if version.is_none() || seen_version != version || last_full_check.elapsed() >= FULL_CHECK {
            last_full_check = Instant::now();
            let Ok(entries) = inbox::after(&db, &user_id, last_seq, BATCH) else {
                break;
            };
            // A full batch may have more behind it: look again at once.
            if (entries.len() as i64) < BATCH {
                seen_version = version;
            }
            for (seq, item) in entries {
                let data = serde_json::to_string(&item).expect("an inbox entry serializes");
                if !write(&format!("id: {seq}\nevent: notification\ndata: {data}\n\n")) {
                    return;
                }
                last_seq = seq;
                last_write = Instant::now();
            }
        }
        if last_write.elapsed() >= KEEPALIVE {
            if !write(": keepalive\n\n") {
                return;
            }
            last_write = Instant::now();
        }
        std::thread::sleep(POLL);
    }
    drop(stream);
    let _ = OutgoingBody::finish(body, None);
}

/// Whose stream, and where to resume.
fn open(request: &Request) -> Result<(String, Option<i64>), Problem> {
    let pairs = query_pairs(request);
    if let Some((name, _)) = pairs.iter().find(|(n, _)| n != "ticket") {
        return Err(Problem::bad_request(format!(
            "unknown query parameter {name}"
        )));
    }
    let user_id = match pairs.iter().find(|(n, _)| n == "ticket") {
        Some((_, ticket)) => {
            let unauthorized = || Problem::unauthorized("the stream ticket is unknown or expired");
            let bucket = folio_guest::kv::open("default")
                .map_err(|e| Problem::unavailable(format!("the key-value store: {e:?}")))?;
            let owner = bucket
                .get(&ticket_key(ticket))
                .map_err(|e| Problem::unavailable(format!("the key-value store: {e:?}")))?
                .ok_or_else(unauthorized)?;
            String::from_utf8(owner).map_err(|_| unauthorized())?
        }
        None => crate::api::user(request)?.sub,
    };
    let resume = match header(request, "last-event-id") {
        None => None,
        Some(v) => Some(
            v.trim()
                .parse::<i64>()
                .ok()
                .filter(|s| *s >= 0)
                .ok_or_else(|| {
                    Problem::bad_request("Last-Event-ID must be an id this stream sent")
                })?,
        ),
    };
    Ok((user_id, resume))
}
