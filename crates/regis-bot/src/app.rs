//! [`App`]: a bot binary of your own with the whole `regis` command line.

use crate::config::Settings;
use anyhow::Result;
use clap::{CommandFactory, FromArgMatches};
use regis::Plugin;
use std::sync::Arc;

/// Makes a plugin from the merged configuration (for plugins that read settings).
type PluginFactory = Arc<dyn Fn(&Settings) -> Result<Arc<dyn Plugin>> + Send + Sync>;

/// The plugins of an app, made for each bot it starts.
#[derive(Clone, Default)]
pub(crate) struct Plugins(Vec<PluginFactory>);

impl Plugins {
    /// Every plugin of the app, made with `settings`.
    pub(crate) fn make(&self, settings: &Settings) -> Result<Vec<Arc<dyn Plugin>>> {
        self.0.iter().map(|make| make(settings)).collect()
    }
}

/// Follows the changes of `plugins_dir` (a new, changed or removed script) while the returned
/// watcher lives; none when the directory does not exist.
pub(crate) fn watch_scripts(settings: &Settings, bot: &regis::Bot) -> Option<regis_lua::ScriptWatcher> {
    if !settings.plugins_dir.is_dir() {
        return None;
    }
    match regis_lua::ScriptWatcher::start(&settings.plugins_dir, bot.plugin_control()) {
        Ok(watcher) => Some(watcher),
        Err(e) => {
            tracing::warn!(error = %e, dir = %settings.plugins_dir.display(), "script files will not be reloaded when they change");
            None
        }
    }
}

/// The script plugins (`*.lua`) of `plugins_dir`, each with its `[scripts]` limits: loaded when
/// the bot starts and by `!plugin load|reload|unload` while it runs.
pub(crate) fn script_source(settings: &Settings) -> Arc<regis_lua::ScriptDirectory> {
    let scripts = settings.scripts.clone();
    Arc::new(regis_lua::ScriptDirectory::new(settings.plugins_dir.clone(), move |name| {
        // Checked when the settings were read; a bad per-plugin value cannot reach here.
        scripts.limits(name).unwrap_or_default()
    }))
}

/// A bot binary: your plugins, and everything the `regis` binary offers — configuration
/// (`regis.toml`, `REGIS_*`, flags), `console`, `run`, `serve --role …`, `commands
/// schema|sync`, `backup` and `mandala` — under your binary's name.
///
/// The admin plugin (help, ping, ranks and bans, plugins, identity links) is always there;
/// add yours with [`App::plugin`], and the other plugins of the `regis` binary with
/// [`App::builtin_plugins`].
///
/// ```no_run
/// use regis::prelude::*;
///
/// struct Greet;
///
/// /// Greetings.
/// #[plugin]
/// impl Greet {
///     /// Say hello to someone.
///     ///
///     /// # Arguments
///     /// * `who` - whom to greet
///     #[command]
///     async fn greet(&self, _ctx: &Ctx, who: String) -> Result<String> {
///         Ok(format!("Hello, {who}!"))
///     }
/// }
///
/// fn main() -> std::process::ExitCode {
///     regis_bot::App::new("my-bot").plugin(Greet).run()
/// }
/// ```
pub struct App {
    name: String,
    about: Option<String>,
    plugins: Plugins,
}

impl App {
    /// An app named `name` (as its binary: the name `--help` shows) with the admin plugin.
    pub fn new(name: &str) -> Self {
        App { name: name.to_string(), about: None, plugins: Plugins::default() }.plugin(regis_plugin_admin::Admin)
    }

    /// The line `--help` shows first (default: "NAME: a chat bot built with Regis").
    pub fn about(mut self, about: &str) -> Self {
        self.about = Some(about.to_string());
        self
    }

    /// Adds a plugin.
    pub fn plugin(mut self, plugin: impl Plugin) -> Self {
        let plugin: Arc<dyn Plugin> = Arc::new(plugin);
        self.plugins.0.push(Arc::new(move |_| Ok(Arc::clone(&plugin))));
        self
    }

    /// Adds a plugin made from the configuration when a bot starts (an error stops the start
    /// with its message).
    pub fn plugin_with<P: Plugin>(mut self, make: impl Fn(&Settings) -> Result<P> + Send + Sync + 'static) -> Self {
        self.plugins.0.push(Arc::new(move |settings| Ok(Arc::new(make(settings)?) as Arc<dyn Plugin>)));
        self
    }

    /// Adds the plugins the `regis` binary has besides admin: dice, trivia, GitHub and
    /// Alertmanager webhooks, and `/mando` (with the archive `object_store_url` configures).
    pub fn builtin_plugins(self) -> Self {
        self.plugin(regis_plugin_dice::Dice)
            .plugin_with(|settings| Ok(regis_plugin_trivia::Trivia::new(settings.trivia()?)))
            .plugin(regis_plugin_github::GitHub)
            .plugin(regis_plugin_alertmanager::Alertmanager)
            .plugin_with(crate::mandala_cmd::plugin)
    }

    /// Whether `args` (without the program's name) is a command line this app accepts, without
    /// running it; the error is what the app would print.
    pub fn check_command_line<I, T>(&self, args: I) -> std::result::Result<(), String>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let command = crate::cli::Cli::command().name(self.name.clone()).bin_name(self.name.clone());
        let args = std::iter::once(std::ffi::OsString::from(&self.name)).chain(args.into_iter().map(Into::into));
        match command.try_get_matches_from(args) {
            Ok(_) => Ok(()),
            // `--help` and `--version` are accepted: they print and exit.
            Err(e)
                if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) =>
            {
                Ok(())
            }
            Err(e) => Err(e.render().to_string()),
        }
    }

    /// Parses the command line and runs what it asks, returning the process's exit code
    /// (errors are printed first).
    pub fn run(self) -> std::process::ExitCode {
        // Once per process: clap keeps the name for the process's life.
        let name: &'static str = Box::leak(self.name.clone().into_boxed_str());
        let about = self.about.clone().unwrap_or_else(|| format!("{name}: a chat bot built with Regis"));
        let command = crate::cli::Cli::command().name(name).bin_name(name).about(about);
        let cli = match crate::cli::Cli::from_arg_matches(&command.get_matches()) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("{}: cannot start the async runtime: {e}", self.name);
                return std::process::ExitCode::FAILURE;
            }
        };
        match runtime.block_on(crate::cli::run(cli, self.plugins)) {
            Ok(()) => std::process::ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{}: {e:#}", self.name);
                std::process::ExitCode::FAILURE
            }
        }
    }
}
