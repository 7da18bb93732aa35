//! The schedule table with a clock the tests set: three workers sharing one database, leases,
//! the grace period.

use super::*;
use crate::queue::InProcessQueue;

const MINUTE: u64 = 60_000;
/// 2026-01-01T00:00:00Z, a Thursday.
const T0: u64 = 1_767_225_600_000;

async fn workers(n: usize, spec: &str, lease: Duration, grace: Duration) -> Vec<Schedules> {
    let db = crate::core_tables::test_db().await;
    (0..n)
        .map(|_| {
            let mut schedules = Schedules::new(db.clone(), lease, grace, "test".into(), Default::default());
            schedules
                .declare("p", ScheduleSpec { name: "tick".into(), cron: spec.into(), tz: None })
                .expect("a valid pattern");
            schedules
        })
        .collect()
}

/// The firing times in the envelopes a queue holds.
async fn firings(queue: &InProcessQueue) -> Vec<u64> {
    let mut out = Vec::new();
    while queue.depth().unwrap_or(0) > 0 {
        let (envelope, _) = queue.pop().await.expect("an envelope").split();
        match envelope.kind {
            EnvelopeKind::Schedule { firing_ms, .. } => {
                assert_eq!(envelope.id, format!("schedule/p/tick/{firing_ms}"));
                out.push(firing_ms)
            }
            other => panic!("not a firing: {other:?}"),
        }
    }
    out
}

#[tokio::test]
async fn of_three_workers_looking_at_once_one_queues_each_firing() {
    let workers = workers(3, "* * * * *", Duration::from_secs(40), Duration::from_secs(600)).await;
    for worker in &workers {
        worker.register(T0).await.unwrap(); // every worker registers at its start; one row
    }
    let queues: Vec<InProcessQueue> = (0..3).map(|_| InProcessQueue::new(10)).collect();
    for minute in 1..=5 {
        let now = T0 + minute * MINUTE;
        for (worker, queue) in workers.iter().zip(&queues) {
            worker.fire_due(queue, now).await.unwrap();
        }
        // Whoever took it handles it: the schedule moves on.
        workers[0].done("p", "tick", now, now + 1).await;
    }
    let mut all = Vec::new();
    for queue in &queues {
        all.extend(firings(queue).await);
    }
    all.sort();
    assert_eq!(all, (1..=5).map(|m| T0 + m * MINUTE).collect::<Vec<_>>(), "each minute once, none twice");
}

#[tokio::test]
async fn of_workers_that_all_saw_a_firing_due_one_takes_it() {
    let workers = workers(3, "* * * * *", Duration::from_secs(40), Duration::from_secs(600)).await;
    workers[0].register(T0).await.unwrap();
    let due = T0 + MINUTE;
    let mut taken = Vec::new();
    for worker in &workers {
        taken.push(worker.take("p", "tick", due, due).await.unwrap());
    }
    assert_eq!(taken, [true, false, false]);
    // An old firing (moved on by then) is taken by nobody.
    workers[0].done("p", "tick", due, due + 1).await;
    assert!(!workers[1].take("p", "tick", due, due + 60 * MINUTE).await.unwrap());
}

#[tokio::test]
async fn a_firing_whose_worker_died_is_queued_again_after_the_lease_however_late() {
    let workers = workers(2, "0 * * * *", Duration::from_secs(40), Duration::from_secs(10)).await;
    workers[0].register(T0).await.unwrap();
    let (a, b) = (InProcessQueue::new(10), InProcessQueue::new(10));
    let due = T0 + 60 * MINUTE;
    assert_eq!(workers[0].fire_due(&a, due).await.unwrap(), 1, "worker a takes it");
    assert_eq!(workers[1].fire_due(&b, due + 39_000).await.unwrap(), 0, "under a's lease");
    assert_eq!(workers[0].next_due().await.unwrap(), Some(due + 40_000), "looked at when the lease ends");
    // a died before handling it; past the lease (and past the grace period) b queues it again.
    assert_eq!(workers[1].fire_due(&b, due + 41_000).await.unwrap(), 1);
    assert_eq!(firings(&a).await, [due]);
    assert_eq!(firings(&b).await, [due], "the same firing, so the dedupe runs it once");
    workers[1].done("p", "tick", due, due + 42_000).await;
    assert_eq!(workers[1].next_due().await.unwrap(), Some(due + 60 * MINUTE));
}

