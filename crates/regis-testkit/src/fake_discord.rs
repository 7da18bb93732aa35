//! A fake of Discord's REST API, faithful to the documented protocol and not shaped to Regis:
//! the routes the connectors use, Discord's rate-limit headers on every response, injectable
//! 429s (body `retry_after`, `global`) and 5xx, and a record of every call (multipart bodies
//! decoded into `payload_json` and files) for assertions.
//!
//! Point a client at [`FakeDiscord::api_url`] (`http://127.0.0.1:PORT/api/v10`).

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Discord's example Message object (the shape the fake answers with).
pub const MESSAGE_FIXTURE: &str = include_str!("../fixtures/discord/message_object.json");
/// Discord's example APPLICATION_COMMAND interaction.
pub const INTERACTION_FIXTURE: &str =
    include_str!("../fixtures/discord/interaction_application_command_with_options.json");

/// One file of a multipart request.
#[derive(Clone, Debug, PartialEq)]
pub struct FilePart {
    /// Form field name (`files[0]`, ...).
    pub field: String,
    /// File name.
    pub filename: String,
    /// The bytes.
    pub data: Vec<u8>,
}

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    /// HTTP method.
    pub method: Method,
    /// Path below `/api/v10` (e.g. `/webhooks/1/tok/messages/@original`).
    pub path: String,
    /// The JSON body, or the `payload_json` part of a multipart body.
    pub json: Option<Value>,
    /// Files of a multipart body.
    pub files: Vec<FilePart>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// When it arrived.
    pub at: Instant,
    /// The status the fake answered with.
    pub status: u16,
}

/// A failure to answer the next matching request with.
#[derive(Clone, Debug)]
pub enum Failure {
    /// 429 Too Many Requests with `retry_after` seconds.
    RateLimited {
        /// Seconds to wait.
        retry_after: f64,
        /// Whether it is the global limit.
        global: bool,
    },
    /// A 5xx status.
    ServerError(u16),
}

#[derive(Default)]
struct FakeState {
    calls: Mutex<Vec<Call>>,
    failures: Mutex<VecDeque<Failure>>,
    next_id: AtomicU64,
    changed: Notify,
}

/// A running fake Discord REST API on 127.0.0.1.
pub struct FakeDiscord {
    addr: std::net::SocketAddr,
    state: Arc<FakeState>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeDiscord {
    /// Starts it on a free port.
    pub async fn start() -> FakeDiscord {
        let state = Arc::new(FakeState { next_id: AtomicU64::new(1_100_000_000_000_000_000), ..FakeState::default() });
        let app = Router::new().fallback(handle).with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Discord");
        let addr = listener.local_addr().expect("fake Discord address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { addr, state, _server: server }
    }

    /// The REST base URL to configure clients with.
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v10", self.addr)
    }

    /// Answers the next request with `failure` (failures queue up in order).
    pub fn fail_next(&self, failure: Failure) {
        self.state.failures.lock().unwrap_or_else(|e| e.into_inner()).push_back(failure);
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until at least `n` calls arrived (panics after `timeout`: this is test code).
    pub async fn wait_for_calls(&self, n: usize, timeout: Duration) -> Vec<Call> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.state.changed.notified();
            let calls = self.calls();
            if calls.len() >= n {
                return calls;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                panic!("expected {n} calls to the fake Discord, got {}: {:?}", calls.len(), calls);
            }
        }
    }
}

/// An APPLICATION_COMMAND interaction built from Discord's example, with the fields Discord now
/// always sends, for command `name` with `options` (a JSON array of `{type, name, value}`).
pub fn command_interaction(id: u64, name: &str, options: Value) -> Value {
    let mut v: Value = serde_json::from_str(INTERACTION_FIXTURE).expect("fixture is JSON");
    v["id"] = json!(id.to_string());
    v["application_id"] = json!("775799577604522054");
    v["attachment_size_limit"] = json!(26_214_400);
    v["authorizing_integration_owners"] = json!({ "0": "290926798626357999" });
    v["member"]["flags"] = json!(0);
    v["token"] = json!(format!("token-{id}"));
    v["data"]["name"] = json!(name);
    v["data"]["options"] = options;
    v
}

