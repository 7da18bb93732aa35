//! Discord's global rate limit, kept for the whole process.
//!
//! twilight-http's rate limiter waits out per-route (bucket) limits and spaces requests to
//! stay under the global 50 requests per second, but when Discord answers 429 with
//! `X-RateLimit-Scope: global` (several processes share the bot token, or the limit is lower
//! than twilight assumes) or with no rate-limit headers at all (a Cloudflare ban after too many
//! invalid requests), twilight retries the request at once. Discord's rules say to send
//! nothing until `Retry-After` has passed, so the twilight client talks to Discord through
//! this gate: a forwarder on a loopback port that relays every request and, after such a 429,
//! holds every request until the wait is over.
//!
//! As on Discord, interaction endpoints (`/interactions/...`, `/webhooks/...`) are not bound
//! by the bot's global limit and pass a global hold; a Cloudflare ban holds everything.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The HTTP client that reaches Discord (or whatever `api_url` names).
type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// Wait used when a 429 says neither `Retry-After` nor `retry_after`.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// Headers of one connection, not of the request (and `Host`, which names the forwarder): not
/// relayed, so that each side frames its own connection (HTTP/2 to Discord forbids them).
const HOP_BY_HOP: [header::HeaderName; 7] = [
    header::HOST,
    header::CONNECTION,
    header::TRANSFER_ENCODING,
    header::TE,
    header::UPGRADE,
    header::PROXY_AUTHORIZATION,
    header::HeaderName::from_static("keep-alive"),
];

/// Largest 429 body read to find `retry_after`.
const MAX_429_BODY: usize = 64 * 1024;

/// Why the gate could not start.
#[derive(Debug, thiserror::Error)]
pub enum GateError {
    /// It was started outside a Tokio runtime.
    #[error("the Discord REST client must be created inside a Tokio runtime")]
    NoRuntime,
    /// The loopback port could not be opened.
    #[error("cannot open a loopback port for the Discord REST client: {0}")]
    Bind(#[from] std::io::Error),
}

/// Until when requests are held.
#[derive(Default)]
struct Holds {
    /// Requests counted against the bot's global limit (not interaction endpoints).
    bot: Option<Instant>,
    /// Every request (a 429 without rate-limit headers: Cloudflare's ban).
    everything: Option<Instant>,
}

struct GateState {
    /// `http://HOST` or `https://HOST` of the API URL.
    origin: String,
    upstream: OnceLock<Upstream>,
    holds: Mutex<Holds>,
    global_limits: AtomicU64,
}

/// A running gate; dropping it stops the forwarder.
pub(crate) struct GlobalLimitGate {
    addr: SocketAddr,
    state: Arc<GateState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GlobalLimitGate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GlobalLimitGate {
    /// Starts a gate in front of `origin` (`https://discord.com`, `http://127.0.0.1:9000`) on a
    /// free loopback port.
    pub(crate) fn start(origin: String) -> Result<Self, GateError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| GateError::NoRuntime)?;
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = {
            let _entered = runtime.enter();
            tokio::net::TcpListener::from_std(listener)?
        };
        let state = Arc::new(GateState {
            origin,
            upstream: OnceLock::new(),
            holds: Mutex::new(Holds::default()),
            global_limits: AtomicU64::new(0),
        });
        let app = Router::new().fallback(forward).with_state(Arc::clone(&state));
        let task = runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Discord REST gate stopped");
            }
        });
        Ok(GlobalLimitGate { addr, state, task })
    }

    /// `127.0.0.1:PORT`, the host twilight-http sends to.
    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }

    /// 429s that held every request (global scope, or no rate-limit headers).
    pub(crate) fn global_limits(&self) -> u64 {
        self.state.global_limits.load(Ordering::Relaxed)
    }
}

/// Whether Discord exempts `path` (`/api/v10/...`) from the bot's global limit.
fn is_interaction(path: &str) -> bool {
    let path = path.strip_prefix("/api/v10/").unwrap_or(path.trim_start_matches('/'));
    path.starts_with("webhooks") || path.starts_with("interactions")
}

/// What a 429 holds, by its headers.
#[derive(Debug, PartialEq, Eq)]
enum Hold {
    /// A route's limit: twilight's rate limiter waits it out; nothing to hold here.
    Route,
    /// The bot's global limit.
    Bot,
    /// No rate-limit headers: Cloudflare's ban of the IP address.
    Everything,
}

fn hold_of(headers: &HeaderMap) -> Hold {
    let scope = headers.get("x-ratelimit-scope").map(HeaderValue::as_bytes);
    let global = headers.get("x-ratelimit-global").is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"true"));
    match scope {
        _ if global => Hold::Bot,
        Some(b"global") => Hold::Bot,
        Some(_) => Hold::Route,
        None if headers.contains_key("x-ratelimit-bucket") => Hold::Route,
        None => Hold::Everything,
    }
}

