//! A directory of script files as the bot's [`PluginSource`]: `NAME.lua` is plugin `NAME`,
//! loaded when the bot starts and by `!plugin load|reload NAME` while it runs.

use crate::{Limits, ScriptPlugin};
use regis_core::{Plugin, PluginSource};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The script plugins of a directory.
pub struct ScriptDirectory {
    dir: PathBuf,
    limits: Box<dyn Fn(&str) -> Limits + Send + Sync>,
}

impl ScriptDirectory {
    /// The scripts of `dir`, each with the limits `limits` gives for its name.
    pub fn new(dir: impl Into<PathBuf>, limits: impl Fn(&str) -> Limits + Send + Sync + 'static) -> Self {
        ScriptDirectory { dir: dir.into(), limits: Box::new(limits) }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of plugin `name`, if `name` can name one (no path separators, no dots).
    fn file(&self, name: &str) -> Option<PathBuf> {
        let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        plain.then(|| self.dir.join(format!("{name}.lua")))
    }
}

impl PluginSource for ScriptDirectory {
    fn available(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "lua"))
            .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .filter(|name| self.file(name).is_some())
            .collect();
        names.sort();
        names
    }

    fn load(&self, name: &str) -> Result<Arc<dyn Plugin>, String> {
        let text = self.text(name).ok_or_else(|| self.missing(name))?;
        self.load_text(name, &text)
    }

    fn text(&self, name: &str) -> Option<String> {
        std::fs::read_to_string(self.file(name)?).ok()
    }

    fn load_text(&self, name: &str, text: &str) -> Result<Arc<dyn Plugin>, String> {
        let file = self.file(name).ok_or_else(|| self.missing(name))?;
        let plugin =
            ScriptPlugin::from_source(&file, text.to_string(), (self.limits)(name)).map_err(|e| e.to_string())?;
        let declared = plugin.meta().name;
        if declared != name {
            return Err(format!("{} declares the plugin `{declared}`: a script's name is its file's", file.display()));
        }
        Ok(Arc::new(plugin))
    }
}

impl ScriptDirectory {
    /// Why plugin `name` cannot be read.
    fn missing(&self, name: &str) -> String {
        match self.file(name) {
            Some(file) => format!("there is no script {}", file.display()),
            None => format!("`{name}` cannot name a script file"),
        }
    }
}
