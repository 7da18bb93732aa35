//! What the Discord tests share: a plugin whose commands exercise every way of answering and
//! every connector verb.

use regis::prelude::*;
use std::time::Duration;

/// Commands exercising every way of answering and every connector verb.
pub struct Probe;

#[plugin]
impl Probe {
    /// Answer at once.
    #[command]
    async fn quick(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("quick answer")
    }

    /// Answer after a while.
    ///
    /// # Arguments
    /// * `ms` - how long
    #[command]
    async fn slow(&self, _ctx: &Ctx, ms: u64) -> Result<String> {
        tokio::time::sleep(Duration::from_millis(ms)).await;
        Ok("slow answer".into())
    }

    /// Send a file.
    #[command]
    async fn file(&self, _ctx: &Ctx) -> Result<Reply> {
        Ok(Reply::text("a file")
            .embed(Embed::titled("File").image("attachment://bytes.bin"))
            .attach(Attachment::new("bytes.bin", all_bytes())))
    }

    /// Upload a file without text.
    #[command]
    async fn upload(&self, ctx: &Ctx) -> Result<()> {
        ctx.upload("bytes.bin", all_bytes()).await?;
        Ok(())
    }

    /// Whisper to the author.
    #[command]
    async fn psst(&self, ctx: &Ctx) -> Result<&'static str> {
        ctx.whisper(&ctx.author().id, "a secret").await?;
        Ok("sent you a DM")
    }

    /// Say something in a channel.
    ///
    /// # Arguments
    /// * `channel` - where
    #[command]
    async fn announce(&self, ctx: &Ctx, channel: String) -> Result<()> {
        ctx.say(&channel, "announcement").await?;
        Ok(())
    }

    /// Post, then edit what was posted.
    #[command]
    async fn progress(&self, ctx: &Ctx) -> Result<()> {
        let sent = ctx.reply("working…").await?;
        ctx.edit(&sent, "done").await?;
        Ok(())
    }

    /// Paint in a colour.
    ///
    /// # Arguments
    /// * `colour` - the colour
    #[command]
    async fn paint(&self, _ctx: &Ctx, #[autocomplete = "colours"] colour: String) -> Result<String> {
        Ok(format!("painted {colour}"))
    }

    /// Paint slowly: its suggestions come after the deadline.
    ///
    /// # Arguments
    /// * `colour` - the colour
    #[command]
    async fn tint(&self, _ctx: &Ctx, #[autocomplete = "slow_colours"] colour: String) -> Result<String> {
        Ok(format!("tinted {colour}"))
    }

    async fn slow_colours(&self, _ctx: &Ctx, _partial: &str) -> Result<Vec<String>> {
        tokio::time::sleep(Duration::from_millis(600)).await;
        Ok(vec!["too late".into()])
    }

    async fn colours(&self, _ctx: &Ctx, partial: &str) -> Result<Vec<String>> {
        Ok(["red", "green", "grey"].iter().filter(|c| c.starts_with(partial)).map(|c| c.to_string()).collect())
    }

    /// Offer buttons.
    #[command]
    async fn menu(&self, _ctx: &Ctx) -> Result<Reply> {
        Ok(Reply::text("pick one").button("Red", "pick:red").button("Blue", "pick:blue"))
    }

    #[component("pick")]
    async fn pick(&self, ctx: &Ctx, id: &str) -> Result<String> {
        Ok(format!("{} picked {}", ctx.author().name, id.trim_start_matches("pick:")))
    }

    /// Look a user or channel up.
    ///
    /// # Arguments
    /// * `kind` - user or channel
    /// * `id` - the id
    #[command]
    async fn lookup(&self, ctx: &Ctx, kind: String, id: String) -> Result<String> {
        Ok(match kind.as_str() {
            "user" => ctx.user(&id).await?.map(|u| format!("user {}", u.name)).unwrap_or("no such user".into()),
            _ => ctx.channel(&id).await?.map(|c| format!("channel {}", c.name)).unwrap_or("no such channel".into()),
        })
    }

    /// Answer only to the invoker.
    #[command]
    async fn secret(&self, _ctx: &Ctx) -> Result<Reply> {
        Ok(Reply::text("for your eyes").ephemeral())
    }

    /// Answer twice.
    #[command]
    async fn twice(&self, ctx: &Ctx) -> Result<&'static str> {
        ctx.reply("one").await?;
        Ok("two")
    }

    /// Answer nothing.
    #[command]
    async fn silent(&self, _ctx: &Ctx) -> Result<()> {
        Ok(())
    }

    /// Fail after the deadline.
    #[command]
    async fn boom(&self, _ctx: &Ctx) -> Result<String> {
        tokio::time::sleep(Duration::from_millis(250)).await;
        Err("the reactor is offline".into())
    }

    /// Defer explicitly, then answer.
    #[command]
    async fn later(&self, ctx: &Ctx) -> Result<&'static str> {
        ctx.defer().await?;
        Ok("deferred answer")
    }

    /// Post in `EVENTS_CHANNEL` and record what `ctx.say` answered, and how fast.
    #[command]
    async fn attempt(&self, ctx: &Ctx) -> Result<()> {
        let started = std::time::Instant::now();
        let outcome = ctx.say(EVENTS_CHANNEL, "attempt").await.map(|_| ()).map_err(|e| e.to_string());
        ATTEMPTS.lock().unwrap().push((outcome, started.elapsed()));
        Ok(())
    }

    /// Welcomes members in the channel `EVENTS_CHANNEL`.
    #[event("member_join")]
    async fn on_join(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        ctx.say(EVENTS_CHANNEL, format!("welcome {}", event.author().name)).await?;
        Ok(())
    }

    /// Tells reactions in the channel `EVENTS_CHANNEL`.
    #[event("reaction")]
    async fn on_reaction(&self, ctx: &Ctx, event: &Event) -> Result<()> {
        let text = format!("{} reacted {} to {}", event.author().id, event.data["emoji"], event.data["message_id"]);
        ctx.say(EVENTS_CHANNEL, text).await?;
        Ok(())
    }

    /// Only for the trusted.
    #[command(rank = 100)]
    async fn vault(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("the vault is open")
    }

    /// Once a minute.
    #[command(cooldown = "1 per 60s per user")]
    async fn once(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("once")
    }

    /// Greet a user.
    ///
    /// # Arguments
    /// * `user` - who
    #[command]
    async fn greet(&self, _ctx: &Ctx, user: UserRef) -> Result<String> {
        Ok(format!("hello {} ({})", user.name, user.id))
    }
}

/// What each `attempt` command got from `ctx.say`, and how long it took.
pub static ATTEMPTS: std::sync::Mutex<Vec<(std::result::Result<(), String>, Duration)>> =
    std::sync::Mutex::new(Vec::new());

/// Where the probe's event handlers post.
pub const EVENTS_CHANNEL: &str = "290926798999357999";

/// The bytes of the test file: 70,000 of them, every value, so that nothing is lost or
/// re-encoded on the way.
pub fn all_bytes() -> Vec<u8> {
    (0..=255u8).cycle().take(70_000).collect()
}
