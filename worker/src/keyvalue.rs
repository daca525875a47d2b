//! A pod's `wasi:keyvalue` grants from its resolved `keyValueStores`: each name the pod lists,
//! with the store behind it from this node's backends (one embedded database in the node's data
//! directory, one Redis connection per store, both reused by every pod of the node).

use wasmpod_api::resolved::{ResolvedKeyValueStore, ResolvedStoreBackend};
use wasmpod_runtime::keyvalue::{Grant, KeyValueBackends, KeyValueGrants, StoreBackend};

/// The directory of the node's embedded key-value database, below its data directory.
pub const EMBEDDED_DIR: &str = "keyvalue";

pub fn grants(
    backends: &KeyValueBackends,
    namespace: &str,
    stores: &[ResolvedKeyValueStore],
) -> KeyValueGrants {
    let mut grants = KeyValueGrants::new();
    for store in stores {
        let grant = match &store.backend {
            None => Grant::Missing,
            Some(backend) => {
                let backend = match backend {
                    ResolvedStoreBackend::Embedded => StoreBackend::Embedded,
                    ResolvedStoreBackend::Redis { url, password } => StoreBackend::Redis {
                        url: url.clone(),
                        password: password.clone(),
                    },
                };
                match backends.store(namespace, &store.name, &backend) {
                    Ok(found) => Grant::Store(found),
                    Err(error) => {
                        tracing::warn!(store = %store.name, %error, "key-value store unavailable");
                        Grant::Unavailable(error)
                    }
                }
            }
        };
        grants.insert(store.name.clone(), grant);
    }
    grants
}
