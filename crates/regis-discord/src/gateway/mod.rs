//! The Discord Gateway connector on twilight: shards connected with the bot token; messages
//! (prefix and `@mention` commands, in guild channels and DMs), interactions (slash commands,
//! components and autocomplete in INTERACTION_CREATE, answered through the interaction
//! callback endpoint with the same deadline rule as the HTTP endpoint), members joining and reactions, turned into envelopes.
//!
//! twilight-gateway keeps each shard connected: it heartbeats, resumes after a disconnect
//! (Discord replays what was missed, and replayed messages keep their envelope ids, so none is
//! handled twice), re-identifies when the session is invalidated, and reconnects on RECONNECT.
//! A fatal close code (4004 authentication failed, 4010–4014) stops [`Gateway::run`] with a
//! [`GatewayError::Fatal`] that says what to fix; it is never retried.
//!
//! ```ignore
//! let rest = Arc::new(DiscordConnector::new(RestConfig { token: Some(token.clone()), ..Default::default() })?);
//! let gateway = Gateway::new(GatewayConfig::new(token), rest)?;
//! let bot = Bot::builder(config).connector(gateway.connector()).start().await?;
//! gateway.run(bot.ingress(), shutdown).await?;
//! ```

mod callback;
mod connector;
pub mod events;
mod identify;
pub mod sync;

pub use connector::GatewayConnector;
pub use sync::{diff, sync_commands, CommandDiff, SyncError};

use crate::rest::{DiscordConnector, RestError};
use callback::Answerer;
use connector::Gates;
use identify::IdentifyGate;
use regis_core::{Connector, Destination, Ingress, QueueError};
use std::future::Future;
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::watch;
use twilight_cache_inmemory::{DefaultInMemoryCache, ResourceType};
use twilight_gateway::queue::InMemoryQueue;
use twilight_gateway::{CloseFrame, ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt};
use twilight_model::gateway::CloseCode;
use twilight_model::id::marker::UserMarker;
use twilight_model::id::Id;

/// The intents asked for by default: guilds, guild messages, direct messages and message
/// content (privileged: enable it on the Bot page of the developer portal).
pub const DEFAULT_INTENTS: Intents =
    Intents::GUILDS.union(Intents::GUILD_MESSAGES).union(Intents::DIRECT_MESSAGES).union(Intents::MESSAGE_CONTENT);

/// How IDENTIFYs are spaced (Discord allows `max_concurrency` per 5 seconds).
#[derive(Clone)]
pub enum IdentifyQueue {
    /// As Discord's `session_start_limit` says (`GET /gateway/bot`), or 1 per 5 s.
    Discord,
    /// As [`Discord`](Self::Discord), and across every gateway process of the bot: each
    /// IDENTIFY first takes its rate-limit bucket's slot in these shared slots (held 5 s).
    Shared(Arc<dyn regis_core::shared::SharedSlots>),
    /// No spacing: for tests, or behind a Gateway proxy that spaces them itself.
    Unlimited,
}

impl std::fmt::Debug for IdentifyQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdentifyQueue::Discord => "Discord",
            IdentifyQueue::Shared(_) => "Shared",
            IdentifyQueue::Unlimited => "Unlimited",
        })
    }
}

/// How to connect to the Gateway.
#[derive(Clone)]
pub struct GatewayConfig {
    /// The bot token (a secret: `Debug` hides it).
    pub token: String,
    /// The events asked for.
    pub intents: Intents,
    /// The Gateway URL (`wss://...`); `None`: the one `GET /gateway/bot` gives.
    pub gateway_url: Option<String>,
    /// How many shards; `None`: Discord's recommendation from `GET /gateway/bot`.
    pub shards: Option<u32>,
    /// The shards this process runs, `first..=last` of the total (several gateway processes
    /// split the shards); `None`: all of them. Needs `shards`.
    pub shard_range: Option<(u32, u32)>,
    /// How long a slash command's handler may take before the interaction is deferred.
    pub budget: Duration,
    /// How IDENTIFYs are spaced.
    pub identify_queue: IdentifyQueue,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("token", &"<redacted>")
            .field("intents", &self.intents)
            .field("gateway_url", &self.gateway_url)
            .field("shards", &self.shards)
            .field("shard_range", &self.shard_range)
            .field("budget", &self.budget)
            .field("identify_queue", &self.identify_queue)
            .finish()
    }
}

