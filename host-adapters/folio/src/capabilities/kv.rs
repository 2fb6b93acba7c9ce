//! `wasi:keyvalue` + `folio:platform/kv-expiry` (`folio-kv`):
//! `key_value_stores` grants, bound by `[key_value_store.NAME]` to the
//! embedded store (default) or Redis.

use std::any::Any;
use std::sync::{Arc, LazyLock};

use futures_util::future::BoxFuture;
use wasmtime::component::{Linker, ResourceTable};

use folio_kv::{ComponentStores, KvConfig, KvView};

use super::Opened;
use crate::capability::{
    Capability, ComponentOpening, ComponentState, ComponentStates, HostContext,
};
use crate::runtime::HostState;

pub struct KvCapability {
    config: KvConfig,
    opened: Opened<folio_kv::Store>,
}

impl KvCapability {
    pub fn configure(ctx: &mut HostContext<'_>) -> anyhow::Result<Arc<dyn Capability>> {
        let config = KvConfig {
            stores: ctx.take("key_value_store")?,
        };
        ctx.check_bindings("key_value_store", config.stores.keys(), |c| {
            &c.key_value_stores
        })?;
        Ok(Arc::new(KvCapability {
            config,
            opened: Opened::default(),
        }))
    }
}

fn view(state: &mut HostState) -> KvView<'_> {
    let (table, component, traceparent) = state.capability_parts();
    kv_view(table, component, traceparent)
}

/// The key-value bindings' view of one instance.
pub(crate) fn kv_view<'a>(
    table: &'a mut ResourceTable,
    component: &'a ComponentStates,
    traceparent: &'a str,
) -> KvView<'a> {
    static NONE: LazyLock<ComponentStores> = LazyLock::new(ComponentStores::default);
    KvView {
        table,
        stores: component.get::<ComponentStores>().unwrap_or(&NONE),
        traceparent,
    }
}

impl Capability for KvCapability {
    fn name(&self) -> &'static str {
        "key-value"
    }

    fn add_to_linker(&self, linker: &mut Linker<HostState>) -> anyhow::Result<()> {
        folio_kv::add_to_linker(linker, view)
    }

    fn open<'a>(
        &'a self,
        component: ComponentOpening<'a>,
    ) -> BoxFuture<'a, anyhow::Result<ComponentState>> {
        Box::pin(async move {
            let decl = component.decl;
            let (open, missing) = self.opened.split(&decl.id, &decl.key_value_stores);
            let mut stores =
                ComponentStores::open(&decl.id, &missing, &self.config, component.data_dir).await?;
            for name in &missing {
                if let Some(store) = stores.get(name) {
                    self.opened.keep(&decl.id, name, store.clone());
                }
            }
            for (name, store) in open {
                stores.insert(name, store);
            }
            Ok(Arc::new(stores) as ComponentState)
        })
    }

    fn check_ready(&self) -> BoxFuture<'_, Result<(), String>> {
        let opened = self.opened.all();
        Box::pin(super::probe_each("store", opened, |store| async move {
            store
                .exists("folio-readiness-probe")
                .await
                .map(drop)
                .map_err(|e| format!("{e:?}"))
        }))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
