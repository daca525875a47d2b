//! Keeps a [`Writer`] current from the API: list, then watch from the list's revision.
//!
//! One state machine, as kube-runtime's watcher: [`State::Empty`] lists; [`State::Listed`]
//! opens a watch from the revision reached; [`State::Watching`] applies events. A watch refused
//! with `410 Gone` (the revision left the server's history) lists again at once. A stream that
//! ends or breaks after it delivered something resumes at once; a failed list or watch, or a
//! stream that ends before delivering anything, waits its [`Backoff`] first, so a control plane
//! that is down or overloaded is not hammered by every node.

use super::backoff::{Backoff, BackoffPolicy};
use super::store::Writer;
use crate::client::{Client, ClientError};
use crate::object::Kind;
use crate::watch::{ListResponse, WatchEvent, WatchEventType};
use futures::stream::BoxStream;
use futures::{Future, StreamExt};
use serde::de::DeserializeOwned;
use std::time::Duration;

/// A stream of watch events.
pub type WatchStream = BoxStream<'static, Result<WatchEvent, ClientError>>;

/// Where a cache lists and watches from (the API client; a scripted source in tests).
pub trait ListWatch: Send + Sync {
    fn list(&self, kind: Kind) -> impl Future<Output = Result<ListResponse, ClientError>> + Send;

    /// Every change to `kind` after `revision`; `410` when `revision` is too old.
    fn watch(
        &self,
        kind: Kind,
        revision: u64,
    ) -> impl Future<Output = Result<WatchStream, ClientError>> + Send;
}

impl ListWatch for Client {
    async fn list(&self, kind: Kind) -> Result<ListResponse, ClientError> {
        Client::list(self, kind, None).await
    }

    async fn watch(&self, kind: Kind, revision: u64) -> Result<WatchStream, ClientError> {
        Ok(Client::watch(self, kind, revision).await?.boxed())
    }
}

/// A stream silent this long is taken as dead (the server sends bookmarks when idle).
const IDLE: Duration = Duration::from_secs(45);

enum State {
    /// Nothing listed yet, or the revision reached is gone: list.
    Empty,
    /// Everything up to `resume` is in the cache: watch from there.
    Listed { resume: u64 },
    Watching {
        resume: u64,
        stream: WatchStream,
        /// Whether this stream has delivered anything yet.
        delivered: bool,
    },
}

/// Keeps `writer` current from `source` until `shutdown` resolves.
pub async fn reflect<T, S>(
    mut writer: Writer<T>,
    source: S,
    policy: BackoffPolicy,
    shutdown: impl Future<Output = ()>,
) where
    T: DeserializeOwned + Send + Sync + 'static,
    S: ListWatch,
{
    let mut backoff = Backoff::new(policy);
    let mut state = State::Empty;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            next = step(state, &mut writer, &source, &mut backoff) => state = next,
        }
    }
}

/// One transition of the state machine (waiting out the backoff where a call failed).
async fn step<T, S>(
    state: State,
    writer: &mut Writer<T>,
    source: &S,
    backoff: &mut Backoff,
) -> State
where
    T: DeserializeOwned + Send + Sync + 'static,
    S: ListWatch,
{
    let kind = writer.kind();
    match state {
        State::Empty => match source.list(kind).await {
            Ok(list) => {
                backoff.reset();
                writer.replace(list.items, list.revision);
                State::Listed {
                    resume: list.revision,
                }
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%kind, %error, ?delay, "list failed; retrying");
                tokio::time::sleep(delay).await;
                State::Empty
            }
        },
        State::Listed { resume } => match source.watch(kind, resume).await {
            Ok(stream) => State::Watching {
                resume,
                stream,
                delivered: false,
            },
            Err(error) if error.status() == Some(410) => {
                tracing::info!(%kind, revision = resume, "watch revision gone; listing again");
                State::Empty
            }
            Err(error) => {
                let delay = backoff.next_delay();
                tracing::warn!(%kind, %error, ?delay, "watch failed; retrying");
                tokio::time::sleep(delay).await;
                State::Listed { resume }
            }
        },
        State::Watching {
            resume,
            mut stream,
            delivered,
        } => {
            let ended = match tokio::time::timeout(IDLE, stream.next()).await {
                Ok(Some(Ok(event))) => {
                    backoff.reset();
                    writer.apply_event(&event);
                    return State::Watching {
                        resume: resume_after(&event),
                        stream,
                        delivered: true,
                    };
                }
                Ok(Some(Err(error))) => format!("broke: {error}"),
                Ok(None) => "ended".to_string(),
                Err(_) => format!("was silent for {IDLE:?}"),
            };
            if delivered {
                tracing::debug!(%kind, revision = resume, "watch stream {ended}; resuming");
            } else {
                let delay = backoff.next_delay();
                tracing::warn!(%kind, revision = resume, ?delay, "watch stream {ended} before any event; resuming after a pause");
                tokio::time::sleep(delay).await;
            }
            State::Listed { resume }
        }
    }
}

