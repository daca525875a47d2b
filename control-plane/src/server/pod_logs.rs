//! `GET /api/v1/pods/NAME/log`: a pod's log lives on the node that runs it, so the API server
//! asks that node's agent and passes its answer on: the log so far, the previous run's
//! (`?previous=true`), or the log as it grows (`?follow=true`, streamed).

use super::objects::{key_of, ObjectQuery};
use super::{ApiError, AppState};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use std::time::Duration;
use wasmpod_api::{Kind, Node, ObjectKey, Pod};

/// `?follow=true` / `?previous=true` on a pod's log.
#[derive(Debug, Default, Deserialize)]
pub struct LogOptions {
    #[serde(default)]
    pub follow: bool,
    #[serde(default)]
    pub previous: bool,
}

/// How long a node has to start answering for a log (a follow then streams without limit).
const AGENT_ANSWER: Duration = Duration::from_secs(10);
/// The longest a followed log is streamed; the client follows again after it.
const FOLLOW_LIMIT: Duration = Duration::from_secs(24 * 3600);

/// Pod logs live on the node that runs the pod: ask its agent. A follow is streamed through as
/// the node sends it (chunked) and ends when the node ends it (the pod left the node), when the
/// client goes away, or when this server shuts down.
pub async fn logs(
    State(state): State<AppState>,
    Path((plural, name)): Path<(String, String)>,
    Query(query): Query<ObjectQuery>,
    Query(options): Query<LogOptions>,
) -> Result<Response, ApiError> {
    let key = key_of(&plural, &name, &query)?;
    if key.kind != Kind::Pod {
        return Err(ApiError::not_found("only pods have logs"));
    }
    let pod: Pod = state
        .registry
        .get_typed(&key)?
        .ok_or_else(|| ApiError::not_found(format!("pods {name:?} not found")))?;
    let node_name = pod.spec.node_name.ok_or_else(|| {
        ApiError::bad_request(format!(
            "pod {name:?} is not scheduled yet, so it has no logs"
        ))
    })?;
    let node: Node = state
        .registry
        .get_typed(&ObjectKey::new(Kind::Node, "", &node_name))?
        .ok_or_else(|| {
            ApiError::unavailable(format!("node {node_name:?} of pod {name:?} is gone"))
        })?;
    let path = format!(
        "/logs?namespace={}&pod={}&follow={}&previous={}",
        urlencoding::encode(&key.namespace),
        urlencoding::encode(&key.name),
        options.follow,
        options.previous,
    );
    let unavailable = |e: String| {
        ApiError::unavailable(format!("node {node_name:?} did not answer for logs: {e}"))
    };
    let mut request = state
        .agents
        .request(
            &node_name,
            &node.status.agent,
            &path,
            &state.credentials.agent_key(&node_name),
        )
        .await
        .map_err(|e| unavailable(e.to_string()))?;
    if options.follow {
        request = request.timeout(FOLLOW_LIMIT);
    }
    let response = tokio::time::timeout(AGENT_ANSWER, request.send())
        .await
        .map_err(|_| unavailable(format!("no answer in {AGENT_ANSWER:?}")))?
        .map_err(|e| unavailable(e.to_string()))?;
    let status = response.status();
    if !status.is_success() {
        let text = response.text().await.unwrap_or_default();
        if options.previous && status == reqwest::StatusCode::NOT_FOUND {
            return Err(ApiError::bad_request(format!(
                "pod {name:?} has no previous run: {text}"
            )));
        }
        return Err(ApiError::unavailable(format!(
            "node {node_name:?} could not give logs: {text}"
        )));
    }
    if !options.follow {
        let text = response.text().await.unwrap_or_default();
        return Ok(text.into_response());
    }
    tracing::debug!(pod = %key, node = %node_name, "following a pod's log");
    let shutdown = state.shutdown.clone().cancelled_owned();
    let chunks = response.bytes_stream().take_until(shutdown);
    Ok((
        [("content-type", "text/plain; charset=utf-8")],
        Body::from_stream(chunks),
    )
        .into_response())
}
