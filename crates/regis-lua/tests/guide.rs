use regis_lua::{Limits, ScriptPlugin};
use regis_testkit::TestBot;

#[tokio::test]
async fn the_counter_counts() {
    let counter = ScriptPlugin::load("plugins/counter.lua", Limits::default()).unwrap();
    let bot = TestBot::with(counter).await;
    assert_eq!(bot.send("!hit 2").await.text(), "2 hits");
}
