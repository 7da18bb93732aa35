//! Egress through Discord's REST API on twilight-http: interaction responses (edit of
//! `@original`, follow-ups), and with a bot token channel messages, DMs and lookups.
//! Requests go through twilight's rate limiter and, for Discord's global limit, through
//! [`global_limit`]'s forwarder; interaction replies that fail are retried with backoff while the
//! interaction token is still valid.

mod files;
mod global_limit;

pub use global_limit::ForwarderError;

use crate::convert::{self, InteractionHandle};
use crate::pending::{Answer, Pending, Route, TOKEN_LIFETIME};
use async_trait::async_trait;
use regis_core::shared::Rendezvous;
use regis_core::{
    Capabilities, ChannelInfo, Connector, ConnectorError, Destination, Envelope, Reply, SentMessage, UserInfo,
};
use std::future::IntoFuture;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use twilight_http::error::ErrorType;
use twilight_http::Client;
use twilight_model::id::marker::{ApplicationMarker, ChannelMarker, UserMarker};
use twilight_model::id::Id;

/// How long a REST request may take, a hold of the global-limit forwarder included.
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// Discord's REST API base URL.
pub const DEFAULT_API_URL: &str = "https://discord.com/api/v10";

/// How to reach Discord's REST API.
#[derive(Clone)]
pub struct RestConfig {
    /// Base URL, `https://discord.com/api/v10` by default; another host (a rate-limit proxy,
    /// a test server) must serve the same `/api/v10/...` paths.
    pub api_url: String,
    /// The bot token; not needed to answer interactions.
    pub token: Option<String>,
    /// Longest wait between retries.
    pub max_backoff: Duration,
}

impl std::fmt::Debug for RestConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestConfig")
            .field("api_url", &self.api_url)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Default for RestConfig {
    fn default() -> Self {
        RestConfig { api_url: DEFAULT_API_URL.into(), token: None, max_backoff: Duration::from_secs(30) }
    }
}

