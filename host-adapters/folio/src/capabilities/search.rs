//! `folio:platform/search` (`folio-search-index`): `search_indexes` grants
//! (`[component.NAME.tool.folio]`), each a tantivy index under
//! `<data_dir>/search/<component>/<index>/` (or `[search] path`).

use std::any::Any;
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use wasmtime::component::{Linker, ResourceTable};

use folio_search_index::{ComponentIndexes, SearchConfig, SearchIndex, SearchView};

use super::Opened;
use crate::capability::{
    Capability, ComponentOpening, ComponentState, ComponentStates, HostContext,
};
use crate::runtime::HostState;

pub struct SearchCapability {
    config: SearchConfig,
    opened: Opened<SearchIndex>,
}

impl SearchCapability {
    pub fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config: SearchConfig = ctx.take("search")?;
        config.settings()?;
        Ok(Arc::new(SearchCapability {
            config,
            opened: Opened::default(),
        }))
    }
}

fn view(state: &mut HostState) -> SearchView<'_> {
    let (table, component, traceparent) = state.capability_parts();
    search_view(table, component, traceparent)
}

/// The search bindings' view of one instance.
pub(crate) fn search_view<'a>(
    table: &'a mut ResourceTable,
    component: &'a ComponentStates,
    traceparent: &'a str,
) -> SearchView<'a> {
    static NONE: LazyLock<ComponentIndexes> = LazyLock::new(ComponentIndexes::default);
    SearchView {
        table,
        indexes: component.get::<ComponentIndexes>().unwrap_or(&NONE),
        traceparent,
    }
}

impl Capability for SearchCapability {
    fn name(&self) -> &'static str {
        "search"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_search_index::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move {
            let decl = component.decl;
            if decl.search_indexes.is_empty() {
                return Ok(Arc::new(ComponentIndexes::default()) as ComponentState);
            }
            let root = self
                .config
                .path
                .clone()
                .unwrap_or_else(|| component.data_dir.join("search"));
            // An index is opened once: its writer holds a lock on the directory.
            let (open, missing) = self.opened.split(&decl.id, &decl.search_indexes);
            let (id, settings) = (decl.id.clone(), self.config.settings()?);
            let mut indexes = tokio::task::spawn_blocking(move || {
                ComponentIndexes::open(&id, &missing, &root, settings)
            })
            .await??;
            for (name, index) in indexes.iter() {
                self.opened.keep(&decl.id, name, index.clone());
            }
            for (name, index) in open {
                indexes.insert(name, index);
            }
            Ok(Arc::new(indexes) as ComponentState)
        })
    }

    /// Indexes are files this process holds open: ready once opened.
    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async { Ok(()) })
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