#[tokio::test]
async fn a_firing_missed_while_down_runs_once_within_the_grace_period() {
    let workers = workers(1, "*/10 * * * *", Duration::from_secs(40), Duration::from_secs(25 * 60)).await;
    let worker = &workers[0];
    worker.register(T0).await.unwrap();
    let queue = InProcessQueue::new(10);
    // Down from T0 until T0 + 2 h: twelve firings missed, two of them within the last 25 min.
    let back = T0 + 120 * MINUTE;
    assert_eq!(worker.fire_due(&queue, back).await.unwrap(), 1, "one firing, not a burst");
    assert_eq!(firings(&queue).await, [T0 + 100 * MINUTE], "the first within the grace period");
    worker.done("p", "tick", T0 + 100 * MINUTE, back + 1).await;
    assert_eq!(worker.fire_due(&queue, back + 2).await.unwrap(), 0, "the other missed ones are skipped");
    assert_eq!(worker.next_due().await.unwrap(), Some(T0 + 130 * MINUTE));
}

#[tokio::test]
async fn a_firing_missed_by_more_than_the_grace_period_is_skipped() {
    let workers = workers(1, "0 9 * * *", Duration::from_secs(40), Duration::from_secs(15 * 60)).await;
    let worker = &workers[0];
    worker.register(T0).await.unwrap();
    let queue = InProcessQueue::new(10);
    // Due at 09:00; back at 09:20, past the 15 minutes.
    let back = T0 + (9 * 60 + 20) * MINUTE;
    assert_eq!(worker.fire_due(&queue, back).await.unwrap(), 0);
    assert_eq!(worker.next_due().await.unwrap(), Some(T0 + (24 + 9) * 60 * MINUTE), "tomorrow at nine");
}

#[tokio::test]
async fn a_restart_keeps_the_next_firing_and_a_changed_pattern_replaces_it() {
    let workers = workers(1, "0 9 * * *", Duration::from_secs(40), Duration::from_secs(60)).await;
    workers[0].register(T0).await.unwrap();
    // Started again a day later (the 09:00 firing was missed): the row still says 09:00 of day 1.
    workers[0].register(T0 + 24 * 60 * MINUTE).await.unwrap();
    assert_eq!(workers[0].next_due().await.unwrap(), Some(T0 + 9 * 60 * MINUTE));
    // A new build declares it at ten: its next firing is computed again.
    let db = workers[0].db.clone();
    let mut changed =
        Schedules::new(db, Duration::from_secs(40), Duration::from_secs(60), "test".into(), Default::default());
    changed.declare("p", ScheduleSpec { name: "tick".into(), cron: "0 10 * * *".into(), tz: None }).unwrap();
    changed.register(T0).await.unwrap();
    assert_eq!(changed.next_due().await.unwrap(), Some(T0 + 10 * 60 * MINUTE));
    let listed = changed.list().await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].next_ms, Some(T0 + 10 * 60 * MINUTE));
    assert_eq!(listed[0].spec.describe(), "0 10 * * * UTC");
}

#[tokio::test]
async fn a_schedule_this_build_does_not_declare_is_neither_fired_nor_waited_for() {
    let workers = workers(1, "0 9 * * *", Duration::from_secs(40), Duration::from_secs(60)).await;
    workers[0].register(T0).await.unwrap();
    // A row left by an older build (a schedule since removed), long past due.
    let old = Schedules::new(
        workers[0].db.clone(),
        Duration::from_secs(40),
        Duration::ZERO,
        "test".into(),
        Default::default(),
    );
    let mut old = old;
    old.declare("p", ScheduleSpec { name: "gone".into(), cron: "* * * * *".into(), tz: None }).unwrap();
    old.register(T0 - 60 * MINUTE).await.unwrap();
    let queue = InProcessQueue::new(10);
    assert_eq!(workers[0].fire_due(&queue, T0 + MINUTE).await.unwrap(), 0);
    assert_eq!(workers[0].next_due().await.unwrap(), Some(T0 + 9 * 60 * MINUTE), "not the stale row's past time");
    // The same name with another pattern (a newer build's) is not this build's to move either.
    let mut newer = Schedules::new(
        workers[0].db.clone(),
        Duration::from_secs(40),
        Duration::ZERO,
        "test".into(),
        Default::default(),
    );
    newer.declare("p", ScheduleSpec { name: "tick".into(), cron: "0 10 * * *".into(), tz: None }).unwrap();
    newer.register(T0).await.unwrap();
    workers[0].done("p", "tick", T0 + 10 * 60 * MINUTE, T0 + 10 * 60 * MINUTE).await;
    assert_eq!(newer.next_due().await.unwrap(), Some(T0 + 10 * 60 * MINUTE), "left as the newer build set it");
    assert_eq!(workers[0].next_due().await.unwrap(), None, "the older build waits for nothing it declares");
}
