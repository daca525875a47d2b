//! The store on etcd v3, shared by every API server of a cluster.
//!
//! Objects are JSON values under `<prefix><plural>/<namespace>/<name>`; an object's
//! resourceVersion is its key's mod revision (set on every read, never trusted from the value).
//! A batch is one etcd transaction guarded by compares on mod revision, so it gets one revision.
//! [`Store::follow`] watches the whole prefix (with the previous value of deletes) from a revision.
//!
//! A batch may also carry the leader's fence ([`Compare::Leader`]): a compare on the election
//! key's create revision, with a read of that key when the txn fails, so a failure the fence
//! caused is told apart ([`TxnOutcome::Fenced`]) from one an object compare caused.
//!
//! The registry's API is synchronous and called from async code (axum handlers, controller
//! loops), while etcd-client is async. The store therefore runs its own small tokio runtime on
//! its own threads and blocks the calling thread on a channel for each call: `Handle::block_on`
//! from inside a runtime would panic, and so would dropping a runtime in async context, which is
//! why [`Drop`] uses `shutdown_background`. The wait goes through [`super::off_worker`]: on a
//! tokio worker thread the worker's other tasks move to another thread meanwhile, so a stalled
//! etcd holds the callers that wait for it and nothing else (`/healthz` still answers).

use super::{
    distinct_keys, key_bytes, off_worker, parse_key, prefix_bytes, set_resource_version,
    ChangeType, Compare, FeedEvent, FeedItem, FeedSink, Fence, Record, Store, StoreError,
    TxnOutcome, RECORDS,
};
use etcd_client::{
    Client, Compare as EtcdCompare, CompareOp, ConnectOptions, EventType, GetOptions, KeyValue,
    Txn, TxnOp, TxnOpResponse, WatchOptions,
};
use std::future::Future;
use std::time::Duration;
use thiserror::Error;
use wasmpod_api::{AnyObject, Kind, ObjectKey};

/// How long one etcd call may take before the caller gets an error.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// etcd's default `--max-txn-ops`: batches of independent groups are split to fit it.
const MAX_TXN_OPS: usize = 128;
/// The pause before the feed reconnects after its watch broke.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);
/// How many times a call is sent when its endpoint is unavailable (a member is down). The client
/// may pick the dead member again while it reconnects to it: with 6 attempts, a run of 30
/// applies against three members, one dead, lost one under load; 12 wait at most 1.3 s in all.
const UNAVAILABLE_ATTEMPTS: u32 = 12;
/// The pause before the next attempt, times the attempt number.
const UNAVAILABLE_PAUSE: Duration = Duration::from_millis(20);

/// A `--store etcd://...` value that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum EtcdUrlError {
    #[error("{0:?} is neither `sled` nor etcd://HOST:PORT[,HOST:PORT...]")]
    Scheme(String),
    #[error("{url:?} names no endpoint (expected etcd://HOST:PORT[,HOST:PORT...])")]
    Empty { url: String },
    #[error("{endpoint:?} in {url:?} is not HOST:PORT")]
    Endpoint { url: String, endpoint: String },
}

/// The etcd endpoints of `etcd://HOST:PORT[,HOST:PORT...]`, as `http://HOST:PORT` URLs.
pub fn parse_etcd_url(url: &str) -> Result<Vec<String>, EtcdUrlError> {
    let rest = url
        .strip_prefix("etcd://")
        .ok_or_else(|| EtcdUrlError::Scheme(url.to_string()))?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() {
        return Err(EtcdUrlError::Empty {
            url: url.to_string(),
        });
    }
    rest.split(',')
        .map(|endpoint| {
            let bad = || EtcdUrlError::Endpoint {
                url: url.to_string(),
                endpoint: endpoint.to_string(),
            };
            let (host, port) = endpoint.rsplit_once(':').ok_or_else(bad)?;
            let host_ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-[]:".contains(c));
            if !host_ok || port.parse::<u16>().map_or(true, |p| p == 0) {
                return Err(bad());
            }
            Ok(format!("http://{endpoint}"))
        })
        .collect()
}

