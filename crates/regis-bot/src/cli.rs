//! The command line: `regis console`, `regis run`, `regis commands schema|sync`, `regis mandala`.

use crate::app::Plugins;
use crate::config::{self, Settings};
use crate::mandala_cmd::{self, MandalaArgs};
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use figment::providers::Serialized;
use figment::Figment;
use regis::{Bot, Rank, SqliteBackend, UserRef};
use regis_console::{ConsoleConnector, Mode};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;

/// The command line of a Regis bot (the `regis` binary's, or an [`App`](crate::App)'s under
/// its own name).
#[derive(Parser, Debug)]
#[command(name = "regis", version)]
pub struct Cli {
    #[command(flatten)]
    global: ConfigFlags,
    #[command(subcommand)]
    command: Command,
}

/// The configuration flags: which file, and the settings worth a flag. They override the file
/// and the environment, and are accepted before the subcommand (`regis --log info run`) and
/// after it (`regis run --log info`); after it wins.
#[derive(Args, Debug, Default, Serialize)]
struct ConfigFlags {
    /// Configuration file [env: REGIS_CONFIG] [default: ./regis.toml if present]
    #[arg(long, env = "REGIS_CONFIG", hide_env = true, value_name = "FILE")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Where databases and uploads are kept [env: REGIS_DATA_DIR] [default: ./regis-data]
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// What starts a command in a message [env: REGIS_PREFIX] [default: !]
    #[arg(long, value_name = "TEXT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    /// What to log, e.g. info or regis=debug [env: REGIS_LOG] [default: warn]
    #[arg(long, value_name = "FILTER")]
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
}

impl ConfigFlags {
    /// These flags, each left out taken from `before` (the flags given before the subcommand).
    fn or(self, before: ConfigFlags) -> ConfigFlags {
        ConfigFlags {
            config: self.config.or(before.config),
            data_dir: self.data_dir.or(before.data_dir),
            prefix: self.prefix.or(before.prefix),
            log: self.log.or(before.log),
        }
    }
}

/// A subcommand that takes nothing but the configuration flags.
#[derive(Args, Debug)]
struct ConfigOnly {
    #[command(flatten)]
    config: ConfigFlags,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Talk to the bot in this terminal, or pipe commands in; no chat account needed
    Console(ConsoleArgs),
    /// Print or register the bot's slash commands
    #[command(subcommand)]
    Commands(CommandsCommand),
    /// Check the configuration, or show every setting and where its value came from
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Copy every database into a directory while the bot runs
    ///
    /// Each copy is a complete, consistent file; existing files are never overwritten.
    Backup(BackupArgs),
    /// Chat with the bot in a browser: a Discord-like page, no Discord account needed
    ///
    /// Runs the bot against a fake Discord in this process and serves a page on
    /// 127.0.0.1:PORT that behaves like a Discord channel: messages reach the bot over the
    /// Gateway connector, slash commands and button clicks as signed interactions to its
    /// endpoint, as on Discord. The page shows the replies, the event log and the plugins.
    Dev(DevArgs),
    /// Render mandalas to PNG files (no bot, no configuration)
    Mandala(MandalaArgs),
    /// Create a bot crate of your own: a plugin, its test, and this command line
    ///
    /// Writes ./NAME with Cargo.toml, src/lib.rs (a plugin), its test and src/main.rs, which
    /// gives the new binary this whole command line under its own name.
    New(crate::scaffold::NewArgs),
    /// Run the bot with the connectors the environment enables
    ///
    /// DISCORD_TOKEN enables the Discord Gateway, DISCORD_PUBLIC_KEY the HTTP interactions
    /// endpoint, and the [irc] settings the IRC connection. Secrets are read from the
    /// environment only, never from the configuration file.
    Run(ConfigOnly),
    /// Run parts of a scaled-out bot that meet on NATS (queue_url)
    ///
    /// Roles: receiver (the HTTP interactions endpoint; needs DISCORD_PUBLIC_KEY), gateway (the
    /// Discord Gateway; needs DISCORD_TOKEN), irc (the IRC connection; needs the [irc]
    /// settings) and worker (the plugins). One process may take several, comma-separated.
    Serve(ServeArgs),
}

