//! A connector's egress used from other processes, over NATS core request-reply.
//!
//! Some chat services can only be spoken to through the connection that is logged in: an IRC
//! bot's replies must go out on the socket its ingress holds. The process that holds the
//! connection serves its connector with [`ConnectorRelay::serve`] on the subject
//! `regis.<bot>.connector.<name>` (in a queue group, so one of several such processes takes
//! each request), and a worker elsewhere attaches a [`RemoteConnector`] of the same name,
//! which sends each verb there as a request. No answer in time, or no process serving the
//! connector, is [`ConnectorError::Unavailable`]: the dispatcher hands the envelope back to the
//! queue, and the reply goes out once the connection is back.
//!
//! Sending, editing, deferring, suggestions and user and channel lookups are relayed; files
//! attached to incoming messages are not downloaded across processes.

use async_trait::async_trait;
use futures::StreamExt;
use regis_core::{
    Capabilities, ChannelInfo, Connector, ConnectorError, Destination, Envelope, Reply, SentMessage, UserInfo,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// How long a [`RemoteConnector`] waits for an answer by default: longer than an IRC lookup
/// waits for its server (10 s).
pub const RELAY_TIMEOUT: Duration = Duration::from_secs(15);

/// The subject connector `name` of bot `bot_name` is served on.
pub fn relay_subject(bot_name: &str, name: &str) -> String {
    format!("regis.{bot_name}.connector.{name}")
}

/// A verb asked of the connector.
#[derive(Serialize, Deserialize)]
#[serde(tag = "verb", rename_all = "snake_case")]
enum Request {
    Send { origin: Option<Box<Envelope>>, to: Destination, reply: Reply },
    Edit { message: SentMessage, reply: Reply },
    Defer { origin: Box<Envelope> },
    Suggest { origin: Box<Envelope>, choices: Vec<String> },
    User { id: String },
    Channel { id: String },
}

/// The connector's answer.
#[derive(Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum Response {
    Sent { message: SentMessage },
    Done,
    User { user: Option<UserInfo> },
    Channel { channel: Option<ChannelInfo> },
    Failed { error: WireError },
}

/// A [`ConnectorError`] on the wire.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", content = "message", rename_all = "snake_case")]
enum WireError {
    Unsupported,
    NotFound(String),
    Failed(String),
    Unavailable(String),
}

impl From<ConnectorError> for WireError {
    fn from(error: ConnectorError) -> Self {
        match error {
            ConnectorError::Unsupported(_) => WireError::Unsupported,
            ConnectorError::NotFound(m) => WireError::NotFound(m),
            ConnectorError::Failed(m) => WireError::Failed(m),
            ConnectorError::Unavailable(m) => WireError::Unavailable(m),
        }
    }
}

/// Why a relay could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot serve connector `{connector}` on {subject}: {reason}")]
pub struct RelayStartError {
    /// The connector's name.
    pub connector: String,
    /// The subject.
    pub subject: String,
    /// What NATS said.
    pub reason: String,
}

/// Serves one connector to the other processes of a bot; stops when dropped.
pub struct ConnectorRelay {
    listener: tokio::task::JoinHandle<()>,
}

impl ConnectorRelay {
    /// Serves `connector` of bot `bot_name` with `client`: each request is answered in a task
    /// of its own, so a slow lookup holds up no send.
    pub async fn serve(
        client: async_nats::Client,
        bot_name: &str,
        connector: Arc<dyn Connector>,
    ) -> Result<Self, RelayStartError> {
        let subject = relay_subject(bot_name, connector.name());
        let start_error = |e: &dyn std::fmt::Display| RelayStartError {
            connector: connector.name().to_string(),
            subject: subject.clone(),
            reason: e.to_string(),
        };
        let mut requests =
            client.queue_subscribe(subject.clone(), subject.clone()).await.map_err(|e| start_error(&e))?;
        // The subscription is registered once the server has seen it (a worker asking right
        // after the start must not find nobody).
        client.flush().await.map_err(|e| start_error(&e))?;
        let listener = tokio::spawn(async move {
            while let Some(message) = requests.next().await {
                let Some(answer_to) = message.reply.clone() else { continue };
                let (client, connector) = (client.clone(), Arc::clone(&connector));
                tokio::spawn(async move {
                    let response = match serde_json::from_slice::<Request>(&message.payload) {
                        Ok(request) => perform(&*connector, request).await,
                        Err(e) => {
                            tracing::warn!(connector = connector.name(), error = %e, "a relayed request does not decode");
                            Response::Failed { error: WireError::Failed(format!("not a connector request: {e}")) }
                        }
                    };
                    let payload = serde_json::to_vec(&response).unwrap_or_default();
                    if let Err(e) = client.publish(answer_to, payload.into()).await {
                        tracing::warn!(connector = connector.name(), error = %e, "cannot answer a relayed request");
                    }
                });
            }
        });
        Ok(ConnectorRelay { listener })
    }
}

impl Drop for ConnectorRelay {
    fn drop(&mut self) {
        self.listener.abort();
    }
}