/// The wait a 429 asks for: `retry_after` in the JSON body (seconds, with a fraction), else
/// the `Retry-After` header (whole seconds).
fn wait_of(headers: &HeaderMap, body: &[u8]) -> Duration {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64));
    let from_header =
        || headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok());
    from_body
        .or_else(from_header)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(24.0 * 3600.0)))
        .unwrap_or(DEFAULT_WAIT)
}

impl GateState {
    fn upstream(&self) -> &Upstream {
        self.upstream.get_or_init(|| {
            use hyper_rustls::ConfigBuilderExt;
            crate::install_crypto_provider();
            let tls = rustls::ClientConfig::builder().with_webpki_roots().with_no_client_auth();
            let https = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .enable_http2()
                .build();
            Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
        })
    }

    /// Waits until no hold applies to a request of this kind.
    async fn wait_open(&self, interaction: bool) {
        loop {
            let until = {
                let holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
                let bot = if interaction { None } else { holds.bot };
                bot.max(holds.everything)
            };
            match until {
                Some(until) if until > Instant::now() => tokio::time::sleep_until(until).await,
                _ => return,
            }
        }
    }

    fn hold(&self, hold: &Hold, wait: Duration) {
        let until = Instant::now() + wait;
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let slot = if *hold == Hold::Everything { &mut holds.everything } else { &mut holds.bot };
        *slot = (*slot).max(Some(until));
    }
}

async fn forward(State(gate): State<Arc<GateState>>, mut request: Request) -> Response {
    let interaction = is_interaction(request.uri().path());
    // For log lines: interaction tokens are secrets.
    let path = crate::redact_tokens(request.uri().path());
    gate.wait_open(interaction).await;
    let target = format!("{}{}", gate.origin, request.uri().path_and_query().map_or("/", |p| p.as_str()));
    match target.parse::<Uri>() {
        Ok(uri) => *request.uri_mut() = uri,
        Err(e) => return bad_gateway(&format!("bad upstream URL {target}: {e}")),
    }
    for name in HOP_BY_HOP {
        request.headers_mut().remove(name);
    }
    let response = match gate.upstream().request(request).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, path = %path, "cannot reach Discord");
            return bad_gateway(&format!("cannot reach Discord: {e}"));
        }
    };
    let (mut parts, body) = response.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    if parts.status != StatusCode::TOO_MANY_REQUESTS {
        return Response::from_parts(parts, Body::new(body));
    }
    let hold = hold_of(&parts.headers);
    let bytes = match http_body_util::Limited::new(body, MAX_429_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Default::default(),
    };
    if hold != Hold::Route {
        let wait = wait_of(&parts.headers, &bytes);
        gate.global_limits.fetch_add(1, Ordering::Relaxed);
        let hold = if interaction { Hold::Everything } else { hold };
        tracing::warn!(path = %path, wait_ms = wait.as_millis() as u64, scope = ?hold, "Discord's global rate limit: holding requests until it resets");
        gate.hold(&hold, wait);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

fn bad_gateway(message: &str) -> Response {
    let body = serde_json::json!({ "message": message, "code": 0 });
    (StatusCode::BAD_GATEWAY, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn scopes_of_a_429() {
        assert_eq!(hold_of(&headers(&[("x-ratelimit-scope", "global"), ("x-ratelimit-global", "true")])), Hold::Bot);
        assert_eq!(hold_of(&headers(&[("x-ratelimit-global", "true")])), Hold::Bot);
        assert_eq!(hold_of(&headers(&[("x-ratelimit-scope", "user"), ("x-ratelimit-bucket", "b")])), Hold::Route);
        assert_eq!(hold_of(&headers(&[("x-ratelimit-scope", "shared")])), Hold::Route);
        assert_eq!(hold_of(&headers(&[("retry-after", "3600")])), Hold::Everything);
    }

    #[test]
    fn waits_prefer_the_precise_body() {
        let h = headers(&[("retry-after", "65")]);
        assert_eq!(wait_of(&h, br#"{"retry_after": 64.57, "global": true}"#), Duration::from_secs_f64(64.57));
        assert_eq!(wait_of(&h, b"<html>banned</html>"), Duration::from_secs(65));
        assert_eq!(wait_of(&HeaderMap::new(), br#"{"retry_after": -1}"#), DEFAULT_WAIT);
        assert_eq!(wait_of(&HeaderMap::new(), b""), DEFAULT_WAIT);
    }

    #[test]
    fn interaction_endpoints_are_exempt() {
        assert!(is_interaction("/api/v10/interactions/1/tok/callback"));
        assert!(is_interaction("/api/v10/webhooks/1/tok/messages/@original"));
        assert!(!is_interaction("/api/v10/channels/1/messages"));
    }

    #[tokio::test]
    async fn outside_a_runtime_it_says_so() {
        assert!(GlobalLimitGate::start("http://127.0.0.1:9".into()).is_ok());
        let outside = std::thread::spawn(|| GlobalLimitGate::start("http://127.0.0.1:9".into()).err()).join().unwrap();
        assert!(matches!(outside, Some(GateError::NoRuntime)));
    }
}
