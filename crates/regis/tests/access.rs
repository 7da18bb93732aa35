//! Ranks, bans, plugin states and their persistence across restarts.

use regis::prelude::*;
use regis_testkit::TestBot;

/// A counter with a moderators-only reset.
pub struct Counter;

#[plugin(migrations = ["CREATE TABLE hits (who TEXT NOT NULL);"])]
impl Counter {
    /// Count a hit in the plugin's own table.
    #[command]
    async fn hit(&self, ctx: &Ctx) -> Result<String> {
        sqlx_query(ctx, &ctx.author().key()).await
    }

    /// Reset the count (moderators).
    #[command(rank = 100)]
    async fn reset(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("reset")
    }
}

async fn sqlx_query(ctx: &Ctx, who: &str) -> Result<String> {
    use regis::sqlx::{self, Row};
    sqlx::query("INSERT INTO hits (who) VALUES ($1)").bind(who).execute(ctx.db().pool()).await?;
    let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM hits").fetch_one(ctx.db().pool()).await?.try_get("n")?;
    Ok(format!("{n} hits"))
}

#[tokio::test]
async fn required_rank_is_enforced() {
    let bot = TestBot::with(Counter).await;
    assert_eq!(bot.send("!reset").await.text(), "`reset` needs rank 100; yours is 0.");
    bot.set_rank("tester", 100).await;
    assert_eq!(bot.send("!reset").await.text(), "reset");
}

#[tokio::test]
async fn help_lists_only_what_the_asker_may_run() {
    let bot = TestBot::builder().plugin(Counter).owner("boss").start().await;
    let everyone = bot.send("!help").await.text();
    assert!(everyone.contains("!hit") && everyone.contains("!ping"), "{everyone}");
    assert!(!everyone.contains("!reset") && !everyone.contains("!ban"), "{everyone}");
    assert!(bot.send("!help ban").await.text().starts_with("No command `ban` that you may run."));
    let owner = bot.send_as("boss", "!help").await.text();
    assert!(owner.contains("!reset") && owner.contains("!ban") && owner.contains("!rank set"), "{owner}");
}

#[tokio::test]
async fn help_explains_a_group_of_commands_and_the_commands_under_a_command() {
    let bot = TestBot::builder().plugin(Counter).owner("boss").start().await;
    let group = bot.send_as("boss", "!help plugin").await.text();
    assert!(group.starts_with("`!plugin` is a group of commands:\n"), "{group}");
    assert!(group.contains("!plugin enable") && group.contains("!plugin disable"), "{group}");
    let rank = bot.send_as("boss", "!help RANK").await.text();
    assert!(rank.starts_with("!rank\nShow a user's rank"), "{rank}");
    assert!(rank.contains("\n\nAlso:\n  !rank set"), "{rank}");
    // Only what the asker may run: `plugin enable` needs an owner, `rank set` rank 100.
    assert_eq!(bot.send("!help plugin").await.text(), "No command `plugin` that you may run. Try `!help`.");
    assert!(!bot.send("!help rank").await.text().contains("Also"));
}

#[tokio::test]
async fn help_asked_by_slash_command_speaks_slash_syntax() {
    let bot = TestBot::builder().plugin(Counter).start().await;
    bot.set_rank("tester", 100).await;
    let list = bot.slash("help", serde_json::json!({})).await.text();
    assert!(list.contains("\n  /hit ") && list.contains("\n  /rank-set "), "{list}");
    assert!(!list.contains("!hit") && !list.contains("rank set"), "{list}");
    assert!(list.ends_with("`/help command:<name>` explains one."), "{list}");
    let one = bot.slash("help", serde_json::json!({ "command": "rank-set" })).await.text();
    assert!(one.starts_with("/rank-set\nSet a user's rank"), "{one}");
    assert!(one.contains("\n\nUsage: /rank-set <user> <rank>\n"), "{one}");
    let group = bot.slash("help", serde_json::json!({ "command": "rank" })).await.text();
    assert!(group.contains("\n\nAlso:\n  /rank-set "), "{group}");
    let unknown = bot.slash("help", serde_json::json!({ "command": "nosuch" })).await.text();
    assert_eq!(unknown, "No command `nosuch` that you may run. Try `/help`.");
    let bad = bot.slash("rank-set", serde_json::json!({ "user": "bob" })).await.text();
    assert!(bad.ends_with("\nUsage: /rank-set <user> <rank>"), "{bad}");
    // The same bot answering a message speaks its prefix.
    let list = bot.send("!help").await.text();
    assert!(list.contains("\n  !rank set ") && list.ends_with("`!help <command>` explains one."), "{list}");
}

#[tokio::test]
async fn commands_for_a_rank_and_above_are_registered_for_administrators_only() {
    let bot = TestBot::builder().plugin(Counter).start().await;
    let permissions = |admin_rank: Option<i64>| {
        let commands = bot.bot().application_commands(admin_rank.map(|r| Rank::new(r).unwrap()));
        let of =
            |name: &str| commands.iter().find(|c| c["name"] == name).unwrap()["default_member_permissions"].clone();
        (of("hit"), of("reset"), of("ban"))
    };
    let none = serde_json::Value::Null;
    let admins = serde_json::json!("0");
    assert_eq!(permissions(None), (none.clone(), none.clone(), serde_json::json!("4")));
    assert_eq!(permissions(Some(999)), (none.clone(), none.clone(), serde_json::json!("4")));
    assert_eq!(permissions(Some(100)), (none.clone(), admins.clone(), serde_json::json!("4")), "declared stays");
    assert_eq!(permissions(Some(0)), (admins.clone(), admins, serde_json::json!("4")));
}

