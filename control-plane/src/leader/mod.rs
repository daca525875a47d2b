//! Which server runs the controllers. Every API server serves reads, writes, watches and logs at
//! all times; the controllers and the scheduler run on exactly one of them, the leader.
//!
//! - [`Leadership::Always`]: one server on its embedded store (sled). There is nobody to elect:
//!   it leads from start to stop.
//! - [`Leadership::Etcd`]: servers sharing an etcd cluster. Each holds a session (an etcd lease,
//!   [`session`]) and registers itself under it (`<prefix>servers/<name>`); the one whose
//!   lease owns `<prefix>leader/controllers` leads ([`elector`]). The leader renews its lease every
//!   [`ElectionTiming::renew_every`]; when renewals stop succeeding it steps down one renewal
//!   period *before* the lease can expire on etcd, so its controllers have stopped before any
//!   other server can take the key. After a `kill -9` of the leader, the lease expires within
//!   [`ElectionTiming::lease_ttl`] and a follower, which tries the key every
//!   [`ElectionTiming::retry_every`], takes over: at most TTL + retry + etcd's 0.5 s expiry
//!   sweep, 4 s with the defaults.
//!
//! [`gate::run_while_leader`] turns the [`Role`] this publishes into running controllers.
//!
//! Stepping down in time needs this process to run: one paused past its lease (a stop signal, a
//! long stall) resumes still leading for a moment. Its controllers' writes are therefore fenced
//! ([`fence`]): each states the term (the leader key's create revision), and etcd refuses it once
//! the key is gone or another server's.

pub mod elector;
pub mod fence;
pub mod gate;
pub mod records;
pub mod session;

use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::watch;
use wasmpod_api::cluster::{ClusterStatus, LeaderInfo, ServerInfo};

#[derive(Debug, Error)]
pub enum LeaderError {
    #[error("etcd at {endpoints}: {source}")]
    Etcd {
        endpoints: String,
        #[source]
        source: etcd_client::Error,
    },
    #[error("etcd did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the etcd lease {0:x} expired or is gone")]
    LeaseGone(i64),
    #[error("invalid election timing: {0}")]
    Timing(String),
    #[error("the election thread could not start: {0}")]
    Thread(#[source] std::io::Error),
    #[error("stored record {key} is corrupt: {source}")]
    Corrupt {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The election's clock. Validated by [`ElectionTiming::try_new`]: a lease lasts at least two
/// renewals, so one lost renewal does not cost the leadership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ElectionTiming {
    /// The etcd lease's time to live (whole seconds; etcd's minimum is about 2 s).
    pub lease_ttl: Duration,
    /// How often the lease is renewed, and how long before its expiry a leader steps down.
    pub renew_every: Duration,
    /// How often a follower tries to take a free leader key.
    pub retry_every: Duration,
}

impl Default for ElectionTiming {
    fn default() -> Self {
        ElectionTiming {
            lease_ttl: Duration::from_secs(3),
            renew_every: Duration::from_secs(1),
            retry_every: Duration::from_millis(500),
        }
    }
}

impl ElectionTiming {
    pub fn try_new(
        lease_ttl: Duration,
        renew_every: Duration,
        retry_every: Duration,
    ) -> Result<ElectionTiming, LeaderError> {
        if lease_ttl.subsec_nanos() != 0 || lease_ttl < Duration::from_secs(2) {
            return Err(LeaderError::Timing(format!(
                "the lease TTL must be whole seconds, at least 2 (got {lease_ttl:?})"
            )));
        }
        if renew_every.is_zero() || renew_every * 2 > lease_ttl {
            return Err(LeaderError::Timing(format!(
                "renewals every {renew_every:?} must fit at least twice in the lease TTL {lease_ttl:?}"
            )));
        }
        if retry_every.is_zero() {
            return Err(LeaderError::Timing(
                "the retry period must be above zero".into(),
            ));
        }
        Ok(ElectionTiming {
            lease_ttl,
            renew_every,
            retry_every,
        })
    }
}

/// This server, as the others and `wasmpod get leases` see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerIdentity {
    /// Unique among the servers of a cluster (default: `<host>:<api port>`).
    pub name: String,
    /// Where its API answers, for peers (blob replication) and people.
    pub url: String,
}

/// Where this server stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Runs the controllers. `term` is the etcd create revision of the leader key (0 for
    /// [`Leadership::Always`]): a new term for every acquisition.
    Leader {
        term: i64,
        since: chrono::DateTime<chrono::Utc>,
    },
    Follower,
}

impl Role {
    pub fn is_leader(&self) -> bool {
        matches!(self, Role::Leader { .. })
    }

    /// The term this server leads in, if it leads.
    pub fn term(&self) -> Option<i64> {
        match self {
            Role::Leader { term, .. } => Some(*term),
            Role::Follower => None,
        }
    }
}

/// How this server learns whether it leads.
#[derive(Clone)]
pub enum Leadership {
    /// The only server (embedded store): always the leader.
    Always {
        me: ServerIdentity,
        since: chrono::DateTime<chrono::Utc>,
        role: watch::Receiver<Role>,
        /// Keeps `role` open.
        _sender: Arc<watch::Sender<Role>>,
    },
    /// Elected through an etcd lease by a running [`elector::Elector`].
    Etcd(Box<elector::ElectorHandle>),
}

impl Leadership {
    pub fn always(me: ServerIdentity) -> Leadership {
        let since = chrono::Utc::now();
        let (sender, role) = watch::channel(Role::Leader { term: 0, since });
        Leadership::Always {
            me,
            since,
            role,
            _sender: Arc::new(sender),
        }
    }

    /// The role, updated as it changes.
    pub fn role(&self) -> watch::Receiver<Role> {
        match self {
            Leadership::Always { role, .. } => role.clone(),
            Leadership::Etcd(handle) => handle.role(),
        }
    }

    pub fn me(&self) -> &ServerIdentity {
        match self {
            Leadership::Always { me, .. } => me,
            Leadership::Etcd(handle) => handle.me(),
        }
    }

    /// What the writes of leadership term `term` are conditional on: the leader key with that
    /// create revision on etcd; nothing for the only server on its own store.
    pub fn fence(&self, term: i64) -> Option<crate::store::Fence> {
        match self {
            Leadership::Always { .. } => None,
            Leadership::Etcd(handle) => Some(crate::store::Fence {
                key: handle.leader_key().to_string(),
                term,
            }),
        }
    }

    /// The leader and the live servers, as the store of record says now.
    pub async fn status(&self) -> Result<ClusterStatus, LeaderError> {
        match self {
            Leadership::Always { me, since, .. } => Ok(ClusterStatus {
                election: "none (one server on the embedded store)".into(),
                leader: Some(LeaderInfo {
                    holder: me.name.clone(),
                    url: me.url.clone(),
                    since: *since,
                    lease_ttl_seconds: None,
                }),
                servers: vec![ServerInfo {
                    name: me.name.clone(),
                    url: me.url.clone(),
                    started: *since,
                }],
            }),
            Leadership::Etcd(handle) => handle.status().await,
        }
    }

    /// The other live servers' API URLs (for blob replication): none with one server.
    pub async fn peers(&self) -> Result<Vec<ServerInfo>, LeaderError> {
        match self {
            Leadership::Always { .. } => Ok(Vec::new()),
            Leadership::Etcd(handle) => {
                let me = handle.me().name.clone();
                Ok(handle
                    .status()
                    .await?
                    .servers
                    .into_iter()
                    .filter(|s| s.name != me)
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod fence_tests;
#[cfg(test)]
mod tests;
