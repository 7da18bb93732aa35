//! Discord's global rate limit, kept for the whole process.
//!
//! twilight-http's rate limiter waits out per-route (bucket) limits and spaces requests to
//! stay under the global 50 requests per second, but when Discord answers 429 with
//! `X-RateLimit-Scope: global` (several processes share the bot token, or the limit is lower
//! than twilight assumes) or with no rate-limit headers at all (a Cloudflare ban after too many
//! invalid requests), twilight retries the request at once. Discord's rules say to send
//! nothing until `Retry-After` has passed, so the twilight client talks to Discord through
//! this forwarder on a loopback port that relays every request and, after such a 429,
//! holds every request until the wait is over.
//!
//! The global limit is the bot's: requests without the bot token (interaction callbacks,
//! edits and follow-ups, which Discord exempts from it) pass a global hold. A Cloudflare ban,
//! or a global 429 on such a request (the address's limit, then), holds everything.
//!
//! A request is read whole before it is held (so that one whose client gave up is dropped,
//! not sent late), is held at most [`LONGEST_HOLD`] (longer, and the client would time out
//! and retry: it gets a 503 saying how long the hold lasts instead), and when a hold ends the
//! held requests go out 20 ms apart, within the global 50 per second.
//!
//! A bot whose workers run in several processes shares the global limit among them: with a
//! [`SharedRateLimit`] given, each request with the bot token waits for its slot in the rate
//! all processes share before it is relayed.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use regis_core::shared::SharedRateLimit;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;

/// The HTTP client that reaches Discord (or whatever `api_url` names).
pub(crate) type Upstream = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// An HTTP(S) client with the TLS stack and protocols twilight-http uses.
pub(crate) fn https_client() -> Upstream {
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
}

/// Wait used when a global 429 says neither `Retry-After` nor `retry_after`.
const DEFAULT_WAIT: Duration = Duration::from_secs(1);

/// Wait used when a ban says no `Retry-After` (Cloudflare's bans last up to an hour).
const DEFAULT_BAN_WAIT: Duration = Duration::from_secs(60);

/// The longest a request is held; well within the client's timeout
/// ([`CLIENT_TIMEOUT`](super::CLIENT_TIMEOUT)), so that it does not give up on a request
/// that is then sent.
pub(crate) const LONGEST_HOLD: Duration = Duration::from_secs(5);

/// Spacing of the requests let out when a hold ends: Discord's global 50 per second.
const RELEASE_SPACING: Duration = Duration::from_millis(20);

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

/// Why the forwarder could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwarderError {
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
    /// Requests with the bot token, counted against the bot's global limit.
    bot: Option<Instant>,
    /// Every request (after Cloudflare's ban, or a global 429 on a request without the token).
    everything: Option<Instant>,
}

struct ForwarderState {
    /// `http://HOST` or `https://HOST` of the API URL.
    origin: String,
    upstream: OnceLock<Upstream>,
    holds: Mutex<Holds>,
    /// When the next request let out after a hold may go.
    next_release: Mutex<Instant>,
    global_limits: AtomicU64,
    /// The global rate shared with the bot's other processes, when there are any.
    shared: OnceLock<Arc<dyn SharedRateLimit>>,
}

/// A running forwarder; dropping it stops it.
pub(crate) struct GlobalLimitForwarder {
    addr: SocketAddr,
    state: Arc<ForwarderState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for GlobalLimitForwarder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl GlobalLimitForwarder {
    /// Starts a forwarder in front of `origin` (`https://discord.com`, `http://127.0.0.1:9000`) on a
    /// free loopback port.
    pub(crate) fn start(origin: String) -> Result<Self, ForwarderError> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ForwarderError::NoRuntime)?;
        let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let state = Arc::new(ForwarderState {
            origin,
            upstream: OnceLock::new(),
            holds: Mutex::new(Holds::default()),
            next_release: Mutex::new(Instant::now()),
            global_limits: AtomicU64::new(0),
            shared: OnceLock::new(),
        });
        let app = Router::new().fallback(forward).with_state(Arc::clone(&state));
        let task = runtime.spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "the Discord REST forwarder stopped");
            }
        });
        Ok(GlobalLimitForwarder { addr, state, task })
    }

    /// `127.0.0.1:PORT`, the host twilight-http sends to.
    pub(crate) fn host(&self) -> String {
        self.addr.to_string()
    }

    /// Spaces requests with the bot token by `limit`, shared with the bot's other processes
    /// (the first limit given stays).
    pub(crate) fn share(&self, limit: Arc<dyn SharedRateLimit>) {
        let _ = self.state.shared.set(limit);
    }

    /// 429s that held every request (global scope, or no rate-limit headers).
    pub(crate) fn global_limits(&self) -> u64 {
        self.state.global_limits.load(Ordering::Relaxed)
    }
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
/// the `Retry-After` header (whole seconds), else `default`.
fn wait_of(headers: &HeaderMap, body: &[u8], default: Duration) -> Duration {
    let from_body = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("retry_after").and_then(serde_json::Value::as_f64));
    let from_header =
        || headers.get(header::RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<f64>().ok());
    from_body
        .or_else(from_header)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(24.0 * 3600.0)))
        .unwrap_or(default)
}

