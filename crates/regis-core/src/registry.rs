//! The loaded plugins and the index from command names (and aliases) to their handlers.

use crate::command::CommandSpec;
use crate::cooldown::CooldownSpec;
use crate::plugin::{Plugin, PluginMeta};
use crate::storage::{Db, Store};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

/// A plugin as the bot holds it: the plugin, its declared commands, its storage, its state.
pub(crate) struct LoadedPlugin {
    pub(crate) plugin: Arc<dyn Plugin>,
    pub(crate) meta: PluginMeta,
    pub(crate) commands: Vec<CommandSpec>,
    pub(crate) cooldowns: Vec<Option<CooldownSpec>>,
    pub(crate) subscriptions: Vec<String>,
    pub(crate) enabled: AtomicBool,
    pub(crate) store: Store,
    pub(crate) db: Db,
}

impl LoadedPlugin {
    pub(crate) fn is_enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }
}

/// A command found by name.
#[derive(Clone)]
pub(crate) struct Resolved {
    pub(crate) plugin: Arc<LoadedPlugin>,
    pub(crate) index: usize,
}

impl Resolved {
    pub(crate) fn spec(&self) -> &CommandSpec {
        &self.plugin.commands[self.index]
    }
}

#[derive(Default)]
struct Inner {
    plugins: Vec<Arc<LoadedPlugin>>,
    by_name: HashMap<String, Resolved>,
}

/// Registration problems, each naming what collides.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two plugins with one name.
    #[error("a plugin named `{0}` is already loaded")]
    DuplicatePlugin(String),
    /// A plugin name that cannot be a storage name.
    #[error("plugin name `{0}` must be 1-32 characters of lowercase letters, digits, `-` and `_`")]
    BadPluginName(String),
    /// A command (or alias) name used twice.
    #[error("command name `{name}` of plugin `{plugin}` is already taken by plugin `{other}`")]
    DuplicateCommand {
        /// The name.
        name: String,
        /// The plugin registering it now.
        plugin: String,
        /// The plugin that has it.
        other: String,
    },
}

/// All loaded plugins.
#[derive(Default)]
pub(crate) struct Registry {
    inner: RwLock<Inner>,
}

impl Registry {
    pub(crate) fn check_name(name: &str) -> Result<(), RegistryError> {
        let ok = (1..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if ok && name != "core" {
            Ok(())
        } else {
            Err(RegistryError::BadPluginName(name.to_string()))
        }
    }

    /// Takes plugin `name` out: its commands are no longer found. Handlers running keep it
    /// until they end.
    pub(crate) fn remove(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).remove(name)
    }

    /// Puts `plugin` in the place of the plugin of the same name, at once: no command is
    /// unknown in between. When the new one's names collide with another plugin's, the old
    /// one stays.
    pub(crate) fn replace(&self, plugin: LoadedPlugin) -> Result<Option<Arc<LoadedPlugin>>, RegistryError> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        let old = inner.remove(&plugin.meta.name);
        match inner.add(plugin) {
            Ok(_) => Ok(old),
            Err(e) => {
                if let Some(old) = &old {
                    inner.insert(Arc::clone(old));
                }
                Err(e)
            }
        }
    }

    /// Adds a plugin whose commands were validated; fails on any name collision.
    pub(crate) fn add(&self, plugin: LoadedPlugin) -> Result<Arc<LoadedPlugin>, RegistryError> {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).add(plugin)
    }
}

impl Inner {
    fn remove(&mut self, name: &str) -> Option<Arc<LoadedPlugin>> {
        let index = self.plugins.iter().position(|p| p.meta.name == name)?;
        let plugin = self.plugins.remove(index);
        self.by_name.retain(|_, resolved| !Arc::ptr_eq(&resolved.plugin, &plugin));
        Some(plugin)
    }

    /// Registers a plugin whose names were checked to be free.
    fn insert(&mut self, plugin: Arc<LoadedPlugin>) {
        for (name, index) in names_of(&plugin) {
            self.by_name.insert(name, Resolved { plugin: Arc::clone(&plugin), index });
        }
        self.plugins.push(plugin);
    }

    fn add(&mut self, plugin: LoadedPlugin) -> Result<Arc<LoadedPlugin>, RegistryError> {
        if self.plugins.iter().any(|p| p.meta.name == plugin.meta.name) {
            return Err(RegistryError::DuplicatePlugin(plugin.meta.name.clone()));
        }
        let plugin = Arc::new(plugin);
        let names = names_of(&plugin);
        for (name, index) in &names {
            let taken = self
                .by_name
                .get(name)
                .map(|r| r.plugin.meta.name.clone())
                .or_else(|| names.iter().find(|(n, i)| n == name && i != index).map(|_| plugin.meta.name.clone()));
            if let Some(other) = taken {
                return Err(RegistryError::DuplicateCommand {
                    name: name.clone(),
                    plugin: plugin.meta.name.clone(),
                    other,
                });
            }
        }
        self.insert(Arc::clone(&plugin));
        Ok(plugin)
    }
}

/// Every name a plugin's commands answer to: name, Discord name and aliases, with the
/// command's index.
fn names_of(plugin: &LoadedPlugin) -> Vec<(String, usize)> {
    let mut names: Vec<(String, usize)> = Vec::new();
    for (index, spec) in plugin.commands.iter().enumerate() {
        names.push((spec.name.clone(), index));
        names.push((spec.discord_name(), index));
        names.extend(spec.aliases.iter().map(|a| (a.clone(), index)));
    }
    names.dedup();
    names
}

impl Registry {
    /// Finds the command a prefix line names: `rank set bob 5` finds `rank set` before `rank`.
    /// Returns the command and the rest of the line. Names are declared in lowercase; unless
    /// `case_sensitive`, `PING` and `Rank Set` name them too.
    pub(crate) fn resolve_line<'l>(&self, line: &'l str, case_sensitive: bool) -> Option<(Resolved, &'l str)> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        let fold = |word: &str| if case_sensitive { word.to_string() } else { word.to_lowercase() };
        let (first, rest) = split_word(line);
        let (second, rest2) = split_word(rest);
        if !second.is_empty() {
            let two = format!("{} {}", fold(first), fold(second));
            if let Some(found) = inner.by_name.get(&two) {
                return Some((found.clone(), rest2));
            }
        }
        inner.by_name.get(&fold(first)).map(|found| (found.clone(), rest))
    }

    /// Finds a command by its name, alias or Discord name.
    pub(crate) fn resolve_name(&self, name: &str) -> Option<Resolved> {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner.by_name.get(&name.trim().to_lowercase()).cloned()
    }

    pub(crate) fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        self.inner.read().unwrap_or_else(|e| e.into_inner()).plugins.clone()
    }

    pub(crate) fn plugin(&self, name: &str) -> Option<Arc<LoadedPlugin>> {
        self.plugins().into_iter().find(|p| p.meta.name == name)
    }

    /// The enabled plugins subscribed to `topic`.
    pub(crate) fn subscribers(&self, topic: &str) -> Vec<Arc<LoadedPlugin>> {
        self.plugins().into_iter().filter(|p| p.is_enabled() && p.subscriptions.iter().any(|t| t == topic)).collect()
    }
}

fn split_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    }
}
