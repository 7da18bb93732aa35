//! The IDENTIFY queue of this process's shards: twilight's in-memory queue (Discord's
//! `max_concurrency` per 5 seconds and the daily session limit, for this process), and, when
//! gateway processes split the shards, a shared slot per rate-limit bucket taken before each
//! IDENTIFY, so that all processes together keep Discord's spacing.

use regis_core::shared::SharedSlots;
use std::sync::Arc;
use tokio::sync::oneshot;
use twilight_gateway::queue::{InMemoryQueue, Queue};

/// The queue the shards wait in before they IDENTIFY.
#[derive(Clone, Debug)]
pub(crate) struct IdentifyGate {
    local: InMemoryQueue,
    shared: Option<Shared>,
}

#[derive(Clone)]
struct Shared {
    slots: Arc<dyn SharedSlots>,
    max_concurrency: u16,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared").field("max_concurrency", &self.max_concurrency).finish()
    }
}

impl IdentifyGate {
    /// Spacing by this process's queue only.
    pub(crate) fn local(local: InMemoryQueue) -> Self {
        IdentifyGate { local, shared: None }
    }

    /// Spacing by this process's queue, then by `slots` shared with the other processes:
    /// shard `id` takes slot `id % max_concurrency` (its rate-limit bucket).
    pub(crate) fn shared(local: InMemoryQueue, slots: Arc<dyn SharedSlots>, max_concurrency: u16) -> Self {
        IdentifyGate { local, shared: Some(Shared { slots, max_concurrency: max_concurrency.max(1) }) }
    }
}

impl Queue for IdentifyGate {
    fn enqueue(&self, id: u32) -> oneshot::Receiver<()> {
        let local = self.local.enqueue(id);
        let Some(shared) = self.shared.clone() else { return local };
        let (go, wait) = oneshot::channel();
        tokio::spawn(async move {
            // A closed channel makes the shard enqueue again.
            if local.await.is_err() {
                return;
            }
            let bucket = format!("bucket-{}", id % u32::from(shared.max_concurrency));
            if let Err(e) = shared.slots.take(&bucket).await {
                tracing::warn!(shard = id, error = %e, "cannot reach the shared IDENTIFY slots; identifying under this process's spacing only");
            }
            let _ = go.send(());
        });
        wait
    }
}