fn rate_limit_headers(headers: &mut HeaderMap, limited: Option<&Failure>) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let (remaining, reset_after, scope) = match limited {
        Some(Failure::RateLimited { retry_after, global }) => {
            (0, *retry_after, if *global { "global" } else { "user" })
        }
        _ => (4, 1.0, "user"),
    };
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    put("x-ratelimit-limit", "5".into());
    put("x-ratelimit-remaining", remaining.to_string());
    put("x-ratelimit-reset", format!("{:.3}", now + reset_after));
    put("x-ratelimit-reset-after", format!("{reset_after:.3}"));
    put("x-ratelimit-bucket", "a06de0de11bb0e7c1c0ffee0regis".into());
    if let Some(Failure::RateLimited { retry_after, global }) = limited {
        put("x-ratelimit-scope", scope.into());
        put("retry-after", format!("{}", retry_after.ceil() as u64));
        if *global {
            put("x-ratelimit-global", "true".into());
        }
    }
}

async fn read_body(request: Request) -> (Option<Value>, Vec<FilePart>) {
    let is_multipart = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        let mut json = None;
        let mut files = Vec::new();
        if let Ok(mut form) = Multipart::from_request(request, &()).await {
            while let Ok(Some(field)) = form.next_field().await {
                let name = field.name().unwrap_or_default().to_string();
                let filename = field.file_name().map(str::to_string);
                let data = field.bytes().await.unwrap_or_default();
                if name == "payload_json" {
                    json = serde_json::from_slice(&data).ok();
                } else {
                    files.push(FilePart { field: name, filename: filename.unwrap_or_default(), data: data.to_vec() });
                }
            }
        }
        (json, files)
    } else {
        let bytes = Bytes::from_request(request, &()).await.unwrap_or_default();
        (serde_json::from_slice(&bytes).ok(), Vec::new())
    }
}

fn message(state: &FakeState, channel: &str, body: &Option<Value>) -> Value {
    let mut m: Value = serde_json::from_str(MESSAGE_FIXTURE).unwrap_or_else(|_| json!({}));
    m["id"] = json!(state.next_id.fetch_add(1, Ordering::Relaxed).to_string());
    m["channel_id"] = json!(channel);
    m["reactions"] = json!([]);
    if let Some(content) = body.as_ref().and_then(|b| b.get("content")) {
        m["content"] = content.clone();
    }
    m
}

async fn handle(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let method = request.method().clone();
    let full_path = request.uri().path().to_string();
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (json_body, files) = read_body(request).await;
    let path = full_path.strip_prefix("/api/v10").unwrap_or(&full_path).to_string();
    let failure = state.failures.lock().unwrap_or_else(|e| e.into_inner()).pop_front();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, body) = match (&failure, &method, segments.as_slice()) {
        (Some(Failure::RateLimited { retry_after, global }), _, _) => (
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": global }),
        ),
        (Some(Failure::ServerError(code)), _, _) => (
            StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            json!({ "message": "500: Internal Server Error", "code": 0 }),
        ),
        (None, &Method::PATCH, ["webhooks", _app, _token, "messages", _id]) => {
            (StatusCode::OK, message(&state, "645027906669510667", &json_body))
        }
        (None, &Method::POST, ["webhooks", _app, _token]) => {
            (StatusCode::OK, message(&state, "645027906669510667", &json_body))
        }
        (None, &Method::POST, ["channels", channel, "messages"]) => {
            (StatusCode::OK, message(&state, channel, &json_body))
        }
        _ => (StatusCode::NOT_FOUND, json!({ "message": "404: Not Found", "code": 0 })),
    };
    state.calls.lock().unwrap_or_else(|e| e.into_inner()).push(Call {
        method,
        path,
        json: json_body,
        files,
        authorization,
        at: Instant::now(),
        status: status.as_u16(),
    });
    state.changed.notify_waiters();
    let mut response = (status, [("content-type", "application/json")], body.to_string()).into_response();
    rate_limit_headers(response.headers_mut(), failure.as_ref());
    response
}