impl Command {
    /// The configuration flags given after the subcommand, for those that read the
    /// configuration.
    fn config_flags(&mut self) -> Option<ConfigFlags> {
        let flags = match self {
            Command::Console(args) => &mut args.config,
            Command::Dev(args) => &mut args.config,
            Command::Commands(CommandsCommand::Schema(args)) => &mut args.config,
            Command::Commands(CommandsCommand::Sync(args)) => &mut args.config,
            Command::Config(ConfigCommand::Check(args) | ConfigCommand::Show(args)) => &mut args.config,
            Command::Backup(args) => &mut args.config,
            Command::Run(args) => &mut args.config,
            Command::Serve(args) => &mut args.config,
            Command::Mandala(_) | Command::New(_) => return None,
        };
        Some(std::mem::take(flags))
    }
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The roles of this process: receiver, gateway, irc, worker (comma-separated)
    #[arg(long, value_name = "ROLES")]
    role: crate::serve::Roles,
    #[command(flatten)]
    config: ConfigFlags,
}

#[derive(Args, Debug)]
struct DevArgs {
    /// The port of the page (on 127.0.0.1 only; 0 picks a free one)
    #[arg(long, default_value_t = crate::dev::DEFAULT_PORT)]
    port: u16,
    #[command(flatten)]
    config: ConfigFlags,
}

#[derive(Args, Debug)]
struct ConsoleArgs {
    /// Speak as this user (with the rank stored for console:NAME) instead of the operator
    #[arg(long = "as", value_name = "NAME")]
    speaker: Option<String>,
    /// Give the speaker this rank for this session only (-1 to 999)
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..=999))]
    rank: Option<i64>,
    #[command(flatten)]
    config: ConfigFlags,
}

#[derive(Args, Debug)]
struct BackupArgs {
    /// Where to write the copies (created if needed)
    dir: PathBuf,
    #[command(flatten)]
    config: ConfigFlags,
}

#[derive(Subcommand, Debug)]
enum CommandsCommand {
    /// Print the slash commands as Discord's application-command JSON
    Schema(ConfigOnly),
    /// Register the slash commands with Discord and print what changed
    ///
    /// Overwrites Discord's commands only when they differ from the bot's. Needs DISCORD_TOKEN
    /// and DISCORD_APPLICATION_ID.
    Sync(CommandsSyncArgs),
}

#[derive(Args, Debug)]
struct CommandsSyncArgs {
    #[command(flatten)]
    sync: crate::commands_sync::SyncArgs,
    #[command(flatten)]
    config: ConfigFlags,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Check the configuration as `run` does before it starts, and say what was read
    ///
    /// Reads the file, the REGIS_* variables, the flags and the plugins' settings, and starts
    /// nothing.
    Check(ConfigOnly),
    /// Print every setting in TOML with where its value came from
    ///
    /// Each value's origin: its default, a line of the file, an environment variable or a
    /// flag. Passwords and tokens are masked.
    Show(ConfigOnly),
}

/// The user the console speaks as by default; the bot's owner at the console.
const OPERATOR: &str = "operator";

/// Runs the chosen command.
pub(crate) async fn run(mut cli: Cli, plugins: Plugins) -> Result<()> {
    let flags = match cli.command.config_flags() {
        Some(after) => after.or(std::mem::take(&mut cli.global)),
        None => ConfigFlags::default(),
    };
    let file = flags.config.clone();
    let layers = || Figment::from(Serialized::defaults(&flags));
    let settings = || -> Result<Settings> {
        let settings = config::load(file.as_deref(), layers())?;
        crate::logging::init(&settings.log, settings.log_set, settings.log_format()?);
        Ok(settings)
    };
    match cli.command {
        Command::Console(args) => console(settings()?, &plugins, args).await,
        Command::Commands(CommandsCommand::Schema(_)) => schema(settings()?, &plugins).await,
        Command::Commands(CommandsCommand::Sync(args)) => {
            crate::commands_sync::run(settings()?, &plugins, args.sync).await
        }
        // Needs no configuration: a broken regis.toml does not stop it.
        Command::Mandala(args) => mandala_cmd::run(&args),
        Command::New(args) => crate::scaffold::run(&args),
        Command::Run(_) => crate::run::run(settings()?, &plugins).await,
        Command::Dev(args) => crate::dev::dev(settings()?, &plugins, args.port).await,
        Command::Serve(args) => crate::serve::serve(settings()?, &plugins, args.role).await,
        Command::Backup(args) => backup(settings()?, &args.dir).await,
        Command::Config(command) => {
            let layers = config::Layers::read(file.as_deref(), layers())?;
            let show = matches!(command, ConfigCommand::Show(_));
            crate::config_cmd::run(&layers, &plugins, show)
        }
    }
}

