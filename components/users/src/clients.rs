//! Service clients: other services that obtain tokens with the OAuth 2.0
//! client-credentials grant. Their secrets are random and stored hashed.

use folio_guest::http::Problem;
use folio_guest::{Connection, Value};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::accounts::{db_error, row_text};
use folio_guest::util::{new_id, new_secret, now_rfc3339, sha256_hex};

#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceClient {
    pub id: String,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_at: String,
}

fn from_row(r: &[Value]) -> (ServiceClient, String) {
    (
        ServiceClient {
            id: row_text(&r[0]),
            name: row_text(&r[1]),
            scopes: row_text(&r[2])
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            created_at: row_text(&r[4]),
        },
        row_text(&r[3]),
    )
}

/// Registers a client; returns it and its secret, which is shown only this once.
pub fn register(
    db: &Connection,
    name: &str,
    scopes: &[String],
) -> Result<(ServiceClient, String), Problem> {
    let client = ServiceClient {
        id: new_id(),
        name: name.to_string(),
        scopes: scopes.to_vec(),
        created_at: now_rfc3339(),
    };
    let secret = new_secret();
    db.execute(
        "INSERT INTO service_clients (id, name, secret_hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5)",
        &[
            Value::Text(client.id.clone()),
            Value::Text(client.name.clone()),
            Value::Text(sha256_hex(&secret)),
            Value::Text(client.scopes.join(" ")),
            Value::Timestamp(client.created_at.clone()),
        ],
    )
    .map_err(db_error)?;
    Ok((client, secret))
}

pub fn list(db: &Connection) -> Result<Vec<ServiceClient>, Problem> {
    let rows = db
        .query(
            "SELECT id, name, scopes, secret_hash, created_at FROM service_clients ORDER BY created_at, id",
            &[],
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r).0).collect())
}

pub fn delete(db: &Connection, id: &str) -> Result<bool, Problem> {
    let changed = db
        .execute(
            "DELETE FROM service_clients WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

/// The client, if `secret` is its secret.
pub fn authenticate(
    db: &Connection,
    id: &str,
    secret: &str,
) -> Result<Option<ServiceClient>, Problem> {
    let rows = db
        .query(
            "SELECT id, name, scopes, secret_hash, created_at FROM service_clients WHERE id = $1",
            &[Value::Text(id.to_string())],
        )
        .map_err(db_error)?;
    let Some((client, stored)) = rows.rows.first().map(|r| from_row(r)) else {
        return Ok(None);
    };
    let matches: bool = sha256_hex(secret)
        .as_bytes()
        .ct_eq(stored.as_bytes())
        .into();
    Ok(matches.then_some(client))
}
