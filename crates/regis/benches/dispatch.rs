//! Dispatch throughput for a trivial command and per-invocation overhead, through the whole
//! path (Envelope → in-process Queue → Dispatcher → rank check → parser → handler task →
//! connector), against a baseline measured in the same run: a bare tokio round trip (mpsc to a
//! worker task that spawns a task and answers on a oneshot), the least any queue-and-worker
//! design must pay.
//!
//! `cargo bench -p regis --bench dispatch` runs criterion and then prints a table.

use criterion::{criterion_group, Criterion, Throughput};
use regis::prelude::*;
use regis::Envelope;
use regis_testkit::TestBot;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The trivial command.
pub struct Bench;

#[plugin]
impl Bench {
    /// Answer at once.
    #[command]
    async fn nop(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("ok")
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

struct Baseline {
    tx: mpsc::Sender<oneshot::Sender<&'static str>>,
}

impl Baseline {
    fn start() -> Baseline {
        let (tx, mut rx) = mpsc::channel::<oneshot::Sender<&'static str>>(10_000);
        tokio::spawn(async move {
            while let Some(reply) = rx.recv().await {
                let task = tokio::spawn(async { "ok" });
                let _ = reply.send(task.await.unwrap_or("err"));
            }
        });
        Baseline { tx }
    }

    async fn call(&self) {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(tx).await;
        let _ = rx.await;
    }
}

async fn regis_call(bot: &TestBot) {
    let envelope = Envelope::message("test", TestBot::user("u"), "!nop");
    let _ = bot.bot().ingress().submit_and_wait(envelope).await;
}

async fn regis_burst(bot: &TestBot, n: usize) {
    let ingress = bot.bot().ingress();
    for _ in 0..n {
        let envelope = Envelope::message("test", TestBot::user("u"), "!nop");
        ingress.submit(envelope).await.expect("queue has room");
    }
    bot.bot().idle().await;
    bot.drain().await;
}

async fn baseline_burst(base: &Arc<Baseline>, n: usize) {
    let calls: Vec<_> = (0..n)
        .map(|_| {
            let base = base.clone();
            tokio::spawn(async move { base.call().await })
        })
        .collect();
    for c in calls {
        let _ = c.await;
    }
}

fn criterion_benches(c: &mut Criterion) {
    let rt = runtime();
    let bot = rt.block_on(TestBot::builder().plugin(Bench).start());
    let base = rt.block_on(async { Arc::new(Baseline::start()) });
    let mut group = c.benchmark_group("dispatch");
    group.measurement_time(Duration::from_secs(3)).sample_size(20);
    group.bench_function("regis round trip (sequential)", |b| b.to_async(&rt).iter(|| regis_call(&bot)));
    group.bench_function("baseline round trip (sequential)", |b| b.to_async(&rt).iter(|| base.call()));
    group.throughput(Throughput::Elements(1000));
    group.bench_function("regis burst of 1000", |b| b.to_async(&rt).iter(|| regis_burst(&bot, 1000)));
    group.bench_function("baseline burst of 1000", |b| b.to_async(&rt).iter(|| baseline_burst(&base, 1000)));
    group.finish();
}

criterion_group!(benches, criterion_benches);

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn table() {
    let rt = runtime();
    let bot = rt.block_on(TestBot::builder().plugin(Bench).start());
    let (regis_lat, base_lat, regis_tput, base_tput) = rt.block_on(async {
        let base = Arc::new(Baseline::start());
        let mut regis_lat = Vec::new();
        let mut base_lat = Vec::new();
        for i in 0..22_000 {
            let t = Instant::now();
            regis_call(&bot).await;
            let r = t.elapsed();
            let t = Instant::now();
            base.call().await;
            let b = t.elapsed();
            if i >= 2_000 {
                regis_lat.push(r);
                base_lat.push(b);
            }
            if i % 1000 == 0 {
                bot.drain().await;
            }
        }
        let n = 20_000;
        let t = Instant::now();
        for _ in 0..(n / 5000) {
            regis_burst(&bot, 5000).await;
        }
        let regis_tput = n as f64 / t.elapsed().as_secs_f64();
        let t = Instant::now();
        baseline_burst(&base, n).await;
        let base_tput = n as f64 / t.elapsed().as_secs_f64();
        (regis_lat, base_lat, regis_tput, base_tput)
    });
    let mut r = regis_lat;
    let mut b = base_lat;
    r.sort();
    b.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!();
    println!("dispatch of a trivial command (2 runtime threads, 32 workers, {} sequential samples)", r.len());
    println!("| measure                  |      regis |   baseline | ratio |");
    println!("|--------------------------|-----------:|-----------:|------:|");
    for (name, p) in [("round trip p50 (µs)", 0.50), ("round trip p99 (µs)", 0.99)] {
        let (x, y) = (us(percentile(&r, p)), us(percentile(&b, p)));
        println!("| {name:<24} | {x:>10.1} | {y:>10.1} | {:>5.1} |", x / y);
    }
    println!(
        "| {:<24} | {regis_tput:>10.0} | {base_tput:>10.0} | {:>5.2} |",
        "throughput (cmds/s)",
        regis_tput / base_tput
    );
    println!(
        "baseline: mpsc to a worker task that spawns a task and answers on a oneshot (no parsing, no ranks, no reply)"
    );
}

fn main() {
    let quick = std::env::args().any(|a| a == "--table-only");
    if !quick {
        benches();
        Criterion::default().configure_from_args().final_summary();
    }
    table();
}
