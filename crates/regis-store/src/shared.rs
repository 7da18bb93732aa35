//! The shared state of a bot in PostgreSQL, for workers that meet on a queue without a store of
//! its own (Google Cloud Pub/Sub): every decision is a row, taken in one statement or under an
//! advisory lock, and what every process must hear goes through `LISTEN`/`NOTIFY`.
//!
//! | seam | where (schema `"<bot>:_shared"`) |
//! |---|---|
//! | dedupe | table `dedupe`: a row per envelope id, claimed (`answered = false`, since when) or answered; kept a day |
//! | cooldowns | table `cooldown_uses`: a row per use, per command and scope key, pruned to the window under an advisory lock |
//! | changes | channel `regis_<bot>_changes` (ranks, plugin switches) |
//! | events | channel `regis_<bot>_events` (for `ctx.subscribe`); an event too large for a notification (8000 bytes) waits in table `event_bodies` and the notification names its row |
//! | rate limit | table `rate_windows`: requests let out per 100 ms window, counted by an upsert |
//!
//! A notification sent while a process's listening connection is down is lost to that process
//! (PostgreSQL keeps none); the connection is made again at once. A change missed that way
//! leaves that one process on its old view (a cached rank, a plugin's switch, a script plugin
//! not reloaded) until the next change of the same thing or the process's restart, and a missed
//! event does not reach its subscribers there. NATS's change feed has the same window.

use crate::postgres::lock_key;
use async_trait::async_trait;
use regis_core::cooldown::CooldownSpec;
use regis_core::events::{Published, Subscription, WireEvent};
use regis_core::shared::{
    Change, ChangeFeed, Claim, CooldownCounters, Dedupe, EventFanout, HeldClaims, SharedRateLimit,
};
use regis_core::{Event, SharedState, StateError};
use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;

/// How long answered records are kept (redeliveries come within minutes).
const DEDUPE_AGE: Duration = Duration::from_secs(24 * 3600);
/// How long a large event's body waits for its listeners.
const BODY_AGE: Duration = Duration::from_secs(60);
/// PostgreSQL refuses notification payloads of 8000 bytes or more.
const NOTIFY_LIMIT: usize = 7900;
/// The length of one rate window.
const WINDOW_MS: i64 = 100;
/// Connections of the shared state's pool (the listener has its own).
const POOL_SIZE: u32 = 4;

fn failed(what: &str, e: impl std::fmt::Display) -> StateError {
    StateError(format!("{what}: {e}"))
}

fn now_ms() -> i64 {
    crate::now_ms()
}

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS dedupe (id TEXT PRIMARY KEY, answered BOOLEAN NOT NULL, since_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS dedupe_since ON dedupe (since_ms);
CREATE TABLE IF NOT EXISTS cooldown_uses (command TEXT NOT NULL, scope TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE INDEX IF NOT EXISTS cooldown_uses_key ON cooldown_uses (command, scope, at_ms);
CREATE TABLE IF NOT EXISTS event_bodies (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, at_ms BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS rate_windows (window_id BIGINT PRIMARY KEY, used INTEGER NOT NULL);
";

/// A connection to a bot's shared tables; [`PostgresShared::state`] builds the seams, and
/// [`PostgresShared::rate_limit`] the shared request rate.
#[derive(Clone)]
pub struct PostgresShared {
    pool: PgPool,
    url: String,
    bot_name: String,
}

impl std::fmt::Debug for PostgresShared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresShared").field("bot_name", &self.bot_name).finish()
    }
}

impl PostgresShared {
    /// Connects to bot `bot_name`'s shared tables in the PostgreSQL database at `url`, makes
    /// them when missing (once, under an advisory lock, when workers start together), and
    /// starts pruning their old rows for as long as the runtime runs.
    pub async fn connect(url: &str, bot_name: &str) -> Result<Self, StateError> {
        let schema = format!("\"{}:_shared\"", bot_name.replace('"', "\"\""));
        let search_path = format!("SET search_path TO {schema}");
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .min_connections(0)
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _meta| {
                let search_path = search_path.clone();
                Box::pin(async move {
                    sqlx::Executor::execute(&mut *conn, search_path.as_str()).await?;
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| failed("cannot connect to PostgreSQL for the shared state", e))?;
        let mut tx = pool.begin().await.map_err(|e| failed("shared state set-up", e))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(&["regis-shared", bot_name]))
            .execute(&mut *tx)
            .await
            .map_err(|e| failed("shared state set-up", e))?;
        sqlx::raw_sql(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}; SET LOCAL search_path TO {schema}; {SCHEMA_SQL}"
        ))
        .execute(&mut *tx)
        .await
        .map_err(|e| failed("shared state set-up", e))?;
        tx.commit().await.map_err(|e| failed("shared state set-up", e))?;
        let shared = PostgresShared { pool, url: url.to_string(), bot_name: bot_name.to_string() };
        tokio::spawn(prune(shared.pool.clone()));
        Ok(shared)
    }

    /// The notification channel of `what` (`changes`, `events`).
    fn channel(&self, what: &str) -> String {
        format!("regis_{}_{what}", self.bot_name)
    }

    /// The seams over these tables and channels.
    pub async fn state(&self, claim_ttl: Duration) -> Result<SharedState, StateError> {
        let changes = PgChanges::start(self.clone()).await?;
        let events = PgEvents::start(self.clone()).await?;
        Ok(SharedState {
            dedupe: Arc::new(PgDedupe { pool: self.pool.clone(), claim_ttl, held: Default::default() }),
            cooldowns: Arc::new(PgCooldowns { pool: self.pool.clone(), bot_name: self.bot_name.clone() }),
            changes: Arc::new(changes),
            events: Arc::new(events),
        })
    }

    /// `per_second` requests per second for every process of the bot (Discord's global limit
    /// is 50).
    pub fn rate_limit(&self, per_second: u32) -> PgRateLimit {
        PgRateLimit { pool: self.pool.clone(), per_window: (i64::from(per_second) / 11).max(1) }
    }
}

