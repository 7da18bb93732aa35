//! Whole-system figures of the scaled-out bot (used by `scripts/bench`):
//!
//! `scaleout REGIS_BINARY` (built with the `bench-commands` feature, for `/wait`) starts a
//! private nats-server and the fake Discord, then runs `regis run` and `regis serve` processes
//! and prints five tables, each with its baseline measured in the same run:
//!
//! 1. CPU time per envelope across all processes (nats-server included), JetStream
//!    (receiver + worker) against the in-process `regis run`;
//! 2. an I/O-bound handler (`/wait`, 200 ms) with 1, 2 and 3 workers of 8 slots each;
//! 3. `/mando` interactions per second with 1, 2 and 3 workers;
//! 4. the receiver's answer latency while the workers are saturated, against idle workers;
//! 5. `/ping` and `/mando` end to end on each queue, the same worker: NATS JetStream (the
//!    baseline), and Google Cloud Pub/Sub pulled and pushed (a private emulator, the shared
//!    state in PostgreSQL at `TEST_DATABASE_URL`);
//!
//! and the receiver's cold start against `regis run`'s.
//!
//! `SCALEOUT_ONLY=cpu` prints the first table only; `SCALEOUT_ONLY=latency` the fourth,
//! `SCALEOUT_ONLY=queues` the fifth.

use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use regis_testkit::fake_discord::FakeDiscord;
use std::collections::HashSet;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0)).unwrap_or(0)
}

/// A child process, killed when dropped.
struct Proc {
    child: Child,
    log: Arc<std::sync::Mutex<String>>,
}

