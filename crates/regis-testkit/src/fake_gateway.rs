//! A fake Discord Gateway: a websocket server that speaks Discord's documented Gateway protocol
//! (API v10, JSON encoding), not a protocol shaped to Regis, so the real twilight client can
//! be tested against it.
//!
//! - On connect it sends HELLO with `heartbeat_interval` (Discord's `gateway_hello.json`).
//! - IDENTIFY (token, intents, shard) starts a session: READY with its own
//!   `resume_gateway_url` (this server's `/resume` path), then a GUILD_CREATE for each guild
//!   of the shard.
//! - HEARTBEAT is answered with HEARTBEAT_ACK; a connection that does not heartbeat within
//!   1.5 heartbeat intervals is closed with 4009 (session timed out) and its session dropped.
//! - RESUME replays every dispatch of the session after the given sequence, then RESUMED.
//!   An unknown or dropped session gets INVALID_SESSION (`d: false`).
//! - The test can dispatch events, send RECONNECT or INVALID_SESSION, close a connection with
//!   any close code, or drop it without a close frame; withhold HEARTBEAT_ACKs (a "zombied"
//!   connection); and make RESUME replay events the client has seen already (delivery is at
//!   least once).
//! - Close codes as Discord documents them: 4001 unknown opcode, 4002 decode error (also for a
//!   payload over 4096 bytes), 4003 not authenticated, 4004 authentication failed, 4005
//!   already authenticated, 4007 invalid seq, 4008 rate limited (over 120 payloads a minute),
//!   4010 invalid shard, 4012 invalid API version, 4013 invalid intents, 4014 disallowed
//!   (privileged, not enabled) intents.
//! - Transport compression as the client asks in the URL: `compress=zstd-stream` (one zstd
//!   stream per connection, each payload a flushed block in a binary frame, as Discord does) or
//!   none; `zlib-stream`, which this fake does not implement, is refused (HTTP 400) rather
//!   than silently answered uncompressed.
//! - Intents as Discord applies them: an event reaches a session only if it asked for the
//!   event's intent, and without `MESSAGE_CONTENT` a guild message's `content`, `embeds`,
//!   `attachments`, `components` and `poll` arrive empty unless the message mentions the bot
//!   or is the bot's own.
//! - Closing with 4007 or 4009 ends the session (the client must identify again).
//!
//! Every connection, payload received and payload sent is recorded ([`FakeGateway::records`]).

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{RawQuery, State};
use axum::http::Uri;
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify};

/// Discord's example HELLO (op 10).
pub const HELLO_FIXTURE: &str = include_str!("../fixtures/discord/gateway_hello.json");
/// Discord's example dispatch envelope (op 0).
pub const DISPATCH_FIXTURE: &str = include_str!("../fixtures/discord/gateway_event_envelope.json");
/// Discord's example HEARTBEAT_ACK (op 11).
pub const HEARTBEAT_ACK_FIXTURE: &str = include_str!("../fixtures/discord/gateway_heartbeat_ack.json");
/// Discord's example INVALID_SESSION (op 9).
pub const INVALID_SESSION_FIXTURE: &str = include_str!("../fixtures/discord/gateway_invalid_session.json");
/// Discord's example RECONNECT (op 7).
pub const RECONNECT_FIXTURE: &str = include_str!("../fixtures/discord/gateway_reconnect.json");

/// Privileged intents: GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT.
pub const PRIVILEGED_INTENTS: u64 = (1 << 1) | (1 << 8) | (1 << 15);
/// Every intent bit Discord defines (0–25, without the unused 22 and 23).
pub const KNOWN_INTENTS: u64 = ((1 << 26) - 1) & !((1 << 22) | (1 << 23));

/// A guild the fake bot is in (sent as GUILD_CREATE after READY).
#[derive(Clone, Debug)]
pub struct FakeGuild {
    /// Snowflake.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Text channels: id and name.
    pub channels: Vec<(u64, String)>,
}

/// How the fake Gateway behaves.
#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// The bot token it accepts (IDENTIFY and RESUME may prefix it with `Bot `).
    pub token: String,
    /// HELLO's `heartbeat_interval`.
    pub heartbeat_interval: Duration,
    /// Privileged intents enabled for the application in the developer portal.
    pub privileged_intents: u64,
    /// The bot user's id (also the application id, as for every application made today).
    pub bot_id: u64,
    /// The bot user's name.
    pub bot_name: String,
    /// The guilds the bot is in.
    pub guilds: Vec<FakeGuild>,
}