/// Deletes what is no longer read, every minute.
async fn prune(pool: PgPool) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        let now = now_ms();
        let statements = [
            ("DELETE FROM dedupe WHERE since_ms < $1", now - DEDUPE_AGE.as_millis() as i64),
            ("DELETE FROM cooldown_uses WHERE at_ms < $1", now - DEDUPE_AGE.as_millis() as i64),
            ("DELETE FROM event_bodies WHERE at_ms < $1", now - BODY_AGE.as_millis() as i64),
            ("DELETE FROM rate_windows WHERE window_id < $1", now / WINDOW_MS - 600),
        ];
        for (sql, before) in statements {
            if let Err(e) = sqlx::query(sql).bind(before).execute(&pool).await {
                tracing::warn!(error = %e, "cannot prune the shared state's old rows");
            }
        }
    }
}

/// Redelivery records, a row per envelope.
struct PgDedupe {
    pool: PgPool,
    claim_ttl: Duration,
    /// The claims this process holds, with the times they were stamped with.
    held: HeldClaims<i64>,
}

#[async_trait]
impl Dedupe for PgDedupe {
    async fn claim(&self, id: &str) -> Result<Claim, StateError> {
        let now = now_ms();
        // Inserted, or taken over from a claim older than its lifetime (its worker died): in
        // one statement, so that two workers never both take it.
        let taken = sqlx::query(
            "INSERT INTO dedupe (id, answered, since_ms) VALUES ($1, false, $2)
             ON CONFLICT (id) DO UPDATE SET since_ms = EXCLUDED.since_ms
             WHERE dedupe.answered = false AND dedupe.since_ms < $3
             RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(now - self.claim_ttl.as_millis() as i64)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| failed("dedupe claim", e))?;
        if taken.is_some() {
            self.held.hold(id, now);
            return Ok(Claim::Fresh);
        }
        let row = sqlx::query("SELECT answered FROM dedupe WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| failed("dedupe read", e))?;
        match row {
            Some(row) if row.get::<bool, _>("answered") => Ok(Claim::Answered),
            Some(_) => Ok(Claim::Running),
            // Released in between: claim again.
            None => Box::pin(self.claim(id)).await,
        }
    }

    async fn answered(&self, id: &str) -> Result<(), StateError> {
        self.held.end(id);
        sqlx::query(
            "INSERT INTO dedupe (id, answered, since_ms) VALUES ($1, true, $2)
             ON CONFLICT (id) DO UPDATE SET answered = true, since_ms = EXCLUDED.since_ms",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map(|_| ())
        .map_err(|e| failed("dedupe answer", e))
    }

    async fn release(&self, id: &str) -> Result<(), StateError> {
        let Some(stamp) = self.held.end(id) else {
            return Ok(());
        };
        sqlx::query("DELETE FROM dedupe WHERE id = $1 AND answered = false AND since_ms = $2")
            .bind(id)
            .bind(stamp)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| failed("dedupe release", e))
    }
}

/// Cooldown uses, a row each.
struct PgCooldowns {
    pool: PgPool,
    bot_name: String,
}

#[async_trait]
impl CooldownCounters for PgCooldowns {
    async fn try_use(&self, command: &str, key: &str, spec: &CooldownSpec) -> Result<Result<(), Duration>, StateError> {
        let err = |e: sqlx::Error| failed("cooldown", e);
        let mut tx = self.pool.begin().await.map_err(err)?;
        // One worker at a time per command and key: the count and the use are one decision.
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(lock_key(&["regis-cooldown", &self.bot_name, command, key]))
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let now = now_ms();
        let window = spec.per.as_millis() as i64;
        sqlx::query("DELETE FROM cooldown_uses WHERE command = $1 AND scope = $2 AND at_ms <= $3")
            .bind(command)
            .bind(key)
            .bind(now - window)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let row = sqlx::query(
            "SELECT COUNT(*)::BIGINT AS uses, MIN(at_ms) AS oldest FROM cooldown_uses WHERE command = $1 AND scope = $2",
        )
        .bind(command)
        .bind(key)
        .fetch_one(&mut *tx)
        .await
        .map_err(err)?;
        let uses: i64 = row.get("uses");
        if uses >= i64::from(spec.uses) {
            let oldest: Option<i64> = row.get("oldest");
            let age = now - oldest.unwrap_or(now);
            return Ok(Err(Duration::from_millis((window - age).max(0) as u64)));
        }
        sqlx::query("INSERT INTO cooldown_uses (command, scope, at_ms) VALUES ($1, $2, $3)")
            .bind(command)
            .bind(key)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)?;
        Ok(Ok(()))
    }
}

