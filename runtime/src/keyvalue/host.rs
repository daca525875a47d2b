//! The host side of `wasi:keyvalue@0.2.0-draft2`, generated from `runtime/wit/keyvalue` and
//! implemented over [`KeyValueStore`]. A bucket is a granted store; a `cas` handle remembers the
//! value it read and swaps only if the key still holds it.

use super::{Grant, KeyValueGrants, KeyValueStore, StoreError};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};

mod generated {
    wasmtime::component::bindgen!({
        path: "wit/keyvalue",
        world: "wasi:keyvalue/imports",
        imports: { default: async | trappable },
        with: {
            "wasi:keyvalue/store.bucket": super::Bucket,
            "wasi:keyvalue/atomics.cas": super::Cas,
        },
    });
}

use generated::wasi::keyvalue::{atomics, batch, store};

/// An open bucket.
pub struct Bucket {
    store: KeyValueStore,
}

/// A compare-and-swap in progress.
pub struct Cas {
    store: KeyValueStore,
    key: String,
    current: Option<Vec<u8>>,
}

/// What the key-value host functions see of a store's data.
pub struct KeyValueView<'a> {
    pub grants: &'a KeyValueGrants,
    pub table: &'a mut ResourceTable,
}

struct HasKeyValue;

impl HasData for HasKeyValue {
    type Data<'a> = KeyValueView<'a>;
}

/// Adds `wasi:keyvalue/{store,atomics,batch}` to `linker`.
pub(crate) fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    view: fn(&mut T) -> KeyValueView<'_>,
) -> wasmtime::Result<()> {
    generated::Imports::add_to_linker::<T, HasKeyValue>(linker, view)
}

fn other(e: StoreError) -> store::Error {
    store::Error::Other(e.0)
}

impl KeyValueView<'_> {
    fn bucket(&self, bucket: &Resource<Bucket>) -> wasmtime::Result<KeyValueStore> {
        Ok(self.table.get(bucket)?.store.clone())
    }
}

impl store::Host for KeyValueView<'_> {
    async fn open(
        &mut self,
        identifier: String,
    ) -> wasmtime::Result<Result<Resource<Bucket>, store::Error>> {
        let store = match self.grants.get(&identifier) {
            None => {
                tracing::debug!(store = %identifier, "key-value store not granted to the pod");
                return Ok(Err(store::Error::AccessDenied));
            }
            Some(Grant::Missing) => return Ok(Err(store::Error::NoSuchStore)),
            Some(Grant::Unavailable(e)) => return Ok(Err(other(e.clone()))),
            Some(Grant::Store(store)) => store.clone(),
        };
        if let Err(e) = store.ready().await {
            tracing::warn!(store = %identifier, error = %e, "key-value store unavailable");
            return Ok(Err(other(e)));
        }
        Ok(Ok(self.table.push(Bucket { store })?))
    }
}

impl store::HostBucket for KeyValueView<'_> {
    async fn get(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(self.bucket(&bucket)?.get(&key).await.map_err(other))
    }

    async fn set(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.bucket(&bucket)?.set(&key, &value).await.map_err(other))
    }

    async fn delete(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self.bucket(&bucket)?.delete(&key).await.map_err(other))
    }

    async fn exists(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<bool, store::Error>> {
        Ok(self.bucket(&bucket)?.exists(&key).await.map_err(other))
    }

    async fn list_keys(
        &mut self,
        bucket: Resource<Bucket>,
        cursor: Option<String>,
    ) -> wasmtime::Result<Result<store::KeyResponse, store::Error>> {
        let page = self.bucket(&bucket)?.list_keys(cursor).await;
        Ok(page
            .map(|(keys, cursor)| store::KeyResponse { keys, cursor })
            .map_err(other))
    }

    async fn drop(&mut self, bucket: Resource<Bucket>) -> wasmtime::Result<()> {
        self.table.delete(bucket)?;
        Ok(())
    }
}

impl atomics::Host for KeyValueView<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, store::Error>> {
        Ok(self
            .bucket(&bucket)?
            .increment(&key, delta)
            .await
            .map_err(other))
    }

    async fn swap(
        &mut self,
        cas: Resource<Cas>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let cas = self.table.delete(cas)?;
        match cas
            .store
            .compare_and_swap(&cas.key, cas.current.as_deref(), &value)
            .await
        {
            Ok(true) => Ok(Ok(())),
            Ok(false) => match cas.store.get(&cas.key).await {
                Ok(current) => {
                    let retry = self.table.push(Cas { current, ..cas })?;
                    Ok(Err(atomics::CasError::CasFailed(retry)))
                }
                Err(e) => Ok(Err(atomics::CasError::StoreError(other(e)))),
            },
            Err(e) => Ok(Err(atomics::CasError::StoreError(other(e)))),
        }
    }
}

impl atomics::HostCas for KeyValueView<'_> {
    async fn new(
        &mut self,
        bucket: Resource<Bucket>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<Cas>, store::Error>> {
        let store = self.bucket(&bucket)?;
        let current = match store.get(&key).await {
            Ok(current) => current,
            Err(e) => return Ok(Err(other(e))),
        };
        Ok(Ok(self.table.push(Cas {
            store,
            key,
            current,
        })?))
    }

    async fn current(
        &mut self,
        cas: Resource<Cas>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, store::Error>> {
        Ok(Ok(self.table.get(&cas)?.current.clone()))
    }

    async fn drop(&mut self, cas: Resource<Cas>) -> wasmtime::Result<()> {
        self.table.delete(cas)?;
        Ok(())
    }
}

impl batch::Host for KeyValueView<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<Option<(String, Vec<u8>)>>, store::Error>> {
        let values = self.bucket(&bucket)?.get_many(&keys).await;
        Ok(values
            .map(|values| {
                keys.into_iter()
                    .zip(values)
                    .map(|(k, v)| v.map(|v| (k, v)))
                    .collect()
            })
            .map_err(other))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<Bucket>,
        key_values: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self
            .bucket(&bucket)?
            .set_many(&key_values)
            .await
            .map_err(other))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<Bucket>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), store::Error>> {
        Ok(self
            .bucket(&bucket)?
            .delete_many(&keys)
            .await
            .map_err(other))
    }
}
