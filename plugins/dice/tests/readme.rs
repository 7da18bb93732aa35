//! The README shows this plugin's source verbatim, and this plugin (not a copy) works as the
//! README says: the right number of dice, each within its sides, counted per user.

use regis_plugin_dice::Dice;
use regis_testkit::TestBot;

/// The dice of a reply `[a, b, c] (+ m) (= total) (roll #n)`, the total, and `n`.
fn parse(reply: &str) -> (Vec<i32>, i32, u64) {
    let (throw, count) = reply.split_once(" (roll #").unwrap_or_else(|| panic!("not a roll: {reply}"));
    let n = count.strip_suffix(')').and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no count: {reply}"));
    let (list, sum) = throw.split_once(']').unwrap_or_else(|| panic!("not a roll: {reply}"));
    let dice: Vec<i32> = list
        .strip_prefix('[')
        .unwrap_or_else(|| panic!("not a roll: {reply}"))
        .split(", ")
        .map(|d| d.parse().unwrap_or_else(|_| panic!("not a die: {d} in {reply}")))
        .collect();
    let total = match sum.rsplit_once(" = ") {
        Some((_, total)) => total.parse().unwrap_or_else(|_| panic!("not a total: {reply}")),
        None => dice.iter().sum(),
    };
    (dice, total, n)
}

#[tokio::test]
async fn dice_notation_rolls_as_many_dice_as_asked_within_their_sides() {
    let bot = TestBot::with(Dice).await;
    let mut seen = std::collections::BTreeSet::new();
    let cases: [(&str, usize, i32, i32); 7] = [
        ("!roll", 1, 6, 0),
        ("!roll 3", 3, 6, 0),
        ("!roll 2d6", 2, 6, 0),
        ("!roll d20", 1, 20, 0),
        ("!roll 3d8+2", 3, 8, 2),
        ("!roll dice=20d2-1", 20, 2, -1),
        ("!roll 1D100", 1, 100, 0),
    ];
    for (i, (line, count, sides, modifier)) in cases.into_iter().enumerate() {
        // A user each: the cooldown allows five rolls per user.
        let reply = bot.send_as(&format!("player{i}"), line).await.text();
        let (dice, total, n) = parse(&reply);
        assert_eq!(dice.len(), count, "{line}: {reply}");
        assert!(dice.iter().all(|d| (1..=sides).contains(d)), "{line}: {dice:?} outside 1..={sides}");
        assert_eq!(total, dice.iter().sum::<i32>() + modifier, "{line}: {reply}");
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
    assert_eq!(parse(&bot.send("!roll 1d2").await.text()).2, 1);
    assert_eq!(parse(&bot.send("!roll 3d6").await.text()).2, 2);
    assert_eq!(parse(&bot.send_as("bob", "!roll").await.text()).2, 1, "bob counts on his own");
}

#[tokio::test]
async fn what_cannot_be_rolled_gets_the_reason_and_the_usage_line_and_costs_no_cooldown() {
    let bot = TestBot::with(Dice).await;
    for (line, problem) in [
        ("!roll 0", "`dice` must be 1 to 20 dice, got 0"),
        ("!roll 21d6", "`dice` must be 1 to 20 dice, got 21"),
        ("!roll 2d1", "`dice` must have 2 to 1000 sides, got 1"),
        ("!roll d6+5000", "`dice` must add at most 1000 either way, got +5000"),
        ("!roll six", "`dice` must be dice such as 2d6, d20 or 3d8+2, got `six`"),
        ("!roll 2 6", "unexpected argument `6`"),
    ] {
        assert_eq!(bot.send(line).await.text(), format!("{problem}\nUsage: !roll [dice]"), "{line}");
    }
    // Six refusals, and still five rolls to go.
    for i in 1..=5 {
        assert_eq!(parse(&bot.send("!roll").await.text()).2, i);
    }
}

#[tokio::test]
async fn a_slash_command_option_is_checked_the_same_way() {
    let bot = TestBot::with(Dice).await;
    let reply = bot.slash("roll", serde_json::json!({ "dice": "3d8+2" })).await.text();
    let (dice, total, _) = parse(&reply);
    assert_eq!((dice.len(), total), (3, dice.iter().sum::<i32>() + 2), "{reply}");
    let refused = bot.slash("roll", serde_json::json!({ "dice": "0" })).await.text();
    assert_eq!(refused, "`dice` must be 1 to 20 dice, got 0\nUsage: /roll [dice]", "in slash syntax");
}

#[tokio::test]
async fn the_cooldown_allows_five_rolls_per_ten_seconds_per_user() {
    let bot = TestBot::with(Dice).await;
    for i in 1..=5 {
        assert_eq!(parse(&bot.send("!roll").await.text()).2, i);
    }
    let text = bot.send("!roll").await.text();
    assert!(text.starts_with("`roll` is cooling down; try again in "), "{text}");
    assert_eq!(parse(&bot.send_as("other", "!roll").await.text()).2, 1, "the cooldown is per user");
}

#[tokio::test]
async fn help_and_schema_come_from_the_doc_comment() {
    let bot = TestBot::with(Dice).await;
    let help = bot.send("!help roll").await.text();
    assert!(help.starts_with("!roll\nRoll dice, e.g. `!roll 2d6`, `!roll d20` or `!roll 3d8+2`; counts"), "{help}");
    assert!(help.contains("Usage: !roll [dice]"), "{help}");
    assert!(
        help.contains("dice       what to roll (default one six-sided die) (dice such as 2d6, d20 or 3d8+2)"),
        "{help}"
    );
    assert!(help.contains("Cooldown: 5 per 10s per user"), "{help}");
    let schema = bot.bot().commands().into_iter().find(|(_, c)| c.name == "roll").unwrap().1.to_discord_json();
    assert_eq!(schema["options"][0]["description"], "what to roll (default one six-sided die)");
    assert_eq!(schema["options"][0]["type"], 3, "a string option");
}

#[test]
fn readme_shows_this_source_verbatim() {
    let readme = include_str!("../../../README.md");
    let source = include_str!("../src/lib.rs");
    let start = readme.find("<!-- dice:start -->").expect("README has a dice:start marker");
    let end = readme.find("<!-- dice:end -->").expect("README has a dice:end marker");
    let block = &readme[start..end];
    let code = block
        .split_once("```rust,ignore\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .expect("a rust code block between the markers");
    assert_eq!(code, source, "README example and plugins/dice/src/lib.rs differ");
}
