//! The twilight-http client the Gateway connector uses for its own calls (`GET /gateway/bot`,
//! interaction callbacks, application commands). Egress (messages, DMs, edits) goes through
//! [`DiscordConnector`](crate::DiscordConnector), whose client is private to it.

use crate::rest::RestError;
use twilight_http::Client;

/// A client for `api_url` with the bot token, through twilight's rate limiter.
pub(crate) fn client(api_url: &str, token: &str) -> Result<Client, RestError> {
    Ok(crate::rest::client_builder(api_url)?.token(token.to_string()).build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_needs_the_v10_path() {
        assert!(client("ftp://x/api/v10", "t").is_err());
    }
}
