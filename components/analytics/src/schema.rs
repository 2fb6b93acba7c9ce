//! The analytics database: rollups (what reports read), visits and
//! per-bucket visitors (what makes unique counts exact), recent raw events
//! (funnels, and the warehouse's queue), cohorts, experiments.

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
        vec![Migration {
            version: 1,
            name: "analytics".into(),
            statements: format!(
                "-- One row per grain (minute, hour, day), bucket start (unix seconds),
                -- dimension ('' for the site's totals) and value.
                CREATE TABLE rollups (
                    grain TEXT NOT NULL,
                    bucket BIGINT NOT NULL,
                    dimension TEXT NOT NULL,
                    value TEXT NOT NULL,
                    events BIGINT NOT NULL,
                    pageviews BIGINT NOT NULL,
                    visitors BIGINT NOT NULL,
                    visits BIGINT NOT NULL,
                    bounces BIGINT NOT NULL,
                    reads BIGINT NOT NULL,
                    read_seconds BIGINT NOT NULL,
                    depth_sum BIGINT NOT NULL,
                    depth_25 BIGINT NOT NULL,
                    depth_50 BIGINT NOT NULL,
                    depth_75 BIGINT NOT NULL,
                    depth_100 BIGINT NOT NULL,
                    PRIMARY KEY (grain, dimension, value, bucket)
                );
                CREATE INDEX rollups_by_bucket ON rollups (grain, dimension, bucket);
                -- A visit is a visitor's day (the salt changes daily); its entry
                -- sources are kept so a second pageview can undo the bounce.
                CREATE TABLE visits (
                    day BIGINT NOT NULL,
                    visitor TEXT NOT NULL,
                    pageviews BIGINT NOT NULL,
                    entry TEXT NOT NULL,
                    PRIMARY KEY (day, visitor)
                );
                CREATE TABLE visitor_buckets (
                    grain TEXT NOT NULL,
                    bucket BIGINT NOT NULL,
                    visitor TEXT NOT NULL,
                    PRIMARY KEY (grain, bucket, visitor)
                );
                CREATE TABLE salts (
                    period BIGINT PRIMARY KEY,
                    salt TEXT NOT NULL
                );
                -- Log events already counted (deliveries are at-least-once).
                CREATE TABLE taken (
                    id TEXT PRIMARY KEY,
                    taken_at BIGINT NOT NULL
                );
                CREATE TABLE events (
                    seq {row_id},
                    occurred_at BIGINT NOT NULL,
                    name TEXT NOT NULL,
                    host TEXT,
                    path TEXT,
                    referrer TEXT,
                    content_id TEXT,
                    content_type TEXT,
                    category TEXT,
                    device TEXT,
                    utm_source TEXT,
                    utm_medium TEXT,
                    utm_campaign TEXT,
                    visitor TEXT,
                    user_id TEXT,
                    subject TEXT,
                    seconds BIGINT,
                    depth BIGINT,
                    props TEXT,
                    export_file TEXT
                );
                CREATE INDEX events_by_time ON events (occurred_at);
                CREATE INDEX events_unexported ON events (seq) WHERE export_file IS NULL;
                CREATE INDEX events_by_file ON events (export_file);
                CREATE TABLE warehouse_files (
                    name TEXT PRIMARY KEY,
                    day TEXT NOT NULL,
                    state TEXT NOT NULL,
                    rows BIGINT NOT NULL,
                    bytes BIGINT NOT NULL,
                    created_at BIGINT NOT NULL
                );
                CREATE TABLE content_meta (
                    id TEXT PRIMARY KEY,
                    title TEXT NOT NULL,
                    type TEXT NOT NULL,
                    category TEXT,
                    author_id TEXT
                );
                CREATE INDEX content_meta_by_author ON content_meta (author_id);
                CREATE TABLE user_cohorts (
                    user_id TEXT PRIMARY KEY,
                    first_week BIGINT NOT NULL
                );
                CREATE TABLE user_weeks (
                    user_id TEXT NOT NULL,
                    week BIGINT NOT NULL,
                    PRIMARY KEY (user_id, week)
                );
                CREATE INDEX user_cohorts_by_week ON user_cohorts (first_week);
                CREATE TABLE experiments (
                    key TEXT PRIMARY KEY,
                    definition TEXT NOT NULL,
                    goal TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    created_by TEXT NOT NULL
                );
                CREATE TABLE exposures (
                    experiment TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    variant TEXT NOT NULL,
                    exposed_at BIGINT NOT NULL,
                    PRIMARY KEY (experiment, subject)
                );
                CREATE TABLE conversions (
                    experiment TEXT NOT NULL,
                    subject TEXT NOT NULL,
                    variant TEXT NOT NULL,
                    converted_at BIGINT NOT NULL,
                    PRIMARY KEY (experiment, subject)
                );"
            ),
        }]
    }
}
