//! Regis over Google Cloud Pub/Sub: the envelope queue of a scaled-out bot, pulled by the
//! workers ([`PubSubQueue`]) or pushed to them ([`PushQueue`], Cloud Run's model, each push
//! checked by its OIDC token), over Pub/Sub's REST API with the emulator
//! (`PUBSUB_EMULATOR_HOST`) or Google's servers (tokens from the metadata server).
//!
//! The REST API over the workspace's own HTTP client, rather than a gRPC client library: the
//! calls are few (publish, pull, acknowledge, modify the ack deadline, create), JSON over
//! HTTP/1.1 is what the emulator and Google both speak, and it adds no gRPC stack to the build.

#![deny(missing_docs)]

mod oidc;
mod push;
mod queue;
mod rest;

pub use oidc::{OidcConfig, OidcError, OidcVerifier, GOOGLE_CERTS_URL};
pub use push::{PushConfig, PushQueue};
pub use queue::{DeadLetter, PubSubConfig, PubSubError, PubSubQueue, DEAD_REASON, ENVELOPE_ID};
pub use rest::{Endpoint, RestError};
