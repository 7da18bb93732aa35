//! Plugins loaded, unloaded and reloaded while the bot runs, from a [`PluginSource`] (a
//! directory of script files). What one process does, it announces on the change feed, and
//! every other process of the bot does the same with its own source.

use crate::bot::{prepare, BotError, Core};
use crate::plugin::Plugin;
use crate::registry::LoadedPlugin;
use crate::shared::Change;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// Where a running bot gets plugins by name: script files, for example.
pub trait PluginSource: Send + Sync + 'static {
    /// The names of the plugins it has now; the bot loads them when it starts.
    fn available(&self) -> Vec<String>;

    /// Reads plugin `name` afresh. The error is for the owner who asked, and the log: what is
    /// wrong, with the file and line.
    fn load(&self, name: &str) -> Result<Arc<dyn Plugin>, String>;
}

/// Why a plugin could not be loaded, unloaded or reloaded.
#[derive(Debug, thiserror::Error)]
pub enum PluginLoadError {
    /// The bot has no plugin source.
    #[error("this bot has no plugin directory to load plugins from")]
    NoSource,
    /// It is loaded already.
    #[error("`{0}` is loaded already: reload it")]
    Loaded(String),
    /// It is not loaded.
    #[error("`{0}` is not loaded")]
    NotLoaded(String),
    /// It is compiled into the bot, not loaded from the source.
    #[error("`{0}` is compiled into the bot: disable it instead")]
    Native(String),
    /// The source could not load it (the message says where and why).
    #[error("{0}")]
    Source(String),
    /// Registering it failed (a name taken, storage).
    #[error(transparent)]
    Bot(#[from] BotError),
}

/// How an unload ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unloaded {
    /// Whether calls of the plugin were still running when the grace period ended (they
    /// were told to stop).
    pub stopped: bool,
}

