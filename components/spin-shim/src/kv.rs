//! `wasi:keyvalue` (store, atomics, batch) and `folio:platform/kv-expiry`,
//! in the service: the component's stores keep their expiring keys, their
//! counters and their compare-and-swap there, as on the host.

use folio_adapter_protocol as wire;
use folio_adapter_protocol::{Call, Handle};
use serde::de::DeserializeOwned;

use crate::bindings::exports::folio::platform::kv_expiry;
use crate::bindings::exports::wasi::keyvalue::atomics::{self, Cas, CasError, GuestCas};
use crate::bindings::exports::wasi::keyvalue::batch;
use crate::bindings::exports::wasi::keyvalue::store::{
    self, Bucket, BucketBorrow, Error, GuestBucket, KeyResponse,
};
use crate::remote;

/// A store the component may open: its name, checked when opened.
pub struct RemoteBucket(String);
pub struct RemoteCas(Handle);

fn call<T: DeserializeOwned>(call: &Call) -> Result<T, Error> {
    remote::call::<T, wire::KvError>(call)
        .map_err(Error::Other)?
        .map_err(from_wire)
}

fn from_wire(e: wire::KvError) -> Error {
    match e {
        wire::KvError::NoSuchStore => Error::NoSuchStore,
        wire::KvError::AccessDenied => Error::AccessDenied,
        wire::KvError::Other(m) => Error::Other(m),
    }
}

fn store_of(bucket: &BucketBorrow<'_>) -> String {
    bucket.get::<RemoteBucket>().0.clone()
}

impl store::Guest for crate::Shim {
    type Bucket = RemoteBucket;

    fn open(identifier: String) -> Result<Bucket, Error> {
        call::<()>(&Call::KvOpen {
            store: identifier.clone(),
        })?;
        Ok(Bucket::new(RemoteBucket(identifier)))
    }
}

impl GuestBucket for RemoteBucket {
    fn get(&self, key: String) -> Result<Option<Vec<u8>>, Error> {
        let value: wire::MaybeBytes = call(&Call::KvGet {
            store: self.0.clone(),
            key,
        })?;
        Ok(value.0)
    }

    fn set(&self, key: String, value: Vec<u8>) -> Result<(), Error> {
        call(&Call::KvSet {
            store: self.0.clone(),
            key,
            value,
        })
    }

    fn delete(&self, key: String) -> Result<(), Error> {
        call(&Call::KvDelete {
            store: self.0.clone(),
            key,
        })
    }

    fn exists(&self, key: String) -> Result<bool, Error> {
        call(&Call::KvExists {
            store: self.0.clone(),
            key,
        })
    }

    fn list_keys(&self, cursor: Option<String>) -> Result<KeyResponse, Error> {
        let page: wire::KeyResponse = call(&Call::KvListKeys {
            store: self.0.clone(),
            cursor,
        })?;
        Ok(KeyResponse {
            keys: page.keys,
            cursor: page.cursor,
        })
    }
}

impl atomics::Guest for crate::Shim {
    type Cas = RemoteCas;

    fn increment(bucket: BucketBorrow<'_>, key: String, delta: i64) -> Result<i64, Error> {
        call(&Call::KvIncrement {
            store: store_of(&bucket),
            key,
            delta,
        })
    }

    fn swap(cas: Cas, value: Vec<u8>) -> Result<(), CasError> {
        // The service takes the handle: no close to send for it.
        let remote = cas.into_inner::<RemoteCas>();
        let handle = remote.0;
        std::mem::forget(remote);
        match remote::call::<(), wire::CasError>(&Call::KvSwap { cas: handle, value }) {
            Err(unreachable) => Err(CasError::StoreError(Error::Other(unreachable))),
            Ok(Ok(())) => Ok(()),
            Ok(Err(wire::CasError::StoreError(e))) => Err(CasError::StoreError(from_wire(e))),
            Ok(Err(wire::CasError::CasFailed(retry))) => {
                Err(CasError::CasFailed(Cas::new(RemoteCas(retry))))
            }
        }
    }
}

impl GuestCas for RemoteCas {
    fn new(bucket: BucketBorrow<'_>, key: String) -> Result<Cas, Error> {
        let handle = call(&Call::KvCasNew {
            store: store_of(&bucket),
            key,
        })?;
        Ok(Cas::new(RemoteCas(handle)))
    }

    fn current(&self) -> Result<Option<Vec<u8>>, Error> {
        let value: wire::MaybeBytes = call(&Call::KvCasCurrent { cas: self.0 })?;
        Ok(value.0)
    }
}

impl Drop for RemoteCas {
    fn drop(&mut self) {
        remote::close(Call::KvCasClose { cas: self.0 });
    }
}

impl batch::Guest for crate::Shim {
    fn get_many(
        bucket: BucketBorrow<'_>,
        keys: Vec<String>,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>, Error> {
        let found: Vec<wire::MaybeEntry> = call(&Call::KvGetMany {
            store: store_of(&bucket),
            keys,
        })?;
        Ok(found.into_iter().map(|e| (e.key, e.value)).collect())
    }

    fn set_many(bucket: BucketBorrow<'_>, key_values: Vec<(String, Vec<u8>)>) -> Result<(), Error> {
        call(&Call::KvSetMany {
            store: store_of(&bucket),
            entries: key_values
                .into_iter()
                .map(|(key, value)| wire::Entry { key, value })
                .collect(),
        })
    }

    fn delete_many(bucket: BucketBorrow<'_>, keys: Vec<String>) -> Result<(), Error> {
        call(&Call::KvDeleteMany {
            store: store_of(&bucket),
            keys,
        })
    }
}

impl kv_expiry::Guest for crate::Shim {
    fn set_with_ttl(
        bucket: BucketBorrow<'_>,
        key: String,
        value: Vec<u8>,
        ttl_ms: u64,
    ) -> Result<(), Error> {
        call(&Call::KvSetWithTtl {
            store: store_of(&bucket),
            key,
            value,
            ttl_ms,
        })
    }
}