/// The bot of the configuration: its storage and the app's plugins.
pub(crate) fn bot_builder(settings: &Settings, plugins: &Plugins) -> Result<regis::BotBuilder> {
    let builder = Bot::builder(settings.core()?).plugin_source(crate::app::script_source(settings));
    let mut builder = match &settings.database_url {
        Some(url) => builder.storage(regis::PostgresBackend::new(url, &settings.bot_name)),
        None => builder.storage(SqliteBackend::new(&settings.data_dir)),
    };
    for plugin in plugins.make(settings)? {
        builder = builder.plugin_arc(plugin);
    }
    Ok(builder)
}

pub(crate) async fn start_bot(
    settings: &Settings,
    plugins: &Plugins,
    connectors: Vec<Arc<dyn regis::Connector>>,
) -> Result<Bot> {
    let mut builder = bot_builder(settings, plugins)?;
    for connector in connectors {
        builder = builder.connector(connector);
    }
    builder.start().await.with_context(|| match &settings.database_url {
        Some(_) => "cannot start the bot (configuration key `database_url`)".to_string(),
        None => format!("cannot start the bot (data dir {})", settings.data_dir.display()),
    })
}

async fn console(settings: Settings, plugins: &Plugins, args: ConsoleArgs) -> Result<()> {
    let connector = Arc::new(ConsoleConnector::stdout(settings.data_dir.join("uploads")));
    let bot = start_bot(&settings, plugins, vec![connector]).await?;
    let _watching_scripts = crate::app::watch_scripts(&settings, &bot);
    let name = args.speaker.as_deref().unwrap_or(OPERATOR);
    regis::envelope::check_user_id(name).map_err(|problem| anyhow::anyhow!("--as `{name}`: {problem}"))?;
    let speaker = UserRef::new(regis_console::CONNECTOR, name);
    // The operator owns the console bot whoever speaks: `--as bob --rank 150` cannot take
    // the operator's rank away.
    bot.set_session_rank(&UserRef::new(regis_console::CONNECTOR, OPERATOR), Rank::OWNER);
    if let Some(rank) = args.rank {
        bot.set_session_rank(&speaker, Rank::new(rank)?);
    }
    let interactive = std::io::stdin().is_terminal();
    let mode = if interactive {
        println!("Regis console: you are {} (try {}help; /quit to leave)", speaker.name, settings.prefix);
        Mode::Interactive
    } else {
        Mode::Piped
    };
    let input = tokio::io::BufReader::new(tokio::io::stdin());
    tokio::select! {
        result = regis_console::run(&bot, &speaker, input, mode, std::io::stderr()) => result.context("reading standard input")?,
        _ = shutdown_signal() => eprintln!("regis: stopping (waiting up to {} for running commands)", settings.shutdown_grace),
    }
    let cancelled = bot.shutdown().await;
    if cancelled > 0 {
        eprintln!("regis: cancelled {cancelled} command(s) still running at the end of the grace period");
    }
    Ok(())
}

pub(crate) async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

async fn schema(settings: Settings, plugins: &Plugins) -> Result<()> {
    let bot = start_bot(&settings, plugins, Vec::new()).await?;
    let commands: Vec<serde_json::Value> = bot.application_commands(settings.discord_admin_rank());
    println!("{}", serde_json::to_string_pretty(&commands)?);
    bot.shutdown().await;
    Ok(())
}

async fn backup(settings: Settings, dir: &std::path::Path) -> Result<()> {
    if settings.database_url.is_some() {
        anyhow::bail!(
            "`regis backup` copies SQLite files; this bot keeps its data in PostgreSQL (`database_url`): \
             back it up with pg_dump --schema='{}:*'",
            settings.bot_name
        );
    }
    let storage = SqliteBackend::new(&settings.data_dir);
    let written = storage
        .backup(dir)
        .await
        .with_context(|| format!("backing up {} into {}", settings.data_dir.display(), dir.display()))?;
    for file in &written {
        println!("{}", file.display());
    }
    println!("backed up {} database(s) from {} into {}", written.len(), settings.data_dir.display(), dir.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// clap checks a subcommand's definition only when it is parsed: check them all here.
    #[test]
    fn every_subcommand_is_well_formed() {
        Cli::command().debug_assert();
    }
}
