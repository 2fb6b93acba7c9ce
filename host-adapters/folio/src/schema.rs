//! Asks a component for its migrations (the `folio:platform/schema` export)
//! in a throwaway instance at start-up, before any request is served.

use std::collections::BTreeMap;

use anyhow::Context;
use folio_sql::{Dialect, Migration, SqlConfig};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::runtime::HostState;

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/schema-owner",
        exports: { default: async },
    });
}

use bindings::exports::folio::platform::schema as wit;

pub async fn migrations(
    linker: &Linker<HostState>,
    component: &Component,
    databases: &[String],
    config: &SqlConfig,
    state: HostState,
) -> anyhow::Result<BTreeMap<String, Vec<Migration>>> {
    let mut out = BTreeMap::new();
    if databases.is_empty() {
        return Ok(out);
    }
    let pre = linker
        .instantiate_pre(component)
        .map_err(anyhow::Error::from)?;
    // A component without the export owns no schema of its own.
    let Ok(pre) = bindings::SchemaOwnerPre::new(pre) else {
        return Ok(out);
    };
    let mut store = Store::new(component.engine(), state);
    store.set_epoch_deadline(1_000);
    store.epoch_deadline_trap();
    let owner = pre
        .instantiate_async(&mut store)
        .await
        .map_err(anyhow::Error::from)?;
    for database in databases {
        let dialect = match config.backend(database).dialect() {
            Dialect::Sqlite => wit::Dialect::Sqlite,
            Dialect::Postgres => wit::Dialect::Postgres,
        };
        let list = owner
            .folio_platform_schema()
            .call_migrations(&mut store, database, dialect)
            .await
            .map_err(anyhow::Error::from)
            .with_context(|| format!("asking for the migrations of database `{database}`"))?;
        out.insert(
            database.clone(),
            list.into_iter()
                .map(|m| Migration {
                    version: m.version,
                    name: m.name,
                    statements: m.statements,
                })
                .collect(),
        );
    }
    Ok(out)
}
