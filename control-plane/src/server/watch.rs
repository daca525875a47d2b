//! `?watch=true`: newline-delimited JSON watch events, with a bookmark every 15 s while idle.
//! With `?namespace=`, `?labelSelector=` or `?fieldSelector=` only the changes of objects that
//! match are sent, and, as in Kubernetes, an object whose change makes it stop matching is sent
//! as DELETED (so a client's cache of the selection drops it).
//!
//! The hub keeps no previous state, so the stream keeps its own: the keys the client may hold
//! (every object of the kind when the watch starts — a superset of what its list at `revision`
//! held — and every object sent since, less those created after `revision` without matching).
//! A change that does not match, of a key in that set, is sent as DELETED once; a delete is sent
//! whenever its key may be held. A DELETED for an object the client never had is harmless: it
//! removes nothing.

use super::selection::ListFilter;
use super::{ApiError, AppState};
use crate::watch_hub::ChangeType;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::collections::HashSet;
use std::time::Duration;
use wasmpod_api::{Kind, ObjectKey, WatchEvent, WatchEventType};

const BOOKMARK_EVERY: Duration = Duration::from_secs(15);

pub fn stream(
    state: &AppState,
    kind: Kind,
    revision: u64,
    filter: ListFilter,
) -> Result<Response, ApiError> {
    let changes = state
        .registry
        .hub()
        .watch(Some(kind), revision)
        .map_err(|gone| {
            ApiError::gone(format!(
                "revision {revision} is older than the oldest kept ({}); list again",
                gone.oldest
            ))
        })?;
    let registry = state.registry.clone();
    let client = crate::metrics::WatchClient::open();
    let narrowed = filter.namespace.is_some() || filter.selects_by_content();
    let mut held: HashSet<ObjectKey> = if filter.selects_by_content() {
        let (objects, _) = state.registry.list(kind, filter.namespace.as_deref())?;
        objects.iter().filter_map(|o| o.key()).collect()
    } else {
        HashSet::new()
    };
    let changes = changes.filter_map(move |change| {
        let event_type = if !narrowed {
            Some(change.change)
        } else {
            let matches = serde_json::from_slice::<serde_json::Value>(&change.json)
                .is_ok_and(|object| filter.matches(&object));
            match (change.change, matches) {
                (ChangeType::Deleted, _) => {
                    (held.remove(&change.key) || matches).then_some(ChangeType::Deleted)
                }
                (other, true) => {
                    held.insert(change.key.clone());
                    Some(other)
                }
                // Created after the client's list, and not in the selection: it cannot hold it.
                (ChangeType::Added, false) => {
                    held.remove(&change.key);
                    None
                }
                // It left the selection: the client drops it.
                (_, false) => held.remove(&change.key).then_some(ChangeType::Deleted),
            }
        };
        std::future::ready(event_type.map(|event_type| (event_type, change)))
    });
    // Each line is a `WatchEvent`; the object is spliced in already serialised.
    let changes = changes.map(|(event_type, change)| {
        let event_type = match event_type {
            ChangeType::Deleted => "DELETED",
            ChangeType::Added => "ADDED",
            ChangeType::Modified => "MODIFIED",
        };
        let mut line = format!(
            r#"{{"type":"{event_type}","revision":{},"object":"#,
            change.revision
        )
        .into_bytes();
        line.extend_from_slice(&change.json);
        line.extend_from_slice(b"}\n");
        line
    });
    let bookmarks =
        futures::stream::unfold(tokio::time::interval(BOOKMARK_EVERY), move |mut tick| {
            let registry = registry.clone();
            async move {
                tick.tick().await;
                // What the hub has published, so a bookmark never runs ahead of the events.
                let revision = registry.hub().revision();
                let event = WatchEvent {
                    event_type: WatchEventType::Bookmark,
                    revision,
                    object: None,
                };
                let mut line = serde_json::to_vec(&event).unwrap_or_default();
                line.push(b'\n');
                Some((line, tick))
            }
        })
        .skip(1);
    let shutdown = state.shutdown.clone().cancelled_owned();
    let lines = futures::stream::select(changes, bookmarks)
        .take_until(shutdown)
        .map(move |line| {
            // Counted among the watch clients until the stream is dropped.
            let _open = &client;
            Ok::<_, std::convert::Infallible>(line)
        });
    Ok((
        [("content-type", "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}
