//! Test fixture for the events adapter. Never deployed.
//!
//! Over HTTP (`spin-path-info`):
//! - `POST /write` `{"keys": [..], "topic", "type"?, "commit"?}`: one transaction
//!   that inserts each key into `writes` and publishes one event per key (data = key).
//! - `POST /emit` `{"topic", "type"?, "key", "data"?}`: `events.publish`, outside a
//!   transaction (data defaults to the key).
//! - `GET /writes`, `GET /received`, `GET /tries`, `GET /ticks`, `GET /spans`: what is stored.
//!   `writes` and `received` page by primary key with `?after=KEY` (`after=` starts).
//!
//! As a worker it records each event it accepts in `received`, once per id.
//! The event type picks its behaviour: `fixture.fail-twice` asks for a retry on
//! its first two tries, `fixture.always-fail` always does, `fixture.reject`
//! rejects, `fixture.trap` panics, `fixture.bench` does nothing, and
//! `fixture.slow` takes 150 ms, recording when it started and finished (in
//! `spans`, to see which events ran side by side). Events read from a
//! `*.dlq` topic are recorded with their extensions.
//!
//! As a cron component (`handle-cron-event`, Spin's cron trigger interface)
//! it records each call in `ticks`: the fire time the host passed and its own
//! clock. With `FIXTURE_CRON_SLEEP_MS` in its environment it then sleeps that
//! long; with `FIXTURE_CRON_FAIL` set it records the call and returns an error.

use folio_guest::{Connection, Dialect, Migration, OutgoingEvent, SqlError, Value, events};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use spin_sdk::http::{Request, Response};
use spin_sdk::http_component;

use folio_guest::worker::{Event, Guest, HandleError};

use folio_guest::cron::{Error as CronError, Metadata};

struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(_database: String, _dialect: Dialect) -> Vec<Migration> {
        vec![
            Migration {
                version: 1,
                name: "events-fixture".into(),
                statements: "CREATE TABLE writes (key TEXT PRIMARY KEY, event TEXT NOT NULL);
                 CREATE TABLE received (id TEXT PRIMARY KEY, topic TEXT NOT NULL, type TEXT NOT NULL,
                     data TEXT NOT NULL, attempt INTEGER NOT NULL, extensions TEXT NOT NULL,
                     deliveries INTEGER NOT NULL);
                 CREATE TABLE tries (id TEXT NOT NULL, attempt INTEGER NOT NULL)"
                    .into(),
            },
            Migration {
                version: 2,
                name: "cron-ticks".into(),
                // `timestamp`: the fire time the host passed (Unix seconds);
                // `at_ms`: the guest's clock when the call arrived.
                statements: "CREATE TABLE ticks (timestamp BIGINT NOT NULL, at_ms BIGINT NOT NULL)"
                    .into(),
            },
            Migration {
                version: 3,
                name: "handling-spans".into(),
                statements: "CREATE TABLE spans (data TEXT NOT NULL, started_ms BIGINT NOT NULL,
                     finished_ms BIGINT NOT NULL)"
                    .into(),
            },
        ]
    }
}

folio_guest::bindings::export!(Schema);

struct Worker;

