//! The publishing service's database. Times are unix milliseconds (BIGINT),
//! so both dialects compare and sort them alike; JSON is stored as text.

use folio_guest::{Dialect, Migration};

pub struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, _dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        vec![
            Migration {
            version: 1,
            name: "publishing".into(),
            statements: "
                CREATE TABLE channels (
                    id TEXT PRIMARY KEY,
                    slug TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    kind TEXT NOT NULL,
                    config TEXT NOT NULL,
                    rules TEXT NOT NULL,
                    -- {required, roles} or NULL: no approval needed.
                    approval TEXT,
                    status TEXT NOT NULL CHECK (status IN ('active', 'paused', 'disabled')),
                    status_reason TEXT,
                    owner_id TEXT NOT NULL,
                    -- The first failed attempt since the last success.
                    failing_since BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                );
                -- Webhook signing secrets: more than one live during a rotation.
                CREATE TABLE channel_secrets (
                    channel_id TEXT NOT NULL,
                    secret TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT,
                    PRIMARY KEY (channel_id, secret)
                );
                -- The service's copy of each content item, from content's feed.
                CREATE TABLE items (
                    id TEXT PRIMARY KEY,
                    version BIGINT NOT NULL,
                    status TEXT NOT NULL,
                    public BOOLEAN NOT NULL,
                    kind TEXT NOT NULL,
                    title TEXT NOT NULL,
                    description TEXT NOT NULL,
                    body TEXT NOT NULL,
                    author_id TEXT NOT NULL,
                    author_name TEXT,
                    categories TEXT NOT NULL,
                    tags TEXT NOT NULL,
                    media_ids TEXT NOT NULL,
                    published_at BIGINT,
                    updated_at BIGINT NOT NULL,
                    -- A hash of what an edit changes: approvals count for one.
                    fingerprint TEXT NOT NULL
                );
                -- One (item, channel, version, action): its payload is fixed
                -- when it is made, so every attempt sends the same bytes.
                CREATE TABLE distributions (
                    id TEXT PRIMARY KEY,
                    content_id TEXT NOT NULL,
                    channel_id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    action TEXT NOT NULL CHECK (action IN ('publish', 'update', 'unpublish')),
                    fingerprint TEXT NOT NULL,
                    status TEXT NOT NULL CHECK (status IN ('pending', 'awaiting-approval', 'delivering',
                        'delivered', 'failed', 'retrying', 'cancelled')),
                    payload TEXT NOT NULL,
                    attempts BIGINT NOT NULL,
                    next_attempt_at BIGINT NOT NULL,
                    announced_at BIGINT,
                    claim TEXT,
                    lease_until BIGINT,
                    last_error TEXT,
                    reason TEXT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    delivered_at BIGINT,
                    UNIQUE (content_id, channel_id, version, action)
                );
                CREATE INDEX distributions_due ON distributions (status, next_attempt_at);
                CREATE INDEX distributions_channel ON distributions (channel_id, created_at);
                CREATE INDEX distributions_content ON distributions (content_id, created_at);
                CREATE INDEX distributions_claim ON distributions (claim);
                CREATE TABLE delivery_attempts (
                    distribution_id TEXT NOT NULL,
                    attempt BIGINT NOT NULL,
                    at BIGINT NOT NULL,
                    status_code BIGINT,
                    latency_ms BIGINT NOT NULL,
                    response TEXT NOT NULL,
                    error TEXT,
                    PRIMARY KEY (distribution_id, attempt)
                );
                CREATE TABLE approvals (
                    content_id TEXT NOT NULL,
                    fingerprint TEXT NOT NULL,
                    user_id TEXT NOT NULL,
                    role TEXT NOT NULL,
                    decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
                    comment TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    decided_at BIGINT NOT NULL,
                    PRIMARY KEY (content_id, fingerprint, user_id)
                );
                CREATE INDEX approvals_recent ON approvals (decided_at);
                -- What a feed or sitemap channel shows: items it delivered.
                CREATE TABLE channel_entries (
                    channel_id TEXT NOT NULL,
                    content_id TEXT NOT NULL,
                    published_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    PRIMARY KEY (channel_id, content_id)
                );
                CREATE INDEX channel_entries_recent ON channel_entries (channel_id, published_at);
                CREATE TABLE preview_links (
                    id TEXT PRIMARY KEY,
                    token_hash TEXT NOT NULL UNIQUE,
                    content_id TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL,
                    revoked_at BIGINT
                );
                CREATE INDEX preview_links_content ON preview_links (content_id, created_at);
                "
            .into(),
        },
            Migration {
                version: 2,
                name: "paid items and private feeds".into(),
                statements: format!(
                    "ALTER TABLE items ADD COLUMN required_tier TEXT;
                    ALTER TABLE items ADD COLUMN paid_body TEXT;
                    -- One private feed key per account, kept as its SHA-256.
                    CREATE TABLE feed_keys (
                        account TEXT PRIMARY KEY,
                        key_hash TEXT NOT NULL UNIQUE,
                        created_at BIGINT NOT NULL
                    );
                    {}",
                    folio_guest::entitlements::MIGRATION
                ),
            },
        ]
    }
}
