//! The etcd election. One task per server ([`Elector::run`]) keeps a [`Session`], registers the
//! server under it, and takes the leader key when it is free:
//!
//! ```text
//!   txn  if create_revision(leader key) == 0     (nobody holds it)
//!        then put leader key = me, lease = my lease
//!        else get leader key                       (mine already? then I lead again)
//! ```
//!
//! While leading it renews the lease every `renew_every` and checks that the key is still its
//! own (an operator may delete it). It steps down when another server holds the key, when etcd
//! says the lease is gone, or when no renewal has succeeded by `expires - renew_every`: one
//! renewal period before etcd can let the lease expire, so the controllers have stopped before
//! anyone else can take the key.

use super::records::{self, Keys, LeaderRecord, ServerRecord};
use super::session::Session;
use super::{ElectionTiming, LeaderError, Role, ServerIdentity};
use etcd_client::{Client, Compare, CompareOp, ConnectOptions, GetOptions, PutOptions, Txn, TxnOp};
use tokio::sync::watch;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;
use wasmpod_api::cluster::ClusterStatus;

/// What a server needs to take part in the election.
#[derive(Debug, Clone)]
pub struct EtcdElectionConfig {
    /// `host:port` of each etcd member.
    pub endpoints: Vec<String>,
    /// The cluster's etcd key prefix (see [`Keys::under`]).
    pub prefix: String,
    pub me: ServerIdentity,
    pub timing: ElectionTiming,
}

/// The running election, as the rest of the server sees it.
#[derive(Clone)]
pub struct ElectorHandle {
    me: ServerIdentity,
    client: Client,
    endpoints: String,
    keys: Keys,
    timing: ElectionTiming,
    role: watch::Receiver<Role>,
    /// Cancelled by the controller gate once the controllers have stopped for good: only then
    /// does a leader shutting down give its lease back.
    released: CancellationToken,
}

impl ElectorHandle {
    pub fn role(&self) -> watch::Receiver<Role> {
        self.role.clone()
    }

    pub fn me(&self) -> &ServerIdentity {
        &self.me
    }

    /// The etcd key the leader holds (whole, prefix included).
    pub fn leader_key(&self) -> &str {
        &self.keys.leader
    }

    /// Says the controllers have stopped for good (the server is shutting down).
    pub fn release(&self) {
        self.released.cancel();
    }

    fn etcd(&self) -> impl Fn(etcd_client::Error) -> LeaderError + '_ {
        move |source| LeaderError::Etcd {
            endpoints: self.endpoints.clone(),
            source,
        }
    }

    /// A read of `key`, sent again (to another member) while the member the client picked is
    /// unreachable (gRPC `Unavailable`: a dead member of several), as the store's calls are.
    async fn read(
        &self,
        key: &str,
        options: Option<GetOptions>,
    ) -> Result<etcd_client::GetResponse, LeaderError> {
        /// gRPC's UNAVAILABLE status code (tonic's `Code::Unavailable`).
        const GRPC_UNAVAILABLE: i32 = 14;
        const ATTEMPTS: u32 = 6;
        let wait = self.timing.lease_ttl;
        let mut attempt = 1;
        loop {
            let mut kv = self.client.kv_client();
            let answer = timeout(wait, kv.get(key, options.clone()))
                .await
                .map_err(|_| LeaderError::Timeout(wait))?;
            match answer {
                Err(etcd_client::Error::GRpcStatus(status))
                    if i32::from(status.code()) == GRPC_UNAVAILABLE && attempt < ATTEMPTS =>
                {
                    tracing::debug!(%status, attempt, "etcd endpoint unavailable; reading again");
                    tokio::time::sleep(std::time::Duration::from_millis(20) * attempt).await;
                    attempt += 1;
                }
                other => return other.map_err(self.etcd()),
            }
        }
    }

    /// The leader and the registered servers, read from etcd.
    pub async fn status(&self) -> Result<ClusterStatus, LeaderError> {
        let leader = self.read(&self.keys.leader, None).await?;
        let leader = match leader.kvs().first() {
            Some(kv) => Some(records::decode::<LeaderRecord>(kv.key(), kv.value())?.into()),
            None => None,
        };
        let servers = self
            .read(&self.keys.servers, Some(GetOptions::new().with_prefix()))
            .await?;
        let servers = servers
            .kvs()
            .iter()
            .map(|kv| records::decode::<ServerRecord>(kv.key(), kv.value()).map(Into::into))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ClusterStatus {
            election: format!("etcd lease on {}", self.keys.leader),
            leader,
            servers,
        })
    }
}

/// How a session ended.
enum SessionEnd {
    Shutdown,
    /// The lease expired or etcd dropped it: start a new session.
    Lost,
}

pub struct Elector {
    handle: ElectorHandle,
    role: watch::Sender<Role>,
    started: chrono::DateTime<chrono::Utc>,
}

