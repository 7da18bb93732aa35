//! Schedules: a plugin's `#[schedule("0 9 * * 1-5", tz = "Europe/London")]` handlers, fired
//! exactly once per firing time by whichever worker sees it due first.
//!
//! Each schedule is a row of the core's table `regis_schedules` holding its next firing and a
//! lease. A worker takes a due firing with a conditional update (the firing time and an expired
//! lease in the `WHERE`, so of several workers one wins), queues it as an envelope whose id
//! names the schedule and the firing time, and, once the dispatcher has handled it, moves the
//! row on to the next firing after now. A worker that dies holding a firing leaves its lease to
//! expire; another queues the same envelope again, which the redelivery dedupe runs at most
//! once. A firing missed while no worker ran is run once on return if it is less than the
//! grace period late; further back, it is skipped with a log line, never run as a burst.

mod calendar;

pub use calendar::{Calendar, ScheduleError};

use crate::core_tables::{from_db, to_db};
use crate::envelope::{now_ms, Envelope, EnvelopeKind, UserRef};
use crate::queue::Queue;
use crate::storage::{Db, StorageError};
use sqlx::Row;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

/// A schedule as a plugin declares it (`#[schedule(...)]` writes these).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// Its name within the plugin (the handler method's name).
    pub name: String,
    /// The cron pattern.
    pub cron: String,
    /// The IANA time zone its pattern is read in; UTC when `None`.
    pub tz: Option<String>,
}

impl ScheduleSpec {
    /// The pattern and zone as one line (`0 9 * * 1-5 Europe/London`), as listings show it and
    /// as it is stored to see when a declaration changed.
    pub fn describe(&self) -> String {
        format!("{} {}", self.cron, self.tz.as_deref().unwrap_or("UTC"))
    }
}

/// A schedule and its next firing, as [`Admin::schedules`](crate::Admin::schedules) lists them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleStatus {
    /// The plugin declaring it.
    pub plugin: String,
    /// Its declaration.
    pub spec: ScheduleSpec,
    /// When it fires next, milliseconds since the Unix epoch (`None`: never again).
    pub next_ms: Option<u64>,
}

/// The prefix of a schedule firing's envelope id (`schedule/<plugin>/<name>/<firing ms>`).
pub(crate) const SCHEDULE_ID_PREFIX: &str = "schedule/";
/// The stored next firing of a pattern that never matches again.
const NEVER: i64 = i64::MAX;

/// One declared schedule of a plugin, read.
struct Declared {
    spec: ScheduleSpec,
    calendar: Calendar,
}

/// The schedules of one bot: what its plugins declare, and their rows in the core database.
pub(crate) struct Schedules {
    db: Db,
    /// How long a worker that queued a firing has to handle it before another queues it again.
    lease: Duration,
    /// How late a firing may still run after no worker was running at its time.
    grace: Duration,
    /// What the plugins declare, by plugin and name: the same on every worker of one build.
    declared: BTreeMap<(String, String), Declared>,
    /// The connector a firing's handler speaks through.
    connector: String,
    /// Woken when a firing was handled here, so the loop looks at the next one in time.
    wake: Arc<Notify>,
}

impl Schedules {
    pub(crate) fn new(db: Db, lease: Duration, grace: Duration, connector: String, wake: Arc<Notify>) -> Self {
        Schedules { db, lease, grace, declared: BTreeMap::new(), connector, wake }
    }

    /// Reads a plugin's declaration; a bad pattern or zone is refused.
    pub(crate) fn declare(&mut self, plugin: &str, spec: ScheduleSpec) -> Result<(), ScheduleError> {
        let calendar = Calendar::new(&spec.cron, spec.tz.as_deref())?;
        self.declared.insert((plugin.to_string(), spec.name.clone()), Declared { spec, calendar });
        Ok(())
    }

    /// Stores every declared schedule that has no row yet, or whose pattern changed, with its
    /// next firing after `now`; rows left as they are keep their next firing (so a firing
    /// missed while the bot was down is still seen).
    pub(crate) async fn register(&self, now: u64) -> Result<(), StorageError> {
        for ((plugin, name), declared) in &self.declared {
            let next = declared.calendar.next_after(now).map_or(NEVER, to_db);
            sqlx::query(
                "INSERT INTO regis_schedules (plugin, name, spec, next_ms, lease_until_ms) VALUES ($1, $2, $3, $4, 0)
                 ON CONFLICT (plugin, name) DO UPDATE SET spec = excluded.spec, next_ms = excluded.next_ms, lease_until_ms = 0
                 WHERE regis_schedules.spec <> excluded.spec",
            )
            .bind(plugin)
            .bind(name)
            .bind(declared.spec.describe())
            .bind(next)
            .execute(self.db.pool())
            .await?;
        }
        Ok(())
    }