/// A REST failure.
#[derive(Debug, thiserror::Error)]
pub enum RestError {
    /// The API URL is not of the form `http(s)://HOST/api/v10`.
    #[error("Discord API URL `{0}` must look like https://HOST/api/v10")]
    BadApiUrl(String),
    /// Discord (or the proxy) refused the request.
    #[error("Discord answered {status}: {message}")]
    Api {
        /// HTTP status.
        status: u16,
        /// Discord's error message.
        message: String,
    },
    /// The transport failed and retries ran out with the token.
    #[error("request failed: {0}")]
    Transport(String),
    /// The interaction token expired (15 minutes); the reply was dropped.
    #[error("interaction token expired; reply dropped")]
    Expired,
    /// An id from Discord was not a snowflake.
    #[error("`{0}` is not a Discord id")]
    BadId(String),
    /// The operation needs a bot token.
    #[error("{0} needs a bot token (DISCORD_TOKEN)")]
    NeedsToken(&'static str),
    /// The client could not start.
    #[error(transparent)]
    Start(#[from] ForwarderError),
}

impl From<RestError> for ConnectorError {
    fn from(e: RestError) -> Self {
        match e {
            // Discord failing or unreachable: worth handling the envelope again later.
            RestError::Api { status, .. } if status >= 500 => ConnectorError::Unavailable(e.to_string()),
            RestError::Transport(_) => ConnectorError::Unavailable(e.to_string()),
            e => ConnectorError::Failed(e.to_string()),
        }
    }
}

/// Splits `http(s)://HOST/api/v10` into its origin (`http(s)://HOST`).
pub(crate) fn api_origin(url: &str) -> Result<String, RestError> {
    let bad = || RestError::BadApiUrl(url.to_string());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    if scheme != "https" && scheme != "http" {
        return Err(bad());
    }
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    if host.is_empty() || host.contains('@') || path.trim_end_matches('/') != "api/v10" {
        return Err(bad());
    }
    let origin = format!("{scheme}://{host}");
    match origin.parse::<axum::http::Uri>() {
        Ok(uri) if uri.authority().is_some_and(|a| a.as_str() == host) => Ok(origin),
        _ => Err(bad()),
    }
}

/// A twilight-http client for `api_url` with `token`, sending through a [`global_limit`] forwarder
/// (which it needs alive), with the crypto provider installed and [`CLIENT_TIMEOUT`].
fn client(api_url: &str, token: Option<&str>) -> Result<(Client, global_limit::GlobalLimitForwarder), RestError> {
    crate::install_crypto_provider();
    let forwarder = global_limit::GlobalLimitForwarder::start(api_origin(api_url)?)?;
    let mut builder = Client::builder().timeout(CLIENT_TIMEOUT).proxy(forwarder.host(), true);
    if let Some(token) = token {
        builder = builder.token(token.to_string());
    }
    Ok((builder.build(), forwarder))
}

/// The model of a successful lookup, `None` for a 404.
async fn found<T: serde::de::DeserializeOwned + Unpin + Send>(
    result: Result<twilight_http::Response<T>, twilight_http::Error>,
) -> Result<Option<T>, RestError> {
    match result {
        Ok(response) => response.model().await.map(Some).map_err(|e| RestError::Transport(e.to_string())),
        Err(e) if matches!(e.kind(), ErrorType::Response { status, .. } if status.get() == 404) => Ok(None),
        Err(e) => Err(RestError::Transport(e.to_string())),
    }
}

/// How long after an interaction arrived an "Unknown Webhook" (10015) on its token means
/// Discord has not yet taken the first response, rather than that the token is wrong: the
/// 3-second deadline plus slack for Discord's processing.
const ACKNOWLEDGE_GRACE: Duration = Duration::from_secs(10);

/// Discord's "Unknown Webhook": an interaction token it does not (yet) know.
fn is_unknown_webhook(error: &twilight_http::api_error::ApiError) -> bool {
    matches!(error, twilight_http::api_error::ApiError::General(e) if e.code == 10015)
}

fn id<T>(text: &str) -> Result<Id<T>, RestError> {
    text.parse::<u64>().ok().and_then(Id::new_checked).ok_or_else(|| RestError::BadId(text.to_string()))
}

/// The Discord connector's egress (used by interactions and the Gateway alike).
pub struct DiscordConnector {
    http: Client,
    forwarder: global_limit::GlobalLimitForwarder,
    pending: Arc<Pending>,
    max_backoff: Duration,
    expired: AtomicU64,
    retries: AtomicU64,
    rendezvous: Option<Arc<dyn Rendezvous>>,
    files: files::Files,
}

impl DiscordConnector {
    /// A connector for the given REST settings; call it inside a Tokio runtime.
    pub fn new(config: RestConfig) -> Result<Self, RestError> {
        let (http, forwarder) = client(&config.api_url, config.token.as_deref())?;
        Ok(DiscordConnector {
            http,
            forwarder,
            pending: Arc::new(Pending::default()),
            max_backoff: config.max_backoff,
            expired: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            rendezvous: None,
            files: files::Files::new(&config.api_url),
        })
    }

    /// Answers interactions received by other processes' ingress (a worker of a scaled-out
    /// bot) by asking that ingress through `rendezvous` how each first reply must go; see
    /// [`crate::remote`].
    pub fn with_rendezvous(mut self, rendezvous: Arc<dyn Rendezvous>) -> Self {
        self.rendezvous = Some(rendezvous);
        self
    }

    /// Shares Discord's global rate limit (requests with the bot token) with the bot's other
    /// processes through `limit`, instead of each process keeping its own 50 per second.
    pub fn share_global_limit(&self, limit: Arc<dyn regis_core::shared::SharedRateLimit>) {
        self.forwarder.share(limit);
    }

    /// The rendezvous to ask, when `origin` came from another process's ingress.
    fn remote(&self, origin: &Envelope) -> Option<&dyn Rendezvous> {
        self.rendezvous.as_deref().filter(|_| crate::remote::is_remote(origin, &self.pending))
    }

    /// The interactions this connector is answering (shared with ingress).
    pub fn pending(&self) -> Arc<Pending> {
        Arc::clone(&self.pending)
    }

    /// Replies dropped because their interaction token had expired.
    pub fn expired_replies(&self) -> u64 {
        self.expired.load(Ordering::Relaxed)
    }

    /// Interactions being answered now (finished ones are forgotten).
    pub fn tracked_interactions(&self) -> usize {
        self.pending.len()
    }

    /// REST requests retried after a failure.
    pub fn retried_requests(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// 429s from Discord's global limit (or a ban), after which every request was held until
    /// `retry_after` had passed.
    pub fn global_rate_limits(&self) -> u64 {
        self.forwarder.global_limits()
    }

    /// The twilight-http client, with the bot token if one was given.
    pub(crate) fn http(&self) -> &Client {
        &self.http
    }

    /// The bot token was given.
    pub(crate) fn has_token(&self) -> bool {
        self.http.token().is_some()
    }

    /// Runs `request` until it succeeds, fails for good (a 4xx), or the interaction token
    /// expires, backing off after 5xx and transport errors, and after "Unknown Webhook" while
    /// the interaction is young (Discord may not have processed the deferral the HTTP
    /// endpoint just sent). 429s never get here: twilight-http retries them itself once its
    /// rate limiter, or the global-limit forwarder, lets it.
    async fn retrying<F, Fut, T>(&self, handle: &InteractionHandle, what: &str, request: F) -> Result<T, RestError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, twilight_http::Error>>,
    {
        let deadline_ms = handle.received_ms + TOKEN_LIFETIME.as_millis() as u64;
        let mut backoff = Duration::from_millis(100);
        loop {
            let now_ms = regis_core::envelope::now_ms();
            if now_ms >= deadline_ms {
                self.expired.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(interaction = %handle.interaction_id, what, "interaction token expired; reply dropped");
                return Err(RestError::Expired);
            }
            let error = match request().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            let wait = match error.kind() {
                ErrorType::Response { status, .. } if status.get() >= 500 => backoff,
                ErrorType::Response { error: api, .. }
                    if is_unknown_webhook(api)
                        && now_ms < handle.received_ms + ACKNOWLEDGE_GRACE.as_millis() as u64 =>
                {
                    backoff
                }
                ErrorType::Response { status, error: api, .. } => {
                    return Err(RestError::Api { status: status.get(), message: api.to_string() });
                }
                ErrorType::RequestError | ErrorType::RequestTimedOut | ErrorType::RequestCanceled => backoff,
                other => return Err(RestError::Transport(format!("{other:?}"))),
            };
            let remaining = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
            if wait >= remaining {
                self.expired.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(interaction = %handle.interaction_id, what, "token expires before the retry; reply dropped");
                return Err(RestError::Expired);
            }
            self.retries.fetch_add(1, Ordering::Relaxed);
            tracing::info!(interaction = %handle.interaction_id, what, wait_ms = wait.as_millis() as u64, error = %error, "retrying Discord request");
            tokio::time::sleep(wait).await;
            backoff = (backoff * 2).min(self.max_backoff);
        }
    }

    /// Edits the original interaction response.
    async fn edit_original(&self, handle: &InteractionHandle, reply: &Reply) -> Result<(), RestError> {
        self.edit_message(handle, None, reply).await
    }

    async fn edit_message(
        &self,
        handle: &InteractionHandle,
        message: Option<&str>,
        reply: &Reply,
    ) -> Result<(), RestError> {
        let app: Id<ApplicationMarker> = id(&handle.application_id)?;
        let content = convert::content(reply);
        let embeds = convert::embeds(reply);
        let files = convert::attachments(reply);
        let components = convert::components(reply);
        let message_id = message.map(id).transpose()?;
        self.retrying(handle, "edit response", || {
            let client = self.http.interaction(app);
            let content = content.as_deref().or(Some(""));
            // The original response and follow-ups are edited by two request types of one shape.
            macro_rules! edit {
                ($request:expr) => {{
                    let mut req = $request.content(content).embeds(Some(&embeds)).components(Some(&components));
                    if !files.is_empty() {
                        req = req.attachments(&files);
                    }
                    req.into_future()
                }};
            }
            match message_id {
                None => edit!(client.update_response(&handle.token)),
                Some(mid) => edit!(client.update_followup(&handle.token, mid)),
            }
        })
        .await
        .map(|_| ())
    }

    /// Posts a follow-up message; returns its id.
    async fn follow_up(&self, handle: &InteractionHandle, reply: &Reply) -> Result<String, RestError> {
        let app: Id<ApplicationMarker> = id(&handle.application_id)?;
        let content = convert::content(reply);
        let embeds = convert::embeds(reply);
        let files = convert::attachments(reply);
        let components = convert::components(reply);
        let flags = convert::flags(reply);
        let response = self
            .retrying(handle, "follow-up", || {
                let client = self.http.interaction(app);
                let mut req =
                    client.create_followup(&handle.token).embeds(&embeds).components(&components).attachments(&files);
                if let Some(text) = content.as_deref() {
                    req = req.content(text);
                }
                if let Some(flags) = flags {
                    req = req.flags(flags);
                }
                req.into_future()
            })
            .await?;
        let message = response.model().await.map_err(|e| RestError::Transport(e.to_string()))?;
        Ok(message.id.to_string())
    }

    async fn answer_interaction(
        &self,
        origin: &Envelope,
        handle: &InteractionHandle,
        reply: Reply,
    ) -> Result<SentMessage, RestError> {
        let remote = self.remote(origin);
        let route = match remote {
            Some(rendezvous) => crate::remote::route(rendezvous, &self.pending, origin, handle, &reply).await,
            None => self.pending.route(&origin.id, handle, &reply),
        };
        let edits = matches!(route, Route::EditOriginal { .. });
        let sent = self.deliver(origin, handle, reply, route).await;
        if let (Some(rendezvous), true, Ok(_)) = (remote, edits, &sent) {
            crate::remote::confirm(rendezvous, origin).await;
        }
        sent
    }

    /// Sends `reply` to an interaction the way `route` says.
    async fn deliver(
        &self,
        origin: &Envelope,
        handle: &InteractionHandle,
        reply: Reply,
        route: Route,
    ) -> Result<SentMessage, RestError> {
        let sent = |id: &str| SentMessage { id: format!("{}/{id}", origin.id), channel: None };
        match route {
            Route::AnsweredElsewhere => Ok(sent("@original")),
            Route::Inline(tx) => {
                if tx.send(Answer::Message(reply.clone())).is_err() {
                    // The HTTP request is gone (client hung up): fall back to a follow-up.
                    return self.follow_up(handle, &reply).await.map(|id| sent(&id));
                }
                Ok(sent("@original"))
            }
            Route::DeferThenEdit(tx) => {
                let _ = tx.send(Answer::Defer { ephemeral: reply.ephemeral });
                self.edit_original(handle, &reply).await.map(|()| sent("@original"))
            }
            Route::EditOriginal { public } if public && reply.ephemeral => {
                self.edit_original(handle, &Reply::text("(answered privately)")).await?;
                self.follow_up(handle, &reply).await.map(|id| sent(&id))
            }
            Route::EditOriginal { .. } => self.edit_original(handle, &reply).await.map(|()| sent("@original")),
            Route::FollowUp => self.follow_up(handle, &reply).await.map(|id| sent(&id)),
        }
    }

    async fn channel_message(
        &self,
        channel: &str,
        reply: &Reply,
        reference: Option<&str>,
    ) -> Result<SentMessage, RestError> {
        if !self.has_token() {
            return Err(RestError::NeedsToken("posting to a channel"));
        }
        let channel_id: Id<ChannelMarker> = id(channel)?;
        let content = convert::content(reply);
        let embeds = convert::embeds(reply);
        let files = convert::attachments(reply);
        let components = convert::components(reply);
        let reference = reference.map(id).transpose()?;
        let mut req = self.http.create_message(channel_id).embeds(&embeds).components(&components).attachments(&files);
        if let Some(text) = content.as_deref() {
            req = req.content(text);
        }
        if let Some(message) = reference {
            req = req.reply(message).fail_if_not_exists(false);
        }
        let response = req.await.map_err(|e| RestError::Transport(e.to_string()))?;
        let message = response.model().await.map_err(|e| RestError::Transport(e.to_string()))?;
        Ok(SentMessage { id: message.id.to_string(), channel: Some(channel.to_string()) })
    }
}

#[async_trait]
impl Connector for DiscordConnector {
    fn name(&self) -> &str {
        crate::CONNECTOR
    }

    async fn download(&self, file: &regis_core::FileRef, limit: u64) -> Result<Vec<u8>, ConnectorError> {
        self.files.download(file, limit).await
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { embeds: true, attachments: true, buttons: true }
    }

    async fn send(
        &self,
        origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError> {
        let handle = origin.and_then(InteractionHandle::of);
        match (to, origin, handle) {
            (Destination::Origin, Some(origin), Some(handle)) => {
                Ok(self.answer_interaction(origin, &handle, reply).await?)
            }
            (Destination::Origin, Some(origin), None) => {
                let channel = origin.channel.as_ref().ok_or(ConnectorError::NotFound("origin channel".into()))?;
                let reference = origin.reply_handle.as_ref().and_then(|h| h.get("message_id")).and_then(|m| m.as_str());
                Ok(self.channel_message(&channel.id, &reply, reference).await?)
            }
            (Destination::Origin, None, _) => Err(ConnectorError::NotFound("no message to answer".into())),
            (Destination::Channel(channel), _, _) => Ok(self.channel_message(channel, &reply, None).await?),
            (Destination::Direct(user), _, _) => {
                if !self.has_token() {
                    return Err(RestError::NeedsToken("sending a direct message").into());
                }
                let user: Id<UserMarker> = id(user)?;
                let dm =
                    self.http.create_private_channel(user).await.map_err(|e| RestError::Transport(e.to_string()))?;
                let dm = dm.model().await.map_err(|e| RestError::Transport(e.to_string()))?;
                Ok(self.channel_message(&dm.id.to_string(), &reply, None).await?)
            }
        }
    }

    async fn edit(&self, message: &SentMessage, reply: Reply) -> Result<(), ConnectorError> {
        if let Some((envelope_id, message_id)) = message.id.split_once('/') {
            let handle = self
                .pending
                .handle(envelope_id)
                .ok_or_else(|| ConnectorError::NotFound(format!("interaction of {envelope_id}")))?;
            let target = (message_id != "@original").then_some(message_id);
            return Ok(self.edit_message(&handle, target, &reply).await?);
        }
        let channel = message.channel.as_deref().ok_or(ConnectorError::NotFound("message channel".into()))?;
        if !self.has_token() {
            return Err(RestError::NeedsToken("editing a message").into());
        }
        let (channel, mid) = (id::<ChannelMarker>(channel)?, id(&message.id)?);
        let content = convert::content(&reply);
        let embeds = convert::embeds(&reply);
        self.http
            .update_message(channel, mid)
            .content(content.as_deref())
            .embeds(Some(&embeds))
            .await
            .map_err(|e| RestError::Transport(e.to_string()))?;
        Ok(())
    }

    async fn defer(&self, origin: &Envelope) -> Result<(), ConnectorError> {
        if let Some(handle) = InteractionHandle::of(origin) {
            match self.remote(origin) {
                Some(rendezvous) => crate::remote::defer(rendezvous, &self.pending, origin, &handle).await,
                None => self.pending.defer(&origin.id, false),
            }
        }
        Ok(())
    }

    async fn suggest(&self, origin: &Envelope, choices: Vec<String>) -> Result<(), ConnectorError> {
        let taken = match self.remote(origin) {
            Some(rendezvous) => crate::remote::suggest(rendezvous, origin, choices).await,
            None => self.pending.suggest(&origin.id, choices),
        };
        if !taken {
            tracing::debug!(envelope = %origin.id, "suggestions came too late; dropped");
        }
        Ok(())
    }

    async fn user(&self, user: &str) -> Result<Option<UserInfo>, ConnectorError> {
        if !self.has_token() {
            return Err(RestError::NeedsToken("looking up a user").into());
        }
        let user_id: Id<UserMarker> = id(user)?;
        Ok(found(self.http.user(user_id).await).await?.as_ref().map(convert::user_info))
    }

    async fn channel(&self, channel: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        if !self.has_token() {
            return Err(RestError::NeedsToken("looking up a channel").into());
        }
        let channel_id: Id<ChannelMarker> = id(channel)?;
        Ok(found(self.http.channel(channel_id).await).await?.as_ref().map(convert::channel_info))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_url_must_have_the_v10_path() {
        assert_eq!(api_origin("https://discord.com/api/v10").unwrap(), "https://discord.com");
        assert_eq!(api_origin("http://127.0.0.1:9000/api/v10/").unwrap(), "http://127.0.0.1:9000");
        assert!(api_origin("http://127.0.0.1:9000").is_err());
        assert!(api_origin("ftp://x/api/v10").is_err());
        assert!(api_origin("https://x/api/v9").is_err());
        assert!(api_origin("https:///api/v10").is_err());
        assert!(api_origin("https://disc ord.com/api/v10").is_err());
        assert!(api_origin("https://user@discord.com/api/v10").is_err());
    }

    #[test]
    fn debug_hides_the_token() {
        let c = RestConfig { token: Some("very-secret".into()), ..RestConfig::default() };
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
