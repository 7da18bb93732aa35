//! The README's example plugin, exactly as shown there.

use regis::prelude::*;
use regis_testkit::TestBot;

/// Dice for the channel.
pub struct Dice;

#[plugin]
impl Dice {
    /// Roll dice, e.g. `!roll 2 6`.
    ///
    /// # Arguments
    /// * `count` - how many dice (default 1)
    /// * `sides` - sides per die (default 6)
    #[command(cooldown = "3 per 10s per user")]
    async fn roll(
        &self,
        ctx: &Ctx,
        #[min = 1]
        #[max = 20]
        count: Option<u8>,
        #[min = 2] sides: Option<u16>,
    ) -> Result<String> {
        let rolls: Vec<u16> = (0..count.unwrap_or(1)).map(|_| fastrand::u16(1..=sides.unwrap_or(6))).collect();
        let n: u64 = ctx.store().update(&ctx.author().key(), |n: Option<u64>| n.unwrap_or(0) + 1).await?;
        Ok(format!("{rolls:?} (roll #{n})"))
    }
}

#[tokio::test]
async fn roll_counts() {
    let bot = TestBot::with(Dice).await;
    assert_eq!(bot.send("!roll 1 2").await.text().len(), "[1] (roll #1)".len());
    assert!(bot.send("!roll 3 2").await.text().ends_with("(roll #2)"));
    assert!(bot.send_as("bob", "!roll").await.text().ends_with("(roll #1)"));
}

#[tokio::test]
async fn bad_arguments_get_the_usage_line() {
    let bot = TestBot::with(Dice).await;
    assert_eq!(
        bot.send("!roll 50").await.text(),
        "`count` must be integer 1..=20, got 50\nUsage: !roll [count] [sides]"
    );
    assert_eq!(
        bot.send("!roll 2 six").await.text(),
        "`sides` must be integer 2..=65535, got `six`\nUsage: !roll [count] [sides]"
    );
}

#[tokio::test]
async fn cooldown_answers_try_again() {
    let bot = TestBot::with(Dice).await;
    for _ in 0..3 {
        assert!(bot.send("!roll").await.text().contains("roll #"));
    }
    let text = bot.send("!roll").await.text();
    assert!(text.starts_with("`roll` is cooling down; try again in "), "{text}");
    assert!(bot.send_as("other", "!roll").await.text().contains("roll #1"), "cooldown is per user");
}

#[tokio::test]
async fn help_comes_from_doc_comments() {
    let bot = TestBot::with(Dice).await;
    let help = bot.send("!help roll").await.text();
    assert!(help.starts_with("!roll\nRoll dice, e.g. `!roll 2 6`."), "{help}");
    assert!(help.contains("Usage: !roll [count] [sides]"), "{help}");
    assert!(help.contains("count      how many dice (default 1) (integer 1..=20)"), "{help}");
    assert!(help.contains("Cooldown: 3 per 10s per user"), "{help}");
    let schema = bot.bot().commands().into_iter().find(|(_, c)| c.name == "roll").unwrap().1.to_discord_json();
    assert_eq!(schema["options"][0]["description"], "how many dice (default 1)");
    assert_eq!(schema["options"][0]["min_value"], 1);
}
