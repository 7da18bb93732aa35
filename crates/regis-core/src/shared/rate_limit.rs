//! A request rate every process of a bot shares: Discord allows a bot 50 requests per second
//! in all (its global rate limit), however many workers send them, so each worker's own
//! limiter is not enough once there are several.

use crate::shared::StateError;
use async_trait::async_trait;

/// A rate shared by every process; see the module documentation.
#[async_trait]
pub trait SharedRateLimit: Send + Sync + 'static {
    /// Waits until one more request may go out within the shared rate. An error means the
    /// shared state cannot be reached: the caller goes on under its own limiter.
    async fn acquire(&self) -> Result<(), StateError>;
}
