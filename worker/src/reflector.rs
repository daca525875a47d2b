//! The node's caches of the API objects it follows (pods, services, ingresses, nodes): each a
//! [`wasmpod_api::cache`] store kept current by its own list-watch task, with backoff when the
//! control plane cannot be reached. Readers (pod manager, routing table, certificates) hold the
//! store's read handles and await its readiness.

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use wasmpod_api::cache::{self, BackoffPolicy, Store};
use wasmpod_api::{Client, Resource};

/// Starts following every `T` through `client` until `shutdown`: the cache's read handle, and
/// the task that fills it.
pub fn follow<T: Resource>(
    client: &Client,
    shutdown: &CancellationToken,
) -> (Store<T>, JoinHandle<()>) {
    let (store, writer) = cache::store::<T>(T::KIND);
    let task = tokio::spawn(cache::reflect(
        writer,
        client.clone(),
        BackoffPolicy::default(),
        shutdown.clone().cancelled_owned(),
    ));
    (store, task)
}
