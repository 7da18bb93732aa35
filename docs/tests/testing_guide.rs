use regis::prelude::*;
use regis_testkit::TestBot;

pub struct Counter;

/// Counts hits.
#[plugin]
impl Counter {
    /// Count a hit.
    #[command]
    async fn hit(&self, ctx: &Ctx) -> Result<String> {
        let n: u64 = ctx.store().update("hits", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(format!("{n} hits"))
    }

    /// Reset the count (moderators).
    #[command(rank = 100)]
    async fn reset(&self, ctx: &Ctx) -> Result<&'static str> {
        ctx.store().delete("hits").await?;
        Ok("reset")
    }
}

#[tokio::test]
async fn counts_survive_a_restart_and_only_moderators_reset() {
    let bot = TestBot::with(Counter).await;
    assert_eq!(bot.send("!hit").await.text(), "1 hits");
    assert_eq!(bot.send_as("bob", "!hit").await.text(), "2 hits");
    let bot = bot.restart().await;
    assert_eq!(bot.send("!hit").await.text(), "3 hits");
    assert_eq!(bot.send("!reset").await.text(), "`reset` needs rank 100; yours is 0.");
    bot.set_rank("tester", 100).await;
    assert_eq!(bot.send("!reset").await.text(), "reset");
}
