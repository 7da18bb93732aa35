//! Building and running a bot: configuration, plugin registration, the worker pool, ingress,
//! statistics and graceful shutdown.

use crate::command::CommandSpec;
use crate::command::SpecError;
use crate::connector::Connector;
use crate::cooldown::CooldownSpec;
use crate::core_tables::CORE_MIGRATIONS;
use crate::dispatcher;
use crate::envelope::Envelope;
use crate::plugin::Plugin;
use crate::queue::{InProcessQueue, Queue, QueueError};
use crate::rank::Rank;
use crate::ranks::{lock, Ranks};
use crate::registry::{LoadedPlugin, Registry, RegistryError};
use crate::schedule::{ScheduleError, Schedules};
use crate::shared::{Change, InProcessRendezvous, Rendezvous, SharedState};
use crate::storage::{StorageBackend, StorageError, Store};
use crate::timers::{Timers, TIMER_LEASE_MARGIN};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

/// The core's settings (the binary fills them from `regis.toml`, `REGIS_*` and flags).
#[derive(Clone, Debug)]
pub struct CoreConfig {
    /// Prefix of commands in messages.
    pub prefix: String,
    /// Whether a command name in a message must be typed in lowercase as declared (`!PING` is
    /// then not `!ping`); by default case does not matter.
    pub case_sensitive_commands: bool,
    /// Owner identities (`connector:id`), rank 999.
    pub owners: Vec<String>,
    /// How long a handler may run before it is cancelled and an error reply sent.
    pub handler_timeout: Duration,
    /// Worker pool size: how many handlers run at once.
    pub workers: usize,
    /// How many envelopes may wait in the in-process queue.
    pub queue_capacity: usize,
    /// How long in-flight handlers may take to finish at shutdown.
    pub shutdown_grace: Duration,
    /// Required-rank overrides by command name (e.g. let rank 500 use `ban`).
    pub command_ranks: HashMap<String, Rank>,
    /// How many answered envelope ids the in-process dedupe remembers to drop redeliveries.
    pub dedup_window: usize,
    /// How late a schedule's firing may still run when no worker was running at its time
    /// (once, on return); firings missed by longer are skipped.
    pub schedule_grace: Duration,
    /// The connector schedule handlers speak through (`ctx.say`); the first attached connector
    /// when `None`.
    pub schedule_connector: Option<String>,
}

impl Default for CoreConfig {
    fn default() -> Self {
        CoreConfig {
            prefix: "!".into(),
            case_sensitive_commands: false,
            owners: Vec::new(),
            handler_timeout: Duration::from_secs(30),
            workers: 32,
            queue_capacity: 10_000,
            shutdown_grace: Duration::from_secs(10),
            command_ranks: HashMap::new(),
            dedup_window: 10_000,
            schedule_grace: Duration::from_secs(15 * 60),
            schedule_connector: None,
        }
    }
}

/// Why a bot could not start.
#[derive(Debug, thiserror::Error)]
pub enum BotError {
    /// No storage backend was given.
    #[error("no storage backend configured")]
    NoStorage,
    /// Storage could not be opened.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A command declaration breaks a rule.
    #[error("plugin `{plugin}`: {source}")]
    Spec {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        source: SpecError,
    },
    /// Names collide.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A configuration value is invalid.
    #[error("configuration: {0}")]
    Config(String),
    /// A `#[schedule]` declaration cannot be read.
    #[error("plugin `{plugin}`, schedule `{schedule}`: {source}")]
    Schedule {
        /// The plugin.
        plugin: String,
        /// The schedule's name.
        schedule: String,
        /// What is wrong.
        source: ScheduleError,
    },
}

