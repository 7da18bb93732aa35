//! A fake of Discord's REST API, faithful to the documented protocol and not shaped to Regis:
//! the routes the connectors use, Discord's rate-limit headers on every response, injectable
//! 429s (a route's or the global limit, body `retry_after` and `global`; Cloudflare's
//! header-less ban) and 5xx, Discord's global limit enforced (50 requests per second with the
//! bot token across every connection, interaction endpoints exempt; global 429s counted, see
//! [`FakeDiscord::global_rate_limited`]), and a record of every call (multipart bodies decoded into
//! `payload_json` and files) for assertions.
//!
//! Point a client at [`FakeDiscord::api_url`] (`http://127.0.0.1:PORT/api/v10`).
//!
//! Routes: channel messages (`POST /channels/{id}/messages`, JSON or multipart, answered with
//! the message and its attachments; `PATCH /channels/{id}/messages/{id}` of a message the bot
//! posted, else 404 Unknown Message), interaction webhooks (`PATCH`/`POST /webhooks/...`),
//! `POST /interactions/{id}/{token}/callback` (204; a second callback for the same interaction
//! is refused as Discord does), `GET /gateway/bot` (Discord's example with the fake Gateway's
//! URL, see [`FakeDiscord::set_gateway`]), `POST /users/@me/channels` (a DM channel per
//! recipient), `GET /users/{id}` and `GET /channels/{id}` (known ones, else 404 with Discord's
//! error codes), and `GET`/`PUT` of global and guild application commands (stored; a `PUT`
//! replaces the list, keeps the ids of commands of the same name, and refuses invalid names
//! with Discord's nested "Invalid Form Body" error).

use crate::latest::Latest;
use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

/// Discord's example Message object (the shape the fake answers with).
pub const MESSAGE_FIXTURE: &str = include_str!("../fixtures/discord/message_object.json");
/// Discord's example APPLICATION_COMMAND interaction.
pub const INTERACTION_FIXTURE: &str =
    include_str!("../fixtures/discord/interaction_application_command_with_options.json");
/// Discord's example `GET /gateway/bot` answer.
pub const GATEWAY_BOT_FIXTURE: &str = include_str!("../fixtures/discord/rest_get_gateway_bot.json");
/// Discord's example nested error (50035 Invalid Form Body).
pub const FORM_ERROR_FIXTURE: &str = include_str!("../fixtures/discord/rest_error_nested.json");

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
    /// The JSON body the fake answered with (`Null` for none, e.g. a 204).
    pub answer: Value,
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
    /// Cloudflare's ban after too many invalid requests: 429 with only `Retry-After` (whole
    /// seconds) and a plain-text body, no rate-limit headers.
    Banned {
        /// Seconds to wait.
        retry_after: u64,
    },
}

#[derive(Default)]
struct FakeState {
    calls: Mutex<Vec<Call>>,
    buckets: Mutex<HashMap<String, Bucket>>,
    failures: Mutex<VecDeque<(Option<String>, Failure)>>,
    next_id: AtomicU64,
    changed: Notify,
    world: Mutex<World>,
    /// When each request counted against the bot's global limit went, the last second's.
    global: Mutex<VecDeque<Instant>>,
    /// Global 429s answered.
    global_limited: AtomicU64,
    /// Every call as it is answered, to whoever listens ([`FakeDiscord::subscribe`]).
    feed: Feed,
}

/// The live feed of calls.
struct Feed(tokio::sync::broadcast::Sender<Call>);

impl Default for Feed {
    fn default() -> Self {
        Feed(tokio::sync::broadcast::channel(1024).0)
    }
}

/// What the fake knows besides the calls: the Gateway, users, channels, commands, and which
/// interactions were answered.
#[derive(Default)]
struct World {
    gateway: Option<(String, u64)>,
    /// Files served as Discord's CDN serves attachments, by path.
    cdn: HashMap<String, Vec<u8>>,
    users: HashMap<String, Value>,
    channels: HashMap<String, Value>,
    dm_channels: HashMap<String, String>,
    /// The messages the bot posted to channels: (channel, message id), for edits.
    posted: Latest<(String, String), ()>,
    commands: HashMap<String, Vec<Value>>,
    acknowledged: Latest<String, ()>,
    strict_interactions: bool,
    bot: Option<BotUser>,
    route_limit: Option<(u32, Duration)>,
    global_limit: Option<(u32, Duration)>,
    session_start_limit: Option<Value>,
    /// How many calls [`FakeDiscord::calls`] keeps (the latest); all when `None`.
    keep_calls: Option<usize>,
}