    /// Takes the firings due at `now` that no live lease holds and queues them; returns how
    /// many were queued.
    pub(crate) async fn fire_due(&self, queue: &dyn Queue, now: u64) -> Result<usize, StorageError> {
        let rows = sqlx::query(
            "SELECT plugin, name, spec, next_ms, lease_until_ms FROM regis_schedules WHERE next_ms <= $1 AND lease_until_ms <= $1",
        )
        .bind(to_db(now))
        .fetch_all(self.db.pool())
        .await?;
        let mut fired = 0;
        for row in rows {
            let (plugin, name): (String, String) = (row.try_get("plugin")?, row.try_get("name")?);
            let spec: String = row.try_get("spec")?;
            let Some(declared) = self.declared(&plugin, &name, &spec) else {
                continue; // declared otherwise (or not at all) by this build: another build's
            };
            let mut firing = from_db(row.try_get("next_ms")?);
            let never_taken = row.try_get::<i64, _>("lease_until_ms")? == 0;
            // A firing taken before (its worker died) runs however late; one no worker was
            // running for runs only within the grace period.
            if never_taken && firing.saturating_add(self.grace.as_millis() as u64) < now {
                let since = now.saturating_sub(self.grace.as_millis() as u64);
                let late = declared.calendar.next_after(since.saturating_sub(1)).filter(|&at| at <= now);
                let moved_to = late.or_else(|| declared.calendar.next_after(now));
                if !self.move_next(&plugin, &name, &spec, firing, moved_to).await? {
                    continue; // another worker moved it
                }
                match late {
                    Some(at) => {
                        tracing::info!(plugin, schedule = %name, missed_ms = firing, firing_ms = at, "schedule firings were missed while no worker ran; running the first within the grace period, once");
                        firing = at;
                    }
                    None => {
                        tracing::warn!(plugin, schedule = %name, missed_ms = firing, next_ms = ?moved_to, "schedule firings were missed while no worker ran, longer ago than the grace period; skipped");
                        continue;
                    }
                }
            }
            if !self.take(&plugin, &name, firing, now).await? {
                continue; // another worker took it
            }
            match queue.push(self.envelope(&plugin, &name, firing)).await {
                Ok(()) => fired += 1,
                Err(e) => {
                    tracing::warn!(plugin, schedule = %name, error = %e, "could not queue a schedule's firing; trying again soon");
                    sqlx::query("UPDATE regis_schedules SET lease_until_ms = $1 WHERE plugin = $2 AND name = $3")
                        .bind(to_db(now.saturating_add(1000)))
                        .bind(&plugin)
                        .bind(&name)
                        .execute(self.db.pool())
                        .await?;
                }
            }
        }
        Ok(fired)
    }

    /// Takes the firing at `firing` under a lease, unless another worker holds it (a
    /// conditional update: of workers that all saw it due, one wins); whether it was taken.
    async fn take(&self, plugin: &str, name: &str, firing: u64, now: u64) -> Result<bool, StorageError> {
        let taken = sqlx::query(
            "UPDATE regis_schedules SET lease_until_ms = $1
             WHERE plugin = $2 AND name = $3 AND next_ms = $4 AND lease_until_ms <= $5",
        )
        .bind(to_db(now.saturating_add(self.lease.as_millis() as u64)))
        .bind(plugin)
        .bind(name)
        .bind(to_db(firing))
        .bind(to_db(now))
        .execute(self.db.pool())
        .await?;
        Ok(taken.rows_affected() > 0)
    }

    /// Moves a schedule's next firing from `from` to `to` if no other worker did; whether it
    /// did.
    async fn move_next(
        &self,
        plugin: &str,
        name: &str,
        spec: &str,
        from: u64,
        to: Option<u64>,
    ) -> Result<bool, StorageError> {
        let moved = sqlx::query(
            "UPDATE regis_schedules SET next_ms = $1, lease_until_ms = 0
             WHERE plugin = $2 AND name = $3 AND next_ms = $4 AND spec = $5",
        )
        .bind(to.map_or(NEVER, to_db))
        .bind(plugin)
        .bind(name)
        .bind(to_db(from))
        .bind(spec)
        .execute(self.db.pool())
        .await?;
        Ok(moved.rows_affected() > 0)
    }

