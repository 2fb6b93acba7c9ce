//! A user's choices: which categories reach them on which channel, quiet
//! hours, and the digest; and what they follow.

use std::collections::BTreeMap;

use folio_guest::columns::{boolean, integer, optional_integer, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, Transaction, Value};

use crate::clock::QuietHours;
use crate::model::{CATEGORIES, CHANNELS, enabled_by_default, is_mandatory};
use crate::store::db_error;

#[derive(Debug, Clone, PartialEq)]
pub struct Preferences {
    /// (category, channel) → on; every pair is present.
    pub channels: BTreeMap<(String, String), bool>,
    pub quiet_hours: Option<QuietHours>,
    /// `off`, `daily` or `weekly`.
    pub digest: String,
    pub last_digest_at: Option<i64>,
}

impl Default for Preferences {
    fn default() -> Self {
        let mut channels = BTreeMap::new();
        for category in CATEGORIES {
            for channel in CHANNELS {
                channels.insert(
                    (category.to_string(), channel.to_string()),
                    enabled_by_default(category, channel),
                );
            }
        }
        Preferences {
            channels,
            quiet_hours: None,
            digest: "off".into(),
            last_digest_at: None,
        }
    }
}

impl Preferences {
    pub fn allows(&self, category: &str, channel: &str) -> bool {
        is_mandatory(category, channel)
            || self
                .channels
                .get(&(category.to_string(), channel.to_string()))
                .copied()
                .unwrap_or_else(|| enabled_by_default(category, channel))
    }
}

pub fn load(db: &Connection, user_id: &str) -> Result<Preferences, Problem> {
    let mut prefs = Preferences::default();
    let id = Value::Text(user_id.into());
    let rows = db
        .query(
            "SELECT category, channel, enabled FROM channel_preferences WHERE user_id = $1",
            std::slice::from_ref(&id),
        )
        .map_err(db_error)?;
    for r in &rows.rows {
        prefs
            .channels
            .insert((text(&r[0]), text(&r[1])), boolean(&r[2]));
    }
    let rows = db
        .query(
            "SELECT quiet_start_minute, quiet_end_minute, digest, last_digest_at \
             FROM delivery_settings WHERE user_id = $1",
            &[id],
        )
        .map_err(db_error)?;
    if let Some(r) = rows.rows.first() {
        prefs.quiet_hours = match (optional_integer(&r[0]), optional_integer(&r[1])) {
            (Some(start), Some(end)) => Some(QuietHours {
                start_minute: start as u16,
                end_minute: end as u16,
            }),
            _ => None,
        };
        prefs.digest = text(&r[2]);
        prefs.last_digest_at = optional_integer(&r[3]);
    }
    Ok(prefs)
}

/// Replaces the user's choices with `prefs` (mandatory pairs stay on).
pub fn save(
    tx: &Transaction,
    user_id: &str,
    prefs: &Preferences,
    now_ms: i64,
) -> Result<(), Problem> {
    let id = Value::Text(user_id.into());
    tx.execute(
        "DELETE FROM channel_preferences WHERE user_id = $1",
        std::slice::from_ref(&id),
    )
    .map_err(db_error)?;
    for ((category, channel), enabled) in &prefs.channels {
        tx.execute(
            "INSERT INTO channel_preferences (user_id, category, channel, enabled) VALUES ($1, $2, $3, $4)",
            &[
                id.clone(),
                Value::Text(category.clone()),
                Value::Text(channel.clone()),
                Value::Boolean(*enabled || is_mandatory(category, channel)),
            ],
        )
        .map_err(db_error)?;
    }
    let minute = |m: Option<u16>| m.map_or(Value::Null, |m| Value::Integer(m as i64));
    tx.execute(
        "INSERT INTO delivery_settings (user_id, quiet_start_minute, quiet_end_minute, digest, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id) DO UPDATE SET \
         quiet_start_minute = excluded.quiet_start_minute, quiet_end_minute = excluded.quiet_end_minute, \
         digest = excluded.digest, updated_at = excluded.updated_at",
        &[
            id,
            minute(prefs.quiet_hours.map(|q| q.start_minute)),
            minute(prefs.quiet_hours.map(|q| q.end_minute)),
            Value::Text(prefs.digest.clone()),
            Value::Integer(now_ms),
        ],
    )
    .map_err(db_error)?;
    Ok(())
}

/// Turns one (category, channel) off, as a one-click unsubscribe does.
pub fn turn_off(
    db: &Connection,
    user_id: &str,
    category: &str,
    channel: &str,
    now_ms: i64,
) -> Result<(), Problem> {
    let mut prefs = load(db, user_id)?;
    prefs
        .channels
        .insert((category.to_string(), channel.to_string()), false);
    let tx = db.begin().map_err(db_error)?;
    save(&tx, user_id, &prefs, now_ms)?;
    tx.commit().map_err(db_error)
}

pub fn mark_digest_sent(tx: &Transaction, user_id: &str, at_ms: i64) -> Result<(), Problem> {
    tx.execute(
        "UPDATE delivery_settings SET last_digest_at = $2 WHERE user_id = $1",
        &[Value::Text(user_id.into()), Value::Integer(at_ms)],
    )
    .map_err(db_error)?;
    Ok(())
}

pub struct Follow {
    pub kind: String,
    pub target_id: String,
    pub created_at: i64,
}

pub fn follows(db: &Connection, user_id: &str) -> Result<Vec<Follow>, Problem> {
    let rows = db
        .query(
            "SELECT kind, target_id, created_at FROM follows WHERE user_id = $1 ORDER BY created_at, kind, target_id",
            &[Value::Text(user_id.into())],
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| Follow {
            kind: text(&r[0]),
            target_id: text(&r[1]),
            created_at: integer(&r[2]),
        })
        .collect())
}

/// True when the follow is new.
pub fn follow(
    db: &Connection,
    user_id: &str,
    kind: &str,
    target_id: &str,
    now_ms: i64,
) -> Result<bool, Problem> {
    let added = db
        .execute(
            "INSERT INTO follows (user_id, kind, target_id, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (user_id, kind, target_id) DO NOTHING",
            &[
                Value::Text(user_id.into()),
                Value::Text(kind.into()),
                Value::Text(target_id.into()),
                Value::Integer(now_ms),
            ],
        )
        .map_err(db_error)?;
    Ok(added == 1)
}

pub fn unfollow(
    db: &Connection,
    user_id: &str,
    kind: &str,
    target_id: &str,
) -> Result<bool, Problem> {
    let removed = db
        .execute(
            "DELETE FROM follows WHERE user_id = $1 AND kind = $2 AND target_id = $3",
            &[
                Value::Text(user_id.into()),
                Value::Text(kind.into()),
                Value::Text(target_id.into()),
            ],
        )
        .map_err(db_error)?;
    Ok(removed == 1)
}

pub const MAX_FOLLOWS: i64 = 1000;

pub fn follow_count(db: &Connection, user_id: &str) -> Result<i64, Problem> {
    let rows = db
        .query(
            "SELECT COUNT(*) FROM follows WHERE user_id = $1",
            &[Value::Text(user_id.into())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map_or(0, |r| integer(&r[0])))
}