impl GatewayConfig {
    /// The defaults for `token`: [`DEFAULT_INTENTS`], Discord's URL and shard count, a 2 s
    /// budget.
    pub fn new(token: impl Into<String>) -> Self {
        GatewayConfig {
            token: token.into(),
            intents: DEFAULT_INTENTS,
            gateway_url: None,
            shards: None,
            shard_range: None,
            budget: Duration::from_secs(2),
            identify_queue: IdentifyQueue::Discord,
        }
    }
}

/// Intents by their Discord names, case-insensitive (`guilds`, `guild_messages`,
/// `direct_messages`, `message_content`, `guild_members`, `guild_message_reactions`, ...).
pub fn parse_intents<S: AsRef<str>>(names: &[S]) -> Result<Intents, GatewayError> {
    names.iter().try_fold(Intents::empty(), |all, name| {
        let name = name.as_ref().trim();
        Intents::from_name(&name.to_ascii_uppercase())
            .map(|i| all | i)
            .ok_or_else(|| GatewayError::UnknownIntent(name.to_string()))
    })
}

/// Why the Gateway connector stopped or could not start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The REST settings are unusable.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// `GET /gateway/bot` failed.
    #[error("cannot get the Gateway URL and shard count from Discord (GET /gateway/bot): {0}")]
    GatewayBot(String),
    /// An intent name is not one Discord defines.
    #[error("unknown Gateway intent `{0}`")]
    UnknownIntent(String),
    /// The shard count is zero.
    #[error("the shard count must be at least 1")]
    NoShards,
    /// The shard range is not within the shard count (or names no total).
    #[error("shard range {first}-{last} is not within 0-{last_shard} (write e.g. 0-15/64)", last_shard = total.saturating_sub(1))]
    BadShardRange {
        /// Its first shard.
        first: u32,
        /// Its last shard.
        last: u32,
        /// The shard count.
        total: u32,
    },
    /// Discord closed a shard with a code that forbids reconnecting.
    #[error("Discord closed the Gateway (shard {shard}) with {code} {reason}: {advice}")]
    Fatal {
        /// The shard.
        shard: u32,
        /// The close code.
        code: u16,
        /// Discord's reason text.
        reason: String,
        /// What to do about it.
        advice: &'static str,
    },
}

/// What to do about a fatal close code.
fn advice(code: u16) -> &'static str {
    match code {
        4004 => "the bot token was refused; check DISCORD_TOKEN (developer portal, Bot page, Reset Token)",
        4010 => "invalid shard; check the shard count (discord_shards)",
        4011 => "sharding required; unset discord_shards to use Discord's recommendation, or raise it",
        4012 => "invalid API version",
        4013 => "invalid intents; check discord_intents",
        4014 => "disallowed intents; enable the privileged intents the bot asks for (Message Content, Server Members, Presence) on the Bot page of the developer portal, or remove them from discord_intents",
        _ => "Discord forbids reconnecting after it",
    }
}

/// Whether a close code forbids reconnecting.
pub fn is_fatal(code: u16) -> bool {
    CloseCode::try_from(code).is_ok_and(|c| !c.can_reconnect())
}

/// State shared by the shards.
struct Shared {
    cache: Arc<DefaultInMemoryCache>,
    bot: RwLock<Option<Id<UserMarker>>>,
    /// Each running shard's number and whether its session is active now.
    sessions: std::sync::Mutex<std::collections::BTreeMap<u32, bool>>,
}

/// Whether the Gateway's shards are connected, for a readiness check; see [`Gateway::status`].
#[derive(Clone)]
pub struct GatewayStatus(Arc<Shared>);