    /// The envelope of one firing; its id names the schedule and the firing time, the same
    /// whichever worker queues it.
    fn envelope(&self, plugin: &str, name: &str, firing: u64) -> Envelope {
        let kind = EnvelopeKind::Schedule { plugin: plugin.to_string(), schedule: name.to_string(), firing_ms: firing };
        let author = UserRef::named("schedule", format!("{plugin}/{name}"), name);
        let mut envelope = Envelope::new(self.connector.clone(), author, kind);
        envelope.id = format!("{SCHEDULE_ID_PREFIX}{plugin}/{name}/{firing}");
        envelope.time_ms = firing;
        envelope
    }

    /// The firing at `firing` of `plugin`'s `name` was handled: the schedule moves on to its
    /// next firing after `now` (later ones missed while it ran are skipped, not run as a
    /// burst). A failure is logged; the firing is then queued again at the end of its lease
    /// and dropped as a redelivery.
    pub(crate) async fn done(&self, plugin: &str, name: &str, firing: u64, now: u64) {
        let Some(declared) = self.declared.get(&(plugin.to_string(), name.to_string())) else {
            return; // declared by another build of the bot: that build moves it on
        };
        let next = declared.calendar.next_after(now.max(firing));
        let spec = declared.spec.describe();
        // Only a row of the same pattern: one a newer build changed is that build's to move.
        if let Err(e) = self.move_next(plugin, name, &spec, firing, next).await {
            tracing::warn!(plugin, schedule = %name, error = %e, "could not move a schedule to its next firing");
        }
        self.wake.notify_one();
    }

    /// When the next firing of any schedule is due (or, for one under a lease, when its lease
    /// ends), for the loop to sleep until then.
    ///
    /// Only the rows this build declares count: a schedule renamed or removed since leaves a
    /// row in the past that no worker of this build fires.
    pub(crate) async fn next_due(&self) -> Result<Option<u64>, StorageError> {
        let rows = sqlx::query("SELECT plugin, name, spec, next_ms, lease_until_ms FROM regis_schedules")
            .fetch_all(self.db.pool())
            .await?;
        let mut next: Option<u64> = None;
        for row in rows {
            let (plugin, name, spec): (String, String, String) =
                (row.try_get("plugin")?, row.try_get("name")?, row.try_get("spec")?);
            if self.declared(&plugin, &name, &spec).is_none() {
                continue;
            }
            let at = from_db(row.try_get("next_ms")?).max(from_db(row.try_get("lease_until_ms")?));
            next = Some(next.map_or(at, |n| n.min(at)));
        }
        Ok(next)
    }

    /// This build's declaration of a stored schedule, if it declares it with `spec`.
    fn declared(&self, plugin: &str, name: &str, spec: &str) -> Option<&Declared> {
        self.declared.get(&(plugin.to_string(), name.to_string())).filter(|d| d.spec.describe() == spec)
    }

    /// One look: queues what is due, and says how long to sleep before the next look (until
    /// the earliest firing, at most a second).
    pub(crate) async fn tick(&self, queue: &dyn Queue) -> Duration {
        if self.declared.is_empty() {
            return crate::core_tables::sleep_until(Ok(None));
        }
        if let Err(e) = self.fire_due(queue, now_ms()).await {
            tracing::warn!(error = %e, "could not look at the schedules; trying again");
        }
        crate::core_tables::sleep_until(self.next_due().await)
    }

    /// The declared schedules with their next firing, by plugin and name.
    pub(crate) async fn list(&self) -> Result<Vec<ScheduleStatus>, StorageError> {
        let rows = sqlx::query("SELECT plugin, name, next_ms FROM regis_schedules").fetch_all(self.db.pool()).await?;
        let mut next = BTreeMap::new();
        for row in rows {
            let key: (String, String) = (row.try_get("plugin")?, row.try_get("name")?);
            next.insert(key, row.try_get::<i64, _>("next_ms")?);
        }
        Ok(self
            .declared
            .iter()
            .map(|(key, declared)| ScheduleStatus {
                plugin: key.0.clone(),
                spec: declared.spec.clone(),
                next_ms: next.get(key).filter(|&&at| at != NEVER).map(|&at| from_db(at)),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests;
