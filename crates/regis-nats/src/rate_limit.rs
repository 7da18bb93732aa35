//! A request rate shared by every process of a bot, in a JetStream key-value bucket
//! (`regis_<bot>_ratelimit`): time is cut into 100 ms windows, each a key whose value counts
//! the requests let out in it, raised by compare-and-set on the key's revision so two
//! processes never both take the last slot. A window allows a 1/11 share of the per-second
//! rate, so that any one-second span, which overlaps at most 11 windows, stays within it
//! (40 per second sustained for Discord's 50). Windows are read from each machine's clock:
//! machines running workers need synchronised clocks (NTP), as Discord's own accounting of
//! seconds does not wait for them.

use crate::state::{bucket_store, state_error};
use async_nats::jetstream::{self, kv};
use async_trait::async_trait;
use regis_core::shared::SharedRateLimit;
use regis_core::StateError;
use std::time::Duration;

/// The length of one window.
const WINDOW_MS: u64 = 100;

/// How long windows are kept (a few seconds are ever read).
const KEEP: Duration = Duration::from_secs(30);

/// The shared rate of bot `bot_name`; see the module documentation.
pub struct NatsRateLimit {
    store: kv::Store,
    per_window: u64,
}

impl NatsRateLimit {
    /// `per_second` requests per second for all of bot `bot_name`'s processes on `client`'s
    /// server (Discord's global limit is 50).
    pub async fn connect(client: async_nats::Client, bot_name: &str, per_second: u32) -> Result<Self, StateError> {
        let js = jetstream::new(client);
        let bucket = format!("regis_{}_ratelimit", bot_name.replace('-', "_"));
        // Windows are worth nothing after a second: kept in memory.
        let store = bucket_store(&js, &bucket, KEEP, jetstream::stream::StorageType::Memory).await?;
        Ok(NatsRateLimit { store, per_window: (u64::from(per_second) / 11).max(1) })
    }

    /// How many requests one window lets out.
    pub fn per_window(&self) -> u64 {
        self.per_window
    }
}

#[async_trait]
impl SharedRateLimit for NatsRateLimit {
    async fn acquire(&self) -> Result<(), StateError> {
        loop {
            let window = regis_core::envelope::now_ms() / WINDOW_MS;
            let key = format!("w{window}");
            let taken = match self.store.entry(&key).await.map_err(|e| state_error("rate limit read", e))? {
                None => match self.store.create(&key, "1".into()).await {
                    Ok(_) => true,
                    Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => false,
                    Err(e) => return Err(state_error("rate limit take", e)),
                },
                Some(entry) => {
                    let used: u64 = std::str::from_utf8(&entry.value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
                    if used >= self.per_window {
                        // Full: wait for the next window.
                        let next_ms = (window + 1) * WINDOW_MS;
                        let wait = next_ms.saturating_sub(regis_core::envelope::now_ms());
                        tokio::time::sleep(Duration::from_millis(wait.max(1))).await;
                        continue;
                    }
                    // Lost to another process's update: look again.
                    self.store.update(&key, (used + 1).to_string().into(), entry.revision).await.is_ok()
                }
            };
            if taken {
                return Ok(());
            }
        }
    }
}
