//! The search database: reindex jobs and search analytics. The index
//! itself is the host's (`folio:platform/search`), not in here.

use folio_guest::{Dialect, Migration};

pub struct Schema;

impl folio_guest::bindings::exports::folio::platform::schema::Guest for Schema {
    fn migrations(database: String, dialect: Dialect) -> Vec<Migration> {
        if database != "default" {
            return Vec::new();
        }
        let (ts, row_id) = match dialect {
            Dialect::Sqlite => ("TIMESTAMP", "INTEGER PRIMARY KEY"),
            Dialect::Postgres => (
                "TIMESTAMPTZ",
                "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
            ),
        };
        vec![
            Migration {
                version: 1,
                name: "search".into(),
                statements: format!(
                    "CREATE TABLE reindex_jobs (
                    id TEXT PRIMARY KEY,
                    rebuild_id TEXT,
                    state TEXT NOT NULL CHECK (state IN ('running', 'done', 'failed')),
                    done BIGINT NOT NULL,
                    total BIGINT,
                    cursor TEXT NOT NULL,
                    started_at {ts} NOT NULL,
                    updated_at {ts} NOT NULL,
                    finished_at {ts},
                    error TEXT
                );
                CREATE UNIQUE INDEX reindex_jobs_one_running ON reindex_jobs (state)
                    WHERE state = 'running';
                CREATE TABLE search_queries (
                    id {row_id},
                    at {ts} NOT NULL,
                    query TEXT NOT NULL,
                    results BIGINT NOT NULL
                );
                CREATE INDEX search_queries_at ON search_queries (at, query);
                CREATE TABLE search_clicks (
                    id {row_id},
                    at {ts} NOT NULL,
                    query TEXT NOT NULL,
                    content_id TEXT NOT NULL,
                    position BIGINT NOT NULL
                );
                CREATE INDEX search_clicks_at ON search_clicks (at, query)"
                ),
            },
            Migration {
                version: 2,
                name: "clicks by item".into(),
                statements:
                    "CREATE INDEX search_clicks_by_content ON search_clicks (content_id, at)".into(),
            },
            Migration {
                version: 3,
                name: "paid items".into(),
                statements: format!(
                    "CREATE TABLE gates (tier TEXT PRIMARY KEY);
                    CREATE TABLE gated_items (
                        content_id TEXT PRIMARY KEY,
                        tier TEXT NOT NULL
                    );
                    {}",
                    folio_guest::entitlements::MIGRATION
                ),
            },
        ]
    }
}
