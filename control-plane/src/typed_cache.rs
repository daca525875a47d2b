//! Decoded copies of the objects the control loops read on every pass. A kind's cache is filled
//! from the store the first time someone lists it as a type (at the list's revision), then kept
//! current by the registry's ingest of committed batches (its own commits with sled, the store's
//! change feed with etcd), so a pass over 10,000 pods copies pointers instead of decoding 10,000
//! JSON documents. A batch no newer than the list that filled a cache is already in it.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

type Shared = Arc<dyn Any + Send + Sync>;

/// The objects of one kind, decoded as one Rust type.
struct KindCache {
    objects: BTreeMap<ObjectKey, Shared>,
    decode: fn(&AnyObject) -> Option<Shared>,
    /// The revision of the list that filled it.
    filled_at: u64,
}

fn decode_as<T: serde::de::DeserializeOwned + Send + Sync + 'static>(
    object: &AnyObject,
) -> Option<Shared> {
    match T::deserialize(&object.0) {
        Ok(typed) => Some(Arc::new(typed)),
        Err(error) => {
            tracing::warn!(object = object.name(), %error, "skipping undecodable object");
            None
        }
    }
}

#[derive(Default)]
pub(crate) struct TypedCaches {
    kinds: HashMap<(Kind, TypeId), KindCache>,
}

impl TypedCaches {
    /// Whether `kind` is cached as `T` yet.
    pub(crate) fn has<T: 'static>(&self, kind: Kind) -> bool {
        self.kinds.contains_key(&(kind, TypeId::of::<T>()))
    }

    /// Starts caching `kind` as `T` from a complete list of its objects read at `revision`.
    pub(crate) fn fill<T>(&mut self, kind: Kind, objects: Vec<AnyObject>, revision: u64)
    where
        T: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let decode = decode_as::<T>;
        let objects = objects
            .iter()
            .filter_map(|o| Some((o.key()?, decode(o)?)))
            .collect();
        self.kinds.insert(
            (kind, TypeId::of::<T>()),
            KindCache {
                objects,
                decode,
                filled_at: revision,
            },
        );
    }

    /// Forgets every cache (the next list fills them again).
    pub(crate) fn clear(&mut self) {
        self.kinds.clear();
    }

    /// The cached objects of `kind` (of one namespace, or all) as `T`, in key order.
    pub(crate) fn list<T: Send + Sync + 'static>(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Vec<Arc<T>> {
        let Some(cache) = self.kinds.get(&(kind, TypeId::of::<T>())) else {
            return Vec::new();
        };
        cache
            .objects
            .iter()
            .filter(|(key, _)| {
                // As in the store: a namespace narrows only namespaced kinds.
                !kind.namespaced() || namespace.is_none_or(|ns| key.namespace == ns)
            })
            .filter_map(|(_, object)| object.clone().downcast::<T>().ok())
            .collect()
    }

    /// Applies one write committed at `revision` to every cache of its kind filled before it.
    pub(crate) fn update(&mut self, key: &ObjectKey, object: Option<&AnyObject>, revision: u64) {
        for ((kind, _), cache) in self.kinds.iter_mut() {
            if *kind != key.kind || revision <= cache.filled_at {
                continue;
            }
            match object.and_then(|o| (cache.decode)(o)) {
                Some(typed) => {
                    cache.objects.insert(key.clone(), typed);
                }
                None => {
                    cache.objects.remove(key);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use wasmpod_api::Service;

    fn service(name: &str, ns: &str, app: &str) -> AnyObject {
        AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns}, "spec": {"selector": {"app": app}}}))
    }

    #[test]
    fn filled_caches_follow_updates_and_deletes() {
        let mut caches = TypedCaches::default();
        assert!(!caches.has::<Service>(Kind::Service));
        caches.fill::<Service>(Kind::Service, vec![service("a", "default", "x")], 5);
        assert!(caches.has::<Service>(Kind::Service));

        let b = service("b", "shop", "y");
        caches.update(&b.key().unwrap(), Some(&b), 6);
        // Already in the list that filled it: ignored.
        let old = service("a", "default", "old");
        caches.update(&old.key().unwrap(), Some(&old), 5);
        let a2 = service("a", "default", "z");
        caches.update(&a2.key().unwrap(), Some(&a2), 7);
        let all = caches.list::<Service>(Kind::Service, None);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].spec.selector["app"], "z");
        assert_eq!(caches.list::<Service>(Kind::Service, Some("shop")).len(), 1);

        caches.update(&b.key().unwrap(), None, 8);
        assert_eq!(caches.list::<Service>(Kind::Service, None).len(), 1);
        // Other kinds are not cached until asked for.
        assert!(caches.list::<Service>(Kind::Pod, None).is_empty());
    }
}
