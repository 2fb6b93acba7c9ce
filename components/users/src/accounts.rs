//! Accounts in the users database: reading, creating, changing and deleting
//! them, each change committed together with its event.

use folio_guest::columns::{boolean, integer, optional_text, text};
use folio_guest::http::Problem;
use folio_guest::{Connection, SqlError, Transaction, Value};
use serde::Serialize;

use crate::events::{self, UserEvent};
use folio_guest::util::{new_id, now_rfc3339};

pub const ROLES: [&str; 3] = ["admin", "creator", "consumer"];
pub const STATUSES: [&str; 3] = ["active", "inactive", "suspended"];

#[derive(Clone, Debug)]
pub struct User {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: String,
    pub status: String,
    pub preferences: Preferences,
    pub totp_secret: Option<String>,
    pub totp_pending_secret: Option<String>,
    pub totp_last_step: i64,
    pub session_epoch: i64,
    pub last_login_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    pub language: String,
    pub timezone: String,
    pub email_notifications: bool,
    pub push_notifications: bool,
}

impl Default for Preferences {
    fn default() -> Self {
        Preferences {
            language: "en".into(),
            timezone: "UTC".into(),
            email_notifications: true,
            push_notifications: false,
        }
    }
}

/// A user as the API shows it: never a secret.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub first_name: String,
    pub last_name: String,
    /// `admin`, `creator` or `consumer`.
    pub role: String,
    /// `active`, `inactive` or `suspended`.
    pub status: String,
    pub preferences: Preferences,
    pub mfa_enabled: bool,
    pub last_login_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl User {
    pub fn view(&self) -> UserView {
        UserView {
            id: self.id.clone(),
            email: self.email.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            role: self.role.clone(),
            status: self.status.clone(),
            preferences: self.preferences.clone(),
            mfa_enabled: self.totp_secret.is_some(),
            last_login_at: self.last_login_at.clone(),
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        }
    }

    pub fn is_active(&self) -> bool {
        self.status == "active"
    }
}

const COLUMNS: &str = "id, email, password_hash, first_name, last_name, role, status, language, \
    timezone, email_notifications, push_notifications, totp_secret, totp_pending_secret, \
    totp_last_step, session_epoch, last_login_at, created_at, updated_at";

fn user_from_row(r: &[Value]) -> User {
    User {
        id: text(&r[0]),
        email: text(&r[1]),
        password_hash: text(&r[2]),
        first_name: text(&r[3]),
        last_name: text(&r[4]),
        role: text(&r[5]),
        status: text(&r[6]),
        preferences: Preferences {
            language: text(&r[7]),
            timezone: text(&r[8]),
            email_notifications: boolean(&r[9]),
            push_notifications: boolean(&r[10]),
        },
        totp_secret: optional_text(&r[11]),
        totp_pending_secret: optional_text(&r[12]),
        totp_last_step: integer(&r[13]),
        session_epoch: integer(&r[14]),
        last_login_at: optional_text(&r[15]),
        created_at: text(&r[16]),
        updated_at: text(&r[17]),
    }
}

/// Maps a database failure to the response: 503 when retrying may help.
pub fn db_error(e: SqlError) -> Problem {
    e.into_problem("users")
}

pub fn open() -> Result<Connection, Problem> {
    Connection::open("default").map_err(db_error)
}

pub fn find_by_id(db: &Connection, id: &str) -> Result<Option<User>, Problem> {
    find(db, "id", id)
}

pub fn find_by_email(db: &Connection, email: &str) -> Result<Option<User>, Problem> {
    find(db, "email", email)
}

fn find(db: &Connection, column: &str, value: &str) -> Result<Option<User>, Problem> {
    let rows = db
        .query(
            &format!("SELECT {COLUMNS} FROM users WHERE {column} = $1"),
            &[Value::Text(value.to_string())],
        )
        .map_err(db_error)?;
    Ok(rows.rows.first().map(|r| user_from_row(r)))
}

pub struct NewUser {
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub role: &'static str,
}

