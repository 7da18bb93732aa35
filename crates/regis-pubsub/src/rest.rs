//! Pub/Sub's REST API (v1), JSON over HTTP: to `https://pubsub.googleapis.com` with an OAuth2
//! access token from the metadata server (Cloud Run, GKE, Compute Engine give one to their
//! service account), or over plain HTTP to the emulator (`PUBSUB_EMULATOR_HOST`), which takes
//! no token.

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Where requests go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Endpoint {
    /// The emulator at `host:port` (no TLS, no token).
    Emulator(String),
    /// Google's servers, authorised by tokens from the metadata server at this host
    /// (`metadata.google.internal`, or `GCE_METADATA_HOST`).
    Google {
        /// The metadata server's `host[:port]`.
        metadata_host: String,
    },
}

impl Endpoint {
    /// The emulator when `PUBSUB_EMULATOR_HOST` is set (as Google's client libraries do),
    /// otherwise Google's servers with the metadata server (`GCE_METADATA_HOST`, else
    /// `metadata.google.internal`).
    pub fn from_env() -> Endpoint {
        let variable = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        match variable("PUBSUB_EMULATOR_HOST") {
            Some(host) => Endpoint::Emulator(host.trim().to_string()),
            None => Endpoint::Google {
                metadata_host: variable("GCE_METADATA_HOST").unwrap_or_else(|| "metadata.google.internal".into()),
            },
        }
    }

    fn base(&self) -> String {
        match self {
            Endpoint::Emulator(host) => format!("http://{host}/v1"),
            Endpoint::Google { .. } => "https://pubsub.googleapis.com/v1".to_string(),
        }
    }
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// No answer (refused, reset, timed out).
    #[error("Pub/Sub did not answer: {0}")]
    Transport(String),
    /// An error status, with Google's message.
    #[error("Pub/Sub answered {status}: {message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// `error.message` of the answer, or its body.
        message: String,
    },
    /// No access token.
    #[error("no Google access token from the metadata server at {host} ({reason}); off Google Cloud, set PUBSUB_EMULATOR_HOST for the emulator (service-account key files are not supported)")]
    Token {
        /// The metadata server.
        host: String,
        /// Why.
        reason: String,
    },
}

impl RestError {
    /// Whether the request may succeed if tried again (no answer, or a 429 or 5xx).
    pub fn is_transient(&self) -> bool {
        match self {
            RestError::Transport(_) | RestError::Token { .. } => true,
            RestError::Status { status, .. } => *status == 429 || *status >= 500,
        }
    }
}

/// The largest answer read (a pull of a few envelopes is far smaller).
const ANSWER_LIMIT: usize = 16 * 1024 * 1024;
/// How long one request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// A token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(60);

/// An HTTP(S) client: TLS by rustls with the web's roots, HTTP/1.1.
pub(crate) type Https = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// A new [`Https`] client.
pub(crate) fn https_client() -> Https {
    use hyper_rustls::ConfigBuilderExt;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = rustls::ClientConfig::builder().with_webpki_roots().with_no_client_auth();
    let https = hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls).https_or_http().enable_http1().build();
    Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

/// A client of the REST API.
pub(crate) struct Rest {
    endpoint: Endpoint,
    base: String,
    client: Https,
    token: Mutex<Option<(String, Instant)>>,
}

impl Rest {
    /// A client for `endpoint`.
    pub(crate) fn new(endpoint: Endpoint) -> Rest {
        Rest { base: endpoint.base(), endpoint, client: https_client(), token: Mutex::new(None) }
    }

    /// `method` on `path` (below `/v1/`), with a JSON body; the JSON answer (`{}` when empty).
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, RestError> {
        self.call_within(method, path, body, REQUEST_TIMEOUT).await
    }

    /// [`Rest::call`] that may take up to `timeout` (a pull, which Google holds open while the
    /// subscription is empty).
    pub(crate) async fn call_within(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        timeout: Duration,
    ) -> Result<Value, RestError> {
        let mut request = Request::builder().method(method).uri(format!("{}/{path}", self.base));
        if let Some(token) = self.token().await? {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let payload = body.map(Value::to_string).unwrap_or_default();
        let request = request
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(payload)))
            .map_err(|e| RestError::Transport(e.to_string()))?;
        let (status, bytes) = self.send(request, timeout).await?;
        let answer: Value = if bytes.is_empty() {
            Value::Object(Default::default())
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if !(200..300).contains(&status) {
            let message = answer["error"]["message"].as_str().map(str::to_string).unwrap_or_else(|| answer.to_string());
            return Err(RestError::Status { status, message });
        }
        Ok(answer)
    }

