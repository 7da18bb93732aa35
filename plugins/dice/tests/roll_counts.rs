use regis_plugin_dice::Dice;

#[tokio::test]
async fn roll_counts() {
    let bot = regis_testkit::TestBot::with(Dice).await;
    assert!(bot.send("!roll 1d2").await.text().ends_with("(roll #1)"));
}