/// Creates the account and emits `UserCreated`; `None` if the email is taken.
pub fn create(db: &Connection, new: NewUser) -> Result<Option<User>, Problem> {
    let now = now_rfc3339();
    let user = User {
        id: new_id(),
        email: new.email,
        password_hash: new.password_hash,
        first_name: new.first_name,
        last_name: new.last_name,
        role: new.role.to_string(),
        status: "active".into(),
        preferences: Preferences::default(),
        totp_secret: None,
        totp_pending_secret: None,
        totp_last_step: 0,
        session_epoch: 0,
        last_login_at: None,
        created_at: now.clone(),
        updated_at: now,
    };
    let tx = db.begin().map_err(db_error)?;
    let inserted = tx.execute(
        "INSERT INTO users (id, email, password_hash, first_name, last_name, role, status, \
         language, timezone, email_notifications, push_notifications, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        &[
            Value::Text(user.id.clone()),
            Value::Text(user.email.clone()),
            Value::Text(user.password_hash.clone()),
            Value::Text(user.first_name.clone()),
            Value::Text(user.last_name.clone()),
            Value::Text(user.role.clone()),
            Value::Text(user.status.clone()),
            Value::Text(user.preferences.language.clone()),
            Value::Text(user.preferences.timezone.clone()),
            Value::Boolean(user.preferences.email_notifications),
            Value::Boolean(user.preferences.push_notifications),
            Value::Timestamp(user.created_at.clone()),
            Value::Timestamp(user.updated_at.clone()),
        ],
    );
    match inserted {
        Ok(_) => {}
        Err(SqlError::ConstraintViolation(_)) => return Ok(None),
        Err(e) => return Err(db_error(e)),
    }
    events::publish(&tx, UserEvent::created(&user))?;
    tx.commit().map_err(db_error)?;
    Ok(Some(user))
}

/// One column change of an account; `Update` applies several in one statement.
pub enum Change {
    FirstName(String),
    LastName(String),
    Role(String),
    Status(String),
    Preferences(Preferences),
    PasswordHash(String),
    /// Ends every refresh session issued before it.
    EndSessions,
    TotpPending(Option<String>),
    TotpEnabled {
        secret: String,
        step: i64,
    },
    TotpDisabled,
    LastLogin,
}

impl Change {
    /// The API field name the change shows up as in `UserUpdated`.
    fn field(&self) -> Option<&'static str> {
        match self {
            Change::FirstName(_) => Some("firstName"),
            Change::LastName(_) => Some("lastName"),
            Change::Role(_) => Some("role"),
            Change::Status(_) => Some("status"),
            Change::Preferences(_) => Some("preferences"),
            Change::PasswordHash(_) => Some("password"),
            Change::TotpEnabled { .. } | Change::TotpDisabled => Some("mfaEnabled"),
            Change::EndSessions | Change::TotpPending(_) | Change::LastLogin => None,
        }
    }
}

/// A new password (hashed by the host), which also ends every other session
/// of the account. Hash before opening a transaction: it takes a while.
pub fn new_password_changes(password: &str) -> Result<Vec<Change>, Problem> {
    Ok(vec![
        Change::PasswordHash(folio_guest::passwords::hash(password)?),
        Change::EndSessions,
    ])
}

