//! A script command against the same command written natively, in one bot and one run: round
//! trip and throughput through the whole path (queue, dispatcher, ranks, parser, handler,
//! reply); and a native command's round trip while a script spins at its limit, against the
//! same with nothing spinning.
//!
//! `cargo bench -p regis-lua --bench script` prints the table (`scripts/bench` runs it).

use regis::prelude::*;
use regis::Envelope;
use regis_lua::{Limits, ScriptPlugin};
use regis_testkit::TestBot;
use std::time::{Duration, Instant};

/// The native command.
pub struct Native;

#[plugin]
impl Native {
    /// Answer at once.
    #[command]
    async fn nop(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("ok")
    }
}

const SCRIPT: &str = r#"
return {
  name = "bench",
  description = "The same, as a script.",
  commands = {
    { name = "snop", description = "Answer at once.", run = function() return "ok" end },
    { name = "spin", description = "Spin until the limit.", run = function() while true do end end },
  },
}
"#;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

async fn call(bot: &TestBot, text: &str) -> Duration {
    let started = Instant::now();
    let envelope = Envelope::message("test", TestBot::user("u"), text);
    let _ = bot.bot().ingress().submit_and_wait(envelope).await;
    started.elapsed()
}

async fn burst(bot: &TestBot, text: &str, n: usize) -> f64 {
    let started = Instant::now();
    let ingress = bot.bot().ingress();
    for _ in 0..n {
        ingress.submit(Envelope::message("test", TestBot::user("u"), text)).await.expect("queue has room");
    }
    bot.bot().idle().await;
    bot.drain().await;
    n as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let rt = runtime();
    // Spinning runs into the time limit (the instruction budget is out of the way).
    let limits = Limits { instructions: u64::MAX, time: Duration::from_millis(500), ..Limits::default() };
    let script = ScriptPlugin::from_source("bench.lua", SCRIPT.to_string(), limits).expect("the script loads");
    let bot = rt.block_on(TestBot::builder().plugin(Native).plugin(script).start());
    let samples = 5_000;
    let (native, scripted, native_rate, script_rate, idle, busy) = rt.block_on(async {
        let (mut native, mut scripted) = (Vec::new(), Vec::new());
        for i in 0..(samples + 500) {
            let n = call(&bot, "!nop").await;
            let s = call(&bot, "!snop").await;
            if i >= 500 {
                native.push(n);
                scripted.push(s);
            }
            if i % 1000 == 0 {
                bot.drain().await;
            }
        }
        let native_rate = burst(&bot, "!nop", 10_000).await;
        let script_rate = burst(&bot, "!snop", 10_000).await;
        // A native command while a script spins at its limit, then as long with nothing
        // spinning.
        let spin_started = Instant::now();
        let spinning = tokio::spawn({
            let ingress = bot.bot().ingress();
            async move {
                for _ in 0..6 {
                    let envelope = Envelope::message("test", TestBot::user("spinner"), "!spin");
                    let _ = ingress.submit_and_wait(envelope).await;
                }
            }
        });
        let mut busy = Vec::new();
        while !spinning.is_finished() {
            busy.push(call(&bot, "!nop").await);
        }
        let spun = spin_started.elapsed();
        bot.drain().await;
        let mut idle = Vec::new();
        let idle_started = Instant::now();
        while idle_started.elapsed() < spun {
            idle.push(call(&bot, "!nop").await);
        }
        bot.drain().await;
        (native, scripted, native_rate, script_rate, idle, busy)
    });
    let sorted = |mut v: Vec<Duration>| {
        v.sort();
        v
    };
    let (native, scripted, idle, busy) = (sorted(native), sorted(scripted), sorted(idle), sorted(busy));
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!();
    println!("script plugins: a trivial command as a Lua script against the same native command (2 runtime threads)");
    println!("| measure                    |     script |     native | ratio |");
    println!("|----------------------------|-----------:|-----------:|------:|");
    for (name, p) in [("round trip p50 (µs)", 0.50), ("round trip p99 (µs)", 0.99)] {
        let (x, y) = (us(percentile(&scripted, p)), us(percentile(&native, p)));
        println!("| {name:<26} | {x:>10.1} | {y:>10.1} | {:>5.2} |", x / y);
    }
    println!(
        "| {:<26} | {script_rate:>10.0} | {native_rate:>10.0} | {:>5.2} |",
        "throughput (cmds/s)",
        script_rate / native_rate
    );
    println!();
    println!("a native command while one script spins at its time limit (0.5 s per call, 6 calls back to back)");
    println!("| measure                    |   spinning |       idle | ratio |");
    println!("|----------------------------|-----------:|-----------:|------:|");
    for (name, p) in [("round trip p50 (µs)", 0.50), ("round trip p99 (µs)", 0.99)] {
        let (x, y) = (us(percentile(&busy, p)), us(percentile(&idle, p)));
        println!("| {name:<26} | {x:>10.1} | {y:>10.1} | {:>5.2} |", x / y);
    }
    println!("({} samples while spinning, {} idle, over the same time)", busy.len(), idle.len());
}
