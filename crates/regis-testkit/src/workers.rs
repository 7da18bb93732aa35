//! A conformance check for any [`SharedState`] implementation: two test bots on one data
//! directory, each deciding with its own handle on the shared state (as two worker processes
//! have), must behave as two workers of one bot. A ban and a rank set on one hold on the
//! other, a cooldown counts uses on both, a plugin switch reaches both, and an event handled on
//! one reaches a live subscription on the other.
//!
//! ```ignore
//! let bot = "my-test-bot";
//! regis_testkit::workers::check_shared_state(connect(bot).await, connect(bot).await).await;
//! ```

use crate::TestBot;
use regis_core::{Ctx, Event, Result, SharedState, StorageBackend};
use regis_macros::plugin;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The commands the check runs.
pub struct Work;

#[plugin]
impl Work {
    /// Answer, at most twice per minute per user.
    #[command(cooldown = "2 per 60s per user")]
    async fn limited(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("done")
    }

    /// Wait for the next message, wherever it is handled.
    #[command]
    async fn listen(&self, ctx: &Ctx) -> Result<String> {
        let mut messages = ctx.subscribe("message");
        ctx.reply("listening").await?;
        match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
            Ok(Some(event)) => Ok(format!("heard: {}", event.text().unwrap_or_default())),
            _ => Ok("heard nothing".into()),
        }
    }

    /// Say `text` in a moment, from whichever worker fires the timer.
    ///
    /// # Arguments
    /// * `text` - what to say
    #[command]
    async fn later(&self, ctx: &Ctx, text: String) -> Result<&'static str> {
        ctx.after(Duration::from_millis(200), "work.later", &text).await?;
        Ok("set")
    }

    #[event("work.later")]
    async fn fired(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        let text: String = event.data()?;
        ctx.say("timers", format!("fired {text}")).await?;
        Ok(())
    }
}

/// Two test bots on one data directory, deciding with `first` and `second`; `boss` is an
/// owner on both.
pub async fn two_workers(first: SharedState, second: SharedState) -> (TestBot, TestBot) {
    let a = TestBot::builder().plugin(Work).owner("boss").shared_state(first).start().await;
    let b = TestBot::builder().plugin(Work).owner("boss").shared_state(second).data_dir(a.data_dir()).start().await;
    (a, b)
}

/// Two test bots keeping their data in `storage` (each its own handle on one database, as
/// two worker processes have), deciding with `first` and `second`.
pub async fn two_workers_on(
    first: SharedState,
    second: SharedState,
    storage: [Arc<dyn StorageBackend>; 2],
) -> (TestBot, TestBot) {
    let [one, two] = storage;
    let a = TestBot::builder().plugin(Work).owner("boss").shared_state(first).storage(one).start().await;
    let b = TestBot::builder().plugin(Work).owner("boss").shared_state(second).storage(two).start().await;
    (a, b)
}