/// Applies `changes` to the account inside `tx`, and emits `UserUpdated` when a
/// visible field changed. Returns the account as it is now.
pub fn update(tx: &Transaction, user: &User, changes: Vec<Change>) -> Result<User, Problem> {
    let now = now_rfc3339();
    let mut sets: Vec<String> = Vec::new();
    let mut params: Vec<Value> = Vec::new();
    let mut next = user.clone();
    let mut changed_fields = Vec::new();
    let mut set = |column: &str, value: Value, params: &mut Vec<Value>| {
        params.push(value);
        sets.push(format!("{column} = ${}", params.len()));
    };
    for change in &changes {
        if let Some(field) = change.field() {
            changed_fields.push(field);
        }
        match change {
            Change::FirstName(v) => {
                set("first_name", Value::Text(v.clone()), &mut params);
                next.first_name = v.clone();
            }
            Change::LastName(v) => {
                set("last_name", Value::Text(v.clone()), &mut params);
                next.last_name = v.clone();
            }
            Change::Role(v) => {
                set("role", Value::Text(v.clone()), &mut params);
                next.role = v.clone();
            }
            Change::Status(v) => {
                set("status", Value::Text(v.clone()), &mut params);
                next.status = v.clone();
            }
            Change::Preferences(p) => {
                set("language", Value::Text(p.language.clone()), &mut params);
                set("timezone", Value::Text(p.timezone.clone()), &mut params);
                set(
                    "email_notifications",
                    Value::Boolean(p.email_notifications),
                    &mut params,
                );
                set(
                    "push_notifications",
                    Value::Boolean(p.push_notifications),
                    &mut params,
                );
                next.preferences = p.clone();
            }
            Change::PasswordHash(h) => {
                set("password_hash", Value::Text(h.clone()), &mut params);
                next.password_hash = h.clone();
            }
            Change::EndSessions => {
                next.session_epoch = user.session_epoch + 1;
                set(
                    "session_epoch",
                    Value::Integer(next.session_epoch),
                    &mut params,
                );
            }
            Change::TotpPending(secret) => {
                let v = secret.clone().map(Value::Text).unwrap_or(Value::Null);
                set("totp_pending_secret", v, &mut params);
                next.totp_pending_secret = secret.clone();
            }
            Change::TotpEnabled { secret, step } => {
                set("totp_secret", Value::Text(secret.clone()), &mut params);
                set("totp_pending_secret", Value::Null, &mut params);
                set("totp_last_step", Value::Integer(*step), &mut params);
                next.totp_secret = Some(secret.clone());
                next.totp_pending_secret = None;
                next.totp_last_step = *step;
            }
            Change::TotpDisabled => {
                set("totp_secret", Value::Null, &mut params);
                set("totp_pending_secret", Value::Null, &mut params);
                next.totp_secret = None;
                next.totp_pending_secret = None;
            }
            Change::LastLogin => {
                set("last_login_at", Value::Timestamp(now.clone()), &mut params);
                next.last_login_at = Some(now.clone());
            }
        }
    }
    if !changed_fields.is_empty() {
        set("updated_at", Value::Timestamp(now.clone()), &mut params);
        next.updated_at = now;
    }
    params.push(Value::Text(user.id.clone()));
    let statement = format!(
        "UPDATE users SET {} WHERE id = ${}",
        sets.join(", "),
        params.len()
    );
    let changed = tx.execute(&statement, &params).map_err(db_error)?;
    if changed != 1 {
        return Err(Problem::not_found("no such user"));
    }
    if !changed_fields.is_empty() {
        events::publish(tx, UserEvent::updated(&next, &changed_fields))?;
    }
    Ok(next)
}

/// Commits `changes` on their own.
pub fn update_now(db: &Connection, user: &User, changes: Vec<Change>) -> Result<User, Problem> {
    let tx = db.begin().map_err(db_error)?;
    let user = update(&tx, user, changes)?;
    tx.commit().map_err(db_error)?;
    Ok(user)
}

/// Records a TOTP time step as used, unless it (or a later one) already was:
/// false means the code was replayed.
pub fn consume_totp_step(tx: &Transaction, user_id: &str, step: i64) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1",
            &[Value::Integer(step), Value::Text(user_id.to_string())],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

/// Uses up a recovery code: false if it is not one of the user's unused codes.
pub fn consume_recovery_code(tx: &Transaction, user_id: &str, code: &str) -> Result<bool, Problem> {
    let changed = tx
        .execute(
            "DELETE FROM recovery_codes WHERE user_id = $1 AND code_hash = $2",
            &[
                Value::Text(user_id.to_string()),
                Value::Text(folio_guest::util::sha256_hex(&normalize_recovery_code(
                    code,
                ))),
            ],
        )
        .map_err(db_error)?;
    Ok(changed == 1)
}

