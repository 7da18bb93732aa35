//! Schedules, repeating timers and questions across workers, as worker processes of one bot run
//! them: each worker with its own JetStream connection to one stream, its own NATS shared
//! state and its own PostgreSQL connections (`TEST_DATABASE_URL`). Every firing runs once.

use regis_core::{Ctx, Result, StorageBackend};
use regis_nats::{JetStreamConfig, JetStreamQueue};
use regis_testkit::services::{database_url, nats_url};
use regis_testkit::TestBot;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Says what fired, with its firing's envelope id.
pub struct Heartbeat;

#[regis_macros::plugin]
impl Heartbeat {
    /// Every second.
    #[schedule("* * * * * *")]
    async fn beat(&self, ctx: &Ctx) -> Result<()> {
        ctx.say("ops", format!("beat {}", ctx.envelope().id)).await?;
        Ok(())
    }

    /// Pulse every 300 ms from now on.
    #[command]
    async fn pulse(&self, ctx: &Ctx) -> Result<String> {
        ctx.every(Duration::from_millis(300), "pulse", &()).await?;
        Ok("pulsing".into())
    }

    #[event("pulse")]
    async fn pulsed(&self, ctx: &Ctx, _event: &regis_core::Event) -> Result<()> {
        ctx.say("ops", format!("pulse {}", ctx.envelope().id)).await?;
        Ok(())
    }
}

fn bot_name() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("sched-{:08x}", nanos ^ std::process::id().rotate_left(16))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_run_each_schedule_firing_and_each_timer_period_once() {
    let bot = bot_name();
    let database = database_url();
    let mut workers = Vec::new();
    let mut queues = Vec::new();
    for _ in 0..3 {
        let queue = Arc::new(
            JetStreamQueue::connect(JetStreamConfig::new(nats_url(), bot.clone()))
                .await
                .expect("a nats-server with JetStream (see scripts/test)"),
        );
        let shared = regis_nats::connect_state(&nats_url(), &bot, Duration::from_secs(5)).await.unwrap();
        let storage: Arc<dyn StorageBackend> =
            Arc::new(regis_store::PostgresBackend::new(database.clone(), bot.clone()));
        queues.push(Arc::clone(&queue));
        workers.push(
            TestBot::builder().plugin(Heartbeat).queue(queue).shared_state(shared).storage(storage).start().await,
        );
    }
    // Whichever worker takes the command answers it (on its own test connector).
    let pulse = regis_core::Envelope::message("test", TestBot::user("ann"), "!pulse");
    workers[1].bot().ingress().submit(pulse).await.unwrap();
    let started = Instant::now();
    let mut said: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    while started.elapsed() < Duration::from_millis(3500) {
        for (i, worker) in workers.iter().enumerate() {
            for sent in worker.connector_sent() {
                said.entry(sent.reply.text).or_default().push(i);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for worker in &workers {
        worker.bot().shutdown().await;
    }
    for worker in &workers {
        for sent in worker.connector_sent() {
            said.entry(sent.reply.text).or_default().push(usize::MAX);
        }
    }
    assert_eq!(said.remove("pulsing").map(|by| by.len()), Some(1), "the command answered once");
    let twice: Vec<_> = said.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(twice.is_empty(), "fired more than once: {twice:?}");
    let beats: Vec<&String> = said.keys().filter(|t| t.starts_with("beat schedule/heartbeat/beat/")).collect();
    let pulses: Vec<&String> = said.keys().filter(|t| t.starts_with("pulse timer-")).collect();
    assert!(beats.len() >= 2, "a firing a second for 3.5 s: {said:?}");
    assert!(pulses.len() >= 5, "a period every 300 ms for 3.5 s: {said:?}");
    for beat in &beats {
        let ms: u64 = beat.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(ms % 1000, 0, "fires on whole seconds: {beat}");
    }
    let workers_that_fired: std::collections::BTreeSet<usize> =
        said.values().flatten().copied().filter(|&w| w != usize::MAX).collect();
    println!("{} beats, {} pulses, handled by workers {workers_that_fired:?}", beats.len(), pulses.len());
    for queue in queues {
        let _ = queue.delete().await;
    }
    regis_testkit::services::drop_schemas(&database, &bot).await;
}

/// Deploys, once confirmed (`ctx.ask`).
pub struct Deployer;

#[regis_macros::plugin]
impl Deployer {
    /// Deploy, after a confirmation.
    #[command]
    async fn deploy(&self, ctx: &Ctx) -> Result<String> {
        let answer = ctx.ask("Deploy to prod?", Duration::from_secs(10)).await?;
        Ok(if answer.is_yes() { "Deploying.".into() } else { format!("Not deploying: {answer:?}") })
    }
}

/// The question is put on one worker; the user's answer reaches another worker, which passes
/// it on over NATS; the first worker's handler goes on with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_asked_on_one_worker_is_answered_through_another() {
    use regis_core::{ChannelRef, Envelope};
    let bot = bot_name();
    let url = nats_url();
    let state = || regis_nats::connect_state(&url, &bot, Duration::from_secs(5));
    let asker = TestBot::builder().plugin(Deployer).shared_state(state().await.unwrap()).start().await;
    let other = TestBot::builder()
        .plugin(Deployer)
        .shared_state(state().await.unwrap())
        .data_dir(asker.data_dir())
        .start()
        .await;
    let user = TestBot::user("ann");
    let command = Envelope::message("test", user.clone(), "!deploy").in_channel(ChannelRef::new("ops"));
    asker.bot().ingress().submit(command).await.unwrap();
    asker.wait_for_sent(Duration::from_secs(10), "the question", |s| s.reply.text == "Deploy to prod?").await;
    // The change feed tells the other worker about the question a moment later.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let answer = Envelope::message("test", user.clone(), "yes").in_channel(ChannelRef::new("ops"));
        let handled = other.submit(answer).await;
        assert!(handled.is_empty(), "the answer is not answered itself: {handled:?}");
        let done = asker.connector_sent().iter().any(|s| s.reply.text == "Deploying.");
        if done {
            break;
        }
        assert!(Instant::now() < deadline, "the answer never reached the asking worker");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An identity linked on one worker is the person's on another at once: a ban of the person
/// holds there for the identity that worker had already seen unlinked (its cache is dropped
/// by the change feed over NATS).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_made_on_one_worker_holds_on_another() {
    let bot = bot_name();
    let url = nats_url();
    let state = || regis_nats::connect_state(&url, &bot, Duration::from_secs(5));
    let first = TestBot::builder().owner("boss").shared_state(state().await.unwrap()).start().await;
    let second =
        TestBot::builder().owner("boss").shared_state(state().await.unwrap()).data_dir(first.data_dir()).start().await;
    assert_eq!(second.send_elsewhere("ann", "!ping").await.text(), "pong", "seen unlinked there");
    let whisper = first.send("!link").await.0.into_iter().find(|s| matches!(s.to, regis_core::Destination::Direct(_)));
    let code = whisper.expect("a code").reply.text.split_whitespace().nth(3).unwrap().to_string();
    assert!(first.send_elsewhere("ann", &format!("!link {code}")).await.text().contains("now linked"));
    assert_eq!(first.send_as("boss", "!ban @tester").await.text(), "tester is banned.");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !second.send_elsewhere("ann", "!ping").await.is_empty() {
        assert!(Instant::now() < deadline, "the other worker still answers the linked identity of a banned person");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(second.send_elsewhere("ann", "!unlink").await.0.len(), 0, "banned: not even unlink");
    assert_eq!(second.send_as("boss", "!unban @tester").await.text(), "tester is no longer banned.");
}
