//! `regis run`: the bot with the connectors its environment enables. `DISCORD_PUBLIC_KEY`
//! serves Discord's HTTP interactions endpoint (no bot token needed, connects to nothing at
//! start); `DISCORD_TOKEN` connects to the Discord Gateway. Both may run together, sharing one
//! REST egress.

use crate::config::Settings;
use crate::secrets::DiscordSecrets;
use anyhow::{bail, Context, Result};
use regis_discord::gateway::{parse_intents, Gateway, GatewayConfig, GatewayError, IdentifyQueue};
use regis_discord::{DiscordConnector, InteractionsConfig, InteractionsServer, RestConfig};
use regis_http::{health_router, HttpServer, ServeReport};
use regis_webhooks::Webhooks;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The process's shutdown: its deadline is set once, when the first reason to stop comes (a
/// signal, a fatal Gateway close, a listener that stopped), and every part stops by it.
#[derive(Clone)]
pub(crate) struct Shutdown {
    deadline: watch::Sender<Option<Instant>>,
    grace: Duration,
}

impl Shutdown {
    pub(crate) fn new(grace: Duration) -> Self {
        Shutdown { deadline: watch::channel(None).0, grace }
    }

    /// Begins the shutdown now (later calls keep the first deadline).
    pub(crate) fn begin(&self) {
        let grace = self.grace;
        self.deadline.send_if_modified(|deadline| {
            if deadline.is_none() {
                *deadline = Some(Instant::now() + grace);
                true
            } else {
                false
            }
        });
    }

    /// Resolves with the deadline once the shutdown has begun.
    pub(crate) fn deadline(&self) -> impl std::future::Future<Output = Instant> + Send + 'static {
        let mut rx = self.deadline.subscribe();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(deadline) => deadline.unwrap_or_else(Instant::now),
                Err(_) => Instant::now(),
            }
        }
    }

    /// Whether the shutdown has begun.
    pub(crate) fn begun(&self) -> bool {
        self.deadline.borrow().is_some()
    }

    /// Begins the shutdown at Ctrl-C or SIGTERM, saying `message`.
    pub(crate) fn on_signal(&self, message: String) -> tokio::task::JoinHandle<()> {
        let shutdown = self.clone();
        tokio::spawn(async move {
            crate::cli::shutdown_signal().await;
            eprintln!("{message}");
            shutdown.begin();
        })
    }

    /// Serves `router` on `http` until the deadline; a listener that stopped stops the rest
    /// too.
    pub(crate) fn serve(&self, http: HttpServer, router: axum::Router) -> tokio::task::JoinHandle<ServeReport> {
        let shutdown = self.clone();
        tokio::spawn(async move {
            let report = http.serve(router, shutdown.deadline()).await;
            shutdown.begin();
            report
        })
    }

    /// Runs the Gateway's shards onto `ingress` until the deadline; a fatal close stops the
    /// rest too.
    pub(crate) async fn run_gateway(&self, gateway: Gateway, ingress: regis::Ingress) -> Result<(), GatewayError> {
        eprintln!("regis: connecting to the Discord Gateway");
        let stop = self.deadline();
        let result = gateway
            .run(ingress, async move {
                stop.await;
            })
            .await;
        self.begin();
        result
    }
}

/// The Discord REST egress of the configuration (with the bot token, if one is set).
pub(crate) fn discord_rest(settings: &Settings, secrets: &DiscordSecrets) -> Result<DiscordConnector> {
    let config =
        RestConfig { api_url: settings.discord_api_url.clone(), token: secrets.token.clone(), ..RestConfig::default() };
    DiscordConnector::new(config).context("starting the Discord REST client (configuration key `discord_api_url`)")
}

/// The Gateway connection of the configuration, IDENTIFYs spaced by `identify_queue`.
pub(crate) fn gateway_config(
    settings: &Settings,
    token: &str,
    budget: Duration,
    identify_queue: IdentifyQueue,
) -> Result<GatewayConfig> {
    let (shards, shard_range) = match &settings.discord_shards {
        Some(shards) => shards.parse().map(|(total, range)| (Some(total), range))?,
        None => (None, None),
    };
    Ok(GatewayConfig {
        intents: parse_intents(&settings.discord_intents).context("configuration key `discord_intents`")?,
        gateway_url: settings.discord_gateway_url.clone(),
        shards,
        shard_range,
        budget,
        identify_queue,
        ..GatewayConfig::new(token)
    })
}

/// The interactions endpoint of the configuration, verifying with `public_key`.
pub(crate) fn interactions_config(
    settings: &Settings,
    public_key: &str,
    budget: Duration,
) -> Result<InteractionsConfig> {
    Ok(InteractionsConfig {
        public_key: public_key.to_string(),
        budget,
        timestamp_window: settings.duration("signature_window", &settings.signature_window)?,
        body_limit: settings.body_limit,
        defer_backlog: (settings.interaction_defer_backlog > 0).then_some(settings.interaction_defer_backlog),
    })
}

/// A router of the caller's, made once the bot has started, merged onto the one listener
/// (`regis dev`'s page); it gets the bot and the listener's address.
pub(crate) type ExtraRouter = Box<dyn FnOnce(&Arc<regis::Bot>, std::net::SocketAddr) -> axum::Router + Send>;

