//! Regis over NATS JetStream.
pub mod queue;

pub use queue::{JetStreamConfig, JetStreamError, JetStreamQueue};
pub use state::{connect_state, DEFAULT_CLAIM_TTL};

pub mod state;
