//! The one interface to a chat service's egress: sending, looking up users and channels,
//! deferring and editing. Each connector also runs its own ingress, turning what it receives
//! into [`Envelope`]s for the queue.

use crate::envelope::{Envelope, FileRef};
use crate::reply::Reply;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

/// Where a message goes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Destination {
    /// Back where the origin envelope came from (a reply, or the interaction's response).
    Origin,
    /// A channel by id.
    Channel(String),
    /// A direct message to a user by id.
    Direct(String),
}

/// What a connector can show; the rest of a [`Reply`] is degraded before it is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// Rich embeds.
    pub embeds: bool,
    /// File attachments.
    pub attachments: bool,
    /// Clickable buttons.
    pub buttons: bool,
}

/// A message the connector sent, so it can be edited later.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentMessage {
    /// The connector's message id (empty when the service has none).
    pub id: String,
    /// The channel it went to.
    pub channel: Option<String>,
}

/// What a connector knows of a user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// The connector's id.
    pub id: String,
    /// The display name.
    pub name: String,
    /// Whether it is a bot account.
    pub bot: bool,
}

/// What a connector knows of a channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelInfo {
    /// The connector's id.
    pub id: String,
    /// The name.
    pub name: String,
    /// Topic or description, if any.
    pub topic: Option<String>,
    /// Who is in it (their ids), where the service tells (IRC's NAMES); empty when not known.
    pub members: Vec<String>,
}

/// An egress failure.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The service does not offer this operation.
    #[error("{0} is not supported by this connector")]
    Unsupported(&'static str),
    /// The target does not exist or cannot be reached.
    #[error("not found: {0}")]
    NotFound(String),
    /// The service or transport failed.
    #[error("{0}")]
    Failed(String),
    /// The service is failing or unreachable for now (a 5xx, a transport error): the envelope
    /// is worth handling again later.
    #[error("{0} (temporarily unavailable)")]
    Unavailable(String),
}

/// One chat service's egress, used by [`Ctx`](crate::Ctx) for every verb.
#[async_trait]
pub trait Connector: Send + Sync + 'static {
    /// The name envelopes from it carry as `source`.
    fn name(&self) -> &str;

    /// What it can show.
    fn capabilities(&self) -> Capabilities;

    /// Sends a (degraded) reply; `origin` is the envelope being answered, if any.
    async fn send(
        &self,
        origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError>;

    /// Replaces the content of a message it sent.
    async fn edit(&self, message: &SentMessage, reply: Reply) -> Result<(), ConnectorError> {
        let _ = (message, reply);
        Err(ConnectorError::Unsupported("edit"))
    }

    /// Acknowledges `origin` now and promises a reply later (Discord interactions; typing
    /// indicators elsewhere). The default does nothing.
    async fn defer(&self, origin: &Envelope) -> Result<(), ConnectorError> {
        let _ = origin;
        Ok(())
    }

    /// Offers suggestions for a parameter being typed (the answer to an
    /// [`EnvelopeKind::Autocomplete`](crate::EnvelopeKind::Autocomplete)).
    async fn suggest(&self, origin: &Envelope, choices: Vec<String>) -> Result<(), ConnectorError> {
        let _ = (origin, choices);
        Err(ConnectorError::Unsupported("autocomplete"))
    }

    /// Fetches a file attached to an incoming message, refusing one of more than `limit`
    /// bytes (announced or received).
    async fn download(&self, file: &FileRef, limit: u64) -> Result<Vec<u8>, ConnectorError> {
        let _ = (file, limit);
        Err(ConnectorError::Unsupported("downloading attached files"))
    }

    /// Looks a user up by id.
    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError>;

    /// Looks a channel up by id.
    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError>;
}
