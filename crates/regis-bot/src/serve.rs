//! `regis serve --role receiver|gateway|irc|worker`: one part of a scaled-out bot, or several
//! in one process (`--role receiver,worker`). The parts meet on the backbone `queue_url` names
//! (NATS, or Google Cloud Pub/Sub with PostgreSQL: see [`crate::backbone`]): receivers,
//! gateways and the IRC connection publish envelopes to the bot's queue (on NATS, receivers
//! and gateways wait for first responses through the rendezvous); workers consume it, run the
//! plugins and send replies over Discord's REST API, and to IRC through the connector relay of
//! the process that holds the IRC connection.

use crate::backbone::{Backbone, Needs};
use crate::config::Settings;
use crate::run::{discord_rest, gateway_config, interactions_config, Shutdown};
use crate::secrets::DiscordSecrets;
use anyhow::{bail, Context, Result};
use regis::Ingress;
use regis_discord::gateway::{Gateway, IdentifyQueue};
use regis_discord::{InteractionsServer, Pending};
use regis_http::{health_router, HttpServer};
use regis_irc::Irc;
use regis_nats::{ConnectorRelay, JetStreamQueue, RemoteConnector};

/// Discord's IDENTIFY window: `max_concurrency` sessions may start per this period.
const IDENTIFY_PERIOD: std::time::Duration = std::time::Duration::from_secs(5);

/// How much longer than the handler timeout a worker's claim on an envelope holds.
const CLAIM_MARGIN: std::time::Duration = std::time::Duration::from_secs(5);

/// Discord's global rate limit: requests per second with the bot token, for all processes.
const DISCORD_GLOBAL_LIMIT: u32 = 50;
use std::sync::Arc;

/// Which parts this process runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Roles {
    /// The HTTP interactions endpoint.
    pub receiver: bool,
    /// The Discord Gateway shards.
    pub gateway: bool,
    /// The IRC connection (`[irc]`), relaying the workers' replies and lookups.
    pub irc: bool,
    /// The plugins.
    pub worker: bool,
}

impl std::str::FromStr for Roles {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let mut roles = Roles::default();
        for role in text.split(',').map(str::trim) {
            match role {
                "receiver" => roles.receiver = true,
                "gateway" => roles.gateway = true,
                "worker" => roles.worker = true,
                "irc" => roles.irc = true,
                other => {
                    return Err(format!(
                        "`{other}` is not a role: write receiver, gateway, irc or worker (or several, comma-separated)"
                    ))
                }
            }
        }
        Ok(roles)
    }
}

