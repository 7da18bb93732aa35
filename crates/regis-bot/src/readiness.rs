//! `/readyz` of a `regis` process: the checks of what it runs, in one order (shutdown, queue,
//! storage, Discord); each absent part is not checked.

use crate::run::Shutdown;
use regis_http::{Check, ReadinessFuture};
use regis_nats::JetStreamQueue;
use std::sync::Arc;
use std::time::Duration;

/// How long a readiness check waits for the storage.
const STORAGE_WAIT: Duration = Duration::from_secs(2);

/// The checks: not shutting down; connected to NATS (with a `queue`); the storage answering
/// (with a `bot`, i.e. workers here); every shard connected (with a `gateway`).
pub(crate) fn readiness(
    shutdown: Shutdown,
    queue: Option<Arc<JetStreamQueue>>,
    bot: Option<Arc<regis::Bot>>,
    gateway: Option<regis_discord::gateway::GatewayStatus>,
) -> impl Fn() -> ReadinessFuture + Send + Sync + 'static {
    move || {
        let (shutdown, queue, bot, gateway) = (shutdown.clone(), queue.clone(), bot.clone(), gateway.clone());
        Box::pin(async move {
            let mut checks =
                vec![Check::new("shutdown", if shutdown.begun() { Err("shutting down".into()) } else { Ok(()) })];
            if let Some(queue) = queue {
                checks.push(Check::new(
                    "queue",
                    if queue.connected() { Ok(()) } else { Err("not connected to NATS".into()) },
                ));
            }
            if let Some(bot) = bot {
                checks.push(Check::new("storage", bot.check_storage(STORAGE_WAIT).await));
            }
            if let Some(gateway) = gateway {
                checks.push(Check::new("discord", gateway.ready()));
            }
            checks
        })
    }
}
