//! Load generator for the interactions endpoint (used by `scripts/bench`).
//!
//! `loadgen REGIS_BINARY` starts `REGIS_BINARY run` with a fresh key on a free port, measures
//! its cold start (exec → first PONG answered) and idle RSS, then sends pre-signed, distinct
//! requests with fresh timestamps — signed PINGs, and `/ping` commands answered inline by the
//! admin plugin — at concurrency 32 and 128 over keep-alive connections, and prints a table.
//! The baseline, measured in the same run with the same client, is a bare axum server that
//! answers every POST with `{"type":1}` without checking anything.

use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

type HttpClient = Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>;

struct Signed {
    body: Bytes,
    signature: String,
    timestamp: String,
}

fn sign_all(key: &SigningKey, bodies: Vec<String>) -> Arc<Vec<Signed>> {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .to_string();
    Arc::new(
        bodies
            .into_iter()
            .map(|body| {
                let mut message = timestamp.as_bytes().to_vec();
                message.extend_from_slice(body.as_bytes());
                Signed {
                    signature: hex::encode(key.sign(&message).to_bytes()),
                    timestamp: timestamp.clone(),
                    body: Bytes::from(body),
                }
            })
            .collect(),
    )
}

fn ping_bodies(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"type":1,"id":"{}","application_id":"775799577604522054","token":"t{i}","version":1}}"#,
                1_000_000 + i
            )
        })
        .collect()
}

/// Commands with interaction ids from `first` on: Discord never sends an id twice, and Regis
/// drops a repeated id as a redelivery, so every run needs fresh ones.
fn command_bodies(first: usize, n: usize) -> Vec<String> {
    (first..first + n)
        .map(|i| {
            serde_json::json!({
                "type": 2, "id": (2_000_000_000 + i).to_string(), "application_id": "775799577604522054",
                "token": format!("token-{i}"), "version": 1, "attachment_size_limit": 26214400,
                "authorizing_integration_owners": {"0": "290926798626357999"},
                "guild_id": "290926798626357999", "channel_id": "645027906669510667", "locale": "en-US",
                "member": {"user": {"id": "53908232506183680", "username": "Mason", "avatar": null, "discriminator": "1337"},
                           "roles": [], "permissions": "2147483647", "pending": false, "nick": null, "mute": false,
                           "joined_at": "2017-03-13T19:19:14.040000+00:00", "deaf": false, "flags": 0},
                "data": {"type": 1, "name": "ping", "id": "771825006014889984", "options": []}
            })
            .to_string()
        })
        .collect()
}

async fn post(client: &HttpClient, url: &str, req: &Signed) -> Result<u16, String> {
    let request = hyper::Request::post(url)
        .header("content-type", "application/json")
        .header("x-signature-ed25519", &req.signature)
        .header("x-signature-timestamp", &req.timestamp)
        .body(Full::new(req.body.clone()))
        .map_err(|e| e.to_string())?;
    let response = client.request(request).await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    response.into_body().collect().await.map_err(|e| e.to_string())?;
    Ok(status)
}

struct Run {
    per_second: f64,
    p50: Duration,
    p99: Duration,
    failures: usize,
}