impl GatewayStatus {
    /// `Ok` when every shard this process runs has an active session; else which are not.
    pub fn ready(&self) -> Result<(), String> {
        let sessions = self.0.sessions.lock().unwrap_or_else(|e| e.into_inner());
        if sessions.is_empty() {
            return Err("no Gateway shard has connected yet".into());
        }
        let down: Vec<String> = sessions.iter().filter(|(_, up)| !**up).map(|(n, _)| n.to_string()).collect();
        if down.is_empty() {
            Ok(())
        } else {
            Err(format!("Gateway shard(s) {} not connected", down.join(", ")))
        }
    }
}

/// The Gateway connector: build it, attach [`Gateway::connector`] to the bot, then
/// [`Gateway::run`] it with the bot's ingress.
pub struct Gateway {
    config: GatewayConfig,
    rest: Arc<DiscordConnector>,
    shared: Arc<Shared>,
    gates: Arc<Gates>,
    connector: Arc<GatewayConnector>,
}

impl Gateway {
    /// A Gateway connector that sends through `rest`, which must carry the same bot token; its
    /// REST client (and rate limiter) also serves the Gateway's own calls.
    pub fn new(config: GatewayConfig, rest: Arc<DiscordConnector>) -> Result<Self, GatewayError> {
        if !rest.has_token() {
            return Err(RestError::NeedsToken("the Gateway connector's REST client").into());
        }
        if config.shards == Some(0) {
            return Err(GatewayError::NoShards);
        }
        if let Some((first, last)) = config.shard_range {
            let total = config.shards.unwrap_or(0);
            if first > last || last >= total {
                return Err(GatewayError::BadShardRange { first, last, total });
            }
        }
        let cache = Arc::new(
            DefaultInMemoryCache::builder()
                .resource_types(
                    ResourceType::USER | ResourceType::CHANNEL | ResourceType::GUILD | ResourceType::USER_CURRENT,
                )
                .build(),
        );
        let gates = Arc::new(Gates::default());
        let connector = Arc::new(GatewayConnector::new(Arc::clone(&rest), Arc::clone(&cache), Arc::clone(&gates)));
        Ok(Gateway {
            config,
            rest,
            shared: Arc::new(Shared { cache, bot: RwLock::new(None), sessions: Default::default() }),
            gates,
            connector,
        })
    }

    /// The `discord` connector to attach to the bot.
    pub fn connector(&self) -> Arc<GatewayConnector> {
        Arc::clone(&self.connector)
    }

    /// Whether the shards are connected, readable while [`Gateway::run`] runs.
    pub fn status(&self) -> GatewayStatus {
        GatewayStatus(Arc::clone(&self.shared))
    }

    /// Connects every shard and turns what arrives into envelopes on `ingress`, until
    /// `shutdown` completes (then the shards close normally and `Ok` is returned) or a shard
    /// is closed with a fatal code (`Err`, after closing the others).
    pub async fn run(self, ingress: Ingress, shutdown: impl Future<Output = ()> + Send) -> Result<(), GatewayError> {
        tokio::pin!(shutdown);
        let (url, total, queue) = tokio::select! {
            resolved = self.resolve(self.rest.http()) => resolved?,
            _ = &mut shutdown => return Ok(()),
        };
        let (first, last) = self.config.shard_range.unwrap_or((0, total - 1));
        tracing::info!(url = %url, shards = total, first, last, "connecting to the Discord Gateway");
        let config =
            ConfigBuilder::new(self.config.token.clone(), self.config.intents).proxy_url(url).queue(queue).build();
        crate::remote::answer_from(ingress.rendezvous(), self.rest.pending());
        let answerer = Arc::new(Answerer {
            rest: Arc::clone(&self.rest),
            gates: Arc::clone(&self.gates),
            ingress: ingress.clone(),
            budget: self.config.budget,
        });
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = tokio::task::JoinSet::new();
        for id in (first..=last).map(|id| ShardId::new(id, total)) {
            let shard = Shard::with_config(id, config.clone());
            let runner = ShardRunner {
                shared: Arc::clone(&self.shared),
                answerer: Arc::clone(&answerer),
                ingress: ingress.clone(),
                stop: stop_rx.clone(),
            };
            tasks.spawn(runner.run(shard));
        }
        let mut result = Ok(());
        loop {
            tokio::select! {
                _ = &mut shutdown, if !*stop_tx.borrow() => {
                    let _ = stop_tx.send(true);
                }
                done = tasks.join_next() => match done {
                    None => break,
                    Some(Ok(Ok(()))) => {}
                    Some(Ok(Err(e))) => {
                        if result.is_ok() {
                            result = Err(e);
                        }
                        let _ = stop_tx.send(true);
                    }
                    Some(Err(join)) => {
                        tracing::error!(error = %join, "a Gateway shard task ended abnormally");
                        let _ = stop_tx.send(true);
                    }
                },
            }
        }
        result
    }