/// Counters of the dispatcher, for tests, benchmarks and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Workers currently alive (stays at the configured size).
    pub workers_alive: usize,
    /// Envelopes handled (after deduplication).
    pub handled: u64,
    /// Handlers that panicked.
    pub panics: u64,
    /// Handlers cancelled at the timeout.
    pub timeouts: u64,
    /// Handlers that returned an error.
    pub errors: u64,
    /// Envelopes dropped as redeliveries.
    pub duplicates: u64,
    /// Deliveries put back because another delivery of their envelope was being handled
    /// (the queue redelivered it while a worker still worked on it).
    pub rechecks: u64,
    /// Deliveries put back after a transient failure (a service unavailable), to be handled
    /// again later.
    pub retries: u64,
    /// Envelopes being handled now.
    pub in_flight: usize,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) workers_alive: AtomicUsize,
    pub(crate) handled: AtomicU64,
    pub(crate) panics: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) rechecks: AtomicU64,
    pub(crate) retries: AtomicU64,
}

/// Everything the dispatcher and contexts share.
pub(crate) struct Core {
    pub(crate) config: CoreConfig,
    pub(crate) registry: Registry,
    pub(crate) ranks: Ranks,
    pub(crate) identities: crate::identities::Identities,
    pub(crate) core_store: Store,
    pub(crate) shared: SharedState,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) connectors: RwLock<HashMap<String, Arc<dyn Connector>>>,
    pub(crate) stats: Counters,
    pub(crate) rendezvous: Arc<dyn Rendezvous>,
    pub(crate) timers: Timers,
    pub(crate) schedules: Schedules,
    pub(crate) questions: crate::ask::OpenQuestions,
    in_flight: watch::Sender<usize>,
    pub(crate) handlers: Mutex<HashMap<tokio::task::Id, tokio::task::AbortHandle>>,
    /// The task handling each envelope (see `dispatcher::run_worker`), cancelled with the
    /// handlers at the shutdown deadline so that what was cut is neither answered nor acked.
    pub(crate) jobs: Mutex<HashMap<tokio::task::Id, tokio::task::AbortHandle>>,
    /// Where plugins are opened (also those loaded while the bot runs).
    pub(crate) storage: Arc<dyn StorageBackend>,
    /// Where plugins are loaded from while the bot runs, if anywhere.
    pub(crate) source: Option<Arc<dyn crate::loader::PluginSource>>,
    /// The plugins loaded from `source` (those that can be unloaded and reloaded).
    pub(crate) sourced: Mutex<std::collections::BTreeSet<String>>,
    /// This process among the bot's (for changes it announced itself).
    pub(crate) process: u64,
}

impl Core {
    pub(crate) fn connector(&self, name: &str) -> Option<Arc<dyn Connector>> {
        self.connectors.read().unwrap_or_else(|e| e.into_inner()).get(name).cloned()
    }

    /// The rank a command requires here: the configured override, else its declaration.
    pub(crate) fn required_rank(&self, spec: &CommandSpec) -> Rank {
        self.config.command_ranks.get(&spec.name).copied().unwrap_or(spec.rank)
    }

    /// Every plugin with its state, in the order they were added.
    pub(crate) fn plugin_statuses(&self) -> Vec<crate::ctx::PluginStatus> {
        self.registry
            .plugins()
            .iter()
            .map(|p| crate::ctx::PluginStatus {
                name: p.meta.name.clone(),
                description: p.meta.description.clone(),
                enabled: p.is_enabled(),
                commands: p.commands.iter().map(|c| c.name.clone()).collect(),
            })
            .collect()
    }

    /// Enables or disables plugin `name`: stored, so it lasts across restarts, and announced,
    /// so every other process switches it too.
    pub(crate) async fn switch_plugin(&self, name: &str, enabled: bool) -> Result<(), crate::ctx::CtxError> {
        let plugin = self.registry.plugin(name).ok_or_else(|| crate::ctx::CtxError::UnknownPlugin(name.to_string()))?;
        self.core_store.set(&format!("plugin:{name}:enabled"), &enabled).await?;
        plugin.enabled.store(enabled, Ordering::Relaxed);
        let change = Change::Plugin { name: name.to_string(), enabled };
        if let Err(e) = self.shared.changes.announce(change).await {
            tracing::warn!(plugin = name, error = %e, "the plugin switch was stored, but other processes were not told");
        }
        Ok(())
    }

