//! Reports a pod's status to the control plane in the background: the pod's lifecycle never
//! waits for the API (a crashed pod restarts on time while the control plane is down), and
//! once the API answers again it gets the latest status, restart count included.

use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use wasmpod_api::{Client, Kind, ObjectKey, PodStatus};

const FIRST_RETRY: Duration = Duration::from_millis(200);
const MAX_RETRY: Duration = Duration::from_secs(2);

pub struct StatusReporter {
    latest: watch::Sender<PodStatus>,
}

impl StatusReporter {
    /// Starts the reporter of `key`, whose status the control plane holds as `reported`; it
    /// stops on `cancel`.
    pub fn spawn(
        client: Client,
        key: ObjectKey,
        reported: PodStatus,
        cancel: CancellationToken,
    ) -> StatusReporter {
        let (latest, rx) = watch::channel(reported.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = cancel.cancelled() => {}
                _ = report_loop(client, key, reported, rx) => {}
            }
        });
        StatusReporter { latest }
    }

    /// Makes `status` the one to report (replacing any not yet sent).
    pub fn report(&self, status: &PodStatus) {
        self.latest.send_if_modified(|latest| {
            let changed = latest != status;
            if changed {
                *latest = status.clone();
            }
            changed
        });
    }
}

async fn report_loop(
    client: Client,
    key: ObjectKey,
    mut reported: PodStatus,
    mut rx: watch::Receiver<PodStatus>,
) {
    let mut retry = FIRST_RETRY;
    loop {
        let status = rx.borrow_and_update().clone();
        if status == reported {
            if rx.changed().await.is_err() {
                return;
            }
            continue;
        }
        match client
            .put_status(Kind::Pod, &key.namespace, &key.name, &status)
            .await
        {
            Ok(()) => {
                reported = status;
                retry = FIRST_RETRY;
            }
            // The pod is gone: the manager stops this pod's task shortly.
            Err(e) if e.is_not_found() => reported = status,
            Err(error) => {
                tracing::warn!(%error, pod = %key.name, retry_ms = retry.as_millis() as u64, "cannot report pod status");
                // A newer status does not wait out the delay of an old one's failure.
                if let Ok(Err(_closed)) = tokio::time::timeout(retry, rx.changed()).await {
                    return;
                }
                retry = (retry * 2).min(MAX_RETRY);
            }
        }
    }
}
