//! `logs -f -l SELECTOR`: follows every pod the selector matches, as `stern` does — the pods that
//! match when it starts and each pod that starts matching later (a scaled deployment's new
//! replica, a rollout's replacement), each line prefixed `[pod/NAME]`; a pod that is deleted, or
//! stops matching, is no longer followed. It lists the pods, then watches them from the list's
//! revision, so no pod that comes between the two is missed; when the watch ends (a server
//! restart, a revision too old) it lists again. It runs until Ctrl-C, or until the API server
//! cannot be listed from for [`RELIST_ATTEMPTS`] tries in a row.

use super::logs_output::LogPrinter;
use super::logs_roster::{uid_of, Roster};
use anyhow::Context;
use futures::StreamExt;
use std::collections::HashSet;
use std::time::Duration;
use tokio::task::{AbortHandle, JoinSet};
use wasmpod_api::client::ListOptions;
use wasmpod_api::{AnyObject, Client, Kind, Pod, WatchEventType};

/// How often, and how far apart, a pod's log is asked for before its follower gives up: a pod
/// that has run has a log on its node, so this only covers the moment it is being started.
const OPEN_ATTEMPTS: u32 = 10;
const OPEN_RETRY: Duration = Duration::from_millis(500);
/// Lists in a row that may fail (the API server restarting) before the command does.
const RELIST_ATTEMPTS: u32 = 5;
const RELIST_RETRY: Duration = Duration::from_secs(1);

/// How one pod's follower ended.
#[derive(Debug)]
enum Ended {
    /// The pod was deleted (or another pod took its name): nothing more to follow.
    PodGone,
    /// The stream ended while the pod is still there (its node or the API server went away).
    StreamLost,
}

/// A follower's name, UID and how it ended.
type Finished = (String, String, anyhow::Result<Ended>);

/// The pods of namespace `ns` that `options` select, followed until Ctrl-C.
pub async fn follow_selected(
    client: &Client,
    ns: &str,
    options: &ListOptions,
) -> anyhow::Result<()> {
    let mut roster: Roster<AbortHandle> = Roster::default();
    let mut followers: JoinSet<Finished> = JoinSet::new();
    let mut failed_lists = 0;
    let mut first = true;
    loop {
        let list = match client.list_selected(Kind::Pod, Some(ns), options).await {
            Ok(list) => list,
            Err(error) => {
                failed_lists += 1;
                if failed_lists >= RELIST_ATTEMPTS {
                    return Err(error).context(format!("listing the pods to follow in {ns}"));
                }
                tracing::warn!(%error, "cannot list the pods to follow; trying again");
                tokio::time::sleep(RELIST_RETRY).await;
                continue;
            }
        };
        failed_lists = 0;
        let pods = decode(&list.items)?;
        if first && pods.is_empty() {
            eprintln!("No resources found in {ns} namespace; waiting for pods that match.");
        }
        first = false;
        let listed: HashSet<String> = pods.iter().map(|p| p.name().to_string()).collect();
        for follower in roster.keep_only(&listed) {
            follower.abort();
        }
        for pod in &pods {
            consider(client, ns, pod, &mut roster, &mut followers);
        }
        let watched = client
            .watch_selected(Kind::Pod, Some(ns), options, list.revision)
            .await;
        let mut events = match watched {
            Ok(events) => events.boxed(),
            Err(error) => {
                tracing::warn!(%error, "cannot watch the pods to follow; listing again");
                tokio::time::sleep(RELIST_RETRY).await;
                continue;
            }
        };
        loop {
            tokio::select! {
                event = events.next() => {
                    let event = match event {
                        Some(Ok(event)) => event,
                        Some(Err(error)) => {
                            tracing::warn!(%error, "the watch of the pods to follow failed; listing again");
                            break;
                        }
                        None => break,
                    };
                    let Some(object) = event.object else { continue };
                    let pod = decode_one(&object)?;
                    match event.event_type {
                        WatchEventType::Added | WatchEventType::Modified => {
                            consider(client, ns, &pod, &mut roster, &mut followers);
                        }
                        WatchEventType::Deleted => {
                            if let Some(follower) = roster.gone(pod.name(), &uid_of(&pod)) {
                                tracing::debug!(pod = pod.name(), "no longer following a deleted pod");
                                follower.abort();
                            }
                        }
                        WatchEventType::Bookmark => {}
                    }
                }
                Some(done) = followers.join_next(), if !followers.is_empty() => {
                    // An aborted follower was already taken off the roster.
                    if let Ok((name, uid, ended)) = done {
                        finished(&mut roster, &name, &uid, ended);
                    }
                }
            }
        }
        tokio::time::sleep(RELIST_RETRY).await;
    }
}

