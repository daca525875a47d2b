//! `delete --wait` (the default, as kubectl's): once the deletes are accepted, follows the kinds
//! involved through their watches until each object, and what goes with it, is gone from the API,
//! and reports each as it goes. A pod goes once its node has drained it; a namespace once its pods
//! have (everything else in it goes in the namespace's own commit); with `--cascade=foreground` a
//! Deployment or StatefulSet once the pods it owned have.
//!
//! Every kind `delete` takes is served by the watch route (`?watch=true`), so nothing here polls.
//! Tokens and client certificates are not API objects: they are gone when their delete answers
//! and are not waited for.

use crate::kinds;
use anyhow::{bail, Context};
use futures::stream::{BoxStream, SelectAll};
use futures::StreamExt;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use tokio::time::Instant;
use wasmpod_api::client::ListOptions;
use wasmpod_api::{AnyObject, Client, ClientError, Kind, WatchEvent, WatchEventType};

/// When the first "waiting for" line comes (to stderr), then how often another.
const FIRST_PROGRESS: Duration = Duration::from_secs(2);
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How many times a watch is opened again at once when its list is already too old (410).
const OPEN_TRIES: usize = 3;

/// What must be gone with a deleted object before it is reported deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dependents {
    /// Only the object.
    None,
    /// A namespace's pods: they drain after it is gone.
    NamespacePods,
    /// `--cascade=foreground`: the pods the object owns.
    OwnedPods,
}

/// One accepted delete, to be waited for.
#[derive(Debug, Clone)]
pub struct Deleted {
    pub kind: Kind,
    pub namespace: String,
    pub name: String,
    /// The deleted object's uid, when it was read before the delete: an object of the same name
    /// with another uid (a StatefulSet's pod made again) is not the one deleted.
    pub uid: Option<String>,
    pub dependents: Dependents,
}

impl Deleted {
    pub fn shown(&self) -> String {
        kinds::object_ref(self.kind, &self.name)
    }

    /// The lists and watches that see this object and its dependents.
    fn scopes(&self) -> Vec<Scope> {
        let mut scopes = vec![Scope::of(self.kind, &self.namespace)];
        match self.dependents {
            Dependents::None => {}
            Dependents::NamespacePods => scopes.push(Scope::of(Kind::Pod, &self.name)),
            Dependents::OwnedPods => scopes.push(Scope::of(Kind::Pod, &self.namespace)),
        }
        scopes
    }
}

/// What one list and one watch cover: a kind, in one namespace when the kind is namespaced (a
/// token scoped to a namespace may not list every namespace).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Scope {
    kind: Kind,
    namespace: Option<String>,
}

impl Scope {
    fn of(kind: Kind, namespace: &str) -> Scope {
        Scope {
            kind,
            namespace: kind.namespaced().then(|| namespace.to_string()),
        }
    }
}

/// The objects of each scope, by name, as its list and watch last said.
#[derive(Debug, Default)]
struct View {
    objects: BTreeMap<Scope, BTreeMap<String, AnyObject>>,
}

impl View {
    fn replace(&mut self, scope: &Scope, items: Vec<AnyObject>) {
        let by_name = items
            .into_iter()
            .map(|o| (o.name().to_string(), o))
            .collect();
        self.objects.insert(scope.clone(), by_name);
    }

    fn apply(&mut self, scope: &Scope, event: WatchEvent) {
        let Some(object) = event.object else { return };
        let names = self.objects.entry(scope.clone()).or_default();
        match event.event_type {
            WatchEventType::Deleted => {
                names.remove(object.name());
            }
            WatchEventType::Added | WatchEventType::Modified => {
                names.insert(object.name().to_string(), object);
            }
            WatchEventType::Bookmark => {}
        }
    }

    fn in_scope(&self, kind: Kind, namespace: &str) -> impl Iterator<Item = &AnyObject> {
        self.objects
            .get(&Scope::of(kind, namespace))
            .into_iter()
            .flat_map(|by_name| by_name.values())
    }

    /// What of `deleted` is still there, each as `pod/x (terminating)`; empty once all is gone.
    fn remaining(&self, deleted: &Deleted) -> Vec<String> {
        let mut left = Vec::new();
        let itself = self
            .objects
            .get(&Scope::of(deleted.kind, &deleted.namespace))
            .and_then(|by_name| by_name.get(&deleted.name));
        if let Some(object) = itself.filter(|o| same_uid(uid(o), deleted.uid.as_deref())) {
            left.push(describe(deleted.kind, object));
        }
        let pods: Vec<&AnyObject> = match deleted.dependents {
            Dependents::None => Vec::new(),
            Dependents::NamespacePods => self.in_scope(Kind::Pod, &deleted.name).collect(),
            Dependents::OwnedPods => self
                .in_scope(Kind::Pod, &deleted.namespace)
                .filter(|pod| owned_by(pod, deleted))
                .collect(),
        };
        left.extend(pods.into_iter().map(|pod| describe(Kind::Pod, pod)));
        left
    }
}

