//! A server's session: one etcd lease, renewed by this process. The server's membership record
//! and, while it leads, the leader key are attached to it, so both vanish when the process dies.
//!
//! [`Session::expires`] is a lower bound of when etcd may drop the lease, in this process's
//! clock: each renewal's send time plus the TTL etcd answered. A leader that has not renewed by
//! then must already have stopped.

use super::LeaderError;
use etcd_client::{Client, LeaseKeepAliveStream, LeaseKeeper};
use std::time::Duration;
use tokio::time::{timeout, Instant};

pub struct Session {
    client: Client,
    endpoints: String,
    lease: i64,
    ttl: Duration,
    stream: Option<(LeaseKeeper, LeaseKeepAliveStream)>,
    expires: Instant,
}

impl Session {
    /// Grants a new lease of `ttl`, waiting at most `wait` for etcd.
    pub async fn grant(
        client: &Client,
        endpoints: &str,
        ttl: Duration,
        wait: Duration,
    ) -> Result<Session, LeaderError> {
        let sent = Instant::now();
        let granted = timeout(
            wait,
            client.lease_client().grant(ttl.as_secs() as i64, None),
        )
        .await
        .map_err(|_| LeaderError::Timeout(wait))?
        .map_err(|source| LeaderError::Etcd {
            endpoints: endpoints.to_string(),
            source,
        })?;
        let ttl = Duration::from_secs(granted.ttl().max(0) as u64);
        tracing::debug!(lease = granted.id(), ?ttl, "etcd lease granted");
        Ok(Session {
            client: client.clone(),
            endpoints: endpoints.to_string(),
            lease: granted.id(),
            ttl,
            stream: None,
            expires: sent + ttl,
        })
    }

    pub fn lease(&self) -> i64 {
        self.lease
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The earliest moment etcd may let the lease expire, unless renewed before.
    pub fn expires(&self) -> Instant {
        self.expires
    }

    pub fn expired(&self) -> bool {
        Instant::now() >= self.expires
    }

    /// Renews the lease, waiting at most `wait`. On success [`Session::expires`] moves to the
    /// send time plus the TTL etcd confirmed; a lease etcd no longer knows is
    /// [`LeaderError::LeaseGone`].
    pub async fn renew(&mut self, wait: Duration) -> Result<(), LeaderError> {
        let sent = Instant::now();
        let ttl = match timeout(wait, self.keep_alive()).await {
            Ok(Ok(ttl)) => ttl,
            Ok(Err(error)) => {
                // A broken stream is opened again on the next renewal.
                self.stream = None;
                return Err(error);
            }
            Err(_) => {
                self.stream = None;
                return Err(LeaderError::Timeout(wait));
            }
        };
        if ttl <= 0 {
            self.expires = sent;
            return Err(LeaderError::LeaseGone(self.lease));
        }
        self.expires = self.expires.max(sent + Duration::from_secs(ttl as u64));
        Ok(())
    }

    /// One keep-alive round trip: the TTL etcd answered.
    async fn keep_alive(&mut self) -> Result<i64, LeaderError> {
        let endpoints = self.endpoints.clone();
        let etcd = |source| LeaderError::Etcd {
            endpoints: endpoints.clone(),
            source,
        };
        match &mut self.stream {
            Some((keeper, stream)) => {
                keeper.keep_alive().await.map_err(etcd)?;
                match stream.message().await.map_err(etcd)? {
                    Some(answer) => Ok(answer.ttl()),
                    None => Err(LeaderError::LeaseGone(self.lease)),
                }
            }
            None => {
                // Opening the stream sends a first keep-alive and checks its answer (TTL > 0),
                // which renews the lease to its full TTL.
                let opened = self.client.lease_client().keep_alive(self.lease).await;
                match opened {
                    Ok(pair) => {
                        self.stream = Some(pair);
                        Ok(self.ttl.as_secs() as i64)
                    }
                    Err(etcd_client::Error::LeaseKeepAliveError(_)) => Ok(0),
                    Err(source) => Err(etcd(source)),
                }
            }
        }
    }

    /// Gives the lease back (its keys go at once), waiting at most `wait`.
    pub async fn revoke(self, wait: Duration) {
        let revoked = timeout(wait, self.client.lease_client().revoke(self.lease)).await;
        match revoked {
            Ok(Ok(_)) => tracing::debug!(lease = self.lease, "etcd lease revoked"),
            Ok(Err(error)) => {
                tracing::warn!(lease = self.lease, %error, "cannot revoke the etcd lease; it expires by itself")
            }
            Err(_) => tracing::warn!(
                lease = self.lease,
                "etcd did not answer the lease revocation; it expires by itself"
            ),
        }
    }
}