    pub(crate) fn begin(&self) {
        self.in_flight.send_modify(|n| *n += 1);
    }

    pub(crate) fn finish(&self) {
        self.in_flight.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// How the dispatcher finished with an envelope queued by [`Ingress::submit_tracked`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Completion {
    /// It was handled: every reply is sent.
    Handled,
    /// It was dropped as a redelivery of an envelope already handled (same id).
    Duplicate,
}

/// Builds a [`Bot`]: configuration, storage, plugins, connectors, queue.
pub struct BotBuilder {
    config: CoreConfig,
    storage: Option<Arc<dyn StorageBackend>>,
    plugins: Vec<Arc<dyn Plugin>>,
    connectors: Vec<Arc<dyn Connector>>,
    queue: Option<Arc<dyn Queue>>,
    shared: Option<SharedState>,
    rendezvous: Option<Arc<dyn Rendezvous>>,
    source: Option<Arc<dyn crate::loader::PluginSource>>,
}

impl BotBuilder {
    /// Where plugins are loaded from, at start and while the bot runs (`!plugin
    /// load|unload|reload`): a directory of script files.
    pub fn plugin_source(mut self, source: Arc<dyn crate::loader::PluginSource>) -> Self {
        self.source = Some(source);
        self
    }

    /// Sets the storage backend (required).
    pub fn storage(mut self, storage: impl StorageBackend) -> Self {
        self.storage = Some(Arc::new(storage));
        self
    }

    /// Sets a shared storage backend (required, this or [`BotBuilder::storage`]).
    pub fn storage_arc(mut self, storage: Arc<dyn StorageBackend>) -> Self {
        self.storage = Some(storage);
        self
    }

    /// Adds a plugin.
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        self.plugins.push(Arc::new(plugin));
        self
    }

    /// Adds a shared plugin.
    pub fn plugin_arc(mut self, plugin: Arc<dyn Plugin>) -> Self {
        self.plugins.push(plugin);
        self
    }

    /// Attaches a connector (its egress; its ingress pushes to [`Bot::ingress`]).
    pub fn connector(mut self, connector: Arc<dyn Connector>) -> Self {
        self.connectors.push(connector);
        self
    }

