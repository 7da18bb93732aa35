//! The shared state of a bot over NATS, for many workers: redelivery records and cooldown
//! counters in JetStream key-value buckets (compare-and-set on each key's revision, so two
//! workers never both win a claim or both take the last use of a cooldown), and the change feed
//! and event fan-out on NATS subjects every process subscribes to.
//!
//! | seam | where |
//! |---|---|
//! | dedupe | bucket `regis_<bot>_dedupe`: `running:<ms>` while claimed, `answered` once replied; entries expire after a day |
//! | cooldowns | bucket `regis_<bot>_cooldowns`: the uses' times (ms) per command and scope key |
//! | changes | subject `regis.<bot>.changes` (ranks, plugin switches) |
//! | events | subject `regis.<bot>.events` (for `ctx.subscribe`) |

use async_nats::jetstream::kv::{self, Operation};
use async_nats::jetstream::{self};
use async_trait::async_trait;
use futures::StreamExt;
use regis_core::cooldown::CooldownSpec;
use regis_core::events::{Published, Subscription, WireEvent};
use regis_core::shared::{Change, ChangeFeed, Claim, CooldownCounters, Dedupe, EventFanout, HeldClaims};
use regis_core::{Event, SharedState, StateError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How long answered records are kept (redeliveries come within minutes).
const DEDUPE_AGE: Duration = Duration::from_secs(24 * 3600);

/// Where the redelivery records and cooldown counters are kept.
const RECORDS_STORAGE: jetstream::stream::StorageType = jetstream::stream::StorageType::File;

/// A claim older than this is taken to belong to a worker that died: another may take it.
pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(120);

pub(crate) fn state_error(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError(format!("{what}: {e}"))
}

fn now_ms() -> u64 {
    regis_core::envelope::now_ms()
}

/// A key-value key for any text (NATS keys allow only `[-/_=.a-zA-Z0-9]`).
fn key_of(text: &str) -> String {
    let mut key = String::with_capacity(text.len() * 2);
    for byte in text.bytes() {
        key.push_str(&format!("{byte:02x}"));
    }
    key
}

/// Connects to `url` and builds the shared state of bot `bot_name` (its buckets are created
/// when missing). `claim_ttl`: how long a claim holds before another worker may take it over.
pub async fn connect_state(url: &str, bot_name: &str, claim_ttl: Duration) -> Result<SharedState, StateError> {
    let client =
        async_nats::connect(url).await.map_err(|e| state_error(&format!("cannot connect to NATS at {url}"), e))?;
    shared_state(client, bot_name, claim_ttl).await
}

/// [`connect_state`] on a connection the process has already (its queue's).
pub async fn shared_state(
    client: async_nats::Client,
    bot_name: &str,
    claim_ttl: Duration,
) -> Result<SharedState, StateError> {
    let js = jetstream::new(client.clone());
    let bucket = |suffix: &str| format!("regis_{}_{suffix}", bot_name.replace('-', "_"));
    let dedupe = bucket_store(&js, &bucket("dedupe"), DEDUPE_AGE, RECORDS_STORAGE).await?;
    let cooldowns = bucket_store(&js, &bucket("cooldowns"), DEDUPE_AGE, RECORDS_STORAGE).await?;
    let changes = NatsChanges::start(client.clone(), format!("regis.{bot_name}.changes")).await?;
    let events = NatsEvents::start(client, format!("regis.{bot_name}.events")).await?;
    Ok(SharedState {
        dedupe: Arc::new(KvDedupe { store: dedupe, claim_ttl, held: Default::default() }),
        cooldowns: Arc::new(KvCooldowns { store: cooldowns }),
        changes: Arc::new(changes),
        events: Arc::new(events),
    })
}

/// A key-value bucket, created when missing. Its stream is made here with the key-value
/// conventions (what `create_key_value` would make) because async-nats 0.42's
/// `create_key_value` first asks for the account's info in a form nats-server 2.9 does not
/// send; reading and writing the bucket works on 2.9.
/// Opens key-value bucket `bucket`, creating it (entries kept `max_age`, on `storage`) when
/// missing. Made as the stream a bucket is, since `create_key_value` asks for account details
/// nats-server 2.9 does not give.
pub(crate) async fn bucket_store(
    js: &jetstream::Context,
    bucket: &str,
    max_age: Duration,
    storage: jetstream::stream::StorageType,
) -> Result<kv::Store, StateError> {
    let config = jetstream::stream::Config {
        name: format!("KV_{bucket}"),
        storage,
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: jetstream::stream::DiscardPolicy::New,
        // JetStream refuses a duplicate window longer than the entries live.
        duplicate_window: Duration::from_secs(120).min(max_age),
        ..Default::default()
    };
    js.get_or_create_stream(config).await.map_err(|e| state_error(&format!("cannot create bucket {bucket}"), e))?;
    js.get_key_value(bucket).await.map_err(|e| state_error(&format!("cannot open bucket {bucket}"), e))
}

/// Redelivery records in a key-value bucket.
struct KvDedupe {
    store: kv::Store,
    claim_ttl: Duration,
    /// The claims this process holds, with their revisions.
    held: HeldClaims<u64>,
}

#[async_trait]
impl Dedupe for KvDedupe {
    async fn claim(&self, id: &str) -> Result<Claim, StateError> {
        let key = key_of(id);
        let running = format!("running:{}", now_ms());
        match self.store.create(&key, running.clone().into()).await {
            Ok(revision) => {
                self.held.hold(id, revision);
                return Ok(Claim::Fresh);
            }
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(e) => return Err(state_error("dedupe claim", e)),
        }
        let Some(entry) = self.store.entry(&key).await.map_err(|e| state_error("dedupe read", e))? else {
            // Deleted in between: claim again.
            return Box::pin(self.claim(id)).await;
        };
        let value = String::from_utf8_lossy(&entry.value);
        if value == "answered" {
            return Ok(Claim::Answered);
        }
        let since: u64 = value.strip_prefix("running:").and_then(|t| t.parse().ok()).unwrap_or(0);
        if now_ms().saturating_sub(since) < self.claim_ttl.as_millis() as u64 {
            return Ok(Claim::Running);
        }
        // The worker that claimed it is gone: take the claim over, unless another worker
        // takes it first (the revision changed).
        match self.store.update(&key, running.into(), entry.revision).await {
            Ok(revision) => {
                self.held.hold(id, revision);
                Ok(Claim::Fresh)
            }
            Err(_) => Ok(Claim::Running),
        }
    }

    async fn answered(&self, id: &str) -> Result<(), StateError> {
        self.held.end(id);
        self.store.put(key_of(id), "answered".into()).await.map(|_| ()).map_err(|e| state_error("dedupe answer", e))
    }

    async fn release(&self, id: &str) -> Result<(), StateError> {
        let Some(revision) = self.held.end(id) else {
            return Ok(());
        };
        let key = key_of(id);
        match self.store.delete_expect_revision(&key, Some(revision)).await {
            Ok(()) => Ok(()),
            // Refused when the key moved on: another worker took the claim over, or answered.
            Err(e) => match self.store.entry(&key).await {
                Ok(Some(entry)) if entry.revision != revision => Ok(()),
                _ => Err(state_error("dedupe release", e)),
            },
        }
    }
}

/// Cooldown uses in a key-value bucket, one key per command and scope key.
struct KvCooldowns {
    store: kv::Store,
}

#[async_trait]
impl CooldownCounters for KvCooldowns {
    async fn try_use(&self, command: &str, key: &str, spec: &CooldownSpec) -> Result<Result<(), Duration>, StateError> {
        let key = key_of(&format!("{command}\u{0}{key}"));
        let window = spec.per.as_millis() as u64;
        // Compare and set: a use another worker recorded in between makes this one look again.
        for _ in 0..16 {
            let entry = self.store.entry(&key).await.map_err(|e| state_error("cooldown read", e))?;
            let now = now_ms();
            let (mut uses, revision): (Vec<u64>, Option<u64>) = match &entry {
                Some(entry) if entry.operation == Operation::Put => {
                    (serde_json::from_slice(&entry.value).unwrap_or_default(), Some(entry.revision))
                }
                _ => (Vec::new(), None),
            };
            uses.retain(|at| now.saturating_sub(*at) < window);
            if uses.len() >= spec.uses as usize {
                let oldest = uses.iter().min().copied().unwrap_or(now);
                return Ok(Err(Duration::from_millis(window.saturating_sub(now.saturating_sub(oldest)))));
            }
            uses.push(now);
            let value = serde_json::to_vec(&uses).map_err(|e| state_error("cooldown encode", e))?;
            let written = match revision {
                Some(revision) => self.store.update(&key, value.into(), revision).await.is_ok(),
                None => self.store.create(&key, value.into()).await.is_ok(),
            };
            if written {
                return Ok(Ok(()));
            }
        }
        Err(StateError("cooldown: too much contention on one key".into()))
    }
}

/// The change feed on a NATS subject; every process (this one included) hears every change.
struct NatsChanges {
    client: async_nats::Client,
    subject: String,
    local: broadcast::Sender<Change>,
}

impl NatsChanges {
    async fn start(client: async_nats::Client, subject: String) -> Result<Self, StateError> {
        let local = forward(&client, &subject, 256, |change: Change| change).await?;
        Ok(NatsChanges { client, subject, local })
    }
}

/// Subscribes to `subject` and sends each message, decoded as `T` and mapped, to a local
/// broadcast channel of `capacity` (what every process's subscribers read); messages that do
/// not decode are logged and skipped.
async fn forward<T, U>(
    client: &async_nats::Client,
    subject: &str,
    capacity: usize,
    map: impl Fn(T) -> U + Send + 'static,
) -> Result<broadcast::Sender<U>, StateError>
where
    T: serde::de::DeserializeOwned,
    U: Clone + Send + 'static,
{
    let mut subscriber = client
        .subscribe(subject.to_string())
        .await
        .map_err(|e| state_error(&format!("cannot subscribe to {subject}"), e))?;
    let local = broadcast::channel(capacity).0;
    let sender = local.clone();
    let subject = subject.to_string();
    tokio::spawn(async move {
        while let Some(message) = subscriber.next().await {
            match serde_json::from_slice::<T>(&message.payload) {
                Ok(value) => {
                    let _ = sender.send(map(value));
                }
                Err(e) => tracing::warn!(subject = %subject, error = %e, "ignored a message that does not decode"),
            }
        }
    });
    Ok(local)
}

#[async_trait]
impl ChangeFeed for NatsChanges {
    async fn announce(&self, change: Change) -> Result<(), StateError> {
        let payload = serde_json::to_vec(&change).map_err(|e| state_error("change encode", e))?;
        self.client
            .publish(self.subject.clone(), payload.into())
            .await
            .map_err(|e| state_error("change publish", e))?;
        self.client.flush().await.map_err(|e| state_error("change publish", e))
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.local.subscribe()
    }
}

/// Event fan-out on a NATS subject.
struct NatsEvents {
    client: async_nats::Client,
    subject: String,
    local: broadcast::Sender<Published>,
}

impl NatsEvents {
    async fn start(client: async_nats::Client, subject: String) -> Result<Self, StateError> {
        let local = forward(&client, &subject, 1024, WireEvent::into_published).await?;
        Ok(NatsEvents { client, subject, local })
    }
}

#[async_trait]
impl EventFanout for NatsEvents {
    async fn publish(&self, event: &Event) -> Result<(), StateError> {
        let payload = serde_json::to_vec(&WireEvent::now(event)).map_err(|e| state_error("event encode", e))?;
        self.client.publish(self.subject.clone(), payload.into()).await.map_err(|e| state_error("event publish", e))
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        Subscription::new(topic, self.local.subscribe())
    }
}