/// Does what `request` asks of `connector`.
async fn perform(connector: &dyn Connector, request: Request) -> Response {
    let outcome = match request {
        Request::Send { origin, to, reply } => {
            connector.send(origin.as_deref(), &to, reply).await.map(|message| Response::Sent { message })
        }
        Request::Edit { message, reply } => connector.edit(&message, reply).await.map(|()| Response::Done),
        Request::Defer { origin } => connector.defer(&origin).await.map(|()| Response::Done),
        Request::Suggest { origin, choices } => connector.suggest(&origin, choices).await.map(|()| Response::Done),
        Request::User { id } => connector.user(&id).await.map(|user| Response::User { user }),
        Request::Channel { id } => connector.channel(&id).await.map(|channel| Response::Channel { channel }),
    };
    outcome.unwrap_or_else(|e| Response::Failed { error: e.into() })
}

/// A connector served by another process of the bot (see the module documentation).
pub struct RemoteConnector {
    client: async_nats::Client,
    name: String,
    subject: String,
    capabilities: Capabilities,
    timeout: Duration,
}

impl RemoteConnector {
    /// Connector `name` of bot `bot_name`, served elsewhere through `client`'s server; it can
    /// show what `capabilities` say (those of the connector it stands for).
    pub fn new(client: async_nats::Client, bot_name: &str, name: &str, capabilities: Capabilities) -> Self {
        let subject = relay_subject(bot_name, name);
        RemoteConnector { client, name: name.to_string(), subject, capabilities, timeout: RELAY_TIMEOUT }
    }

    /// Waits at most `timeout` for each answer instead of [`RELAY_TIMEOUT`].
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Asks the serving process; `verb` names the operation for [`ConnectorError::Unsupported`].
    async fn ask(&self, verb: &'static str, request: Request) -> Result<Response, ConnectorError> {
        let payload = serde_json::to_vec(&request).map_err(|e| ConnectorError::Failed(e.to_string()))?;
        let unavailable = |why: String| ConnectorError::Unavailable(format!("connector `{}`: {why}", self.name));
        let answer =
            match tokio::time::timeout(self.timeout, self.client.request(self.subject.clone(), payload.into())).await {
                Ok(Ok(answer)) => answer,
                Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {
                    return Err(unavailable("no process of the bot holds its connection".into()))
                }
                Ok(Err(e)) => return Err(unavailable(e.to_string())),
                Err(_) => return Err(unavailable(format!("no answer within {:?}", self.timeout))),
            };
        match serde_json::from_slice(&answer.payload) {
            Ok(Response::Failed { error }) => Err(match error {
                WireError::Unsupported => ConnectorError::Unsupported(verb),
                WireError::NotFound(m) => ConnectorError::NotFound(m),
                WireError::Failed(m) => ConnectorError::Failed(m),
                WireError::Unavailable(m) => ConnectorError::Unavailable(m),
            }),
            Ok(response) => Ok(response),
            Err(e) => {
                Err(ConnectorError::Failed(format!("connector `{}` answered what does not decode: {e}", self.name)))
            }
        }
    }

    /// An answer of the wrong kind (a serving process of another version).
    fn unexpected(&self, verb: &str) -> ConnectorError {
        ConnectorError::Failed(format!("connector `{}` answered {verb} with something else", self.name))
    }
}

#[async_trait]
impl Connector for RemoteConnector {
    fn name(&self) -> &str {
        &self.name
    }

    fn capabilities(&self) -> Capabilities {
        self.capabilities
    }

    async fn send(
        &self,
        origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError> {
        let request = Request::Send { origin: origin.cloned().map(Box::new), to: to.clone(), reply };
        match self.ask("send", request).await? {
            Response::Sent { message } => Ok(message),
            _ => Err(self.unexpected("send")),
        }
    }

    async fn edit(&self, message: &SentMessage, reply: Reply) -> Result<(), ConnectorError> {
        match self.ask("edit", Request::Edit { message: message.clone(), reply }).await? {
            Response::Done => Ok(()),
            _ => Err(self.unexpected("edit")),
        }
    }

    async fn defer(&self, origin: &Envelope) -> Result<(), ConnectorError> {
        match self.ask("defer", Request::Defer { origin: Box::new(origin.clone()) }).await? {
            Response::Done => Ok(()),
            _ => Err(self.unexpected("defer")),
        }
    }

    async fn suggest(&self, origin: &Envelope, choices: Vec<String>) -> Result<(), ConnectorError> {
        match self.ask("autocomplete", Request::Suggest { origin: Box::new(origin.clone()), choices }).await? {
            Response::Done => Ok(()),
            _ => Err(self.unexpected("autocomplete")),
        }
    }

    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError> {
        match self.ask("user lookup", Request::User { id: id.to_string() }).await? {
            Response::User { user } => Ok(user),
            _ => Err(self.unexpected("a user lookup")),
        }
    }

    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        match self.ask("channel lookup", Request::Channel { id: id.to_string() }).await? {
            Response::Channel { channel } => Ok(channel),
            _ => Err(self.unexpected("a channel lookup")),
        }
    }
}
