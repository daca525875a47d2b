//! The certificates the cluster CA issued, so they can be revoked (see
//! [`wasmpod_api::revocation`]): one record in the store's reserved range (every API server of a
//! cluster shares it, as the CA itself), mapping each certificate's serial to its kind (a node's
//! or a tool's), its name, the end of its validity and when it was revoked.
//!
//! A certificate is recorded when it is signed; `wasmpod delete client-certificate NAME` revokes a
//! tool's certificates, deleting a node revokes the node's. A node's renewed certificate is not
//! revoked: it expires. A record whose certificate has expired, revoked or not, is dropped on the
//! next write (an expired certificate fails every handshake anyway), so a node that renews at 70
//! to 90 % of a certificate's life, and reuses its stored certificate when it restarts, has at
//! most two or three records at a time, however long it runs.
//! Changes are conditional writes on the version read, made again when another server wrote in
//! between. Each server keeps a copy of the revoked serials for the nodes that ask for them,
//! read again when it is older than [`FRESH_FOR`].

use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use thiserror::Error;
use wasmpod_api::revocation::{CertificateKind, IssuedCertificate};

/// The store record of the issued certificates.
const RECORD: &str = "issued-certificates";
/// How long a server trusts its copy of the revoked serials.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// Conditional writes before giving up (another server kept writing).
const MAX_TRIES: usize = 16;

