//! Discord for Regis.
//!
//! - [`interactions`]: the HTTP interactions endpoint (axum): Ed25519 signature check, PING,
//!   slash commands turned into envelopes, and the 3-second deadline kept by answering inline
//!   when the handler is quick and deferring otherwise.
//! - [`DiscordConnector`]: egress through Discord's REST API on twilight-http (interaction
//!   responses, follow-ups and edits; channel messages and DMs with a bot token), with retries
//!   within the interaction token's 15-minute lifetime.
//! - [`signature`]: the signature check on its own.
//! - [`gateway`]: the Gateway connector on twilight-gateway (messages, slash commands over
//!   the Gateway, resume, fatal close codes) and slash-command sync.

pub mod convert;
pub mod gateway;
pub mod interactions;
mod pending;
pub mod rest;
pub mod signature;

pub use interactions::{first_response, FirstResponse, InteractionsConfig, InteractionsServer, Pending};
pub use rest::{DiscordConnector, RestConfig, RestError};
pub use signature::{SignatureError, SignatureVerifier};

/// The connector name of Discord envelopes.
pub const CONNECTOR: &str = "discord";

/// Installs the rustls crypto provider twilight-http needs (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
