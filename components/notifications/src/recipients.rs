//! Who can be told, and how to reach them: the service's own copy of each
//! account's address, name, role, locale and time zone, kept from the users
//! service's events (a database per service: no call to the users service
//! when a notification goes out).

use folio_guest::columns::{boolean, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, Transaction, Value};
use serde_json::Value as Json;

use crate::store::db_error;

#[derive(Debug, Clone)]
pub struct Recipient {
    pub user_id: String,
    pub email: String,
    pub first_name: String,
    pub role: String,
    pub locale: String,
    pub time_zone: String,
    pub active: bool,
    /// The account's master switches: off silences every email (but
    /// security and billing mail) or every push.
    pub email_enabled: bool,
    pub push_enabled: bool,
}

const COLUMNS: &str =
    "user_id, email, first_name, role, locale, time_zone, active, email_enabled, push_enabled";

fn from_row(r: &[Value]) -> Recipient {
    Recipient {
        user_id: text(&r[0]),
        email: text(&r[1]),
        first_name: text(&r[2]),
        role: text(&r[3]),
        locale: text(&r[4]),
        time_zone: text(&r[5]),
        active: boolean(&r[6]),
        email_enabled: boolean(&r[7]),
        push_enabled: boolean(&r[8]),
    }
}

impl Recipient {
    /// From the `user` object of `UserCreated`/`UserUpdated`.
    pub fn from_user_view(user: &Json) -> Option<Recipient> {
        let s = |v: &Json| v.as_str().map(str::to_string);
        let preferences = &user["preferences"];
        Some(Recipient {
            user_id: s(&user["id"])?,
            email: s(&user["email"])?,
            first_name: s(&user["firstName"]).unwrap_or_default(),
            role: s(&user["role"]).unwrap_or_else(|| "consumer".into()),
            locale: s(&preferences["language"]).unwrap_or_else(|| "en".into()),
            time_zone: s(&preferences["timezone"]).unwrap_or_else(|| "UTC".into()),
            active: user["status"]
                .as_str()
                .is_none_or(|status| status == "active"),
            email_enabled: preferences["emailNotifications"].as_bool().unwrap_or(true),
            push_enabled: preferences["pushNotifications"].as_bool().unwrap_or(true),
        })
    }

    /// `Name <address>`, with the name quoted.
    pub fn mailbox(&self) -> String {
        let name: String = self
            .first_name
            .chars()
            .filter(|c| !c.is_control() && *c != '"' && *c != '\\')
            .collect();
        if name.trim().is_empty() {
            self.email.clone()
        } else {
            format!("\"{}\" <{}>", name.trim(), self.email)
        }
    }
}

pub fn save(tx: &Transaction, r: &Recipient, now_ms: i64) -> Result<(), Problem> {
    let params = vec![
        Value::Text(r.user_id.clone()),
        Value::Text(r.email.clone()),
        Value::Text(r.first_name.clone()),
        Value::Text(r.role.clone()),
        Value::Text(r.locale.clone()),
        Value::Text(r.time_zone.clone()),
        Value::Boolean(r.active),
        Value::Boolean(r.email_enabled),
        Value::Boolean(r.push_enabled),
        Value::Integer(now_ms),
    ];
    tx.execute(
        &format!(
            "INSERT INTO recipients ({COLUMNS}, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (user_id) DO UPDATE SET email = excluded.email, first_name = excluded.first_name, \
             role = excluded.role, locale = excluded.locale, time_zone = excluded.time_zone, \
             active = excluded.active, email_enabled = excluded.email_enabled, \
             push_enabled = excluded.push_enabled, updated_at = excluded.updated_at"
        ),
        &params,
    )
    .map_err(db_error)?;
    Ok(())
}

/// Forgets a deleted account and everything kept for it.
pub fn forget(tx: &Transaction, user_id: &str) -> Result<(), Problem> {
    for table in [
        "recipients",
        "channel_preferences",
        "delivery_settings",
        "follows",
        "notifications",
        "deliveries",
        "push_subscriptions",
    ] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE user_id = $1"),
            &[Value::Text(user_id.into())],
        )
        .map_err(db_error)?;
    }
    // Nobody follows a deleted author any more.
    tx.execute(
        "DELETE FROM follows WHERE kind = 'author' AND target_id = $1",
        &[Value::Text(user_id.into())],
    )
    .map_err(db_error)?;
    Ok(())
}

pub fn get(db: &Connection, user_id: &str) -> Result<Option<Recipient>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM recipients WHERE user_id = $1"),
            &[Value::Text(user_id.into())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| from_row(r)))
}

pub fn get_many(db: &Connection, ids: &[String]) -> Result<Vec<Recipient>, Problem> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let (placeholders, params) = folio_guest::columns::text_in_list(ids);
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM recipients WHERE user_id IN ({}) ORDER BY user_id",
                placeholders
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok(rows.rows.iter().map(|r| from_row(r)).collect())
}
