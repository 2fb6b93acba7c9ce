//! Private feed URLs: a subscriber's feed reader cannot sign in, so each
//! account may have one secret key to put in its feed URLs
//! (`/feeds/{slug}.xml?key=…`); through it, gated items the account holds
//! the tier for come whole. Only the key's SHA-256 is kept: it is shown
//! once, when made, and making a new one revokes the old.

use folio_guest::columns::text;
use folio_guest::http::Problem;
use folio_guest::util::{b64url, now_ms, random, sha256_hex};
use folio_guest::{Connection, Value};

use crate::store::db_error;

/// Makes `account`'s key, replacing any it had; returns the key.
pub fn create(db: &Connection, account: &str) -> Result<String, Problem> {
    let key = b64url(&random::<32>());
    db.execute(
        "INSERT INTO feed_keys (account, key_hash, created_at) VALUES ($1, $2, $3) \
         ON CONFLICT (account) DO UPDATE SET key_hash = $2, created_at = $3",
        &[
            Value::Text(account.to_string()),
            Value::Text(sha256_hex(&key)),
            Value::Integer(now_ms()),
        ],
    )
    .map_err(db_error)?;
    Ok(key)
}

/// Revokes `account`'s key; whether it had one.
pub fn revoke(db: &Connection, account: &str) -> Result<bool, Problem> {
    let removed = db
        .execute(
            "DELETE FROM feed_keys WHERE account = $1",
            &[Value::Text(account.to_string())],
        )
        .map_err(db_error)?;
    Ok(removed > 0)
}

/// The account a key belongs to, if it is a current key.
pub fn account_of(db: &Connection, key: &str) -> Result<Option<String>, Problem> {
    let rows = db
        .query(
            "SELECT account FROM feed_keys WHERE key_hash = $1",
            &[Value::Text(sha256_hex(key))],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| text(&r[0])))
}