    /// Uses another queue than the in-process one.
    pub fn queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.queue = Some(queue);
        self
    }

    /// Decides with shared state kept elsewhere than in this process (shared by workers);
    /// [`SharedState::in_process`] by default.
    pub fn shared_state(mut self, shared: SharedState) -> Self {
        self.shared = Some(shared);
        self
    }

    /// Meets the ingress of other processes through `rendezvous` (their completions and
    /// questions); [`InProcessRendezvous`] by default. Its ingress side serves
    /// [`Bot::ingress`].
    pub fn rendezvous(mut self, rendezvous: Arc<dyn Rendezvous>) -> Self {
        self.rendezvous = Some(rendezvous);
        self
    }

    /// Opens storage, validates and registers the plugins (applying their migrations and
    /// restoring their enabled state), and starts the worker pool.
    pub async fn start(self) -> Result<Bot, BotError> {
        let config = &self.config;
        if config.workers == 0 {
            return Err(BotError::Config("workers must be at least 1".into()));
        }
        if config.prefix.is_empty() || config.prefix.chars().any(char::is_whitespace) {
            return Err(BotError::Config(format!("prefix `{}` must be non-empty and without spaces", config.prefix)));
        }
        let sourced = self.source.as_deref().map(crate::loader::read_all).unwrap_or_default();
        let every: Vec<Arc<dyn Plugin>> =
            self.plugins.iter().cloned().chain(sourced.iter().map(|(_, p)| Arc::clone(p))).collect();
        check_command_ranks_of(config, &every)?;
        let storage = self.storage.clone().ok_or(BotError::NoStorage)?;
        storage.verify().await?;
        let started = self.launch(Arc::clone(&storage), sourced).await;
        if started.is_err() {
            // Whatever was opened before the failure is checkpointed and closed now, not left
            // to a pool's background drop while the caller (or a next start) uses the files.
            storage.close().await;
        }
        started
    }

    /// Opens the databases, registers the plugins and starts the pool: [`BotBuilder::start`]
    /// after its checks, which closes `storage` again if this fails.
    async fn launch(
        self,
        storage: Arc<dyn StorageBackend>,
        sourced: Vec<(String, Arc<dyn Plugin>)>,
    ) -> Result<Bot, BotError> {
        let config = self.config;
        // Open every database at once: on a new data dir each file's creation waits on disk.
        let prepared = futures::future::try_join_all(self.plugins.into_iter().map(|p| prepare(&*storage, p)));
        let (core_storage, prepared) = futures::future::try_join(
            async { Ok::<_, BotError>(storage.open("core", CORE_MIGRATIONS).await?) },
            prepared,
        )
        .await?;
        let core_store = Store::new(core_storage.kv);
        let queue = self.queue.unwrap_or_else(|| Arc::new(InProcessQueue::new(config.queue_capacity)));
        let shared = self.shared.unwrap_or_else(|| SharedState::in_process(config.dedup_window));
        let schedule_connector = config
            .schedule_connector
            .clone()
            .or_else(|| self.connectors.first().map(|c| c.name().to_string()))
            .unwrap_or_default();
        let lease = config.handler_timeout + TIMER_LEASE_MARGIN;
        let timers = Timers::new(core_storage.db.clone(), lease);
        let identities = crate::identities::Identities::new(core_storage.db.clone(), Arc::clone(&shared.changes));
        identities.load().await?;
        let mut schedules =
            Schedules::new(core_storage.db, lease, config.schedule_grace, schedule_connector, timers.wake());
        for loaded in &prepared {
            for spec in loaded.plugin.schedules() {
                let (plugin, schedule) = (loaded.meta.name.clone(), spec.name.clone());
                schedules.declare(&plugin, spec).map_err(|source| BotError::Schedule { plugin, schedule, source })?;
            }
        }
        schedules.register(crate::envelope::now_ms()).await?;
        let connectors = self.connectors.into_iter().map(|c| (c.name().to_string(), c)).collect();
        let core = Arc::new(Core {
            ranks: Ranks::new(config.owners.clone(), core_store.clone(), Arc::clone(&shared.changes)),
            identities,
            registry: Registry::default(),
            core_store,
            shared: shared.clone(),
            queue,
            connectors: RwLock::new(connectors),
            stats: Counters::default(),
            rendezvous: self.rendezvous.unwrap_or_else(|| Arc::new(InProcessRendezvous::default())),
            timers,
            schedules,
            questions: Default::default(),
            in_flight: watch::channel(0).0,
            handlers: Mutex::default(),
            jobs: Mutex::default(),
            storage: Arc::clone(&storage),
            source: self.source,
            sourced: Mutex::default(),
            process: fastrand::u64(..),
            config,
        });
        for plugin in prepared {
            let key = format!("plugin:{}:enabled", plugin.meta.name);
            let enabled = core.core_store.get::<bool>(&key).await?.unwrap_or(true);
            plugin.enabled.store(enabled, Ordering::Relaxed);
            core.registry.add(plugin)?;
        }
        core.add_sourced(sourced).await;
        let workers =
            (0..core.config.workers).map(|_| tokio::spawn(dispatcher::run_worker(Arc::clone(&core)))).collect();
        let changes = tokio::spawn(apply_changes(Arc::downgrade(&core), core.shared.changes.subscribe()));
        let timers = tokio::spawn(fire_timers(Arc::downgrade(&core)));
        Ok(Bot { core, storage, workers: Mutex::new(workers), changes, timers })
    }
}