/// Asks `bot` as `user` until the answer to `line` passes `check` (a change reaches the other
/// worker a moment later, as it would over the network); panics after 5 s.
pub async fn until(bot: &TestBot, user: &str, line: &str, check: impl Fn(&str) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = bot.send_as(user, line).await.text();
        if check(&text) {
            return;
        }
        assert!(Instant::now() < deadline, "`{line}` still answers {text:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Runs every check on two workers deciding with `first` and `second` (two handles on one
/// shared state). Needs a multi-threaded runtime.
pub async fn check_shared_state(first: SharedState, second: SharedState) {
    check_workers(two_workers(first, second).await).await;
}

/// [`check_shared_state`] with the workers' data in `storage` (two handles on one shared
/// database, such as PostgreSQL's).
pub async fn check_shared_state_on(first: SharedState, second: SharedState, storage: [Arc<dyn StorageBackend>; 2]) {
    check_workers(two_workers_on(first, second, storage).await).await;
}

async fn check_workers((a, b): (TestBot, TestBot)) {
    bans_and_ranks_hold_on_the_other_worker(&a, &b).await;
    a_cooldown_counts_uses_on_every_worker(&a, &b).await;
    a_plugin_switch_reaches_every_worker(&a, &b).await;
    let (a, b) = an_event_reaches_a_subscription_on_the_other_worker(a, b).await;
    a_timer_fires_once_and_survives_the_worker_that_set_it(a, b).await;
}

async fn bans_and_ranks_hold_on_the_other_worker(a: &TestBot, b: &TestBot) {
    // The second worker has alice's rank cached.
    assert_eq!(b.send_as("alice", "!rank").await.text(), "alice has rank 0.");
    assert_eq!(a.send_as("boss", "!rank set @alice 100").await.text(), "alice now has rank 100.");
    until(b, "alice", "!rank", |t| t == "alice has rank 100.").await;
    assert_eq!(a.send_as("boss", "!ban @alice").await.text(), "alice is banned.");
    until(b, "boss", "!rank @alice", |t| t == "alice has rank -1.").await;
    assert!(b.send_as("alice", "!ping").await.is_empty(), "banned on the other worker too");
}

async fn a_cooldown_counts_uses_on_every_worker(a: &TestBot, b: &TestBot) {
    assert_eq!(a.send_as("carol", "!limited").await.text(), "done");
    assert_eq!(b.send_as("carol", "!limited").await.text(), "done");
    let third = a.send_as("carol", "!limited").await.text();
    assert!(third.starts_with("`limited` is cooling down; try again in "), "{third}");
    let fourth = b.send_as("carol", "!limited").await.text();
    assert!(fourth.starts_with("`limited` is cooling down"), "two uses in all, not two per worker: {fourth}");
}

async fn a_plugin_switch_reaches_every_worker(a: &TestBot, b: &TestBot) {
    assert_eq!(b.send_as("dave", "!limited").await.text(), "done");
    assert_eq!(a.send_as("boss", "!plugin disable work").await.text(), "Plugin `work` disabled.");
    until(b, "dave", "!plugins", |t| t.contains("work       disabled")).await;
    assert_eq!(b.send_as("dave", "!limited").await.text(), "`limited` is unavailable: plugin `work` is disabled.");
    assert_eq!(a.send_as("boss", "!plugin enable work").await.text(), "Plugin `work` enabled.");
    until(b, "dave", "!plugins", |t| t.contains("work       enabled")).await;
    assert_eq!(b.send_as("dave", "!limited").await.text(), "done");
}

async fn an_event_reaches_a_subscription_on_the_other_worker(a: TestBot, b: TestBot) -> (TestBot, Arc<TestBot>) {
    let b = Arc::new(b);
    let listening = {
        let b = Arc::clone(&b);
        tokio::spawn(async move { b.send_as("erin", "!listen").await.text() })
    };
    b.wait_for_sent(Duration::from_secs(5), "listening", |s| s.reply.text == "listening").await;
    a.send_as("frank", "the answer is 42").await;
    let heard = listening.await.unwrap_or_else(|e| panic!("the listening command panicked: {e}"));
    assert_eq!(heard, "listening\nheard: the answer is 42");
    (a, b)
}

/// What both workers said in channel `timers`, waiting until `want` lines came (5 s at most),
/// then a little longer for any extra.
async fn timer_lines(a: &TestBot, b: &TestBot, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let take = |seen: &mut Vec<String>| {
        for bot in [a, b] {
            let sent = bot.connector_sent().into_iter().map(|s| s.reply.text);
            seen.extend(sent.filter(|text| text.starts_with("fired ")));
        }
    };
    let mut seen = Vec::new();
    while Instant::now() < deadline && seen.len() < want {
        take(&mut seen);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    take(&mut seen);
    seen.sort();
    seen
}

async fn a_timer_fires_once_and_survives_the_worker_that_set_it(a: TestBot, b: Arc<TestBot>) {
    for i in 0..20 {
        let bot = if i % 2 == 0 { &a } else { &*b };
        assert_eq!(bot.send_as("gina", &format!("!later t{i:02}")).await.text(), "set");
    }
    let want: Vec<String> = (0..20).map(|i| format!("fired t{i:02}")).collect();
    assert_eq!(timer_lines(&a, &b, 20).await, want, "each timer fired once, on one worker or the other");
    // The worker that set a timer stops before it is due: the other fires it.
    assert_eq!(a.send_as("gina", "!later orphan").await.text(), "set");
    a.bot().shutdown().await;
    assert_eq!(
        b.wait_for_sent(Duration::from_secs(5), "the orphan timer", |s| s.reply.text == "fired orphan")
            .await
            .reply
            .text,
        "fired orphan"
    );
}