/// The guild of Discord's example interaction.
pub const GUILD_ID: u64 = 290926798626357999;
/// The channel of Discord's example message.
pub const CHANNEL_ID: u64 = 290926798999357250;
/// The application (and bot user) of Discord's example interaction.
pub const BOT_ID: u64 = 775799577604522054;
/// The author of Discord's example message.
pub const AUTHOR_ID: u64 = 53908099506183680;

impl Default for GatewayOptions {
    fn default() -> Self {
        GatewayOptions {
            token: "fake-bot-token".into(),
            heartbeat_interval: Duration::from_millis(45_000),
            privileged_intents: 1 << 15,
            bot_id: BOT_ID,
            bot_name: "Regis".into(),
            guilds: vec![FakeGuild {
                id: GUILD_ID,
                name: "Regis test guild".into(),
                channels: vec![(CHANNEL_ID, "general".into())],
            }],
        }
    }
}

/// Who ended a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClosedBy {
    /// The fake sent a close frame with this code.
    Server(u16),
    /// The client sent a close frame with this code (None: no code).
    Client(Option<u16>),
    /// The TCP connection ended without a close frame (dropped by the test, or by the client).
    Dropped,
}

/// One thing that happened on the fake Gateway.
#[derive(Clone, Debug)]
pub enum Record {
    /// A client connected to `path` with `query`.
    Connected {
        /// Connection number.
        connection: u64,
        /// The URL path (`/` or `/resume/`).
        path: String,
        /// The query string (`v=10&encoding=json&compress=zstd-stream`).
        query: String,
    },
    /// A payload from the client.
    Received {
        /// Connection number.
        connection: u64,
        /// The payload.
        payload: Value,
        /// When.
        at: Instant,
    },
    /// A payload to the client.
    Sent {
        /// Connection number.
        connection: u64,
        /// The payload.
        payload: Value,
    },
    /// The connection ended.
    Closed {
        /// Connection number.
        connection: u64,
        /// How.
        by: ClosedBy,
    },
}

enum Control {
    Send(String),
    Close(u16, String),
    Drop,
}

struct Session {
    shard: (u64, u64),
    intents: u64,
    seq: u64,
    log: Vec<(u64, String)>,
    connection: Option<u64>,
    valid: bool,
}

struct GatewayState {
    options: GatewayOptions,
    addr: std::net::SocketAddr,
    sessions: HashMap<String, Session>,
    shard_sessions: HashMap<u64, String>,
    connections: HashMap<u64, mpsc::UnboundedSender<Control>>,
    records: Vec<Record>,
    next_connection: u64,
    next_session: u64,
    withhold_acks: bool,
    replay_seen: u64,
}

struct Shared {
    state: Mutex<GatewayState>,
    changed: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, GatewayState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(&self, record: Record) {
        self.lock().records.push(record);
        self.changed.notify_waiters();
    }
}

/// A running fake Gateway on 127.0.0.1.
pub struct FakeGateway {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    _server: tokio::task::JoinHandle<()>,
}

impl FakeGateway {
    /// Starts one with the default options on a free port.
    pub async fn start() -> FakeGateway {
        FakeGateway::start_with(GatewayOptions::default()).await
    }

    /// Starts one with `options` on a free port.
    pub async fn start_with(options: GatewayOptions) -> FakeGateway {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the fake Gateway");
        let addr = listener.local_addr().expect("fake Gateway address");
        let shared = Arc::new(Shared {
            state: Mutex::new(GatewayState {
                options,
                addr,
                sessions: HashMap::new(),
                shard_sessions: HashMap::new(),
                connections: HashMap::new(),
                records: Vec::new(),
                next_connection: 1,
                next_session: 1,
                withhold_acks: false,
                replay_seen: 0,
            }),
            changed: Notify::new(),
        });
        let app = Router::new().fallback(upgrade).with_state(Arc::clone(&shared));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeGateway { addr, shared, _server: server }
    }

