//! Decoded copies of the objects the control loops read on every pass, one
//! [`wasmpod_api::cache`] store per kind and type (the same cache the workers use). A kind's
//! store is filled from the store the first time someone lists it as a type (at the list's
//! revision), then kept current by the registry's ingest of committed batches (its own commits
//! with sled, the store's change feed with etcd), so a pass over 10,000 pods copies pointers
//! instead of decoding 10,000 JSON documents. A batch no newer than the list is already in it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use wasmpod_api::cache::{self, Store, Writer};
use wasmpod_api::{AnyObject, Kind, ObjectKey};

/// A cache's writer, whatever its type, as the ingest feeds it.
trait Feed: Send + Sync {
    fn apply(&mut self, key: &ObjectKey, object: Option<&AnyObject>, revision: u64);
}

impl<T: serde::de::DeserializeOwned + Send + Sync + 'static> Feed for Writer<T> {
    fn apply(&mut self, key: &ObjectKey, object: Option<&AnyObject>, revision: u64) {
        Writer::apply(self, key, object, revision);
    }
}

/// One kind cached as one type: its writer, and a read handle to hand out (a `Store<T>`).
struct Cached {
    writer: Box<dyn Feed>,
    reader: Box<dyn Any + Send + Sync>,
}

#[derive(Default)]
pub(crate) struct TypedCaches {
    kinds: HashMap<(Kind, TypeId), Cached>,
}

impl TypedCaches {
    /// The cache of `kind` as `T`, if it is filled.
    pub(crate) fn get<T: Send + Sync + 'static>(&self, kind: Kind) -> Option<Store<T>> {
        self.kinds
            .get(&(kind, TypeId::of::<T>()))
            .and_then(|cached| cached.reader.downcast_ref::<Store<T>>())
            .cloned()
    }

    /// Starts caching `kind` as `T` from a complete list of its objects read at `revision`.
    pub(crate) fn fill<T>(&mut self, kind: Kind, objects: Vec<AnyObject>, revision: u64) -> Store<T>
    where
        T: serde::de::DeserializeOwned + Send + Sync + 'static,
    {
        let (reader, mut writer) = cache::store::<T>(kind);
        writer.replace(objects, revision);
        self.kinds.insert(
            (kind, TypeId::of::<T>()),
            Cached {
                writer: Box::new(writer),
                reader: Box::new(reader.clone()),
            },
        );
        reader
    }

    /// Forgets every cache (the next list fills them again).
    pub(crate) fn clear(&mut self) {
        self.kinds.clear();
    }

    /// Applies one write committed at `revision` to every cache of its kind filled before it.
    pub(crate) fn update(&mut self, key: &ObjectKey, object: Option<&AnyObject>, revision: u64) {
        for ((kind, _), cached) in self.kinds.iter_mut() {
            if *kind == key.kind {
                cached.writer.apply(key, object, revision);
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
    fn filled_caches_follow_updates_of_their_kind_and_type() {
        let mut caches = TypedCaches::default();
        assert!(caches.get::<Service>(Kind::Service).is_none());
        caches.fill::<Service>(Kind::Service, vec![service("a", "default", "x")], 5);
        // The same kind as another type is another cache, not filled yet.
        assert!(caches.get::<AnyObject>(Kind::Service).is_none());
        let b = service("b", "shop", "y");
        caches.update(&b.key().unwrap(), Some(&b), 6);
        let old = service("a", "default", "old");
        caches.update(&old.key().unwrap(), Some(&old), 5);
        let cached = caches.get::<Service>(Kind::Service).unwrap();
        let all = cached.list();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].spec.selector["app"], "x");
        assert_eq!(cached.list_in(Some("shop")).len(), 1);
        caches.update(&b.key().unwrap(), None, 8);
        assert_eq!(cached.len(), 1);
        caches.clear();
        assert!(caches.get::<Service>(Kind::Service).is_none());
    }
}
