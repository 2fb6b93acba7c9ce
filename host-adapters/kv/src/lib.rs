//! Folio's key-value adapter: `wasi:keyvalue` (draft 2, as Spin 3 offers it)
//! plus `folio:platform/kv-expiry`, on an embedded SQLite file per component
//! store (the default) or Redis. Stores are namespaced by component: two
//! components that both declare `default` never see each other's keys.

mod backend;
pub mod runtime_config;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

pub use backend::{KvError, MAX_KEY_BYTES, MAX_VALUE_BYTES, Store};
pub use runtime_config::{KvBackendConfig, KvConfig};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "folio:platform/key-value",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": crate::Bucket,
            "wasi:keyvalue/atomics.cas": crate::Cas,
        },
        require_store_data_send: true,
    });
}

use bindings::folio::platform::kv_expiry;
use bindings::wasi::keyvalue::{atomics, batch, store};

/// The stores one component may open, by the names spin.toml grants.
#[derive(Clone, Default)]
pub struct ComponentStores {
    stores: BTreeMap<String, Store>,
}

impl ComponentStores {
    /// Adds `store` under `name`: one the host already holds open.
    pub fn insert(&mut self, name: String, store: Store) {
        self.stores.insert(name, store);
    }

    pub async fn open(
        component: &str,
        granted: &[String],
        config: &KvConfig,
        data_dir: &Path,
    ) -> anyhow::Result<ComponentStores> {
        let mut stores = BTreeMap::new();
        for name in granted {
            let store = match config.backend(name) {
                KvBackendConfig::Sqlite { path } => {
                    let path = path.unwrap_or_else(|| {
                        data_dir.join("kv").join(format!("{component}.{name}.db"))
                    });
                    Store::embedded(&path).await.with_context(|| {
                        format!("key-value store `{name}` at {}", path.display())
                    })?
                }
                KvBackendConfig::Redis { url } => Store::redis(&url, component, name)
                    .await
                    .with_context(|| format!("key-value store `{name}` on redis"))?,
            };
            stores.insert(name.clone(), store);
        }
        Ok(ComponentStores { stores })
    }

    pub fn get(&self, name: &str) -> Option<&Store> {
        self.stores.get(name)
    }
}

pub struct Bucket {
    store: Store,
}

/// A compare-and-swap handle: the value seen when it was made.
pub struct Cas {
    store: Store,
    key: String,
    seen: Option<Vec<u8>>,
}

pub struct KvView<'a> {
    pub table: &'a mut ResourceTable,
    pub stores: &'a ComponentStores,
}

struct KvData;

impl HasData for KvData {
    type Data<'a> = KvView<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KvView<'_>,
) -> anyhow::Result<()> {
    store::add_to_linker::<T, KvData>(linker, view)?;
    atomics::add_to_linker::<T, KvData>(linker, view)?;
    batch::add_to_linker::<T, KvData>(linker, view)?;
    kv_expiry::add_to_linker::<T, KvData>(linker, view)?;
    Ok(())
}

type Result<T, E = store::Error> = wasmtime::Result<std::result::Result<T, E>>;

impl From<KvError> for store::Error {
    fn from(e: KvError) -> Self {
        store::Error::Other(e.to_string())
    }
}

impl KvView<'_> {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<Store> {
        Ok(self.table.get(bucket)?.store.clone())
    }
}

impl store::Host for KvView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>> {
        let Some(store) = self.stores.get(&identifier) else {
            return Ok(Err(store::Error::NoSuchStore));
        };
        let bucket = Bucket {
            store: store.clone(),
        };
        Ok(Ok(self.table.push(bucket)?))
    }
}

impl store::HostBucket for KvView<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>> {
        Ok(self.bucket(&bucket)?.get(&key).await.map_err(Into::into))
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<()> {
        Ok(self
            .bucket(&bucket)?
            .set(&key, &value, None)
            .await
            .map_err(Into::into))
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<()> {
        Ok(self.bucket(&bucket)?.delete(&key).await.map_err(Into::into))
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool> {
        Ok(self.bucket(&bucket)?.exists(&key).await.map_err(Into::into))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse> {
        Ok(self
            .bucket(&bucket)?
            .list_keys(cursor)
            .await
            .map(|(keys, cursor)| store::KeyResponse { keys, cursor })
            .map_err(Into::into))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KvView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> Result<i64> {
        Ok(self
            .bucket(&bucket)?
            .increment(&key, delta)
            .await
            .map_err(Into::into))
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let Cas { store, key, seen } = self.table.delete(cas)?;
        match store.compare_and_swap(&key, seen.as_deref(), &value).await {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                let current = store.get(&key).await.ok().flatten();
                let retry = self.table.push(Cas {
                    store,
                    key,
                    seen: current,
                })?;
                Ok(Err(atomics::CasError::CasFailed(retry)))
            }
            Err(e) => Ok(Err(atomics::CasError::StoreError(e.into()))),
        }
    }
}

impl atomics::HostCas for KvView<'_> {
    async fn new(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Resource<Cas>> {
        let store = self.bucket(&bucket)?;
        match store.get(&key).await {
            Ok(seen) => Ok(Ok(self.table.push(Cas { store, key, seen })?)),
            Err(e) => Ok(Err(e.into())),
        }
    }

    async fn current(&mut self, cas: Resource<Cas>) -> Result<Option<Vec<u8>>> {
        Ok(Ok(self.table.get(&cas)?.seen.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KvView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        let store = self.bucket(&bucket)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match store.get(&key).await {
                Ok(v) => out.push((key, v)),
                Err(e) => return Ok(Err(e.into())),
            }
        }
        Ok(Ok(out))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        let store = self.bucket(&bucket)?;
        for (key, value) in &key_values {
            if let Err(e) = store.set(key, value, None).await {
                return Ok(Err(e.into()));
            }
        }
        Ok(Ok(()))
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Result<()> {
        let store = self.bucket(&bucket)?;
        for key in &keys {
            if let Err(e) = store.delete(key).await {
                return Ok(Err(e.into()));
            }
        }
        Ok(Ok(()))
    }
}

impl kv_expiry::Host for KvView<'_> {
    async fn set_with_ttl(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> Result<()> {
        if ttl_ms == 0 {
            return Ok(Err(store::Error::Other("ttl-ms must be at least 1".into())));
        }
        Ok(self
            .bucket(&bucket)?
            .set(&key, &value, Some(Duration::from_millis(ttl_ms)))
            .await
            .map_err(Into::into))
    }
}
