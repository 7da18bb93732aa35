//! The seams for what must hold across every process of a bot (scale-out): each decision the
//! dispatcher takes that another worker must see is made through a trait here, with an
//! in-process implementation (for `regis run`, the console and tests) beside it; shared ones
//! (PostgreSQL, NATS) implement the same traits in their own crates. Memory is then only
//! ever a cache of the shared truth.

pub mod changes;
pub mod cooldowns;
pub mod dedupe;
pub mod events;
pub mod rate_limit;
pub mod rendezvous;
pub mod slots;

pub use changes::{Change, ChangeFeed, InProcessChanges};
pub use cooldowns::{CooldownCounters, InProcessCooldowns};
pub use dedupe::{Claim, Dedupe, HeldClaims, InProcessDedupe};
pub use events::{EventFanout, InProcessEvents};
pub use rate_limit::SharedRateLimit;
pub use rendezvous::{Answerer, InProcessRendezvous, NoReplyRendezvous, Rendezvous, RendezvousError};
pub use slots::SharedSlots;

use std::sync::Arc;

/// The shared state a bot decides with: one implementation of each seam.
#[derive(Clone)]
pub struct SharedState {
    /// Redelivery records.
    pub dedupe: Arc<dyn Dedupe>,
    /// Cooldown counters.
    pub cooldowns: Arc<dyn CooldownCounters>,
    /// Rank and plugin-switch changes.
    pub changes: Arc<dyn ChangeFeed>,
    /// Events to live subscriptions.
    pub events: Arc<dyn EventFanout>,
}

impl SharedState {
    /// Everything in this process's memory (`regis run`, the console, tests); `dedup_window`
    /// answered envelopes are remembered.
    pub fn in_process(dedup_window: usize) -> Self {
        SharedState {
            dedupe: Arc::new(InProcessDedupe::new(dedup_window)),
            cooldowns: Arc::new(InProcessCooldowns::default()),
            changes: Arc::new(InProcessChanges::default()),
            events: Arc::new(InProcessEvents::new(1024)),
        }
    }
}

/// A shared-state backend failed; the dispatcher delivers the envelope again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shared state unavailable: {0}")]
pub struct StateError(pub String);