    /// The Gateway URL (`ws://127.0.0.1:PORT`), as `GET /gateway/bot` gives it.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// The `resume_gateway_url` its READY carries.
    pub fn resume_url(&self) -> String {
        format!("ws://{}/resume", self.addr)
    }

    /// The options it runs with.
    pub fn options(&self) -> GatewayOptions {
        self.shared.lock().options.clone()
    }

    /// Everything so far.
    pub fn records(&self) -> Vec<Record> {
        self.shared.lock().records.clone()
    }

    /// The payloads received with opcode `op`.
    pub fn received(&self, op: u64) -> Vec<Value> {
        self.records()
            .into_iter()
            .filter_map(|r| match r {
                Record::Received { payload, .. } if payload["op"] == op => Some(payload),
                _ => None,
            })
            .collect()
    }

    /// Waits until `check` holds for the records (panics after `timeout`: this is test code).
    pub async fn wait_until(&self, timeout: Duration, what: &str, check: impl Fn(&[Record]) -> bool) -> Vec<Record> {
        let deadline = Instant::now() + timeout;
        loop {
            let notified = self.shared.changed.notified();
            let records = self.records();
            if check(&records) {
                return records;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                panic!("fake Gateway: timed out waiting for {what}; records: {records:#?}");
            }
        }
    }

    /// Waits until `n` sessions have been started (READY sent).
    pub async fn wait_ready(&self, n: usize, timeout: Duration) {
        self.wait_until(timeout, "READY", |records| count_dispatches(records, "READY") >= n).await;
    }

    /// Dispatches event `name` with data `d` to the session of the shard that owns it (by
    /// `d.guild_id`; shard 0 for DMs), as that session's intents let it see the event. The
    /// event is kept for replay on RESUME. Returns its sequence number, or `None` when no
    /// session exists for that shard or the session did not ask for the event's intent.
    pub fn dispatch(&self, name: &str, mut d: Value) -> Option<u64> {
        let mut state = self.shared.lock();
        let guild = d.get("guild_id").and_then(Value::as_str).and_then(|g| g.parse::<u64>().ok());
        let session_id = {
            let total = state
                .shard_sessions
                .values()
                .filter_map(|s| state.sessions.get(s))
                .map(|s| s.shard.1)
                .next()
                .unwrap_or(1)
                .max(1);
            let shard = guild.map(|g| (g >> 22) % total).unwrap_or(0);
            state.shard_sessions.get(&shard).cloned()?
        };
        let intents = state.sessions.get(&session_id)?.intents;
        if required_intent(name, &d).is_some_and(|needed| intents & needed == 0) {
            return None;
        }
        if intents & MESSAGE_CONTENT == 0 && matches!(name, "MESSAGE_CREATE" | "MESSAGE_UPDATE") {
            hide_content(&mut d, state.options.bot_id);
        }
        let seq = dispatch_locked(&mut state, &session_id, name, d);
        drop(state);
        self.shared.changed.notify_waiters();
        seq
    }

    /// Sends a raw payload on every open connection (RECONNECT, INVALID_SESSION, a HEARTBEAT
    /// request, or anything malformed).
    pub fn send_raw(&self, payload: Value) {
        let state = self.shared.lock();
        for tx in state.connections.values() {
            let _ = tx.send(Control::Send(payload.to_string()));
        }
    }

    /// Sends RECONNECT (op 7) on every open connection.
    pub fn request_reconnect(&self) {
        self.send_raw(fixture(RECONNECT_FIXTURE));
    }

    /// Sends INVALID_SESSION (op 9) with `resumable` on every open connection; a session sent
    /// `false` is dropped.
    pub fn invalidate_sessions(&self, resumable: bool) {
        let mut payload = fixture(INVALID_SESSION_FIXTURE);
        payload["d"] = json!(resumable);
        if !resumable {
            let mut state = self.shared.lock();
            for session in state.sessions.values_mut() {
                session.valid = false;
            }
        }
        self.send_raw(payload);
    }

    /// Closes every open connection with a close frame of `code`.
    pub fn close_all(&self, code: u16, reason: &str) {
        let state = self.shared.lock();
        for tx in state.connections.values() {
            let _ = tx.send(Control::Close(code, reason.to_string()));
        }
    }

    /// Drops every open connection without a close frame (a network failure); sessions stay
    /// resumable.
    pub fn drop_connections(&self) {
        let state = self.shared.lock();
        for tx in state.connections.values() {
            let _ = tx.send(Control::Drop);
        }
    }

