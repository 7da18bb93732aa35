//! Test kit for Regis plugins: [`TestBot`] runs plugins (plus the built-in admin plugin) on a
//! temporary data directory behind an in-memory connector, so a command is tested in three
//! lines:
//!
//! ```ignore
//! let bot = TestBot::with(Dice).await;
//! assert!(bot.send("!roll 2d6").await.text().ends_with("(roll #1)"));
//! ```

#![deny(missing_docs)]

pub mod fake_discord;
pub mod fake_gateway;
pub mod ircd;
pub mod latest;
pub mod queue_plugins;
pub mod sasl_ircd;
pub mod services;
pub mod workers;

use async_trait::async_trait;
use regis_core::StorageBackend;
use regis_core::{
    Bot, Capabilities, ChannelInfo, ChannelRef, Connector, ConnectorError, CoreConfig, Destination, Envelope, FileRef,
    Plugin, Queue, Rank, Reply, SentMessage, SharedState, Stats, UserInfo, UserRef,
};
use regis_store::SqliteBackend;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The connector name test envelopes carry.
pub const CONNECTOR: &str = "test";
/// The name of the test bot's second connector, standing for another chat service (for
/// what spans services: linked identities, a reply on the connector a message came from).
pub const OTHER_CONNECTOR: &str = "other";
/// The default speaker of [`TestBot::send`] (rank 0 unless changed).
pub const DEFAULT_USER: &str = "tester";
/// The channel test messages come from.
pub const CHANNEL: &str = "test-channel";

/// One message the bot sent.
#[derive(Clone, Debug, PartialEq)]
pub struct Sent {
    /// The envelope it answered, if any.
    pub origin: Option<String>,
    /// Where it went.
    pub to: Destination,
    /// What it said.
    pub reply: Reply,
}

/// The messages sent while handling one input.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Replies(pub Vec<Sent>);

impl Replies {
    /// All text, one message per line.
    pub fn text(&self) -> String {
        self.0.iter().map(|s| s.reply.text.as_str()).collect::<Vec<_>>().join("\n")
    }

    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many messages were sent.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The messages.
    pub fn iter(&self) -> impl Iterator<Item = &Sent> {
        self.0.iter()
    }
}

/// An in-memory connector that records everything sent through it.
#[derive(Default)]
pub struct TestConnector {
    sent: Mutex<Vec<Sent>>,
    suggestions: Mutex<Vec<(String, Vec<String>)>>,
    /// The files test messages carry, by URL.
    files: Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// Edits of sent messages: the message's id and its new content.
    edits: Mutex<Vec<(String, Reply)>>,
    /// Messages sent so far (message ids are 1, 2, 3, ...).
    count: std::sync::atomic::AtomicUsize,
}

