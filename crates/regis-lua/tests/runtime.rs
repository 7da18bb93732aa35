//! Scripts loaded, reloaded and unloaded while the bot runs: by the owner's commands, with
//! the Lua error of a script that does not load, the old version serving on when a reload
//! fails, and running calls waited for (or stopped after the grace period).

use regis_lua::{Limits, ScriptDirectory};
use regis_testkit::TestBot;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

fn write(dir: &Path, name: &str, answer: &str) {
    let source = format!(
        "return {{ description = 'A script.', commands = {{\n  {{ name = '{name}', description = 'Answer.', run = function(ctx) return '{answer}' end }},\n  {{ name = '{name}-slow', description = 'Answer slowly.', run = function(ctx) ctx:sleep(0.5) return 'slow {answer}' end }},\n}} }}\n"
    );
    std::fs::write(dir.join(format!("{name}.lua")), source).unwrap();
}

async fn bot(dir: &Path, grace: Duration) -> TestBot {
    TestBot::builder()
        .owner("boss")
        .configure(|c| c.shutdown_grace = grace)
        .plugin_source(Arc::new(ScriptDirectory::new(dir, |_| Limits::default())))
        .start()
        .await
}

#[tokio::test]
async fn the_owner_loads_reloads_and_unloads_a_script() {
    let scripts = tempfile::tempdir().unwrap();
    write(scripts.path(), "hello", "hello v1");
    let bot = bot(scripts.path(), Duration::from_secs(5)).await;
    assert_eq!(bot.send("!hello").await.text(), "hello v1", "loaded at start");

    write(scripts.path(), "later", "later v1");
    assert_eq!(bot.send("!later").await.text(), "Unknown command `!later`. Try `!help`.");
    assert_eq!(bot.send("!plugin load later").await.text(), "`plugin load` needs rank 999; yours is 0.");
    assert_eq!(bot.send_as("boss", "!plugin load later").await.text(), "Plugin `later` loaded.");
    assert_eq!(bot.send("!later").await.text(), "later v1");
    assert!(bot.send_as("boss", "!help").await.text().contains("!later"), "in help at once");
    let again = bot.send_as("boss", "!plugin load later").await.text();
    assert!(again.contains("`later` is loaded already: reload it"), "{again}");

    write(scripts.path(), "hello", "hello v2");
    assert_eq!(bot.send_as("boss", "!plugin reload hello").await.text(), "Plugin `hello` reloaded.");
    assert_eq!(bot.send("!hello").await.text(), "hello v2");

    std::fs::write(scripts.path().join("hello.lua"), "return {\n  commands = ,\n}\n").unwrap();
    let failed = bot.send_as("boss", "!plugin reload hello").await.text();
    assert!(failed.contains("hello.lua:2:"), "the owner sees the Lua error and line: {failed}");
    assert_eq!(bot.send("!hello").await.text(), "hello v2", "the running version keeps serving");

    assert_eq!(bot.send_as("boss", "!plugin unload hello").await.text(), "Plugin `hello` unloaded.");
    assert_eq!(bot.send("!hello").await.text(), "Unknown command `!hello`. Try `!help`.");
    assert!(!bot.send_as("boss", "!help").await.text().contains("!hello "), "gone from help at once");
    let native = bot.send_as("boss", "!plugin unload admin").await.text();
    assert!(native.contains("`admin` is compiled into the bot: disable it instead"), "{native}");
    let missing = bot.send_as("boss", "!plugin load nosuch").await.text();
    assert!(missing.contains("there is no script"), "{missing}");
    let sneaky = bot.send_as("boss", "!plugin load ../etc/passwd").await.text();
    assert!(sneaky.contains("cannot name a script file"), "{sneaky}");
}

#[tokio::test]
async fn unloading_waits_for_running_calls_and_reloading_lets_them_finish_on_the_old_version() {
    let scripts = tempfile::tempdir().unwrap();
    write(scripts.path(), "hello", "v1");
    let bot = Arc::new(bot(scripts.path(), Duration::from_secs(5)).await);
    let slow = |bot: &Arc<TestBot>| {
        let bot = Arc::clone(bot);
        tokio::spawn(async move { bot.send("!hello-slow").await.text() })
    };
    // A reload while a call runs: the call ends on the version it started with.
    let running = slow(&bot);
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    write(scripts.path(), "hello", "v2");
    assert_eq!(bot.send_as("boss", "!plugin reload hello").await.text(), "Plugin `hello` reloaded.");
    assert_eq!(bot.send("!hello").await.text(), "v2");
    assert_eq!(running.await.unwrap(), "slow v1");
    // An unload waits for the running call.
    let running = slow(&bot);
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    assert_eq!(bot.send_as("boss", "!plugin unload hello").await.text(), "Plugin `hello` unloaded.");
    assert!(running.is_finished(), "the unload answered only once the call had ended");
    assert_eq!(running.await.unwrap(), "slow v2");
}

