//! The twilight-http client the Gateway connector uses for its own calls (`GET /gateway/bot`,
//! interaction callbacks, application commands). Egress (messages, DMs, edits) goes through
//! [`DiscordConnector`](crate::DiscordConnector), whose client is private to it.

use crate::rest::RestError;
use std::time::Duration;
use twilight_http::Client;

/// Splits `http(s)://HOST/api/v10` into the host and whether it is plain http.
pub(crate) fn split_api_url(url: &str) -> Result<(String, bool), RestError> {
    let bad = || RestError::BadApiUrl(url.to_string());
    let (rest, use_http) = if let Some(r) = url.strip_prefix("https://") {
        (r, false)
    } else if let Some(r) = url.strip_prefix("http://") {
        (r, true)
    } else {
        return Err(bad());
    };
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    if host.is_empty() || path.trim_end_matches('/') != "api/v10" {
        return Err(bad());
    }
    Ok((host.to_string(), use_http))
}

/// A client for `api_url` with the bot token, through twilight's rate limiter.
pub(crate) fn client(api_url: &str, token: &str) -> Result<Client, RestError> {
    crate::install_crypto_provider();
    let (host, use_http) = split_api_url(api_url)?;
    let mut builder = Client::builder().timeout(Duration::from_secs(10)).token(token.to_string());
    if host != "discord.com" {
        builder = builder.proxy(host, use_http);
    }
    Ok(builder.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_needs_the_v10_path() {
        assert_eq!(split_api_url("http://127.0.0.1:9/api/v10").unwrap(), ("127.0.0.1:9".into(), true));
        assert!(split_api_url("https://discord.com/api/v9").is_err());
        assert!(client("ftp://x/api/v10", "t").is_err());
    }
}