impl ForwarderState {
    fn upstream(&self) -> &Upstream {
        self.upstream.get_or_init(https_client)
    }

    /// Waits until no hold applies to a request with (`bot`) or without the bot token, then,
    /// if it was held, for its turn among the held ones. `Err` with the time left when the
    /// hold lasts longer than [`LONGEST_HOLD`].
    async fn wait_open(&self, bot: bool) -> Result<(), Duration> {
        let mut held = false;
        loop {
            let until = {
                let holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
                let bot_hold = if bot { holds.bot } else { None };
                bot_hold.max(holds.everything)
            };
            let now = Instant::now();
            match until {
                Some(until) if until > now && until - now > LONGEST_HOLD => return Err(until - now),
                Some(until) if until > now => {
                    held = true;
                    tokio::time::sleep_until(until).await;
                }
                _ => break,
            }
        }
        if held {
            let turn = {
                let mut next = self.next_release.lock().unwrap_or_else(|e| e.into_inner());
                let turn = (*next).max(Instant::now());
                *next = turn + RELEASE_SPACING;
                turn
            };
            tokio::time::sleep_until(turn).await;
        }
        Ok(())
    }

    fn hold(&self, hold: &Hold, wait: Duration) {
        let until = Instant::now() + wait;
        let mut holds = self.holds.lock().unwrap_or_else(|e| e.into_inner());
        let slot = if *hold == Hold::Everything { &mut holds.everything } else { &mut holds.bot };
        *slot = (*slot).max(Some(until));
    }
}

async fn forward(State(forwarder): State<Arc<ForwarderState>>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    // Interaction callbacks, edits and follow-ups go without the bot token.
    let bot = parts.headers.contains_key(header::AUTHORIZATION);
    // For log lines and errors: interaction tokens are secrets.
    let path = crate::redact_tokens(parts.uri.path());
    // Read it whole first: a client that gives up on a held request is then noticed (and the
    // request dropped) instead of its request going out late, beside the client's retry.
    let body = match body.collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("cannot read the request: {e}")),
    };
    if let Err(left) = forwarder.wait_open(bot).await {
        let message = format!("held by Discord's global rate limit for another {:.1} s", left.as_secs_f64());
        return error(StatusCode::SERVICE_UNAVAILABLE, &message);
    }
    if bot {
        if let Some(shared) = forwarder.shared.get() {
            if let Err(e) = shared.acquire().await {
                tracing::warn!(error = %e, "cannot reach the shared global rate limit; sending under this process's own");
            }
        }
    }
    let target = format!("{}{}", forwarder.origin, parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    match target.parse::<Uri>() {
        Ok(uri) => parts.uri = uri,
        Err(e) => return error(StatusCode::BAD_GATEWAY, &format!("bad upstream URL for {path}: {e}")),
    }
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    let response = match forwarder.upstream().request(Request::from_parts(parts, Body::from(body))).await {
        Ok(response) => response,
        Err(e) => {
            tracing::warn!(error = %e, path = %path, "cannot reach Discord");
            return error(StatusCode::BAD_GATEWAY, &format!("cannot reach Discord: {e}"));
        }
    };
    let (mut parts, body) = response.into_parts();
    for name in HOP_BY_HOP {
        parts.headers.remove(name);
    }
    let route = route_of(&path);
    metrics::counter!(
        "regis_discord_rest_requests_total",
        "route" => route.clone(),
        "status" => parts.status.as_u16().to_string()
    )
    .increment(1);
    if parts.status != StatusCode::TOO_MANY_REQUESTS {
        return Response::from_parts(parts, Body::new(body));
    }
    let hold = hold_of(&parts.headers);
    let scope = match hold {
        Hold::Route => "route",
        Hold::Bot => "global",
        Hold::Everything => "ban",
    };
    metrics::counter!("regis_discord_rest_rate_limited_total", "route" => route, "scope" => scope).increment(1);
    let bytes = match http_body_util::Limited::new(body, MAX_429_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => Default::default(),
    };
    if hold != Hold::Route {
        let hold = if bot { hold } else { Hold::Everything };
        let default = if hold == Hold::Everything { DEFAULT_BAN_WAIT } else { DEFAULT_WAIT };
        let wait = wait_of(&parts.headers, &bytes, default);
        forwarder.global_limits.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(path = %path, wait_ms = wait.as_millis() as u64, scope = ?hold, "Discord's global rate limit: holding requests until it resets");
        forwarder.hold(&hold, wait);
    }
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(bytes))
}

