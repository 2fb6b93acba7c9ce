//! The seam every host capability plugs into, in the spirit of Spin's
//! factors. A capability is configured once from its runtime-config tables,
//! links its WIT imports, opens what each component's grants name at
//! start-up, and reports whether its backends answer. Instances reach their
//! component's opened state through [`HostState::state`]; nothing else in the
//! host names a capability. The list is built in [`configure_all`].

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use wasmtime::component::Linker;

use crate::manifest::{App, ComponentDecl};
use crate::metrics::Metrics;
use crate::runtime::HostState;

pub(crate) use crate::capabilities::*;

/// A host capability: one adapter crate behind one WIT interface (or a few).
pub trait Capability: Send + Sync + 'static {
    /// Names it in readiness reports and errors: `sql`, `key-value`, ...
    fn name(&self) -> &'static str;
    /// Links its imports; they find their state with `HostState::state`.
    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()>;
    /// Opens what `component` is granted (databases, stores, buckets, ...),
    /// once, before any request. Returns the state its instances share.
    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>>;
    /// Whether every backend it opened answers; `Err` says which does not.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>>;
    /// For the host's own use of one capability (the relay needs the event log).
    fn as_any(&self) -> &dyn Any;
}

/// What one capability keeps for one component, shared by its instances.
pub type ComponentState = Arc<dyn Any + Send + Sync>;

/// What a capability is told when it opens a component.
pub struct ComponentOpening<'a> {
    pub decl: &'a ComponentDecl,
    pub data_dir: &'a Path,
    /// What the capabilities before this one opened for the component.
    pub opened: &'a ComponentStates,
    /// Asks the component for its migrations (its `folio:platform/schema` export).
    pub schema: &'a dyn SchemaSource,
}

/// The component's own schema, asked of a throwaway instance at start-up.
pub trait SchemaSource: Send + Sync {
    fn migrations<'a>(
        &'a self,
        databases: &'a [String],
        config: &'a folio_sql::SqlConfig,
    ) -> BoxFuture<'a, anyhow::Result<BTreeMap<String, Vec<folio_sql::Migration>>>>;
}

/// What configuring a capability may read: the app, the data directory,
/// the metrics, and the runtime config's tables, from which each capability
/// takes its own (a table no capability takes is an error).
pub struct HostContext<'a> {
    pub app: &'a App,
    pub data_dir: &'a Path,
    pub metrics: &'a Metrics,
    pub tables: &'a mut toml::Table,
}

impl HostContext<'_> {
    /// Removes and parses runtime-config table `key`; absent is the default.
    pub fn take<T: serde::de::DeserializeOwned + Default>(
        &mut self,
        key: &str,
    ) -> anyhow::Result<T> {
        match self.tables.remove(key) {
            None => Ok(T::default()),
            Some(value) => value.try_into().map_err(|e: toml::de::Error| {
                anyhow::anyhow!("[{key}]: {}", e.message().trim().replace('\n', " "))
            }),
        }
    }

    /// Refuses bindings of names no component declares: a typo would
    /// otherwise leave that component silently on the embedded default.
    pub fn check_bindings<'n>(
        &self,
        table: &str,
        bound: impl Iterator<Item = &'n String>,
        declared: impl Fn(&ComponentDecl) -> &[String],
    ) -> anyhow::Result<()> {
        let unused: Vec<String> = bound
            .filter(|name| {
                !self
                    .app
                    .components
                    .values()
                    .any(|c| declared(c).contains(name))
            })
            .map(|name| format!("[{table}.{name}]"))
            .collect();
        if !unused.is_empty() {
            anyhow::bail!(
                "runtime config binds {}, which no component in {} declares",
                unused.join(", "),
                self.app.manifest_path.display()
            );
        }
        Ok(())
    }
}

/// Every capability, configured from the runtime config's tables. Components
/// open them in this order (transcoding uses the buckets blobs opened).
pub async fn configure_all(mut ctx: HostContext<'_>) -> anyhow::Result<Capabilities> {
    let list: Vec<Arc<dyn Capability>> = vec![
        SqlCapability::configure(&mut ctx)?,
        KvCapability::configure(&mut ctx)?,
        EventsCapability::configure(&mut ctx).await?,
        BlobsCapability::configure(&mut ctx)?,
        TranscodeCapability::configure(&mut ctx)?,
        PasswordsCapability::configure(&mut ctx)?,
        SearchCapability::configure(&mut ctx)?,
        MailCapability::configure(&mut ctx)?,
    ];
    if let Some(name) = ctx.tables.keys().next() {
        anyhow::bail!("runtime config: unknown table or key `{name}`");
    }
    Ok(Capabilities { list })
}

/// The host's capabilities.
#[derive(Clone)]
pub struct Capabilities {
    list: Vec<Arc<dyn Capability>>,
}

impl Capabilities {
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Capability>> {
        self.list.iter()
    }

    /// The capability of type `C`, for the host's own use of it.
    pub fn get<C: Capability>(&self) -> Option<&C> {
        self.list
            .iter()
            .find_map(|c| c.as_any().downcast_ref::<C>())
    }

    pub fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        for capability in &self.list {
            capability.add_to_linker(linker)?;
        }
        Ok(())
    }

    /// Opens every capability for `decl`, in order.
    pub async fn open(
        &self,
        decl: &ComponentDecl,
        data_dir: &Path,
        schema: &dyn SchemaSource,
    ) -> anyhow::Result<ComponentStates> {
        let mut states = ComponentStates::default();
        for capability in &self.list {
            let state = capability
                .open(ComponentOpening {
                    decl,
                    data_dir,
                    opened: &states,
                    schema,
                })
                .await?;
            states.insert(state);
        }
        Ok(states)
    }

    /// Each capability's readiness, by name.
    pub async fn check_ready(&self) -> Vec<(&'static str, Result<(), String>)> {
        let checks = self
            .list
            .iter()
            .map(|c| async move { (c.name(), c.check_ready().await) });
        futures_util::future::join_all(checks).await
    }
}

/// One component's opened state of every capability, by type.
#[derive(Default)]
pub struct ComponentStates {
    states: Vec<(TypeId, ComponentState)>,
}

impl ComponentStates {
    fn insert(&mut self, state: ComponentState) {
        let id = (*state).type_id();
        self.states.push((id, state));
    }

    pub fn get<T: Any>(&self) -> Option<&T> {
        self.states
            .iter()
            .find(|(id, _)| *id == TypeId::of::<T>())
            .and_then(|(_, state)| state.downcast_ref::<T>())
    }

    pub fn iter_of<T: Any>(&self) -> impl Iterator<Item = &T> {
        self.states
            .iter()
            .filter_map(|(_, s)| s.downcast_ref::<T>())
    }
}
