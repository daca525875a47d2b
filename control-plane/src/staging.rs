//! Staging: how a batch of writes becomes one store transaction. Each write is checked against
//! the object as the batch sees it (its own earlier writes, else the store), its precondition
//! checked (`Create`: absent; `Update`: the version it was read at), its system metadata stamped
//! (uid, creation time, generation), and dropped when it changes nothing. What the batch read
//! becomes the transaction's compares, so a batch whose reads another server changed is refused
//! by the store and staged again by the registry.

use crate::registry::{Conflict, RegistryError, Write};
use crate::store::{resource_version, ChangeType, Compare, Store};
use crate::watch_hub::Change;
use chrono::Utc;
use serde_json::Value;
use std::collections::HashMap;
use wasmpod_api::name::validate_object_key;
use wasmpod_api::{AnyObject, ObjectKey};

fn meta(object: &AnyObject, field: &str) -> Option<Value> {
    object.0.get("metadata").and_then(|m| m.get(field)).cloned()
}

/// `groups` in runs of at most `limit` writes each (a larger group alone), in order. A write
/// reads one key, so a run's compares stay within the limit too.
pub(crate) fn chunks(groups: Vec<Vec<Write>>, limit: usize) -> Vec<Vec<Vec<Write>>> {
    let mut runs: Vec<Vec<Vec<Write>>> = Vec::new();
    let mut size = 0;
    for group in groups {
        let fits = runs.last().is_some() && size + group.len() <= limit;
        if !fits {
            runs.push(Vec::new());
            size = 0;
        }
        size += group.len();
        if let Some(run) = runs.last_mut() {
            run.push(group);
        }
    }
    runs
}

/// Whether a refused group fails the whole call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grouping {
    OneBatch,
    Independent,
}

/// A batch being put together under the write lock.
#[derive(Default)]
pub(crate) struct Staged {
    /// What each key read from the store held (`None`: absent): the transaction's compares.
    read: HashMap<ObjectKey, Option<AnyObject>>,
    pending: Vec<(ObjectKey, Option<AnyObject>)>,
    /// Their revision is set once the batch commits.
    changes: Vec<Change>,
}

/// A staged batch as one store transaction.
pub(crate) struct Batch {
    pub(crate) compares: Vec<Compare>,
    /// One per key.
    pub(crate) writes: Vec<(ObjectKey, Option<AnyObject>)>,
    pub(crate) changes: Vec<Change>,
}

impl Staged {
    /// Reads every key `groups` write into the batch at once.
    pub(crate) fn prefetch(
        &mut self,
        store: &dyn Store,
        groups: &[Vec<Write>],
    ) -> Result<(), RegistryError> {
        let mut keys: Vec<ObjectKey> = groups
            .iter()
            .flatten()
            .filter_map(|write| match write {
                Write::Delete(key) => Some(key.clone()),
                Write::Put(o) | Write::Create(o) | Write::Update(o) => o.key(),
            })
            .collect();
        keys.sort();
        keys.dedup();
        let objects = store.get_many(&keys)?;
        self.read.extend(keys.into_iter().zip(objects));
        Ok(())
    }

    /// The object at `key` as the batch being staged sees it; the first read of a key from the
    /// store becomes a compare of the batch's transaction.
    pub(crate) fn current(
        &mut self,
        store: &dyn Store,
        key: &ObjectKey,
    ) -> Result<Option<AnyObject>, RegistryError> {
        if let Some((_, object)) = self.pending.iter().rev().find(|(k, _)| k == key) {
            return Ok(object.clone());
        }
        if let Some(object) = self.read.get(key) {
            return Ok(object.clone());
        }
        let object = store.get(key)?;
        self.read.insert(key.clone(), object.clone());
        Ok(object)
    }

    /// Adds one atomic group to the batch, checking its conditions; on a conflict the group is
    /// taken back out whole and the conflict returned (what it read stays a compare).
    pub(crate) fn stage(
        &mut self,
        store: &dyn Store,
        writes: Vec<Write>,
    ) -> Result<(), RegistryError> {
        let mark = (self.pending.len(), self.changes.len());
        let result = self.stage_writes(store, writes);
        if result.is_err() {
            self.pending.truncate(mark.0);
            self.changes.truncate(mark.1);
        }
        result
    }

    fn stage_writes(&mut self, store: &dyn Store, writes: Vec<Write>) -> Result<(), RegistryError> {
        for write in writes {
            let (mut object, condition) = match write {
                Write::Delete(key) => {
                    let Some(object) = self.current(store, &key)? else {
                        continue;
                    };
                    self.pending.push((key.clone(), None));
                    self.changes.push(Change {
                        revision: 0,
                        key,
                        object,
                        change: ChangeType::Deleted,
                    });
                    continue;
                }
                Write::Put(object) => (object, None),
                Write::Create(object) => (object, Some(Precondition::Absent)),
                Write::Update(object) => (object, Some(Precondition::Version)),
            };
            let key = object.key().ok_or_else(|| RegistryError::Invalid {
                key: object.name().to_string(),
                message: "object has no known kind".into(),
            })?;
            // Every writer validates first; this keeps a bad name out of the store (and so out
            // of every node's paths) even if one forgets.
            validate_object_key(&key).map_err(|source| RegistryError::BadName {
                key: key.to_string(),
                source,
            })?;
            let existing = self.current(store, &key)?;
            if let Some(condition) = condition {
                condition.check(&key, &object, existing.as_ref())?;
            }
            let change = if existing.is_none() {
                ChangeType::Added
            } else {
                ChangeType::Modified
            };
            if !stamp(&mut object, existing.as_ref()) {
                continue;
            }
            self.pending.push((key.clone(), Some(object.clone())));
            self.changes.push(Change {
                revision: 0,
                key,
                object,
                change,
            });
        }
        Ok(())
    }

