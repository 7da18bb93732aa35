//! `#[schedule]` handlers and `ctx.every` on a running bot: firings on the wall clock, the
//! `schedules` listing, a bad pattern refused at start, a repeating timer called off.

use regis::prelude::*;
use regis::{BotError, SqliteBackend};
use regis_testkit::TestBot;
use std::time::{Duration, Instant};

/// Posts to the ops channel.
pub struct Ops;

#[plugin]
impl Ops {
    /// Every second.
    #[schedule("* * * * * *")]
    async fn heartbeat(&self, ctx: &Ctx) -> Result<()> {
        ctx.say("ops", format!("beat {}", ctx.envelope().time_ms)).await?;
        Ok(())
    }

    /// Weekday mornings in London.
    #[schedule("0 9 * * 1-5", tz = "Europe/London")]
    async fn standup(&self, ctx: &Ctx) -> Result<()> {
        ctx.say("ops", "standup!").await?;
        Ok(())
    }

    /// Poll every `ms` milliseconds.
    ///
    /// # Arguments
    /// * `ms` - the period
    #[command]
    async fn poll(&self, ctx: &Ctx, ms: u64) -> Result<String> {
        Ok(ctx.every(Duration::from_millis(ms), "ops.poll", &ms).await?.to_string())
    }

    /// Stop a poll.
    ///
    /// # Arguments
    /// * `id` - the poll
    #[command]
    async fn unpoll(&self, ctx: &Ctx, id: String) -> Result<String> {
        Ok(format!("stopped: {}", ctx.cancel_timer(&regis::TimerId(id)).await?))
    }

    #[event("ops.poll")]
    async fn polled(&self, ctx: &Ctx, _event: &Event) -> Result<()> {
        ctx.say("ops", "polled").await?;
        Ok(())
    }
}

async fn collect(bot: &TestBot, within: Duration) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        seen.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seen
}

#[tokio::test]
async fn a_schedule_fires_on_whole_seconds_once_each_and_is_listed() {
    let bot = TestBot::with(Ops).await;
    let beats: Vec<u64> = collect(&bot, Duration::from_millis(2600))
        .await
        .iter()
        .filter_map(|t| t.strip_prefix("beat ")?.parse().ok())
        .collect();
    assert!(beats.len() >= 2, "{beats:?}");
    assert!(beats.iter().all(|ms| ms % 1000 == 0), "{beats:?}");
    assert!(beats.windows(2).all(|w| w[1] == w[0] + 1000), "each second once, in order: {beats:?}");
    let listing = bot.send("!schedules").await.text();
    assert!(listing.starts_with("Schedules:\n  ops/heartbeat  * * * * * * UTC  next "), "{listing}");
    assert!(listing.contains("\n  ops/standup    0 9 * * 1-5 Europe/London  next "), "{listing}");
    assert!(listing.contains(" 09:00:00 UTC (in ") || listing.contains(" 08:00:00 UTC (in "), "{listing}");
}

#[tokio::test]
async fn a_repeating_timer_fires_each_period_until_called_off() {
    let bot = TestBot::with(Ops).await;
    let id = bot.send("!poll 200").await.text();
    assert!(id.starts_with("timer-"), "{id}");
    let listing = bot.send("!schedules").await.text();
    assert!(listing.contains("Timers:\n  ops  ops.poll  next "), "{listing}");
    assert!(listing.contains(", every 200ms"), "{listing}");
    let polled = collect(&bot, Duration::from_millis(1100)).await.iter().filter(|t| *t == "polled").count();
    assert!(polled >= 3, "about five periods in 1.1 s, got {polled}");
    assert_eq!(bot.send(&format!("!unpoll {id}")).await.text(), "stopped: true");
    tokio::time::sleep(Duration::from_millis(100)).await; // a firing already queued may land
    bot.connector_sent();
    let after = collect(&bot, Duration::from_millis(600)).await.iter().filter(|t| *t == "polled").count();
    assert_eq!(after, 0, "called off");
}

/// Declares a schedule the bot cannot read.
pub struct Broken;

#[plugin]
impl Broken {
    #[schedule("0 9 * * *", tz = "Mars/Olympus_Mons")]
    async fn never(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_schedule_in_an_unknown_zone_stops_the_bot_with_the_plugin_named() {
    let dir = tempfile::tempdir().unwrap();
    let error = regis::Bot::builder(regis::CoreConfig::default())
        .storage(SqliteBackend::new(dir.path()))
        .plugin(Broken)
        .start()
        .await
        .err()
        .expect("refused");
    assert!(matches!(error, BotError::Schedule { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "plugin `broken`, schedule `never`: `Mars/Olympus_Mons` is not a time zone name (write one such as `Europe/London` or `UTC`)"
    );
}