#[tokio::test]
async fn calls_outliving_the_grace_period_are_stopped() {
    let scripts = tempfile::tempdir().unwrap();
    let source = "return { description = 'Slow.', commands = {\n  { name = 'nap', description = 'Nap.', run = function(ctx) ctx:sleep(30) return 'woke' end },\n} }\n";
    std::fs::write(scripts.path().join("nap.lua"), source).unwrap();
    let bot = Arc::new(bot(scripts.path(), Duration::from_millis(300)).await);
    let napping = {
        let bot = Arc::clone(&bot);
        tokio::spawn(async move { bot.send("!nap").await.text() })
    };
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    let unloaded = bot.send_as("boss", "!plugin unload nap").await.text();
    assert_eq!(unloaded, "Plugin `nap` unloaded; the calls still running after the grace period were stopped.");
    let stopped = tokio::time::timeout(Duration::from_secs(5), napping).await.expect("stopped at once").unwrap();
    assert!(stopped.contains("script plugin `nap` was unloaded while this ran"), "{stopped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_reloaded_a_new_one_loaded_and_a_removed_one_unloaded() {
    let scripts = tempfile::tempdir().unwrap();
    write(scripts.path(), "hello", "v1");
    let bot = bot(scripts.path(), Duration::from_secs(5)).await;
    let _watching = regis_lua::ScriptWatcher::start(scripts.path(), bot.bot().plugin_control()).unwrap();
    let answers = |command: &'static str, expected: &'static str| {
        let bot = &bot;
        async move {
            for _ in 0..100 {
                if bot.send(command).await.text() == expected {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("`{command}` never answered `{expected}`");
        }
    };
    write(scripts.path(), "hello", "v2");
    answers("!hello", "v2").await;
    write(scripts.path(), "fresh", "fresh v1");
    answers("!fresh", "fresh v1").await;
    std::fs::write(scripts.path().join("hello.lua"), "return {\n  commands = ,\n}\n").unwrap();
    tokio::time::sleep(regis_lua::DEBOUNCE * 3).await;
    assert_eq!(bot.send("!hello").await.text(), "v2", "a broken save keeps the running version");
    std::fs::remove_file(scripts.path().join("fresh.lua")).unwrap();
    answers("!fresh", "Unknown command `!fresh`. Try `!help`.").await;
}

/// Two bots sharing their state as two workers of one bot do: what the owner loads,
/// reloads or unloads on one, the other does too, from its own directory.
#[tokio::test]
async fn every_worker_follows_what_one_loads_reloads_and_unloads() {
    let scripts = tempfile::tempdir().unwrap();
    let shared = regis::SharedState::in_process(1000);
    let worker = || {
        TestBot::builder()
            .owner("boss")
            .shared_state(shared.clone())
            .plugin_source(Arc::new(ScriptDirectory::new(scripts.path(), |_| Limits::default())))
            .start()
    };
    let (a, b) = (worker().await, worker().await);
    write(scripts.path(), "hello", "v1");
    assert_eq!(a.send_as("boss", "!plugin load hello").await.text(), "Plugin `hello` loaded.");
    eventually(&b, "!hello", "v1").await;
    write(scripts.path(), "hello", "v2");
    assert_eq!(a.send_as("boss", "!plugin reload hello").await.text(), "Plugin `hello` reloaded.");
    eventually(&b, "!hello", "v2").await;
    assert_eq!(b.send_as("boss", "!plugin unload hello").await.text(), "Plugin `hello` unloaded.");
    eventually(&a, "!hello", "Unknown command `!hello`. Try `!help`.").await;
}

/// Waits until `bot` answers `command` with `expected`.
async fn eventually(bot: &TestBot, command: &str, expected: &str) {
    for _ in 0..100 {
        if bot.send(command).await.text() == expected {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("`{command}` never answered `{expected}` on the other worker");
}

/// Two workers with directories of their own (different machines): the version an owner
/// loads on one is the one both run, a worker starting later runs it too, and what an owner
/// unloaded stays out of a worker that starts later with the file in its directory.
#[tokio::test]
async fn every_worker_runs_the_version_last_loaded_anywhere() {
    let (dir_a, dir_b, data) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write(dir_b.path(), "hello", "old copy on b");
    let shared = regis::SharedState::in_process(1000);
    let worker = |dir: &Path| {
        TestBot::builder()
            .owner("boss")
            .data_dir(data.path())
            .shared_state(shared.clone())
            .plugin_source(Arc::new(ScriptDirectory::new(dir, |_| Limits::default())))
            .start()
    };
    let (a, b) = (worker(dir_a.path()).await, worker(dir_b.path()).await);
    assert_eq!(b.send("!hello").await.text(), "old copy on b");
    write(dir_a.path(), "hello", "v1 from a");
    let loaded = a.send_as("boss", "!plugin reload hello").await.text();
    assert!(loaded.contains("`hello` is not loaded"), "a had no hello: {loaded}");
    assert_eq!(a.send_as("boss", "!plugin load hello").await.text(), "Plugin `hello` loaded.");
    eventually(&b, "!hello", "v1 from a").await;
    let c = worker(dir_b.path()).await;
    assert_eq!(c.send("!hello").await.text(), "v1 from a", "a worker starting later runs the kept version");
    assert_eq!(a.send_as("boss", "!plugin unload hello").await.text(), "Plugin `hello` unloaded.");
    eventually(&b, "!hello", "Unknown command `!hello`. Try `!help`.").await;
    let d = worker(dir_b.path()).await;
    assert_eq!(d.send("!hello").await.text(), "Unknown command `!hello`. Try `!help`.", "unloaded stays out");
}
