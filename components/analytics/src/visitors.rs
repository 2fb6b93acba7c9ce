//! Visitor ids without cookies or stored addresses, as Plausible counts:
//! a hash of a secret salt, the site, the address and the user agent. The
//! salt is random, lives one period (a day by default) and is deleted
//! after, so nobody (the operator included) can link a visitor's days.

use folio_guest::columns::text;
use folio_guest::util::{b64url, random};
use folio_guest::{Connection, Value};
use sha2::{Digest, Sha256};

use crate::config;
use crate::store::db_error;
use folio_guest::http::Problem;

pub fn period(now_secs: i64) -> i64 {
    now_secs.div_euclid(config::salt_period_secs())
}

/// The current period's salt, made by whichever request needs it first.
pub fn current_salt(db: &Connection, now_secs: i64) -> Result<String, Problem> {
    let period = period(now_secs);
    let read = |db: &Connection| {
        db.query(
            "SELECT salt FROM salts WHERE period = $1",
            &[Value::Integer(period)],
        )
        .map(|r| r.rows.first().map(|row| text(&row[0])))
        .map_err(db_error)
    };
    if let Some(salt) = read(db)? {
        return Ok(salt);
    }
    db.execute(
        "INSERT INTO salts (period, salt) VALUES ($1, $2) ON CONFLICT (period) DO NOTHING",
        &[Value::Integer(period), Value::Text(b64url(&random::<32>()))],
    )
    .map_err(db_error)?;
    read(db)?.ok_or_else(|| Problem::unavailable("the visitor salt could not be stored"))
}

/// Forgets every salt older than the current period.
pub fn rotate(db: &Connection, now_secs: i64) -> Result<u64, Problem> {
    db.execute(
        "DELETE FROM salts WHERE period < $1",
        &[Value::Integer(period(now_secs))],
    )
    .map_err(db_error)
}

pub fn visitor_id(salt: &str, host: &str, address: &str, user_agent: &str) -> String {
    let mut hash = Sha256::new();
    for part in [salt, host, address, user_agent] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    hash.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The client's address from Spin's `spin-client-addr` (`ip:port`), without the port.
pub fn client_address(raw: &str) -> String {
    let raw = raw.trim();
    if let Ok(socket) = raw.parse::<std::net::SocketAddr>() {
        return socket.ip().to_string();
    }
    raw.trim_start_matches('[')
        .trim_end_matches(']')
        .to_string()
}