pub struct EtcdStore {
    /// Always `Some` until drop.
    runtime: Option<tokio::runtime::Runtime>,
    client: Client,
    prefix: String,
}

impl EtcdStore {
    /// Connects to `endpoints` (`http://HOST:PORT`); every key lives under `prefix` (a `/` is
    /// added when it does not end with one).
    pub fn connect(endpoints: &[String], prefix: &str) -> Result<EtcdStore, StoreError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("etcd-store")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Etcd(etcd_client::Error::IoError(e)))?;
        let endpoints = endpoints.to_vec();
        let options = ConnectOptions::new()
            .with_connect_timeout(Duration::from_secs(5))
            .with_timeout(CALL_TIMEOUT)
            .with_keep_alive(Duration::from_secs(5), Duration::from_secs(5));
        let client = run(&runtime, async move {
            Client::connect(endpoints, Some(options)).await
        })?;
        // A prefix ends with '/', so `/a` never covers the keys of a cluster under `/ab`.
        let mut prefix = prefix.to_string();
        if !prefix.ends_with('/') {
            prefix.push('/');
        }
        let store = EtcdStore {
            runtime: Some(runtime),
            client,
            prefix,
        };
        // Fail at start, with the endpoints' error, rather than on the first request.
        store.revision()?;
        Ok(store)
    }

    fn runtime(&self) -> &tokio::runtime::Runtime {
        self.runtime
            .as_ref()
            .unwrap_or_else(|| unreachable!("the runtime lives until drop"))
    }

    /// Runs one etcd call on the store's runtime and waits for it on this thread. A call that
    /// could not reach its endpoint (gRPC `Unavailable`: the client balances over every member,
    /// and a dead one refuses the connection) is sent again, up to [`UNAVAILABLE_ATTEMPTS`]
    /// times: it was never applied, and another member answers it. The wait does not hold a
    /// tokio worker thread's other tasks ([`off_worker`]).
    fn call<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
        T: Send + 'static,
    {
        off_worker(|| {
            let mut attempt = 1;
            loop {
                match run(self.runtime(), f(self.client.clone())) {
                    Err(StoreError::Etcd(error))
                        if is_unavailable(&error) && attempt < UNAVAILABLE_ATTEMPTS =>
                    {
                        tracing::debug!(%error, attempt, "etcd endpoint unavailable; trying again");
                        std::thread::sleep(UNAVAILABLE_PAUSE * attempt);
                        attempt += 1;
                    }
                    other => return other,
                }
            }
        })
    }

    /// Drops the history of every revision before `revision` (etcd compaction).
    pub fn compact(&self, revision: u64) -> Result<(), StoreError> {
        self.call(|mut c| async move { c.compact(revision as i64, None).await.map(drop) })
    }

    fn decode(&self, kv: &KeyValue) -> Result<AnyObject, StoreError> {
        decode(kv)
    }
}

/// Runs `future` on `runtime`, blocking this thread (never a runtime's own) on a channel.
fn run<T: Send + 'static>(
    runtime: &tokio::runtime::Runtime,
    future: impl Future<Output = Result<T, etcd_client::Error>> + Send + 'static,
) -> Result<T, StoreError> {
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(future.await);
    });
    // A little over the client's own timeout, so its error wins when it has one.
    let limit = CALL_TIMEOUT + Duration::from_secs(2);
    match rx.recv_timeout(limit) {
        Ok(result) => result.map_err(StoreError::Etcd),
        Err(_) => Err(StoreError::EtcdTimeout(limit)),
    }
}

impl Drop for EtcdStore {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Dropping a runtime inside another runtime's async context panics; this does not.
            runtime.shutdown_background();
        }
    }
}

