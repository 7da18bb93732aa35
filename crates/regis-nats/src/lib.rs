//! Regis over NATS JetStream.
pub mod queue;

pub use queue::{JetStreamConfig, JetStreamError, JetStreamQueue};
