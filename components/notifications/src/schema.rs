//! The notification service's database. Times are unix milliseconds
//! (BIGINT), so both dialects compare and sort them alike.

use folio_guest::{Dialect, Migration};

pub struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        let row_id = match dialect {
            Dialect::Sqlite => "INTEGER PRIMARY KEY",
            Dialect::Postgres => "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
        };
        vec![
            Migration {
                version: 1,
                name: "notifications".into(),
                statements: format!(
                    "-- Who can be told: kept from the users service's events.
                CREATE TABLE recipients (
                    user_id TEXT PRIMARY KEY,
                    email TEXT NOT NULL,
                    first_name TEXT NOT NULL,
                    role TEXT NOT NULL,
                    locale TEXT NOT NULL,
                    time_zone TEXT NOT NULL,
                    active BOOLEAN NOT NULL,
                    -- The account's own switches (the users service's
                    -- emailNotifications / pushNotifications).
                    email_enabled BOOLEAN NOT NULL,
                    push_enabled BOOLEAN NOT NULL,
                    updated_at BIGINT NOT NULL
                );
                CREATE INDEX recipients_role ON recipients (role, user_id);
                CREATE TABLE channel_preferences (
                    user_id TEXT NOT NULL,
                    category TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    enabled BOOLEAN NOT NULL,
                    PRIMARY KEY (user_id, category, channel)
                );
                CREATE TABLE delivery_settings (
                    user_id TEXT PRIMARY KEY,
                    quiet_start_minute BIGINT,
                    quiet_end_minute BIGINT,
                    digest TEXT NOT NULL CHECK (digest IN ('off', 'daily', 'weekly')),
                    last_digest_at BIGINT,
                    updated_at BIGINT NOT NULL
                );
                CREATE TABLE follows (
                    user_id TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('author', 'category')),
                    target_id TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    PRIMARY KEY (user_id, kind, target_id)
                );
                CREATE INDEX follows_target ON follows (kind, target_id, user_id);
                -- One row per thing a user is told; `seq` orders the inbox and
                -- is the SSE event id. (user_id, source) makes each cause tell
                -- each user once, however often its event is replayed.
                CREATE TABLE notifications (
                    seq {row_id},
                    id TEXT NOT NULL UNIQUE,
                    user_id TEXT NOT NULL,
                    source TEXT NOT NULL,
                    category TEXT NOT NULL,
                    template TEXT NOT NULL,
                    title TEXT NOT NULL,
                    body TEXT NOT NULL,
                    link TEXT,
                    data TEXT NOT NULL,
                    in_app BOOLEAN NOT NULL,
                    created_at BIGINT NOT NULL,
                    read_at BIGINT,
                    UNIQUE (user_id, source)
                );
                CREATE INDEX notifications_inbox ON notifications (user_id, in_app, seq);
                CREATE INDEX notifications_unread ON notifications (user_id, in_app, read_at);
                -- Each email or push a notification causes, and its attempts.
                CREATE TABLE deliveries (
                    id TEXT PRIMARY KEY,
                    notification_id TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    channel TEXT NOT NULL CHECK (channel IN ('email', 'push')),
                    target TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN
                        ('pending', 'deferred', 'digest', 'sent', 'failed', 'skipped')),
                    attempts BIGINT NOT NULL,
                    not_before BIGINT NOT NULL,
                    response TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    sent_at BIGINT,
                    UNIQUE (notification_id, channel, target)
                );
                CREATE INDEX deliveries_due ON deliveries (status, not_before);
                CREATE INDEX deliveries_user ON deliveries (user_id, created_at);
                CREATE INDEX deliveries_created ON deliveries (created_at);
                CREATE TABLE delivery_attempts (
                    id {row_id},
                    delivery_id TEXT NOT NULL,
                    at BIGINT NOT NULL,
                    outcome TEXT NOT NULL,
                    response TEXT NOT NULL,
                    elapsed_ms BIGINT NOT NULL
                );
                CREATE INDEX delivery_attempts_delivery ON delivery_attempts (delivery_id, id);
                CREATE TABLE push_subscriptions (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL,
                    endpoint TEXT NOT NULL UNIQUE,
                    p256dh TEXT NOT NULL,
                    auth TEXT NOT NULL,
                    user_agent TEXT,
                    created_at BIGINT NOT NULL,
                    last_success_at BIGINT
                );
                CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);
                -- Templates an admin changed; the rest are built in.
                CREATE TABLE templates (
                    template_key TEXT NOT NULL,
                    locale TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    text_body TEXT NOT NULL,
                    html_body TEXT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    updated_by TEXT NOT NULL,
                    PRIMARY KEY (template_key, locale)
                );"
                ),
            },
            Migration {
                version: 2,
                name: "newsletter issues and entitlements".into(),
                statements: format!(
                    "-- Each newsletter issue's item, as fetched once for its fan-out.
                CREATE TABLE newsletter_issues (
                    source TEXT PRIMARY KEY,
                    content_id TEXT NOT NULL,
                    body TEXT NOT NULL,
                    text TEXT NOT NULL,
                    required_tier TEXT,
                    paid_body TEXT,
                    paid_text TEXT,
                    created_at BIGINT NOT NULL
                );
                {}",
                    folio_guest::entitlements::MIGRATION
                ),
            },
        ]
    }
}
