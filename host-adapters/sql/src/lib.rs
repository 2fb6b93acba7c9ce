//! Folio's SQL adapter: `folio:platform/sql` for guests, on an embedded
//! SQLite file per component (the default) or a PostgreSQL schema and role
//! per component. Each database carries the component's migrations and the
//! transactional outbox table.

mod backend;
mod claims;
mod migrations;
mod postgres;
pub mod runtime_config;
mod sqlite;
mod statement;
mod topics;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::Notify;

use anyhow::Context;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use backend::{Database, SqlError, Tx, Value};
pub use claims::claim_tick;
pub use migrations::{Dialect, Migration, check_event, valid_topic};
pub use runtime_config::{BackendConfig, SqlConfig};
pub use topics::TopicGrants;

pub mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/database",
        imports: { default: async | trappable },
        with: {
            "folio:platform/sql.connection": crate::Connection,
            "folio:platform/sql.transaction": crate::Transaction,
        },
        require_store_data_send: true,
    });
}

use bindings::folio::platform::event_types::OutgoingEvent;
use bindings::folio::platform::sql as wit;

/// Limits every backend enforces on what crosses the interface.
pub mod limits {
    pub const MAX_STATEMENT_BYTES: usize = 1 << 20;
    pub const MAX_PARAMS: usize = 10_000;
    pub const MAX_RESULT_ROWS: usize = 10_000;
    pub const MAX_RESULT_BYTES: usize = 16 << 20;
    pub const MAX_EVENT_BYTES: usize = 1 << 20;
    pub const MAX_EVENTS_PER_TRANSACTION: usize = 10_000;
}

/// The databases one component may open, by the names spin.toml grants.
#[derive(Clone, Default)]
pub struct ComponentDatabases {
    pub component: String,
    databases: BTreeMap<String, OpenDatabase>,
}

/// A database and the signal its committed outbox writes raise, which
/// wakes the host's relay at once instead of at its next poll.
#[derive(Clone)]
pub struct OpenDatabase {
    pub db: Database,
    pub outbox_ready: Arc<Notify>,
}

impl ComponentDatabases {
    /// Opens (creating when needed) every database `granted` to `component`
    /// and applies the host's and the component's migrations.
    pub async fn open(
        component: &str,
        granted: &[String],
        config: &SqlConfig,
        data_dir: &Path,
        component_migrations: &BTreeMap<String, Vec<Migration>>,
    ) -> anyhow::Result<ComponentDatabases> {
        Self::open_reusing(
            component,
            granted,
            config,
            data_dir,
            component_migrations,
            |_| None,
        )
        .await
    }

    /// As [`open`](Self::open), but a database `already_open` gives back is
    /// used as it is (its pool and outbox signal shared), after the
    /// component's migrations are applied to it: how a new release of an
    /// app takes over the databases of the one it replaces.
    pub async fn open_reusing(
        component: &str,
        granted: &[String],
        config: &SqlConfig,
        data_dir: &Path,
        component_migrations: &BTreeMap<String, Vec<Migration>>,
        already_open: impl Fn(&str) -> Option<OpenDatabase>,
    ) -> anyhow::Result<ComponentDatabases> {
        let mut databases = BTreeMap::new();
        for name in granted {
            let own = component_migrations
                .get(name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            if let Some(open) = already_open(name) {
                migrations::apply(&open.db, own)
                    .await
                    .with_context(|| format!("database `{name}`"))?;
                databases.insert(name.clone(), open);
                continue;
            }
            let db = match config.backend(name) {
                BackendConfig::Sqlite { path } => {
                    let path = match path {
                        Some(p) => p.clone(),
                        None => data_dir
                            .join("sqlite")
                            .join(format!("{component}.{name}.db")),
                    };
                    Database::Sqlite(sqlite::open(&path).await.with_context(|| {
                        format!("sqlite database `{name}` at {}", path.display())
                    })?)
                }
                BackendConfig::Postgres {
                    url,
                    max_connections,
                } => Database::Postgres(
                    postgres::open(&url, component, name, max_connections)
                        .await
                        .with_context(|| format!("postgres database `{name}`"))?,
                ),
            };
            migrations::apply(&db, own)
                .await
                .with_context(|| format!("database `{name}`"))?;
            let outbox_ready = Arc::new(Notify::new());
            databases.insert(name.clone(), OpenDatabase { db, outbox_ready });
        }
        Ok(ComponentDatabases {
            component: component.to_string(),
            databases,
        })
    }

    pub fn get(&self, name: &str) -> Option<&OpenDatabase> {
        self.databases.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &OpenDatabase)> {
        self.databases.iter().map(|(name, db)| (name.as_str(), db))
    }
}

/// What a guest's `connection` handle refers to.
pub struct Connection {
    db: OpenDatabase,
}

/// What a guest's `transaction` handle refers to; `None` once finished.
pub struct Transaction {
    tx: Option<backend::Tx>,
    source: String,
    /// Events published so far. They are written to the outbox just before
    /// the commit, in as few statements as possible.
    published: Vec<PendingEvent>,
    outbox_ready: Arc<Notify>,
}

/// Runs `call`, reported to the host's tracing (`folio_observe`) as a
/// database call.
async fn observed<T>(
    traceparent: &str,
    operation: &'static str,
    statement: Option<&str>,
    dialect: Dialect,
    call: impl Future<Output = std::result::Result<T, wit::Error>>,
) -> std::result::Result<T, wit::Error> {
    let site = folio_observe::Site {
        traceparent,
        capability: "sql",
        system: match dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgresql",
        },
        operation,
        target: None,
        statement,
    };
    folio_observe::observed(site, call).await
}

