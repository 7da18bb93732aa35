//! What the roles of `regis serve` meet on, chosen by `queue_url`'s scheme:
//!
//! - `nats://`: NATS JetStream for the queue, request-reply for inline answers, and JetStream
//!   key-value buckets and subjects for the shared state (PostgreSQL, `database_url`, holds
//!   ranks and plugins' data when workers are on several machines);
//! - `pubsub://PROJECT/TOPIC`: Google Cloud Pub/Sub for the queue, pulled or pushed
//!   (`pubsub_push_endpoint`), and PostgreSQL (`database_url`, required by workers) for all the
//!   shared state. Pub/Sub has no request-reply: receivers answer "deferred" at once and the
//!   worker edits the original response.

use crate::config::Settings;
use anyhow::{bail, Context, Result};
use axum::Router;
use regis::shared::{NoReplyRendezvous, Rendezvous, SharedRateLimit, SharedSlots};
use regis::{Queue, SharedState};
use regis_http::BodyReader;
use regis_nats::{JetStreamConfig, JetStreamQueue, NatsRateLimit, NatsRendezvous, NatsSlots};
use regis_pubsub::{Endpoint, OidcConfig, PubSubConfig, PubSubQueue, PushConfig, PushQueue, GOOGLE_CERTS_URL};
use regis_store::PostgresShared;
use std::sync::Arc;
use std::time::Duration;

/// The queue, the rendezvous and the shared state of one process's roles.
pub(crate) struct Backbone {
    /// Where envelopes are queued and consumed.
    pub(crate) queue: Arc<dyn Queue>,
    /// Where ingress and workers meet.
    pub(crate) rendezvous: Arc<dyn Rendezvous>,
    engine: Engine,
}

enum Engine {
    Nats(Arc<JetStreamQueue>),
    PubSub {
        /// The push endpoint's queue, when Pub/Sub pushes to this worker.
        push: Option<Arc<PushQueue>>,
        /// The workers' shared state (none in a receiver).
        database: Option<PostgresShared>,
    },
}

/// Which parts of the backbone a process needs.
#[derive(Clone, Copy)]
pub(crate) struct Needs {
    /// Consumes envelopes (a worker).
    pub(crate) consumes: bool,
    /// Holds the Discord Gateway.
    pub(crate) gateway: bool,
    /// Holds the IRC connection.
    pub(crate) irc: bool,
}

impl Backbone {
    /// Connects to what `settings.queue_url` names, for a process that `needs` these parts; a
    /// part the backbone cannot serve stops the start with a message naming the key.
    pub(crate) async fn connect(settings: &Settings, needs: Needs) -> Result<Backbone> {
        let Some(url) = settings.queue_url.as_deref() else {
            bail!(
                "`regis serve` needs a queue: set configuration key `queue_url` (REGIS_QUEUE_URL), e.g. \
                 nats://127.0.0.1:4222 or pubsub://my-project/regis (or use `regis run`, which needs none)"
            );
        };
        if settings.queue_on_pubsub() {
            return Self::pubsub(settings, url, needs).await;
        }
        let jetstream = JetStreamConfig {
            ack_wait: settings.duration("queue_ack_wait", &settings.queue_ack_wait)?,
            max_deliver: settings.queue_max_deliver,
            ..JetStreamConfig::new(url, &settings.bot_name)
        };
        let queue =
            JetStreamQueue::connect(jetstream).await.context("configuration keys `queue_url` and `bot_name`")?;
        let queue = Arc::new(queue);
        let rendezvous =
            NatsRendezvous::start(queue.client(), &settings.bot_name).await.context("configuration key `queue_url`")?;
        Ok(Backbone { queue: queue.clone(), rendezvous: Arc::new(rendezvous), engine: Engine::Nats(queue) })
    }

    async fn pubsub(settings: &Settings, url: &str, needs: Needs) -> Result<Backbone> {
        if needs.gateway || needs.irc {
            bail!(
                "the gateway and irc roles need NATS (configuration key `queue_url` = nats://…): on Pub/Sub \
                 run receivers and workers, or keep the Gateway on `regis run`"
            );
        }
        let config = PubSubConfig {
            ack_deadline: settings.duration("queue_ack_wait", &settings.queue_ack_wait)?,
            max_deliver: settings.queue_max_deliver,
            ..PubSubConfig::from_url(url).context("configuration key `queue_url`")?
        };
        let rendezvous: Arc<dyn Rendezvous> = Arc::new(NoReplyRendezvous);
        if !needs.consumes {
            // A receiver publishes, and may do no more (its account may publish only).
            let queue = Arc::new(PubSubQueue::publisher(config));
            return Ok(Backbone { queue, rendezvous, engine: Engine::PubSub { push: None, database: None } });
        }
        let Some(database_url) = settings.database_url.as_deref() else {
            bail!(
                "a worker on Pub/Sub keeps its shared state (redelivery records, cooldowns, changes) in \
                 PostgreSQL: set configuration key `database_url` (REGIS_DATABASE_URL), postgres://…"
            );
        };
        let push = match &settings.pubsub_push_endpoint {
            Some(endpoint) => Some(PushConfig { endpoint: endpoint.clone(), oidc: oidc(settings, endpoint, &config)? }),
            None => None,
        };
        let database = PostgresShared::connect(database_url, &settings.bot_name)
            .await
            .context("configuration key `database_url`")?;
        let (queue, push): (Arc<dyn Queue>, _) = match push {
            None => (Arc::new(PubSubQueue::connect(config).await.context("configuration key `queue_url`")?), None),
            Some(push) => {
                let queue = Arc::new(PushQueue::connect(config, push).await.context("configuration key `queue_url`")?);
                (queue.clone(), Some(queue))
            }
        };
        Ok(Backbone { queue, rendezvous, engine: Engine::PubSub { push, database: Some(database) } })
    }

