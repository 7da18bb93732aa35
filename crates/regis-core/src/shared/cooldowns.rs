//! Cooldown counters: how many times a command was used per scope key in its window. Shared by
//! every worker, so that a user does not get N times the limit by landing on N workers.

use super::StateError;
use crate::cooldown::{CooldownSpec, Cooldowns};
use async_trait::async_trait;
use std::time::{Duration, Instant};

/// The counters of a bot's cooldowns.
#[async_trait]
pub trait CooldownCounters: Send + Sync + 'static {
    /// Records a use of `command` by `key` if `spec` allows one now (`Ok(Ok(()))`); otherwise
    /// how long to wait (`Ok(Err(wait))`).
    async fn try_use(&self, command: &str, key: &str, spec: &CooldownSpec) -> Result<Result<(), Duration>, StateError>;
}

/// The counters in this process's memory (a sliding window per command and key).
#[derive(Default)]
pub struct InProcessCooldowns {
    uses: Cooldowns,
}

#[async_trait]
impl CooldownCounters for InProcessCooldowns {
    async fn try_use(&self, command: &str, key: &str, spec: &CooldownSpec) -> Result<Result<(), Duration>, StateError> {
        Ok(self.uses.try_use(command, key, spec, Instant::now()))
    }
}