/// The per-instance view the bindings run against.
pub struct SqlView<'a> {
    pub table: &'a mut ResourceTable,
    pub databases: &'a ComponentDatabases,
    /// The topics spin.toml lets this component publish to.
    pub publishes: &'a TopicGrants,
    /// W3C trace context of the instance, stored with each published event.
    pub traceparent: &'a str,
}

struct SqlData;

impl HasData for SqlData {
    type Data<'a> = SqlView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> SqlView<'_>,
) -> anyhow::Result<()> {
    wit::add_to_linker::<T, SqlData>(linker, view)?;
    bindings::folio::platform::event_types::add_to_linker::<T, SqlData>(linker, view)?;
    Ok(())
}

type Result<T> = wasmtime::Result<std::result::Result<T, wit::Error>>;

impl bindings::folio::platform::event_types::Host for SqlView<'_> {}

impl wit::Host for SqlView<'_> {}

impl wit::HostConnection for SqlView<'_> {
    async fn open(&mut self, database: String) -> Result<Resource<Connection>> {
        let Some(db) = self.databases.get(&database) else {
            return Ok(Err(wit::Error::NoSuchDatabase(database)));
        };
        let connection = Connection { db: db.clone() };
        Ok(Ok(self.table.push(connection)?))
    }

    async fn query(
        &mut self,
        this: Resource<Connection>,
        statement: String,
        params: Vec<wit::Value>,
    ) -> Result<wit::RowSet> {
        let db = self.table.get(&this)?.db.db.clone();
        let query = async { run(db.query(&statement, convert_params(params)).await) };
        Ok(observed(
            self.traceparent,
            "query",
            Some(&statement),
            db.dialect(),
            query,
        )
        .await)
    }

    async fn execute(
        &mut self,
        this: Resource<Connection>,
        statement: String,
        params: Vec<wit::Value>,
    ) -> Result<u64> {
        let db = self.table.get(&this)?.db.db.clone();
        let execute =
            async { (db.execute(&statement, convert_params(params)).await).map_err(Into::into) };
        Ok(observed(
            self.traceparent,
            "execute",
            Some(&statement),
            db.dialect(),
            execute,
        )
        .await)
    }

    async fn begin(&mut self, this: Resource<Connection>) -> Result<Resource<Transaction>> {
        let db = self.table.get(&this)?.db.clone();
        let begin = async { db.db.begin().await.map_err(wit::Error::from) };
        match observed(self.traceparent, "begin", None, db.db.dialect(), begin).await {
            Ok(tx) => {
                let tx = Transaction {
                    tx: Some(tx),
                    source: format!("/folio/{}", self.databases.component),
                    published: Vec::new(),
                    outbox_ready: db.outbox_ready,
                };
                Ok(Ok(self.table.push(tx)?))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn drop(&mut self, this: Resource<Connection>) -> wasmtime::Result<()> {
        self.table.delete(this)?;
        Ok(())
    }
}

impl wit::HostTransaction for SqlView<'_> {
    async fn query(
        &mut self,
        this: Resource<Transaction>,
        statement: String,
        params: Vec<wit::Value>,
    ) -> Result<wit::RowSet> {
        let Some(tx) = self.table.get_mut(&this)?.tx.as_mut() else {
            return Ok(Err(wit::Error::TransactionClosed));
        };
        let dialect = tx.dialect();
        let query = async { run(tx.query(&statement, convert_params(params)).await) };
        Ok(observed(self.traceparent, "query", Some(&statement), dialect, query).await)
    }

    async fn execute(
        &mut self,
        this: Resource<Transaction>,
        statement: String,
        params: Vec<wit::Value>,
    ) -> Result<u64> {
        let Some(tx) = self.table.get_mut(&this)?.tx.as_mut() else {
            return Ok(Err(wit::Error::TransactionClosed));
        };
        let dialect = tx.dialect();
        let execute =
            async { (tx.execute(&statement, convert_params(params)).await).map_err(Into::into) };
        Ok(observed(
            self.traceparent,
            "execute",
            Some(&statement),
            dialect,
            execute,
        )
        .await)
    }

    async fn publish(
        &mut self,
        this: Resource<Transaction>,
        event: OutgoingEvent,
    ) -> Result<String> {
        let transaction = self.table.get_mut(&this)?;
        if transaction.tx.is_none() {
            return Ok(Err(wit::Error::TransactionClosed));
        }
        let event = OutboxEvent::from(event);
        if let Err(e) = check_event(&event) {
            return Ok(Err(e.into()));
        }
        if !self.publishes.allows(&event.topic) {
            return Ok(Err(wit::Error::NotAllowed(TopicGrants::refusal(
                &event.topic,
            ))));
        }
        if transaction.published.len() >= limits::MAX_EVENTS_PER_TRANSACTION {
            return Ok(Err(wit::Error::TooLarge(format!(
                "more than {} events in one transaction",
                limits::MAX_EVENTS_PER_TRANSACTION
            ))));
        }
        let id = uuid::Uuid::now_v7().to_string();
        transaction.published.push(PendingEvent {
            id: id.clone(),
            source: transaction.source.clone(),
            traceparent: Some(self.traceparent.to_string()),
            event,
        });
        Ok(Ok(id))
    }

    async fn commit(&mut self, this: Resource<Transaction>) -> Result<()> {
        let transaction = self.table.get_mut(&this)?;
        let Some(tx) = transaction.tx.take() else {
            return Ok(Err(wit::Error::TransactionClosed));
        };
        let events = std::mem::take(&mut transaction.published);
        let dialect = tx.dialect();
        let commit = async { tx.commit_with_outbox(&events).await.map_err(Into::into) };
        let committed = observed(self.traceparent, "commit", None, dialect, commit).await;
        if committed.is_ok() && !events.is_empty() {
            transaction.outbox_ready.notify_one();
        }
        Ok(committed)
    }

    async fn rollback(&mut self, this: Resource<Transaction>) -> Result<()> {
        let Some(tx) = self.table.get_mut(&this)?.tx.take() else {
            return Ok(Err(wit::Error::TransactionClosed));
        };
        Ok(tx.rollback().await.map_err(Into::into))
    }

    async fn drop(&mut self, this: Resource<Transaction>) -> wasmtime::Result<()> {
        // Dropping an open sqlx transaction rolls it back.
        self.table.delete(this)?;
        Ok(())
    }
}

fn run(
    result: std::result::Result<backend::Rows, SqlError>,
) -> std::result::Result<wit::RowSet, wit::Error> {
    result
        .map(|rows| wit::RowSet {
            columns: rows.columns,
            rows: rows
                .rows
                .into_iter()
                .map(|row| row.into_iter().map(Into::into).collect())
                .collect(),
        })
        .map_err(Into::into)
}

fn convert_params(params: Vec<wit::Value>) -> Vec<Value> {
    params.into_iter().map(Into::into).collect()
}

impl From<wit::Value> for Value {
    fn from(v: wit::Value) -> Value {
        match v {
            wit::Value::Null => Value::Null,
            wit::Value::Integer(i) => Value::Integer(i),
            wit::Value::Real(r) => Value::Real(r),
            wit::Value::Text(t) => Value::Text(t),
            wit::Value::Blob(b) => Value::Blob(b),
            wit::Value::Boolean(b) => Value::Boolean(b),
            wit::Value::Json(j) => Value::Json(j),
            wit::Value::Timestamp(t) => Value::Timestamp(t),
        }
    }
}

impl From<Value> for wit::Value {
    fn from(v: Value) -> wit::Value {
        match v {
            Value::Null => wit::Value::Null,
            Value::Integer(i) => wit::Value::Integer(i),
            Value::Real(r) => wit::Value::Real(r),
            Value::Text(t) => wit::Value::Text(t),
            Value::Blob(b) => wit::Value::Blob(b),
            Value::Boolean(b) => wit::Value::Boolean(b),
            Value::Json(j) => wit::Value::Json(j),
            Value::Timestamp(t) => wit::Value::Timestamp(t),
        }
    }
}

impl From<SqlError> for wit::Error {
    fn from(e: SqlError) -> wit::Error {
        match e {
            SqlError::InvalidStatement(m) => wit::Error::InvalidStatement(m),
            SqlError::ConstraintViolation(m) => wit::Error::ConstraintViolation(m),
            SqlError::TooLarge(m) => wit::Error::TooLarge(m),
            SqlError::Unavailable(m) => wit::Error::Unavailable(m),
            SqlError::NotAllowed(m) => wit::Error::NotAllowed(m),
        }
    }
}

/// An event published in a transaction, waiting for its commit.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: String,
    pub source: String,
    pub traceparent: Option<String>,
    pub event: OutboxEvent,
}

/// An event as the outbox stores it.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub topic: String,
    pub event_type: String,
    pub key: String,
    pub subject: Option<String>,
    pub datacontenttype: String,
    pub data: Vec<u8>,
}

impl From<OutgoingEvent> for OutboxEvent {
    fn from(e: OutgoingEvent) -> Self {
        OutboxEvent {
            topic: e.topic,
            event_type: e.type_,
            key: e.key,
            subject: e.subject,
            datacontenttype: e.datacontenttype,
            data: e.data,
        }
    }
}