    /// How many connections are open now.
    pub fn open_connections(&self) -> usize {
        self.shared.lock().connections.len()
    }

    /// Stops answering heartbeats with HEARTBEAT_ACK (or starts again): what a client sees of
    /// a "zombied" connection, which Discord asks it to close and resume. The session itself
    /// stays alive, as the heartbeats still arrive.
    pub fn withhold_heartbeat_acks(&self, withhold: bool) {
        self.shared.lock().withhold_acks = withhold;
    }

    /// Makes every later RESUME also replay the last `n` dispatches the client had already
    /// been sent before the sequence it resumes from: delivery is at least once, and a client
    /// must not act twice on an event it sees again.
    pub fn replay_seen_on_resume(&self, n: u64) {
        self.shared.lock().replay_seen = n;
    }
}

fn fixture(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or(Value::Null)
}

fn count_dispatches(records: &[Record], name: &str) -> usize {
    records.iter().filter(|r| matches!(r, Record::Sent { payload, .. } if payload["t"] == name)).count()
}

/// Appends a dispatch to a session's log and sends it if the session has a connection.
/// The MESSAGE_CONTENT intent.
const MESSAGE_CONTENT: u64 = 1 << 15;

/// The intent without which Discord does not send event `name` (with data `d`); `None` for
/// events every session gets (READY, RESUMED, INTERACTION_CREATE, ...).
fn required_intent(name: &str, d: &Value) -> Option<u64> {
    let direct = d.get("guild_id").is_none_or(Value::is_null);
    let (in_guild, in_dm) = match name {
        "GUILD_CREATE" | "GUILD_UPDATE" | "GUILD_DELETE" | "GUILD_ROLE_CREATE" | "GUILD_ROLE_UPDATE"
        | "GUILD_ROLE_DELETE" | "CHANNEL_CREATE" | "CHANNEL_UPDATE" | "CHANNEL_DELETE" | "THREAD_CREATE"
        | "THREAD_UPDATE" | "THREAD_DELETE" => return Some(1 << 0),
        "GUILD_MEMBER_ADD" | "GUILD_MEMBER_UPDATE" | "GUILD_MEMBER_REMOVE" => return Some(1 << 1),
        "MESSAGE_CREATE" | "MESSAGE_UPDATE" | "MESSAGE_DELETE" => (1 << 9, 1 << 12),
        "MESSAGE_REACTION_ADD" | "MESSAGE_REACTION_REMOVE" => (1 << 10, 1 << 13),
        "TYPING_START" => (1 << 11, 1 << 14),
        _ => return None,
    };
    Some(if direct { in_dm } else { in_guild })
}

/// Empties what the MESSAGE_CONTENT intent guards, for a guild message that neither mentions
/// the bot nor is its own.
fn hide_content(message: &mut Value, bot_id: u64) {
    let bot = bot_id.to_string();
    let direct = message.get("guild_id").is_none_or(Value::is_null);
    let own = message["author"]["id"].as_str() == Some(bot.as_str());
    let mentioned = message["mentions"].as_array().is_some_and(|m| m.iter().any(|u| u["id"] == bot.as_str()));
    if direct || own || mentioned {
        return;
    }
    message["content"] = json!("");
    for field in ["embeds", "attachments", "components"] {
        message[field] = json!([]);
    }
    if let Some(m) = message.as_object_mut() {
        m.remove("poll");
    }
}

fn dispatch_locked(state: &mut GatewayState, session_id: &str, name: &str, d: Value) -> Option<u64> {
    let session = state.sessions.get_mut(session_id)?;
    session.seq += 1;
    let seq = session.seq;
    let mut payload = fixture(DISPATCH_FIXTURE);
    payload["t"] = json!(name);
    payload["s"] = json!(seq);
    payload["d"] = d;
    let text = payload.to_string();
    session.log.push((seq, text.clone()));
    if let Some(connection) = session.connection {
        if let Some(tx) = state.connections.get(&connection) {
            let _ = tx.send(Control::Send(text));
        }
    }
    Some(seq)
}

