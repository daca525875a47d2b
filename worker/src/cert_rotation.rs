//! Renewing this node's certificate before it expires, as kubelet rotates its own: at a point
//! drawn at random between 70 % and 90 % of the certificate's life (so the nodes of a cluster
//! do not all renew at once), the node makes a new key pair, sends the public half to
//! `POST /api/v1/nodes/{name}/certificate` with its credential, stores the new certificate and
//! key (see [`crate::node_certificate_file`]) and presents it from the next handshake on (see
//! [`crate::node_identity::CurrentCertificate`]). The old certificate is not revoked: connections
//! made with it finish, and it expires. A failed renewal is logged and tried again with a
//! doubling delay, capped at a tenth of the certificate's life (at most five minutes), until it
//! succeeds or the node stops.

use crate::node_certificate_file::CertificateFile;
use crate::node_identity::{request_certificate, CurrentCertificate, IdentityError};
use chrono::{DateTime, Utc};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use wasmpod_api::Client;

/// The share of a certificate's life (in thousandths) after which it is renewed, at the
/// earliest...
pub const RENEW_FROM: i64 = 700;
/// ...and at the latest.
pub const RENEW_BY: i64 = 900;
/// The first retry of a failed renewal.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between retries.
const MAX_RETRY: Duration = Duration::from_secs(300);

/// When to renew a certificate valid from `not_before` to `not_after`: `jitter` (0 to 1, drawn
/// at random) of the way from 70 % to 90 % of its life.
pub fn renewal_deadline(
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    jitter: f64,
) -> DateTime<Utc> {
    let life = (not_after - not_before).num_milliseconds().max(0);
    let jitter = if jitter.is_nan() {
        0.0
    } else {
        jitter.clamp(0.0, 1.0)
    };
    let share = RENEW_FROM + ((RENEW_BY - RENEW_FROM) as f64 * jitter).round() as i64;
    not_before + chrono::Duration::milliseconds(life * share / 1000)
}

/// The wait before retry `attempt` (0 first) of a failed renewal of a certificate that lives
/// `life`: one second, doubling, capped at a tenth of `life` (at least a second) and five
/// minutes.
pub fn retry_delay(attempt: u32, life: Duration) -> Duration {
    let cap = (life / 10).clamp(FIRST_RETRY, MAX_RETRY);
    FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(attempt.min(16)))
        .min(cap)
}

/// What renewing needs.
pub struct Renewer {
    /// Speaks to the API with the node's credential.
    pub client: Client,
    pub node: String,
    pub addresses: Vec<IpAddr>,
    pub current: Arc<CurrentCertificate>,
    pub file: CertificateFile,
}

impl Renewer {
    /// Asks for a certificate for a new key, stores it and presents it.
    async fn renew(&self) -> Result<(), IdentityError> {
        let held = request_certificate(&self.client, &self.node, &self.addresses).await?;
        self.file.save(&self.node, &held)?;
        self.current.replace(held.clone())?;
        tracing::info!(node = %self.node, serial = %held.serial, not_after = %held.not_after,
            "node certificate renewed");
        Ok(())
    }
}

/// How long from now until `at` (zero when it has passed).
fn until(at: DateTime<Utc>) -> Duration {
    (at - Utc::now()).to_std().unwrap_or_default()
}

/// Renews the node's certificate each time it reaches its renewal point, until `shutdown`.
pub async fn run(renewer: Renewer, shutdown: CancellationToken) {
    loop {
        let held = renewer.current.held();
        let deadline = renewal_deadline(held.not_before, held.not_after, rand::random::<f64>());
        tracing::debug!(node = %renewer.node, serial = %held.serial, %deadline,
            "node certificate renewal planned");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(until(deadline)) => {}
        }
        let life = (held.not_after - held.not_before)
            .to_std()
            .unwrap_or_default();
        let mut attempt = 0;
        loop {
            match renewer.renew().await {
                Ok(()) => break,
                Err(error) => {
                    let wait = retry_delay(attempt, life);
                    if held.expired(Utc::now()) {
                        tracing::error!(node = %renewer.node, serial = %held.serial,
                            not_after = %held.not_after, %error, retry_in = ?wait,
                            "cannot renew the expired node certificate");
                    } else {
                        tracing::warn!(node = %renewer.node, serial = %held.serial,
                            not_after = %held.not_after, %error, retry_in = ?wait,
                            "cannot renew the node certificate");
                    }
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + seconds, 0).expect("time")
    }

    #[test]
    fn a_certificate_is_renewed_between_70_and_90_percent_of_its_life() {
        let (start, end) = (at(0), at(1000));
        assert_eq!(renewal_deadline(start, end, 0.0), at(700));
        assert_eq!(renewal_deadline(start, end, 1.0), at(900));
        assert_eq!(renewal_deadline(start, end, 0.5), at(800));
        // Out-of-range draws stay in the window.
        assert_eq!(renewal_deadline(start, end, -3.0), at(700));
        assert_eq!(renewal_deadline(start, end, 7.0), at(900));
        // Random draws spread over the window, always before the end.
        let deadlines: Vec<DateTime<Utc>> = (0..1000)
            .map(|_| renewal_deadline(start, end, rand::random::<f64>()))
            .collect();
        assert!(deadlines.iter().all(|d| *d >= at(700) && *d <= at(900)));
        assert!(deadlines.iter().any(|d| *d < at(750)));
        assert!(deadlines.iter().any(|d| *d > at(850)));
        // A 30 s certificate backdated 3 s (as the control plane signs them) is renewed 20 to
        // 27 s after it was signed, before it ends.
        assert_eq!(
            renewal_deadline(at(-3), at(30), 0.0),
            at(-3) + chrono::Duration::milliseconds(23_100)
        );
        assert_eq!(
            renewal_deadline(at(-3), at(30), 1.0),
            at(-3) + chrono::Duration::milliseconds(29_700)
        );
    }

    #[test]
    fn failed_renewals_are_retried_with_a_doubling_capped_delay() {
        let year = Duration::from_secs(365 * 86_400);
        let delays: Vec<u64> = (0..12).map(|a| retry_delay(a, year).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
        // A short-lived certificate retries within a tenth of its life, at least each second.
        let short = Duration::from_secs(30);
        let delays: Vec<u64> = (0..4).map(|a| retry_delay(a, short).as_secs()).collect();
        assert_eq!(delays, [1, 2, 3, 3]);
        assert_eq!(retry_delay(u32::MAX, Duration::ZERO), FIRST_RETRY);
    }
}
