//! The media database: one row per media item (its renditions as JSON, so
//! an item reads in one query), one per resumable upload in progress, and
//! one per upload being taken in right now (`ingests`: what to delete if
//! it never finishes).

use folio_guest::{Dialect, Migration};

pub struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        let (ts, json, real) = match dialect {
            Dialect::Sqlite => ("TIMESTAMP", "TEXT", "REAL"),
            Dialect::Postgres => ("TIMESTAMPTZ", "JSONB", "DOUBLE PRECISION"),
        };
        vec![
            Migration {
            version: 1,
            name: "media".into(),
            statements: format!(
                "CREATE TABLE media (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('image', 'video', 'audio')),
                    mime TEXT NOT NULL,
                    filename TEXT NOT NULL,
                    size BIGINT NOT NULL,
                    checksum TEXT NOT NULL,
                    width INTEGER,
                    height INTEGER,
                    duration_ms BIGINT,
                    orientation INTEGER,
                    status TEXT NOT NULL CHECK (status IN ('uploaded', 'processing', 'ready', 'failed')),
                    progress {real} NOT NULL,
                    attempts INTEGER NOT NULL,
                    error TEXT,
                    cancel_requested INTEGER NOT NULL,
                    renditions {json} NOT NULL,
                    details {json} NOT NULL,
                    created_at {ts} NOT NULL,
                    updated_at {ts} NOT NULL
                );
                CREATE INDEX media_owner ON media (owner_id, created_at, id);
                CREATE INDEX media_created ON media (created_at, id);
                CREATE INDEX media_status ON media (status, created_at, id);
                CREATE TABLE uploads (
                    id TEXT PRIMARY KEY,
                    owner_id TEXT NOT NULL,
                    length BIGINT NOT NULL,
                    received BIGINT NOT NULL,
                    part_keys {json} NOT NULL,
                    filename TEXT NOT NULL,
                    media_id TEXT,
                    created_at {ts} NOT NULL,
                    expires_at {ts} NOT NULL
                );
                CREATE INDEX uploads_expiry ON uploads (expires_at)"
            ),
        },
            // Each upload stores its original under a key of its own, so two
            // uploads of one id never write the same object.
            Migration {
                version: 2,
                name: "ingests".into(),
                statements: format!(
                    "ALTER TABLE media ADD COLUMN original_key TEXT;
                    UPDATE media SET original_key = 'media/' || id || '/original';
                    CREATE TABLE ingests (
                        id TEXT PRIMARY KEY,
                        media_id TEXT NOT NULL,
                        object_key TEXT NOT NULL,
                        started_at {ts} NOT NULL
                    );
                    CREATE INDEX ingests_started ON ingests (started_at)"
                ),
            },
            // A deleted item's objects are removed after its commit, below
            // its id: an id used again would lose the new item's objects.
            Migration {
                version: 3,
                name: "deleted-ids".into(),
                statements: format!(
                    "CREATE TABLE deleted_media (id TEXT PRIMARY KEY, deleted_at {ts} NOT NULL)"
                ),
            },
            // Who may fetch media: the content that uses it, and who holds
            // which paid tiers.
            Migration {
                version: 4,
                name: "access-from-content".into(),
                statements: format!(
                    "{};\n{}",
                    crate::access::MIGRATION,
                    folio_guest::entitlements::MIGRATION
                ),
            },
        ]
    }
}