impl TestConnector {
    fn sent_count(&self) -> usize {
        self.count.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl TestConnector {
    fn take_for(&self, origin: &str) -> Vec<Sent> {
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let (mine, rest): (Vec<Sent>, Vec<Sent>) = sent.drain(..).partition(|s| s.origin.as_deref() == Some(origin));
        *sent = rest;
        mine
    }

    /// Removes and returns everything sent so far.
    pub fn drain(&self) -> Vec<Sent> {
        std::mem::take(&mut *self.sent.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Everything sent so far and not yet taken, left in place.
    pub fn peek(&self) -> Vec<Sent> {
        self.sent.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[async_trait]
impl Connector for TestConnector {
    fn name(&self) -> &str {
        CONNECTOR
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
        let mut sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        sent.push(Sent { origin: origin.map(|o| o.id.clone()), to: to.clone(), reply });
        let id = self.count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let channel = match to {
            Destination::Channel(c) => Some(c.clone()),
            _ => None,
        };
        Ok(SentMessage { id: id.to_string(), channel })
    }

    async fn suggest(&self, origin: &Envelope, choices: Vec<String>) -> Result<(), ConnectorError> {
        self.suggestions.lock().unwrap_or_else(|e| e.into_inner()).push((origin.id.clone(), choices));
        Ok(())
    }

    async fn edit(&self, message: &SentMessage, reply: Reply) -> Result<(), ConnectorError> {
        let known = message.id.parse::<usize>().is_ok_and(|n| n >= 1 && n <= self.sent_count());
        if !known {
            return Err(ConnectorError::NotFound(format!("message {}", message.id)));
        }
        self.edits.lock().unwrap_or_else(|e| e.into_inner()).push((message.id.clone(), reply));
        Ok(())
    }

    async fn download(&self, file: &FileRef, limit: u64) -> Result<Vec<u8>, ConnectorError> {
        if file.size > limit {
            return Err(ConnectorError::Failed(format!("{} is {} bytes, more than {limit}", file.name, file.size)));
        }
        let files = self.files.lock().unwrap_or_else(|e| e.into_inner());
        files.get(&file.url).cloned().ok_or_else(|| ConnectorError::NotFound(file.url.clone()))
    }

    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError> {
        Ok(Some(UserInfo { id: id.to_string(), name: id.to_string(), bot: false }))
    }

    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        Ok(Some(ChannelInfo { id: id.to_string(), name: id.to_string(), topic: None, members: Vec::new() }))
    }
}

/// The test connector under another name: what it sends is recorded with the first's.
struct OtherService(Arc<TestConnector>);

#[async_trait]
impl Connector for OtherService {
    fn name(&self) -> &str {
        OTHER_CONNECTOR
    }

    fn capabilities(&self) -> Capabilities {
        self.0.capabilities()
    }

    async fn send(
        &self,
        origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError> {
        self.0.send(origin, to, reply).await
    }

    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError> {
        self.0.user(id).await
    }

    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        self.0.channel(id).await
    }
}

/// Builds a [`TestBot`] with options.
pub struct TestBotBuilder {
    config: CoreConfig,
    plugins: Vec<Arc<dyn Plugin>>,
    dir: Option<PathBuf>,
    shared: Option<SharedState>,
    queue: Option<Arc<dyn Queue>>,
    storage: Option<Arc<dyn StorageBackend>>,
    source: Option<Arc<dyn regis_core::PluginSource>>,
}

impl TestBotBuilder {
    /// Loads plugins from `source` at start and on `!plugin load|reload|unload` (script
    /// files: `regis_lua::ScriptDirectory`).
    pub fn plugin_source(mut self, source: Arc<dyn regis_core::PluginSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Keeps data in `storage` (a PostgreSQL backend shared with other test bots, say)
    /// instead of SQLite files in the data directory.
    pub fn storage(mut self, storage: Arc<dyn StorageBackend>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Adds a plugin.
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        self.plugins.push(Arc::new(plugin));
        self
    }

    /// Makes `name` an owner (rank 999).
    pub fn owner(mut self, name: &str) -> Self {
        self.config.owners.push(format!("{CONNECTOR}:{name}"));
        self
    }

    /// Sets the handler timeout.
    pub fn handler_timeout(mut self, timeout: Duration) -> Self {
        self.config.handler_timeout = timeout;
        self
    }

    /// Sets the worker count.
    pub fn workers(mut self, workers: usize) -> Self {
        self.config.workers = workers;
        self
    }

    /// Changes any core setting.
    pub fn configure(mut self, f: impl FnOnce(&mut CoreConfig)) -> Self {
        f(&mut self.config);
        self
    }

    /// Decides with this shared state: give two test bots the same one (and the same data
    /// directory) and they behave as two workers of one bot.
    pub fn shared_state(mut self, shared: SharedState) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Takes envelopes from this queue instead of an in-process one (a JetStream queue
    /// shared with other test bots, say).
    pub fn queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Uses this data directory instead of a fresh temporary one.
    pub fn data_dir(mut self, dir: &Path) -> Self {
        self.dir = Some(dir.to_path_buf());
        self
    }

    /// Starts the bot. Panics with the reason if it cannot start (this is test code).
    pub async fn start(self) -> TestBot {
        let (dir, temp) = match self.dir {
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::tempdir().expect("create a temporary data dir");
                (temp.path().to_path_buf(), Some(Arc::new(temp)))
            }
        };
        let storage = self.storage.unwrap_or_else(|| Arc::new(SqliteBackend::new(&dir)));
        let plugins = Plugins { own: self.plugins, source: self.source };
        TestBot::start_in(dir, temp, self.config, plugins, self.shared, self.queue, storage).await
    }
}

/// A running bot with the admin plugin and the given plugins on a temporary data directory.
pub struct TestBot {
    bot: Bot,
    connector: Arc<TestConnector>,
    dir: PathBuf,
    temp: Option<Arc<tempfile::TempDir>>,
    plugins: Plugins,
}

/// A test bot's plugins: its own, and where it loads more from.
struct Plugins {
    own: Vec<Arc<dyn Plugin>>,
    source: Option<Arc<dyn regis_core::PluginSource>>,
}

impl TestBot {
    /// A bot with the admin plugin and `plugin`.
    pub async fn with(plugin: impl Plugin) -> TestBot {
        TestBot::builder().plugin(plugin).start().await
    }

    /// A builder for more options.
    pub fn builder() -> TestBotBuilder {
        TestBotBuilder {
            config: CoreConfig::default(),
            plugins: Vec::new(),
            dir: None,
            shared: None,
            queue: None,
            storage: None,
            source: None,
        }
    }

    async fn start_in(
        dir: PathBuf,
        temp: Option<Arc<tempfile::TempDir>>,
        config: CoreConfig,
        plugins: Plugins,
        shared: Option<SharedState>,
        queue: Option<Arc<dyn Queue>>,
        storage: Arc<dyn StorageBackend>,
    ) -> TestBot {
        let connector = Arc::new(TestConnector::default());
        let mut builder =
            Bot::builder(config).storage_arc(storage).connector(connector.clone()).plugin(regis_core::admin::Admin);
        builder = builder.connector(Arc::new(OtherService(Arc::clone(&connector))));
        if let Some(shared) = shared {
            builder = builder.shared_state(shared);
        }
        if let Some(queue) = queue {
            builder = builder.queue(queue);
        }
        for plugin in &plugins.own {
            builder = builder.plugin_arc(Arc::clone(plugin));
        }
        if let Some(source) = &plugins.source {
            builder = builder.plugin_source(Arc::clone(source));
        }
        let bot = match builder.start().await {
            Ok(bot) => bot,
            Err(e) => panic!("test bot failed to start: {e}"),
        };
        TestBot { bot, connector, dir, temp, plugins }
    }

    /// A user of the test connector.
    pub fn user(name: &str) -> UserRef {
        UserRef::new(CONNECTOR, name)
    }

    /// Sends `text` as the default user and returns what the bot sent in answer.
    pub async fn send(&self, text: &str) -> Replies {
        self.send_as(DEFAULT_USER, text).await
    }

    /// Sends `text` as `user` and returns what the bot sent in answer.
    pub async fn send_as(&self, user: &str, text: &str) -> Replies {
        let envelope = Envelope::message(CONNECTOR, TestBot::user(user), text).in_channel(ChannelRef::new(CHANNEL));
        self.submit(envelope).await
    }

    /// Invokes `command` as a structured (slash) command with `options` (a JSON object of
    /// option values by parameter name, as Discord sends them) as the default user, and
    /// returns what the bot sent in answer.
    pub async fn slash(&self, command: &str, options: serde_json::Value) -> Replies {
        let options = match options {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => serde_json::Map::new(),
            other => panic!("slash options must be a JSON object, got {other}"),
        };
        let kind = regis_core::EnvelopeKind::Command { name: command.to_string(), options };
        let envelope = Envelope::new(CONNECTOR, TestBot::user(DEFAULT_USER), kind).in_channel(ChannelRef::new(CHANNEL));
        self.submit(envelope).await
    }

    /// Sends `text` as `user` of another connector ([`OTHER_CONNECTOR`], another chat
    /// service) and returns what the bot sent in answer.
    pub async fn send_elsewhere(&self, user: &str, text: &str) -> Replies {
        let envelope = Envelope::message(OTHER_CONNECTOR, UserRef::new(OTHER_CONNECTOR, user), text)
            .in_channel(ChannelRef::new(CHANNEL));
        self.submit(envelope).await
    }

    /// Sends `text` as `user` with files attached (name and content each), as a chat service
    /// delivers an upload, and returns what the bot sent in answer.
    pub async fn send_files_as(&self, user: &str, text: &str, files: &[(&str, &[u8])]) -> Replies {
        let mut envelope = Envelope::message(CONNECTOR, TestBot::user(user), text).in_channel(ChannelRef::new(CHANNEL));
        for (name, data) in files {
            let url = format!("test://files/{}/{name}", envelope.id);
            self.connector.files.lock().unwrap_or_else(|e| e.into_inner()).insert(url.clone(), data.to_vec());
            envelope.files.push(FileRef { name: name.to_string(), url, size: data.len() as u64 });
        }
        self.submit(envelope).await
    }

    /// Submits any envelope, waits until it is handled, and returns what was sent in answer.
    pub async fn submit(&self, envelope: Envelope) -> Replies {
        let id = envelope.id.clone();
        if let Err(e) = self.bot.ingress().submit_and_wait(envelope).await {
            panic!("could not submit: {e}");
        }
        Replies(self.connector.take_for(&id))
    }

    /// Asks for suggestions for `param` of `command` while `partial` is typed (as Discord's
    /// autocomplete does) and returns them.
    pub async fn suggest(&self, command: &str, param: &str, partial: &str) -> Vec<String> {
        let kind = regis_core::EnvelopeKind::Autocomplete {
            command: command.into(),
            param: param.into(),
            partial: partial.into(),
        };
        let envelope = Envelope::new(CONNECTOR, TestBot::user(DEFAULT_USER), kind);
        let id = envelope.id.clone();
        self.submit(envelope).await;
        let mut all = self.connector.suggestions.lock().unwrap_or_else(|e| e.into_inner());
        all.iter().position(|(origin, _)| *origin == id).map(|i| all.remove(i).1).unwrap_or_default()
    }

    /// Clicks a button the bot sent (its full, namespaced id) as `user`.
    pub async fn click(&self, user: &str, custom_id: &str) -> Replies {
        let kind = regis_core::EnvelopeKind::Component { custom_id: custom_id.into() };
        let envelope = Envelope::new(CONNECTOR, TestBot::user(user), kind).in_channel(ChannelRef::new(CHANNEL));
        self.submit(envelope).await
    }

    /// Stores a rank for `user` directly (no checks).
    pub async fn set_rank(&self, user: &str, rank: i64) {
        let rank = Rank::new(rank).expect("rank in -1..=999");
        self.bot.set_rank(&TestBot::user(user), rank).await.expect("store rank");
    }

    /// Everything sent so far that was not returned by `send` (e.g. from event handlers),
    /// after waiting until the bot is idle.
    pub async fn drain(&self) -> Vec<Sent> {
        self.bot.idle().await;
        self.connector.drain()
    }

    /// Waits until something sent so far (and not yet taken by `send` or `drain`) matches,
    /// e.g. a handler's first reply while it goes on running; panics after `timeout` (this is
    /// test code).
    pub async fn wait_for_sent(&self, timeout: Duration, what: &str, matches: impl Fn(&Sent) -> bool) -> Sent {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(sent) = self.connector.peek().into_iter().find(|s| matches(s)) {
                return sent;
            }
            assert!(std::time::Instant::now() < deadline, "nothing sent matched {what}: {:?}", self.connector.peek());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits until `n` envelopes are being handled (panics after `timeout`).
    pub async fn wait_in_flight(&self, n: usize, timeout: Duration) {
        let deadline = std::time::Instant::now() + timeout;
        while self.bot.stats().in_flight < n {
            assert!(std::time::Instant::now() < deadline, "{n} in flight never reached: {:?}", self.bot.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Takes the edits of sent messages so far: each message's id (as `send` returned it in
    /// [`SentMessage`]) and its new content.
    pub fn edits(&self) -> Vec<(String, Reply)> {
        std::mem::take(&mut *self.connector.edits.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes everything sent so far and not yet taken, without waiting (for bots whose
    /// envelopes other bots may handle).
    pub fn connector_sent(&self) -> Vec<Sent> {
        self.connector.drain()
    }

    /// The dispatcher's counters.
    pub fn stats(&self) -> Stats {
        self.bot.stats()
    }

    /// The running bot.
    pub fn bot(&self) -> &Bot {
        &self.bot
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Shuts the bot down and starts it again on the same data directory (SQLite) and plugins.
    pub async fn restart(self) -> TestBot {
        let config = self.bot.config().clone();
        self.bot.shutdown().await;
        let storage = Arc::new(SqliteBackend::new(&self.dir));
        TestBot::start_in(self.dir, self.temp, config, self.plugins, None, None, storage).await
    }
}
