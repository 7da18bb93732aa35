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

    /// The text of plugin `name` as the source has it now, if the source has texts (script
    /// files do). The bot keeps the text of what was last loaded in its core store (shared
    /// by every worker), so that every worker runs that version.
    fn text(&self, name: &str) -> Option<String> {
        let _ = name;
        None
    }

    /// Loads plugin `name` from `text`, a version loaded elsewhere (see [`PluginSource::text`]).
    fn load_text(&self, name: &str, text: &str) -> Result<Arc<dyn Plugin>, String> {
        let _ = text;
        self.load(name)
    }
}

/// What the core store keeps of a plugin loaded from the source: the text every worker runs,
/// or that an owner unloaded it (so that a worker starting later leaves it out too).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Stored {
    /// The text; `None`: unloaded.
    text: Option<String>,
}

/// The core-store key of plugin `name`'s stored text.
fn stored_key(name: &str) -> String {
    format!("{STORED_PREFIX}{name}")
}

const STORED_PREFIX: &str = "source:";

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

    /// Reads `name` from the source and prepares it, with its stored enabled state; its text
    /// is what every worker is to run, stored once it is in place (see [`Core::keep_loaded`]).
    async fn read_and_prepare(&self, name: &str) -> Result<(LoadedPlugin, Option<String>), PluginLoadError> {
        let source = self.source.as_ref().ok_or(PluginLoadError::NoSource)?;
        let text = source.text(name);
        let plugin = match &text {
            Some(text) => source.load_text(name, text),
            None => source.load(name),
        }
        .map_err(PluginLoadError::Source)?;
        Ok((self.prepare_sourced(plugin).await?, text))
    }

    /// The version another process loaded: its stored text, else what the source has.
    async fn read_stored_and_prepare(&self, name: &str) -> Result<LoadedPlugin, PluginLoadError> {
        let source = self.source.as_ref().ok_or(PluginLoadError::NoSource)?;
        let stored = self.core_store.get::<Stored>(&stored_key(name)).await.map_err(BotError::from)?;
        let plugin = match stored.and_then(|s| s.text) {
            Some(text) => source.load_text(name, &text),
            None => source.load(name),
        }
        .map_err(PluginLoadError::Source)?;
        self.prepare_sourced(plugin).await
    }

    /// Keeps what every worker is to run of plugin `name`: its text, or that it is unloaded.
    async fn keep_text(&self, name: &str, text: Option<String>) -> Result<(), PluginLoadError> {
        self.core_store.set(&stored_key(name), &Stored { text }).await.map_err(BotError::from)?;
        Ok(())
    }

    /// After a load or reload: keeps its text for every worker; a source without texts has
    /// each worker read its own, so nothing is kept (and no older text stays to win).
    async fn keep_loaded(&self, name: &str, text: Option<String>) -> Result<(), PluginLoadError> {
        match text {
            Some(text) => self.keep_text(name, Some(text)).await,
            None => {
                self.core_store.delete(&stored_key(name)).await.map_err(BotError::from)?;
                Ok(())
            }
        }
    }

    async fn prepare_sourced(&self, plugin: Arc<dyn Plugin>) -> Result<LoadedPlugin, PluginLoadError> {
        let loaded = prepare(&*self.storage, plugin).await?;
        let key = format!("plugin:{}:enabled", loaded.meta.name);
        let enabled = self.core_store.get::<bool>(&key).await.map_err(BotError::from)?.unwrap_or(true);
        loaded.enabled.store(enabled, std::sync::atomic::Ordering::Relaxed);
        Ok(loaded)
    }

    /// Registers `loaded` as plugin `name`, new here (a plugin of that name already here is
    /// refused by the registry).
    fn add_here(&self, name: &str, loaded: LoadedPlugin) -> Result<(), PluginLoadError> {
        self.registry.add(loaded).map_err(BotError::from)?;
        self.sourced().insert(name.to_string());
        Ok(())
    }

    /// Puts `loaded` in the place of the running version of plugin `name`.
    fn replace_here(&self, name: &str, loaded: LoadedPlugin) -> Result<(), PluginLoadError> {
        if !self.sourced().contains(name) {
            return Err(self.not_sourced(name));
        }
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

    /// Loads plugin `name` from the source here, keeps its text for every worker, and has
    /// every other process load it.
    pub(crate) async fn load_plugin(&self, name: &str) -> Result<(), PluginLoadError> {
        if self.registry.plugin(name).is_some() {
            return Err(PluginLoadError::Loaded(name.to_string()));
        }
        let (loaded, text) = self.read_and_prepare(name).await?;
        self.add_here(name, loaded)?;
        self.keep_loaded(name, text).await?;
        self.announce_loaded(name, true).await;
        Ok(())
    }

    /// Reads plugin `name` from the source again and puts it in the place of the running
    /// version (which keeps serving if the new one does not load), keeps its text for every
    /// worker, and has every other process do the same.
    pub(crate) async fn reload_plugin(&self, name: &str) -> Result<(), PluginLoadError> {
        if !self.sourced().contains(name) {
            return Err(self.not_sourced(name));
        }
        let (loaded, text) = self.read_and_prepare(name).await?;
        self.replace_here(name, loaded)?;
        self.keep_loaded(name, text).await?;
        self.announce_loaded(name, true).await;
        Ok(())
    }

    /// Unloads plugin `name` here, keeps that it is unloaded (a worker starting later leaves
    /// it out too), and has every other process unload it.
    pub(crate) async fn unload_plugin(&self, name: &str) -> Result<Unloaded, PluginLoadError> {
        let unloaded = self.unload_here(name).await?;
        self.keep_text(name, None).await?;
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
            (true, _) => match self.read_stored_and_prepare(name).await {
                Ok(plugin) if here => self.replace_here(name, plugin),
                Ok(plugin) => self.add_here(name, plugin),
                Err(e) => Err(e),
            },
            (false, true) => self.unload_here(name).await.map(|_| ()),
            (false, false) => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(plugin = name, error = %e, "cannot follow a plugin (un)loaded by another process");
        }
    }

    /// Registers the plugins read from the source at start, where the core store has no
    /// other version: the stored text of what was last loaded anywhere wins over the source's,
    /// and one an owner unloaded stays out. One that does not register is logged and left out.
    pub(crate) async fn add_sourced(&self, plugins: Vec<(String, Arc<dyn Plugin>)>) {
        let mut plugins: std::collections::BTreeMap<String, Arc<dyn Plugin>> = plugins.into_iter().collect();
        let stored = match self.core_store.list::<Stored>(STORED_PREFIX).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the plugin versions kept for every worker; using the directory's");
                Vec::new()
            }
        };
        if let Some(source) = &self.source {
            for (key, stored) in stored {
                let name = key.trim_start_matches(STORED_PREFIX).to_string();
                let Some(text) = stored.text else {
                    plugins.remove(&name);
                    continue;
                };
                match source.load_text(&name, &text) {
                    Ok(plugin) => {
                        plugins.insert(name, plugin);
                    }
                    Err(e) => tracing::error!(plugin = %name, "the version kept for every worker does not load: {e}"),
                }
            }
        }
        for (name, plugin) in plugins {
            let added = match self.prepare_sourced(plugin).await {
                Ok(loaded) => self.add_here(&name, loaded),
                Err(e) => Err(e),
            };
            match added {
                Ok(()) => tracing::info!(plugin = %name, "plugin loaded"),
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