/// A MESSAGE_CREATE's `d`: Discord's example message with this id, channel, author and
/// content; in a guild, with `guild_id` and the partial `member` the Gateway adds.
pub fn message_create(id: u64, channel: u64, guild: Option<u64>, author: (u64, &str), content: &str) -> Value {
    let mut m: Value = serde_json::from_str(crate::fake_discord::MESSAGE_FIXTURE).unwrap_or_else(|_| json!({}));
    m["id"] = json!(id.to_string());
    m["channel_id"] = json!(channel.to_string());
    m["content"] = json!(content);
    m["reactions"] = json!([]);
    m["mentions"] = json!(mentioned_users(content));
    m["author"]["id"] = json!(author.0.to_string());
    m["author"]["username"] = json!(author.1);
    m["author"]["global_name"] = json!(author.1);
    if let Some(guild) = guild {
        m["guild_id"] = json!(guild.to_string());
        m["member"] = json!({
            "roles": [],
            "joined_at": "2017-07-11T17:27:07.299000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
            "nick": null,
            "communication_disabled_until": null,
        });
    }
    m
}

/// The users a message's content mentions (`<@ID>` or `<@!ID>`), as the partial user objects
/// of a message's `mentions`.
fn mentioned_users(content: &str) -> Vec<Value> {
    let mut users: Vec<Value> = Vec::new();
    for part in content.split("<@").skip(1) {
        let id = part.trim_start_matches('!');
        let Some((id, _)) = id.split_once('>') else { continue };
        if id.parse::<u64>().is_ok() && !users.iter().any(|u| u["id"] == id) {
            users.push(json!({
                "id": id, "username": format!("user{id}"), "discriminator": "0", "global_name": null,
                "avatar": null, "public_flags": 0,
            }));
        }
    }
    users
}

/// A GUILD_CREATE's `d` for `guild` (the fields Discord always sends for an available guild).
pub fn guild_create(guild: &FakeGuild, (bot_id, bot_name): (u64, &str)) -> Value {
    let channels: Vec<Value> = guild
        .channels
        .iter()
        .enumerate()
        .map(|(i, (id, name))| {
            json!({
                "id": id.to_string(), "type": 0, "guild_id": guild.id.to_string(), "name": name,
                "position": i, "permission_overwrites": [], "nsfw": false, "topic": null,
                "last_message_id": null, "rate_limit_per_user": 0, "parent_id": null,
            })
        })
        .collect();
    // Discord always includes the bot's own member.
    let bot_user = json!({
        "id": bot_id.to_string(), "username": bot_name, "discriminator": "0", "global_name": null,
        "avatar": null, "bot": true, "public_flags": 0,
    });
    let bot_member = json!({
        "user": bot_user, "nick": null, "roles": [], "joined_at": "2017-07-11T17:27:07.299000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false, "communication_disabled_until": null,
    });
    json!({
        "id": guild.id.to_string(), "name": guild.name, "icon": null, "splash": null,
        "discovery_splash": null, "owner_id": bot_id.to_string(), "afk_channel_id": null,
        "afk_timeout": 300, "verification_level": 0, "default_message_notifications": 0,
        "explicit_content_filter": 0, "roles": [{
            "id": guild.id.to_string(), "name": "@everyone", "color": 0, "hoist": false,
            "colors": { "primary_color": 0, "secondary_color": null, "tertiary_color": null },
            "position": 0, "permissions": "1071698660929", "managed": false, "mentionable": false,
            "flags": 0,
        }],
        "emojis": [], "features": [], "mfa_level": 0, "application_id": null,
        "system_channel_id": null, "system_channel_flags": 0, "rules_channel_id": null,
        "vanity_url_code": null, "description": null, "banner": null, "premium_tier": 0,
        "preferred_locale": "en-US", "public_updates_channel_id": null, "nsfw_level": 0,
        "premium_progress_bar_enabled": false, "safety_alerts_channel_id": null,
        "stickers": [], "joined_at": "2017-07-11T17:27:07.299000+00:00", "large": false,
        "unavailable": false, "member_count": 2, "voice_states": [], "members": [bot_member],
        "channels": channels, "threads": [], "presences": [], "stage_instances": [],
        "guild_scheduled_events": [], "soundboard_sounds": [],
    })
}