impl Elector {
    /// Prepares the election (no I/O: etcd is reached by [`Elector::run`], which retries).
    pub async fn new(config: EtcdElectionConfig) -> Result<(Elector, ElectorHandle), LeaderError> {
        let endpoints = config.endpoints.join(",");
        let options = ConnectOptions::new()
            .with_connect_timeout(config.timing.renew_every)
            .with_keep_alive(config.timing.renew_every, config.timing.renew_every);
        let client = Client::connect(&config.endpoints, Some(options))
            .await
            .map_err(|source| LeaderError::Etcd {
                endpoints: endpoints.clone(),
                source,
            })?;
        let (role, receiver) = watch::channel(Role::Follower);
        let handle = ElectorHandle {
            me: config.me,
            client,
            endpoints,
            keys: Keys::under(&config.prefix),
            timing: config.timing,
            role: receiver,
            released: CancellationToken::new(),
        };
        Ok((
            Elector {
                handle: handle.clone(),
                role,
                started: chrono::Utc::now(),
            },
            handle,
        ))
    }

    fn timing(&self) -> ElectionTiming {
        self.handle.timing
    }

    fn publish(&self, role: Role) {
        self.role.send_if_modified(|current| {
            let changed = *current != role;
            *current = role;
            changed
        });
    }

