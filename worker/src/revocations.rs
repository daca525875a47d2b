//! What this node knows of the cluster CA's revoked certificates (see
//! [`wasmpod_api::revocation`]): on a TLS cluster a task reads the revoked serials from the
//! control plane (`GET /api/v1/revokedcertificates`, through the node's client, which fails over
//! between API servers as the watches do) every
//! [`REFRESH`](wasmpod_api::revocation::REFRESH) into the [`RevokedSerials`] set its
//! peer listener and agent consult. When the control plane cannot be reached the last set stays
//! (a revocation never lapses); it is logged once per outage.

use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_api::revocation::{CertificateSerial, RevokedSerials};
use wasmpod_api::Client;

/// Keeps `revoked` current from `client` every `period` until `shutdown`.
pub async fn follow(
    client: Client,
    revoked: RevokedSerials,
    period: Duration,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    let mut unreadable = Vec::new();
    loop {
        match client.revoked_certificates().await {
            Ok(list) => {
                if failing {
                    tracing::info!("reading the revoked certificates again");
                    failing = false;
                }
                let serials = read_serials(list.serials, &mut unreadable);
                let count = serials.len();
                if revoked.replace(serials) {
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

/// The serials of a list from the control plane. One that is no hex serial cannot name any
/// certificate (a listener reads every serial from a certificate): it is left out, and logged
/// when the unreadable entries change (`unreadable` holds the last ones).
fn read_serials(listed: Vec<String>, unreadable: &mut Vec<String>) -> Vec<CertificateSerial> {
    let mut serials = Vec::with_capacity(listed.len());
    let mut bad = Vec::new();
    for hex in listed {
        match CertificateSerial::from_hex(&hex) {
            Ok(serial) => serials.push(serial),
            Err(error) => bad.push((hex, error)),
        }
    }
    let bad_hex: Vec<String> = bad.iter().map(|(hex, _)| hex.clone()).collect();
    if bad_hex != *unreadable {
        for (_, error) in &bad {
            tracing::warn!(%error, "the control plane listed a revoked serial that is no serial");
        }
        *unreadable = bad_hex;
    }
    serials
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
        let serial = |hex: &str| CertificateSerial::from_hex(hex).expect("serial");
        assert!(revoked.revokes(&serial("41bb")) && !revoked.revokes(&serial("41aa")));
        shutdown.cancel();
        task.await.expect("the follower ends on shutdown");
    }

    #[test]
    fn a_listed_entry_that_is_no_serial_is_left_out_and_the_others_kept() {
        let mut unreadable = Vec::new();
        let listed = vec![
            "41aa".to_string(),
            "not hex".into(),
            "41BB".into(),
            "".into(),
        ];
        let serials = read_serials(listed.clone(), &mut unreadable);
        let shown: Vec<String> = serials.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["41aa", "41bb"]);
        assert_eq!(unreadable, ["not hex", ""], "kept to log them once");
        assert_eq!(read_serials(listed, &mut unreadable).len(), 2);
        read_serials(vec!["41aa".into()], &mut unreadable);
        assert!(unreadable.is_empty());
    }
}