    /// The Gateway URL, the shard count and the identify queue, from the configuration or
    /// `GET /gateway/bot`.
    async fn resolve(&self, http: &twilight_http::Client) -> Result<(String, u32, IdentifyGate), GatewayError> {
        let (url, shards, local, concurrency) = match (&self.config.gateway_url, self.config.shards) {
            // Both configured: no need to ask Discord; one IDENTIFY per 5 s.
            (Some(url), Some(shards)) => (url.clone(), shards, InMemoryQueue::default(), 1),
            _ => {
                let info = gateway_bot(http).await?;
                let limit = info.session_start_limit;
                let local = InMemoryQueue::new(
                    limit.max_concurrency.max(1),
                    limit.remaining.min(limit.total),
                    Duration::from_millis(limit.reset_after),
                    limit.total,
                );
                let url = self.config.gateway_url.clone().unwrap_or(info.url);
                (url, self.config.shards.unwrap_or(info.shards).max(1), local, limit.max_concurrency.max(1))
            }
        };
        let queue = match &self.config.identify_queue {
            IdentifyQueue::Discord => IdentifyGate::local(local),
            IdentifyQueue::Shared(slots) => IdentifyGate::shared(local, Arc::clone(slots), concurrency),
            IdentifyQueue::Unlimited => IdentifyGate::local(InMemoryQueue::new(0, 0, Duration::ZERO, 0)),
        };
        Ok((url.trim_end_matches('/').to_string(), shards, queue))
    }
}

