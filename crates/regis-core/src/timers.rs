//! Timers: an event a plugin asks to receive later ([`Ctx::after`](crate::Ctx::after)), kept in
//! the core's storage so that it survives a restart and, with several workers sharing one
//! database, fires exactly once on whichever worker is alive.
//!
//! Every worker runs `Timers::tick`: it takes the due timers under a lease (a conditional update, so
//! two workers never take the same one), pushes each as an event envelope onto the queue and
//! then deletes it. A worker that dies after taking a timer leaves its lease to expire and
//! another worker pushes it again; the envelope keeps the id it was given when the timer was
//! set, so the dispatcher's redelivery dedupe lets it run once.

use crate::core_tables::{from_db, to_db};
use crate::envelope::{now_ms, Envelope};
use crate::queue::Queue;
use crate::storage::{Db, StorageError};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A timer's lease lasts the handler timeout and this: time to wait in the queue.
pub(crate) const TIMER_LEASE_MARGIN: Duration = Duration::from_secs(10);
/// The prefix of a timer firing's envelope id.
pub(crate) const TIMER_ID_PREFIX: &str = "timer-";
/// How many due timers one look takes.
const BATCH: i64 = 64;

/// A timer's id, as [`Ctx::after`](crate::Ctx::after) returns it; give it to
/// [`Ctx::cancel_timer`](crate::Ctx::cancel_timer) to call the timer off.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TimerId(pub String);

impl std::fmt::Display for TimerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A timer not yet fired, as [`Ctx::timers`](crate::Ctx::timers) lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTimer {
    /// Its id.
    pub id: TimerId,
    /// The plugin that set it.
    pub plugin: String,
    /// The event topic it will deliver.
    pub topic: String,
    /// When it is due, milliseconds since the Unix epoch.
    pub due_ms: u64,
    /// For a timer set with [`Ctx::every`](crate::Ctx::every): how often it fires.
    pub every: Option<Duration>,
}

/// The separator of a repeating timer's id and the firing time in a firing's envelope id
/// (`timer-<id>@<due ms>`), so that each firing is one envelope to the redelivery dedupe.
const FIRING_SEPARATOR: char = '@';

/// The timer table of one bot (its core database).
pub(crate) struct Timers {
    db: Db,
    /// How long a worker that queued a due timer has to handle it before another worker
    /// queues it again (the handler timeout and a margin).
    lease: Duration,
    /// Woken when this process sets a timer, so the loop can sleep until the earliest.
    wake: Arc<Notify>,
}

impl Timers {
    pub(crate) fn new(db: Db, lease: Duration) -> Self {
        Timers { db, lease, wake: Arc::new(Notify::new()) }
    }