    async fn send(&self, request: Request<Full<Bytes>>, timeout: Duration) -> Result<(u16, Bytes), RestError> {
        let response = tokio::time::timeout(timeout, self.client.request(request))
            .await
            .map_err(|_| RestError::Transport(format!("no answer within {timeout:?}")))?
            .map_err(|e| RestError::Transport(e.to_string()))?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| RestError::Transport(format!("reading the answer: {e}")))?
            .to_bytes();
        Ok((status, bytes))
    }

    /// The access token to send, renewed from the metadata server when it nears its expiry;
    /// none for the emulator.
    async fn token(&self) -> Result<Option<String>, RestError> {
        let Endpoint::Google { metadata_host } = &self.endpoint else { return Ok(None) };
        if let Some((token, until)) = lock(&self.token).as_ref() {
            if Instant::now() < *until {
                return Ok(Some(token.clone()));
            }
        }
        let failed = |reason: String| RestError::Token { host: metadata_host.clone(), reason };
        let url = format!("http://{metadata_host}/computeMetadata/v1/instance/service-accounts/default/token");
        let request = Request::get(url)
            .header("metadata-flavor", "Google")
            .body(Full::new(Bytes::new()))
            .map_err(|e| failed(e.to_string()))?;
        let (status, bytes) = self.send(request, REQUEST_TIMEOUT).await.map_err(|e| failed(e.to_string()))?;
        if status != 200 {
            return Err(failed(format!("HTTP {status}")));
        }
        let answer: Value = serde_json::from_slice(&bytes).map_err(|e| failed(format!("not JSON: {e}")))?;
        let token = answer["access_token"].as_str().ok_or_else(|| failed("no access_token".into()))?.to_string();
        let lifetime = Duration::from_secs(answer["expires_in"].as_u64().unwrap_or(0));
        *lock(&self.token) = Some((token.clone(), Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN)));
        Ok(Some(token))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A metadata server and a Pub/Sub API on loopback: the token asked for once, then sent.
    #[tokio::test]
    async fn google_requests_carry_a_token_from_the_metadata_server_renewed_before_expiry() {
        use axum::routing::{get, post};
        let tokens = Arc::new(AtomicUsize::new(0));
        let issued = Arc::clone(&tokens);
        let metadata = axum::Router::new().route(
            "/computeMetadata/v1/instance/service-accounts/default/token",
            get(move |headers: axum::http::HeaderMap| {
                let issued = Arc::clone(&issued);
                async move {
                    if headers.get("metadata-flavor").and_then(|v| v.to_str().ok()) != Some("Google") {
                        return (axum::http::StatusCode::FORBIDDEN, String::new());
                    }
                    let n = issued.fetch_add(1, Ordering::SeqCst) + 1;
                    // The second token is short-lived: inside the renewal margin at once.
                    let expires = if n == 1 { 3599 } else { 30 };
                    let body = serde_json::json!({ "access_token": format!("token-{n}"), "expires_in": expires, "token_type": "Bearer" });
                    (axum::http::StatusCode::OK, body.to_string())
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, metadata).await.unwrap() });
        let rest = Rest::new(Endpoint::Google { metadata_host: host.clone() });
        assert_eq!(rest.token().await.unwrap().as_deref(), Some("token-1"));
        assert_eq!(rest.token().await.unwrap().as_deref(), Some("token-1"), "kept while valid");
        assert_eq!(tokens.load(Ordering::SeqCst), 1);
        // Expired: the next call asks again.
        lock(&rest.token).as_mut().unwrap().1 = Instant::now();
        assert_eq!(rest.token().await.unwrap().as_deref(), Some("token-2"));
        assert_eq!(rest.token().await.unwrap().as_deref(), Some("token-3"), "a token inside the margin is renewed");

        // The token reaches the API as a bearer token (here a stand-in API on loopback).
        let seen = Arc::new(Mutex::new(None::<String>));
        let saw = Arc::clone(&seen);
        let api = axum::Router::new().route(
            "/v1/{*rest}",
            post(move |headers: axum::http::HeaderMap| {
                let saw = Arc::clone(&saw);
                async move {
                    *lock(&saw) = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
                    "{}"
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let api_host = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });
        let mut rest = Rest::new(Endpoint::Google { metadata_host: host });
        rest.base = format!("http://{api_host}/v1");
        rest.call(Method::POST, "projects/p/topics/t:publish", Some(&serde_json::json!({}))).await.unwrap();
        assert_eq!(lock(&seen).as_deref(), Some("Bearer token-4"));
    }

    #[tokio::test]
    async fn without_a_metadata_server_the_error_says_what_to_do() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let rest = Rest::new(Endpoint::Google { metadata_host: format!("127.0.0.1:{port}") });
        let error = rest.call(Method::GET, "projects/p/topics", None).await.unwrap_err();
        assert!(matches!(error, RestError::Token { .. }), "{error}");
        assert!(error.to_string().contains("PUBSUB_EMULATOR_HOST"), "{error}");
    }
}
