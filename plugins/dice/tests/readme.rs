//! The README shows this plugin's source verbatim, and this plugin (not a copy) works as the
//! README says: the right number of dice, each within its sides, counted per user.

use regis_plugin_dice::Dice;
use regis_testkit::TestBot;

/// The dice of a reply `[a, b, c] (roll #n)`, and `n`.
fn parse(reply: &str) -> (Vec<u16>, u64) {
    let (list, count) = reply.split_once("] (roll #").unwrap_or_else(|| panic!("not a roll: {reply}"));
    let dice = list
        .strip_prefix('[')
        .unwrap_or_else(|| panic!("not a roll: {reply}"))
        .split(", ")
        .filter(|d| !d.is_empty())
        .map(|d| d.parse().unwrap_or_else(|_| panic!("not a die: {d} in {reply}")))
        .collect();
    let n = count.strip_suffix(')').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count: {reply}"));
    (dice, n)
}

#[tokio::test]
async fn dice_are_as_many_as_asked_and_within_their_sides() {
    let bot = TestBot::with(Dice).await;
    let mut seen = std::collections::BTreeSet::new();
    let cases: [(&str, usize, u16); 5] =
        [("!roll", 1, 6), ("!roll 3", 3, 6), ("!roll 20 2", 20, 2), ("!roll sides=100", 1, 100), ("!roll 0", 0, 6)];
    for (i, (line, count, sides)) in cases.into_iter().enumerate() {
        // A user each: the cooldown allows five rolls per user.
        let (dice, n) = parse(&bot.send_as(&format!("player{i}"), line).await.text());
        assert_eq!(dice.len(), count, "{line}");
        assert!(dice.iter().all(|d| (1..=sides).contains(d)), "{line}: {dice:?} outside 1..={sides}");
        assert_eq!(n, 1, "{line}: the player's first roll");
        if sides == 2 {
            seen.extend(dice);
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), [1, 2], "twenty two-sided dice show both sides");
}

#[tokio::test]
async fn rolls_are_counted_per_user() {
    let bot = TestBot::with(Dice).await;
    assert_eq!(parse(&bot.send("!roll 1 2").await.text()).1, 1);
    assert_eq!(parse(&bot.send("!roll 3 6").await.text()).1, 2);
    assert_eq!(parse(&bot.send_as("bob", "!roll").await.text()).1, 1, "bob counts on his own");
}

#[tokio::test]
async fn bad_arguments_get_the_usage_line() {
    let bot = TestBot::with(Dice).await;
    assert_eq!(
        bot.send("!roll 21").await.text(),
        "`count` must be integer 0..=20, got 21\nUsage: !roll [count] [sides]"
    );
    assert_eq!(
        bot.send("!roll 2 1").await.text(),
        "`sides` must be integer 2..=65535, got 1\nUsage: !roll [count] [sides]"
    );
    assert_eq!(
        bot.send("!roll 2 six").await.text(),
        "`sides` must be integer 2..=65535, got `six`\nUsage: !roll [count] [sides]"
    );
}

#[tokio::test]
async fn the_cooldown_allows_five_rolls_per_ten_seconds_per_user() {
    let bot = TestBot::with(Dice).await;
    for i in 1..=5 {
        assert_eq!(parse(&bot.send("!roll").await.text()).1, i);
    }
    let text = bot.send("!roll").await.text();
    assert!(text.starts_with("`roll` is cooling down; try again in "), "{text}");
    assert_eq!(parse(&bot.send_as("other", "!roll").await.text()).1, 1, "the cooldown is per user");
}

#[tokio::test]
async fn help_and_schema_come_from_the_doc_comment() {
    let bot = TestBot::with(Dice).await;
    let help = bot.send("!help roll").await.text();
    assert!(help.starts_with("!roll\nRoll dice, e.g. `!roll 2 6`; counts your rolls."), "{help}");
    assert!(help.contains("Usage: !roll [count] [sides]"), "{help}");
    assert!(help.contains("count      how many dice (default 1) (integer 0..=20)"), "{help}");
    assert!(help.contains("Cooldown: 5 per 10s per user"), "{help}");
    let schema = bot.bot().commands().into_iter().find(|(_, c)| c.name == "roll").unwrap().1.to_discord_json();
    assert_eq!(schema["options"][0]["description"], "how many dice (default 1)");
    assert_eq!(schema["options"][1]["min_value"], 2);
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