impl Proc {
    fn spawn(mut command: Command) -> Proc {
        command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(stderr) = child.stderr.take() {
            let sink = log.clone();
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                    let mut log = sink.lock().unwrap_or_else(|e| e.into_inner());
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        Proc { child, log }
    }

    fn wait_for_log(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.log.lock().unwrap_or_else(|e| e.into_inner()).contains(needle) {
            assert!(
                Instant::now() < deadline,
                "no `{needle}` in: {}",
                self.log.lock().unwrap_or_else(|e| e.into_inner())
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// CPU time (user + system) used so far, from `/proc/PID/stat`.
    fn cpu(&self) -> Duration {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        let fields: Vec<&str> =
            stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
        let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Duration::from_secs_f64((ticks(11) + ticks(12)) as f64 / clock_ticks() as f64)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- log of {:?}:\n{}", self.child.id(), self.log.lock().unwrap_or_else(|e| e.into_inner()));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn clock_ticks() -> u64 {
    static TICKS: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

fn cpu_of(procs: &[&Proc]) -> Duration {
    procs.iter().map(|p| p.cpu()).sum()
}

/// Signed request bodies.
struct Signed {
    body: Bytes,
    signature: String,
    timestamp: String,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(3_000_000_000);

/// `n` interactions of `command`, each with a fresh id, token and user (no cooldown is shared).
fn commands(key: &SigningKey, command: &str, n: usize) -> Vec<Signed> {
    (0..n)
        .map(|_| {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            let body = serde_json::json!({
                "type": 2, "id": id.to_string(), "application_id": "775799577604522054",
                "token": format!("token-{id}"), "version": 1, "attachment_size_limit": 26214400,
                "authorizing_integration_owners": {"0": "290926798626357999"},
                "guild_id": "290926798626357999", "channel_id": "645027906669510667", "locale": "en-US",
                "member": {"user": {"id": id.to_string(), "username": "Mason", "avatar": null, "discriminator": "1337"},
                           "roles": [], "permissions": "2147483647", "pending": false, "nick": null, "mute": false,
                           "joined_at": "2017-03-13T19:19:14.040000+00:00", "deaf": false, "flags": 0},
                "data": {"type": 1, "name": command, "id": "771825006014889984", "options": []}
            });
            sign(key, body.to_string())
        })
        .collect()
}

fn pings(key: &SigningKey, n: usize) -> Vec<Signed> {
    (0..n).map(|_| sign(key, r#"{"type":1}"#.to_string())).collect()
}

fn sign(key: &SigningKey, body: String) -> Signed {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body.as_bytes());
    Signed { signature: hex::encode(key.sign(&message).to_bytes()), timestamp, body: Bytes::from(body) }
}

/// One answer: its latency, status, and whether it was "deferred".
struct Answer {
    /// Which request it answers.
    index: usize,
    latency: Duration,
    status: u16,
    deferred: bool,
}

async fn post(client: &HttpClient, url: &str, req: &Signed) -> Result<(u16, bool), String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("x-signature-ed25519", &req.signature)
        .header("x-signature-timestamp", &req.timestamp)
        .body(Full::new(req.body.clone()))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, body.as_ref() == br#"{"type":5}"#))
}

/// Sends `requests` to `url` from `concurrency` clients.
async fn load(url: &str, requests: Vec<Signed>, concurrency: usize) -> Vec<Answer> {
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(concurrency).build_http();
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, requests, next) = (client.clone(), url.to_string(), requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = requests.get(i) else { break };
                    let started = Instant::now();
                    let (status, deferred) =
                        match tokio::time::timeout(Duration::from_secs(10), post(&client, &url, request)).await {
                            Ok(Ok(answer)) => answer,
                            _ => (0, false),
                        };
                    answers.push(Answer { index: i, latency: started.elapsed(), status, deferred });
                }
                answers
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    all.sort_by_key(|a| a.index);
    all
}

fn percentile(latencies: &mut [Duration], p: f64) -> Duration {
    latencies.sort();
    latencies.get(((latencies.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// The queue the roles meet on.
#[derive(Clone)]
enum Backbone {
    /// NATS JetStream at this URL.
    Nats(String),
    /// Pub/Sub on the emulator at `emulator`, the workers' shared state in `database`;
    /// `push`: Pub/Sub pushes to the workers.
    PubSub { emulator: String, database: String, push: bool },
}

struct Setup {
    regis: String,
    queue: Backbone,
    api: String,
    public: String,
    dirs: Vec<tempfile::TempDir>,
}

impl Setup {
    fn dir(&mut self) -> std::path::PathBuf {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().to_path_buf();
        self.dirs.push(dir);
        path
    }

    fn command(&mut self, args: &[&str], env: &[(&str, String)]) -> Command {
        let mut command = Command::new(&self.regis);
        let log = std::env::var("SCALEOUT_REGIS_LOG").unwrap_or_else(|_| "warn".into());
        command.args(args).current_dir(self.dir()).env("REGIS_LOG", log).env("REGIS_DISCORD_API_URL", &self.api);
        for var in ["RUST_LOG", "DISCORD_TOKEN", "DISCORD_PUBLIC_KEY"] {
            command.env_remove(var);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        command
    }

    fn run_process(&mut self, port: u16) -> Proc {
        let env = [("DISCORD_PUBLIC_KEY", self.public.clone()), ("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))];
        Proc::spawn(self.command(&["run"], &env))
    }

    /// The environment that puts a process of bot `bot` on the queue.
    fn queue_env(&self, bot: &str) -> Vec<(&'static str, String)> {
        match &self.queue {
            Backbone::Nats(url) => vec![("REGIS_QUEUE_URL", url.clone()), ("REGIS_BOT_NAME", bot.to_string())],
            Backbone::PubSub { emulator, .. } => vec![
                ("REGIS_QUEUE_URL", format!("pubsub://regis-bench/{bot}")),
                ("REGIS_BOT_NAME", bot.to_string()),
                ("PUBSUB_EMULATOR_HOST", emulator.clone()),
            ],
        }
    }

    fn receiver(&mut self, bot: &str, port: u16, extra: &[(&str, String)]) -> Proc {
        let mut env =
            vec![("DISCORD_PUBLIC_KEY", self.public.clone()), ("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))];
        env.extend(self.queue_env(bot));
        env.extend(extra.iter().cloned());
        Proc::spawn(self.command(&["serve", "--role", "receiver"], &env))
    }

    fn worker(&mut self, bot: &str, slots: usize) -> Proc {
        let mut env = self.queue_env(bot);
        env.push(("REGIS_WORKERS", slots.to_string()));
        if let Backbone::PubSub { database, push, .. } = &self.queue {
            env.push(("REGIS_DATABASE_URL", database.clone()));
            if *push {
                let port = free_port();
                env.push(("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}")));
                env.push(("REGIS_PUBSUB_PUSH_ENDPOINT", format!("http://127.0.0.1:{port}/pubsub/push")));
            }
        }
        let worker = Proc::spawn(self.command(&["serve", "--role", "worker"], &env));
        worker.wait_for_log("worker consuming");
        worker
    }
}

/// The messages nats-server has taken in and sent out so far (`/varz` of its monitoring port).
async fn nats_messages(monitor_port: u16) -> [u64; 2] {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let request = hyper::Request::get(format!("http://127.0.0.1:{monitor_port}/varz")).body(Full::new(Bytes::new()));
    let varz = match request {
        Ok(request) => match client.request(request).await {
            Ok(response) => response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default(),
            Err(e) => panic!("nats-server's monitoring port: {e}"),
        },
        Err(e) => panic!("{e}"),
    };
    let varz: serde_json::Value = serde_json::from_slice(&varz).unwrap_or_default();
    [varz["in_msgs"].as_u64().unwrap_or(0), varz["out_msgs"].as_u64().unwrap_or(0)]
}

async fn wait_up(url: &str, key: &SigningKey) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let answers = load(url, pings(key, 1), 1).await;
        if answers.first().is_some_and(|a| a.status == 200) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `tokens` of the deferred interactions all have their `@original` edited.
async fn edits_of(fake: &FakeDiscord, tokens: &HashSet<String>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let edited: HashSet<String> = fake
            .calls()
            .iter()
            .filter(|c| c.path.ends_with("/messages/@original"))
            .filter_map(|c| c.path.split('/').nth(3).map(str::to_string))
            .collect();
        let missing = tokens.iter().filter(|t| !edited.contains(*t)).count();
        if missing == 0 {
            return;
        }
        if Instant::now() >= deadline {
            let calls = fake.calls();
            let first = tokens.iter().find(|t| !edited.contains(*t)).cloned().unwrap_or_default();
            let about: Vec<String> = calls
                .iter()
                .filter(|c| c.path.contains(&first))
                .map(|c| format!("{} {} {}", c.method, c.path, c.status))
                .collect();
            let stray: Vec<String> = calls
                .iter()
                .filter(|c| !c.path.split('/').nth(3).is_some_and(|t| tokens.contains(t)))
                .take(3)
                .map(|c| format!("{} {} {}", c.method, c.path, c.status))
                .collect();
            panic!(
                "{missing} deferred interactions never edited; {} calls in all; {first}: {about:?}; stray: {stray:?}",
                calls.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A run of `n` interactions of `command` through one receiver to `workers` workers of
/// `slots` slots each, from `concurrency` clients.
struct Load {
    command: &'static str,
    workers: usize,
    slots: usize,
    n: usize,
    concurrency: usize,
}

/// The time until every interaction of `load` is answered (inline, or its deferral edited),
/// and the share answered inline.
async fn throughput(setup: &mut Setup, fake: &FakeDiscord, key: &SigningKey, load_of: Load) -> (Duration, f64) {
    let Load { command, workers, slots, n, concurrency } = load_of;
    // A name of this run's own: the dedupe records of an earlier run's interactions (the ids
    // start at the same number every run) would answer them as duplicates.
    let run = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let bot = format!("bench-{command}-{workers}-{}-{run:08x}", NEXT_ID.load(Ordering::Relaxed) % 100_000);
    let port = free_port();
    let _workers: Vec<Proc> = (0..workers).map(|_| setup.worker(&bot, slots)).collect();
    let _receiver = setup.receiver(&bot, port, &[]);
    let url = format!("http://127.0.0.1:{port}/interactions");
    wait_up(&url, key).await;
    let requests = commands(key, command, n);
    let tokens: Vec<String> = requests
        .iter()
        .map(|r| {
            serde_json::from_slice::<serde_json::Value>(&r.body)
                .map(|v| v["token"].as_str().unwrap_or_default().to_string())
                .unwrap_or_default()
        })
        .collect();
    let started = Instant::now();
    let answers = load(&url, requests, concurrency).await;
    let deferred: HashSet<String> =
        answers.iter().zip(&tokens).filter(|(a, _)| a.deferred).map(|(_, t)| t.clone()).collect();
    let failed = answers.iter().filter(|a| a.status != 200).count();
    eprintln!("  {command} × {n} on {workers} worker(s): {} deferred, {failed} not answered 200", deferred.len());
    edits_of(fake, &deferred).await;
    let took = started.elapsed();
    if let Backbone::PubSub { database, .. } = &setup.queue {
        regis_testkit::services::drop_schemas(database, &bot).await;
    }
    (took, (n - deferred.len()) as f64 / n as f64)
}

/// An open-loop flood: `requests` sent at `per_second`, each on a task of its own (however
/// slowly they are answered), until all are sent or `flooding` turns false.
async fn flood_at(url: String, requests: Vec<Signed>, per_second: u32, flooding: Arc<AtomicBool>) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / per_second);
    let mut sent = Vec::new();
    for request in requests {
        if !flooding.load(Ordering::Relaxed) {
            break;
        }
        ticks.tick().await;
        let (client, url) = (client.clone(), url.clone());
        sent.push(tokio::spawn(async move { post(&client, &url, &request).await }));
    }
    for request in sent {
        let _ = request.await;
    }
}

/// The receiver's answer latency (the fourth table) while its workers are saturated: PINGs and `/ping`
/// interactions from 4 clients, idle, then while `/wait` (200 ms each) arrives far faster than
/// 1 worker of 8 slots takes it (40 a second). The flood is open-loop at a fixed rate, signed
/// beforehand, so that it saturates the workers and not the machine's cores; a last row floods
/// closed-loop (64 at a time, as fast as answered), where the receiver's own CPU is the bound.
async fn latency_under_saturation(setup: &mut Setup, key: &SigningKey) {
    const FLOOD_RATE: u32 = 400;
    const FLOOD_SECONDS: u32 = 12;
    let bot = "bench-latency";
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/interactions");
    let worker = setup.worker(bot, 8);
    let receiver = setup.receiver(bot, port, &[("REGIS_INTERACTION_DEFER_BACKLOG", "32".into())]);
    wait_up(&url, key).await;
    let measure = |requests: Vec<Signed>| {
        let url = url.clone();
        async move {
            let mut answers = load(&url, requests, 4).await;
            let inline =
                answers.iter().filter(|a| a.status == 200 && !a.deferred).count() as f64 / answers.len() as f64;
            let mut latencies: Vec<Duration> = answers.drain(..).map(|a| a.latency).collect();
            (percentile(&mut latencies, 0.5), percentile(&mut latencies, 0.99), inline)
        }
    };
    let idle_ping = measure(pings(key, 500)).await;
    let idle_command = measure(commands(key, "ping", 300)).await;
    let (ping_requests, command_requests) = (pings(key, 500), commands(key, "ping", 300));
    let flooding = Arc::new(AtomicBool::new(true));
    let flood = tokio::spawn(flood_at(
        url.clone(),
        commands(key, "wait", (FLOOD_RATE * FLOOD_SECONDS) as usize),
        FLOOD_RATE,
        flooding.clone(),
    ));
    // Past 32 envelopes queued or handled, the receiver defers at once.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let cpu_before = receiver.cpu();
    let measured = Instant::now();
    let busy_ping = measure(ping_requests).await;
    let busy_command = measure(command_requests).await;
    let receiver_load = (receiver.cpu() - cpu_before).as_secs_f64() / measured.elapsed().as_secs_f64();
    flooding.store(false, Ordering::Relaxed);
    let _ = flood.await;
    // Closed-loop: as many /wait as the receiver can take, 64 at a time.
    let flooding = Arc::new(AtomicBool::new(true));
    let closed = {
        let (url, requests, flooding) = (url.clone(), commands(key, "wait", 20_000), flooding.clone());
        tokio::spawn(async move {
            let mut requests = requests.into_iter();
            while flooding.load(Ordering::Relaxed) {
                let batch: Vec<Signed> = requests.by_ref().take(256).collect();
                if batch.is_empty() {
                    break;
                }
                load(&url, batch, 64).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(2)).await;
    let cpu_bound_ping = measure(pings(key, 500)).await;
    flooding.store(false, Ordering::Relaxed);
    let _ = closed.await;
    drop((worker, receiver));
    println!(
        "Scale-out: receiver answer latency, 1 worker of 8 slots (40 /wait a second), 4 clients, interaction_defer_backlog 32"
    );
    println!("| request | workers | p50 | p99 | answered inline |");
    println!("|---|---|---:|---:|---:|");
    println!("| PING — baseline | idle | {} | {} | |", ms(idle_ping.0), ms(idle_ping.1));
    println!(
        "| PING | saturated: /wait at {FLOOD_RATE}/s (receiver at {:.0} % of a core) | {} | {} | |",
        receiver_load * 100.0,
        ms(busy_ping.0),
        ms(busy_ping.1)
    );
    println!("| /ping | idle | {} | {} | {:.0} % |", ms(idle_command.0), ms(idle_command.1), idle_command.2 * 100.0);
    println!(
        "| /ping | saturated: deferred at once | {} | {} | {:.0} % |",
        ms(busy_command.0),
        ms(busy_command.1),
        busy_command.2 * 100.0
    );
    println!(
        "| PING | receiver CPU-bound: /wait closed-loop, 64 at a time | {} | {} | |",
        ms(cpu_bound_ping.0),
        ms(cpu_bound_ping.1)
    );
    println!();
}

/// `/ping` and `/mando` end to end on each queue (the fifth table), one worker of 32 slots:
/// JetStream, then Pub/Sub pulled and pushed.
async fn queues(setup: &mut Setup, fake: &FakeDiscord, key: &SigningKey) {
    let (_emulator, emulator) = regis_testkit::services::private_pubsub_emulator();
    let database = regis_testkit::services::database_url();
    let nats = setup.queue.clone();
    let backbones = [
        ("NATS JetStream — baseline", nats.clone()),
        (
            "Pub/Sub pull (emulator) + PostgreSQL",
            Backbone::PubSub { emulator: emulator.clone(), database: database.clone(), push: false },
        ),
        ("Pub/Sub push (emulator) + PostgreSQL", Backbone::PubSub { emulator, database, push: true }),
    ];
    let mut rows = Vec::new();
    for (name, backbone) in backbones {
        setup.queue = backbone;
        let ping =
            throughput(setup, fake, key, Load { command: "ping", workers: 1, slots: 32, n: 200, concurrency: 16 })
                .await;
        let mando =
            throughput(setup, fake, key, Load { command: "mando", workers: 1, slots: 32, n: 40, concurrency: 40 })
                .await;
        rows.push((name, ping, mando));
    }
    setup.queue = nats;
    println!("Scale-out: end to end on each queue, 1 worker of 32 slots, 1 receiver");
    println!("| queue | 200 /ping (16 clients) | /ping per s | vs JetStream | answered inline | 40 /mando (40 clients) | /mando per s | vs JetStream |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let rate = |n: f64, took: Duration| n / took.as_secs_f64();
    let (base_ping, base_mando) = (rate(200.0, rows[0].1 .0), rate(40.0, rows[0].2 .0));
    for (name, (ping, inline), (mando, _)) in rows {
        println!(
            "| {name} | {} | {:.0} | {:.2}× | {:.0} % | {} | {:.1} | {:.2}× |",
            ms(ping),
            rate(200.0, ping),
            rate(200.0, ping) / base_ping,
            inline * 100.0,
            ms(mando),
            rate(40.0, mando),
            rate(40.0, mando) / base_mando
        );
    }
    println!("(Pub/Sub has no request-reply: every interaction is deferred at once and edited by the worker.)");
    println!();
}

#[tokio::main]
async fn main() {
    let regis = std::env::args().nth(1).expect("usage: scaleout REGIS_BINARY (built with --features bench-commands)");
    // The processes run in directories of their own.
    let regis = std::fs::canonicalize(&regis).map(|p| p.display().to_string()).unwrap_or(regis);
    let fake = FakeDiscord::start().await;
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let nats_dir = tempfile::tempdir().expect("a temporary directory");
    let (nats_port, monitor_port) = (free_port(), free_port());
    let nats = Proc::spawn({
        let mut c = Command::new("nats-server");
        c.args(["-a", "127.0.0.1", "-p", &nats_port.to_string(), "-m", &monitor_port.to_string(), "-js", "-sd"])
            .arg(nats_dir.path());
        c
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", nats_port)).is_err() {
        assert!(Instant::now() < deadline, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut setup = Setup {
        regis,
        queue: Backbone::Nats(format!("nats://127.0.0.1:{nats_port}")),
        api: fake.api_url(),
        public: hex::encode(key.verifying_key().to_bytes()),
        dirs: Vec::new(),
    };

    match std::env::var("SCALEOUT_ONLY").as_deref() {
        Ok("queues") => return queues(&mut setup, &fake, &key).await,
        Ok("latency") => return latency_under_saturation(&mut setup, &key).await,
        _ => {}
    }

    // 1. CPU per envelope.
    const N: usize = 2000;
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/interactions");
    let in_process = {
        let bot = setup.run_process(port);
        wait_up(&url, &key).await;
        load(&url, commands(&key, "ping", 200), 16).await;
        let before = bot.cpu();
        load(&url, commands(&key, "ping", N), 16).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        (bot.cpu() - before).as_secs_f64() * 1e6 / N as f64
    };
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}/interactions");
    let (jetstream, shares, messages) = {
        let worker = setup.worker("bench-cpu", 32);
        let receiver = setup.receiver("bench-cpu", port, &[]);
        wait_up(&url, &key).await;
        load(&url, commands(&key, "ping", 200), 16).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let before = [nats.cpu(), receiver.cpu(), worker.cpu()];
        let messages_before = nats_messages(monitor_port).await;
        load(&url, commands(&key, "ping", N), 16).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let after = [nats.cpu(), receiver.cpu(), worker.cpu()];
        let messages_after = nats_messages(monitor_port).await;
        let per = |i: usize| (after[i] - before[i]).as_secs_f64() * 1e6 / N as f64;
        let _ = cpu_of(&[&nats]);
        let messages = [0, 1].map(|i| (messages_after[i] - messages_before[i]) as f64 / N as f64);
        (per(0) + per(1) + per(2), [per(0), per(1), per(2)], messages)
    };
    println!("Scale-out: CPU per envelope ({N} inline /ping interactions, all processes)");
    println!("| setup | CPU µs / envelope | vs in-process |");
    println!("|---|---:|---:|");
    println!("| regis run (in-process queue) — baseline | {in_process:.0} | 1.00× |");
    println!(
        "| receiver + worker over JetStream (nats {:.0} + receiver {:.0} + worker {:.0}) | {jetstream:.0} | {:.2}× |",
        shares[0],
        shares[1],
        shares[2],
        jetstream / in_process
    );
    println!("JetStream adds {:.0} µs of CPU per envelope.", jetstream - in_process);
    println!(
        "nats-server per envelope: {:.1} messages in, {:.1} out (its /varz, heartbeats and backlog samples included).",
        messages[0], messages[1]
    );
    println!();

    if std::env::var("SCALEOUT_ONLY").is_ok_and(|only| only == "cpu") {
        return;
    }

    // Cold start: exec → first PONG answered, a receiver against `regis run`.
    let mut starts: [Vec<Duration>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..5 {
        for (i, starts) in starts.iter_mut().enumerate() {
            let port = free_port();
            let url = format!("http://127.0.0.1:{port}/interactions");
            let started = Instant::now();
            let _process = if i == 0 { setup.run_process(port) } else { setup.receiver("bench-cold", port, &[]) };
            wait_up(&url, &key).await;
            starts.push(started.elapsed());
        }
    }
    let [mut run, mut receiver] = starts;
    println!("Scale-out: cold start, exec to the first PONG answered (median of 5)");
    println!("| process | cold start |");
    println!("|---|---:|");
    println!("| regis run — baseline | {} |", ms(percentile(&mut run, 0.5)));
    println!("| regis serve --role receiver | {} |", ms(percentile(&mut receiver, 0.5)));
    println!();

    // 2. An I/O-bound handler on 1, 2 and 3 workers.
    println!("Scale-out: /wait (a 200 ms I/O-bound handler), 240 interactions, workers of 8 slots");
    println!("| workers | time | interactions/s | vs 1 worker |");
    println!("|---:|---:|---:|---:|");
    let mut one = 0.0;
    for workers in 1..=3 {
        let load = Load { command: "wait", workers, slots: 8, n: 240, concurrency: 120 };
        let (took, _) = throughput(&mut setup, &fake, &key, load).await;
        let rate = 240.0 / took.as_secs_f64();
        if workers == 1 {
            one = rate;
        }
        println!("| {workers} | {} | {rate:.1} | {:.2}× |", ms(took), rate / one);
    }
    println!();

    // 3. /mando on 1, 2 and 3 workers.
    println!("Scale-out: /mando (render and upload an image), 40 interactions");
    println!("| workers | time | /mando per s | vs 1 worker |");
    println!("|---:|---:|---:|---:|");
    for workers in 1..=3 {
        let load = Load { command: "mando", workers, slots: 32, n: 40, concurrency: 40 };
        let (took, _) = throughput(&mut setup, &fake, &key, load).await;
        let rate = 40.0 / took.as_secs_f64();
        if workers == 1 {
            one = rate;
        }
        println!("| {workers} | {} | {rate:.2} | {:.2}× |", ms(took), rate / one);
    }
    println!(
        "(On {} cores one worker's rendering already uses every core: more workers add no CPU.)",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    println!();

    // 4. The receiver while the workers are saturated.
    latency_under_saturation(&mut setup, &key).await;

    // 5. The same bot on each queue.
    queues(&mut setup, &fake, &key).await;
}