/// Starts following `pod` when the roster wants it (it matches, has run, is not followed yet).
fn consider(
    client: &Client,
    ns: &str,
    pod: &Pod,
    roster: &mut Roster<AbortHandle>,
    followers: &mut JoinSet<Finished>,
) {
    if !roster.wants(pod) {
        return;
    }
    let (name, uid) = (pod.name().to_string(), uid_of(pod));
    tracing::debug!(pod = %name, "following a pod that matches");
    let follower = followers.spawn(follow_one(
        client.clone(),
        ns.to_string(),
        name.clone(),
        uid.clone(),
    ));
    if let Some(older) = roster.started(&name, uid, follower) {
        older.abort();
    }
}

fn finished(roster: &mut Roster<AbortHandle>, name: &str, uid: &str, ended: anyhow::Result<Ended>) {
    match ended {
        Ok(Ended::PodGone) => {}
        Ok(Ended::StreamLost) => eprintln!(
            "the log stream of pod {name} ended while the pod is still there \
             (its node or the API server went away); no longer following it"
        ),
        Err(error) => eprintln!("error: {error:#}"),
    }
    roster.ended(name, uid);
}

fn decode(items: &[AnyObject]) -> anyhow::Result<Vec<Pod>> {
    items.iter().map(decode_one).collect()
}

fn decode_one(object: &AnyObject) -> anyhow::Result<Pod> {
    object.to_typed().with_context(|| {
        format!(
            "the API sent pod {} in a shape this CLI cannot read",
            object.name()
        )
    })
}

/// Prints pod `name`'s log, prefixed, from its start until the stream ends.
async fn follow_one(client: Client, ns: String, name: String, uid: String) -> Finished {
    let ended = follow_log(&client, &ns, &name, &uid).await;
    (name, uid, ended)
}

async fn follow_log(client: &Client, ns: &str, name: &str, uid: &str) -> anyhow::Result<Ended> {
    let mut attempt = 1;
    let mut chunks = loop {
        match client.follow_logs(ns, name).await {
            Ok(chunks) => break chunks,
            Err(error) if error.is_not_found() => return Ok(Ended::PodGone),
            Err(error) if attempt < OPEN_ATTEMPTS => {
                tracing::debug!(pod = name, %error, attempt, "the pod's log is not there yet");
                attempt += 1;
                tokio::time::sleep(OPEN_RETRY).await;
            }
            Err(error) => {
                return Err(error).with_context(|| format!("following the log of pod {name}"))
            }
        }
    };
    let mut printer = LogPrinter::new(name, true);
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.with_context(|| format!("reading the log of pod {name}"))?;
        printer.write(&mut std::io::stdout().lock(), &chunk)?;
    }
    printer.finish(&mut std::io::stdout().lock())?;
    // The node ends the stream when the pod leaves it; otherwise the connection was lost.
    match client.get(Kind::Pod, ns, name).await {
        Err(error) if error.is_not_found() => Ok(Ended::PodGone),
        Ok(object) if object.to_typed::<Pod>().map(|p| uid_of(&p)).ok().as_deref() != Some(uid) => {
            Ok(Ended::PodGone)
        }
        Ok(_) => Ok(Ended::StreamLost),
        Err(error) => Err(error).with_context(|| format!("the log stream of pod {name} ended")),
    }
}