/// `GET /gateway/bot`, retried with backoff until it answers (Discord may be unreachable for
/// a while when the bot starts); a refused token (401, or the shared client's memory of an
/// earlier 401) is final.
async fn gateway_bot(
    http: &twilight_http::Client,
) -> Result<twilight_model::gateway::connection_info::BotConnectionInfo, GatewayError> {
    let mut backoff = Duration::from_millis(500);
    loop {
        let error = match http.gateway().authed().await {
            Ok(response) => match response.model().await {
                Ok(info) => return Ok(info),
                Err(e) => e.to_string(),
            },
            Err(e) => {
                let refused = match e.kind() {
                    twilight_http::error::ErrorType::Response { status, .. } => status.get() == 401,
                    twilight_http::error::ErrorType::Unauthorized => true,
                    _ => false,
                };
                if refused {
                    return Err(GatewayError::GatewayBot(
                        "Discord refused the bot token (401); check DISCORD_TOKEN".into(),
                    ));
                }
                e.to_string()
            }
        };
        tracing::warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "GET /gateway/bot failed; retrying");
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// A receive error as a log line may carry it. An event twilight could not read comes with
/// its raw payload, which may hold an interaction token: only its opcode and type are named,
/// with the values quoted in the parse error hidden.
fn describe_receive_error(error: &twilight_gateway::error::ReceiveMessageError) -> String {
    use std::error::Error as _;
    match error.kind() {
        twilight_gateway::error::ReceiveMessageErrorType::Deserializing { event } => {
            let payload: Option<serde_json::Value> = serde_json::from_str(event).ok();
            let field = |name: &str| payload.as_ref().and_then(|p| p.get(name)).cloned();
            let op = field("op").and_then(|v| v.as_u64()).map_or_else(|| "?".into(), |op| op.to_string());
            let kind = field("t").and_then(|v| v.as_str().map(String::from)).unwrap_or_else(|| "no type".into());
            let reason = error.source().map(|s| hide_quoted(&s.to_string())).unwrap_or_default();
            format!("could not read a Gateway event (op {op}, {kind}), skipped it: {reason}")
        }
        _ => error.to_string(),
    }
}

/// `text` with every `"quoted"` value replaced by `"…"` (serde's messages quote the values
/// they could not use).
fn hide_quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            out.push('"');
            if !inside {
                out.push('…');
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// What a command refused by a full queue is answered with (the same words as an
/// interaction's).
pub(crate) const BUSY: &str = "The bot is busy; try again in a moment.";

/// How long a stopping shard waits for Discord's answer to its close frame.
const STOP_WAIT: Duration = Duration::from_secs(2);

/// Counts a lost Gateway connection that twilight reconnects (`regis_connector_reconnects_total`).
fn reconnecting() {
    metrics::counter!("regis_connector_reconnects_total", "connector" => "discord").increment(1);
}

/// One shard's receive loop.
struct ShardRunner {
    shared: Arc<Shared>,
    answerer: Arc<Answerer>,
    ingress: Ingress,
    stop: watch::Receiver<bool>,
}

impl ShardRunner {
    /// Notes a shard's state for [`GatewayStatus`] and sets its gauges:
    /// `regis_gateway_shard_connected{shard}` (1 while its session is active) and
    /// `regis_gateway_latency_seconds{shard}` (its latest heartbeat's round trip).
    fn record(&self, shard: &Shard<IdentifyGate>) {
        let active = matches!(shard.state(), twilight_gateway::ShardState::Active);
        self.shared.sessions.lock().unwrap_or_else(|e| e.into_inner()).insert(shard.id().number(), active);
        let number = shard.id().number().to_string();
        metrics::gauge!("regis_gateway_shard_connected", "shard" => number.clone()).set(if active { 1.0 } else { 0.0 });
        if let Some(latency) = shard.latency().recent().first() {
            metrics::gauge!("regis_gateway_latency_seconds", "shard" => number).set(latency.as_secs_f64());
        }
    }

    async fn run(mut self, mut shard: Shard<IdentifyGate>) -> Result<(), GatewayError> {
        let id = shard.id();
        let mut stopping = false;
        let stop_deadline = tokio::time::sleep(Duration::from_secs(3600));
        tokio::pin!(stop_deadline);
        loop {
            tokio::select! {
                changed = self.stop.changed(), if !stopping => {
                    if changed.is_err() || *self.stop.borrow() {
                        stopping = true;
                        shard.close(CloseFrame::NORMAL);
                        // Discord answers the close frame; do not wait for it forever.
                        stop_deadline.as_mut().reset(tokio::time::Instant::now() + STOP_WAIT);
                    }
                }
                _ = &mut stop_deadline, if stopping => return Ok(()),
                item = shard.next_event(EventTypeFlags::all()) => {
                    self.record(&shard);
                    match item {
                    None => return Ok(()),
                    Some(Ok(Event::GatewayClose(_))) if stopping => return Ok(()),
                    Some(_) if stopping => {}
                    Some(Err(e)) => {
                        tracing::warn!(shard = id.number(), error = %describe_receive_error(&e), "Gateway error");
                        reconnecting();
                    }
                    Some(Ok(Event::GatewayClose(frame))) => {
                        let Some(frame) = frame else { continue };
                        if is_fatal(frame.code) {
                            return Err(GatewayError::Fatal {
                                shard: id.number(),
                                code: frame.code,
                                reason: frame.reason.to_string(),
                                advice: advice(frame.code),
                            });
                        }
                        tracing::info!(shard = id.number(), code = frame.code, "Gateway connection closed; resuming");
                        reconnecting();
                    }
                    Some(Ok(event)) => self.handle(id, event).await,
                    }
                },
            }
        }
    }

    async fn handle(&self, shard: ShardId, event: Event) {
        self.shared.cache.update(&event);
        let prefix = self.ingress.prefix();
        let bot = *self.shared.bot.read().unwrap_or_else(|e| e.into_inner());
        let envelope = match event {
            Event::Ready(ready) => {
                *self.shared.bot.write().unwrap_or_else(|e| e.into_inner()) = Some(ready.user.id);
                tracing::info!(shard = shard.number(), user = %ready.user.name, guilds = ready.guilds.len(), "Gateway session ready");
                None
            }
            Event::Resumed => {
                tracing::info!(shard = shard.number(), "Gateway session resumed");
                None
            }
            Event::MessageCreate(message) => events::message_envelope(&message, bot, prefix),
            Event::MemberAdd(member) => Some(events::member_join_envelope(&member)),
            Event::ReactionAdd(reaction) => Some(events::reaction_envelope(&reaction)),
            Event::InteractionCreate(interaction) => {
                let answerer = Arc::clone(&self.answerer);
                tokio::spawn(async move { answerer.answer(interaction.0).await });
                None
            }
            _ => None,
        };
        if let Some(envelope) = envelope {
            let command = envelope.text().is_some_and(|t| regis_core::command::split_invocation(t, prefix).is_some());
            // Kept for the busy notice; only commands get one, so only they are copied.
            let refused = command.then(|| envelope.clone());
            let id = envelope.id.clone();
            match self.ingress.submit(envelope).await {
                Ok(()) => {}
                // A command is answered, so its author knows to try again; other messages
                // and events are dropped with a log line only (answering them would be noise).
                Err(e @ QueueError::Full(_)) if refused.is_some() => {
                    let Some(refused) = refused else { return };
                    tracing::warn!(envelope = %id, error = %e, "command refused by the queue; telling its author");
                    let rest = Arc::clone(&self.answerer.rest);
                    tokio::spawn(async move {
                        let busy = regis_core::Reply::text(BUSY);
                        if let Err(e) = rest.send(Some(&refused), &Destination::Origin, busy).await {
                            tracing::warn!(envelope = %refused.id, error = %e, "could not send the busy notice");
                        }
                    });
                }
                Err(e) => tracing::warn!(envelope = %id, error = %e, "envelope refused by the queue"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_by_name() {
        let i = parse_intents(&["guilds", "GUILD_MESSAGES", " direct_messages ", "message_content"]).unwrap();
        assert_eq!(i, DEFAULT_INTENTS);
        assert!(matches!(parse_intents(&["guild"]), Err(GatewayError::UnknownIntent(n)) if n == "guild"));
    }

    #[test]
    fn fatal_codes() {
        for code in [4004, 4010, 4011, 4012, 4013, 4014] {
            assert!(is_fatal(code), "{code}");
        }
        for code in [1000, 1006, 4000, 4007, 4009] {
            assert!(!is_fatal(code), "{code}");
        }
        assert!(advice(4014).contains("Message Content"));
    }

    #[test]
    fn quoted_values_are_hidden() {
        assert_eq!(
            hide_quoted(r#"invalid type: string "secret-token", expected u64 at line 1"#),
            r#"invalid type: string "…", expected u64 at line 1"#
        );
        assert_eq!(hide_quoted("missing field `id`"), "missing field `id`");
    }

    #[test]
    fn debug_hides_the_token() {
        assert!(!format!("{:?}", GatewayConfig::new("very-secret")).contains("very-secret"));
    }

    #[tokio::test]
    async fn the_rest_client_must_carry_the_token() {
        let rest = Arc::new(DiscordConnector::new(crate::RestConfig::default()).unwrap());
        let refused = Gateway::new(GatewayConfig::new("t"), rest).err().map(|e| e.to_string());
        assert_eq!(refused.as_deref(), Some("the Gateway connector's REST client needs a bot token (DISCORD_TOKEN)"));
    }
}
