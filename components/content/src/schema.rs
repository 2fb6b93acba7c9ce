//! The content database. Tags and categories live both in the item's row
//! (as JSON, so an item reads in one query) and in join tables (so lists
//! filter on them through indexes); the two are written in one transaction.

use folio_guest::{Dialect, Migration};

pub struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        let (ts, json) = match dialect {
            Dialect::Sqlite => ("TIMESTAMP", "TEXT"),
            Dialect::Postgres => ("TIMESTAMPTZ", "JSONB"),
        };
        vec![
            Migration {
            version: 1,
            name: "content".into(),
            statements: format!(
                "CREATE TABLE categories (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL,
                    description TEXT NOT NULL,
                    parent_id TEXT REFERENCES categories (id),
                    slug TEXT NOT NULL UNIQUE,
                    created_at {ts} NOT NULL,
                    updated_at {ts} NOT NULL
                );
                CREATE INDEX categories_parent ON categories (parent_id);
                CREATE TABLE content (
                    id TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    title_key TEXT NOT NULL,
                    description TEXT NOT NULL,
                    body TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('draft', 'review', 'published', 'archived')),
                    kind TEXT NOT NULL CHECK (kind IN ('article', 'video', 'gallery', 'podcast')),
                    categories {json} NOT NULL,
                    tags {json} NOT NULL,
                    media_ids {json} NOT NULL,
                    metadata {json} NOT NULL,
                    author_id TEXT NOT NULL,
                    published_at {ts},
                    scheduled_at {ts},
                    created_at {ts} NOT NULL,
                    updated_at {ts} NOT NULL,
                    deleted_at {ts},
                    version BIGINT NOT NULL
                );
                CREATE INDEX content_status_created ON content (status, created_at, id);
                CREATE INDEX content_status_published ON content (status, published_at, id);
                CREATE INDEX content_author ON content (author_id, created_at, id);
                CREATE INDEX content_created ON content (created_at, id);
                CREATE INDEX content_title ON content (title_key, id);
                CREATE INDEX content_scheduled ON content (scheduled_at);
                CREATE TABLE content_tags (
                    content_id TEXT NOT NULL REFERENCES content (id) ON DELETE CASCADE,
                    tag TEXT NOT NULL,
                    PRIMARY KEY (tag, content_id)
                );
                CREATE TABLE content_categories (
                    content_id TEXT NOT NULL REFERENCES content (id) ON DELETE CASCADE,
                    category_id TEXT NOT NULL REFERENCES categories (id),
                    PRIMARY KEY (category_id, content_id)
                );
                CREATE TABLE content_revisions (
                    content_id TEXT NOT NULL REFERENCES content (id) ON DELETE CASCADE,
                    revision BIGINT NOT NULL,
                    author_id TEXT NOT NULL,
                    created_at {ts} NOT NULL,
                    snapshot {json} NOT NULL,
                    PRIMARY KEY (content_id, revision)
                );
                CREATE TABLE content_relations (
                    from_id TEXT NOT NULL REFERENCES content (id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    to_id TEXT NOT NULL REFERENCES content (id) ON DELETE CASCADE,
                    created_at {ts} NOT NULL,
                    PRIMARY KEY (from_id, kind, to_id)
                );
                CREATE TABLE idempotency_keys (
                    caller TEXT NOT NULL,
                    idempotency_key TEXT NOT NULL,
                    request_hash TEXT NOT NULL,
                    status INTEGER NOT NULL,
                    response {json} NOT NULL,
                    created_at {ts} NOT NULL,
                    PRIMARY KEY (caller, idempotency_key)
                )"
            ),
        },
        // Rewriting an item's tags and categories deletes its join rows by
        // item; without these, each write scanned both tables.
        Migration {
            version: 2,
            name: "join-rows-by-item".into(),
            statements: "CREATE INDEX content_tags_item ON content_tags (content_id);
                CREATE INDEX content_categories_item ON content_categories (content_id)"
                .into(),
        },
        // Paid access: the tier an item needs, and who holds which tiers
        // (from the billing service's events).
        Migration {
            version: 3,
            name: "required-tiers".into(),
            statements: format!(
                "ALTER TABLE content ADD COLUMN required_tier TEXT;
                {}",
                folio_guest::entitlements::MIGRATION
            ),
        },
        // List totals from a count per (status, type) of live items, kept
        // by every write; and the indexes keyset pages walk, without the
        // items deleted but not purged.
        Migration {
            version: 4,
            name: "counts-and-keyset-indexes".into(),
            statements: "CREATE TABLE content_counts (
                    status TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    n BIGINT NOT NULL,
                    PRIMARY KEY (status, kind)
                );
                INSERT INTO content_counts (status, kind, n)
                    SELECT status, kind, COUNT(*) FROM content WHERE deleted_at IS NULL
                    GROUP BY status, kind;
                CREATE INDEX content_live_status_updated ON content (status, updated_at, id)
                    WHERE deleted_at IS NULL;
                CREATE INDEX content_live_status_kind_created ON content (status, kind, created_at, id)
                    WHERE deleted_at IS NULL;
                CREATE INDEX content_live_status_title ON content (status, title_key, id)
                    WHERE deleted_at IS NULL"
                .into(),
        },
        // Bulk imports, and how far each got.
        Migration {
            version: 5,
            name: "imports".into(),
            statements: format!(
                "CREATE TABLE content_imports (
                    id TEXT PRIMARY KEY,
                    created_by TEXT NOT NULL,
                    lines BIGINT NOT NULL,
                    created BIGINT NOT NULL,
                    skipped BIGINT NOT NULL,
                    state TEXT NOT NULL,
                    created_at {ts} NOT NULL,
                    updated_at {ts} NOT NULL
                )"
            ),
        },
        // Editors' lists span every status: each order gets an index of
        // live items that does not start with the status, so a page (and a
        // deep numbered page) walks the index instead of sorting every item.
        Migration {
            version: 6,
            name: "keyset-indexes-across-statuses".into(),
            statements: "CREATE INDEX content_live_updated ON content (updated_at, id)
                    WHERE deleted_at IS NULL;
                CREATE INDEX content_live_created ON content (created_at, id)
                    WHERE deleted_at IS NULL;
                CREATE INDEX content_live_title ON content (title_key, id)
                    WHERE deleted_at IS NULL;
                CREATE INDEX content_live_published ON content (published_at, id)
                    WHERE deleted_at IS NULL AND published_at IS NOT NULL"
                .into(),
        }]
    }
}