/// Listens on `channel` for as long as the runtime runs (connecting again after a loss) and
/// hands each payload to `deliver`.
async fn listen(url: String, channel: String, deliver: impl Fn(String) + Send + 'static) -> Result<(), StateError> {
    let connect = {
        let (url, channel) = (url.clone(), channel.clone());
        move || {
            let (url, channel) = (url.clone(), channel.clone());
            async move {
                let mut listener = PgListener::connect(&url).await?;
                listener.listen(&channel).await?;
                Ok::<_, sqlx::Error>(listener)
            }
        }
    };
    // The first connection is made before this returns: what is announced after start is heard.
    let mut listener = connect().await.map_err(|e| failed(&format!("cannot listen on {channel}"), e))?;
    tokio::spawn(async move {
        loop {
            match listener.try_recv().await {
                Ok(Some(notification)) => deliver(notification.payload().to_string()),
                Ok(None) => tracing::warn!(channel = %channel, "the listening connection was lost; listening again"),
                Err(e) => {
                    tracing::warn!(channel = %channel, error = %e, "cannot listen; trying again in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    match connect().await {
                        Ok(again) => listener = again,
                        Err(e) => tracing::warn!(channel = %channel, error = %e, "cannot listen yet"),
                    }
                }
            }
        }
    });
    Ok(())
}

async fn notify(pool: &PgPool, channel: &str, payload: &str) -> Result<(), StateError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(pool)
        .await
        .map(|_| ())
        .map_err(|e| failed(&format!("notify {channel}"), e))
}

/// The change feed on a notification channel; every process (this one included) hears every
/// change.
struct PgChanges {
    pool: PgPool,
    channel: String,
    local: broadcast::Sender<Change>,
}

impl PgChanges {
    async fn start(shared: PostgresShared) -> Result<Self, StateError> {
        let channel = shared.channel("changes");
        let local = broadcast::channel(256).0;
        let sender = local.clone();
        listen(shared.url.clone(), channel.clone(), move |payload| match serde_json::from_str::<Change>(&payload) {
            Ok(change) => {
                let _ = sender.send(change);
            }
            Err(e) => tracing::warn!(error = %e, "ignored a change that does not decode"),
        })
        .await?;
        Ok(PgChanges { pool: shared.pool, channel, local })
    }
}

#[async_trait]
impl ChangeFeed for PgChanges {
    async fn announce(&self, change: Change) -> Result<(), StateError> {
        let payload = serde_json::to_string(&change).map_err(|e| failed("change encode", e))?;
        notify(&self.pool, &self.channel, &payload).await
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.local.subscribe()
    }
}

/// Prefix of a notification that names a row of `event_bodies` instead of carrying the event.
const BODY_ROW: &str = "row:";

/// Event fan-out on a notification channel.
struct PgEvents {
    pool: PgPool,
    channel: String,
    local: broadcast::Sender<Published>,
}

