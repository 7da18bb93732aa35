//! `regis run`: the bot with the connectors its configuration enables. Today that is the
//! Discord HTTP interactions endpoint (when `DISCORD_PUBLIC_KEY` is set); an interactions-only
//! process needs no bot token and connects to nothing at start.

use crate::config::Settings;
use anyhow::{bail, Context, Result};
use clap::Args;
use regis_discord::{DiscordConnector, InteractionsConfig, InteractionsServer, RestConfig};
use std::sync::Arc;

/// Discord credentials, from the environment (never from files, never logged).
#[derive(Args, Debug)]
pub struct DiscordArgs {
    /// The application's public key (hex) from the developer portal; enables the HTTP
    /// interactions endpoint.
    #[arg(long, env = "DISCORD_PUBLIC_KEY", hide_env_values = true)]
    pub discord_public_key: Option<String>,
    /// The bot token (enables REST calls beyond interaction responses).
    #[arg(long, env = "DISCORD_TOKEN", hide_env_values = true)]
    pub discord_token: Option<String>,
}

/// Runs the configured connectors until Ctrl-C or SIGTERM.
pub async fn run(settings: Settings, discord: DiscordArgs) -> Result<()> {
    let Some(public_key) = discord.discord_public_key else {
        if discord.discord_token.is_some() {
            bail!(
                "DISCORD_TOKEN is set, but the Discord Gateway connector is not part of Regis yet; \
                 set DISCORD_PUBLIC_KEY to serve slash commands over HTTP interactions"
            );
        }
        bail!("nothing to run: set DISCORD_PUBLIC_KEY to serve Discord's HTTP interactions, or try `regis console`");
    };
    let rest =
        RestConfig { api_url: settings.discord_api_url.clone(), token: discord.discord_token, ..RestConfig::default() };
    let connector = Arc::new(DiscordConnector::new(rest).context("configuration key `discord_api_url`")?);
    let bot = crate::cli::start_bot(&settings, Some(connector.clone())).await?;
    let interactions = InteractionsConfig {
        public_key,
        addr: settings.http_addr.parse().with_context(|| {
            format!("configuration key `http_addr`: `{}` is not an address like 127.0.0.1:8080", settings.http_addr)
        })?,
        budget: settings.duration("interaction_budget", &settings.interaction_budget)?,
        timestamp_window: settings.duration("signature_window", &settings.signature_window)?,
        body_limit: settings.body_limit,
    };
    let server = InteractionsServer::new(&interactions, bot.ingress(), &connector)?;
    eprintln!("regis: Discord interactions endpoint on http://{}/interactions", interactions.addr);
    server.serve(crate::cli::shutdown_signal()).await.with_context(|| format!("serving on {}", interactions.addr))?;
    let cancelled = bot.shutdown().await;
    if cancelled > 0 {
        eprintln!("regis: cancelled {cancelled} command(s) still running at the end of the grace period");
    }
    Ok(())
}
