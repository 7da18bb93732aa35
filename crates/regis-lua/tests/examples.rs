//! The example scripts in `examples/scripts/` load and do what their comments say.

use regis_lua::{Limits, ScriptPlugin};
use regis_testkit::TestBot;
use std::path::Path;

fn example(name: &str) -> ScriptPlugin {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scripts").join(name);
    ScriptPlugin::load(&path, Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[tokio::test]
async fn the_poll_counts_one_vote_per_person_and_starts_afresh() {
    let bot = TestBot::with(example("poll.lua")).await;
    assert_eq!(bot.send("!results").await.text(), "No poll yet: start one with !poll.");
    let asked = bot.send("!poll Pizza on Friday?").await;
    let buttons: Vec<String> = asked.iter().flat_map(|s| s.reply.buttons.iter().map(|b| b.custom_id.clone())).collect();
    assert_eq!(buttons, ["poll:vote:yes", "poll:vote:no"]);
    let counted = bot.click("ann", "poll:vote:yes").await;
    assert_eq!(counted.text(), "Counted, ann.");
    assert!(counted.iter().all(|s| s.reply.ephemeral), "the confirmation is for the voter only");
    bot.click("bob", "poll:vote:no").await;
    bot.click("ann", "poll:vote:no").await;
    assert_eq!(bot.send("!results").await.text(), "Pizza on Friday? yes 0, no 2", "ann changed her vote");
    let bot = bot.restart().await;
    assert_eq!(bot.send("!results").await.text(), "Pizza on Friday? yes 0, no 2", "kept across a restart");
    bot.send("!poll Tea?").await;
    assert_eq!(bot.send("!results").await.text(), "Tea? yes 0, no 0");
}

#[tokio::test]
async fn the_eight_ball_answers() {
    let bot = TestBot::with(example("eightball.lua")).await;
    let answer = bot.send("!8ball will it rain?").await.text();
    let answers = ["It is certain.", "Ask again later.", "Very doubtful.", "Yes.", "No."];
    assert!(answers.contains(&answer.as_str()), "{answer}");
    let usage = bot.send("!8ball").await.text();
    assert!(usage.ends_with("Usage: !8ball <question...>"), "{usage}");
}

#[test]
fn the_readme_shows_the_eight_ball_as_it_is() {
    let readme = include_str!("../../../README.md");
    let script = include_str!("../../../examples/scripts/eightball.lua");
    assert!(readme.contains(&format!("```lua\n{script}```\n")), "README and examples/scripts/eightball.lua differ");
}