/// Checks, before anything is opened, that every `command_ranks` entry of `config` names a
/// command of `plugins`: a misspelt name would leave the command at its declared rank without
/// a word. [`BotBuilder::start`] refuses such a configuration; `regis config check` asks this.
pub fn check_command_ranks_of(config: &CoreConfig, plugins: &[Arc<dyn Plugin>]) -> Result<(), BotError> {
    let names: Vec<String> = plugins.iter().flat_map(|p| p.commands().into_iter().map(|c| c.name)).collect();
    command_ranks_name_commands(config, &names)
}

fn command_ranks_name_commands(config: &CoreConfig, names: &[String]) -> Result<(), BotError> {
    let mut unknown: Vec<&String> = config.command_ranks.keys().filter(|key| !names.contains(key)).collect();
    unknown.sort();
    match unknown.first() {
        None => Ok(()),
        Some(name) => {
            let hint = crate::suggest::closest(name, names.iter().map(String::as_str))
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            Err(BotError::Config(format!("key `command_ranks`: no command is named `{name}`{hint}")))
        }
    }
}

/// Queues the timers and schedule firings as they fall due (every worker runs this; see
/// [`crate::timers`] and [`crate::schedule`]). Ends with the bot.
async fn fire_timers(core: std::sync::Weak<Core>) {
    let Some(wake) = core.upgrade().map(|core| core.timers.wake()) else { return };
    loop {
        let sleep = match core.upgrade() {
            Some(core) => {
                let timers = core.timers.tick(&*core.queue).await;
                timers.min(core.schedules.tick(&*core.queue).await)
            }
            None => return,
        };
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = wake.notified() => {}
        }
    }
}

