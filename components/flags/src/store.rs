//! Flags in the database: an environment's flags and evaluators assemble
//! into one flagd document, which is what gets validated and evaluated.

use folio_guest::columns::{integer, text};
use folio_guest::http::Problem;
use folio_guest::util::now_ms;
use folio_guest::{Connection, OutgoingEvent, SqlError, Transaction, Value};
use serde_json::{Map, Value as Json, json};

pub const TOPIC: &str = "folio.flags";

pub fn db() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("flags")
}

/// An environment's flags as a flagd document, and the validator of that
/// state (changes whenever a flag or evaluator does).
pub struct Document {
    pub json: Json,
    pub etag: String,
}

pub fn document(db: &Connection, environment: &str) -> Result<Document, Problem> {
    let flags = db
        .query(
            "SELECT key, definition, version FROM flags WHERE environment = $1 ORDER BY key",
            &[Value::Text(environment.to_string())],
        )
        .map_err(db_error)?;
    let evaluators = db
        .query(
            "SELECT name, definition FROM evaluators WHERE environment = $1 ORDER BY name",
            &[Value::Text(environment.to_string())],
        )
        .map_err(db_error)?;
    let mut flag_map = Map::new();
    let mut state = String::new();
    for r in &flags.rows {
        let definition: Json = serde_json::from_str(&text(&r[1])).unwrap_or(Json::Null);
        state.push_str(&format!("{}:{};", text(&r[0]), integer(&r[2])));
        flag_map.insert(text(&r[0]), definition);
    }
    let mut evaluator_map = Map::new();
    for r in &evaluators.rows {
        let definition = text(&r[1]);
        state.push_str(&format!("${}:{};", text(&r[0]), definition.len()));
        evaluator_map.insert(
            text(&r[0]),
            serde_json::from_str(&definition).unwrap_or(Json::Null),
        );
    }
    let digest = <sha2::Sha256 as sha2::Digest>::digest(state.as_bytes());
    let etag = format!(
        "\"{}\"",
        digest[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    let mut json = json!({ "flags": flag_map });
    if !evaluator_map.is_empty() {
        json["$evaluators"] = Json::Object(evaluator_map);
    }
    Ok(Document { json, etag })
}

pub struct Stored {
    pub definition: Json,
    pub version: i64,
    pub updated_at: i64,
    pub updated_by: String,
}

pub fn get(db: &Connection, environment: &str, key: &str) -> Result<Option<Stored>, Problem> {
    let rows = db
        .query(
            "SELECT definition, version, updated_at, updated_by FROM flags \
             WHERE environment = $1 AND key = $2",
            &[
                Value::Text(environment.to_string()),
                Value::Text(key.to_string()),
            ],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| Stored {
        definition: serde_json::from_str(&text(&r[0])).unwrap_or(Json::Null),
        version: integer(&r[1]),
        updated_at: integer(&r[2]),
        updated_by: text(&r[3]),
    }))
}

/// Writes one flag (a new version) with its change record and event.
pub fn put(
    tx: &Transaction,
    environment: &str,
    key: &str,
    definition: &Json,
    by: &str,
) -> Result<i64, Problem> {
    let now = now_ms();
    let rows = tx
        .query(
            "INSERT INTO flags (environment, key, definition, version, updated_at, updated_by) \
             VALUES ($1, $2, $3, 1, $4, $5) ON CONFLICT (environment, key) DO UPDATE SET \
             definition = $3, version = flags.version + 1, updated_at = $4, updated_by = $5 \
             RETURNING version",
            &[
                Value::Text(environment.to_string()),
                Value::Text(key.to_string()),
                Value::Text(definition.to_string()),
                Value::Integer(now),
                Value::Text(by.to_string()),
            ],
        )
        .map_err(db_error)?;
    let version = rows.rows.first().map(|r| integer(&r[0])).unwrap_or(1);
    changed(tx, environment, key, "put", Some(definition), by, now)?;
    Ok(version)
}

pub fn delete(tx: &Transaction, environment: &str, key: &str, by: &str) -> Result<bool, Problem> {
    let deleted = tx
        .execute(
            "DELETE FROM flags WHERE environment = $1 AND key = $2",
            &[
                Value::Text(environment.to_string()),
                Value::Text(key.to_string()),
            ],
        )
        .map_err(db_error)?;
    if deleted == 1 {
        changed(tx, environment, key, "delete", None, by, now_ms())?;
    }
    Ok(deleted == 1)
}

/// Replaces an environment's whole document (a flagd file imported).
pub fn replace_all(
    tx: &Transaction,
    environment: &str,
    document: &Json,
    by: &str,
) -> Result<(), Problem> {
    let env = || Value::Text(environment.to_string());
    tx.execute("DELETE FROM flags WHERE environment = $1", &[env()])
        .map_err(db_error)?;
    tx.execute("DELETE FROM evaluators WHERE environment = $1", &[env()])
        .map_err(db_error)?;
    if let Some(evaluators) = document["$evaluators"].as_object() {
        for (name, definition) in evaluators {
            tx.execute(
                "INSERT INTO evaluators (environment, name, definition) VALUES ($1, $2, $3)",
                &[
                    env(),
                    Value::Text(name.clone()),
                    Value::Text(definition.to_string()),
                ],
            )
            .map_err(db_error)?;
        }
    }
    if let Some(flags) = document["flags"].as_object() {
        for (key, definition) in flags {
            put(tx, environment, key, definition, by)?;
        }
    }
    changed(tx, environment, "*", "import", None, by, now_ms())
}

fn changed(
    tx: &Transaction,
    environment: &str,
    key: &str,
    action: &str,
    definition: Option<&Json>,
    by: &str,
    at: i64,
) -> Result<(), Problem> {
    tx.execute(
        "INSERT INTO flag_changes (environment, key, action, definition, changed_by, changed_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        &[
            Value::Text(environment.to_string()),
            Value::Text(key.to_string()),
            Value::Text(action.to_string()),
            definition
                .map(|d| Value::Text(d.to_string()))
                .unwrap_or(Value::Null),
            Value::Text(by.to_string()),
            Value::Integer(at),
        ],
    )
    .map_err(db_error)?;
    tx.publish(&OutgoingEvent {
        topic: TOPIC.into(),
        type_: "folio.flags.FlagChanged".into(),
        key: format!("{environment}/{key}"),
        subject: Some(key.to_string()),
        datacontenttype: "application/json".into(),
        data: json!({"environment": environment, "key": key, "action": action, "by": by})
            .to_string()
            .into_bytes(),
    })
    .map_err(db_error)?;
    Ok(())
}