    /// Takes part in the election until `shutdown`; then, once the controllers have stopped,
    /// gives the lease back so another server takes over at once.
    pub async fn run(self, shutdown: CancellationToken) {
        let timing = self.timing();
        loop {
            let granted = Session::grant(
                &self.handle.client,
                &self.handle.endpoints,
                timing.lease_ttl,
                timing.lease_ttl,
            )
            .await;
            let mut session = match granted {
                Ok(session) => session,
                Err(error) => {
                    tracing::warn!(%error, "cannot open an etcd session; retrying");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(timing.retry_every) => continue,
                    }
                }
            };
            let end = self.hold(&mut session, &shutdown).await;
            self.publish(Role::Follower);
            match end {
                SessionEnd::Shutdown => {
                    tokio::select! {
                        _ = self.handle.released.cancelled() => {}
                        _ = tokio::time::sleep(timing.renew_every) => {}
                    }
                    session.revoke(timing.renew_every).await;
                    return;
                }
                SessionEnd::Lost => {
                    tracing::warn!(
                        lease = session.lease(),
                        "the etcd session is lost; opening a new one"
                    );
                }
            }
        }
    }

    /// Registers, campaigns and renews within one session.
    async fn hold(&self, session: &mut Session, shutdown: &CancellationToken) -> SessionEnd {
        let timing = self.timing();
        let mut term: Option<i64> = None;
        let mut registered = false;
        let mut next_renew = Instant::now() + timing.renew_every;
        let mut next_campaign = Instant::now();
        loop {
            let step_down_at = session
                .expires()
                .checked_sub(timing.renew_every)
                .unwrap_or_else(Instant::now);
            if term.is_some() && Instant::now() >= step_down_at {
                tracing::warn!(
                    lease = session.lease(),
                    "the lease was not renewed in time: stepping down before it can expire"
                );
                term = None;
                self.publish(Role::Follower);
            }
            if !registered {
                let wait = match term {
                    Some(_) => step_down_at
                        .saturating_duration_since(Instant::now())
                        .min(timing.renew_every),
                    None => timing.renew_every,
                };
                match self.register(session, wait).await {
                    Ok(()) => registered = true,
                    Err(error) => tracing::warn!(%error, "cannot register this server in etcd"),
                }
            }
            let healthy = Instant::now() < step_down_at;
            if term.is_none() && healthy && Instant::now() >= next_campaign {
                match self.campaign(session).await {
                    Ok(Some((revision, since))) => {
                        tracing::info!(server = %self.handle.me.name, term = revision, "leading the controllers");
                        term = Some(revision);
                        self.publish(Role::Leader {
                            term: revision,
                            since,
                        });
                    }
                    Ok(None) => {}
                    Err(error) => tracing::warn!(%error, "cannot campaign for the leader key"),
                }
                next_campaign = Instant::now() + timing.retry_every;
            }
            let wake = match term {
                Some(_) => next_renew.min(step_down_at),
                None => next_renew.min(next_campaign),
            };
            tokio::select! {
                _ = shutdown.cancelled() => return SessionEnd::Shutdown,
                _ = sleep_until(wake) => {}
            }
            if Instant::now() < next_renew {
                continue;
            }
            next_renew = Instant::now() + timing.renew_every;
            // A leader's calls never outlast its step-down deadline: a renewal that hangs must not
            // delay the step-down, whose margin is the controllers' time to finish their pass.
            let budget = |session: &Session, leading: bool| {
                let step_down_at = session
                    .expires()
                    .checked_sub(timing.renew_every)
                    .unwrap_or_else(Instant::now);
                match leading {
                    true => step_down_at
                        .saturating_duration_since(Instant::now())
                        .min(timing.renew_every),
                    false => timing.renew_every,
                }
            };
            match session.renew(budget(session, term.is_some())).await {
                Ok(()) => {}
                Err(LeaderError::LeaseGone(lease)) => {
                    tracing::warn!(lease, "etcd no longer knows this server's lease");
                    return SessionEnd::Lost;
                }
                Err(error) => tracing::warn!(%error, "cannot renew the etcd lease"),
            }
            if session.expired() {
                return SessionEnd::Lost;
            }
            if term.is_some() {
                match self.holder_lease(budget(session, true)).await {
                    Ok(Some(lease)) if lease == session.lease() => {}
                    Ok(holder) => {
                        tracing::warn!(
                            ?holder,
                            "the leader key is no longer this server's: stepping down"
                        );
                        term = None;
                        self.publish(Role::Follower);
                    }
                    // Unknown: the step-down deadline decides.
                    Err(error) => tracing::warn!(%error, "cannot read the leader key"),
                }
            }
        }
    }

    async fn register(
        &self,
        session: &Session,
        wait: std::time::Duration,
    ) -> Result<(), LeaderError> {
        let me = &self.handle.me;
        let record = ServerRecord {
            name: me.name.clone(),
            url: me.url.clone(),
            started: self.started,
        };
        timeout(
            wait,
            self.handle.client.kv_client().put(
                self.handle.keys.server(&me.name),
                records::encode(&record),
                Some(PutOptions::new().with_lease(session.lease())),
            ),
        )
        .await
        .map_err(|_| LeaderError::Timeout(wait))?
        .map_err(self.handle.etcd())?;
        Ok(())
    }

    /// Tries to take the leader key: its term (create revision) and start if this server holds it.
    async fn campaign(
        &self,
        session: &Session,
    ) -> Result<Option<(i64, chrono::DateTime<chrono::Utc>)>, LeaderError> {
        let me = &self.handle.me;
        let since = chrono::Utc::now();
        let record = LeaderRecord {
            holder: me.name.clone(),
            url: me.url.clone(),
            since,
            lease_ttl_seconds: session.ttl().as_secs(),
        };
        let key = self.handle.keys.leader.clone();
        let txn = Txn::new()
            .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
            .and_then([TxnOp::put(
                key.clone(),
                records::encode(&record),
                Some(PutOptions::new().with_lease(session.lease())),
            )])
            .or_else([TxnOp::get(key, None)]);
        let wait = self.timing().renew_every;
        let answer = timeout(wait, self.handle.client.kv_client().txn(txn))
            .await
            .map_err(|_| LeaderError::Timeout(wait))?
            .map_err(self.handle.etcd())?;
        if answer.succeeded() {
            let revision = answer.header().map(|h| h.revision()).unwrap_or_default();
            return Ok(Some((revision, since)));
        }
        for op in answer.op_responses() {
            if let etcd_client::TxnOpResponse::Get(get) = op {
                if let Some(kv) = get.kvs().first() {
                    if kv.lease() == session.lease() {
                        // Ours already (a renewal answer was lost, and we stepped down): lead again.
                        let held: LeaderRecord = records::decode(kv.key(), kv.value())?;
                        return Ok(Some((kv.create_revision(), held.since)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// The lease the leader key is attached to, if any.
    async fn holder_lease(&self, wait: std::time::Duration) -> Result<Option<i64>, LeaderError> {
        let answer = timeout(
            wait,
            self.handle
                .client
                .kv_client()
                .get(self.handle.keys.leader.clone(), None),
        )
        .await
        .map_err(|_| LeaderError::Timeout(wait))?
        .map_err(self.handle.etcd())?;
        Ok(answer.kvs().first().map(|kv| kv.lease()))
    }
}

/// Starts the election for this server: the handle, and the task to await at shutdown.
///
/// The election runs on its own thread and runtime (its etcd connections too): the registry's
/// calls used to block the server's runtime threads while they waited on etcd, and an election
/// starved by them missed its renewals and its step-down, so that another server led while this
/// one still ran its controllers. (They now hand their worker over while they wait, and the
/// controllers' writes are fenced; the election keeps its own thread all the same.)
pub async fn start(
    config: EtcdElectionConfig,
    shutdown: CancellationToken,
) -> Result<(ElectorHandle, tokio::task::JoinHandle<()>), LeaderError> {
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<()>();
    std::thread::Builder::new()
        .name("leader-election".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(error) => {
                    let _ = ready_tx.send(Err(LeaderError::Thread(error)));
                    return;
                }
            };
            runtime.block_on(async move {
                match Elector::new(config).await {
                    Ok((elector, handle)) => {
                        let _ = ready_tx.send(Ok(handle));
                        elector.run(shutdown).await;
                    }
                    Err(error) => {
                        let _ = ready_tx.send(Err(error));
                    }
                }
            });
            drop(done_tx);
        })
        .map_err(LeaderError::Thread)?;
    let handle = ready_rx.await.map_err(|_| {
        LeaderError::Thread(std::io::Error::other(
            "the election thread stopped before it started",
        ))
    })??;
    let task = tokio::spawn(async move {
        let _ = done_rx.await;
    });
    Ok((handle, task))
}