/// Where to resume after `event`. The changes of one batch share its revision and a stream may
/// break between them: resume from before the batch (its changes apply again, harmlessly). A
/// bookmark is whole.
fn resume_after(event: &WatchEvent) -> u64 {
    match event.event_type {
        WatchEventType::Bookmark => event.revision,
        _ => event.revision.saturating_sub(1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::store;
    use crate::object::AnyObject;
    use crate::Service;
    use serde_json::json;
    use std::collections::VecDeque;
    use std::sync::Mutex;
    use tokio::sync::mpsc;
    use tokio::time::Instant;

    fn service(name: &str) -> AnyObject {
        AnyObject(json!({"apiVersion": "wasmpod.dev/v1", "kind": "Service",
            "metadata": {"name": name, "namespace": "default"}, "spec": {"selector": {"app": name}}}))
    }

    fn event(event_type: WatchEventType, revision: u64, name: &str) -> WatchEvent {
        WatchEvent {
            event_type,
            revision,
            object: Some(service(name)),
        }
    }

    fn refused(status: u16) -> ClientError {
        ClientError::Api {
            status,
            reason: "Test".into(),
            message: "scripted".into(),
        }
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Call {
        List,
        Watch(u64),
    }

    /// How a scripted watch stream goes on after its events.
    enum Then {
        Break,
        End,
        Hang,
    }

    /// A scripted watch: its events and what follows them, or the call's error.
    type ScriptedWatch = Result<(Vec<WatchEvent>, Then), ClientError>;

    /// A source that answers from a script, reports each call with its (paused) time, and hangs
    /// once its script is done.
    struct Scripted {
        lists: Mutex<VecDeque<Result<ListResponse, ClientError>>>,
        watches: Mutex<VecDeque<ScriptedWatch>>,
        calls: mpsc::UnboundedSender<(Instant, Call)>,
    }

    impl ListWatch for Scripted {
        async fn list(&self, _kind: Kind) -> Result<ListResponse, ClientError> {
            let _ = self.calls.send((Instant::now(), Call::List));
            let next = self.lists.lock().unwrap().pop_front();
            match next {
                Some(answer) => answer,
                None => futures::future::pending().await,
            }
        }

        async fn watch(&self, _kind: Kind, revision: u64) -> Result<WatchStream, ClientError> {
            let _ = self.calls.send((Instant::now(), Call::Watch(revision)));
            let next = self.watches.lock().unwrap().pop_front();
            let (events, then) = match next {
                Some(answer) => answer?,
                None => futures::future::pending().await,
            };
            let events = futures::stream::iter(events.into_iter().map(Ok));
            Ok(match then {
                Then::Break => events
                    .chain(futures::stream::iter([Err(ClientError::Decode(
                        "connection reset (test)".into(),
                    ))]))
                    .boxed(),
                Then::End => events.boxed(),
                Then::Hang => events.chain(futures::stream::pending()).boxed(),
            })
        }
    }

    type Script = (Vec<Result<ListResponse, ClientError>>, Vec<ScriptedWatch>);

    /// Runs a reflector over `script` until it has made `calls` calls; returns them with the
    /// milliseconds since the start, and the cache.
    async fn run(
        script: Script,
        policy: BackoffPolicy,
        calls: usize,
    ) -> (Vec<(u64, Call)>, crate::cache::Store<Service>) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let source = Scripted {
            lists: Mutex::new(script.0.into()),
            watches: Mutex::new(script.1.into()),
            calls: tx,
        };
        let (reader, writer) = store::<Service>(Kind::Service);
        let stop = tokio_stop();
        let task = tokio::spawn(reflect(writer, source, policy, stop.1));
        let start = Instant::now();
        let mut seen = Vec::new();
        while seen.len() < calls {
            let (at, call) = rx.recv().await.expect("the reflector stopped");
            seen.push(((at - start).as_millis() as u64, call));
        }
        let _ = stop.0.send(());
        task.await.unwrap();
        (seen, reader)
    }

    fn tokio_stop() -> (
        tokio::sync::oneshot::Sender<()>,
        impl Future<Output = ()> + Send,
    ) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        (tx, async move {
            let _ = rx.await;
        })
    }

    fn listed(revision: u64, names: &[&str]) -> Result<ListResponse, ClientError> {
        Ok(ListResponse {
            items: names.iter().map(|n| service(n)).collect(),
            revision,
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_broken_stream_resumes_before_its_batch_and_gone_lists_again() {
        let script = (
            vec![listed(5, &["a"]), listed(9, &["c"])],
            vec![
                Ok((
                    vec![
                        event(WatchEventType::Added, 6, "b"),
                        event(WatchEventType::Modified, 7, "a"),
                    ],
                    Then::Break,
                )),
                Err(refused(410)),
                Ok((vec![event(WatchEventType::Added, 10, "d")], Then::Hang)),
            ],
        );
        let (calls, cache) = run(script, BackoffPolicy::default(), 5).await;
        let calls: Vec<Call> = calls.into_iter().map(|(_, c)| c).collect();
        assert_eq!(
            calls,
            [
                Call::List,
                Call::Watch(5),
                // The stream broke after revision 7: from before its batch.
                Call::Watch(6),
                // 410: the relist replaced everything (a and b are gone).
                Call::List,
                Call::Watch(9),
            ]
        );
        cache.ready().await;
        let names: Vec<String> = cache
            .list()
            .iter()
            .map(|s| s.metadata.name.to_string())
            .collect();
        assert_eq!(names, ["c", "d"]);
    }

    #[tokio::test(start_paused = true)]
    async fn failures_back_off_doubling_and_a_success_resets_the_wait() {
        let policy = BackoffPolicy {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(400),
        };
        let script = (
            vec![
                Err(refused(503)),
                Err(refused(503)),
                Err(refused(503)),
                Err(refused(503)),
                listed(1, &[]),
            ],
            vec![
                Err(refused(500)),
                // Connected, but ended before any event: a pause too.
                Ok((vec![], Then::End)),
                Ok((vec![event(WatchEventType::Added, 2, "a")], Then::End)),
            ],
        );
        let (calls, cache) = run(script, policy, 9).await;
        let at: Vec<u64> = calls.iter().map(|(ms, _)| *ms).collect();
        let gaps: Vec<u64> = at.windows(2).map(|w| w[1] - w[0]).collect();
        // Lists: waits of [50,100], [100,200], [200,400], [200,400] (capped).
        let within = |gap: u64, step: u64| gap >= step / 2 && gap <= step;
        for (gap, step) in gaps.iter().zip([100, 200, 400, 400]) {
            assert!(within(*gap, step), "{gaps:?}");
        }
        // The list succeeded: the watch is opened at once and its failure waits from 100 again.
        assert_eq!(calls[5].1, Call::Watch(1));
        assert_eq!(gaps[4], 0, "{gaps:?}");
        assert!(within(gaps[5], 100), "{gaps:?}");
        assert!(within(gaps[6], 200), "{gaps:?}");
        // A stream that delivered an event and then ended resumes at once, from before it.
        assert_eq!(calls[8].1, Call::Watch(1));
        assert_eq!(gaps[7], 0, "{gaps:?}");
        assert_eq!(cache.len(), 1);
    }
}
