//! The registry's typed reads, by the type's kind ([`Resource::KIND`]): `registry.all::<Pod>(ns)`
//! instead of `registry.list_shared::<Pod>(Kind::Pod, ns)`, `registry.fetch::<Pod>(ns, name)`.
//! An extension trait, so that the registry itself stays the store's and the cache's.

use crate::registry::{Registry, RegistryError};
use std::sync::Arc;
use wasmpod_api::{ObjectKey, Resource};

pub trait TypedRegistry {
    /// Every `T` (in `namespace`, or all), shared with the registry's cache.
    fn all<T: Resource>(&self, namespace: Option<&str>) -> Result<Vec<Arc<T>>, RegistryError>;

    /// [`TypedRegistry::all`], as owned copies.
    fn all_owned<T: Resource + Clone>(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<T>, RegistryError>;

    /// The `T` named `name` in `namespace` (ignored for a cluster-wide kind).
    fn fetch<T: Resource>(&self, namespace: &str, name: &str) -> Result<Option<T>, RegistryError>;
}

impl TypedRegistry for Registry {
    fn all<T: Resource>(&self, namespace: Option<&str>) -> Result<Vec<Arc<T>>, RegistryError> {
        self.list_shared::<T>(T::KIND, namespace)
    }

    fn all_owned<T: Resource + Clone>(
        &self,
        namespace: Option<&str>,
    ) -> Result<Vec<T>, RegistryError> {
        self.list_typed::<T>(T::KIND, namespace)
    }

    fn fetch<T: Resource>(&self, namespace: &str, name: &str) -> Result<Option<T>, RegistryError> {
        self.get_typed::<T>(&ObjectKey::new(T::KIND, namespace, name))
    }
}