async fn upgrade(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    RawQuery(query): RawQuery,
    ws: WebSocketUpgrade,
) -> Response {
    let path = uri.path().to_string();
    let query = query.unwrap_or_default();
    if query_param(&query, "compress").is_some_and(|c| c != "zstd-stream") {
        let refusal = "this fake Discord Gateway implements compress=zstd-stream only";
        return (axum::http::StatusCode::BAD_REQUEST, refusal).into_response();
    }
    ws.on_upgrade(move |socket| serve(shared, socket, path, query))
}

/// Transport compression of one connection.
enum Codec {
    Plain,
    Zstd(zstd_safe::CCtx<'static>),
}

impl Codec {
    fn encode(&mut self, text: &str) -> Message {
        match self {
            Codec::Plain => Message::Text(Utf8Bytes::from(text)),
            Codec::Zstd(ctx) => {
                let mut out: Vec<u8> = Vec::with_capacity(zstd_safe::compress_bound(text.len()) + 64);
                let mut input = zstd_safe::InBuffer::around(text.as_bytes());
                loop {
                    if out.capacity() - out.len() < 1024 {
                        out.reserve(16 * 1024);
                    }
                    let pos = out.len();
                    let mut output = zstd_safe::OutBuffer::around_pos(&mut out, pos);
                    match ctx.compress_stream2(
                        &mut output,
                        &mut input,
                        zstd_safe::zstd_sys::ZSTD_EndDirective::ZSTD_e_flush,
                    ) {
                        Ok(0) => break,
                        Ok(_) => continue,
                        Err(code) => panic!("zstd compression failed: {}", zstd_safe::get_error_name(code)),
                    }
                }
                Message::Binary(out.into())
            }
        }
    }
}

/// What the connection does after a payload.
enum Next {
    Continue,
    Close(u16, &'static str),
}

struct Connection {
    shared: Arc<Shared>,
    id: u64,
    tx: mpsc::UnboundedSender<Control>,
    session: Option<String>,
    recent: VecDeque<Instant>,
    deadline: tokio::time::Instant,
    heartbeat_timeout: Duration,
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v))
}

async fn serve(shared: Arc<Shared>, mut socket: WebSocket, path: String, query: String) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (id, interval) = {
        let mut state = shared.lock();
        let id = state.next_connection;
        state.next_connection += 1;
        state.connections.insert(id, tx.clone());
        state.records.push(Record::Connected { connection: id, path: path.clone(), query: query.clone() });
        (id, state.options.heartbeat_interval)
    };
    shared.changed.notify_waiters();
    let mut codec = match query_param(&query, "compress") {
        Some("zstd-stream") => Codec::Zstd(zstd_safe::CCtx::create()),
        _ => Codec::Plain,
    };
    let heartbeat_timeout = interval.mul_f64(1.5);
    let mut conn = Connection {
        shared: Arc::clone(&shared),
        id,
        tx,
        session: None,
        recent: VecDeque::new(),
        deadline: tokio::time::Instant::now() + heartbeat_timeout,
        heartbeat_timeout,
    };
    // Discord serves v9 and v10 of the Gateway.
    let closed_by = if !matches!(query_param(&query, "v"), Some("9" | "10")) {
        close(&mut socket, 4012, "Invalid API version").await
    } else if query_param(&query, "encoding").is_some_and(|e| e != "json") {
        close(&mut socket, 4002, "Decode error: only encoding=json is supported here").await
    } else {
        let mut hello = fixture(HELLO_FIXTURE);
        hello["d"]["heartbeat_interval"] = json!(interval.as_millis() as u64);
        conn.send(&mut socket, &mut codec, &hello.to_string()).await;
        conn.run(&mut socket, &mut codec, &mut rx).await
    };
    let mut state = shared.lock();
    state.connections.remove(&id);
    if let Some(session_id) = &conn.session {
        let invalidate = matches!(closed_by, ClosedBy::Client(Some(1000 | 1001)) | ClosedBy::Server(4007 | 4009));
        if let Some(session) = state.sessions.get_mut(session_id) {
            if session.connection == Some(id) {
                session.connection = None;
            }
            if invalidate {
                session.valid = false;
            }
        }
    }
    state.records.push(Record::Closed { connection: id, by: closed_by });
    drop(state);
    shared.changed.notify_waiters();
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) -> ClosedBy {
    let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
    let _ = socket.send(Message::Close(Some(frame))).await;
    // Wait (briefly) for the client's close reply, as the websocket protocol asks.
    let _ =
        tokio::time::timeout(Duration::from_secs(2), async { while let Some(Ok(_)) = socket.recv().await {} }).await;
    ClosedBy::Server(code)
}

