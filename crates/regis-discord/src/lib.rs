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
mod remote;
pub mod rest;
pub mod signature;

pub use interactions::{
    first_response, read_interaction, FirstResponse, Incoming, InteractionsConfig, InteractionsServer, Pending,
};
pub use rest::{DiscordConnector, RestConfig, RestError};
pub use signature::{SignatureError, SignatureVerifier};

/// The connector name of Discord envelopes.
pub const CONNECTOR: &str = "discord";

/// Installs the rustls crypto provider twilight-http needs (idempotent).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Replaces the token segment of Discord's interaction routes (`interactions/{id}/{token}`,
/// `webhooks/{application}/{token}`) with `<token>`: interaction tokens are secrets, and
/// request paths (in twilight-http's spans, in Regis' own log lines) hold them.
pub fn redact_tokens(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut countdown = 0u8;
    for (i, part) in text.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if countdown == 1 {
            // `\` too: in JSON text a quote after the token is escaped.
            let end = part.find(|c: char| c == '"' || c == '?' || c == '\\' || c.is_whitespace()).unwrap_or(part.len());
            out.push_str("<token>");
            out.push_str(&part[end..]);
            countdown = 0;
            continue;
        }
        countdown = countdown.saturating_sub(1);
        out.push_str(part);
        if part.ends_with("interactions") || part.ends_with("webhooks") {
            countdown = 2;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redact_tokens;

    #[test]
    fn interaction_tokens_are_redacted() {
        assert_eq!(redact_tokens("\"interactions/77/aW50ZXJh/callback\""), "\"interactions/77/<token>/callback\"");
        assert_eq!(redact_tokens("/api/v10/webhooks/1/tok?wait=true"), "/api/v10/webhooks/1/<token>?wait=true");
        assert_eq!(redact_tokens("webhooks/1/tok"), "webhooks/1/<token>");
        assert_eq!(redact_tokens("http://127.0.0.1:8080/interactions"), "http://127.0.0.1:8080/interactions");
        assert_eq!(redact_tokens("channels/1/messages"), "channels/1/messages");
        // Inside JSON text, the escaped quote after the token stays.
        assert_eq!(redact_tokens(r#"{"path":"webhooks/1/tok\"x"}"#), r#"{"path":"webhooks/1/<token>\"x"}"#);
    }
}
