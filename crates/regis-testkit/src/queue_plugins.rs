//! Plugins for the tests of a queue backend (JetStream, Pub/Sub): a handler that fails while
//! the service it needs is down, and one that takes a while.

use regis_core::{ConnectorError, Ctx, Result};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// `!flaky` fails with an unavailable service (as when Discord answers 503) while `failures`
/// lasts, one failure a call, then answers "flaky done".
pub struct Flaky {
    failures: Arc<AtomicU32>,
}

impl Flaky {
    /// Fails the next `failures` calls (counted down in the shared counter).
    pub fn new(failures: Arc<AtomicU32>) -> Self {
        Flaky { failures }
    }
}

#[regis_macros::plugin]
impl Flaky {
    /// Answer once the service it needs is back.
    #[command]
    async fn flaky(&self, _ctx: &Ctx) -> Result<&'static str> {
        if self.failures.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok() {
            return Err(ConnectorError::Unavailable("Discord answered 503".into()).into());
        }
        Ok("flaky done")
    }
}

/// `!slow` answers "slow done" after its delay (longer than a queue's ack wait, in the tests
/// of in-progress pings).
pub struct Slow {
    delay: Duration,
}

impl Slow {
    /// Answers after `delay`.
    pub fn new(delay: Duration) -> Self {
        Slow { delay }
    }
}

#[regis_macros::plugin]
impl Slow {
    /// Answer after a while.
    #[command]
    async fn slow(&self, _ctx: &Ctx) -> Result<&'static str> {
        tokio::time::sleep(self.delay).await;
        Ok("slow done")
    }
}
