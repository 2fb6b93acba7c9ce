//! Test fixture: exposes the SQL interface over HTTP so black-box tests can
//! drive it from inside a real guest. Never deployed.
//!
//! `POST .../query` and `.../execute` take `{"database"?, "statement", "params"}`;
//! `POST .../transaction` takes `{"steps": [{"execute": ..}|{"publish": ..}], "commit": bool}`.
//! Values are JSON objects: `{"integer": 1}`, `{"text": "a"}`, `"null"`, ...
//! `POST .../kv` takes `{"store"?, "ops": [{"set": {"key", "value"}}, {"get": "k"}, ...]}`
//! and answers one `{"ok": ..}` or `{"error": ..}` per operation.
//! `.../blobs/...` drives object storage with streaming bodies: see `blobs.rs`.

mod blobs;

use folio_guest::{Connection, Dialect, Migration, OutgoingEvent, SqlError, Value, kv};
use serde::Deserialize;
use serde_json::{Value as Json, json};
use spin_sdk::http::conversions::TryFromIncomingRequest;
use spin_sdk::http::{IncomingRequest, OutgoingResponse, Request, Response, ResponseOutparam};
use spin_sdk::http_component;

struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        let (blob, json, ts) = match dialect {
            Dialect::Sqlite => ("BLOB", "TEXT", "TIMESTAMP"),
            Dialect::Postgres => ("BYTEA", "JSONB", "TIMESTAMPTZ"),
        };
        vec![
            Migration {
                version: 1,
                name: "notes".into(),
                statements: format!(
                    "CREATE TABLE notes (id INTEGER PRIMARY KEY, title TEXT NOT NULL UNIQUE, \
                     body {blob}, meta {json}, pinned BOOLEAN, score DOUBLE PRECISION, created {ts})"
                ),
            },
            Migration {
                version: 2,
                name: "notes-index".into(),
                statements: "CREATE INDEX notes_created ON notes (created)".into(),
            },
            Migration {
                version: 3,
                name: "bench-inserts".into(),
                statements: "CREATE TABLE bench_inserts (note BIGINT NOT NULL, at TEXT NOT NULL)"
                    .into(),
            },
        ]
    }
}

