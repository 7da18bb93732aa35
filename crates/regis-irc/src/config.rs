//! How the IRC connector connects.

use std::time::Duration;

/// The settings of one IRC connection.
#[derive(Clone, Debug)]
pub struct IrcConfig {
    /// The server, `host:port`.
    pub server: String,
    /// Whether to speak TLS to it (port 6697, usually).
    pub tls: bool,
    /// A PEM file of root certificates to trust beside the web's (a server with its own CA).
    pub tls_roots: Option<std::path::PathBuf>,
    /// The nick to register; on collision `nick_`, `nick__`, ... are tried.
    pub nick: String,
    /// Channels to join, each `#name` or `#name key`.
    pub channels: Vec<String>,
    /// The real name the server shows.
    pub realname: String,
    /// Lines sent at once before flood control spaces them.
    pub flood_burst: u32,
    /// Lines per second after the burst (0: no flood control).
    pub flood_per_second: f64,
    /// After this long without a line from the server, the bot sends a PING.
    pub ping_interval: Duration,
    /// ... and if nothing comes this long after it, the connection is given up and made again.
    pub ping_timeout: Duration,
    /// The longest wait between reconnection attempts (it doubles from 1 s).
    pub reconnect_max: Duration,
    /// Whether to join again a channel the bot was kicked from.
    pub rejoin_on_kick: bool,
    /// The account to log in to with SASL PLAIN before registering, if any.
    pub sasl: Option<Sasl>,
}

/// A SASL PLAIN login: the account and its password (never shown by `Debug`).
#[derive(Clone)]
pub struct Sasl {
    /// The services account.
    pub account: String,
    /// Its password.
    pub password: String,
}

impl std::fmt::Debug for Sasl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sasl").field("account", &self.account).field("password", &"<hidden>").finish()
    }
}

impl IrcConfig {
    /// The defaults for `server` and `nick`: 5 lines at once then 2 a second, a PING after
    /// 60 s of silence given 30 s, reconnects up to a minute apart, rejoin after a kick.
    pub fn new(server: impl Into<String>, nick: impl Into<String>) -> Self {
        IrcConfig {
            server: server.into(),
            tls: false,
            tls_roots: None,
            nick: nick.into(),
            channels: Vec::new(),
            realname: "Regis bot".into(),
            flood_burst: 5,
            flood_per_second: 2.0,
            ping_interval: Duration::from_secs(60),
            ping_timeout: Duration::from_secs(30),
            reconnect_max: Duration::from_secs(60),
            rejoin_on_kick: true,
            sasl: None,
        }
    }
}
