//! The IRC connector's egress: replies as `PRIVMSG` lines, queued for the connection's writer
//! (which applies flood control and holds them while reconnecting).

use crate::inbound::{is_channel, CONNECTOR};
use crate::split::{payload_limit, split};
use async_trait::async_trait;
use regis_core::{
    Capabilities, ChannelInfo, Connector, ConnectorError, Destination, Envelope, Reply, SentMessage, UserInfo,
};
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, oneshot};

/// How long a lookup (`WHOIS`, `NAMES`) waits for the server's answer.
const LOOKUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What IRC can show: text lines only (embeds, files and buttons are degraded to text).
pub const CAPABILITIES: Capabilities = Capabilities { embeds: false, attachments: false, buttons: false };

/// The egress of one IRC connection; attach it to the bot, and run the connection with
/// [`Irc::run`](crate::Irc::run).
pub struct IrcConnector {
    pub(crate) lines: mpsc::UnboundedSender<String>,
    /// The nick the server knows us by now (it may be a fallback).
    pub(crate) nick: Arc<RwLock<String>>,
    /// WHOIS lookups and their answers.
    pub(crate) lookups: Arc<crate::lookups::Lookups>,
    /// Topics and members of channels.
    pub(crate) channels: Arc<crate::channels::Channels>,
}

impl IrcConnector {
    /// The nick the bot has on the server now.
    pub fn nick(&self) -> String {
        self.nick.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Queues a line for the connection's writer.
    fn queue(&self, line: String) -> Result<(), ConnectorError> {
        self.lines.send(line).map_err(|_| ConnectorError::Unavailable("the IRC connection has stopped".into()))
    }

    /// Queues `text` to `target` as `PRIVMSG` lines that fit the protocol's limit.
    fn privmsg(&self, target: &str, text: &str) -> Result<(), ConnectorError> {
        let limit = payload_limit(&self.nick(), target);
        split(text, limit).into_iter().try_for_each(|line| self.queue(format!("PRIVMSG {target} :{line}")))
    }

    /// Sends `questions` when `ask` (no lookup of the same name is out yet) and waits for the
    /// answer, at most [`LOOKUP_TIMEOUT`]; `what` names the answer awaited in the error.
    async fn look_up<T>(
        &self,
        (answer, ask): (oneshot::Receiver<T>, bool),
        questions: Vec<String>,
        what: String,
    ) -> Result<T, ConnectorError> {
        if ask {
            questions.into_iter().try_for_each(|line| self.queue(line))?;
        }
        match tokio::time::timeout(LOOKUP_TIMEOUT, answer).await {
            Ok(Ok(info)) => Ok(info),
            _ => Err(ConnectorError::Unavailable(format!("no {what}"))),
        }
    }
}

#[async_trait]
impl Connector for IrcConnector {
    fn name(&self) -> &str {
        CONNECTOR
    }

    fn capabilities(&self) -> Capabilities {
        CAPABILITIES
    }

    async fn send(
        &self,
        origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError> {
        let (target, text) = match to {
            Destination::Origin => {
                let origin = origin.ok_or_else(|| ConnectorError::NotFound("no message to reply to".into()))?;
                match &origin.channel {
                    // In a channel, a reply names whom it answers.
                    Some(channel) if !channel.direct => {
                        (channel.id.clone(), format!("{}: {}", origin.author.name, reply.text))
                    }
                    _ => (origin.author.id.clone(), reply.text),
                }
            }
            Destination::Channel(id) => (id.clone(), reply.text),
            Destination::Direct(nick) => (nick.clone(), reply.text),
        };
        if target.is_empty() || target.contains([' ', ',', '\r', '\n']) {
            return Err(ConnectorError::NotFound(format!("`{target}` is not an IRC nick or channel")));
        }
        self.privmsg(&target, &text)?;
        Ok(SentMessage { id: String::new(), channel: Some(target) })
    }

    /// Asks the server (`WHOIS`), at most once per nick every five minutes: `None` for a nick
    /// nobody has now. Nicks are not accounts: whoever has the nick now is the one found.
    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError> {
        if id.is_empty() || is_channel(id) || id.contains([' ', ',', '*', '?', '!', '@', '\r', '\n']) {
            return Ok(None);
        }
        if let Some(known) = self.lookups.cached(id) {
            return Ok(known);
        }
        self.look_up(self.lookups.wait(id), vec![format!("WHOIS {id}")], format!("WHOIS answer about {id}")).await
    }

    /// The topic and members: as followed for a channel the bot is in, else asked of the
    /// server (`LIST` for the topic, `NAMES`) and remembered a minute. `None` for no such channel.
    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        if !is_channel(id) || id.contains([' ', ',', '\r', '\n', '\u{7}']) {
            return Ok(None);
        }
        if let Some(known) = self.channels.cached(id) {
            return Ok(Some(known));
        }
        let questions = vec![format!("LIST {id}"), format!("NAMES {id}")];
        self.look_up(self.channels.wait(id), questions, format!("NAMES answer about {id}")).await
    }
}