impl Connection {
    async fn send(&self, socket: &mut WebSocket, codec: &mut Codec, text: &str) -> bool {
        let payload = serde_json::from_str(text).unwrap_or(Value::Null);
        self.shared.record(Record::Sent { connection: self.id, payload });
        socket.send(codec.encode(text)).await.is_ok()
    }

    async fn run(
        &mut self,
        socket: &mut WebSocket,
        codec: &mut Codec,
        rx: &mut mpsc::UnboundedReceiver<Control>,
    ) -> ClosedBy {
        loop {
            tokio::select! {
                message = socket.recv() => match message {
                    None | Some(Err(_)) => return ClosedBy::Dropped,
                    Some(Ok(Message::Text(text))) => {
                        if let Next::Close(code, reason) = self.payload(text.as_str()) {
                            return close(socket, code, reason).await;
                        }
                    }
                    Some(Ok(Message::Binary(_))) => {
                        return close(socket, 4002, "Decode error: binary payloads need encoding=etf").await;
                    }
                    Some(Ok(Message::Close(frame))) => return ClosedBy::Client(frame.map(|f| f.code)),
                    Some(Ok(_)) => {}
                },
                control = rx.recv() => match control {
                    Some(Control::Send(text)) => {
                        if !self.send(socket, codec, &text).await {
                            return ClosedBy::Dropped;
                        }
                    }
                    Some(Control::Close(code, reason)) => {
                        if matches!(code, 4007 | 4009) {
                            self.end_session();
                        }
                        let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
                        let _ = socket.send(Message::Close(Some(frame))).await;
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            while let Some(Ok(_)) = socket.recv().await {}
                        })
                        .await;
                        return ClosedBy::Server(code);
                    }
                    Some(Control::Drop) | None => return ClosedBy::Dropped,
                },
                _ = tokio::time::sleep_until(self.deadline) => {
                    self.end_session();
                    return close(socket, 4009, "Session timed out").await;
                }
            }
        }
    }

    /// Ends this connection's session before a close that forbids resuming it.
    fn end_session(&self) {
        if let Some(id) = &self.session {
            if let Some(session) = self.shared.lock().sessions.get_mut(id) {
                session.valid = false;
            }
        }
    }

    /// Handles one payload from the client; the answers go out through the control channel.
    fn payload(&mut self, text: &str) -> Next {
        let now = Instant::now();
        // Discord closes a connection that sends a payload over 4096 bytes.
        if text.len() > 4096 {
            return Next::Close(4002, "Decode error");
        }
        let payload: Value = match serde_json::from_str(text) {
            Ok(v) => v,
            Err(_) => return Next::Close(4002, "Decode error"),
        };
        self.shared.record(Record::Received { connection: self.id, payload: payload.clone(), at: now });
        self.recent.push_back(now);
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60)) {
            self.recent.pop_front();
        }
        if self.recent.len() > 120 {
            return Next::Close(4008, "Rate limited");
        }
        let Some(op) = payload.get("op").and_then(Value::as_u64) else {
            return Next::Close(4002, "Decode error");
        };
        let d = &payload["d"];
        match op {
            1 => {
                self.deadline = tokio::time::Instant::now() + self.heartbeat_timeout;
                if !self.shared.lock().withhold_acks {
                    let _ = self.tx.send(Control::Send(fixture(HEARTBEAT_ACK_FIXTURE).to_string()));
                }
                Next::Continue
            }
            2 if self.session.is_some() => Next::Close(4005, "Already authenticated"),
            2 => self.identify(d),
            6 if self.session.is_some() => Next::Close(4005, "Already authenticated"),
            6 => self.resume(d),
            3 | 4 | 8 | 31 if self.session.is_some() => Next::Continue,
            3 | 4 | 8 | 31 => Next::Close(4003, "Not authenticated"),
            _ => Next::Close(4001, "Unknown opcode"),
        }
    }

    fn token_ok(&self, state: &GatewayState, d: &Value) -> bool {
        let token = d.get("token").and_then(Value::as_str).unwrap_or_default();
        token.strip_prefix("Bot ").unwrap_or(token) == state.options.token
    }

    fn identify(&mut self, d: &Value) -> Next {
        let mut state = self.shared.lock();
        if !self.token_ok(&state, d) {
            return Next::Close(4004, "Authentication failed");
        }
        let Some(intents) = d.get("intents").and_then(Value::as_u64) else {
            return Next::Close(4002, "Decode error");
        };
        if intents & !KNOWN_INTENTS != 0 {
            return Next::Close(4013, "Invalid intent(s)");
        }
        if intents & PRIVILEGED_INTENTS & !state.options.privileged_intents != 0 {
            return Next::Close(4014, "Disallowed intent(s)");
        }
        let shard = match d.get("shard") {
            None | Some(Value::Null) => (0, 1),
            Some(s) => match (s.get(0).and_then(Value::as_u64), s.get(1).and_then(Value::as_u64)) {
                (Some(id), Some(total)) if total > 0 && id < total => (id, total),
                _ => return Next::Close(4010, "Invalid shard"),
            },
        };
        let session_id = format!("fake-session-{:04}-{:016x}", state.next_session, session_salt(state.next_session));
        state.next_session += 1;
        state.sessions.insert(
            session_id.clone(),
            Session { shard, intents, seq: 0, log: Vec::new(), connection: Some(self.id), valid: true },
        );
        state.shard_sessions.insert(shard.0, session_id.clone());
        self.session = Some(session_id.clone());
        let options = state.options.clone();
        let guilds: Vec<&FakeGuild> = options.guilds.iter().filter(|g| (g.id >> 22) % shard.1 == shard.0).collect();
        let ready = json!({
            "v": 10,
            "user": {
                "id": options.bot_id.to_string(), "username": options.bot_name, "discriminator": "0",
                "global_name": null, "avatar": null, "bot": true, "mfa_enabled": false,
                "verified": true, "flags": 0,
            },
            "guilds": guilds.iter().map(|g| json!({ "id": g.id.to_string(), "unavailable": true })).collect::<Vec<_>>(),
            "session_id": session_id,
            "resume_gateway_url": format!("ws://{}/resume", state.addr),
            "shard": [shard.0, shard.1],
            "application": { "id": options.bot_id.to_string(), "flags": 0 },
        });
        dispatch_locked(&mut state, &session_id, "READY", ready);
        for guild in guilds {
            dispatch_locked(
                &mut state,
                &session_id,
                "GUILD_CREATE",
                guild_create(guild, (options.bot_id, &options.bot_name)),
            );
        }
        Next::Continue
    }

    fn resume(&mut self, d: &Value) -> Next {
        let mut state = self.shared.lock();
        if !self.token_ok(&state, d) {
            return Next::Close(4004, "Authentication failed");
        }
        let session_id = d.get("session_id").and_then(Value::as_str).unwrap_or_default().to_string();
        let seq = d.get("seq").and_then(Value::as_u64).unwrap_or(0);
        let from = seq.saturating_sub(state.replay_seen);
        let (replay, current) = match state.sessions.get_mut(&session_id) {
            Some(session) if session.valid => {
                if seq > session.seq {
                    return Next::Close(4007, "Invalid seq");
                }
                let old = session.connection.replace(self.id);
                let replay: Vec<String> =
                    session.log.iter().filter(|(s, _)| *s > from).map(|(_, t)| t.clone()).collect();
                (replay, old)
            }
            _ => {
                let _ = self.tx.send(Control::Send(fixture(INVALID_SESSION_FIXTURE).to_string()));
                return Next::Continue;
            }
        };
        if let Some(old) = current.filter(|c| *c != self.id) {
            if let Some(tx) = state.connections.get(&old) {
                let _ = tx.send(Control::Drop);
            }
        }
        self.session = Some(session_id.clone());
        for text in replay {
            let _ = self.tx.send(Control::Send(text));
        }
        dispatch_locked(&mut state, &session_id, "RESUMED", Value::Null);
        Next::Continue
    }
}

/// A session-id suffix that differs between runs (sessions must not be guessable across
/// fakes); no cryptographic strength needed.
fn session_salt(salt: u64) -> u64 {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
    nanos.rotate_left(17) ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)
}
