//! The seams for what must hold across every process of a bot (scale-out): each decision the
//! dispatcher takes that another worker must see is made through a trait here, with an
//! in-process implementation (for `regis run`, the console and tests) beside it; shared ones
//! (PostgreSQL, NATS) implement the same traits in their own crates. Memory is then only
//! ever a cache of the shared truth.

pub mod dedupe;

pub use dedupe::{Claim, Dedupe, InProcessDedupe};

/// A shared-state backend failed; the dispatcher delivers the envelope again later.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("shared state unavailable: {0}")]
pub struct StateError(pub String);