    /// Stores `envelope` to be queued `delay` from now (and, with `every`, every `every` after
    /// that); its id becomes the timer's id.
    pub(crate) async fn set(
        &self,
        plugin: &str,
        topic: &str,
        delay: Duration,
        every: Option<Duration>,
        envelope: &Envelope,
    ) -> Result<TimerId, StorageError> {
        let json = serde_json::to_string(envelope)
            .map_err(|source| StorageError::Serde { key: envelope.id.clone(), source })?;
        let due = now_ms().saturating_add(delay.as_millis().min(u64::MAX as u128) as u64);
        sqlx::query(
            "INSERT INTO regis_timers (id, plugin, topic, due_ms, lease_until_ms, envelope, every_ms) VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(&envelope.id)
        .bind(plugin)
        .bind(topic)
        .bind(to_db(due))
        .bind(json)
        .bind(every.map_or(0, |every| to_db(every.as_millis().max(1) as u64)))
        .execute(self.db.pool())
        .await?;
        self.wake.notify_one();
        Ok(TimerId(envelope.id.clone()))
    }

    /// Calls off a timer of `plugin`; whether it was still pending.
    pub(crate) async fn cancel(&self, plugin: &str, id: &TimerId) -> Result<bool, StorageError> {
        let done = sqlx::query("DELETE FROM regis_timers WHERE id = $1 AND plugin = $2")
            .bind(&id.0)
            .bind(plugin)
            .execute(self.db.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// The pending timers of `plugin` (of every plugin when `None`), soonest first.
    pub(crate) async fn pending(&self, plugin: Option<&str>) -> Result<Vec<PendingTimer>, StorageError> {
        const COLUMNS: &str = "SELECT id, plugin, topic, due_ms, every_ms FROM regis_timers";
        let rows = match plugin {
            Some(plugin) => {
                sqlx::query(&format!("{COLUMNS} WHERE plugin = $1 ORDER BY due_ms, id"))
                    .bind(plugin)
                    .fetch_all(self.db.pool())
                    .await?
            }
            None => sqlx::query(&format!("{COLUMNS} ORDER BY due_ms, id")).fetch_all(self.db.pool()).await?,
        };
        rows.iter()
            .map(|row| {
                let every = from_db(row.try_get("every_ms")?);
                Ok(PendingTimer {
                    id: TimerId(row.try_get("id")?),
                    plugin: row.try_get("plugin")?,
                    topic: row.try_get("topic")?,
                    due_ms: from_db(row.try_get("due_ms")?),
                    every: (every > 0).then(|| Duration::from_millis(every)),
                })
            })
            .collect()
    }

    /// Takes the timers due at `now` that no live lease holds, queues them and deletes them;
    /// returns how many were queued.
    pub(crate) async fn fire_due(&self, queue: &dyn Queue, now: u64) -> Result<usize, StorageError> {
        let rows = sqlx::query(
            "SELECT id, envelope, due_ms, every_ms FROM regis_timers WHERE due_ms <= $1 AND lease_until_ms <= $1 ORDER BY due_ms LIMIT $2",
        )
        .bind(to_db(now))
        .bind(BATCH)
        .fetch_all(self.db.pool())
        .await?;
        let mut fired = 0;
        for row in rows {
            let id: String = row.try_get("id")?;
            let due: i64 = row.try_get("due_ms")?;
            // Of the time read: a repeating timer another worker moved on meanwhile is not taken.
            let taken = sqlx::query(
                "UPDATE regis_timers SET lease_until_ms = $1 WHERE id = $2 AND lease_until_ms <= $3 AND due_ms = $4",
            )
            .bind(to_db(now.saturating_add(self.lease.as_millis() as u64)))
            .bind(&id)
            .bind(to_db(now))
            .bind(due)
            .execute(self.db.pool())
            .await?;
            if taken.rows_affected() == 0 {
                continue; // another worker took it
            }
            let text: String = row.try_get("envelope")?;
            let mut envelope: Envelope = match serde_json::from_str(&text) {
                Ok(envelope) => envelope,
                Err(e) => {
                    tracing::error!(timer = %id, error = %e, "a stored timer cannot be read; deleted it");
                    self.delete(&id).await?;
                    continue;
                }
            };
            if row.try_get::<i64, _>("every_ms")? > 0 {
                envelope.id = format!("{id}{FIRING_SEPARATOR}{due}");
            }
            // Deleted (or, repeating, moved on) once handled (see `done`): until then its lease keeps other workers off,
            // and a worker that dies holding it, or a bot stopped before handling it, leaves
            // it to be queued again.
            match queue.push(envelope).await {
                Ok(()) => fired += 1,
                Err(e) => {
                    // Tried again in a second rather than at the end of the lease.
                    tracing::warn!(timer = %id, error = %e, "could not queue a due timer; trying again soon");
                    sqlx::query("UPDATE regis_timers SET lease_until_ms = $1 WHERE id = $2")
                        .bind(to_db(now.saturating_add(1000)))
                        .bind(&id)
                        .execute(self.db.pool())
                        .await?;
                }
            }
        }
        Ok(fired)
    }

    /// When the next timer is due (or, for one under a lease, when the lease ends).
    pub(crate) async fn next_due(&self) -> Result<Option<u64>, StorageError> {
        let row = sqlx::query(
            "SELECT MIN(CASE WHEN lease_until_ms > due_ms THEN lease_until_ms ELSE due_ms END) AS next FROM regis_timers",
        )
        .fetch_one(self.db.pool())
        .await?;
        Ok(row.try_get::<Option<i64>, _>("next")?.map(from_db))
    }

    async fn delete(&self, id: &str) -> Result<(), StorageError> {
        sqlx::query("DELETE FROM regis_timers WHERE id = $1").bind(id).execute(self.db.pool()).await?;
        Ok(())
    }

    /// The firing with envelope id `firing` was handled: a timer is gone; a repeating one is
    /// due next at the first of its periods after `now` (periods missed meanwhile are skipped,
    /// not fired as a burst). A failure is logged; the timer then fires again at the end of its
    /// lease and its envelope is dropped as a redelivery.
    pub(crate) async fn done(&self, firing: &str, now: u64) {
        let outcome = match firing.rsplit_once(FIRING_SEPARATOR).and_then(|(id, due)| Some((id, due.parse().ok()?))) {
            Some((id, due)) => self.repeat(id, due, now).await,
            None => self.delete(firing).await,
        };
        if let Err(e) = outcome {
            tracing::warn!(timer = %firing, error = %e, "could not settle a fired timer");
        }
        // A repeating timer may be due again before the loop would look.
        self.wake.notify_one();
    }

    /// Moves a repeating timer whose firing at `due` was handled on to its next period.
    async fn repeat(&self, id: &str, due: i64, now: u64) -> Result<(), StorageError> {
        let row = sqlx::query("SELECT every_ms FROM regis_timers WHERE id = $1 AND due_ms = $2")
            .bind(id)
            .bind(due)
            .fetch_optional(self.db.pool())
            .await?;
        let Some(row) = row else {
            return Ok(()); // cancelled, or moved on already
        };
        let every = from_db(row.try_get("every_ms")?).max(1);
        let due = from_db(due);
        let periods = now.saturating_sub(due) / every + 1;
        let next = due.saturating_add(periods.saturating_mul(every));
        sqlx::query("UPDATE regis_timers SET due_ms = $1, lease_until_ms = 0 WHERE id = $2 AND due_ms = $3")
            .bind(to_db(next))
            .bind(id)
            .bind(to_db(due))
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    /// One look: queues what is due, and says how long to sleep before the next look (until
    /// the earliest due timer, at most a second).
    pub(crate) async fn tick(&self, queue: &dyn Queue) -> Duration {
        if let Err(e) = self.fire_due(queue, now_ms()).await {
            tracing::warn!(error = %e, "could not look at the timers; trying again");
        }
        crate::core_tables::sleep_until(self.next_due().await)
    }

    /// Whether the core database answers (a readiness check).
    pub(crate) async fn reachable(&self) -> Result<(), StorageError> {
        sqlx::query("SELECT COUNT(*) AS n FROM (SELECT 1 AS one FROM regis_timers LIMIT 1) AS probe")
            .fetch_one(self.db.pool())
            .await?;
        Ok(())
    }

    /// Notified when this process sets a timer (the loop then looks again at once).
    pub(crate) fn wake(&self) -> Arc<Notify> {
        Arc::clone(&self.wake)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{EnvelopeKind, UserRef};
    use crate::queue::InProcessQueue;

    async fn timers(lease: Duration) -> Timers {
        Timers::new(crate::core_tables::test_db().await, lease)
    }

    fn firing(id: &str) -> Envelope {
        let kind = EnvelopeKind::Event {
            topic: "t".into(),
            data: serde_json::Value::Null,
            from_plugin: Some("p".into()),
            to_plugin: Some("p".into()),
        };
        let mut envelope = Envelope::new("test", UserRef::new("test", "u"), kind);
        envelope.id = format!("{TIMER_ID_PREFIX}{id}");
        envelope
    }

    #[tokio::test]
    async fn a_due_timer_is_taken_once_until_its_lease_ends_and_gone_once_handled() {
        let timers = timers(Duration::from_millis(100)).await;
        let (a, b) = (InProcessQueue::new(10), InProcessQueue::new(10));
        let id = timers.set("p", "t", Duration::ZERO, None, &firing("1")).await.unwrap();
        let now = now_ms();
        assert_eq!(timers.fire_due(&a, now).await.unwrap(), 1, "worker a takes it");
        assert_eq!(timers.fire_due(&b, now).await.unwrap(), 0, "leased to a");
        assert_eq!(timers.next_due().await.unwrap(), Some(now + 100), "looked at again when the lease ends");
        // Worker a died with it unhandled: past the lease, b takes it, under the same id.
        assert_eq!(timers.fire_due(&b, now + 101).await.unwrap(), 1);
        let delivered = b.pop().await.unwrap().split().0;
        assert_eq!(TimerId(delivered.id.clone()), id);
        timers.done(&delivered.id, now + 101).await;
        assert_eq!(timers.fire_due(&b, now + 1_000).await.unwrap(), 0, "handled: gone");
        assert_eq!(timers.next_due().await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_repeating_timer_fires_each_period_once_under_its_own_id_and_skips_missed_ones() {
        let timers = timers(Duration::from_secs(10)).await;
        let queue = InProcessQueue::new(10);
        let every = Duration::from_secs(60);
        let id = timers.set("p", "t", every, Some(every), &firing("3")).await.unwrap();
        let first = timers.pending(Some("p")).await.unwrap()[0].due_ms;
        assert_eq!(timers.fire_due(&queue, first).await.unwrap(), 1);
        let delivered = queue.pop().await.unwrap().split().0;
        assert_eq!(delivered.id, format!("{id}@{first}"), "one envelope per period");
        timers.done(&delivered.id, first + 5).await;
        let pending = timers.pending(None).await.unwrap();
        assert_eq!((pending[0].due_ms, pending[0].every), (first + 60_000, Some(every)));
        // Handled again only at its next period.
        assert_eq!(timers.fire_due(&queue, first + 59_999).await.unwrap(), 0);
        // Down for three periods: the next firing is the first period after now, once.
        assert_eq!(timers.fire_due(&queue, first + 200_000).await.unwrap(), 1);
        let delivered = queue.pop().await.unwrap().split().0;
        assert_eq!(delivered.id, format!("{id}@{}", first + 60_000));
        timers.done(&delivered.id, first + 200_000).await;
        assert_eq!(timers.pending(None).await.unwrap()[0].due_ms, first + 240_000);
        // A redelivered firing of a period already moved on changes nothing.
        timers.done(&delivered.id, first + 200_001).await;
        assert_eq!(timers.pending(None).await.unwrap()[0].due_ms, first + 240_000);
        assert!(timers.cancel("p", &id).await.unwrap());
    }

    #[tokio::test]
    async fn a_timer_not_due_stays_and_another_plugins_cannot_cancel_it() {
        let timers = timers(Duration::from_secs(10)).await;
        let queue = InProcessQueue::new(10);
        let id = timers.set("p", "t", Duration::from_secs(60), None, &firing("2")).await.unwrap();
        assert_eq!(timers.fire_due(&queue, now_ms()).await.unwrap(), 0);
        assert!(!timers.cancel("other", &id).await.unwrap());
        assert_eq!(timers.pending(Some("p")).await.unwrap().len(), 1);
        assert!(timers.cancel("p", &id).await.unwrap());
        assert!(timers.pending(Some("p")).await.unwrap().is_empty());
    }
}