#[derive(Debug, Error)]
pub enum IssuedError {
    #[error("cannot keep the issued certificates in the store: {0}")]
    Store(#[from] StoreError),
    #[error("the issued certificates record is corrupt: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error("other servers kept changing the issued certificates ({MAX_TRIES} tries)")]
    Contended,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Entry {
    kind: CertificateKind,
    name: String,
    not_after: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked: Option<DateTime<Utc>>,
}

/// Serial (lowercase hex) -> entry.
type Entries = BTreeMap<String, Entry>;

/// This server's copy of the revoked serials.
struct RevokedCopy {
    serials: Arc<Vec<String>>,
    read_at: Option<Instant>,
}

pub struct IssuedCertificates {
    store: Arc<dyn Store>,
    revoked: RwLock<RevokedCopy>,
}

impl IssuedCertificates {
    pub fn open(store: Arc<dyn Store>) -> IssuedCertificates {
        IssuedCertificates {
            store,
            revoked: RwLock::new(RevokedCopy {
                serials: Arc::default(),
                read_at: None,
            }),
        }
    }

    fn read(&self) -> Result<(Entries, Option<u64>), IssuedError> {
        match self.store.get_record(RECORD)? {
            Some(record) => Ok((serde_json::from_slice(&record.value)?, Some(record.version))),
            None => Ok((Entries::new(), None)),
        }
    }

    /// Reads the record, lets `change` edit it (it returns what to answer), drops the expired
    /// entries, and writes it back on condition no server wrote in between.
    fn update<T>(
        &self,
        now: DateTime<Utc>,
        mut change: impl FnMut(&mut Entries) -> T,
    ) -> Result<T, IssuedError> {
        for _ in 0..MAX_TRIES {
            let (mut entries, version) = self.read()?;
            let before = entries.clone();
            let answer = change(&mut entries);
            entries.retain(|_, entry| entry.not_after > now);
            if entries == before {
                return Ok(answer);
            }
            let value = serde_json::to_vec(&entries)?;
            if self.store.put_record(RECORD, &value, version)? {
                // The next reader of the revoked serials reads the record again.
                self.revoked
                    .write()
                    .unwrap_or_else(|p| p.into_inner())
                    .read_at = None;
                return Ok(answer);
            }
        }
        Err(IssuedError::Contended)
    }

    /// Records a certificate the CA just signed.
    pub fn record(
        &self,
        kind: CertificateKind,
        name: &str,
        serial: &str,
        not_after: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), IssuedError> {
        let entry = Entry {
            kind,
            name: name.to_string(),
            not_after,
            revoked: None,
        };
        self.update(now, |entries| {
            entries.insert(serial.to_string(), entry.clone());
        })
    }

    /// Revokes every certificate of `kind` named `name` not revoked yet: their serials (none:
    /// nothing to revoke).
    pub fn revoke(
        &self,
        kind: CertificateKind,
        name: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, IssuedError> {
        self.update(now, |entries| {
            entries
                .iter_mut()
                .filter(|(_, e)| e.kind == kind && e.name == name && e.revoked.is_none())
                .filter(|(_, e)| e.not_after > now)
                .map(|(serial, entry)| {
                    entry.revoked = Some(now);
                    serial.clone()
                })
                .collect()
        })
    }

    /// The unexpired certificates of `kind`, by name then serial.
    pub fn list(
        &self,
        kind: CertificateKind,
        now: DateTime<Utc>,
    ) -> Result<Vec<IssuedCertificate>, IssuedError> {
        let (entries, _) = self.read()?;
        let mut list: Vec<IssuedCertificate> = entries
            .into_iter()
            .filter(|(_, e)| e.kind == kind && e.not_after > now)
            .map(|(serial, e)| IssuedCertificate {
                name: e.name,
                kind: e.kind,
                serial,
                not_after: e.not_after,
                revoked: e.revoked,
            })
            .collect();
        list.sort_by(|a, b| (&a.name, &a.serial).cmp(&(&b.name, &b.serial)));
        Ok(list)
    }

    /// The serials of the revoked, unexpired certificates, from a copy at most [`FRESH_FOR`]
    /// old. If the store cannot be read, the last copy serves (logged): a revocation never
    /// lapses because the store is away.
    pub fn revoked_serials(&self, now: DateTime<Utc>) -> Arc<Vec<String>> {
        {
            let copy = self.revoked.read().unwrap_or_else(|p| p.into_inner());
            if copy.read_at.is_some_and(|at| at.elapsed() < FRESH_FOR) {
                return copy.serials.clone();
            }
        }
        match self.read() {
            Ok((entries, _)) => {
                let serials: Arc<Vec<String>> = Arc::new(
                    entries
                        .into_iter()
                        .filter(|(_, e)| e.revoked.is_some() && e.not_after > now)
                        .map(|(serial, _)| serial)
                        .collect(),
                );
                *self.revoked.write().unwrap_or_else(|p| p.into_inner()) = RevokedCopy {
                    serials: serials.clone(),
                    read_at: Some(Instant::now()),
                };
                serials
            }
            Err(error) => {
                tracing::warn!(%error, "cannot read the issued certificates; using the last copy");
                self.revoked
                    .read()
                    .unwrap_or_else(|p| p.into_inner())
                    .serials
                    .clone()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SledStore;

    fn at(days: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + days * 86_400, 0).expect("time")
    }

    #[test]
    fn certificates_are_recorded_revoked_by_name_and_kind_and_pruned_when_expired() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
        let issued = IssuedCertificates::open(store.clone());
        let now = at(0);
        issued
            .record(CertificateKind::Client, "prom", "41aa", at(30), now)
            .expect("record");
        issued
            .record(CertificateKind::Client, "prom", "41bb", at(60), now)
            .expect("record");
        issued
            .record(CertificateKind::Client, "other", "41cc", at(60), now)
            .expect("record");
        // A node's certificate of the same name is another kind.
        issued
            .record(CertificateKind::Node, "prom", "41dd", at(90), now)
            .expect("record");
        assert!(issued.revoked_serials(now).is_empty());

        // Another server (same store) revokes; this one sees it at once (its copy is dropped on
        // its own writes, and another server's copy is at most a second old).
        let other = IssuedCertificates::open(store);
        let revoked = other
            .revoke(CertificateKind::Client, "prom", now)
            .expect("revoke");
        assert_eq!(revoked, vec!["41aa".to_string(), "41bb".to_string()]);
        assert_eq!(
            other.revoked_serials(now).as_slice(),
            ["41aa".to_string(), "41bb".to_string()]
        );
        std::thread::sleep(FRESH_FOR);
        assert_eq!(issued.revoked_serials(now).len(), 2);
        // Revoking again revokes nothing new.
        assert!(issued
            .revoke(CertificateKind::Client, "prom", now)
            .expect("revoke")
            .is_empty());
        let list = issued.list(CertificateKind::Client, now).expect("list");
        let shown: Vec<(&str, &str, bool)> = list
            .iter()
            .map(|c| (c.name.as_str(), c.serial.as_str(), c.revoked.is_some()))
            .collect();
        assert_eq!(
            shown,
            [
                ("other", "41cc", false),
                ("prom", "41aa", true),
                ("prom", "41bb", true)
            ]
        );
        // The node's certificate is revoked with its node.
        assert_eq!(
            issued
                .revoke(CertificateKind::Node, "prom", now)
                .expect("node"),
            vec!["41dd".to_string()]
        );

        // Past 41aa's end, the next write drops it, and it is no longer listed as revoked.
        let later = at(45);
        issued
            .record(CertificateKind::Client, "new", "41ee", at(400), later)
            .expect("record");
        let serials = issued.revoked_serials(later);
        assert_eq!(serials.as_slice(), ["41bb".to_string(), "41dd".to_string()]);
        let (entries, _) = issued.read().expect("read");
        assert!(!entries.contains_key("41aa"), "expired entries are pruned");
    }

    #[test]
    fn rotations_and_revocations_leave_a_bounded_record() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store: Arc<dyn Store> = Arc::new(SledStore::open(dir.path()).expect("sled"));
        let issued = IssuedCertificates::open(store);
        let life = 30;
        let seconds = |s: i64| at(0) + chrono::Duration::seconds(s);
        // Two nodes renew a 30 s certificate every 21 to 27 s for an hour; a third is deleted
        // (its certificates revoked) and joins again every 50 s.
        let mut most = 0;
        for step in 0..(3600 / 3) {
            let now = seconds(step * 3);
            if step % 7 == 0 {
                issued
                    .record(
                        CertificateKind::Node,
                        "node-a",
                        &format!("a{step}"),
                        now + chrono::Duration::seconds(life),
                        now,
                    )
                    .expect("record");
            }
            if step % 9 == 0 {
                issued
                    .record(
                        CertificateKind::Node,
                        "node-b",
                        &format!("b{step}"),
                        now + chrono::Duration::seconds(life),
                        now,
                    )
                    .expect("record");
            }
            if step % 17 == 0 {
                issued
                    .revoke(CertificateKind::Node, "node-c", now)
                    .expect("revoke");
                issued
                    .record(
                        CertificateKind::Node,
                        "node-c",
                        &format!("c{step}"),
                        now + chrono::Duration::seconds(life),
                        now,
                    )
                    .expect("record");
            }
            let wrote = step % 7 == 0 || step % 9 == 0 || step % 17 == 0;
            let (entries, _) = issued.read().expect("read");
            assert!(
                !wrote || entries.values().all(|e| e.not_after > now),
                "an expired entry survived a write at step {step}"
            );
            most = most.max(entries.len());
        }
        // Each node holds its live certificate and at most one or two not yet expired.
        assert!(most <= 6, "the record grew to {most} entries");
        let end = seconds(3600 + life);
        issued
            .record(
                CertificateKind::Client,
                "tool",
                "dd",
                end + chrono::Duration::days(1),
                end,
            )
            .expect("record");
        let (entries, _) = issued.read().expect("read");
        assert_eq!(
            entries.keys().collect::<Vec<_>>(),
            ["dd"],
            "every expired entry is pruned"
        );
        assert!(issued.revoked_serials(end).is_empty());
    }
}