impl PgEvents {
    async fn start(shared: PostgresShared) -> Result<Self, StateError> {
        let channel = shared.channel("events");
        let local = broadcast::channel(1024).0;
        // One task decodes the notices in the order they came, reading a large event's body
        // from its row before the next notice: subscribers see events in publishing order.
        let (notices, mut ordered) = tokio::sync::mpsc::unbounded_channel::<String>();
        let (sender, pool) = (local.clone(), shared.pool.clone());
        tokio::spawn(async move {
            while let Some(payload) = ordered.recv().await {
                if let Some(published) = decode_event(&pool, payload).await {
                    let _ = sender.send(published);
                }
            }
        });
        listen(shared.url.clone(), channel.clone(), move |payload| {
            let _ = notices.send(payload);
        })
        .await?;
        Ok(PgEvents { pool: shared.pool, channel, local })
    }
}

/// The event a notice carries, or names the row of.
async fn decode_event(pool: &PgPool, payload: String) -> Option<Published> {
    let body = match payload.strip_prefix(BODY_ROW).map(str::parse::<i64>) {
        None => payload,
        Some(Ok(row)) => {
            match sqlx::query("SELECT body FROM event_bodies WHERE id = $1").bind(row).fetch_optional(pool).await {
                Ok(Some(found)) => found.get("body"),
                Ok(None) => {
                    tracing::warn!(row, "an event's body was pruned before it was read");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(row, error = %e, "cannot read an event's body");
                    return None;
                }
            }
        }
        Some(Err(e)) => {
            tracing::warn!(error = %e, "ignored an event notice that names no row");
            return None;
        }
    };
    match serde_json::from_str::<WireEvent>(&body) {
        Ok(wire) => Some(wire.into_published()),
        Err(e) => {
            tracing::warn!(error = %e, "ignored an event that does not decode");
            None
        }
    }
}

#[async_trait]
impl EventFanout for PgEvents {
    async fn publish(&self, event: &Event) -> Result<(), StateError> {
        let body = serde_json::to_string(&WireEvent::now(event)).map_err(|e| failed("event encode", e))?;
        if body.len() < NOTIFY_LIMIT {
            return notify(&self.pool, &self.channel, &body).await;
        }
        let row: i64 = sqlx::query("INSERT INTO event_bodies (body, at_ms) VALUES ($1, $2) RETURNING id")
            .bind(&body)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await
            .map_err(|e| failed("event store", e))?
            .get("id");
        notify(&self.pool, &self.channel, &format!("{BODY_ROW}{row}")).await
    }

    fn subscribe(&self, topic: &str) -> Subscription {
        Subscription::new(topic, self.local.subscribe())
    }
}

/// A request rate every process of a bot shares, counted per 100 ms window in a row raised by
/// an upsert; a window lets out a 1/11 share of the per-second rate, so that any one-second
/// span, which overlaps at most 11 windows, stays within it (40 per second sustained for
/// Discord's 50). The window is the database's, read as the row is raised: a request counts in
/// the window it goes out in, and workers' clocks need not agree.
pub struct PgRateLimit {
    pool: PgPool,
    per_window: i64,
}

impl PgRateLimit {
    /// How many requests one window lets out.
    pub fn per_window(&self) -> i64 {
        self.per_window
    }

    /// Takes one request in the current window, by the database's clock (every worker's
    /// window is the same one, whatever its own clock says), waiting for a window with room;
    /// the window's number (100 ms since the Unix epoch).
    pub async fn acquire_window(&self) -> Result<i64, StateError> {
        loop {
            let row = sqlx::query(
                "INSERT INTO rate_windows (window_id, used)
                 VALUES ((extract(epoch FROM clock_timestamp()) * 1000)::BIGINT / $1, 1)
                 ON CONFLICT (window_id) DO UPDATE SET used = rate_windows.used + 1
                 RETURNING window_id, used, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT AS now_ms",
            )
            .bind(WINDOW_MS)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| failed("rate limit", e))?;
            let (window, used, now): (i64, i32, i64) = (row.get("window_id"), row.get("used"), row.get("now_ms"));
            if i64::from(used) <= self.per_window {
                return Ok(window);
            }
            // Full: wait for the next window.
            let wait = ((window + 1) * WINDOW_MS - now).clamp(1, WINDOW_MS);
            tokio::time::sleep(Duration::from_millis(wait as u64)).await;
        }
    }
}

#[async_trait]
impl SharedRateLimit for PgRateLimit {
    async fn acquire(&self) -> Result<(), StateError> {
        self.acquire_window().await.map(|_| ())
    }
}
