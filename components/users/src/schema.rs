//! The users database. Emails are stored lowercased; secrets only as hashes
//! (Argon2id for passwords, SHA-256 for random tokens and recovery codes).

use folio_guest::{Dialect, Migration};

pub struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        let ts = match dialect {
            Dialect::Sqlite => "TIMESTAMP",
            Dialect::Postgres => "TIMESTAMPTZ",
        };
        vec![Migration {
            version: 1,
            name: "accounts".into(),
            statements: format!(
                "CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    email TEXT NOT NULL UNIQUE,
                    password_hash TEXT NOT NULL,
                    first_name TEXT NOT NULL,
                    last_name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('admin', 'creator', 'consumer')),
                    status TEXT NOT NULL CHECK (status IN ('active', 'inactive', 'suspended')),
                    language TEXT NOT NULL,
                    timezone TEXT NOT NULL,
                    email_notifications BOOLEAN NOT NULL,
                    push_notifications BOOLEAN NOT NULL,
                    totp_secret TEXT,
                    totp_pending_secret TEXT,
                    totp_last_step BIGINT NOT NULL DEFAULT 0,
                    session_epoch BIGINT NOT NULL DEFAULT 0,
                    last_login_at {ts},
                    created_at {ts} NOT NULL,
                    updated_at {ts} NOT NULL
                );
                CREATE INDEX users_role ON users (role, created_at);
                CREATE INDEX users_status ON users (status, created_at);
                CREATE INDEX users_created ON users (created_at);
                CREATE TABLE recovery_codes (
                    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    code_hash TEXT NOT NULL,
                    PRIMARY KEY (user_id, code_hash)
                );
                CREATE TABLE password_resets (
                    token_hash TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
                    expires_at {ts} NOT NULL,
                    used_at {ts}
                );
                CREATE TABLE service_clients (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    secret_hash TEXT NOT NULL,
                    scopes TEXT NOT NULL,
                    created_at {ts} NOT NULL
                )"
            ),
        }]
    }
}