fn uid(object: &AnyObject) -> Option<&str> {
    object.0.pointer("/metadata/uid").and_then(|v| v.as_str())
}

/// Whether two uids may be of one object (an unknown uid matches any).
fn same_uid(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a == b,
        _ => true,
    }
}

fn owned_by(pod: &AnyObject, owner: &Deleted) -> bool {
    pod.0
        .pointer("/metadata/ownerReferences")
        .and_then(|refs| refs.as_array())
        .is_some_and(|refs| {
            refs.iter().any(|r| {
                r["kind"] == owner.kind.as_str()
                    && r["name"] == owner.name.as_str()
                    && same_uid(r["uid"].as_str(), owner.uid.as_deref())
            })
        })
}

/// `pod/x`, or `pod/x (terminating)` while its node drains it.
fn describe(kind: Kind, object: &AnyObject) -> String {
    let shown = kinds::object_ref(kind, object.name());
    if object.0.pointer("/metadata/deletionTimestamp").is_some() {
        format!("{shown} (terminating)")
    } else {
        shown
    }
}

/// A watch's events, tagged with its scope and the generation of that scope's watch: when a
/// scope is listed and watched again, what its older watch still sends is dropped. `None` is
/// the end of the stream.
type Tagged = (Scope, u64, Option<Result<WatchEvent, ClientError>>);

/// The view, kept up to date by one watch per scope.
struct Watches<'a> {
    client: &'a Client,
    view: View,
    generations: BTreeMap<Scope, u64>,
    streams: SelectAll<BoxStream<'static, Tagged>>,
}

impl<'a> Watches<'a> {
    fn new(client: &'a Client) -> Self {
        Watches {
            client,
            view: View::default(),
            generations: BTreeMap::new(),
            streams: SelectAll::new(),
        }
    }

    /// Lists `scope` afresh and follows it from the revision the list was read at.
    async fn open(&mut self, scope: &Scope) -> anyhow::Result<()> {
        let generation = {
            let g = self.generations.entry(scope.clone()).or_default();
            *g += 1;
            *g
        };
        let everything = ListOptions::default();
        let namespace = scope.namespace.as_deref();
        let plural = scope.kind.plural();
        for attempt in 1..=OPEN_TRIES {
            let list = self
                .client
                .list_selected(scope.kind, namespace, &everything)
                .await
                .with_context(|| format!("listing {plural} to wait for the delete"))?;
            let events = match self
                .client
                .watch_selected(scope.kind, namespace, &everything, list.revision)
                .await
            {
                Ok(events) => events,
                // The list is already older than the server keeps: list again.
                Err(e) if e.status() == Some(410) && attempt < OPEN_TRIES => continue,
                Err(e) => {
                    return Err(e).with_context(|| format!("watching {plural}"));
                }
            };
            self.view.replace(scope, list.items);
            let tag = scope.clone();
            self.streams.push(
                events
                    .map(Some)
                    .chain(futures::stream::once(async { None }))
                    .map(move |event| (tag.clone(), generation, event))
                    .boxed(),
            );
            break;
        }
        Ok(())
    }

    fn current(&self, scope: &Scope, generation: u64) -> bool {
        self.generations.get(scope) == Some(&generation)
    }
}

/// Waits until every one of `pending` is gone, calling `gone` for each as it goes; past
/// `timeout` (None: no limit) an error names what is still there. The deletes go on either way.
pub async fn until_gone(
    client: &Client,
    mut pending: Vec<Deleted>,
    timeout: Option<Duration>,
    mut gone: impl FnMut(&Deleted),
) -> anyhow::Result<()> {
    let started = Instant::now();
    let deadline = timeout.map(|t| started + t);
    let mut watches = Watches::new(client);
    let scopes: BTreeSet<Scope> = pending.iter().flat_map(Deleted::scopes).collect();
    for scope in &scopes {
        watches.open(scope).await?;
    }
    let mut progress = started + FIRST_PROGRESS;
    loop {
        pending.retain(|deleted| {
            let left = !watches.view.remaining(deleted).is_empty();
            if !left {
                gone(deleted);
            }
            left
        });
        if pending.is_empty() {
            return Ok(());
        }
        let expiry = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            next = watches.streams.next() => match next {
                Some((scope, generation, event)) if watches.current(&scope, generation) => {
                    match event {
                        Some(Ok(event)) => watches.view.apply(&scope, event),
                        Some(Err(error)) => {
                            tracing::debug!(kind = scope.kind.plural(), %error, "watch broke; listing again");
                            watches.open(&scope).await?;
                        }
                        None => watches.open(&scope).await?,
                    }
                }
                // An older watch of a scope that was listed again.
                Some(_) => {}
                None => bail!("no watch left to wait on"),
            },
            () = tokio::time::sleep_until(progress) => {
                eprintln!("waiting for {}", still_there(&watches.view, &pending));
                progress += PROGRESS_EVERY;
            }
            () = expiry => bail!(
                "timed out after {:?} waiting for {} to be deleted; still there: {} (the delete goes on)",
                timeout.unwrap_or_default(),
                pending.iter().map(Deleted::shown).collect::<Vec<_>>().join(", "),
                still_there(&watches.view, &pending),
            ),
        }
    }
}

