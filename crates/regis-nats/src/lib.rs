//! Regis over NATS: the envelope queue on JetStream, the shared state (key-value buckets and
//! subjects), and the rendezvous of ingress and workers (request-reply).
pub mod queue;
pub mod rendezvous;
pub mod state;

pub use queue::{JetStreamConfig, JetStreamError, JetStreamQueue};
pub use rendezvous::{NatsRendezvous, RendezvousStartError};
pub use state::{connect_state, DEFAULT_CLAIM_TTL};
