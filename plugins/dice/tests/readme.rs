//! The README shows this plugin's source verbatim, and it works as the README says.

use regis_plugin_dice::Dice;
use regis_testkit::TestBot;

#[tokio::test]
async fn roll_counts() {
    let bot = TestBot::with(Dice).await;
    assert_eq!(bot.send("!roll 1 2").await.text().len(), "[1] (roll #1)".len());
    assert!(bot.send("!roll 3 6").await.text().ends_with("] (roll #2)"));
    assert_eq!(
        bot.send("!roll 21").await.text(),
        "`count` must be integer 0..=20, got 21\nUsage: !roll [count] [sides]"
    );
}

#[test]
fn readme_shows_this_source_verbatim() {
    let readme = include_str!("../../../README.md");
    let source = include_str!("../src/lib.rs");
    let start = readme.find("<!-- dice:start -->").expect("README has a dice:start marker");
    let end = readme.find("<!-- dice:end -->").expect("README has a dice:end marker");
    let block = &readme[start..end];
    let code = block
        .split_once("```rust\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .expect("a rust code block between the markers");
    assert_eq!(code, source, "README example and plugins/dice/src/lib.rs differ");
}
