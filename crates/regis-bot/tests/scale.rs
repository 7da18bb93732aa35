//! The scaled-out bot end to end: 2 receivers and 3 workers as separate `regis serve`
//! processes on a real NATS server and PostgreSQL, with the fake Discord behind the workers;
//! 1 000 interactions (inline `/ping` and `/roll`, slow `/mando` with an image) while one worker
//! is killed with SIGKILL. Every interaction must get exactly one final answer: inline, or
//! deferred and then its `@original` edited (edits of the same content only: idempotent), never
//! a follow-up; and the workers together stay within Discord's global rate limit.

mod common;

use common::{free_port, ping_when_up, regis, signed_post, test_key, Running};
use regis_testkit::fake_discord::{command_interaction, FakeDiscord};
use regis_testkit::services;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(60);
const INTERACTIONS: u64 = 1000;

/// `GET path` on a local port: the body.
fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("the worker's listener");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

fn serve(dir: &std::path::Path, roles: &str, env: &[(&str, String)]) -> std::process::Command {
    let mut command = regis(dir, &["serve", "--role", roles]);
    command.env("REGIS_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Which command interaction `id` runs: mostly quick ones, one in 25 a `/mando`.
fn command_of(id: u64) -> &'static str {
    match id % 25 {
        0 => "mando",
        n if n % 2 == 0 => "roll",
        _ => "ping",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_interactions_through_two_receivers_and_three_workers_one_killed() {
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let bot = format!("scale-{:08x}", nanos ^ std::process::id());
    let database = services::database_url();
    let shared = [
        ("REGIS_QUEUE_URL", services::nats_url()),
        ("REGIS_BOT_NAME", bot.clone()),
        ("REGIS_DATABASE_URL", database.clone()),
        ("REGIS_DISCORD_API_URL", fake.api_url()),
        // A dead worker's deliveries come back after 2 s, its claims are taken over after 8 s.
        ("REGIS_QUEUE_ACK_WAIT", "2s".into()),
        ("REGIS_HANDLER_TIMEOUT", "3s".into()),
    ];
    let dirs: Vec<tempfile::TempDir> = (0..5).map(|_| tempfile::tempdir().unwrap()).collect();
    // The last worker has a listener of its own: health, readiness and metrics.
    let worker_port = free_port();
    let mut workers: Vec<Running> = (0..3)
        .map(|i| {
            let mut env = shared.to_vec();
            if i == 2 {
                env.push(("REGIS_HTTP_ADDR", format!("127.0.0.1:{worker_port}")));
            }
            Running::spawn(serve(dirs[i].path(), "worker", &env))
        })
        .collect();
    for worker in &mut workers {
        worker.wait_for_log("worker consuming", WAIT);
    }
    let ports = [free_port(), free_port()];
    let receivers: Vec<Running> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let mut env = shared.to_vec();
            env.push(("DISCORD_PUBLIC_KEY", public.clone()));
            env.push(("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}")));
            Running::spawn(serve(dirs[3 + i].path(), "receiver", &env))
        })
        .collect();

    let responses: Arc<Mutex<HashMap<u64, String>>> = Arc::default();
    let killed = Arc::new(Mutex::new(None::<Running>));
    let victim = Arc::new(Mutex::new(Some(workers.remove(0))));
    let started = Instant::now();
    tokio::task::spawn_blocking({
        let (responses, killed, victim, key) = (responses.clone(), killed.clone(), victim.clone(), key.clone());
        move || {
            for port in ports {
                ping_when_up(port, &key, WAIT);
            }
            let threads: Vec<_> = (0..20u64)
                .map(|t| {
                    let (responses, killed, victim, key) =
                        (responses.clone(), killed.clone(), victim.clone(), key.clone());
                    std::thread::spawn(move || {
                        for id in (1..=INTERACTIONS).filter(|id| id % 20 == t) {
                            let mut body = command_interaction(id, command_of(id), serde_json::json!([]));
                            // A user of its own, so that no command's per-user cooldown answers instead.
                            body["member"]["user"]["id"] = serde_json::json!((10_000 + id).to_string());
                            let body = body.to_string();
                            let port = ports[(id % 2) as usize];
                            let answer = signed_post(port, &key, &body).unwrap_or_else(|e| format!("no answer: {e}"));
                            let done = {
                                let mut responses = responses.lock().unwrap();
                                responses.insert(id, answer);
                                responses.len()
                            };
                            if done == INTERACTIONS as usize * 2 / 5 {
                                // Mid-run: a worker dies at once, with deliveries in hand.
                                if let Some(worker) = victim.lock().unwrap().take() {
                                    worker.kill();
                                    *killed.lock().unwrap() = Some(worker);
                                }
                            }
                        }
                    })
                })
                .collect();
            for thread in threads {
                thread.join().unwrap();
            }
        }
    })
    .await
    .unwrap();
    let sent_in = started.elapsed();
    assert!(killed.lock().unwrap().is_some(), "a worker was killed mid-run");

    let responses = responses.lock().unwrap().clone();
    let mut inline = HashSet::new();
    let mut deferred = HashSet::new();
    for (id, response) in &responses {
        assert!(response.starts_with("HTTP/1.1 200"), "interaction {id}: {response}");
        if response.ends_with(r#"{"type":5}"#) {
            deferred.insert(format!("token-{id}"));
        } else {
            assert!(response.contains(r#""type":4"#), "interaction {id}: {response}");
            inline.insert(format!("token-{id}"));
        }
    }
    // Every deferred interaction gets its @original edited.
    let edited_tokens = |calls: &[regis_testkit::fake_discord::Call]| -> HashSet<String> {
        calls
            .iter()
            .filter(|c| c.path.ends_with("/messages/@original"))
            .filter_map(|c| c.path.split('/').nth(3).map(str::to_string))
            .collect()
    };
    let deadline = Instant::now() + WAIT;
    loop {
        let edited = edited_tokens(&fake.calls());
        let missing: Vec<_> = deferred.iter().filter(|t| !edited.contains(*t)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "{} deferred interactions never edited: {missing:?}", missing.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Redeliveries of what the killed worker held have settled.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let calls = fake.calls();
    let mut edits: HashMap<String, HashSet<String>> = HashMap::new();
    for call in &calls {
        let parts: Vec<&str> = call.path.split('/').collect();
        match parts.as_slice() {
            ["", "webhooks", _, token, "messages", "@original"] => {
                let content = call.json.as_ref().map(|j| j["content"].to_string()).unwrap_or_default();
                let files = call.files.iter().map(|f| f.data.len()).sum::<usize>();
                edits.entry(token.to_string()).or_default().insert(format!("{content} {files}"));
            }
            ["", "webhooks", _, token] => panic!("a follow-up for {token}: a second answer"),
            _ => {}
        }
    }
    for token in &inline {
        assert!(!edits.contains_key(token), "{token} was answered inline and edited too");
    }
    for (token, versions) in &edits {
        assert_eq!(versions.len(), 1, "{token} edited with different answers: {versions:?}");
    }
    for id in (1..=INTERACTIONS).filter(|id| command_of(*id) == "mando") {
        let token = format!("token-{id}");
        let image = calls.iter().any(|c| c.path.contains(&format!("/{token}/")) && !c.files.is_empty());
        let answers: Vec<_> =
            calls.iter().filter(|c| c.path.contains(&format!("/{token}/"))).map(|c| &c.json).collect();
        assert!(image, "/mando {id} got its image: {answers:?}");
    }
    assert_eq!(fake.global_rate_limited(), 0, "no global 429");
    println!(
        "{INTERACTIONS} interactions in {sent_in:?}: {} inline, {} deferred then edited, {} edit calls",
        inline.len(),
        deferred.len(),
        calls.iter().filter(|c| c.path.ends_with("@original")).count()
    );
    let (readiness, metrics) =
        tokio::task::spawn_blocking(move || (http_get(worker_port, "/readyz"), http_get(worker_port, "/metrics")))
            .await
            .unwrap();
    assert_eq!(readiness, "ready\nshutdown: ok\nqueue: ok\nstorage: ok\n");
    assert!(metrics.contains("regis_envelopes_handled_total{source=\"discord\"}"), "{metrics}");
    for process in receivers.into_iter().chain(workers) {
        process.terminate();
        let out = process.finish_within(WAIT);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    services::drop_schemas(&database, &bot).await;
}