impl Guest for Worker {
    fn handle(event: Event) -> Result<(), HandleError> {
        if event.type_.as_str() == "fixture.bench" {
            return Ok(());
        }
        let db = Connection::open("default").map_err(retry)?;
        let dead_letter = event.topic.ends_with(".dlq");
        if !dead_letter {
            db.execute(
                "INSERT INTO tries (id, attempt) VALUES ($1, $2)",
                &[
                    Value::Text(event.id.clone()),
                    Value::Integer(event.attempt.into()),
                ],
            )
            .map_err(retry)?;
            match event.type_.as_str() {
                "fixture.fail-twice" if event.attempt <= 2 => {
                    return Err(HandleError::Retry(format!("try {} fails", event.attempt)));
                }
                "fixture.always-fail" => {
                    return Err(HandleError::Retry("this handler always fails".into()));
                }
                "fixture.reject" => return Err(HandleError::Reject("rejected on sight".into())),
                "fixture.trap" => panic!("fixture trap"),
                "fixture.slow" => {
                    let started_ms = now_ms();
                    std::thread::sleep(std::time::Duration::from_millis(150));
                    db.execute(
                        "INSERT INTO spans (data, started_ms, finished_ms) VALUES ($1, $2, $3)",
                        &[
                            Value::Text(String::from_utf8_lossy(&event.data).into_owned()),
                            Value::Integer(started_ms),
                            Value::Integer(now_ms()),
                        ],
                    )
                    .map_err(retry)?;
                }
                _ => {}
            }
        }
        let extensions: serde_json::Map<String, Json> = event
            .extensions
            .iter()
            .map(|(k, v)| (k.clone(), Json::from(v.as_str())))
            .collect();
        let params = [
            Value::Text(event.id.clone()),
            Value::Text(event.topic.clone()),
            Value::Text(event.type_.clone()),
            Value::Text(String::from_utf8_lossy(&event.data).into_owned()),
            Value::Integer(event.attempt.into()),
            Value::Text(Json::Object(extensions).to_string()),
        ];
        // Idempotent by event id: a redelivery only counts itself.
        db.execute(
            "INSERT INTO received (id, topic, type, data, attempt, extensions, deliveries)
             VALUES ($1, $2, $3, $4, $5, $6, 1)
             ON CONFLICT (id) DO UPDATE SET deliveries = received.deliveries + 1",
            &params,
        )
        .map_err(retry)?;
        Ok(())
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

fn retry(e: SqlError) -> HandleError {
    HandleError::Retry(e.to_string())
}

folio_guest::worker::export!(Worker);

struct Cron;

impl folio_guest::cron::Guest for Cron {
    fn handle_cron_event(metadata: Metadata) -> Result<(), CronError> {
        let at_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or_default();
        let db = Connection::open("default").map_err(|e| CronError::Other(e.to_string()))?;
        db.execute(
            "INSERT INTO ticks (timestamp, at_ms) VALUES ($1, $2)",
            &[
                Value::Integer(metadata.timestamp as i64),
                Value::Integer(at_ms),
            ],
        )
        .map_err(|e| CronError::Other(e.to_string()))?;
        if let Some(ms) = std::env::var("FIXTURE_CRON_SLEEP_MS")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            std::thread::sleep(std::time::Duration::from_millis(ms));
        }
        if std::env::var("FIXTURE_CRON_FAIL").is_ok() {
            return Err(CronError::Other("scripted cron failure".into()));
        }
        Ok(())
    }
}

folio_guest::cron::export!(Cron);

#[derive(Deserialize)]
struct WriteRequest {
    keys: Vec<String>,
    topic: String,
    #[serde(rename = "type", default = "default_type")]
    event_type: String,
    #[serde(default = "yes")]
    commit: bool,
}

#[derive(Deserialize)]
struct EmitRequest {
    topic: String,
    #[serde(rename = "type", default = "default_type")]
    event_type: String,
    key: String,
    data: Option<String>,
}

fn default_type() -> String {
    "fixture.ok".into()
}

fn yes() -> bool {
    true
}

fn event(topic: &str, event_type: &str, key: &str) -> OutgoingEvent {
    OutgoingEvent {
        topic: topic.to_string(),
        type_: event_type.to_string(),
        key: key.to_string(),
        subject: Some(key.to_string()),
        datacontenttype: "text/plain".into(),
        data: key.as_bytes().to_vec(),
    }
}

#[http_component]
fn handle(request: Request) -> Response {
    let action = request
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    // `?after=KEY` pages `writes` and `received` by their primary key.
    let after = request
        .query()
        .split('&')
        .find_map(|pair| pair.strip_prefix("after="))
        .map(percent_decoded);
    let result = match action.as_str() {
        "write" => parse::<WriteRequest>(&request).and_then(write),
        "emit" => parse::<EmitRequest>(&request).and_then(|r| {
            let mut outgoing = event(&r.topic, &r.event_type, &r.key);
            if let Some(data) = r.data {
                outgoing.data = data.into_bytes();
            }
            match events::publish(&outgoing) {
                Ok(id) => Ok(json!({ "event": id })),
                Err(e) => Err(Failure::Event(format!("{e:?}"))),
            }
        }),
        "writes" => match &after {
            Some(after) => list_after("SELECT key, event FROM writes", "key", after),
            None => list("SELECT key, event FROM writes ORDER BY key"),
        },
        "received" => {
            let select =
                "SELECT id, topic, type, data, attempt, extensions, deliveries FROM received";
            match &after {
                Some(after) => list_after(select, "id", after),
                None => list(&format!("{select} ORDER BY data")),
            }
        }
        "tries" => list("SELECT id, attempt FROM tries ORDER BY id, attempt"),
        "ticks" => list("SELECT timestamp, at_ms FROM ticks ORDER BY at_ms"),
        "spans" => list("SELECT data, started_ms, finished_ms FROM spans ORDER BY started_ms"),
        _ => return Response::new(404, format!("no action `{action}`")),
    };
    match result {
        Ok(body) => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build(),
        Err(Failure::Sql(e)) => Response::builder()
            .status(if matches!(e, SqlError::Unavailable(_)) {
                503
            } else {
                400
            })
            .header("content-type", "application/json")
            .body(json!({ "error": { "kind": e.kind(), "message": e.to_string() } }).to_string())
            .build(),
        Err(Failure::Event(m)) => Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .body(json!({ "error": { "message": m } }).to_string())
            .build(),
        Err(Failure::BadRequest(m)) => Response::new(422, m),
    }
}

fn write(request: WriteRequest) -> Result<Json, Failure> {
    let db = Connection::open("default")?;
    let tx = db.begin()?;
    let mut ids = Vec::with_capacity(request.keys.len());
    for key in &request.keys {
        let id = tx.publish(&event(&request.topic, &request.event_type, key))?;
        tx.execute(
            "INSERT INTO writes (key, event) VALUES ($1, $2)",
            &[Value::Text(key.clone()), Value::Text(id.clone())],
        )?;
        ids.push(id);
    }
    if request.commit {
        tx.commit()?;
    } else {
        tx.rollback()?;
    }
    Ok(json!({ "events": ids }))
}

fn list(statement: &str) -> Result<Json, Failure> {
    let db = Connection::open("default")?;
    let rows = db.query(statement, &[])?;
    Ok(json!({ "rows": rows_as_json(rows.rows) }))
}

/// One page of a listing ordered by a unique first column, starting after
/// `after`; `next` names the key to continue from. Pages stay below the SQL
/// capability's cap on rows per answer, and rows that arrive while a caller
/// pages can neither repeat nor shift a row into the next page.
fn list_after(select: &str, key: &str, after: &str) -> Result<Json, Failure> {
    const PAGE: usize = 5_000;
    let db = Connection::open("default")?;
    let rows = db.query(
        &format!("{select} WHERE {key} > $1 ORDER BY {key} LIMIT {PAGE}"),
        &[Value::Text(after.to_string())],
    )?;
    let rows = rows_as_json(rows.rows);
    let next = (rows.len() == PAGE).then(|| rows[PAGE - 1][0].clone());
    Ok(json!({ "rows": rows, "next": next }))
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn rows_as_json(rows: Vec<Vec<Value>>) -> Vec<Json> {
    rows.into_iter()
        .map(|row| {
            Json::Array(
                row.into_iter()
                    .map(|v| match v {
                        Value::Text(t) => Json::from(t),
                        Value::Integer(i) => Json::from(i),
                        other => Json::from(format!("{other:?}")),
                    })
                    .collect(),
            )
        })
        .collect()
}

enum Failure {
    Sql(SqlError),
    Event(String),
    BadRequest(String),
}

impl From<SqlError> for Failure {
    fn from(e: SqlError) -> Self {
        Failure::Sql(e)
    }
}

fn parse<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, Failure> {
    serde_json::from_slice(request.body()).map_err(|e| Failure::BadRequest(e.to_string()))
}
