//! The watch cache every part of wasmpod reads through: a decoded, always-current copy of one
//! kind of object, shaped like kube-runtime's reflector.
//!
//! - [`Writer`]: the one writer. It takes a complete list ([`Writer::replace`]) and the changes
//!   after it ([`Writer::apply`]); a change no newer than the list is already in it and is ignored.
//! - [`Store`]: cheap read handles (clone freely). Objects are decoded once, when they arrive,
//!   and shared as `Arc<T>`: a pass over 10,000 pods copies pointers, not documents.
//!   [`Store::ready`] resolves once the first list has landed; [`Store::subscribe`] wakes on
//!   every change.
//! - [`reflect`]: keeps a writer current from the API (workers): list, then watch from the
//!   list's revision; a broken stream resumes, `410 Gone` lists again, failures back off
//!   ([`Backoff`]). The control plane feeds its writers from its own ingest instead.
//!
//! This module knows the API types and the client, nothing of the store or wasmtime.

mod backoff;
mod reflect;
mod store;

pub use backoff::{Backoff, BackoffPolicy};
pub use reflect::{reflect, ListWatch, WatchStream};
pub use store::{store, Store, Writer};
