//! Files attached to messages: fetched from Discord's CDN, and only from there (or from the
//! host `api_url` names when it is not Discord: a proxy or a test server), so that a URL in a
//! payload can never make the bot fetch from elsewhere.

use super::global_limit::{https_client, Upstream};
use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Limited};
use regis_core::{ConnectorError, FileRef};
use std::sync::OnceLock;
use std::time::Duration;

/// Discord's attachment hosts.
const DISCORD_CDN: [&str; 2] = ["https://cdn.discordapp.com", "https://media.discordapp.net"];
/// The longest a download may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches attachments from the allowed hosts.
pub(crate) struct Files {
    /// `scheme://host[:port]` origins files may come from.
    origins: Vec<String>,
    client: OnceLock<Upstream>,
}

fn origin(uri: &Uri) -> Option<String> {
    Some(format!("{}://{}", uri.scheme_str()?, uri.authority()?.as_str()))
}

impl Files {
    /// Discord's CDN, and `api_url`'s host when it is not Discord's.
    pub(crate) fn new(api_url: &str) -> Self {
        let mut origins: Vec<String> = DISCORD_CDN.iter().map(|o| o.to_string()).collect();
        if let Some(api) = api_url.parse::<Uri>().ok().as_ref().and_then(origin) {
            if api != "https://discord.com" {
                origins.push(api);
            }
        }
        Files { origins, client: OnceLock::new() }
    }

    /// The bytes of `file`, refused when it is not on an allowed host or is over `limit`.
    pub(crate) async fn download(&self, file: &FileRef, limit: u64) -> Result<Vec<u8>, ConnectorError> {
        if file.size > limit {
            return Err(ConnectorError::Failed(format!("{} is {} bytes, more than {limit}", file.name, file.size)));
        }
        let uri: Uri =
            file.url.parse().map_err(|_| ConnectorError::Failed(format!("{} has no usable address", file.name)))?;
        if !origin(&uri).is_some_and(|o| self.origins.contains(&o)) {
            return Err(ConnectorError::Failed(format!("{} is not on Discord's CDN; not fetched", file.name)));
        }
        let request = Request::builder()
            .method(Method::GET)
            .uri(uri)
            .header(header::USER_AGENT, "DiscordBot (https://github.com/regis-bot/regis, 0.1)")
            .body(Body::empty())
            .map_err(|e| ConnectorError::Failed(e.to_string()))?;
        let client = self.client.get_or_init(https_client);
        let fetch = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| ConnectorError::Unavailable(format!("fetching {}: {e}", file.name)))?;
            match response.status() {
                StatusCode::OK => {}
                s if s.is_server_error() => {
                    return Err(ConnectorError::Unavailable(format!("fetching {}: {s}", file.name)))
                }
                s => return Err(ConnectorError::NotFound(format!("{} ({s})", file.name))),
            }
            let limit_usize = usize::try_from(limit).unwrap_or(usize::MAX);
            let body = Limited::new(response.into_body(), limit_usize).collect().await.map_err(|e| {
                if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    ConnectorError::Failed(format!("{} is more than {limit} bytes", file.name))
                } else {
                    ConnectorError::Unavailable(format!("fetching {}: {e}", file.name))
                }
            })?;
            Ok(body.to_bytes().to_vec())
        };
        tokio::time::timeout(TIMEOUT, fetch).await.map_err(|_| {
            ConnectorError::Unavailable(format!("fetching {} took over {} s", file.name, TIMEOUT.as_secs()))
        })?
    }
}