folio_guest::bindings::export!(Schema);

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum JsonValue {
    Null,
    Integer(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
    Boolean(bool),
    Json(String),
    Timestamp(String),
}

impl From<JsonValue> for Value {
    fn from(v: JsonValue) -> Value {
        match v {
            JsonValue::Null => Value::Null,
            JsonValue::Integer(i) => Value::Integer(i),
            JsonValue::Real(r) => Value::Real(r),
            JsonValue::Text(t) => Value::Text(t),
            JsonValue::Blob(b) => Value::Blob(b),
            JsonValue::Boolean(b) => Value::Boolean(b),
            JsonValue::Json(j) => Value::Json(j),
            JsonValue::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

fn to_json(v: Value) -> Json {
    match v {
        Value::Null => json!("null"),
        Value::Integer(i) => json!({ "integer": i }),
        Value::Real(r) => json!({ "real": r }),
        Value::Text(t) => json!({ "text": t }),
        Value::Blob(b) => json!({ "blob": b }),
        Value::Boolean(b) => json!({ "boolean": b }),
        Value::Json(j) => json!({ "json": j }),
        Value::Timestamp(t) => json!({ "timestamp": t }),
    }
}

#[derive(Deserialize)]
struct Statement {
    #[serde(default = "default_database")]
    database: String,
    statement: String,
    #[serde(default)]
    params: Vec<JsonValue>,
}

fn default_database() -> String {
    "default".into()
}

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Step {
    Execute {
        statement: String,
        #[serde(default)]
        params: Vec<JsonValue>,
    },
    Publish {
        topic: String,
        key: String,
        data: String,
    },
}

#[derive(Deserialize)]
struct TransactionRequest {
    steps: Vec<Step>,
    commit: bool,
}

#[http_component]
async fn handle(incoming: IncomingRequest, out: ResponseOutparam) {
    let path_info = incoming
        .headers()
        .get("spin-path-info")
        .into_iter()
        .next()
        .map(|v| String::from_utf8_lossy(&v).into_owned())
        .unwrap_or_default();
    if let Some(action) = path_info.strip_prefix("/blobs/") {
        let action = action.to_string();
        return blobs::handle(&action, incoming, out);
    }
    let mut response = match Request::try_from_incoming_request(incoming).await {
        Ok(request) => handle_whole(request),
        Err(e) => Response::new(400, format!("{e:?}")),
    };
    let body = std::mem::take(response.body_mut());
    if let Ok(response) = OutgoingResponse::try_from(response) {
        let _ = ResponseOutparam::set_with_body(out, response, body).await;
    }
}

/// The actions that take and give whole JSON bodies.
fn handle_whole(request: Request) -> Response {
    let action = request
        .header("spin-path-info")
        .and_then(|h| h.as_str())
        .unwrap_or("")
        .trim_start_matches('/')
        .to_string();
    let result = match action.as_str() {
        "query" => parse::<Statement>(&request).and_then(|s| {
            let db = Connection::open(&s.database)?;
            let result = db.query(&s.statement, &params(s.params))?;
            let rows: Vec<Json> = result
                .rows
                .into_iter()
                .map(|r| Json::Array(r.into_iter().map(to_json).collect()))
                .collect();
            Ok(json!({ "columns": result.columns, "rows": rows }))
        }),
        "execute" => parse::<Statement>(&request).and_then(|s| {
            let db = Connection::open(&s.database)?;
            Ok(json!({ "changed": db.execute(&s.statement, &params(s.params))? }))
        }),
        "transaction" => parse::<TransactionRequest>(&request).and_then(|t| {
            let db = Connection::open("default")?;
            let tx = db.begin()?;
            let mut events = Vec::new();
            for step in t.steps {
                match step {
                    Step::Execute {
                        statement,
                        params: p,
                    } => {
                        tx.execute(&statement, &params(p))?;
                    }
                    Step::Publish { topic, key, data } => {
                        events.push(tx.publish(&OutgoingEvent {
                            topic,
                            type_: "folio.fixture.note-changed".into(),
                            subject: Some(key.clone()),
                            key,
                            datacontenttype: "application/json".into(),
                            data: data.into_bytes(),
                        })?)
                    }
                }
            }
            if t.commit {
                tx.commit()?;
            } else {
                tx.rollback()?;
            }
            let after = tx.commit().err().map(|e| e.kind());
            Ok(json!({ "events": events, "afterFinish": after }))
        }),
        "kv" => parse::<KvRequest>(&request).map(|r| {
            let results: Vec<Json> = match kv::open(&r.store) {
                Ok(bucket) => r.ops.into_iter().map(|op| kv_op(&bucket, op)).collect(),
                Err(e) => vec![json!({ "error": format!("{e:?}") })],
            };
            json!({ "results": results })
        }),
        "bench" => parse::<BenchRequest>(&request).and_then(bench),
        _ => return Response::new(404, format!("no action `{action}`")),
    };
    match result {
        Ok(body) => Response::builder()
            .status(200)
            .header("content-type", "application/json")
            .body(body.to_string())
            .build(),
        Err(Failure::Sql(e)) => Response::builder()
            .status(400)
            .header("content-type", "application/json")
            .body(json!({ "error": { "kind": e.kind(), "message": e.to_string() } }).to_string())
            .build(),
        Err(Failure::BadRequest(m)) => Response::new(422, m),
    }
}

#[derive(Deserialize)]
struct KvRequest {
    #[serde(default = "default_database")]
    store: String,
    ops: Vec<KvOp>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
enum KvOp {
    Set {
        key: String,
        value: String,
    },
    SetTtl {
        key: String,
        value: String,
        ttl_ms: u64,
    },
    Get(String),
    Delete(String),
    Exists(String),
    Increment {
        key: String,
        delta: i64,
    },
    List,
}

fn kv_op(bucket: &kv::Bucket, op: KvOp) -> Json {
    let result: Result<Json, kv::Error> = match op {
        KvOp::Set { key, value } => bucket.set(&key, value.as_bytes()).map(|_| Json::Null),
        KvOp::SetTtl { key, value, ttl_ms } => {
            kv::set_with_ttl(bucket, &key, value.as_bytes(), ttl_ms).map(|_| Json::Null)
        }
        KvOp::Get(key) => bucket
            .get(&key)
            .map(|v| v.map_or(Json::Null, |b: Vec<u8>| String::from_utf8_lossy(&b).into())),
        KvOp::Delete(key) => bucket.delete(&key).map(|_| Json::Null),
        KvOp::Exists(key) => bucket.exists(&key).map(Json::from),
        KvOp::Increment { key, delta } => kv::increment(bucket, &key, delta).map(Json::from),
        KvOp::List => bucket.list_keys(None).map(|page| json!(page.keys)),
    };
    match result {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "error": format!("{e:?}") }),
    }
}

#[derive(Deserialize)]
struct BenchRequest {
    op: String,
    n: i64,
}

/// Times `n` point reads or inserts from inside the guest, so the host
/// benchmark can compare the interface with the same sqlx calls made natively.
fn bench(request: BenchRequest) -> Result<Json, Failure> {
    let db = Connection::open("default")?;
    let started = std::time::Instant::now();
    for i in 0..request.n {
        match request.op.as_str() {
            "read" => {
                let rows = db.query(
                    "SELECT id, title FROM notes WHERE id = $1",
                    &[Value::Integer(i % 10_000 + 1)],
                )?;
                std::hint::black_box(rows);
            }
            "insert" => {
                db.execute(
                    "INSERT INTO bench_inserts (note, at) VALUES ($1, $2)",
                    &[Value::Integer(i), Value::Text("bench".into())],
                )?;
            }
            other => return Err(Failure::BadRequest(format!("unknown op `{other}`"))),
        }
    }
    Ok(json!({ "n": request.n, "seconds": started.elapsed().as_secs_f64() }))
}

enum Failure {
    Sql(SqlError),
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

fn params(values: Vec<JsonValue>) -> Vec<Value> {
    values.into_iter().map(Into::into).collect()
}
