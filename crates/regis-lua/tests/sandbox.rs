//! The sandbox against a hostile script: each limit and each way out is tried, and each test
//! fails if its limit or wall is taken away. The bot must answer the runaway call with an
//! error naming the plugin and the limit, keep serving everyone else, and forget what the
//! runaway call wrote.

use regis_lua::{Limits, ScriptPlugin};
use regis_testkit::TestBot;
use std::time::Duration;

/// A plugin `evil` with one command per hostile body; `!run NAME` runs one.
fn evil(limits: Limits, bodies: &[(&str, &str)]) -> ScriptPlugin {
    let commands: Vec<String> = bodies
        .iter()
        .map(|(name, body)| {
            format!("{{ name = \"{name}\", description = \"Try {name}.\", run = function(ctx, args)\n{body}\nend }},")
        })
        .collect();
    let source = format!(
        "calls = (calls or 0)\nreturn {{ name = \"evil\", description = \"Hostile.\", commands = {{\n{}\n}} }}",
        commands.join("\n")
    );
    ScriptPlugin::from_source("evil.lua", source, limits).expect("evil.lua loads")
}

fn small() -> Limits {
    Limits { instructions: 2_000_000, time: Duration::from_secs(2), memory: 8 * 1024 * 1024 }
}

/// The reply to `!command`; a call that is never stopped fails the test instead of hanging it.
async fn reply(bot: &TestBot, command: &str) -> String {
    let text = format!("!{command}");
    let answer = tokio::time::timeout(Duration::from_secs(30), bot.send(&text));
    answer.await.unwrap_or_else(|_| panic!("`!{command}` got no answer in 30 s: nothing stopped it")).text()
}

#[tokio::test]
async fn an_endless_loop_is_stopped_by_the_instruction_budget_and_others_are_served() {
    let bot = TestBot::with(evil(small(), &[("spin", "while true do end")])).await;
    let stopped = reply(&bot, "spin").await;
    assert!(
        stopped.contains("script plugin `evil` was stopped: it reached its instruction budget (2000000 instructions)"),
        "{stopped}"
    );
    assert_eq!(reply(&bot, "ping").await, "pong");
}

#[tokio::test]
async fn protected_calls_in_a_loop_do_not_outlive_the_budget() {
    let bodies = [
        ("pcalls", "while true do pcall(function() while true do end end) end"),
        ("xpcalls", "while true do xpcall(function() while true do end end, function(e) return e end) end"),
        ("resumes", "while true do coroutine.resume(coroutine.create(function() while true do end end)) end"),
        ("wrapped", "local co = coroutine.wrap(function() while true do end end) co()"),
        ("swallowed", "pcall(function() while true do end end) return 'escaped'"),
    ];
    let bot = TestBot::with(evil(small(), &bodies)).await;
    for (name, _) in bodies {
        let stopped = reply(&bot, name).await;
        assert!(stopped.contains("instruction budget"), "{name}: {stopped}");
    }
}

#[tokio::test]
async fn a_loop_of_slow_steps_is_stopped_by_the_time_limit() {
    // Few instructions, much time: each string.rep runs long inside one VM instruction.
    let limits = Limits { instructions: u64::MAX, time: Duration::from_millis(300), memory: 64 * 1024 * 1024 };
    let bot = TestBot::with(evil(limits, &[("slow", "while true do local s = string.rep('x', 4000000) end")])).await;
    let stopped = reply(&bot, "slow").await;
    assert!(stopped.contains("its time limit (300ms of running time)"), "{stopped}");
}

#[tokio::test]
async fn memory_bombs_hit_the_memory_limit_and_the_state_is_built_again() {
    let limits = Limits { instructions: u64::MAX, time: Duration::from_secs(20), memory: 8 * 1024 * 1024 };
    let bodies = [
        ("rep", "local s = string.rep('x', 1 << 30) return #s"),
        ("grow", "local t = {} while true do t[#t + 1] = { 1, 2, 3, 4 } end"),
        ("caught", "while true do pcall(string.rep, 'x', 1 << 30) end"),
        ("count", "calls = calls + 1 return calls"),
    ];
    let bot = TestBot::with(evil(limits, &bodies)).await;
    assert_eq!(reply(&bot, "count").await, "1");
    assert_eq!(reply(&bot, "count").await, "2");
    for name in ["rep", "grow", "caught"] {
        let stopped = reply(&bot, name).await;
        assert!(stopped.contains("its memory limit (8388608 bytes)"), "{name}: {stopped}");
    }
    assert_eq!(reply(&bot, "count").await, "1", "the state was built again from the script");
    assert_eq!(reply(&bot, "ping").await, "pong");
}

#[tokio::test]
async fn deep_recursion_errors_and_yields_across_the_boundary_are_errors_not_crashes() {
    let bodies = [
        ("deep", "local function f(n) return 1 + f(n + 1) end return f(1)"),
        ("boom", "error('boom')"),
        ("sortyield", "table.sort({ 3, 2, 1 }, function(a, b) coroutine.yield() return a < b end)"),
        ("sortsleep", "table.sort({ 3, 2, 1 }, function(a, b) ctx:sleep(0) return a < b end)"),
        ("yield", "coroutine.yield() return 'resumed'"),
    ];
    let limits = Limits { instructions: u64::MAX, time: Duration::from_secs(10), memory: 64 * 1024 * 1024 };
    let bot = TestBot::with(evil(limits, &bodies)).await;
    let deep = reply(&bot, "deep").await;
    assert!(deep.starts_with("`deep` failed:") && deep.contains("stack overflow"), "{deep}");
    assert_eq!(reply(&bot, "boom").await, "`boom` failed: evil.lua:7: boom");
    for name in ["sortyield", "sortsleep"] {
        let refused = reply(&bot, name).await;
        assert!(refused.contains("yield across"), "{name}: {refused}");
    }
    assert_eq!(reply(&bot, "yield").await, "resumed", "a plain yield only gives the thread back");
    assert_eq!(reply(&bot, "ping").await, "pong");
}