/// Runs the configured connectors until Ctrl-C or SIGTERM, or until Discord closes the
/// Gateway with a fatal code.
pub(crate) async fn run(settings: Settings, plugins: &crate::app::Plugins) -> Result<()> {
    run_with(settings, plugins, DiscordSecrets::from_env()?, None).await
}

/// [`run`] with the given secrets, and `extra` merged onto the listener.
pub(crate) async fn run_with(
    settings: Settings,
    plugins: &crate::app::Plugins,
    secrets: DiscordSecrets,
    extra: Option<ExtraRouter>,
) -> Result<()> {
    let irc = match settings.irc()? {
        Some(config) => Some(regis_irc::Irc::new(config).context("configuration key `irc.tls_roots`")?),
        None => None,
    };
    let discord = secrets.public_key.is_some() || secrets.token.is_some();
    if !discord && irc.is_none() {
        bail!(
            "nothing to run: set DISCORD_TOKEN to connect to the Discord Gateway, DISCORD_PUBLIC_KEY to serve \
             Discord's HTTP interactions (or both), REGIS_IRC_SERVER to connect to IRC, or try `regis console`"
        );
    }
    // The listener first: an address in use stops the start before anything connects.
    let http = HttpServer::bind(settings.http()?).await.context("configuration key `http_addr`")?;
    let rest = Arc::new(discord_rest(&settings, &secrets)?);
    let budget = settings.duration("interaction_budget", &settings.interaction_budget)?;
    let gateway = match &secrets.token {
        Some(token) => {
            let config = gateway_config(&settings, token, budget, IdentifyQueue::Discord)?;
            Some(Gateway::new(config, Arc::clone(&rest))?)
        }
        None => None,
    };
    let mut connectors: Vec<Arc<dyn regis::Connector>> = Vec::new();
    if discord {
        connectors.push(match &gateway {
            Some(gateway) => gateway.connector(),
            None => rest.clone(),
        });
    }
    if let Some(irc) = &irc {
        connectors.push(irc.connector());
    }
    let bot = Arc::new(crate::cli::start_bot(&settings, plugins, connectors).await?);
    let _watching_scripts = crate::app::watch_scripts(&settings, &bot);
    // The IRC connection runs until the shutdown begins.
    let (stop_irc, irc_stopped) = watch::channel(false);
    let irc_task = irc.map(|irc| {
        eprintln!("regis: IRC connection to {}", settings.irc.server.as_deref().unwrap_or_default());
        tokio::spawn(irc.run(bot.ingress(), irc_stopped))
    });
    let shutdown = Shutdown::new(settings.duration("shutdown_grace", &settings.shutdown_grace)?);
    let signal =
        shutdown.on_signal(format!("regis: stopping (waiting up to {} for running commands)", settings.shutdown_grace));
    let hooks = crate::hooks::configured(&settings, Some(&bot.webhooks()), |v| std::env::var(v).ok())?;
    // The one listener: health, readiness and metrics always; interactions and webhooks when
    // configured.
    let metrics = regis_http::Metrics::install()?;
    let status = gateway.as_ref().map(Gateway::status);
    let mut router = health_router(crate::readiness::readiness(shutdown.clone(), None, Some(Arc::clone(&bot)), status))
        .merge(metrics.router({
            let bot = Arc::clone(&bot);
            move || bot.sample_metrics()
        }));
    if let Some(public_key) = &secrets.public_key {
        let interactions = interactions_config(&settings, public_key, budget)?;
        let endpoint = InteractionsServer::new(&interactions, bot.ingress(), rest.pending(), http.bodies())?;
        router = router.merge(endpoint.router());
        eprintln!("regis: Discord interactions endpoint on http://{}/interactions", http.local_addr()?);
    }
    if !hooks.is_empty() {
        let names: Vec<String> = hooks.iter().map(|h| format!("/hooks/{}/{}", h.plugin, h.name)).collect();
        eprintln!("regis: webhooks on http://{}: {}", http.local_addr()?, names.join(", "));
        router = router.merge(Webhooks::new(hooks, bot.ingress(), http.bodies(), settings.webhook_body_limit).router());
    }
    eprintln!("regis: health and metrics on http://{}/readyz and /metrics", http.local_addr()?);
    if let Some(extra) = extra {
        router = router.merge(extra(&bot, http.local_addr()?));
    }
    let server = Some(shutdown.serve(http, router));
    let gateway_result = match gateway {
        Some(gateway) => shutdown.run_gateway(gateway, bot.ingress()).await,
        None => {
            shutdown.deadline().await;
            Ok(())
        }
    };
    let _ = stop_irc.send(true);
    if let Some(task) = irc_task {
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
    let report = match server {
        Some(server) => Some(server.await.context("the interactions endpoint stopped abnormally")?),
        None => None,
    };
    signal.abort();
    shutdown.begin();
    let cancelled = bot.shutdown_by(shutdown.deadline().await).await;
    if let Some(cut) = report.map(|r| r.cut).filter(|cut| *cut > 0) {
        eprintln!("regis: cut {cut} HTTP request(s) still running at the end of the grace period");
    }
    if cancelled > 0 {
        eprintln!("regis: cancelled {cancelled} command(s) still running or queued at the end of the grace period");
    }
    gateway_result.context("the Discord Gateway connector stopped")
}