/// An error for a request that never reached a member: the connection to the endpoint the
/// client picked failed (refused, or the member is going away). Safe to send again.
fn is_unavailable(error: &etcd_client::Error) -> bool {
    /// gRPC's UNAVAILABLE status code (tonic's `Code::Unavailable`).
    const GRPC_UNAVAILABLE: i32 = 14;
    matches!(error, etcd_client::Error::GRpcStatus(status)
        if i32::from(status.code()) == GRPC_UNAVAILABLE)
}

/// Whether the election key, as the failed txn's `else` branch read it, still has the term.
fn fence_held(fence: &Fence, answers: Vec<TxnOpResponse>) -> bool {
    answers.iter().any(|answer| match answer {
        TxnOpResponse::Get(get) => get
            .kvs()
            .first()
            .is_some_and(|kv| kv.create_revision() == fence.term),
        _ => false,
    })
}

fn decode(kv: &KeyValue) -> Result<AnyObject, StoreError> {
    let mut object: AnyObject =
        serde_json::from_slice(kv.value()).map_err(|source| StoreError::Corrupt {
            key: String::from_utf8_lossy(kv.key()).into_owned(),
            source,
        })?;
    set_resource_version(&mut object, kv.mod_revision() as u64);
    Ok(object)
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> u64 {
    header.map(|h| h.revision()).unwrap_or_default() as u64
}

impl Store for EtcdStore {
    fn get(&self, key: &ObjectKey) -> Result<Option<AnyObject>, StoreError> {
        let k = key_bytes(&self.prefix, key);
        let response = self.call(|mut c| {
            let k = k.clone();
            async move { c.get(k, None).await }
        })?;
        response.kvs().first().map(|kv| self.decode(kv)).transpose()
    }

    fn get_many(&self, keys: &[ObjectKey]) -> Result<Vec<Option<AnyObject>>, StoreError> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(MAX_TXN_OPS) {
            let gets: Vec<TxnOp> = chunk
                .iter()
                .map(|key| TxnOp::get(key_bytes(&self.prefix, key), None))
                .collect();
            let txn = Txn::new().and_then(gets);
            let response = self.call(|mut c| {
                let txn = txn.clone();
                async move { c.txn(txn).await }
            })?;
            for op in response.op_responses() {
                let object = match op {
                    TxnOpResponse::Get(get) => {
                        get.kvs().first().map(|kv| self.decode(kv)).transpose()?
                    }
                    _ => None,
                };
                found.push(object);
            }
        }
        Ok(found)
    }

    fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
    ) -> Result<(Vec<AnyObject>, u64), StoreError> {
        let prefix = prefix_bytes(&self.prefix, kind, namespace);
        let response = self.call(|mut c| {
            let prefix = prefix.clone();
            async move { c.get(prefix, Some(GetOptions::new().with_prefix())).await }
        })?;
        let items = response
            .kvs()
            .iter()
            .map(|kv| self.decode(kv))
            .collect::<Result<_, _>>()?;
        Ok((items, header_revision(response.header())))
    }

    fn revision(&self) -> Result<u64, StoreError> {
        let prefix = self.prefix.clone();
        let response = self.call(|mut c| {
            let prefix = prefix.clone();
            async move {
                c.get(prefix, Some(GetOptions::new().with_count_only()))
                    .await
            }
        })?;
        Ok(header_revision(response.header()))
    }

    fn txn(
        &self,
        compares: &[Compare],
        writes: &[(ObjectKey, Option<AnyObject>)],
    ) -> Result<TxnOutcome, StoreError> {
        debug_assert!(
            distinct_keys(writes),
            "etcd refuses a txn writing a key twice"
        );
        let fence = compares.iter().find_map(|compare| match compare {
            Compare::Leader(fence) => Some(fence.clone()),
            _ => None,
        });
        let compares: Vec<EtcdCompare> = compares
            .iter()
            .map(|compare| match compare {
                Compare::ModRevision(key, revision) => EtcdCompare::mod_revision(
                    key_bytes(&self.prefix, key),
                    CompareOp::Equal,
                    *revision as i64,
                ),
                Compare::Absent(key) => {
                    EtcdCompare::create_revision(key_bytes(&self.prefix, key), CompareOp::Equal, 0)
                }
                Compare::Leader(fence) => {
                    EtcdCompare::create_revision(fence.key.clone(), CompareOp::Equal, fence.term)
                }
            })
            .collect();
        let ops = writes
            .iter()
            .map(|(key, object)| {
                let k = key_bytes(&self.prefix, key);
                Ok(match object {
                    Some(object) => TxnOp::put(
                        k,
                        serde_json::to_vec(object).map_err(|source| StoreError::Corrupt {
                            key: key.to_string(),
                            source,
                        })?,
                        None,
                    ),
                    None => TxnOp::delete(k, None),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut txn = Txn::new().when(compares).and_then(ops);
        if let Some(fence) = &fence {
            // On failure, what the election key holds now: was it the fence that failed?
            txn = txn.or_else([TxnOp::get(fence.key.clone(), None)]);
        }
        let response = self.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        Ok(if response.succeeded() {
            TxnOutcome::Committed {
                revision: header_revision(response.header()),
            }
        } else if fence.is_some_and(|fence| !fence_held(&fence, response.op_responses())) {
            TxnOutcome::Fenced
        } else {
            TxnOutcome::CompareFailed
        })
    }

    fn max_txn_ops(&self) -> usize {
        MAX_TXN_OPS
    }

    /// etcd acknowledges a txn once a quorum has it on disk: nothing left to flush.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn follow(&self, revision: u64, sink: FeedSink) -> Result<bool, StoreError> {
        let feed = Feed {
            client: self.client.clone(),
            prefix: self.prefix.clone(),
            sink,
            last: revision,
        };
        self.runtime().spawn(feed.run());
        Ok(true)
    }

    /// A record's version is its key's mod revision.
    fn get_record(&self, name: &str) -> Result<Option<Record>, StoreError> {
        let k = format!("{}{RECORDS}{name}", self.prefix);
        let response = self.call(|mut c| {
            let k = k.clone();
            async move { c.get(k, None).await }
        })?;
        Ok(response.kvs().first().map(|kv| Record {
            value: kv.value().to_vec(),
            version: kv.mod_revision() as u64,
        }))
    }

    fn put_record(
        &self,
        name: &str,
        value: &[u8],
        expected: Option<u64>,
    ) -> Result<bool, StoreError> {
        let k = format!("{}{RECORDS}{name}", self.prefix);
        let compare = match expected {
            Some(version) => EtcdCompare::mod_revision(k.clone(), CompareOp::Equal, version as i64),
            None => EtcdCompare::create_revision(k.clone(), CompareOp::Equal, 0),
        };
        let txn = Txn::new()
            .when([compare])
            .and_then([TxnOp::put(k, value.to_vec(), None)]);
        let response = self.call(|mut c| {
            let txn = txn.clone();
            async move { c.txn(txn).await }
        })?;
        Ok(response.succeeded())
    }
}

/// The task behind [`EtcdStore::follow`].
struct Feed {
    client: Client,
    prefix: String,
    sink: FeedSink,
    /// Every batch up to this revision has been delivered.
    last: u64,
}

impl Feed {
    async fn run(mut self) {
        loop {
            match self.watch_once().await {
                Ok(()) => tracing::warn!(revision = self.last, "etcd watch ended; resuming"),
                Err(error) => {
                    tracing::warn!(revision = self.last, %error, "etcd watch failed; resuming")
                }
            }
            tokio::time::sleep(RECONNECT_PAUSE).await;
        }
    }

    /// Follows the prefix from `last + 1` until the watch ends or breaks.
    async fn watch_once(&mut self) -> Result<(), etcd_client::Error> {
        let options = WatchOptions::new()
            .with_prefix()
            .with_prev_key()
            .with_start_revision(self.last as i64 + 1);
        let mut stream = self
            .client
            .watch(self.prefix.clone().into_bytes(), Some(options))
            .await?;
        while let Some(response) = stream.message().await? {
            if response.canceled() {
                if response.compact_revision() > 0 {
                    // Our next revision is gone: resume at the current one and have readers
                    // list again.
                    let mut client = self.client.clone();
                    let now = client
                        .get(
                            self.prefix.clone(),
                            Some(GetOptions::new().with_count_only()),
                        )
                        .await?;
                    let revision = header_revision(now.header());
                    tracing::warn!(
                        from = self.last,
                        compacted = response.compact_revision(),
                        revision,
                        "etcd history compacted past the feed; readers list again"
                    );
                    self.last = revision;
                    (self.sink)(FeedItem::Reset { revision });
                }
                return Ok(());
            }
            self.deliver(response.events());
        }
        Ok(())
    }

    /// Hands the events of one watch response to the sink, one batch per revision.
    fn deliver(&mut self, events: &[etcd_client::Event]) {
        let mut batch: Option<(u64, Vec<FeedEvent>)> = None;
        for event in events {
            let Some(kv) = event.kv() else { continue };
            let revision = kv.mod_revision() as u64;
            if revision <= self.last {
                continue;
            }
            if batch.as_ref().is_some_and(|(r, _)| *r != revision) {
                if let Some((revision, events)) = batch.take() {
                    (self.sink)(FeedItem::Batch { revision, events });
                }
            }
            let events = &mut batch.get_or_insert_with(|| (revision, Vec::new())).1;
            match self.feed_event(event, kv, revision) {
                Ok(Some(event)) => events.push(event),
                Ok(None) => {}
                Err(error) => tracing::error!(%error, "skipping an undecodable etcd event"),
            }
        }
        if let Some((revision, events)) = batch {
            (self.sink)(FeedItem::Batch { revision, events });
            self.last = revision;
        }
    }

    fn feed_event(
        &self,
        event: &etcd_client::Event,
        kv: &KeyValue,
        revision: u64,
    ) -> Result<Option<FeedEvent>, StoreError> {
        let Some(key) = kv
            .key()
            .strip_prefix(self.prefix.as_bytes())
            .and_then(parse_key)
        else {
            // Not an object (a reserved range of the control plane): nothing to publish.
            return Ok(None);
        };
        let (change, mut object) = match event.event_type() {
            EventType::Put => {
                let change = if kv.create_revision() == kv.mod_revision() {
                    ChangeType::Added
                } else {
                    ChangeType::Modified
                };
                (change, decode(kv)?)
            }
            EventType::Delete => {
                let object = match event.prev_kv() {
                    Some(prev) => decode(prev)?,
                    // The previous value was compacted away: the key is all that is known.
                    None => AnyObject(serde_json::json!({
                        "kind": key.kind.as_str(),
                        "metadata": {"name": key.name, "namespace": key.namespace},
                    })),
                };
                (ChangeType::Deleted, object)
            }
        };
        set_resource_version(&mut object, revision);
        Ok(Some(FeedEvent {
            key,
            change,
            object,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etcd_urls_name_their_endpoints() {
        assert_eq!(
            parse_etcd_url("etcd://127.0.0.1:2379,etcd-b:2379").unwrap(),
            vec!["http://127.0.0.1:2379", "http://etcd-b:2379"]
        );
        assert_eq!(
            parse_etcd_url("http://x:1").unwrap_err(),
            EtcdUrlError::Scheme("http://x:1".into())
        );
        assert!(matches!(
            parse_etcd_url("etcd://").unwrap_err(),
            EtcdUrlError::Empty { .. }
        ));
        for bad in [
            "etcd://host",
            "etcd://host:0",
            "etcd://:80",
            "etcd://a b:1",
            "etcd://h:1,",
        ] {
            assert!(
                matches!(parse_etcd_url(bad), Err(EtcdUrlError::Endpoint { .. })),
                "{bad}"
            );
        }
    }
}