/// Discord's global limit: 50 requests per second for a bot, counted across every connection
/// with its token; interaction endpoints (callbacks, edits, follow-ups) are not bound by it.
const DEFAULT_GLOBAL_LIMIT: (u32, Duration) = (50, Duration::from_secs(1));

/// Counts a request with the bot token against the global limit: `Some` failure (a global
/// 429) when the window already holds the limit.
fn take_global(state: &FakeState, authorization: Option<&str>, path: &str) -> Option<Failure> {
    let bot = authorization.is_some_and(|a| a.starts_with("Bot "));
    if !bot || path.starts_with("/webhooks/") || path.starts_with("/interactions/") {
        return None;
    }
    let (limit, per) = lock(&state.world).global_limit.unwrap_or(DEFAULT_GLOBAL_LIMIT);
    let now = Instant::now();
    let mut sent = lock(&state.global);
    while sent.front().is_some_and(|at| now.duration_since(*at) >= per) {
        sent.pop_front();
    }
    if sent.len() >= limit as usize {
        let retry_after = sent.front().map_or(per, |at| per.saturating_sub(now.duration_since(*at)));
        state.global_limited.fetch_add(1, Ordering::Relaxed);
        return Some(Failure::RateLimited { retry_after: retry_after.as_secs_f64(), global: true });
    }
    sent.push_back(now);
    None
}

/// Requests per route bucket and window unless [`FakeDiscord::set_route_limit`] says
/// otherwise: generous, so that tests measure the bot rather than the fake.
const DEFAULT_ROUTE_LIMIT: (u32, Duration) = (50, Duration::from_secs(1));

/// One route bucket's window.
struct Bucket {
    window_end: Instant,
    used: u32,
}

/// What a response says of its route bucket.
struct BucketState {
    limit: u32,
    remaining: u32,
    reset_after: f64,
    hash: String,
}

/// The bucket a request counts against: its method and route, with the top-level resource
/// (channel, guild, webhook and its token) kept and other ids elided, as Discord groups them.
fn bucket_key(method: &Method, path: &str) -> (String, String) {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let top = segments.first().copied().unwrap_or_default();
    let mut key = vec![method.as_str().to_string()];
    let mut template = key.clone();
    for (i, segment) in segments.iter().enumerate() {
        let major = (i == 1 && matches!(top, "channels" | "guilds" | "webhooks")) || (i == 2 && top == "webhooks");
        let id = !segment.is_empty() && segment.chars().all(|c| c.is_ascii_digit());
        key.push(if id && !major { ":id".to_string() } else { segment.to_string() });
        template.push(if id || major { ":id".to_string() } else { segment.to_string() });
    }
    // Discord's bucket hash names the limit, shared by every resource of the route.
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    template.join("/").hash(&mut hasher);
    (key.join("/"), format!("{:016x}", hasher.finish()))
}

/// Counts a request against its bucket: the bucket's state after it, or the seconds until
/// the bucket resets when it is exhausted.
fn take_from_bucket(state: &FakeState, method: &Method, path: &str) -> Result<BucketState, (f64, BucketState)> {
    let (limit, per) = lock(&state.world).route_limit.unwrap_or(DEFAULT_ROUTE_LIMIT);
    let (key, hash) = bucket_key(method, path);
    let now = Instant::now();
    let mut buckets = lock(&state.buckets);
    let bucket = buckets.entry(key).or_insert(Bucket { window_end: now + per, used: 0 });
    if now >= bucket.window_end {
        *bucket = Bucket { window_end: now + per, used: 0 };
    }
    let reset_after = bucket.window_end.duration_since(now).as_secs_f64();
    if bucket.used >= limit {
        return Err((reset_after, BucketState { limit, remaining: 0, reset_after, hash }));
    }
    bucket.used += 1;
    Ok(BucketState { limit, remaining: limit - bucket.used, reset_after, hash })
}

