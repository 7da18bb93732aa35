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

/// Regis: a bot for Discord and ChatOps.
#[derive(Parser, Debug)]
#[command(name = "regis", version, about)]
pub struct Cli {
    #[command(flatten)]
    global: GlobalFlags,
    #[command(subcommand)]
    command: Command,
}

/// Flags that override the configuration file and environment.
#[derive(Args, Debug, Serialize)]
struct GlobalFlags {
    /// Configuration file (default: ./regis.toml if present).
    #[arg(long, global = true, env = "REGIS_CONFIG")]
    #[serde(skip)]
    config: Option<PathBuf>,
    /// Data directory [env: REGIS_DATA_DIR; default ./regis-data].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    data_dir: Option<PathBuf>,
    /// Command prefix [env: REGIS_PREFIX; default !].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<String>,
    /// Log filter, e.g. info or regis=debug [env: REGIS_LOG; default warn].
    #[arg(long, global = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<String>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Talk to the bot in this terminal (or pipe commands in); no chat account needed.
    Console(ConsoleArgs),
    /// Inspect the commands of the built-in plugins.
    #[command(subcommand)]
    Commands(CommandsCommand),
    /// Check the configuration, or show every setting and where its value came from.
    #[command(subcommand)]
    Config(crate::config_cmd::ConfigCommand),
    /// Copy every database of the data directory into DIR as complete, consistent files
    /// (safe while the bot runs).
    Backup(BackupArgs),
    /// Render mandalas to PNG files (no bot, no data directory).
    Mandala(MandalaArgs),
    /// Create a bot crate of your own in ./NAME: a plugin, its test, and this whole command
    /// line under your binary's name (no configuration needed).
    New(crate::scaffold::NewArgs),
    /// Run the bot with the connectors the environment enables (DISCORD_TOKEN: the Discord
    /// Gateway; DISCORD_PUBLIC_KEY: the Discord HTTP interactions endpoint). Secrets are read
    /// from the environment only.
    Run,
    /// Run parts of a scaled-out bot that meet on NATS (`queue_url`): `--role receiver` (the
    /// HTTP interactions endpoint; needs DISCORD_PUBLIC_KEY), `gateway` (the Discord Gateway;
    /// needs DISCORD_TOKEN), `irc` (the IRC connection; needs REGIS_IRC_SERVER), `worker` (the
    /// plugins), or several, comma-separated.
    Serve(ServeArgs),
}

#[derive(Args, Debug)]
struct ServeArgs {
    /// The roles of this process: receiver, gateway, irc, worker (comma-separated).
    #[arg(long, value_name = "ROLES")]
    role: crate::serve::Roles,
}

#[derive(Args, Debug)]
struct ConsoleArgs {
    /// Speak as this user (with the rank stored for console:NAME) instead of the operator.
    #[arg(long = "as", value_name = "NAME")]
    speaker: Option<String>,
    /// Give the speaker this rank for this session only (-1..=999).
    #[arg(long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..=999))]
    rank: Option<i64>,
}

#[derive(Args, Debug)]
struct BackupArgs {
    /// Where to write the copies (created if needed; existing files are never overwritten).
    dir: PathBuf,
}

#[derive(Subcommand, Debug)]
enum CommandsCommand {
    /// Print the Discord application-command JSON of every command.
    Schema,
    /// Register the commands with Discord (bulk overwrite when they differ) and print the
    /// difference (needs DISCORD_TOKEN and DISCORD_APPLICATION_ID).
    Sync(crate::commands_sync::SyncArgs),
}

/// The user the console speaks as by default; the bot's owner at the console.
const OPERATOR: &str = "operator";

/// Runs the chosen command.
pub(crate) async fn run(cli: Cli, plugins: Plugins) -> Result<()> {
    let settings = || -> Result<Settings> {
        let settings = config::load(cli.global.config.as_deref(), Figment::from(Serialized::defaults(&cli.global)))?;
        crate::logging::init(&settings.log, settings.log_set, settings.log_format()?);
        Ok(settings)
    };
    match cli.command {
        Command::Console(args) => console(settings()?, &plugins, args).await,
        Command::Commands(CommandsCommand::Schema) => schema(settings()?, &plugins).await,
        Command::Commands(CommandsCommand::Sync(args)) => crate::commands_sync::run(settings()?, &plugins, args).await,
        // Needs no configuration: a broken regis.toml does not stop it.
        Command::Mandala(args) => mandala_cmd::run(&args),
        Command::New(args) => crate::scaffold::run(&args),
        Command::Run => crate::run::run(settings()?, &plugins).await,
        Command::Serve(args) => crate::serve::serve(settings()?, &plugins, args.role).await,
        Command::Backup(args) => backup(settings()?, &args.dir).await,
        Command::Config(command) => {
            let layers =
                config::Layers::read(cli.global.config.as_deref(), Figment::from(Serialized::defaults(&cli.global)))?;
            crate::config_cmd::run(&layers, &plugins, &command)
        }
    }
}

/// The bot of the configuration: its storage and the app's plugins.
pub(crate) fn bot_builder(settings: &Settings, plugins: &Plugins) -> Result<regis::BotBuilder> {
    let builder = Bot::builder(settings.core()?);
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
    let commands: Vec<serde_json::Value> = bot.commands().iter().map(|(_, spec)| spec.to_discord_json()).collect();
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
