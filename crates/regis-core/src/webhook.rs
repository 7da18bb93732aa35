//! Webhooks in: an HTTP request to `POST /hooks/<plugin>/<name>`, authenticated and queued as
//! an envelope, handled by the plugin's `#[webhook("name")]` handler on any worker.

use serde::de::DeserializeOwned;
use std::collections::BTreeMap;

/// What a webhook handler gets: the request's headers and body, as the sender sent them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WebhookRequest {
    /// The hook's name (`deploy` of `/hooks/ops/deploy`).
    pub hook: String,
    /// The request headers, names in lowercase (a header sent twice: its values joined by
    /// `, `); the authentication headers are left out.
    pub headers: BTreeMap<String, String>,
    /// The raw body (UTF-8 text: JSON, form data, plain text).
    pub body: String,
}

impl WebhookRequest {
    /// A header's value (`name` in any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }

    /// The body read as JSON into `T`.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.body)
    }
}
