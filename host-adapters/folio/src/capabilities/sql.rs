//! `folio:platform/sql` (`folio-sql`): `sqlite_databases` grants, bound by
//! `[sqlite_database.NAME]` to embedded SQLite (default) or Postgres.

use std::any::Any;
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use wasmtime::component::{Linker, ResourceTable};

use folio_sql::{ComponentDatabases, OpenDatabase, SqlConfig, SqlView, TopicGrants, Value};

use super::Opened;
use crate::capability::{
    Capability, ComponentOpening, ComponentState, ComponentStates, HostContext,
};
use crate::runtime::HostState;

pub struct SqlCapability {
    config: SqlConfig,
    opened: Opened<OpenDatabase>,
}

/// One component's databases and the topics its transactions may publish to.
#[derive(Default)]
pub struct ComponentSql {
    pub databases: ComponentDatabases,
    pub publishes: TopicGrants,
}

impl SqlCapability {
    pub fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config = SqlConfig {
            databases: ctx.take("sqlite_database")?,
        };
        ctx.check_bindings("sqlite_database", config.databases.keys(), |c| {
            &c.sqlite_databases
        })?;
        Ok(Arc::new(SqlCapability {
            config,
            opened: Opened::default(),
        }))
    }
}

fn view(state: &mut HostState) -> SqlView<'_> {
    let (table, component, traceparent) = state.capability_parts();
    sql_view(table, component, traceparent)
}

/// The SQL bindings' view of one instance: its resource table, its
/// component's databases and grants, its trace context.
pub(crate) fn sql_view<'a>(
    table: &'a mut ResourceTable,
    component: &'a ComponentStates,
    traceparent: &'a str,
) -> SqlView<'a> {
    static NONE: LazyLock<ComponentSql> = LazyLock::new(ComponentSql::default);
    let sql = component.get::<ComponentSql>().unwrap_or(&NONE);
    SqlView {
        table,
        databases: &sql.databases,
        publishes: &sql.publishes,
        traceparent,
    }
}

impl Capability for SqlCapability {
    fn name(&self) -> &'static str {
        "sql"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_sql::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move {
            let decl = component.decl;
            let publishes = decl.publishes.clone();
            if decl.sqlite_databases.is_empty() {
                return Ok(Arc::new(ComponentSql {
                    databases: ComponentDatabases::default(),
                    publishes,
                }) as ComponentState);
            }
            let migrations = component
                .schema
                .migrations(&decl.sqlite_databases, &self.config)
                .await?;
            let databases = ComponentDatabases::open_reusing(
                &decl.id,
                &decl.sqlite_databases,
                &self.config,
                component.data_dir,
                &migrations,
                |name| self.opened.get(&decl.id, name),
            )
            .await?;
            for (name, open) in databases.iter() {
                self.opened.keep(&decl.id, name, open.clone());
            }
            Ok(Arc::new(ComponentSql {
                databases,
                publishes,
            }) as ComponentState)
        })
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        let opened = self.opened.all();
        Box::pin(super::probe_each("database", opened, |open| async move {
            open.db
                .query("SELECT 1", Vec::<Value>::new())
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
