//! The dispatcher under failure: panics and timeouts become error replies, the pool keeps its
//! size, nothing is lost; shutdown lets in-flight handlers finish.

use regis::prelude::*;
use regis_testkit::TestBot;
use std::time::Duration;

/// Misbehaving commands.
pub struct Chaos;

#[plugin]
impl Chaos {
    /// Answer, panic or hang depending on `n`.
    ///
    /// # Arguments
    /// * `n` - invocation number: n % 10 == 0 panics, n % 20 == 5 hangs
    #[command]
    async fn work(&self, _ctx: &Ctx, n: u32) -> Result<String> {
        if n.is_multiple_of(10) {
            panic!("boom {n}");
        }
        if n % 20 == 5 {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        tokio::task::yield_now().await;
        Ok(format!("done {n}"))
    }

    /// Fail with an error message.
    #[command]
    async fn fail(&self, _ctx: &Ctx) -> Result<String> {
        Err("the database is on fire".into())
    }

    /// Take a while, then answer.
    ///
    /// # Arguments
    /// * `ms` - how long
    #[command]
    async fn slow(&self, _ctx: &Ctx, ms: u64) -> Result<String> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok(format!("slept {ms}ms"))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_invocations_with_panics_and_timeouts() {
    let bot = std::sync::Arc::new(
        // Long enough that a quick handler never reaches it while 100 panics are being
        // reported (with RUST_BACKTRACE, each captures a backtrace on a runtime thread).
        TestBot::builder().plugin(Chaos).workers(16).handler_timeout(Duration::from_secs(2)).start().await,
    );
    let tasks: Vec<_> = (0..1000u32)
        .map(|n| {
            let bot = bot.clone();
            tokio::spawn(async move { (n, bot.send(&format!("!work {n}")).await.text()) })
        })
        .collect();
    let (mut ok, mut crashed, mut timed_out) = (0, 0, 0);
    for task in tasks {
        let (n, text) = task.await.unwrap();
        if n.is_multiple_of(10) {
            assert!(text.starts_with("`work` crashed with an internal error (logged as "), "{n}: {text}");
            crashed += 1;
        } else if n % 20 == 5 {
            assert_eq!(text, "`work` timed out after 2s.", "{n}");
            timed_out += 1;
        } else {
            assert_eq!(text, format!("done {n}"));
            ok += 1;
        }
    }
    assert_eq!((ok, crashed, timed_out), (850, 100, 50));
    let stats = bot.stats();
    assert_eq!(stats.workers_alive, 16, "pool keeps its size");
    assert_eq!((stats.panics, stats.timeouts, stats.handled), (100, 50, 1000));
    assert_eq!(bot.send("!work 1").await.text(), "done 1", "still serving afterwards");
}

#[tokio::test]
async fn handler_errors_are_replied_and_slow_handlers_do_not_block_others() {
    let bot = std::sync::Arc::new(TestBot::builder().plugin(Chaos).workers(4).start().await);
    assert_eq!(bot.send("!fail").await.text(), "`fail` failed: the database is on fire");
    let slow = {
        let bot = bot.clone();
        tokio::spawn(async move { bot.send("!slow 2000").await.text() })
    };
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    assert_eq!(bot.send("!ping").await.text(), "pong");
    assert_eq!(bot.stats().in_flight, 1, "ping was answered while the slow handler still ran");
    assert!(!slow.is_finished());
    assert_eq!(slow.await.unwrap(), "slept 2000ms");
}

#[tokio::test]
async fn unknown_commands_and_plain_messages() {
    let bot = TestBot::with(Chaos).await;
    assert_eq!(bot.send("!nope").await.text(), "Unknown command `!nope`. Try `!help`.");
    assert!(bot.send("just chatting").await.is_empty());
    assert_eq!(bot.send("!work").await.text(), "missing `n`\nUsage: !work <n>");
    assert_eq!(bot.send(r#"!work "unterminated"#).await.text(), "unterminated quote\nUsage: !work <n>");
}

#[tokio::test]
async fn command_names_ignore_case_unless_configured_otherwise() {
    let bot = TestBot::with(Chaos).await;
    assert_eq!(bot.send("!WORK 1").await.text(), "done 1");
    assert_eq!(bot.send("!Work 2").await.text(), "done 2");
    assert!(bot.send("!Help work").await.text().starts_with("!work\n"), "help, whatever its case");
    let strict = TestBot::builder().plugin(Chaos).configure(|c| c.case_sensitive_commands = true).start().await;
    assert_eq!(strict.send("!work 3").await.text(), "done 3");
    assert_eq!(strict.send("!WORK 4").await.text(), "Unknown command `!WORK`. Try `!help`.");
}

#[tokio::test]
async fn shutdown_lets_in_flight_handlers_finish() {
    let bot = TestBot::builder().plugin(Chaos).configure(|c| c.shutdown_grace = Duration::from_secs(5)).start().await;
    let ingress = bot.bot().ingress();
    let envelope = regis::Envelope::message("test", TestBot::user("u"), "!slow 300");
    ingress.submit(envelope).await.unwrap();
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    assert_eq!(bot.bot().shutdown().await, 0, "nothing cancelled");
    let sent = bot.drain().await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].reply.text, "slept 300ms");
    let late = regis::Envelope::message("test", TestBot::user("u"), "!ping");
    assert!(ingress.submit(late).await.is_err(), "closed after shutdown");
}

#[tokio::test]
async fn shutdown_cancels_what_outlives_the_grace_period() {
    let bot =
        TestBot::builder().plugin(Chaos).configure(|c| c.shutdown_grace = Duration::from_millis(100)).start().await;
    let envelope = regis::Envelope::message("test", TestBot::user("u"), "!slow 60000");
    bot.bot().ingress().submit(envelope).await.unwrap();
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    assert_eq!(bot.bot().shutdown().await, 1);
    // Cut, not failed: no error reply, and nothing settled (a queue that redelivers would
    // deliver it again after a restart).
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sent: Vec<String> = bot.connector_sent().into_iter().map(|s| s.reply.text).collect();
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(bot.stats().handled, 0);
}

#[tokio::test]
async fn redelivered_envelopes_are_handled_once() {
    let bot = TestBot::with(Chaos).await;
    let envelope = regis::Envelope::message("test", TestBot::user("u"), "!work 1");
    let first = bot.submit(envelope.clone()).await;
    assert_eq!(first.text(), "done 1");
    let again = tokio::time::timeout(std::time::Duration::from_secs(5), bot.submit(envelope)).await;
    assert!(again.expect("waiting on a redelivery returns").is_empty(), "a redelivery is not answered twice");
    assert_eq!(bot.stats().duplicates, 1);
    assert!(bot.drain().await.is_empty());
}

#[tokio::test]
async fn a_redelivery_while_the_first_delivery_runs_waits_and_is_then_dropped() {
    let bot = TestBot::with(Chaos).await;
    let envelope = regis::Envelope::message("test", TestBot::user("u"), "!slow 300");
    let ingress = bot.bot().ingress();
    ingress.submit(envelope.clone()).await.unwrap();
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    // The queue delivers it again while the first delivery runs (at-least-once delivery).
    ingress.submit(envelope).await.unwrap();
    let sent = bot.drain().await;
    assert_eq!(sent.len(), 1, "answered once: {sent:?}");
    assert_eq!(sent[0].reply.text, "slept 300ms");
    assert_eq!((bot.stats().handled, bot.stats().duplicates), (1, 1));
}