/// A request's route for the metrics, its ids (every all-digit segment) as `:id` so that the
/// label has few values: `/api/v10/channels/:id/messages`. Tokens are redacted already.
fn route_of(path: &str) -> String {
    let mut after_reactions = false;
    let segments: Vec<&str> = path
        .split('/')
        .map(|segment| {
            let label = if after_reactions {
                ":emoji" // one value per emoji otherwise
            } else if !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit()) {
                ":id"
            } else {
                segment
            };
            after_reactions = segment == "reactions";
            label
        })
        .collect();
    segments.join("/")
}

/// An answer of the forwarder's own, in Discord's error shape.
fn error(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message, "code": 0 });
    (status, axum::Json(body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_names_ids_and_keeps_the_rest() {
        assert_eq!(route_of("/api/v10/channels/80351110224678912/messages"), "/api/v10/channels/:id/messages");
        assert_eq!(
            route_of("/api/v10/webhooks/1234/<token>/messages/@original"),
            "/api/v10/webhooks/:id/<token>/messages/@original"
        );
        assert_eq!(route_of("/api/v10/gateway/bot"), "/api/v10/gateway/bot");
        assert_eq!(
            route_of("/api/v10/channels/1/messages/2/reactions/%F0%9F%A6%80/@me"),
            "/api/v10/channels/:id/messages/:id/reactions/:emoji/@me"
        );
    }

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
        let wait = |h: &HeaderMap, body: &[u8]| wait_of(h, body, DEFAULT_WAIT);
        assert_eq!(wait(&h, br#"{"retry_after": 64.57, "global": true}"#), Duration::from_secs_f64(64.57));
        assert_eq!(wait(&h, b"<html>banned</html>"), Duration::from_secs(65));
        assert_eq!(wait(&HeaderMap::new(), br#"{"retry_after": -1}"#), DEFAULT_WAIT);
        assert_eq!(wait(&HeaderMap::new(), b""), DEFAULT_WAIT);
    }

    #[tokio::test(start_paused = true)]
    async fn holds_end_in_turn_and_long_ones_are_refused() {
        let forwarder = GlobalLimitForwarder::start("http://127.0.0.1:9".into()).unwrap();
        let state = &forwarder.state;
        assert_eq!(state.wait_open(true).await, Ok(()), "nothing held");
        state.hold(&Hold::Bot, Duration::from_secs(2));
        let start = Instant::now();
        assert_eq!(state.wait_open(false).await, Ok(()), "requests without the token pass");
        assert_eq!(start.elapsed(), Duration::ZERO);
        let (a, b) = tokio::join!(state.wait_open(true), state.wait_open(true));
        assert_eq!((a, b), (Ok(()), Ok(())));
        assert_eq!(start.elapsed(), Duration::from_secs(2) + RELEASE_SPACING, "the second goes 20 ms after the first");
        state.hold(&Hold::Everything, Duration::from_secs(60));
        assert_eq!(state.wait_open(false).await, Err(Duration::from_secs(60)), "a ban is not waited out");
    }

    #[tokio::test]
    async fn outside_a_runtime_it_says_so() {
        assert!(GlobalLimitForwarder::start("http://127.0.0.1:9".into()).is_ok());
        let outside =
            std::thread::spawn(|| GlobalLimitForwarder::start("http://127.0.0.1:9".into()).err()).join().unwrap();
        assert!(matches!(outside, Some(ForwarderError::NoRuntime)));
    }
}
