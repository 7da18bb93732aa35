//! The `discord` connector when the Gateway runs: egress through the shared
//! [`DiscordConnector`], user and channel lookups through twilight's in-memory cache (REST on a
//! miss), and a gate per Gateway interaction so that no edit or follow-up reaches Discord
//! before the interaction's callback has.

use crate::pending::TOKEN_LIFETIME;
use crate::rest::DiscordConnector;
use async_trait::async_trait;
use regis_core::{
    Capabilities, ChannelInfo, Connector, ConnectorError, Destination, Envelope, Reply, SentMessage, UserInfo,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;
use twilight_cache_inmemory::DefaultInMemoryCache;
use twilight_model::id::Id;

/// Where a Gateway interaction's first response stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Waiting for the handler: a reply now is the inline answer (type 4).
    Open,
    /// The first response is decided (or about to be): replies wait for the callback.
    Closed,
    /// The callback went out (`true`) or failed for good (`false`).
    Done(bool),
}

/// One interaction's gate: its phase, watched by the replies waiting on it.
type Gate = Arc<watch::Sender<Phase>>;

/// The gates of the Gateway interactions in flight, by envelope id, with when they opened.
#[derive(Default)]
pub(crate) struct Gates {
    map: Mutex<HashMap<String, (Instant, Gate)>>,
}

impl Gates {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Gate)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens the gate of a new interaction; forgets old ones.
    pub(crate) fn open(&self, id: &str) -> Gate {
        let gate = Arc::new(watch::channel(Phase::Open).0);
        let mut map = self.lock();
        map.retain(|_, (created, _)| created.elapsed() < TOKEN_LIFETIME);
        map.insert(id.to_string(), (Instant::now(), Arc::clone(&gate)));
        gate
    }

    /// Forgets a gate whose callback is done: later replies need not wait for anything.
    pub(crate) fn remove(&self, id: &str) {
        self.lock().remove(id);
    }

    fn get(&self, id: &str) -> Option<Gate> {
        self.lock().get(id).map(|(_, gate)| Arc::clone(gate))
    }
}

/// Closes an open gate; true if it was open.
pub(crate) fn close(gate: &watch::Sender<Phase>) -> bool {
    gate.send_if_modified(|phase| {
        if *phase == Phase::Open {
            *phase = Phase::Closed;
            true
        } else {
            false
        }
    })
}

async fn wait_done(gate: &watch::Sender<Phase>) -> Result<(), ConnectorError> {
    let mut rx = gate.subscribe();
    match rx.wait_for(|p| matches!(p, Phase::Done(_))).await.map(|p| *p) {
        Ok(Phase::Done(true)) => Ok(()),
        _ => Err(ConnectorError::Failed("the interaction's first response could not be delivered".into())),
    }
}

/// The `discord` connector of a bot that runs the Gateway (see the module docs).
pub struct GatewayConnector {
    rest: Arc<DiscordConnector>,
    cache: Arc<DefaultInMemoryCache>,
    gates: Arc<Gates>,
}

impl GatewayConnector {
    pub(crate) fn new(rest: Arc<DiscordConnector>, cache: Arc<DefaultInMemoryCache>, gates: Arc<Gates>) -> Self {
        GatewayConnector { rest, cache, gates }
    }

    /// The REST egress it sends through (shared with the HTTP interactions endpoint).
    pub fn rest(&self) -> &Arc<DiscordConnector> {
        &self.rest
    }
}

#[async_trait]
impl Connector for GatewayConnector {
    fn name(&self) -> &str {
        crate::CONNECTOR
    }

    fn capabilities(&self) -> Capabilities {
        self.rest.capabilities()
    }

    async fn send(
        &self,
        origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError> {
        if let (Some(origin), Destination::Origin) = (origin, to) {
            if let Some(gate) = self.gates.get(&origin.id) {
                if *gate.borrow() == Phase::Open {
                    if reply.attachments.is_empty() {
                        // Handed to the waiting first response (type 4), no request here.
                        return self.rest.send(Some(origin), to, reply).await;
                    }
                    // Files need a multipart edit of @original: defer first.
                    close(&gate);
                    self.rest.pending().defer(&origin.id, reply.ephemeral);
                }
                wait_done(&gate).await?;
            }
        }
        self.rest.send(origin, to, reply).await
    }

    async fn edit(&self, message: &SentMessage, reply: Reply) -> Result<(), ConnectorError> {
        if let Some((envelope_id, _)) = message.id.split_once('/') {
            if let Some(gate) = self.gates.get(envelope_id) {
                wait_done(&gate).await?;
            }
        }
        self.rest.edit(message, reply).await
    }

    async fn defer(&self, origin: &Envelope) -> Result<(), ConnectorError> {
        if let Some(gate) = self.gates.get(&origin.id) {
            close(&gate);
        }
        self.rest.defer(origin).await
    }

    async fn suggest(&self, origin: &Envelope, choices: Vec<String>) -> Result<(), ConnectorError> {
        // Suggestions only ever go inline, in the first response.
        self.rest.suggest(origin, choices).await
    }

    async fn download(&self, file: &regis_core::FileRef, limit: u64) -> Result<Vec<u8>, ConnectorError> {
        self.rest.download(file, limit).await
    }

    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError> {
        if let Some(user) = id.parse::<u64>().ok().and_then(Id::new_checked).and_then(|id| self.cache.user(id)) {
            return Ok(Some(crate::convert::user_info(&user)));
        }
        self.rest.user(id).await
    }

    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        if let Some(channel) = id.parse::<u64>().ok().and_then(Id::new_checked).and_then(|id| self.cache.channel(id)) {
            return Ok(Some(crate::convert::channel_info(&channel)));
        }
        self.rest.channel(id).await
    }
}
