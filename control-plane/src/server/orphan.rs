//! `DELETE …?propagationPolicy=Orphan` of a Deployment or StatefulSet (`delete --cascade=orphan`):
//! the owner goes, its pods stay and keep running, without an owner, as Kubernetes' orphan
//! deletion leaves them. Their owner reference is taken off in the same commit as the owner's
//! delete: no controller pass can see the owner gone while its pods still name it (it would take
//! them away as the pods of a gone owner), nor the pods free while the owner is still there (it
//! would replace them).

use crate::registry::{to_any, Conflict, Registry, RegistryError, Write};
use crate::typed::TypedRegistry;
use wasmpod_api::{ObjectKey, Pod};

/// How many times the commit is staged again when a pod changed between the read and the commit
/// (a node's status report).
const TRIES: usize = 5;

/// Deletes `owner` and takes its reference off the pods it owns; returns how many it freed.
pub fn delete_orphaning(registry: &Registry, owner: &ObjectKey) -> Result<usize, RegistryError> {
    for _ in 0..TRIES {
        let mut writes = vec![Write::Delete(owner.clone())];
        for pod in registry.all::<Pod>(Some(&owner.namespace))? {
            let mut freed = Pod::clone(&pod);
            freed
                .metadata
                .owner_references
                .retain(|o| !(o.owner_kind() == Some(owner.kind) && o.name == owner.name));
            if freed.metadata.owner_references.len() != pod.metadata.owner_references.len() {
                let key = crate::controllers::pod_key(&freed);
                writes.push(Write::Update(to_any(&key, &freed)?));
            }
        }
        let freed = writes.len() - 1;
        match registry.commit(writes) {
            Ok(_) => return Ok(freed),
            // A pod changed (or went) since it was read: read again.
            Err(
                error @ RegistryError::Conflict {
                    conflict: Conflict::Modified | Conflict::Gone,
                    ..
                },
            ) => {
                tracing::debug!(%owner, %error, "a pod changed under the orphaning delete; reading again");
            }
            Err(error) => return Err(error),
        }
    }
    Err(RegistryError::Contended { tries: TRIES })
}