/// The bot the fake serves (see [`FakeDiscord::set_bot`]).
#[derive(Clone)]
struct BotUser {
    token: String,
    id: u64,
    name: String,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
        {
            let fixture: Value = serde_json::from_str(MESSAGE_FIXTURE).unwrap_or_else(|_| json!({}));
            let mut world = lock(&state.world);
            let author = fixture["author"].clone();
            if let Some(id) = author["id"].as_str() {
                world.users.insert(id.to_string(), user_object(id, author["username"].as_str().unwrap_or("user")));
            }
            if let Some(id) = fixture["channel_id"].as_str() {
                world.channels.insert(id.to_string(), channel_object(id, "general", Some("290926798626357999")));
            }
        }
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
        lock(&self.state.failures).push_back((None, failure));
    }

    /// Answers the next request whose path (below `/api/v10`) starts with `path_prefix` with
    /// `failure`; other requests pass.
    pub fn fail_next_on(&self, path_prefix: &str, failure: Failure) {
        lock(&self.state.failures).push_back((Some(path_prefix.to_string()), failure));
    }

    /// A file as a message's attachment object (`id`, `filename`, `size`, `url`, ...), served
    /// at its `url` as Discord's CDN serves attachments (this server stands for the CDN too).
    pub fn attachment(&self, channel: u64, name: &str, data: Vec<u8>) -> Value {
        let id = self.state.next_id.fetch_add(1, Ordering::Relaxed).to_string();
        let path = format!("/attachments/{channel}/{id}/{name}");
        let url = format!("http://{}{path}", self.addr);
        let size = data.len();
        lock(&self.state.world).cdn.insert(path, data);
        json!({ "id": id, "filename": name, "size": size, "url": url, "proxy_url": url, "content_type": "text/plain; charset=utf-8" })
    }

    /// The bot this fake serves: routes other than interaction callbacks and interaction
    /// webhooks then need `Authorization: Bot {token}` (401 otherwise, as Discord answers a
    /// refused token), and the messages it posts are authored by this user. Until it is set,
    /// any `Bot ...` authorization is taken (and a missing one refused).
    pub fn set_bot(&self, token: &str, id: u64, name: &str) {
        lock(&self.state.world).bot = Some(BotUser { token: token.to_string(), id, name: name.to_string() });
    }

    /// Every route bucket allows `limit` requests per `per` (50 per second unless set); a
    /// request beyond gets a 429 with the bucket's `retry_after`, as Discord answers a client
    /// that ignores the rate-limit headers. Every answer's headers tell the bucket's state.
    pub fn set_route_limit(&self, limit: u32, per: Duration) {
        lock(&self.state.world).route_limit = Some((limit.max(1), per));
    }

    /// Makes `GET /gateway/bot` point at a Gateway (`ws://...`) and recommend `shards` shards.
    pub fn set_gateway(&self, url: &str, shards: u64) {
        lock(&self.state.world).gateway = Some((url.to_string(), shards));
    }

    /// The `session_start_limit` `GET /gateway/bot` reports (Discord's example otherwise:
    /// 1000 a day, `max_concurrency` 1): how many sessions may still start, when the count
    /// resets, and how many shards may identify in each 5-second window.
    pub fn set_session_start_limit(&self, total: u64, remaining: u64, reset_after: Duration, max_concurrency: u64) {
        lock(&self.state.world).session_start_limit = Some(json!({
            "total": total, "remaining": remaining,
            "reset_after": reset_after.as_millis() as u64, "max_concurrency": max_concurrency,
        }));
    }

    /// Adds a user that `GET /users/{id}` finds.
    pub fn add_user(&self, id: &str, name: &str) {
        lock(&self.state.world).users.insert(id.to_string(), user_object(id, name));
    }

    /// The DM channel with `recipient`: the one `POST /users/@me/channels` answered, or a new
    /// one it will answer from now on (a user who writes to the bot first opens it).
    pub fn dm_channel(&self, recipient: &str) -> String {
        dm_channel_with(&self.state, &mut lock(&self.state.world), recipient)
    }

    /// Adds a guild text channel that `GET /channels/{id}` finds.
    pub fn add_channel(&self, id: &str, name: &str, guild: Option<&str>) {
        lock(&self.state.world).channels.insert(id.to_string(), channel_object(id, name, guild));
    }

    /// Refuses (404, Unknown Webhook) edits of `@original` and follow-ups for interactions that
    /// were not answered first, as Discord does: through the callback endpoint, or (the HTTP
    /// interactions endpoint's answer, which this fake does not see) [`FakeDiscord::acknowledge`].
    /// Off by default.
    pub fn require_callbacks(&self, on: bool) {
        lock(&self.state.world).strict_interactions = on;
    }

    /// Discord took the first response to the interaction with `token` (as the HTTP
    /// interactions endpoint's answer): with [`FakeDiscord::require_callbacks`], the token's
    /// webhooks are "Unknown Webhook" until then, or until its callback is posted.
    pub fn acknowledge(&self, token: &str) {
        lock(&self.state.world).acknowledged.insert(token.to_string(), ());
    }

    /// The application commands Discord holds: `scope` is `global` or a guild id.
    pub fn commands(&self, scope: &str) -> Vec<Value> {
        lock(&self.state.world).commands.get(scope).cloned().unwrap_or_default()
    }

    /// Sets the global limit (requests with the bot token per `per`, across all connections);
    /// Discord's 50 per second by default.
    pub fn set_global_limit(&self, limit: u32, per: Duration) {
        lock(&self.state.world).global_limit = Some((limit, per));
    }

    /// How many requests got a global 429 (the bot exceeded its global limit).
    pub fn global_rate_limited(&self) -> u64 {
        self.state.global_limited.load(Ordering::Relaxed)
    }

    /// Keeps only the latest `n` calls for [`FakeDiscord::calls`] (0: none), for a fake that
    /// runs for hours, such as `regis dev`'s; listeners of [`FakeDiscord::subscribe`] still
    /// see every call.
    pub fn keep_calls(&self, n: usize) {
        lock(&self.state.world).keep_calls = Some(n);
        let mut calls = lock(&self.state.calls);
        let excess = calls.len().saturating_sub(n);
        calls.drain(..excess);
    }

    /// Remembers only the latest `n` messages the bot posted (older ones can no longer be
    /// edited: 404) and the latest `n` answered interactions (older tokens no longer work, as
    /// on Discord after 15 minutes); for a fake that runs for hours.
    pub fn remember(&self, n: usize) {
        let mut world = lock(&self.state.world);
        world.posted.set_limit(n);
        world.acknowledged.set_limit(n);
    }

    /// Every call from now on, as it is answered (a listener that falls more than 1024 calls
    /// behind misses the oldest, as with any `broadcast` channel).
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Call> {
        self.state.feed.0.subscribe()
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

/// Discord's rate-limit headers: the route's bucket (limit, remaining, reset, reset-after,
/// bucket hash) and scope on every answer, and on a 429 also `Retry-After`. A global 429
/// carries only `Retry-After`, `X-RateLimit-Global` and `X-RateLimit-Scope`, as in Discord's
/// example; Cloudflare's ban only `Retry-After`.
fn rate_limit_headers(headers: &mut HeaderMap, limited: Option<&Failure>, bucket: BucketState) {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
    let scope = match limited {
        Some(Failure::RateLimited { global: true, .. }) => "global",
        _ => "user",
    };
    let mut put = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    if let Some(Failure::Banned { retry_after }) = limited {
        put("retry-after", retry_after.to_string());
        return;
    }
    if let Some(Failure::RateLimited { retry_after, global: true }) = limited {
        put("retry-after", format!("{}", retry_after.ceil() as u64));
        put("x-ratelimit-global", "true".into());
        put("x-ratelimit-scope", scope.into());
        return;
    }
    put("x-ratelimit-limit", bucket.limit.to_string());
    put("x-ratelimit-remaining", bucket.remaining.to_string());
    put("x-ratelimit-reset", format!("{:.3}", now + bucket.reset_after));
    put("x-ratelimit-reset-after", format!("{:.3}", bucket.reset_after));
    put("x-ratelimit-bucket", bucket.hash);
    put("x-ratelimit-scope", scope.into());
    if let Some(Failure::RateLimited { retry_after, .. }) = limited {
        put("retry-after", format!("{}", retry_after.ceil() as u64));
    }
}

/// A request body Discord refuses: its status and error.
type BodyError = (StatusCode, Value);

/// The JSON body (or multipart `payload_json`) and files of a request; an unreadable body is
/// refused as Discord does (50109 for JSON that does not parse, 50035 for a broken form).
async fn read_body(request: Request) -> Result<(Option<Value>, Vec<FilePart>), BodyError> {
    let invalid_json =
        || (StatusCode::BAD_REQUEST, json!({ "message": "The request body contains invalid JSON.", "code": 50109 }));
    let is_multipart = request
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    if is_multipart {
        let bad_form = || (StatusCode::BAD_REQUEST, json!({ "message": "Invalid Form Body", "code": 50035 }));
        let mut json = None;
        let mut files = Vec::new();
        let mut form = Multipart::from_request(request, &()).await.map_err(|_| bad_form())?;
        while let Some(field) = form.next_field().await.map_err(|_| bad_form())? {
            let name = field.name().unwrap_or_default().to_string();
            let filename = field.file_name().map(str::to_string);
            let data = field.bytes().await.map_err(|_| bad_form())?;
            match (name.as_str(), filename) {
                ("payload_json", _) => json = Some(serde_json::from_slice(&data).map_err(|_| invalid_json())?),
                (_, Some(filename)) => files.push(FilePart { field: name, filename, data: data.to_vec() }),
                // Discord takes files only with a file name.
                (_, None) => return Err(bad_form()),
            }
        }
        Ok((json, files))
    } else {
        let bytes = Bytes::from_request(request, &()).await.unwrap_or_default();
        if bytes.is_empty() {
            return Ok((None, Vec::new()));
        }
        Ok((Some(serde_json::from_slice(&bytes).map_err(|_| invalid_json())?), Vec::new()))
    }
}

/// Discord's checks of a new message (a channel message or a follow-up): not empty, content
/// of at most 2,000 characters, at most 10 embeds.
fn check_new_message(body: &Option<Value>, files: &[FilePart]) -> Result<(), BodyError> {
    let field = |name: &str| body.as_ref().and_then(|b| b.get(name));
    let content = field("content").and_then(Value::as_str).unwrap_or_default();
    let listed = |name: &str| field(name).and_then(Value::as_array).is_some_and(|a| !a.is_empty());
    if content.is_empty() && files.is_empty() && !listed("embeds") && !listed("components") && !listed("sticker_ids") {
        return Err((StatusCode::BAD_REQUEST, json!({ "message": "Cannot send an empty message", "code": 50006 })));
    }
    let too_long = content.chars().count() > 2000;
    let too_many = field("embeds").and_then(Value::as_array).is_some_and(|a| a.len() > 10);
    if too_long || too_many {
        let (key, text) = if too_long {
            ("content", "Must be 2000 or fewer in length.")
        } else {
            ("embeds", "Must be 10 or fewer in length.")
        };
        let errors = json!({ key: { "_errors": [{ "code": "BASE_TYPE_MAX_LENGTH", "message": text }] } });
        return Err((
            StatusCode::BAD_REQUEST,
            json!({ "message": "Invalid Form Body", "code": 50035, "errors": errors }),
        ));
    }
    Ok(())
}

/// Whether a route needs the bot token: everything but interaction callbacks and the
/// interaction webhooks (authorized by the interaction token in the path).
fn needs_bot_token(path: &str) -> bool {
    !(path.starts_with("/interactions/") || path.starts_with("/webhooks/"))
}

fn authorized(state: &FakeState, authorization: Option<&str>) -> bool {
    let Some(token) = authorization.and_then(|a| a.strip_prefix("Bot ")) else { return false };
    lock(&state.world).bot.as_ref().is_none_or(|bot| bot.token == token)
}

fn message(state: &FakeState, channel: &str, body: &Option<Value>, files: &[FilePart]) -> Value {
    let mut m: Value = serde_json::from_str(MESSAGE_FIXTURE).unwrap_or_else(|_| json!({}));
    m["id"] = json!(state.next_id.fetch_add(1, Ordering::Relaxed).to_string());
    m["channel_id"] = json!(channel);
    m["reactions"] = json!([]);
    if let Some(content) = body.as_ref().and_then(|b| b.get("content")) {
        m["content"] = content.clone();
    }
    if let Some(embeds) = body.as_ref().and_then(|b| b.get("embeds")) {
        m["embeds"] = embeds.clone();
    }
    if let Some(bot) = &lock(&state.world).bot {
        m["author"] = json!({
            "id": bot.id.to_string(), "username": bot.name, "discriminator": "0", "global_name": null,
            "avatar": null, "bot": true, "public_flags": 0,
        });
    }
    if let Some(reference) = body.as_ref().and_then(|b| b.get("message_reference")) {
        m["message_reference"] = reference.clone();
        m["type"] = json!(19);
    }
    let attachments: Vec<Value> = files
        .iter()
        .map(|f| {
            let id = state.next_id.fetch_add(1, Ordering::Relaxed).to_string();
            let url = format!("https://cdn.discordapp.com/attachments/{channel}/{id}/{}", f.filename);
            json!({ "id": id, "filename": f.filename, "size": f.data.len(), "url": url, "proxy_url": url })
        })
        .collect();
    m["attachments"] = json!(attachments);
    m
}

fn unknown(message: &str, code: u64) -> (StatusCode, Value) {
    (StatusCode::NOT_FOUND, json!({ "message": message, "code": code }))
}

/// Whether an interaction token may be used for webhooks (always, unless callbacks are required).
fn answered(state: &FakeState, token: &str) -> bool {
    let world = lock(&state.world);
    !world.strict_interactions || world.acknowledged.contains(&token.to_string())
}

/// A user object as `GET /users/{id}` returns it.
fn user_object(id: &str, name: &str) -> Value {
    json!({
        "id": id, "username": name, "discriminator": "0", "global_name": name, "avatar": null,
        "bot": false, "public_flags": 0, "banner": null, "accent_color": null,
    })
}

/// A guild text channel object as `GET /channels/{id}` returns it.
fn channel_object(id: &str, name: &str, guild: Option<&str>) -> Value {
    json!({
        "id": id, "type": 0, "guild_id": guild, "name": name, "position": 0,
        "permission_overwrites": [], "nsfw": false, "topic": format!("the {name} channel"),
        "last_message_id": null, "rate_limit_per_user": 0, "parent_id": null,
    })
}

fn gateway_bot(state: &FakeState) -> (StatusCode, Value) {
    let world = lock(&state.world);
    let Some((url, shards)) = world.gateway.clone() else {
        return unknown("404: Not Found", 0);
    };
    let mut body: Value = serde_json::from_str(GATEWAY_BOT_FIXTURE).unwrap_or_else(|_| json!({}));
    body["url"] = json!(url);
    body["shards"] = json!(shards);
    if let Some(limit) = &world.session_start_limit {
        body["session_start_limit"] = limit.clone();
    }
    (StatusCode::OK, body)
}

fn dm_channel(state: &FakeState, body: &Option<Value>) -> (StatusCode, Value) {
    let Some(recipient) = body.as_ref().and_then(|b| b.get("recipient_id")).and_then(Value::as_str) else {
        return form_error("recipient_id", "BASE_TYPE_REQUIRED", "This field is required");
    };
    let mut world = lock(&state.world);
    let channel = dm_channel_with(state, &mut world, recipient);
    let user = world.users.get(recipient).cloned().unwrap_or_else(|| user_object(recipient, "user"));
    (StatusCode::OK, json!({ "id": channel, "type": 1, "last_message_id": null, "recipients": [user] }))
}

/// The DM channel with `recipient`, opened now if it is not yet.
fn dm_channel_with(state: &FakeState, world: &mut World, recipient: &str) -> String {
    if let Some(channel) = world.dm_channels.get(recipient) {
        return channel.clone();
    }
    let channel = state.next_id.fetch_add(1, Ordering::Relaxed).to_string();
    world.dm_channels.insert(recipient.to_string(), channel.clone());
    channel
}

/// Discord's 50035 error, shaped like its documented example, for one field.
fn form_error(field: &str, code: &str, message: &str) -> (StatusCode, Value) {
    let mut body: Value = serde_json::from_str(FORM_ERROR_FIXTURE).unwrap_or_else(|_| json!({}));
    let mut errors = json!({ "_errors": [{ "code": code, "message": message }] });
    for part in field.rsplit('.').filter(|p| !p.is_empty()) {
        errors = json!({ part: errors });
    }
    body["errors"] = errors;
    (StatusCode::BAD_REQUEST, body)
}

/// Discord's rule for a command's name: 1-32 characters; for slash commands (type 1) only
/// `^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$`, in lowercase where a letter has a lowercase
/// form. User and message commands may hold spaces and capitals.
fn valid_command_name(name: &str, kind: u64) -> bool {
    let length_ok = (1..=32).contains(&name.chars().count());
    length_ok
        && (kind != 1
            || name.chars().all(|c| {
                let script = matches!(c as u32, 0x0900..=0x097F | 0x0E00..=0x0E7F);
                let allowed = c == '-' || c == '_' || c == '\'' || c.is_alphanumeric() || script;
                allowed && c.to_lowercase().eq(std::iter::once(c))
            }))
}

fn overwrite_commands(state: &FakeState, app: &str, guild: Option<&str>, body: &Option<Value>) -> (StatusCode, Value) {
    let Some(list) = body.as_ref().and_then(Value::as_array) else {
        return form_error("", "BASE_TYPE_ARRAY", "Must be an array");
    };
    for (i, command) in list.iter().enumerate() {
        let name = command.get("name").and_then(Value::as_str).unwrap_or_default();
        let kind = command.get("type").and_then(Value::as_u64).unwrap_or(1);
        if !valid_command_name(name, kind) {
            return form_error(&format!("{i}.name"), "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid");
        }
        let description = command.get("description").and_then(Value::as_str).unwrap_or_default();
        if command.get("type").and_then(Value::as_u64).unwrap_or(1) == 1
            && !(1..=100).contains(&description.chars().count())
        {
            return form_error(
                &format!("{i}.description"),
                "BASE_TYPE_BAD_LENGTH",
                "Must be between 1 and 100 in length.",
            );
        }
    }
    let scope = guild.unwrap_or("global").to_string();
    let mut world = lock(&state.world);
    let previous = world.commands.get(&scope).cloned().unwrap_or_default();
    let stored: Vec<Value> = list
        .iter()
        .map(|command| {
            let mut c = command.clone();
            let old = previous.iter().find(|p| p["name"] == command["name"]);
            let id = old
                .and_then(|o| o["id"].as_str().map(str::to_string))
                .unwrap_or_else(|| state.next_id.fetch_add(1, Ordering::Relaxed).to_string());
            c["id"] = json!(id);
            c["application_id"] = json!(app);
            c["version"] = json!(state.next_id.fetch_add(1, Ordering::Relaxed).to_string());
            if c.get("type").is_none() {
                c["type"] = json!(1);
            }
            c["default_member_permissions"] = c.get("default_member_permissions").cloned().unwrap_or(Value::Null);
            c["nsfw"] = c.get("nsfw").cloned().unwrap_or(json!(false));
            if let Some(guild) = guild {
                c["guild_id"] = json!(guild);
            }
            c
        })
        .collect();
    world.commands.insert(scope, stored.clone());
    (StatusCode::OK, json!(stored))
}

async fn handle(State(state): State<Arc<FakeState>>, request: Request) -> Response {
    let method = request.method().clone();
    let full_path = request.uri().path().to_string();
    if method == Method::GET && full_path.starts_with("/attachments/") {
        // The CDN: no token, no rate limit; the file or 404.
        return match lock(&state.world).cdn.get(&full_path) {
            Some(data) => (StatusCode::OK, data.clone()).into_response(),
            None => (StatusCode::NOT_FOUND, "404: Not Found").into_response(),
        };
    }
    let authorization = request.headers().get("authorization").and_then(|v| v.to_str().ok()).map(str::to_string);
    let path = full_path.strip_prefix("/api/v10").unwrap_or(&full_path).to_string();
    let refused = if needs_bot_token(&path) && !authorized(&state, authorization.as_deref()) {
        Some((StatusCode::UNAUTHORIZED, json!({ "message": "401: Unauthorized", "code": 0 })))
    } else {
        None
    };
    let (json_body, files, refused) = match (refused, read_body(request).await) {
        (Some(refused), _) => (None, Vec::new(), Some(refused)),
        (None, Ok((json, files))) => (json, files, None),
        (None, Err(refused)) => (None, Vec::new(), Some(refused)),
    };
    let creates_message = method == Method::POST
        && (path.ends_with("/messages") && path.starts_with("/channels/")
            || path.starts_with("/webhooks/") && path.trim_end_matches('/').split('/').count() == 4);
    let refused = refused.or_else(|| creates_message.then(|| check_new_message(&json_body, &files).err()).flatten());
    let failure = if refused.is_some() {
        None
    } else {
        let mut failures = lock(&state.failures);
        let index = failures.iter().position(|(prefix, _)| prefix.as_deref().is_none_or(|p| path.starts_with(p)));
        index.and_then(|i| failures.remove(i)).map(|(_, f)| f)
    };
    // The global limit is Discord's first check, before the route's bucket.
    let failure =
        failure.or_else(|| refused.is_none().then(|| take_global(&state, authorization.as_deref(), &path)).flatten());
    // An injected failure stands for what Discord decided instead; otherwise the request
    // counts against its bucket (refused ones too), and an exhausted bucket answers 429.
    let bucket = failure.is_none().then(|| take_from_bucket(&state, &method, &path));
    let (failure, bucket) = match bucket {
        Some(Err((retry_after, exhausted))) if refused.is_none() => {
            (Some(Failure::RateLimited { retry_after, global: false }), Some(exhausted))
        }
        Some(Err((_, exhausted))) => (failure, Some(exhausted)),
        Some(Ok(bucket)) => (failure, Some(bucket)),
        None => (failure, None),
    };
    let bucket = bucket.unwrap_or_else(|| {
        // An injected failure: a route 429 exhausts the bucket until `retry_after`.
        let (limit, _) = lock(&state.world).route_limit.unwrap_or(DEFAULT_ROUTE_LIMIT);
        let reset_after = match &failure {
            Some(Failure::RateLimited { retry_after, .. }) => *retry_after,
            _ => 0.0,
        };
        BucketState { limit, remaining: 0, reset_after, hash: bucket_key(&method, &path).1 }
    });
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (status, body) = if let Some(refused) = refused {
        refused
    } else {
        match (&failure, &method, segments.as_slice()) {
            (Some(Failure::RateLimited { retry_after, global }), _, _) => (
                StatusCode::TOO_MANY_REQUESTS,
                json!({ "message": "You are being rate limited.", "retry_after": retry_after, "global": global }),
            ),
            (Some(Failure::Banned { .. }), _, _) => (StatusCode::TOO_MANY_REQUESTS, Value::Null),
            (Some(Failure::ServerError(code)), _, _) => (
                StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                json!({ "message": "500: Internal Server Error", "code": 0 }),
            ),
            (None, &Method::PATCH, ["webhooks", _app, token, "messages", _id]) if !answered(&state, token) => {
                unknown("Unknown Webhook", 10015)
            }
            (None, &Method::POST, ["webhooks", _app, token]) if !answered(&state, token) => {
                unknown("Unknown Webhook", 10015)
            }
            (None, &Method::PATCH, ["webhooks", _app, _token, "messages", _id]) => {
                (StatusCode::OK, message(&state, "645027906669510667", &json_body, &files))
            }
            (None, &Method::POST, ["webhooks", _app, _token]) => {
                (StatusCode::OK, message(&state, "645027906669510667", &json_body, &files))
            }
            (None, &Method::POST, ["channels", channel, "messages"]) => {
                let posted = message(&state, channel, &json_body, &files);
                if let Some(id) = posted["id"].as_str() {
                    lock(&state.world).posted.insert((channel.to_string(), id.to_string()), ());
                }
                (StatusCode::OK, posted)
            }
            (None, &Method::PATCH, ["channels", channel, "messages", id]) => {
                if lock(&state.world).posted.contains(&(channel.to_string(), id.to_string())) {
                    let mut edited = message(&state, channel, &json_body, &files);
                    edited["id"] = json!(id);
                    edited["edited_timestamp"] = json!("2026-12-07T00:00:00.000000+00:00");
                    (StatusCode::OK, edited)
                } else {
                    unknown("Unknown Message", 10008)
                }
            }
            (None, &Method::POST, ["interactions", _id, token, "callback"]) => {
                if lock(&state.world).acknowledged.insert(token.to_string(), ()) {
                    (StatusCode::NO_CONTENT, Value::Null)
                } else {
                    let body = json!({ "message": "Interaction has already been acknowledged.", "code": 40060 });
                    (StatusCode::BAD_REQUEST, body)
                }
            }
            (None, &Method::GET, ["gateway", "bot"]) => gateway_bot(&state),
            (None, &Method::GET, ["gateway"]) => match &lock(&state.world).gateway {
                Some((url, _)) => (StatusCode::OK, json!({ "url": url })),
                None => unknown("404: Not Found", 0),
            },
            (None, &Method::POST, ["users", "@me", "channels"]) => dm_channel(&state, &json_body),
            (None, &Method::GET, ["users", id]) => match lock(&state.world).users.get(*id) {
                Some(user) => (StatusCode::OK, user.clone()),
                None => unknown("Unknown User", 10013),
            },
            (None, &Method::GET, ["channels", id]) => match lock(&state.world).channels.get(*id) {
                Some(channel) => (StatusCode::OK, channel.clone()),
                None => unknown("Unknown Channel", 10003),
            },
            (None, &Method::GET, ["applications", _app, "commands"]) => {
                (StatusCode::OK, json!(lock(&state.world).commands.get("global").cloned().unwrap_or_default()))
            }
            (None, &Method::GET, ["applications", _app, "guilds", guild, "commands"]) => {
                (StatusCode::OK, json!(lock(&state.world).commands.get(*guild).cloned().unwrap_or_default()))
            }
            (None, &Method::PUT, ["applications", app, "commands"]) => {
                overwrite_commands(&state, app, None, &json_body)
            }
            (None, &Method::PUT, ["applications", app, "guilds", guild, "commands"]) => {
                overwrite_commands(&state, app, Some(guild), &json_body)
            }
            _ => unknown("404: Not Found", 0),
        }
    };
    let call = Call {
        method,
        path,
        json: json_body,
        files,
        authorization,
        at: Instant::now(),
        status: status.as_u16(),
        answer: body.clone(),
    };
    let _ = state.feed.0.send(call.clone());
    let keep = lock(&state.world).keep_calls;
    {
        let mut calls = lock(&state.calls);
        calls.push(call);
        if let Some(keep) = keep {
            let excess = calls.len().saturating_sub(keep);
            calls.drain(..excess);
        }
    }
    state.changed.notify_waiters();
    let mut response = if status == StatusCode::NO_CONTENT {
        status.into_response()
    } else if let Some(Failure::Banned { .. }) = failure {
        (status, [("content-type", "text/plain")], "error code: 1015").into_response()
    } else {
        (status, [("content-type", "application/json")], body.to_string()).into_response()
    };
    rate_limit_headers(response.headers_mut(), failure.as_ref(), bucket);
    response
}
