//! Timed slots shared by every process of a bot, in a JetStream key-value bucket whose entries
//! live exactly the slot's period (`regis_<bot>_identify`, 5 s: Discord's IDENTIFY window): a
//! process takes a slot by creating its key, which succeeds for one process only, and the key
//! disappears when the period is over.

use crate::state::{bucket_store, state_error};
use async_nats::jetstream::{self, kv};
use async_trait::async_trait;
use regis_core::shared::SharedSlots;
use regis_core::StateError;
use std::time::Duration;

/// How often a taken slot is looked at again.
const POLL: Duration = Duration::from_millis(100);

/// Slots held `period` each; see the module documentation.
pub struct NatsSlots {
    store: kv::Store,
}

impl NatsSlots {
    /// The IDENTIFY slots of bot `bot_name` on `client`'s server, held `period` each (Discord's
    /// 5 s).
    pub async fn identify(client: async_nats::Client, bot_name: &str, period: Duration) -> Result<Self, StateError> {
        let js = jetstream::new(client);
        let bucket = format!("regis_{}_identify", bot_name.replace('-', "_"));
        // Slots are worth nothing after their period: kept in memory.
        Ok(NatsSlots { store: bucket_store(&js, &bucket, period, jetstream::stream::StorageType::Memory).await? })
    }
}

#[async_trait]
impl SharedSlots for NatsSlots {
    async fn take(&self, key: &str) -> Result<(), StateError> {
        loop {
            match self.store.create(key, regis_core::envelope::now_ms().to_string().into()).await {
                Ok(_) => return Ok(()),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => tokio::time::sleep(POLL).await,
                Err(e) => return Err(state_error("identify slot", e)),
            }
        }
    }
}
