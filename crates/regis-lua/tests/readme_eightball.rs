use regis_lua::{Limits, ScriptPlugin};
use regis_testkit::TestBot;

#[tokio::test]
async fn the_eight_ball_answers() {
    let ball = ScriptPlugin::load("../../examples/scripts/eightball.lua", Limits::default()).unwrap();
    let bot = TestBot::with(ball).await;
    assert!(bot.send("!8ball will it rain?").await.text().ends_with('.'));
}
