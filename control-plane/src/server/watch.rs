//! `?watch=true`: newline-delimited JSON watch events, with a bookmark every 15 s while idle.
//! With `?namespace=`, `?labelSelector=` or `?fieldSelector=` only the changes of objects that
//! match are sent. Unlike Kubernetes, an object whose change makes it stop matching is not sent
//! as a DELETED event (the hub keeps no previous state to compare with): a client that must
//! know lists again.

use super::selection::ListFilter;
use super::{ApiError, AppState};
use crate::watch_hub::ChangeType;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use std::time::Duration;
use wasmpod_api::{Kind, WatchEvent, WatchEventType};

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
    let narrowed = filter.namespace.is_some() || filter.selects_by_content();
    let changes = changes.filter(move |change| {
        let keep = !narrowed
            || serde_json::from_slice::<serde_json::Value>(&change.json)
                .is_ok_and(|object| filter.matches(&object));
        std::future::ready(keep)
    });
    // Each line is a `WatchEvent`; the object is spliced in already serialised.
    let changes = changes.map(|change| {
        let event_type = match change.change {
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
        .map(Ok::<_, std::convert::Infallible>);
    Ok((
        [("content-type", "application/x-ndjson")],
        Body::from_stream(lines),
    )
        .into_response())
}
