//! `regis run`: the bot with the connectors its environment enables. `DISCORD_PUBLIC_KEY`
//! serves Discord's HTTP interactions endpoint (no bot token needed, connects to nothing at
//! start); `DISCORD_TOKEN` connects to the Discord Gateway. Both may run together, sharing one
//! REST egress.

use crate::config::Settings;
use anyhow::{bail, Context, Result};
use clap::Args;
use regis_discord::gateway::{parse_intents, Gateway, GatewayConfig, IdentifyQueue};
use regis_discord::{DiscordConnector, InteractionsConfig, InteractionsServer, RestConfig};
use std::sync::Arc;
use tokio::sync::watch;

/// Discord credentials, from the environment (never from files, never logged).
#[derive(Args, Debug)]
pub struct DiscordArgs {
    /// The application's public key (hex) from the developer portal; enables the HTTP
    /// interactions endpoint.
    #[arg(long, env = "DISCORD_PUBLIC_KEY", hide_env_values = true)]
    pub discord_public_key: Option<String>,
    /// The bot token; connects to the Discord Gateway (and enables REST calls beyond
    /// interaction responses).
    #[arg(long, env = "DISCORD_TOKEN", hide_env_values = true)]
    pub discord_token: Option<String>,
}

/// Resolves when `stop` turns true.
async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Runs the configured connectors until Ctrl-C or SIGTERM, or until Discord closes the
/// Gateway with a fatal code.
pub async fn run(settings: Settings, discord: DiscordArgs) -> Result<()> {
    if discord.discord_public_key.is_none() && discord.discord_token.is_none() {
        bail!(
            "nothing to run: set DISCORD_TOKEN to connect to the Discord Gateway, DISCORD_PUBLIC_KEY to serve \
             Discord's HTTP interactions (or both), or try `regis console`"
        );
    }
    let rest = RestConfig {
        api_url: settings.discord_api_url.clone(),
        token: discord.discord_token.clone(),
        ..RestConfig::default()
    };
    let rest = Arc::new(
        DiscordConnector::new(rest)
            .context("starting the Discord REST client (configuration key `discord_api_url`)")?,
    );
    let budget = settings.duration("interaction_budget", &settings.interaction_budget)?;
    let gateway = match &discord.discord_token {
        Some(token) => {
            let config = GatewayConfig {
                intents: parse_intents(&settings.discord_intents).context("configuration key `discord_intents`")?,
                gateway_url: settings.discord_gateway_url.clone(),
                shards: settings.discord_shards,
                budget,
                identify_queue: IdentifyQueue::Discord,
                ..GatewayConfig::new(token.clone())
            };
            Some(Gateway::new(config, Arc::clone(&rest))?)
        }
        None => None,
    };
    let connector: Arc<dyn regis::Connector> = match &gateway {
        Some(gateway) => gateway.connector(),
        None => rest.clone(),
    };
    let bot = crate::cli::start_bot(&settings, Some(connector)).await?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let signal = {
        let stop_tx = stop_tx.clone();
        tokio::spawn(async move {
            crate::cli::shutdown_signal().await;
            let _ = stop_tx.send(true);
        })
    };
    let server = match discord.discord_public_key {
        Some(public_key) => {
            let interactions = InteractionsConfig {
                public_key,
                addr: settings.http_addr.parse().with_context(|| {
                    format!(
                        "configuration key `http_addr`: `{}` is not an address like 127.0.0.1:8080",
                        settings.http_addr
                    )
                })?,
                budget,
                timestamp_window: settings.duration("signature_window", &settings.signature_window)?,
                body_limit: settings.body_limit,
            };
            let server = InteractionsServer::new(&interactions, bot.ingress(), &rest)?;
            eprintln!("regis: Discord interactions endpoint on http://{}/interactions", interactions.addr);
            let addr = interactions.addr;
            let stop = stopped(stop_rx.clone());
            let stop_tx = stop_tx.clone();
            Some(tokio::spawn(async move {
                let result = server.serve(stop).await.with_context(|| format!("serving on {addr}"));
                // An endpoint that cannot serve stops the Gateway too.
                let _ = stop_tx.send(true);
                result
            }))
        }
        None => None,
    };
    let gateway_result = match gateway {
        Some(gateway) => {
            eprintln!("regis: connecting to the Discord Gateway");
            let result = gateway.run(bot.ingress(), stopped(stop_rx.clone())).await;
            // A fatal close stops everything else too.
            let _ = stop_tx.send(true);
            result
        }
        None => Ok(()),
    };
    let server_result = match server {
        Some(server) => server.await.context("the interactions endpoint stopped abnormally")?,
        None => Ok(()),
    };
    signal.abort();
    let cancelled = bot.shutdown().await;
    if cancelled > 0 {
        eprintln!("regis: cancelled {cancelled} command(s) still running at the end of the grace period");
    }
    gateway_result.context("the Discord Gateway connector stopped")?;
    server_result
}