    /// The JetStream queue, on NATS.
    pub(crate) fn jetstream(&self) -> Option<&Arc<JetStreamQueue>> {
        match &self.engine {
            Engine::Nats(queue) => Some(queue),
            Engine::PubSub { .. } => None,
        }
    }

    /// Discord's global request rate, shared by every process of the bot.
    pub(crate) async fn global_limit(&self, settings: &Settings, per_second: u32) -> Result<Arc<dyn SharedRateLimit>> {
        Ok(match &self.engine {
            Engine::Nats(queue) => Arc::new(
                NatsRateLimit::connect(queue.client(), &settings.bot_name, per_second)
                    .await
                    .context("configuration key `queue_url`")?,
            ),
            Engine::PubSub { database: Some(database), .. } => Arc::new(database.rate_limit(per_second)),
            Engine::PubSub { database: None, .. } => {
                bail!("the shared rate limit needs configuration key `database_url`")
            }
        })
    }

    /// The IDENTIFY slots gateway processes share (NATS only: a Pub/Sub backbone refuses the
    /// gateway role at connect).
    pub(crate) async fn identify_slots(&self, settings: &Settings, period: Duration) -> Result<Arc<dyn SharedSlots>> {
        match &self.engine {
            Engine::Nats(queue) => Ok(Arc::new(
                NatsSlots::identify(queue.client(), &settings.bot_name, period)
                    .await
                    .context("configuration key `queue_url`")?,
            )),
            Engine::PubSub { .. } => bail!("the gateway role needs NATS (configuration key `queue_url`)"),
        }
    }

    /// The workers' shared state; a claim holds `claim_ttl` before another worker takes it.
    pub(crate) async fn shared_state(&self, settings: &Settings, claim_ttl: Duration) -> Result<SharedState> {
        Ok(match &self.engine {
            Engine::Nats(queue) => regis_nats::shared_state(queue.client(), &settings.bot_name, claim_ttl)
                .await
                .context("configuration key `queue_url`")?,
            Engine::PubSub { database: Some(database), .. } => {
                database.state(claim_ttl).await.context("configuration key `database_url`")?
            }
            Engine::PubSub { database: None, .. } => bail!("a worker needs configuration key `database_url`"),
        })
    }

    /// `POST /pubsub/push`, when Pub/Sub pushes to this worker.
    pub(crate) fn push_router(&self, bodies: BodyReader) -> Option<Router> {
        match &self.engine {
            Engine::PubSub { push: Some(push), .. } => Some(push.router(bodies)),
            _ => None,
        }
    }

    /// Where a worker consumes from, for its start line.
    pub(crate) fn describe(&self, settings: &Settings) -> String {
        let url = settings.queue_url.as_deref().unwrap_or_default();
        match (&self.engine, &settings.pubsub_push_endpoint) {
            (Engine::PubSub { push: Some(_), .. }, Some(endpoint)) => format!("{url}, pushed to {endpoint}"),
            (Engine::PubSub { .. }, _) => format!("{url}, pulling"),
            (Engine::Nats(_), _) => url.to_string(),
        }
    }
}

/// The OIDC check of pushes: required off the emulator (anyone could push otherwise).
fn oidc(settings: &Settings, endpoint: &str, config: &PubSubConfig) -> Result<Option<OidcConfig>> {
    match &settings.pubsub_push_service_account {
        Some(service_account) => Ok(Some(OidcConfig {
            audience: settings.pubsub_push_audience.clone().unwrap_or_else(|| endpoint.to_string()),
            service_account: service_account.clone(),
            certs_url: GOOGLE_CERTS_URL.to_string(),
        })),
        None if matches!(config.endpoint, Endpoint::Emulator(_)) => Ok(None),
        None => bail!(
            "a worker pushed to by Google checks each push's OIDC token: set configuration key \
             `pubsub_push_service_account` (REGIS_PUBSUB_PUSH_SERVICE_ACCOUNT), the push subscription's service account"
        ),
    }
}