/// `deployment/web: pod/web-1 (terminating); pod/x (terminating)`.
fn still_there(view: &View, pending: &[Deleted]) -> String {
    pending
        .iter()
        .map(|deleted| {
            let left = view.remaining(deleted).join(", ");
            let shown = deleted.shown();
            if left.starts_with(&shown) {
                left
            } else {
                format!("{shown}: {left}")
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(kind: &str, namespace: &str, name: &str, extra: serde_json::Value) -> AnyObject {
        let mut o = serde_json::json!({"apiVersion": "wasmpod.dev/v1", "kind": kind,
            "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-{name}")}});
        if let (Some(meta), Some(extra)) = (o["metadata"].as_object_mut(), extra.as_object()) {
            meta.extend(extra.clone());
        }
        AnyObject(o)
    }

    fn deleted(kind: Kind, namespace: &str, name: &str, dependents: Dependents) -> Deleted {
        Deleted {
            kind,
            namespace: namespace.into(),
            name: name.into(),
            uid: Some(format!("uid-{name}")),
            dependents,
        }
    }

    fn event(event_type: WatchEventType, object: AnyObject) -> WatchEvent {
        WatchEvent {
            event_type,
            revision: 1,
            object: Some(object),
        }
    }

    #[test]
    fn a_pod_is_gone_when_no_pod_of_its_uid_is_left() {
        let pods = Scope::of(Kind::Pod, "default");
        let mut view = View::default();
        let terminating = serde_json::json!({"deletionTimestamp": "2026-11-29T09:00:00Z"});
        view.replace(&pods, vec![object("Pod", "default", "db-0", terminating)]);
        let db0 = deleted(Kind::Pod, "default", "db-0", Dependents::None);
        assert_eq!(view.remaining(&db0), ["pod/db-0 (terminating)"]);
        // Deleted, then made again under its name (a StatefulSet's pod): that one is not it.
        view.apply(
            &pods,
            event(
                WatchEventType::Deleted,
                object("Pod", "default", "db-0", serde_json::json!({})),
            ),
        );
        let again = serde_json::json!({"uid": "uid-other"});
        view.apply(
            &pods,
            event(
                WatchEventType::Added,
                object("Pod", "default", "db-0", again),
            ),
        );
        assert!(view.remaining(&db0).is_empty());
    }

    #[test]
    fn a_namespace_waits_for_its_pods_and_a_foreground_owner_for_the_pods_it_owns() {
        let mut view = View::default();
        view.replace(&Scope::of(Kind::Namespace, ""), vec![]);
        view.replace(
            &Scope::of(Kind::Pod, "shop"),
            vec![object("Pod", "shop", "cart-1", serde_json::json!({}))],
        );
        let shop = deleted(Kind::Namespace, "", "shop", Dependents::NamespacePods);
        assert_eq!(shop.scopes().len(), 2);
        assert_eq!(view.remaining(&shop), ["pod/cart-1"]);
        view.replace(&Scope::of(Kind::Pod, "shop"), vec![]);
        assert!(view.remaining(&shop).is_empty());

        let owner = |name: &str, uid: &str| serde_json::json!({"ownerReferences": [{"kind": "Deployment", "name": name, "uid": uid}]});
        view.replace(
            &Scope::of(Kind::Pod, "default"),
            vec![
                object("Pod", "default", "web-1", owner("web", "uid-web")),
                // A deployment of the same name made again: not the one deleted.
                object("Pod", "default", "web-2", owner("web", "uid-new")),
                object("Pod", "default", "api-1", owner("api", "uid-api")),
            ],
        );
        view.replace(&Scope::of(Kind::Deployment, "default"), vec![]);
        let web = deleted(Kind::Deployment, "default", "web", Dependents::OwnedPods);
        assert_eq!(view.remaining(&web), ["pod/web-1"]);
        let background = deleted(Kind::Deployment, "default", "web", Dependents::None);
        assert!(view.remaining(&background).is_empty());
        assert_eq!(still_there(&view, &[web]), "deployment/web: pod/web-1");
    }

    #[test]
    fn a_cluster_scoped_kind_is_watched_across_namespaces() {
        assert_eq!(Scope::of(Kind::Node, "default").namespace, None);
        assert_eq!(
            Scope::of(Kind::Pod, "dev").namespace.as_deref(),
            Some("dev")
        );
    }
}
