//! What this node knows of the cluster CA's revoked certificates (see
//! [`wasmpod_api::revocation`]): on a TLS cluster a task reads the revoked serials from the
//! control plane (`GET /api/v1/revokedcertificates`, through the node's client, which fails over
//! between API servers as the watches do) every
//! [`REFRESH`](wasmpod_api::revocation::REFRESH) into the [`RevokedSerials`] set its
//! peer listener and agent consult. When the control plane cannot be reached the last set stays
//! (a revocation never lapses); it is logged once per outage.

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_api::revocation::RevokedSerials;
use wasmpod_api::Client;

/// Keeps `revoked` current from `client` every `period` until `shutdown`.
pub async fn follow(
    client: Client,
    revoked: RevokedSerials,
    period: Duration,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    loop {
        match client.revoked_certificates().await {
            Ok(list) => {
                if failing {
                    tracing::info!("reading the revoked certificates again");
                    failing = false;
                }
                let count = list.serials.len();
                if revoked.replace(list.serials) {
                    tracing::info!(revoked = count, "revoked certificates changed");
                }
            }
            Err(error) if !failing => {
                failing = true;
                tracing::warn!(%error, kept = revoked.len(),
                    "cannot read the revoked certificates; keeping the last list");
            }
            Err(error) => tracing::debug!(%error, "cannot read the revoked certificates"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    //! The follower against a real HTTP server standing in for the control plane's route.

    use super::*;
    use axum::http::StatusCode;
    use std::sync::{Arc, Mutex};
    use wasmpod_api::revocation::RevokedCertificates;

    /// What the route answers: the serials, or 503 (the control plane is away).
    type Answer = Arc<Mutex<Option<Vec<String>>>>;

    async fn control_plane(answer: Answer) -> String {
        let app = axum::Router::new().route(
            "/api/v1/revokedcertificates",
            axum::routing::get(move || {
                let answer = answer.lock().expect("lock").clone();
                async move {
                    match answer {
                        Some(serials) => Ok(axum::Json(RevokedCertificates { serials })),
                        None => Err(StatusCode::SERVICE_UNAVAILABLE),
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    async fn until(what: &str, check: impl Fn() -> bool) {
        for _ in 0..200 {
            if check() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{what}");
    }

    #[tokio::test]
    async fn the_node_follows_the_revoked_serials_and_keeps_them_while_the_control_plane_is_away() {
        let answer: Answer = Arc::new(Mutex::new(Some(vec!["41aa".into()])));
        let url = control_plane(answer.clone()).await;
        let revoked = RevokedSerials::default();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(follow(
            Client::new(&url, None),
            revoked.clone(),
            Duration::from_millis(20),
            shutdown.clone(),
        ));
        until("the first list", || revoked.len() == 1).await;
        *answer.lock().expect("lock") = Some(vec!["41aa".into(), "41bb".into()]);
        until("a revocation arrives", || revoked.len() == 2).await;
        // The control plane is away: the last list stays.
        *answer.lock().expect("lock") = None;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            revoked.len(),
            2,
            "a revocation lapsed with the control plane away"
        );
        // Back, with a serial that expired (dropped from its list).
        *answer.lock().expect("lock") = Some(vec!["41bb".into()]);
        until("the list follows again", || revoked.len() == 1).await;
        shutdown.cancel();
        task.await.expect("the follower ends on shutdown");
    }
}