#[tokio::test]
async fn the_standard_library_has_no_way_out() {
    let bodies = [
        ("io", "return tostring(io)"),
        ("execute", "return tostring(os.execute)"),
        ("getenv", "return tostring(os.getenv)"),
        ("require", "return tostring(require)"),
        ("package", "return tostring(package)"),
        ("debug", "return tostring(debug)"),
        ("dofile", "return tostring(dofile) .. tostring(loadfile)"),
        ("dump", "return tostring(string.dump)"),
        ("bytecode", "local f, e = load('\\27Lua\\84\\0') return tostring(f) .. ' ' .. tostring(e)"),
        ("text", "return load('return 1 + 1')()"),
        ("gc", "return select(2, pcall(collectgarbage, 'collect'))"),
        ("count", "return type(collectgarbage('count'))"),
        ("time", "return type(os.time()) .. type(os.clock())"),
    ];
    let bot = TestBot::with(evil(small(), &bodies)).await;
    for name in ["io", "execute", "getenv", "require", "package", "debug", "dump"] {
        assert_eq!(reply(&bot, name).await, "nil", "{name}");
    }
    assert_eq!(reply(&bot, "dofile").await, "nilnil");
    let bytecode = reply(&bot, "bytecode").await;
    assert!(bytecode.starts_with("nil ") && bytecode.contains("binary chunk"), "{bytecode}");
    assert_eq!(reply(&bot, "text").await, "2", "text chunks load");
    assert!(reply(&bot, "gc").await.contains("only \"count\""));
    assert_eq!(reply(&bot, "count").await, "number");
    assert_eq!(reply(&bot, "time").await, "numbernumber");
}

#[tokio::test]
async fn plugins_do_not_share_globals_or_the_string_metatable() {
    let writer = r#"
shared = "from a"
string.upper = function() return "hijacked" end
getmetatable("").__index.lower = function() return "hijacked" end
return { name = "a", description = "A.", commands = {
  { name = "a", description = "A.", run = function() return tostring(shared) .. " " .. ("x"):upper() end },
} }
"#;
    let reader = r#"
return { name = "b", description = "B.", commands = {
  { name = "b", description = "B.", run = function() return tostring(shared) .. " " .. ("x"):upper() .. ("Y"):lower() end },
} }
"#;
    let a = ScriptPlugin::from_source("a.lua", writer.into(), Limits::default()).unwrap();
    let b = ScriptPlugin::from_source("b.lua", reader.into(), Limits::default()).unwrap();
    let bot = TestBot::builder().plugin(a).plugin(b).start().await;
    assert_eq!(reply(&bot, "a").await, "from a hijacked");
    assert_eq!(reply(&bot, "b").await, "nil Xy");
}

#[tokio::test]
async fn what_a_failed_call_wrote_is_not_kept() {
    let bodies = [
        ("spinwrite", "ctx.store:set('k', 'spun') while true do end"),
        ("errwrite", "ctx.store:set('k', 'erred') error('after the write')"),
        ("read", "return tostring(ctx.store:get('k'))"),
        ("write", "ctx.store:set('k', 'kept') return ctx.store:get('k')"),
    ];
    let bot = TestBot::with(evil(small(), &bodies)).await;
    assert!(reply(&bot, "spinwrite").await.contains("instruction budget"));
    assert!(reply(&bot, "errwrite").await.contains("after the write"));
    assert_eq!(reply(&bot, "read").await, "nil");
    assert_eq!(reply(&bot, "write").await, "kept", "a call reads its own writes");
    assert_eq!(reply(&bot, "read").await, "kept", "a call that ends well writes them");
}

/// On one thread (the test's runtime), so that a spinning script that never gave the thread
/// back would hold every other command until its limit.
#[tokio::test(flavor = "current_thread")]
async fn a_script_spinning_to_its_limit_does_not_hold_up_other_commands() {
    let limits = Limits { instructions: u64::MAX, time: Duration::from_secs(3), memory: 8 * 1024 * 1024 };
    let bot = std::sync::Arc::new(
        TestBot::builder().plugin(evil(limits, &[("spin", "while true do end")])).workers(4).start().await,
    );
    let spinning = {
        let bot = std::sync::Arc::clone(&bot);
        tokio::spawn(async move { reply(&bot, "spin").await })
    };
    // While it spins (3 s of running time), other commands are answered, before it ends.
    bot.wait_in_flight(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!spinning.is_finished());
    for _ in 0..5 {
        assert_eq!(reply(&bot, "ping").await, "pong");
        assert!(!spinning.is_finished(), "the spin ended before the other commands were answered");
    }
    let stopped = spinning.await.unwrap();
    assert!(stopped.contains("its time limit (3s of running time)"), "{stopped}");
}