/// Applies the changes any process announces (this one's too, harmlessly): a changed rank is
/// read again from storage, a plugin switch takes effect. Ends with the bot.
async fn apply_changes(core: std::sync::Weak<Core>, mut changes: tokio::sync::broadcast::Receiver<Change>) {
    loop {
        let change = match changes.recv().await {
            Ok(change) => change,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                // Some changes were missed: nothing cached can be trusted.
                tracing::warn!(missed, "missed rank and plugin changes; reading every rank again");
                match core.upgrade() {
                    Some(core) => {
                        core.ranks.forget_all();
                        if let Err(e) = core.identities.load().await {
                            tracing::error!(error = %e, "cannot read the identity links again");
                        }
                    }
                    None => return,
                }
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        let Some(core) = core.upgrade() else { return };
        match change {
            Change::Rank { identity } => core.ranks.forget(&identity),
            Change::Link { identity } => {
                if let Err(e) = core.identities.reload(&identity).await {
                    tracing::error!(identity, error = %e, "cannot read a changed identity link");
                }
            }
            Change::Plugin { name, enabled } => {
                if let Some(plugin) = core.registry.plugin(&name) {
                    plugin.enabled.store(enabled, Ordering::Relaxed);
                }
            }
            Change::Loaded { from, .. } if from == core.process => {}
            Change::Loaded { name, loaded, .. } => core.follow_loaded(&name, loaded).await,
            Change::Asking { id, asked, until_ms } => core.questions.open(&id, asked, until_ms),
            Change::Asked { id } => core.questions.close(&id),
        }
    }
}

/// Validates a plugin's commands and opens its storage (migrations applied).
pub(crate) async fn prepare(storage: &dyn StorageBackend, plugin: Arc<dyn Plugin>) -> Result<LoadedPlugin, BotError> {
    let meta = plugin.meta();
    Registry::check_name(&meta.name)?;
    let commands = plugin.commands();
    let mut cooldowns = Vec::with_capacity(commands.len());
    for spec in &commands {
        spec.validate().map_err(|source| BotError::Spec { plugin: meta.name.clone(), source })?;
        cooldowns.push(spec.cooldown.as_deref().and_then(|c| c.parse::<CooldownSpec>().ok()));
    }
    let opened = storage.open(&meta.name, &meta.migrations).await?;
    Ok(LoadedPlugin {
        subscriptions: plugin.subscriptions(),
        plugin,
        meta,
        commands,
        cooldowns,
        enabled: AtomicBool::new(true),
        store: Store::new(opened.kv),
        db: opened.db,
    })
}

/// A running bot.
pub struct Bot {
    core: Arc<Core>,
    storage: Arc<dyn StorageBackend>,
    workers: Mutex<Vec<JoinHandle<()>>>,
    changes: JoinHandle<()>,
    timers: JoinHandle<()>,
}

/// Where connectors push what they receive: a queue, the rendezvous with whoever handles what
/// is queued, and the command prefix. It needs no storage, plugins or worker pool, so a process
/// that only receives (an interactions receiver, a Gateway) holds one of these and no [`Bot`].
#[derive(Clone)]
pub struct Ingress {
    queue: Arc<dyn Queue>,
    rendezvous: Arc<dyn Rendezvous>,
    prefix: Arc<str>,
}

impl Ingress {
    /// Ingress onto `queue`, meeting the workers through `rendezvous`; `prefix` is the bot's
    /// command prefix (for connectors that tell commands from chat).
    pub fn new(queue: Arc<dyn Queue>, rendezvous: Arc<dyn Rendezvous>, prefix: &str) -> Self {
        Ingress { queue, rendezvous, prefix: prefix.into() }
    }

    /// Queues an envelope; returns at once, never waiting for a handler.
    pub async fn submit(&self, envelope: Envelope) -> Result<(), QueueError> {
        crate::metrics::received(&envelope);
        self.queue.push(envelope).await
    }

    /// Queues an envelope and returns a receiver that fires when the dispatcher has finished
    /// with it (all replies sent); for ingress that must know when a handler stayed silent.
    /// The receiver fails (closed) if no completion comes within
    /// [`COMPLETION_HORIZON`](crate::shared::rendezvous::COMPLETION_HORIZON).
    pub async fn submit_tracked(&self, mut envelope: Envelope) -> Result<oneshot::Receiver<Completion>, QueueError> {
        let id = envelope.id.clone();
        envelope.reply_to = self.rendezvous.address();
        let rx = self.rendezvous.expect(&id);
        crate::metrics::received(&envelope);
        if let Err(e) = self.queue.push(envelope).await {
            self.rendezvous.abandon(&id);
            return Err(e);
        }
        Ok(rx)
    }

    /// The rendezvous with the workers (a connector's ingress side installs its
    /// [`Answerer`](crate::shared::Answerer) there).
    pub fn rendezvous(&self) -> &Arc<dyn Rendezvous> {
        &self.rendezvous
    }

    /// How many envelopes are queued or being handled, if the queue knows (a receiver defers
    /// at once when workers are far behind).
    pub fn backlog(&self) -> Option<usize> {
        self.queue.backlog()
    }

    /// Queues an envelope and waits until the dispatcher has finished with it (all replies
    /// sent). For local connectors that want ordered transcripts, and for tests.
    pub async fn submit_and_wait(&self, envelope: Envelope) -> Result<(), QueueError> {
        self.submit_tracked(envelope).await?.await.map(|_| ()).map_err(|_| QueueError::Closed)
    }

    /// The bot's command prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }
}

impl Bot {
    /// A builder with the given configuration.
    pub fn builder(config: CoreConfig) -> BotBuilder {
        BotBuilder {
            config,
            storage: None,
            plugins: Vec::new(),
            connectors: Vec::new(),
            queue: None,
            shared: None,
            rendezvous: None,
            source: None,
        }
    }

    /// Whether the bot's storage answers within `within` (for a readiness check): `Err` says
    /// what is wrong.
    pub async fn check_storage(&self, within: Duration) -> Result<(), String> {
        match tokio::time::timeout(within, self.core.timers.reachable()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("no answer within {}", humantime::format_duration(within))),
        }
    }

    /// Sets the gauges read on demand (queue depth, live workers) for a metrics scrape.
    pub fn sample_metrics(&self) {
        crate::metrics::sample_queue(&*self.core.queue);
        crate::metrics::sample_workers(self.core.stats.workers_alive.load(Ordering::Relaxed));
    }

    /// The handle connectors push envelopes to.
    pub fn ingress(&self) -> Ingress {
        Ingress::new(Arc::clone(&self.core.queue), Arc::clone(&self.core.rendezvous), &self.core.config.prefix)
    }

    /// Gives a user a rank for this process only (not stored); for local connectors such as
    /// the console's `--rank`.
    pub fn set_session_rank(&self, user: &crate::envelope::UserRef, rank: Rank) {
        self.core.ranks.set_override(user, rank);
    }

    /// A user's rank as commands see it (an owner's 999, a session rank, else the stored one);
    /// for tools such as `regis dev`'s user panel.
    pub async fn rank_of(&self, user: &crate::envelope::UserRef) -> Result<Rank, StorageError> {
        self.core.ranks.rank_of(user).await
    }

    /// Every plugin with its state (enabled or not, its commands).
    pub fn plugins(&self) -> Vec<crate::ctx::PluginStatus> {
        self.core.plugin_statuses()
    }

    /// Enables or disables a plugin as the operator (any plugin, the admin plugin too): the
    /// state is stored and reaches every process of the bot, as `!plugin disable` does.
    pub async fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<(), crate::ctx::CtxError> {
        self.core.switch_plugin(name, enabled).await
    }

    /// Attaches a connector after start.
    pub fn attach(&self, connector: Arc<dyn Connector>) {
        self.core.connectors.write().unwrap_or_else(|e| e.into_inner()).insert(connector.name().to_string(), connector);
    }

    /// Sets a user's stored rank directly, as the operator (no rank checks); for tools and
    /// tests. Plugins go through [`Ctx::admin`](crate::Ctx::admin), which checks.
    pub async fn set_rank(&self, user: &crate::envelope::UserRef, rank: Rank) -> Result<(), StorageError> {
        self.core.ranks.set(user, rank).await
    }

    /// The configuration in force.
    pub fn config(&self) -> &CoreConfig {
        &self.core.config
    }

    /// The dispatcher's counters.
    pub fn stats(&self) -> Stats {
        let s = &self.core.stats;
        Stats {
            workers_alive: s.workers_alive.load(Ordering::Relaxed),
            handled: s.handled.load(Ordering::Relaxed),
            panics: s.panics.load(Ordering::Relaxed),
            timeouts: s.timeouts.load(Ordering::Relaxed),
            errors: s.errors.load(Ordering::Relaxed),
            duplicates: s.duplicates.load(Ordering::Relaxed),
            rechecks: s.rechecks.load(Ordering::Relaxed),
            retries: s.retries.load(Ordering::Relaxed),
            in_flight: *self.core.in_flight.borrow(),
        }
    }

    /// The command specs of all plugins (for help pages and slash-command sync).
    pub fn commands(&self) -> Vec<(String, CommandSpec)> {
        self.core
            .registry
            .plugins()
            .iter()
            .flat_map(|p| p.commands.iter().map(|c| (p.meta.name.clone(), c.clone())))
            .collect()
    }

    /// A handle that loads, reloads and unloads plugins as the plugin source changes (for a
    /// watcher of the script directory).
    pub fn plugin_control(&self) -> crate::loader::PluginControl {
        crate::loader::PluginControl(Arc::downgrade(&self.core))
    }

    /// The slash commands as Discord should hold them (`regis commands schema|sync`): each
    /// command's CHAT_INPUT object, where a command that needs `admin_rank` or more here (its
    /// configured rank override counts) and declares no `discord_permissions` of its own is
    /// offered to server administrators only (`default_member_permissions` "0"; a server's
    /// admins can grant it to others under Server Settings → Integrations). `None`: no command
    /// is hidden that way.
    pub fn application_commands(&self, admin_rank: Option<Rank>) -> Vec<serde_json::Value> {
        let plugins = self.core.registry.plugins();
        let specs = plugins.iter().flat_map(|p| p.commands.iter());
        specs
            .map(|spec| {
                let mut command = spec.to_discord_json();
                let for_admins = admin_rank.is_some_and(|admin| self.core.required_rank(spec) >= admin);
                if for_admins && spec.discord_permissions.is_empty() {
                    command["default_member_permissions"] = serde_json::Value::from("0");
                }
                command
            })
            .collect()
    }

    /// The webhooks the plugins declare: (plugin, hook name).
    pub fn webhooks(&self) -> Vec<(String, String)> {
        let plugins = self.core.registry.plugins();
        plugins.iter().flat_map(|p| p.plugin.webhooks().into_iter().map(|h| (p.meta.name.clone(), h))).collect()
    }

    /// Waits until nothing is queued or being handled.
    pub async fn idle(&self) {
        if let Some(mut unfinished) = self.core.queue.unfinished() {
            let _ = unfinished.wait_for(|n| *n == 0).await;
            return;
        }
        let mut rx = self.core.in_flight.subscribe();
        loop {
            let queued = self.core.queue.depth().unwrap_or(0);
            if *rx.borrow_and_update() == 0 && queued == 0 {
                return;
            }
            if queued > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            } else if rx.changed().await.is_err() {
                return;
            }
        }
    }

    /// Stops within the configured grace period; see [`Bot::shutdown_by`].
    pub async fn shutdown(&self) -> usize {
        self.shutdown_by(Instant::now() + self.core.config.shutdown_grace).await
    }

    /// Stops by `deadline`: no new envelopes are accepted; queued and in-flight ones are
    /// handled (replies sent) until the deadline, then what is left is cancelled; then the
    /// storage is closed, its files complete. Returns how many envelopes were cancelled:
    /// those whose handler or replies were still running, and those still queued.
    pub async fn shutdown_by(&self, deadline: Instant) -> usize {
        // Timers due from now on stay stored and fire after the next start.
        self.timers.abort();
        self.core.queue.close();
        let workers: Vec<JoinHandle<()>> = std::mem::take(&mut *lock(&self.workers));
        let worker_aborts: Vec<_> = workers.iter().map(JoinHandle::abort_handle).collect();
        // The workers end once the queue is drained; handlers parked waiting for an answer
        // (`ctx.ask`) may still run after them.
        let mut in_flight = self.core.in_flight.subscribe();
        let drained = async move {
            futures::future::join_all(workers).await;
            let _ = in_flight.wait_for(|n| *n == 0).await;
        };
        let finished = tokio::time::timeout_at(deadline.into(), drained).await.is_ok();
        let mut cancelled = 0;
        if !finished {
            let running = *self.core.in_flight.borrow();
            let queued = self.core.queue.depth().unwrap_or(0);
            for worker in worker_aborts {
                worker.abort();
            }
            // The handling first: a cancelled handler's envelope is then not settled, and the
            // queue delivers it again after a restart.
            for job in lock(&self.core.jobs).drain().map(|(_, h)| h) {
                job.abort();
            }
            for handler in lock(&self.core.handlers).drain().map(|(_, h)| h) {
                handler.abort();
            }
            cancelled = running + queued;
            tracing::warn!(running, queued, "shutdown deadline reached; cancelled what was still running or queued");
        }
        self.changes.abort();
        self.storage.close().await;
        cancelled
    }
}