#[tokio::test]
async fn rank_set_cannot_escalate() {
    let bot = TestBot::builder().plugin(Counter).owner("boss").start().await;
    bot.set_rank("mod", 100).await;
    let refused = bot.send_as("mod", "!rank set @bob 100").await.text();
    assert_eq!(refused, "`rank set` failed: you cannot grant rank 100: it must be below your own (100)");
    let refused = bot.send_as("mod", "!rank set @mod 500").await.text();
    assert!(refused.contains("cannot grant rank 500"), "{refused}");
    assert_eq!(bot.send_as("mod", "!rank set @bob 50").await.text(), "bob now has rank 50.");
    bot.set_rank("peer", 100).await;
    let refused = bot.send_as("mod", "!rank set @peer 0").await.text();
    assert!(refused.contains("peer has rank 100, not below your own"), "{refused}");
    let refused = bot.send_as("mod", "!rank set @bob -1").await.text();
    assert!(refused.contains("banning needs rank 999"), "{refused}");
    let refused = bot.send_as("mod", "!rank set @boss 0").await.text();
    assert!(refused.contains("boss is an owner"), "{refused}");
    assert_eq!(bot.send_as("bob", "!rank set @carl 10").await.text(), "`rank set` needs rank 100; yours is 50.");
    assert_eq!(bot.send("!rank @bob").await.text(), "bob has rank 50.");
}

#[tokio::test]
async fn banned_users_are_ignored_silently() {
    let bot = TestBot::builder().plugin(Counter).owner("boss").start().await;
    assert_eq!(bot.send_as("boss", "!ban @troll").await.text(), "troll is banned.");
    assert!(bot.send_as("troll", "!ping").await.is_empty());
    assert!(bot.send_as("troll", "!nonsense").await.is_empty());
    assert_eq!(bot.send_as("boss", "!unban @troll").await.text(), "troll is no longer banned.");
    assert_eq!(bot.send_as("troll", "!ping").await.text(), "pong");
    assert_eq!(bot.send_as("tester", "!ban @boss").await.text(), "`ban` needs rank 999; yours is 0.");
}

#[tokio::test]
async fn data_ranks_bans_and_plugin_states_survive_a_restart() {
    let bot = TestBot::builder().plugin(Counter).owner("boss").start().await;
    assert_eq!(bot.send("!hit").await.text(), "1 hits");
    assert_eq!(bot.send("!hit").await.text(), "2 hits");
    bot.send_as("boss", "!rank set @helper 100").await;
    bot.send_as("boss", "!ban @troll").await;
    assert_eq!(bot.send_as("boss", "!plugin disable counter").await.text(), "Plugin `counter` disabled.");
    assert_eq!(bot.send("!hit").await.text(), "`hit` is unavailable: plugin `counter` is disabled.");
    assert!(bot.data_dir().join("plugins/counter.db").exists());
    assert!(bot.data_dir().join("core.db").exists());

    let bot = bot.restart().await;
    assert_eq!(bot.send("!hit").await.text(), "`hit` is unavailable: plugin `counter` is disabled.");
    assert!(bot.send_as("boss", "!plugins").await.text().contains("counter    disabled"));
    assert_eq!(bot.send_as("boss", "!plugin enable counter").await.text(), "Plugin `counter` enabled.");
    assert_eq!(bot.send("!hit").await.text(), "3 hits");
    assert_eq!(bot.send("!rank @helper").await.text(), "helper has rank 100.");
    assert!(bot.send_as("troll", "!ping").await.is_empty());
    let refused = bot.send_as("boss", "!plugin disable admin").await.text();
    assert_eq!(refused, "`plugin disable` failed: plugin `admin` cannot disable itself");
    let unknown = bot.send_as("boss", "!plugin enable nope").await.text();
    assert_eq!(unknown, "`plugin enable` failed: no plugin named `nope`");
}

#[tokio::test]
async fn a_command_rank_for_no_command_stops_the_start_with_the_closest_name() {
    let dir = tempfile::tempdir().unwrap();
    for (key, expected) in [
        ("rank-set", "no command is named `rank-set` (did you mean `rank set`?)"),
        ("bann", "no command is named `bann` (did you mean `ban`?)"),
        ("launch", "no command is named `launch`"),
    ] {
        let mut config = regis::CoreConfig::default();
        config.command_ranks.insert(key.into(), Rank::new(5).unwrap());
        let started = regis::Bot::builder(config)
            .storage(regis::SqliteBackend::new(dir.path()))
            .plugin(regis::admin::Admin)
            .plugin(Counter)
            .start()
            .await;
        let err = started.err().expect("refused").to_string();
        assert!(err.ends_with(expected), "{err}");
    }
}

#[tokio::test]
async fn command_rank_overrides_from_configuration() {
    let bot = TestBot::builder()
        .plugin(Counter)
        .configure(|c| {
            c.command_ranks.insert("ban".into(), Rank::new(500).unwrap());
        })
        .start()
        .await;
    bot.set_rank("admin", 500).await;
    assert_eq!(bot.send_as("admin", "!ban @x").await.text(), "x is banned.");
}