pub fn normalize_recovery_code(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

pub fn replace_recovery_codes(
    tx: &Transaction,
    user_id: &str,
    codes: &[String],
) -> Result<(), Problem> {
    tx.execute(
        "DELETE FROM recovery_codes WHERE user_id = $1",
        &[Value::Text(user_id.to_string())],
    )
    .map_err(db_error)?;
    for code in codes {
        tx.execute(
            "INSERT INTO recovery_codes (user_id, code_hash) VALUES ($1, $2)",
            &[
                Value::Text(user_id.to_string()),
                Value::Text(folio_guest::util::sha256_hex(&normalize_recovery_code(
                    code,
                ))),
            ],
        )
        .map_err(db_error)?;
    }
    Ok(())
}

/// Deletes the account and everything kept about it, and emits `UserDeleted`
/// so other services purge their copies.
pub fn delete(db: &Connection, user: &User) -> Result<(), Problem> {
    let tx = db.begin().map_err(db_error)?;
    let id = || vec![Value::Text(user.id.clone())];
    for statement in [
        "DELETE FROM recovery_codes WHERE user_id = $1",
        "DELETE FROM password_resets WHERE user_id = $1",
        "DELETE FROM users WHERE id = $1",
    ] {
        tx.execute(statement, &id()).map_err(db_error)?;
    }
    events::publish(&tx, UserEvent::deleted(&user.id))?;
    tx.commit().map_err(db_error)
}

/// The public profiles among `ids`: accounts that can author content
/// (creators and admins), with their names only.
pub fn public_profiles(
    db: &Connection,
    ids: &[String],
) -> Result<Vec<crate::api::bodies::PublicProfile>, Problem> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
    let rows = db
        .query(
            &format!(
                "SELECT id, first_name, last_name FROM users \
                 WHERE role IN ('creator', 'admin') AND id IN ({})",
                placeholders.join(", ")
            ),
            &ids.iter()
                .map(|id| Value::Text(id.clone()))
                .collect::<Vec<_>>(),
        )
        .map_err(db_error)?;
    Ok(rows
        .rows
        .iter()
        .map(|r| crate::api::bodies::PublicProfile {
            id: text(&r[0]),
            first_name: text(&r[1]),
            last_name: text(&r[2]),
        })
        .collect())
}

pub struct ListQuery {
    pub role: Option<String>,
    pub status: Option<String>,
    pub email_prefix: Option<String>,
    /// Only these accounts (an admin screen naming the accounts it shows).
    pub ids: Option<Vec<String>>,
    pub page: u32,
    pub limit: u32,
    /// A column name and direction, already checked against the allowed set.
    pub order_by: &'static str,
    pub descending: bool,
}

/// One page of accounts and the total that match the filters.
pub fn list(db: &Connection, q: &ListQuery) -> Result<(Vec<User>, i64), Problem> {
    let mut conditions = Vec::new();
    let mut params = Vec::new();
    if let Some(role) = &q.role {
        params.push(Value::Text(role.clone()));
        conditions.push(format!("role = ${}", params.len()));
    }
    if let Some(status) = &q.status {
        params.push(Value::Text(status.clone()));
        conditions.push(format!("status = ${}", params.len()));
    }
    if let Some(prefix) = &q.email_prefix {
        let escaped = prefix
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        params.push(Value::Text(format!("{escaped}%")));
        conditions.push(format!("email LIKE ${} ESCAPE '\\'", params.len()));
    }
    if let Some(ids) = &q.ids {
        let mut placeholders = Vec::new();
        for id in ids {
            params.push(Value::Text(id.clone()));
            placeholders.push(format!("${}", params.len()));
        }
        conditions.push(format!("id IN ({})", placeholders.join(", ")));
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let total = db
        .query(&format!("SELECT COUNT(*) FROM users {filter}"), &params)
        .map_err(db_error)?
        .rows
        .first()
        .map(|r| integer(&r[0]))
        .unwrap_or(0);
    let direction = if q.descending { "DESC" } else { "ASC" };
    let offset = i64::from(q.page.saturating_sub(1)) * i64::from(q.limit);
    let rows = db
        .query(
            &format!(
                "SELECT {COLUMNS} FROM users {filter} ORDER BY {} {direction}, id {direction} \
                 LIMIT {} OFFSET {offset}",
                q.order_by, q.limit
            ),
            &params,
        )
        .map_err(db_error)?;
    Ok((rows.rows.iter().map(|r| user_from_row(r)).collect(), total))
}

pub(crate) fn row_text(v: &Value) -> String {
    text(v)
}
