//! The flag service's database: each environment's flags and shared
//! evaluators as flagd JSON, and every change.

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
            name: "flags".into(),
            statements: format!(
                "CREATE TABLE flags (
                    environment TEXT NOT NULL,
                    key TEXT NOT NULL,
                    -- One flag as flagd defines it: state, variants, defaultVariant, targeting.
                    definition TEXT NOT NULL,
                    version BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    updated_by TEXT NOT NULL,
                    PRIMARY KEY (environment, key)
                );
                -- flagd's `$evaluators`: targeting shared by `$ref`.
                CREATE TABLE evaluators (
                    environment TEXT NOT NULL,
                    name TEXT NOT NULL,
                    definition TEXT NOT NULL,
                    PRIMARY KEY (environment, name)
                );
                CREATE TABLE flag_changes (
                    seq {row_id},
                    environment TEXT NOT NULL,
                    key TEXT NOT NULL,
                    action TEXT NOT NULL,
                    definition TEXT,
                    changed_by TEXT NOT NULL,
                    changed_at BIGINT NOT NULL
                );"
            ),
        }]
    }
}