async fn load(url: &str, requests: Arc<Vec<Signed>>, concurrency: usize, expect: &str) -> Run {
    let client: HttpClient = Client::builder(TokioExecutor::new()).pool_max_idle_per_host(concurrency).build_http();
    // Warm up the connections.
    for r in requests.iter().take(concurrency) {
        let _ = post(&client, url, r).await;
    }
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, requests, next) = (client.clone(), url.to_string(), requests.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut failures = 0;
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(r) = requests.get(i) else { break };
                    let t = Instant::now();
                    match tokio::time::timeout(Duration::from_secs(10), post(&client, &url, r)).await {
                        Ok(Ok(200)) => latencies.push(t.elapsed()),
                        _ => failures += 1,
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut failures = 0;
    for w in workers {
        if let Ok((l, f)) = w.await {
            all.extend(l);
            failures += f;
        }
    }
    let elapsed = started.elapsed();
    all.sort();
    let pick = |p: f64| all.get(((all.len().max(1) - 1) as f64 * p) as usize).copied().unwrap_or_default();
    let _ = expect;
    Run { per_second: all.len() as f64 / elapsed.as_secs_f64(), p50: pick(0.5), p99: pick(0.99), failures }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(18080)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

async fn baseline_server() -> String {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/interactions",
        post(|_body: Bytes| async { ([("content-type", "application/json")], r#"{"type":1}"#) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind baseline");
    let addr = listener.local_addr().expect("baseline addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}/interactions")
}

fn row(name: &str, c: usize, run: &Run, base: Option<&Run>) {
    let ratio = base.map(|b| format!("{:.2}", run.per_second / b.per_second)).unwrap_or_else(|| "-".into());
    println!(
        "| {name:<22} | {c:>4} | {:>9.0} | {:>8.2} | {:>8.2} | {:>5} | {ratio:>5} |",
        run.per_second,
        run.p50.as_secs_f64() * 1e3,
        run.p99.as_secs_f64() * 1e3,
        run.failures
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 1)]
async fn main() {
    let Some(binary) = std::env::args().nth(1) else {
        eprintln!("usage: loadgen PATH/TO/regis [REQUESTS]");
        std::process::exit(2);
    };
    let n: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(40_000);
    let key = SigningKey::from_bytes(&std::array::from_fn(|i| (i as u8).wrapping_mul(31).wrapping_add(7)));
    let port = free_port();
    let data = std::env::temp_dir().join(format!("regis-loadgen-{port}"));
    let url = format!("http://127.0.0.1:{port}/interactions");
    let pings = sign_all(&key, ping_bodies(n));

    // First boot on an empty data dir, then a restart on it (the usual serverless case).
    let (first_boot, child) = boot(&binary, &key, port, &data, &url, &pings[0]).await;
    stop(child);
    let (cold_start, mut child) = boot(&binary, &key, port, &data, &url, &pings[0]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let idle_rss = rss_kib(child.id());
    run_load(&key, n, &url, pings).await;
    let loaded_rss = rss_kib(child.id());
    println!();
    println!(
        "cold start (exec → first PONG): {:.1} ms on an existing data dir; {:.1} ms on an empty one",
        cold_start.as_secs_f64() * 1e3,
        first_boot.as_secs_f64() * 1e3
    );
    println!(
        "RSS idle after start: {:.1} MiB; after the load: {:.1} MiB",
        idle_rss as f64 / 1024.0,
        loaded_rss as f64 / 1024.0
    );
    println!("ratio = req/s against the baseline at the same concurrency");
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&data);
}

fn stop(mut child: std::process::Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

async fn boot(
    binary: &str,
    key: &SigningKey,
    port: u16,
    data: &std::path::Path,
    url: &str,
    ping: &Signed,
) -> (Duration, std::process::Child) {
    let started = Instant::now();
    let mut child = match Command::new(binary)
        .arg("run")
        .env("DISCORD_PUBLIC_KEY", hex::encode(key.verifying_key().to_bytes()))
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("REGIS_DATA_DIR", data)
        .env("REGIS_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cannot start {binary}: {e}");
            std::process::exit(1);
        }
    };
    let probe: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let cold_start = loop {
        if let Ok(200) = post(&probe, url, ping).await {
            break started.elapsed();
        }
        if started.elapsed() > Duration::from_secs(20) {
            eprintln!("regis did not answer within 20 s");
            let _ = child.kill();
            std::process::exit(1);
        }
        tokio::time::sleep(Duration::from_micros(200)).await;
    };
    (cold_start, child)
}

async fn run_load(key: &SigningKey, n: usize, url: &str, pings: Arc<Vec<Signed>>) {
    let baseline_url = baseline_server().await;
    println!("interactions endpoint: {n} signed requests per PING run, {} per command run; load generator on the same 2 cores", n / 2);
    println!("| scenario               |    c |   req/s   | p50 ms   | p99 ms   | fails | ratio |");
    println!("|------------------------|-----:|----------:|---------:|---------:|------:|------:|");
    for c in [32, 128] {
        let base = load(&baseline_url, pings.clone(), c, "pong").await;
        let ping = load(url, pings.clone(), c, "pong").await;
        let commands = sign_all(key, command_bodies(c * 1_000_000, n / 2));
        let cmd = load(url, commands, c, "pong").await;
        row("baseline (no checks)", c, &base, None);
        row("regis signed PING", c, &ping, Some(&base));
        row("regis /ping inline", c, &cmd, Some(&base));
    }
}
