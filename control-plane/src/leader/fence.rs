//! The fence of one leadership term. The gate makes one each time this server starts leading
//! on etcd, and the controllers of that term write through a registry carrying it
//! ([`crate::registry::Registry::fenced`]): every batch they commit states the term
//! ([`crate::store::Compare::Leader`]), so after this server stalled past its lease (a pause, a
//! stop, a long stall) and another took over, none of its writes lands. The first refused write
//! deposes the term here: it is logged once, every later write of the term fails at once without
//! asking etcd, and the term's controllers stop ([`TermFence::stop`]).
//!
//! The API's writes are not fenced: a person's write is right whichever server takes it.

use crate::store::Fence;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

#[derive(Debug)]
pub struct TermFence {
    fence: Fence,
    /// Cancelled when the term ends (a child of the gate's term token) or is deposed.
    stop: CancellationToken,
    deposed: AtomicBool,
}

impl TermFence {
    /// The fence of a term that ends when `term` is cancelled.
    pub fn new(fence: Fence, term: &CancellationToken) -> TermFence {
        TermFence {
            fence,
            stop: term.child_token(),
            deposed: AtomicBool::new(false),
        }
    }

    pub fn fence(&self) -> &Fence {
        &self.fence
    }

    /// What the term's controllers run under: cancelled when the term ends or a write of it was
    /// fenced off.
    pub fn stop(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Whether a write of this term was refused by the store's fence.
    pub fn is_deposed(&self) -> bool {
        self.deposed.load(Ordering::SeqCst)
    }

    /// Records that the store refused a write of this term: logs it (once) and stops the term's
    /// controllers.
    pub fn depose(&self) {
        if !self.deposed.swap(true, Ordering::SeqCst) {
            tracing::warn!(
                term = self.fence.term,
                key = %self.fence.key,
                "a controller write was refused: this server no longer leads (another server took \
                 over while it stalled); stopping its controllers"
            );
        }
        self.stop.cancel();
    }
}

#[cfg(test)]
mod fence_tests {
    use super::*;

    #[test]
    fn deposing_stops_the_term_and_the_term_end_stops_it_too() {
        let fence = Fence {
            key: "/wasmpod/leader/controllers".into(),
            term: 3,
        };
        let term = CancellationToken::new();
        let fenced = TermFence::new(fence.clone(), &term);
        assert!(!fenced.is_deposed() && !fenced.stop().is_cancelled());
        fenced.depose();
        fenced.depose();
        assert!(fenced.is_deposed() && fenced.stop().is_cancelled());
        assert!(!term.is_cancelled(), "the gate's term token is its own");

        let other = TermFence::new(fence, &term);
        term.cancel();
        assert!(other.stop().is_cancelled() && !other.is_deposed());
    }
}
