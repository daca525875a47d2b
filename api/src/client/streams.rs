//! What the client reads as it comes: a pod's log followed (`logs -f`), a previous run's log
//! (`logs --previous`), and watches narrowed like lists (`get -w`).

use super::options::{with_query, ListOptions};
use super::{Client, ClientError};
use crate::object::Kind;
use crate::watch::WatchEvent;
use bytes::Bytes;
use futures::{Stream, StreamExt};

impl Client {
    /// The log of the pod's run before the current one (a 400 when it has not restarted).
    pub async fn previous_logs(&self, namespace: &str, pod: &str) -> Result<String, ClientError> {
        let path = format!(
            "{}&previous=true",
            Self::subresource_path(Kind::Pod, namespace, pod, "/log")
        );
        let response = self.send(self.request(reqwest::Method::GET, &path)).await?;
        response
            .text()
            .await
            .map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// The pod's log so far, then each write as it comes, across the pod's restarts; the
    /// stream ends when the pod leaves its node (deleted) or the server ends it.
    pub async fn follow_logs(
        &self,
        namespace: &str,
        pod: &str,
    ) -> Result<impl Stream<Item = Result<Bytes, ClientError>> + Send + 'static, ClientError> {
        let path = format!(
            "{}&follow=true",
            Self::subresource_path(Kind::Pod, namespace, pod, "/log")
        );
        let response = self.send(self.request(reqwest::Method::GET, &path)).await?;
        Ok(response
            .bytes_stream()
            .map(|chunk| chunk.map_err(|e| ClientError::Decode(e.to_string()))))
    }

    /// Every change after `revision` to the objects of `kind` in `namespace` (None: all) that
    /// `options` select; an object that stops matching comes as DELETED.
    pub async fn watch_selected(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        options: &ListOptions,
        revision: u64,
    ) -> Result<impl Stream<Item = Result<WatchEvent, ClientError>> + Send + 'static, ClientError>
    {
        let revision = revision.to_string();
        let mut params = vec![("watch", "true"), ("revision", revision.as_str())];
        if let Some(ns) = namespace.filter(|_| kind.namespaced()) {
            params.push(("namespace", ns));
        }
        if let Some(s) = options.label_selector.as_deref() {
            params.push(("labelSelector", s));
        }
        if let Some(s) = options.field_selector.as_deref() {
            params.push(("fieldSelector", s));
        }
        let path = with_query(format!("/api/v1/{}", kind.plural()), &params);
        self.watch_path(&path).await
    }
}
