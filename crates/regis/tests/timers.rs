//! Timers (`ctx.after`): delivered later to the plugin that set it, kept across a restart,
//! fired once when several bots share one database, callable off.

use regis::prelude::*;
use regis::{SqliteBackend, StorageBackend};
use regis_testkit::TestBot;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Reminds the channel.
pub struct Reminder;

#[plugin]
impl Reminder {
    /// Say `text` after `ms` milliseconds.
    ///
    /// # Arguments
    /// * `ms` - how long to wait
    /// * `text` - what to say
    #[command]
    async fn remind(&self, ctx: &Ctx, ms: u64, text: Rest) -> Result<String> {
        let id = ctx.after(Duration::from_millis(ms), "remind.due", &text.0).await?;
        Ok(format!("set {id}"))
    }

    /// Call a reminder off.
    ///
    /// # Arguments
    /// * `id` - the reminder
    #[command]
    async fn forget(&self, ctx: &Ctx, id: String) -> Result<String> {
        let gone = ctx.cancel_timer(&regis::TimerId(id)).await?;
        Ok(format!("cancelled: {gone}; pending: {}", ctx.timers().await?.len()))
    }

    #[event("remind.due")]
    async fn due(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        let text: String = event.data()?;
        let channel = ctx.envelope().channel.as_ref().map(|c| c.id.clone()).unwrap_or_default();
        ctx.say(&channel, format!("reminder: {text}")).await?;
        Ok(())
    }
}

/// Listens to the topic the reminder uses, to show that a timer reaches only its own plugin.
pub struct Eavesdropper;

#[plugin]
impl Eavesdropper {
    #[event("remind.due")]
    async fn overheard(&self, ctx: &Ctx, _event: &Event) -> Result<()> {
        ctx.say("elsewhere", "overheard").await?;
        Ok(())
    }
}

async fn wait_for_texts(bots: &[&TestBot], want: usize, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        for bot in bots {
            seen.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen
}

#[tokio::test]
async fn a_timer_reaches_its_own_plugin_later_and_only_it() {
    let bot = TestBot::builder().plugin(Reminder).plugin(Eavesdropper).start().await;
    let set_at = Instant::now();
    let answer = bot.send("!remind 300 tea").await.text();
    assert!(answer.starts_with("set timer-"), "{answer}");
    let seen = wait_for_texts(&[&bot], 1, Duration::from_secs(10)).await;
    assert!(set_at.elapsed() >= Duration::from_millis(300), "fired early");
    assert_eq!(seen, vec!["reminder: tea".to_string()]);
    // Nothing else arrives: not the eavesdropper, not a second firing.
    tokio::time::sleep(Duration::from_millis(300)).await;
    bot.bot().idle().await;
    assert!(bot.connector_sent().is_empty());
}

#[tokio::test]
async fn a_timer_called_off_does_not_fire() {
    let bot = TestBot::with(Reminder).await;
    let answer = bot.send("!remind 400 never").await.text();
    let id = answer.trim_start_matches("set ");
    assert_eq!(bot.send(&format!("!forget {id}")).await.text(), "cancelled: true; pending: 0");
    assert_eq!(bot.send(&format!("!forget {id}")).await.text(), "cancelled: false; pending: 0");
    tokio::time::sleep(Duration::from_millis(700)).await;
    bot.bot().idle().await;
    assert!(bot.connector_sent().is_empty());
}

#[tokio::test]
async fn a_timer_due_while_the_bot_was_down_fires_once_after_the_restart() {
    let bot = TestBot::with(Reminder).await;
    bot.send("!remind 200 after the restart").await;
    bot.bot().shutdown().await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let bot = bot.restart().await;
    let seen = wait_for_texts(&[&bot], 1, Duration::from_secs(10)).await;
    assert_eq!(seen, vec!["reminder: after the restart".to_string()]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bot.connector_sent().is_empty(), "fired twice");
}

#[tokio::test]
async fn bots_sharing_a_database_fire_each_timer_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let storage: Arc<dyn StorageBackend> = Arc::new(SqliteBackend::new(dir.path()));
    let mut bots = Vec::new();
    for _ in 0..3 {
        bots.push(TestBot::builder().storage(Arc::clone(&storage)).plugin(Reminder).start().await);
    }
    for i in 0..60 {
        bots[i % 3].send(&format!("!remind {} r{i}", 100 + (i % 7) * 40)).await;
    }
    let refs: Vec<&TestBot> = bots.iter().collect();
    let mut seen = wait_for_texts(&refs, 60, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    seen.extend(wait_for_texts(&refs, 0, Duration::ZERO).await);
    seen.sort();
    let mut want: Vec<String> = (0..60).map(|i| format!("reminder: r{i}")).collect();
    want.sort();
    assert_eq!(seen, want);
}