impl Core {
    fn sourced(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeSet<String>> {
        self.sourced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads `name` from the source and prepares it, with its stored enabled state.
    async fn read_and_prepare(&self, name: &str) -> Result<LoadedPlugin, PluginLoadError> {
        let source = self.source.as_ref().ok_or(PluginLoadError::NoSource)?;
        let plugin = source.load(name).map_err(PluginLoadError::Source)?;
        self.prepare_sourced(plugin).await
    }

    async fn prepare_sourced(&self, plugin: Arc<dyn Plugin>) -> Result<LoadedPlugin, PluginLoadError> {
        let loaded = prepare(&*self.storage, plugin).await?;
        let key = format!("plugin:{}:enabled", loaded.meta.name);
        let enabled = self.core_store.get::<bool>(&key).await.map_err(BotError::from)?.unwrap_or(true);
        loaded.enabled.store(enabled, std::sync::atomic::Ordering::Relaxed);
        Ok(loaded)
    }

    /// Loads plugin `name` from the source (here only; see [`Core::load_plugin`]).
    pub(crate) async fn load_here(&self, name: &str) -> Result<(), PluginLoadError> {
        if self.registry.plugin(name).is_some() {
            return Err(PluginLoadError::Loaded(name.to_string()));
        }
        let loaded = self.read_and_prepare(name).await?;
        self.registry.add(loaded).map_err(BotError::from)?;
        self.sourced().insert(name.to_string());
        Ok(())
    }

    /// Reads plugin `name` again and puts it in the place of the running version, which
    /// keeps serving if the new one does not load.
    pub(crate) async fn reload_here(&self, name: &str) -> Result<(), PluginLoadError> {
        if !self.sourced().contains(name) {
            return Err(self.not_sourced(name));
        }
        let loaded = self.read_and_prepare(name).await?;
        if let Some(old) = self.registry.replace(loaded).map_err(BotError::from)? {
            let grace = self.config.shutdown_grace;
            tokio::spawn(async move { retire(old, grace).await });
        }
        Ok(())
    }

    /// Takes plugin `name` out and waits for its running calls (stopping them after the
    /// grace period).
    pub(crate) async fn unload_here(&self, name: &str) -> Result<Unloaded, PluginLoadError> {
        if !self.sourced().contains(name) {
            return Err(self.not_sourced(name));
        }
        let old = self.registry.remove(name).ok_or_else(|| PluginLoadError::NotLoaded(name.to_string()))?;
        self.sourced().remove(name);
        Ok(retire(old, self.config.shutdown_grace).await)
    }

    fn not_sourced(&self, name: &str) -> PluginLoadError {
        match self.registry.plugin(name) {
            Some(_) => PluginLoadError::Native(name.to_string()),
            None => PluginLoadError::NotLoaded(name.to_string()),
        }
    }

    /// Loads plugin `name` here, and has every other process load it.
    pub(crate) async fn load_plugin(&self, name: &str) -> Result<(), PluginLoadError> {
        self.load_here(name).await?;
        self.announce_loaded(name, true).await;
        Ok(())
    }

    /// Reloads plugin `name` here, and has every other process reload it.
    pub(crate) async fn reload_plugin(&self, name: &str) -> Result<(), PluginLoadError> {
        self.reload_here(name).await?;
        self.announce_loaded(name, true).await;
        Ok(())
    }

    /// Unloads plugin `name` here, and has every other process unload it.
    pub(crate) async fn unload_plugin(&self, name: &str) -> Result<Unloaded, PluginLoadError> {
        let unloaded = self.unload_here(name).await?;
        self.announce_loaded(name, false).await;
        Ok(unloaded)
    }

    async fn announce_loaded(&self, name: &str, loaded: bool) {
        let change = Change::Loaded { name: name.to_string(), loaded, from: self.process };
        if let Err(e) = self.shared.changes.announce(change).await {
            tracing::error!(plugin = name, error = %e, "cannot tell the other processes of a plugin (un)loaded here");
        }
    }

    /// Another process loaded, reloaded or unloaded plugin `name`: the same here.
    pub(crate) async fn follow_loaded(&self, name: &str, loaded: bool) {
        let here = self.sourced().contains(name);
        let result = match (loaded, here) {
            (true, true) => self.reload_here(name).await,
            (true, false) => self.load_here(name).await,
            (false, true) => self.unload_here(name).await.map(|_| ()),
            (false, false) => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(plugin = name, error = %e, "cannot follow a plugin (un)loaded by another process");
        }
    }

    /// Registers the plugins read from the source at start; one that does not register is
    /// logged and left out.
    pub(crate) async fn add_sourced(&self, plugins: Vec<(String, Arc<dyn Plugin>)>) {
        for (name, plugin) in plugins {
            let added = match self.prepare_sourced(plugin).await {
                Ok(loaded) => self.registry.add(loaded).map_err(|e| PluginLoadError::Bot(e.into())),
                Err(e) => Err(e),
            };
            match added {
                Ok(_) => {
                    self.sourced().insert(name.clone());
                    tracing::info!(plugin = %name, "plugin loaded");
                }
                Err(e) => tracing::error!(plugin = %name, "{e}; the bot runs without it"),
            }
        }
    }
}

/// Every plugin `source` has now, read; one that does not load is logged and left out.
pub(crate) fn read_all(source: &dyn PluginSource) -> Vec<(String, Arc<dyn Plugin>)> {
    let mut plugins = Vec::new();
    for name in source.available() {
        match source.load(&name) {
            Ok(plugin) => plugins.push((name, plugin)),
            Err(e) => tracing::error!(plugin = %name, "{e}; the bot runs without it"),
        }
    }
    plugins
}

/// Waits up to `grace` for the calls still holding `old`, then tells it to stop them.
async fn retire(old: Arc<LoadedPlugin>, grace: Duration) -> Unloaded {
    let deadline = Instant::now() + grace;
    // The registry let go; what still holds it is a handler running.
    while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stopped = Arc::strong_count(&old) > 1;
    if stopped {
        tracing::warn!(plugin = %old.meta.name, "calls still running after the grace period are stopped");
        old.plugin.stop();
    }
    Unloaded { stopped }
}

/// What [`PluginControl::changed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Followed {
    /// The plugin was new and is loaded.
    Loaded,
    /// It was loaded and is read again.
    Reloaded,
    /// It is gone from the source and was unloaded.
    Unloaded,
    /// Nothing to do (gone from the source, and not loaded).
    Nothing,
}

/// Loads, reloads and unloads a running bot's plugins as its source changes (a file
/// watcher's side), on every process of the bot. Holds the bot weakly: once it is shut down,
/// this does nothing.
#[derive(Clone)]
pub struct PluginControl(pub(crate) Weak<Core>);

impl PluginControl {
    /// Brings plugin `name` in line with the source: loaded if new, read again if loaded,
    /// unloaded if gone.
    pub async fn changed(&self, name: &str) -> Result<Followed, PluginLoadError> {
        let Some(core) = self.0.upgrade() else { return Ok(Followed::Nothing) };
        let source = core.source.as_ref().ok_or(PluginLoadError::NoSource)?;
        let present = source.available().iter().any(|n| n == name);
        let loaded = { core.sourced().contains(name) };
        match (present, loaded) {
            (true, true) => core.reload_plugin(name).await.map(|()| Followed::Reloaded),
            (true, false) => core.load_plugin(name).await.map(|()| Followed::Loaded),
            (false, true) => core.unload_plugin(name).await.map(|_| Followed::Unloaded),
            (false, false) => Ok(Followed::Nothing),
        }
    }
}
