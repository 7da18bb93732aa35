//! Slots that one process at a time may take, each held for a fixed period and never handed
//! back early: Discord lets a bot start at most `max_concurrency` Gateway sessions per 5
//! seconds, counted across all its processes, so gateway processes that split the shards take
//! a slot per rate-limit bucket before each IDENTIFY.

use crate::shared::StateError;
use async_trait::async_trait;

/// Timed slots shared by every process; see the module documentation.
#[async_trait]
pub trait SharedSlots: Send + Sync + 'static {
    /// Waits until slot `key` is free, and takes it for the implementation's period. An error
    /// means the shared state cannot be reached: the caller goes on under its own spacing.
    async fn take(&self, key: &str) -> Result<(), StateError>;
}
