//! Whole-system figures of the IRC connector (used by `scripts/bench`):
//!
//! `irc_bench REGIS_BINARY` starts a private InspIRCd (no fake lag, no command rate limit for
//! clients, so that the server measures itself and not its throttles), then prints commands
//! per second (at most 50 unanswered at a time) and p50/p99 round trips of `!ping` sent in private to `regis run` connected to
//! it, with the bot's flood control off and on (the defaults: a burst of 5, then 2 lines per
//! second), against the baseline of the same test client sending the same line to itself
//! through the server.

use regis_testkit::ircd::Client;
use regis_testkit::sasl_ircd::SaslServer;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Sequential round trips measured per setup.
const ROUND_TRIPS: usize = 300;
/// Commands sent for the rate, and how many may be unanswered at a time (a server that gets
/// thousands of lines at once from one client stalls it for whole seconds: InspIRCd resumes a
/// paused client on its one-second timer).
const PIPELINED: usize = 5000;
const WINDOW: usize = 50;
/// The same with flood control on (it lets out 2 lines per second after its burst).
const FLOOD_ROUND_TRIPS: usize = 20;
const FLOOD_PIPELINED: usize = 25;
/// The test client's nick.
const NICK: &str = "bencher";

/// A `regis run` on the server, killed when dropped.
struct Bot(Child);

impl Drop for Bot {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// `regis run` as `BenchBot` on `addr`, flood control on or off, in `dir`.
fn start_bot(binary: &str, addr: &str, flood: bool, dir: &std::path::Path) -> Bot {
    let mut command = Command::new(binary);
    command
        .arg("run")
        .current_dir(dir)
        .env_remove("DISCORD_TOKEN")
        .env_remove("DISCORD_PUBLIC_KEY")
        .env_remove("RUST_LOG")
        .env("REGIS_LOG", "error")
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{}", free_port()))
        .env("REGIS_IRC_SERVER", addr)
        .env("REGIS_IRC_NICK", "BenchBot")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if !flood {
        command.env("REGIS_IRC_FLOOD_PER_SECOND", "0");
    }
    Bot(command.spawn().unwrap_or_else(|e| panic!("cannot start {binary}: {e}")))
}

/// Sends `line` to `to` and waits for the next message from `from`.
async fn round_trip(client: &mut Client, to: &str, from: &str, line: &str) -> Duration {
    let started = Instant::now();
    client.send(&format!("PRIVMSG {to} :{line}")).await;
    client.privmsg(from, NICK).await;
    started.elapsed()
}

/// `n` sequential round trips: their p50 and p99.
async fn latencies(client: &mut Client, to: &str, from: &str, line: &str, n: usize) -> (Duration, Duration) {
    let mut all = Vec::with_capacity(n);
    for _ in 0..n {
        all.push(round_trip(client, to, from, line).await);
    }
    all.sort();
    let at = |q: f64| all[((all.len() as f64 * q) as usize).min(all.len() - 1)];
    (at(0.5), at(0.99))
}

/// `n` lines with up to `window` unanswered at a time: answers per second until the last
/// arrives.
async fn rate(client: &mut Client, to: &str, from: &str, line: &str, n: usize, window: usize) -> f64 {
    let started = Instant::now();
    let mut sent = 0;
    for received in 0..n {
        while sent < n && sent - received < window {
            client.send(&format!("PRIVMSG {to} :{line}")).await;
            sent += 1;
        }
        client.privmsg(from, NICK).await;
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// Waits until the bot answers (it registers a moment after its start).
async fn wait_for_bot(client: &mut Client) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        client.send("PRIVMSG BenchBot :!ping").await;
        if tokio::time::timeout(Duration::from_secs(1), client.privmsg("BenchBot", NICK)).await.is_ok() {
            // Answers to earlier attempts may still come.
            while tokio::time::timeout(Duration::from_millis(1500), client.privmsg("BenchBot", NICK)).await.is_ok() {}
            return;
        }
        assert!(Instant::now() < deadline, "the bot never answered on IRC");
    }
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let binary = std::env::args().nth(1).expect("usage: irc_bench REGIS_BINARY");
    // The bots run in directories of their own.
    let binary = std::fs::canonicalize(&binary).unwrap_or_else(|e| panic!("{binary}: {e}"));
    let binary = binary.to_string_lossy();
    let server = SaslServer::start(&[]);
    let addr = server.addr();
    let mut client = Client::connect_to(&addr, NICK).await;
    // Baseline: the client to itself through the server.
    let (base_p50, base_p99) = latencies(&mut client, NICK, NICK, "ping", ROUND_TRIPS).await;
    let base_rate = rate(&mut client, NICK, NICK, "ping", PIPELINED, WINDOW).await;

    let dir = tempfile::tempdir().expect("a temporary directory");
    let bot = start_bot(&binary, &addr, false, dir.path());
    wait_for_bot(&mut client).await;
    let (off_p50, off_p99) = latencies(&mut client, "BenchBot", "BenchBot", "!ping", ROUND_TRIPS).await;
    let off_rate = rate(&mut client, "BenchBot", "BenchBot", "!ping", PIPELINED, WINDOW).await;
    drop(bot);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let bot = start_bot(&binary, &addr, true, dir.path());
    wait_for_bot(&mut client).await;
    // A full bucket again after the wait's answers.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let on_rate = rate(&mut client, "BenchBot", "BenchBot", "!ping", FLOOD_PIPELINED, FLOOD_PIPELINED).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (on_p50, on_p99) = latencies(&mut client, "BenchBot", "BenchBot", "!ping", FLOOD_ROUND_TRIPS).await;
    drop(bot);

    println!("IRC: !ping in private through a private InspIRCd on loopback (no fake lag)");
    println!("| setup | round trips | p50 | p99 | commands/s (sent, at most in flight) | rate vs baseline |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| test client to itself — baseline | {ROUND_TRIPS} | {} | {} | {base_rate:.0} ({PIPELINED}, {WINDOW}) | 1.00× |",
        ms(base_p50),
        ms(base_p99)
    );
    println!(
        "| regis run, flood control off | {ROUND_TRIPS} | {} | {} | {off_rate:.0} ({PIPELINED}, {WINDOW}) | {:.2}× |",
        ms(off_p50),
        ms(off_p99),
        off_rate / base_rate
    );
    println!(
        "| regis run, flood control on (burst 5, 2/s) | {FLOOD_ROUND_TRIPS} | {} | {} | {on_rate:.1} ({FLOOD_PIPELINED}, all) | {:.5}× |",
        ms(on_p50),
        ms(on_p99),
        on_rate / base_rate
    );
    println!(
        "Round trip added by the bot (flood control off): p50 {} ({:.1}× the baseline's).",
        ms(off_p50.saturating_sub(base_p50)),
        off_p50.as_secs_f64() / base_p50.as_secs_f64()
    );
}