    /// The transaction: its compares, one write per key (the last), and one change per key
    /// (an object created and deleted in the same batch leaves none).
    pub(crate) fn finish(self) -> Batch {
        let compares = self
            .read
            .into_iter()
            .filter_map(|(key, object)| match object {
                None => Some(Compare::Absent(key)),
                // An object stored without a version (never by this code) cannot be compared.
                Some(object) => resource_version(&object).map(|r| Compare::ModRevision(key, r)),
            })
            .collect();
        let mut last: HashMap<&ObjectKey, usize> = HashMap::new();
        for (index, (key, _)) in self.pending.iter().enumerate() {
            last.insert(key, index);
        }
        let keep: Vec<bool> = self
            .pending
            .iter()
            .enumerate()
            .map(|(index, (key, _))| last.get(key) == Some(&index))
            .collect();
        let writes = self
            .pending
            .into_iter()
            .zip(keep)
            .filter_map(|(write, keep)| keep.then_some(write))
            .collect();
        let mut changes: Vec<Option<Change>> = Vec::with_capacity(self.changes.len());
        let mut at: HashMap<ObjectKey, usize> = HashMap::new();
        for change in self.changes {
            let Some(&index) = at.get(&change.key) else {
                at.insert(change.key.clone(), changes.len());
                changes.push(Some(change));
                continue;
            };
            let created = changes[index]
                .as_ref()
                .is_some_and(|c| c.change == ChangeType::Added);
            let mut merged = change;
            changes[index] = match (created, merged.change) {
                // Created and deleted in one batch: as far as a watcher can tell, nothing happened.
                (true, ChangeType::Deleted) => None,
                (true, _) => {
                    merged.change = ChangeType::Added;
                    Some(merged)
                }
                (false, _) => Some(merged),
            };
        }
        let changes = changes.into_iter().flatten().collect();
        Batch {
            compares,
            writes,
            changes,
        }
    }
}

/// The condition of a [`Write::Create`] or [`Write::Update`].
#[derive(Debug, Clone, Copy)]
enum Precondition {
    Absent,
    Version,
}

impl Precondition {
    fn check(
        self,
        key: &ObjectKey,
        object: &AnyObject,
        existing: Option<&AnyObject>,
    ) -> Result<(), RegistryError> {
        let conflict = |conflict| RegistryError::Conflict {
            key: key.to_string(),
            conflict,
        };
        match (self, existing) {
            (Precondition::Absent, None) => Ok(()),
            (Precondition::Absent, Some(_)) => Err(conflict(Conflict::AlreadyExists)),
            (Precondition::Version, None) => Err(conflict(Conflict::Gone)),
            (Precondition::Version, Some(existing)) => {
                let Some(read) = resource_version(object) else {
                    return Err(RegistryError::Invalid {
                        key: key.to_string(),
                        message: "an update must carry the metadata.resourceVersion it was read at"
                            .into(),
                    });
                };
                if Some(read) == resource_version(existing) {
                    Ok(())
                } else {
                    Err(conflict(Conflict::Modified))
                }
            }
        }
    }
}

fn set_meta(object: &mut AnyObject, field: &str, value: Value) {
    if let Some(m) = object.0.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.insert(field.to_string(), value);
    }
}

/// Fills the system-owned metadata of `object` from `existing` (or fresh, when it is new).
/// Returns false when the write would change nothing.
fn stamp(object: &mut AnyObject, existing: Option<&AnyObject>) -> bool {
    match existing {
        None => {
            let uid = hex::encode(rand::random::<[u8; 8]>());
            set_meta(object, "uid", Value::from(uid));
            set_meta(
                object,
                "creationTimestamp",
                serde_json::to_value(Utc::now()).unwrap_or_default(),
            );
            set_meta(object, "generation", Value::from(1));
            true
        }
        Some(existing) => {
            for field in ["uid", "creationTimestamp", "resourceVersion"] {
                match meta(existing, field) {
                    Some(v) => set_meta(object, field, v),
                    None => {
                        if let Some(m) =
                            object.0.get_mut("metadata").and_then(|m| m.as_object_mut())
                        {
                            m.remove(field);
                        }
                    }
                }
            }
            let generation = meta(existing, "generation")
                .and_then(|g| g.as_u64())
                .unwrap_or(1);
            let spec_changed = object.0.get("spec") != existing.0.get("spec");
            set_meta(
                object,
                "generation",
                Value::from(generation + u64::from(spec_changed)),
            );
            object.0 != existing.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmpod_api::Kind;

    #[test]
    fn groups_are_chunked_whole_within_the_transaction_limit() {
        let write = || Write::Delete(ObjectKey::new(Kind::Service, "default", "x"));
        let groups = vec![
            vec![write()],
            vec![write(), write()],
            vec![write(); 5],
            vec![write()],
        ];
        let sizes: Vec<Vec<usize>> = chunks(groups, 3)
            .iter()
            .map(|run| run.iter().map(Vec::len).collect())
            .collect();
        assert_eq!(sizes, vec![vec![1, 2], vec![5], vec![1]]);
        assert_eq!(chunks(Vec::new(), 3).len(), 0);
    }
}
