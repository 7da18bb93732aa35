//! Regis' IRC connector.
//!
//! Messages are parsed and written with `irc-proto` (the protocol layer of the `irc` crate);
//! the connection itself is this crate's, so that registration, flood control, splitting and
//! reconnects are exactly as documented. [`Irc::new`] gives the connector to attach to the bot
//! and [`Irc::run`] keeps the connection up, turning `PRIVMSG`s into envelopes.

mod channels;
mod config;
mod connection;
mod connector;
mod flood;
mod inbound;
mod login;
mod lookups;
mod split;
mod tls;
mod waiters;

pub use config::{IrcConfig, Sasl};
pub use connector::{IrcConnector, CAPABILITIES};
pub use inbound::{message_envelope, CONNECTOR};
pub use split::{clean, payload_limit, split, MAX_LINE};
pub use tls::TlsError;

use regis_core::Ingress;
use std::sync::{Arc, RwLock};
use tokio::sync::{mpsc, watch, Mutex};

/// An IRC connection: its connector (egress) and what runs it.
pub struct Irc {
    config: IrcConfig,
    tls: Option<tokio_rustls::TlsConnector>,
    connector: Arc<IrcConnector>,
    lines: Arc<Mutex<mpsc::UnboundedReceiver<String>>>,
}

impl Irc {
    /// A connection to make with `config` (nothing connects until [`Irc::run`]); fails when
    /// its TLS settings cannot be used.
    pub fn new(config: IrcConfig) -> Result<Self, TlsError> {
        let tls = if config.tls { Some(tls::connector(config.tls_roots.as_deref())?) } else { None };
        let (sender, receiver) = mpsc::unbounded_channel();
        let nick = Arc::new(RwLock::new(config.nick.clone()));
        let connector =
            Arc::new(IrcConnector { lines: sender, nick, lookups: Arc::default(), channels: Arc::default() });
        Ok(Irc { config, tls, connector, lines: Arc::new(Mutex::new(receiver)) })
    }

    /// The egress, to attach to the bot.
    pub fn connector(&self) -> Arc<IrcConnector> {
        Arc::clone(&self.connector)
    }

    /// Keeps the connection up and queues what arrives on `ingress`, until `stop` is set.
    pub async fn run(self, ingress: Ingress, stop: watch::Receiver<bool>) {
        connection::run(self.config, self.tls, self.connector, self.lines, ingress, stop).await
    }
}
