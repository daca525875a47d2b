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
