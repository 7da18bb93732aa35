//! Regis over NATS: the envelope queue on JetStream, the shared state (key-value buckets and
//! subjects), the rendezvous of ingress and workers (request-reply), and the request rate all
//! workers share (Discord's global limit), and the relay through which workers use a connector
//! whose connection another process holds (IRC).
pub mod queue;
pub mod rate_limit;
pub mod relay;
pub mod rendezvous;
pub mod slots;
pub mod state;

pub use queue::{JetStreamConfig, JetStreamError, JetStreamQueue};
pub use rate_limit::NatsRateLimit;
pub use relay::{ConnectorRelay, RelayStartError, RemoteConnector, RELAY_TIMEOUT};
pub use rendezvous::{NatsRendezvous, RendezvousStartError};
pub use slots::NatsSlots;
pub use state::{connect_state, shared_state, DEFAULT_CLAIM_TTL};