/// Runs the roles until Ctrl-C or SIGTERM (or a fatal Gateway close).
pub(crate) async fn serve(settings: Settings, plugins: &crate::app::Plugins, roles: Roles) -> Result<()> {
    let secrets = DiscordSecrets::from_env()?;
    if roles.receiver && secrets.public_key.is_none() {
        bail!("the receiver role needs DISCORD_PUBLIC_KEY (the application's public key) in the environment");
    }
    if roles.gateway && secrets.token.is_none() {
        bail!("the gateway role needs DISCORD_TOKEN (the bot token) in the environment");
    }
    let irc = match (roles.irc, settings.irc()?) {
        (false, _) => None,
        (true, Some(config)) => Some(Irc::new(config).context("configuration key `irc.tls_roots`")?),
        (true, None) => {
            bail!("the irc role needs an IRC server: set configuration key `irc.server` (REGIS_IRC_SERVER), host:port")
        }
    };
    let handler_timeout = settings.duration("handler_timeout", &settings.handler_timeout)?;
    let needs = Needs { consumes: roles.worker, gateway: roles.gateway, irc: roles.irc };
    let backbone = Backbone::connect(&settings, needs).await?;
    let (queue, rendezvous) = (backbone.queue.clone(), backbone.rendezvous.clone());
    let budget = settings.duration("interaction_budget", &settings.interaction_budget)?;
    // One REST egress for the process: the worker's replies, the Gateway's callbacks.
    let rest = if roles.worker || roles.gateway {
        let rest = discord_rest(&settings, &secrets)?.with_rendezvous(rendezvous.clone());
        // Discord's 50 requests per second are the bot's, not each process's.
        rest.share_global_limit(backbone.global_limit(&settings, DISCORD_GLOBAL_LIMIT).await?);
        Some(Arc::new(rest))
    } else {
        None
    };
    let gateway = match (&secrets.token, &rest) {
        (Some(token), Some(rest)) if roles.gateway => {
            // Gateway processes that split the shards space their IDENTIFYs together.
            let slots = backbone.identify_slots(&settings, IDENTIFY_PERIOD).await?;
            let config = gateway_config(&settings, token, budget, IdentifyQueue::Shared(slots))?;
            Some(Gateway::new(config, Arc::clone(rest))?)
        }
        _ => None,
    };
    let bot = match &rest {
        Some(rest) if roles.worker => {
            let connector: Arc<dyn regis::Connector> = match &gateway {
                Some(gateway) => gateway.connector(),
                None => rest.clone(),
            };
            // IRC replies leave through the process holding the connection: this one's, or
            // another's through its relay (envelopes from IRC only exist when one runs).
            let irc_connector: Option<Arc<dyn regis::Connector>> = match (&irc, backbone.jetstream()) {
                (Some(irc), _) => Some(irc.connector()),
                (None, Some(jetstream)) => Some(Arc::new(RemoteConnector::new(
                    jetstream.client(),
                    &settings.bot_name,
                    regis_irc::CONNECTOR,
                    regis_irc::CAPABILITIES,
                ))),
                // No IRC role on Pub/Sub: no envelope comes from IRC.
                (None, None) => None,
            };
            // A claim outlives the longest handler: only a dead worker's claim is taken over.
            let claim_ttl = handler_timeout + CLAIM_MARGIN;
            let shared = backbone.shared_state(&settings, claim_ttl).await?;
            let mut builder = crate::cli::bot_builder(&settings, plugins)?.connector(connector);
            if let Some(irc_connector) = irc_connector {
                builder = builder.connector(irc_connector);
            }
            let bot = builder
                .queue(queue.clone())
                .shared_state(shared)
                .rendezvous(rendezvous.clone())
                .start()
                .await
                .with_context(|| match &settings.database_url {
                    Some(_) => "cannot start the worker (configuration key `database_url`)".to_string(),
                    None => format!("cannot start the worker (data dir {})", settings.data_dir.display()),
                })?;
            Some(bot)
        }
        _ => None,
    };
    let ingress = Ingress::new(queue.clone(), rendezvous.clone(), &settings.prefix);
    let shutdown = Shutdown::new(settings.duration("shutdown_grace", &settings.shutdown_grace)?);
    let signal = shutdown.on_signal("regis: stopping".to_string());
    let bot = bot.map(Arc::new);
    let _watching_scripts = bot.as_deref().and_then(|bot| crate::app::watch_scripts(&settings, bot));
    let receiving = secrets.public_key.as_ref().filter(|_| roles.receiver);
    // The listener: a receiver's always, another role's when `http_addr` is set (health,
    // readiness and metrics for its orchestrator).
    let server = if receiving.is_some() || settings.http_addr.is_some() || settings.pubsub_push_endpoint.is_some() {
        let http = HttpServer::bind(settings.http()?).await.context("configuration key `http_addr`")?;
        let metrics = regis_http::Metrics::install()?;
        let sample = {
            let (bot, queue) = (bot.clone(), queue.clone());
            move || match &bot {
                Some(bot) => bot.sample_metrics(),
                None => regis::metrics::sample_queue(queue.as_ref()),
            }
        };
        let status = gateway.as_ref().map(Gateway::status);
        let mut router = health_router(crate::readiness::readiness(
            shutdown.clone(),
            backbone.jetstream().cloned(),
            bot.clone(),
            status,
        ))
        .merge(metrics.router(sample));
        if let Some(public_key) = receiving {
            let interactions = interactions_config(&settings, public_key, budget)?;
            // With a worker here, its replies to what this receiver took are decided locally;
            // not when the receiver defers at once (Pub/Sub): the worker then routes every
            // interaction as one deferred elsewhere, and the receiver forgets them at once.
            let pending = match &rest {
                Some(rest) if !rendezvous.answers_at_once() => rest.pending(),
                _ => Arc::new(Pending::default()),
            };
            let endpoint = InteractionsServer::new(&interactions, ingress.clone(), pending, http.bodies())?;
            router = router.merge(endpoint.router());
            // Webhooks come in through receivers too; the workers' plugins handle them.
            let hooks = crate::hooks::configured(&settings, None, |v| std::env::var(v).ok())?;
            if !hooks.is_empty() {
                let limit = settings.webhook_body_limit;
                router =
                    router.merge(regis_webhooks::Webhooks::new(hooks, ingress.clone(), http.bodies(), limit).router());
            }
            eprintln!("regis: receiver on http://{}/interactions", http.local_addr()?);
        }
        if let Some(push) = backbone.push_router(http.bodies()).filter(|_| bot.is_some()) {
            router = router.merge(push);
            eprintln!("regis: taking Pub/Sub's pushes on http://{}/pubsub/push", http.local_addr()?);
        } else if receiving.is_none() {
            eprintln!("regis: health and metrics on http://{}/readyz and /metrics", http.local_addr()?);
        }
        Some(shutdown.serve(http, router))
    } else {
        None
    };
    if bot.is_some() {
        eprintln!("regis: worker consuming bot `{}` on {}", settings.bot_name, backbone.describe(&settings));
    }
    let irc_task = match (irc, backbone.jetstream()) {
        (Some(irc), Some(jetstream)) => Some(run_irc(irc, &settings, jetstream, ingress.clone(), &shutdown).await?),
        _ => None,
    };
    let gateway_result = match gateway {
        Some(gateway) => shutdown.run_gateway(gateway, ingress.clone()).await,
        None => {
            shutdown.deadline().await;
            Ok(())
        }
    };
    let report = match server {
        Some(server) => Some(server.await.context("the interactions endpoint stopped abnormally")?),
        None => None,
    };
    signal.abort();
    let deadline = shutdown.deadline().await;
    if let Some(task) = irc_task {
        // It says QUIT at the deadline.
        let _ = tokio::time::timeout_at((deadline + std::time::Duration::from_secs(2)).into(), task).await;
    }
    let cancelled = match &bot {
        Some(bot) => bot.shutdown_by(deadline).await,
        None => 0,
    };
    if let Some(cut) = report.map(|r| r.cut).filter(|cut| *cut > 0) {
        eprintln!("regis: cut {cut} HTTP request(s) still running at the end of the grace period");
    }
    if cancelled > 0 {
        eprintln!("regis: {cancelled} envelope(s) were still being handled; the queue delivers them again");
    }
    gateway_result.context("the Discord Gateway connector stopped")
}

/// Runs the IRC connection onto `ingress` and serves its connector to the workers; both stay
/// up until the shutdown's deadline, so that replies workers are still sending go out.
async fn run_irc(
    irc: Irc,
    settings: &Settings,
    queue: &JetStreamQueue,
    ingress: Ingress,
    shutdown: &Shutdown,
) -> Result<tokio::task::JoinHandle<()>> {
    let relay = ConnectorRelay::serve(queue.client(), &settings.bot_name, irc.connector())
        .await
        .context("configuration key `queue_url`")?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let deadline = shutdown.deadline();
    tokio::spawn(async move {
        tokio::time::sleep_until(deadline.await.into()).await;
        let _ = stop.send(true);
    });
    eprintln!(
        "regis: IRC connection to {}, relaying replies from workers",
        settings.irc.server.as_deref().unwrap_or_default()
    );
    Ok(tokio::spawn(async move {
        irc.run(ingress, stopped).await;
        drop(relay);
    }))
}
