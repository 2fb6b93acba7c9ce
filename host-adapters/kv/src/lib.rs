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

pub mod bindings {
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
    name: String,
    store: Store,
}

/// A compare-and-swap handle: the value seen when it was made.
pub struct Cas {
    name: String,
    store: Store,
    key: String,
    seen: Option<Vec<u8>>,
}

pub struct KvView<'a> {
    pub table: &'a mut ResourceTable,
    pub stores: &'a ComponentStores,
    /// The calling instance's W3C trace context, for the calls' spans.
    pub traceparent: &'a str,
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
    /// The bucket's store, and where a call on it is made.
    fn bucket(
        &self,
        bucket: &Resource<Bucket>,
        operation: &'static str,
    ) -> wasmtime::Result<(Store, Traced<'_>)> {
        let bucket = self.table.get(bucket)?;
        let site = folio_observe::Site {
            traceparent: self.traceparent,
            capability: "key-value",
            system: bucket.store.system(),
            operation,
            target: Some(&bucket.name),
            statement: None,
        };
        Ok((bucket.store.clone(), Traced(site)))
    }
}

/// Runs a store call reported to the host's tracing.
struct Traced<'a>(folio_observe::Site<'a>);

impl Traced<'_> {
    async fn call<T>(
        self,
        call: impl Future<Output = std::result::Result<T, KvError>>,
    ) -> std::result::Result<T, store::Error> {
        folio_observe::observed(self.0, call)
            .await
            .map_err(Into::into)
    }
}

impl store::Host for KvView<'_> {
    async fn open(&mut self, identifier: String) -> Result<Resource<Bucket>> {
        let Some(store) = self.stores.get(&identifier) else {
            return Ok(Err(store::Error::NoSuchStore));
        };
        let bucket = Bucket {
            name: identifier,
            store: store.clone(),
        };
        Ok(Ok(self.table.push(bucket)?))
    }
}

impl store::HostBucket for KvView<'_> {
    async fn get(&mut self, bucket: Resource<Bucket>, key: String) -> Result<Option<Vec<u8>>> {
        let (store, traced) = self.bucket(&bucket, "get")?;
        Ok(traced.call(store.get(&key)).await)
    }

    async fn set(&mut self, bucket: Resource<Bucket>, key: String, value: Vec<u8>) -> Result<()> {
        let (store, traced) = self.bucket(&bucket, "set")?;
        Ok(traced.call(store.set(&key, &value, None)).await)
    }

    async fn delete(&mut self, bucket: Resource<Bucket>, key: String) -> Result<()> {
        let (store, traced) = self.bucket(&bucket, "delete")?;
        Ok(traced.call(store.delete(&key)).await)
    }

    async fn exists(&mut self, bucket: Resource<Bucket>, key: String) -> Result<bool> {
        let (store, traced) = self.bucket(&bucket, "exists")?;
        Ok(traced.call(store.exists(&key)).await)
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> Result<store::KeyResponse> {
        let (store, traced) = self.bucket(&bucket, "list-keys")?;
        Ok(traced
            .call(store.list_keys(cursor))
            .await
            .map(|(keys, cursor)| store::KeyResponse { keys, cursor }))
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
        let (store, traced) = self.bucket(&bucket, "increment")?;
        Ok(traced.call(store.increment(&key, delta)).await)
    }

    async fn swap(&mut self, cas: Resource<Cas>, value: Vec<u8>) -> Result<(), atomics::CasError> {
        let Cas {
            name,
            store,
            key,
            seen,
        } = self.table.delete(cas)?;
        let site = folio_observe::Site {
            traceparent: self.traceparent,
            capability: "key-value",
            system: store.system(),
            operation: "swap",
            target: Some(&name),
            statement: None,
        };
        let swapped =
            folio_observe::observed(site, store.compare_and_swap(&key, seen.as_deref(), &value))
                .await;
        match swapped {
            Ok(true) => Ok(Ok(())),
            Ok(false) => {
                let current = store.get(&key).await.ok().flatten();
                let retry = self.table.push(Cas {
                    name,
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
        let name = self.table.get(&bucket)?.name.clone();
        let (store, traced) = self.bucket(&bucket, "get")?;
        match traced.call(store.get(&key)).await {
            Ok(seen) => Ok(Ok(self.table.push(Cas {
                name,
                store,
                key,
                seen,
            })?)),
            Err(e) => Ok(Err(e)),
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
        let (store, traced) = self.bucket(&bucket, "get-many")?;
        Ok(traced
            .call(async {
                let mut out = Vec::with_capacity(keys.len());
                for key in keys {
                    let value = store.get(&key).await?;
                    out.push((key, value));
                }
                Ok(out)
            })
            .await)
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> Result<()> {
        let (store, traced) = self.bucket(&bucket, "set-many")?;
        Ok(traced
            .call(async {
                for (key, value) in &key_values {
                    store.set(key, value, None).await?;
                }
                Ok(())
            })
            .await)
    }

    async fn delete_many(&mut self, bucket: Resource<Bucket>, keys: Vec<String>) -> Result<()> {
        let (store, traced) = self.bucket(&bucket, "delete-many")?;
        Ok(traced
            .call(async {
                for key in &keys {
                    store.delete(key).await?;
                }
                Ok(())
            })
            .await)
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
        let (store, traced) = self.bucket(&bucket, "set-with-ttl")?;
        Ok(traced
            .call(store.set(&key, &value, Some(Duration::from_millis(ttl_ms))))
            .await)
    }
}
