//! `regis run` against clients that attack it, as the public interactions endpoint meets
//! them: connection floods, bodies that never end, a thousand clients holding partial bodies,
//! SIGTERM while clients hold half-sent requests, replies that cannot be delivered at
//! shutdown; and an interactions-only process (no bot token) doing real work.

mod common;

use common::{
    eventually, free_port, ping_when_up, regis, signature_headers, signed_post, signed_post_within, test_key, Running,
};
use regis_testkit::fake_discord::{command_interaction, FakeDiscord};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(20);

/// `regis run` serving interactions on `port`, with extra settings.
fn interactions_only(dir: &std::path::Path, port: u16, public: &str, env: &[(&str, &str)]) -> std::process::Command {
    let mut command = regis(dir, &["run"]);
    command
        .env("DISCORD_PUBLIC_KEY", public)
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("REGIS_LOG", "warn")
        // Nothing listens here: REST calls fail fast and stay on this machine.
        .env("REGIS_DISCORD_API_URL", format!("http://127.0.0.1:{}/api/v10", free_port()));
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

/// Runs the process with at most `n` open file descriptors.
fn limit_descriptors(command: &mut std::process::Command, n: u64) {
    use std::os::unix::process::CommandExt;
    let limit = rustix::process::Rlimit { current: Some(n), maximum: Some(n) };
    // SAFETY: setrlimit is async-signal-safe, and the closure touches nothing else between
    // fork and exec.
    unsafe {
        command.pre_exec(move || {
            rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).map_err(std::io::Error::from)
        });
    }
}

#[test]
fn a_connection_flood_does_not_stop_a_signed_ping() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    // Idle connections are not cut by the header timeout within this test: only the
    // connection cap can make room.
    let mut command = interactions_only(dir.path(), port, &public, &[("REGIS_HTTP_HEADER_TIMEOUT", "60s")]);
    // Few descriptors, so that the flood below is more than the process could hold open.
    limit_descriptors(&mut command, 256);
    let bot = Running::spawn(command);
    assert!(ping_when_up(port, &key, WAIT).ends_with(r#"{"type":1}"#));
    let flood: Vec<TcpStream> = (0..1000).filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    assert!(flood.len() > 256, "the flood connected {} sockets", flood.len());
    // Discord gives an endpoint 3 seconds: the first try must be answered within them.
    let response = signed_post_within(port, &key, r#"{"type":1}"#, Duration::from_secs(3));
    let response = response.unwrap_or_else(|e| format!("no answer: {e}"));
    assert!(response.starts_with("HTTP/1.1 200") && response.ends_with(r#"{"type":1}"#), "{response}");
    drop(flood);
    bot.terminate();
    let out = bot.finish_within(WAIT);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{logs}");
    assert!(logs.contains("HTTP connection limit reached"), "logged: {logs}");
}

/// Sends `request` (head and part of the body) without waiting for the server to read it.
fn push(stream: &mut TcpStream, bytes: &[u8]) -> usize {
    let mut sent = 0;
    while sent < bytes.len() {
        match stream.write(&bytes[sent..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => sent += n,
        }
    }
    sent
}

#[test]
fn memory_stays_bounded_under_a_thousand_clients_sending_partial_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let budget = 8 * 1024 * 1024;
    let budget_text = budget.to_string();
    let command = interactions_only(dir.path(), port, &public, &[("REGIS_HTTP_BODY_MEMORY", budget_text.as_str())]);
    let bot = Running::spawn(command);
    ping_when_up(port, &key, WAIT);
    let (idle_kib, _) = bot.memory_kib();
    let body = vec![b' '; 900 * 1024];
    let forged = "X-Signature-Ed25519: ".to_string() + &"ab".repeat(64) + "\r\n";
    let mut clients = Vec::new();
    for i in 0..1000 {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else { continue };
        stream.set_nonblocking(true).unwrap();
        // Half send no signature; half a well-formed one that only the body can disprove.
        let signature = if i % 2 == 0 { String::new() } else { forged.clone() };
        let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let head = format!(
            "POST /interactions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n{signature}X-Signature-Timestamp: {ts}\r\n\r\n"
        );
        push(&mut stream, head.as_bytes());
        push(&mut stream, &body);
        clients.push(stream);
    }
    assert!(clients.len() >= 900, "{} clients connected", clients.len());
    // Keep pushing for a while, as clients that never stop sending would.
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        for stream in clients.iter_mut() {
            push(stream, &body[..64 * 1024]);
        }
    }
    let (_, peak_kib) = bot.memory_kib();
    // The documented bound: idle memory, plus per connection its header buffer and state,
    // plus the body budget (docs/guide/operations.md, "Memory").
    let per_connection_kib = 16 + 16;
    let bound_kib = idle_kib + 1024 * per_connection_kib + budget as u64 / 1024;
    eprintln!("idle {idle_kib} KiB, peak {peak_kib} KiB, bound {bound_kib} KiB");
    assert!(peak_kib <= bound_kib, "peak RSS {peak_kib} KiB over the bound {bound_kib} KiB (idle {idle_kib} KiB)");
    drop(clients);
    // Still serving.
    assert!(ping_when_up(port, &key, WAIT).ends_with(r#"{"type":1}"#));
}

#[test]
fn sigterm_with_half_sent_requests_exits_within_the_grace() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let settings =
        [("REGIS_SHUTDOWN_GRACE", "2s"), ("REGIS_HTTP_HEADER_TIMEOUT", "60s"), ("REGIS_HTTP_BODY_TIMEOUT", "60s")];
    let bot = Running::spawn(interactions_only(dir.path(), port, &public, &settings));
    ping_when_up(port, &key, WAIT);
    let mut held = Vec::new();
    for i in 0..10 {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        if i % 2 == 0 {
            stream.write_all(b"POST /interactions HTTP/1.1\r\nHost: x\r\nContent-Le").unwrap();
        } else {
            let head = format!(
                "POST /interactions HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n{}\r\n{{\"type\"",
                signature_headers(&key, "")
            );
            stream.write_all(head.as_bytes()).unwrap();
        }
        held.push(stream);
    }
    // And the dispatcher is busy too: five mandalas whose edits go to a Discord that does
    // not answer, retried while their tokens live.
    for id in 0..5u64 {
        let mut interaction = command_interaction(800 + id, "mando", serde_json::json!([]));
        interaction["member"]["user"]["id"] = serde_json::json!((53908232506183680u64 + id).to_string());
        assert!(signed_post(port, &key, &interaction.to_string()).unwrap().ends_with(r#"{"type":5}"#));
    }
    std::thread::sleep(Duration::from_millis(200));
    let stopped = Instant::now();
    bot.terminate();
    let out = bot.finish_within(WAIT);
    let took = stopped.elapsed();
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{logs}");
    assert!(took >= Duration::from_secs(2), "the requests in progress had the grace ({took:?})");
    // One deadline for the listener and the dispatcher, not one grace after the other.
    assert!(took < Duration::from_secs(4), "stopped {took:?} after SIGTERM with a 2 s grace");
    assert!(logs.contains("cut 5 HTTP request(s) still running at the end of the grace period"), "{logs}");
    assert!(logs.contains("cancelled 5 command(s) still running or queued at the end of the grace period"), "{logs}");
    drop(held);
}

#[test]
fn replies_still_retrying_at_the_deadline_are_cancelled_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let bot = Running::spawn(interactions_only(dir.path(), port, &public, &[("REGIS_SHUTDOWN_GRACE", "2s")]));
    ping_when_up(port, &key, WAIT);
    // A mandala is a file: the endpoint defers, and the edit goes to a Discord that does not
    // answer, retried with backoff while the token lives.
    for id in 0..20u64 {
        let mut interaction = command_interaction(900 + id, "mando", serde_json::json!([]));
        // A user each: the cooldown is per user.
        interaction["member"]["user"]["id"] = serde_json::json!((53908232506183680u64 + id).to_string());
        let body = interaction.to_string();
        let answer = signed_post(port, &key, &body).unwrap();
        assert!(answer.ends_with(r#"{"type":5}"#), "{answer}");
    }
    bot.terminate();
    let out = bot.finish_within(WAIT);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{logs}");
    assert!(logs.contains("cancelled 20 command(s) still running or queued at the end of the grace period"), "{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interactions_only_process_needs_no_token() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let port = free_port();
    let mut command = interactions_only(dir.path(), port, &public, &[]);
    command.env("REGIS_DISCORD_API_URL", fake.api_url());
    let bot = Running::spawn(command);
    let key2 = key.clone();
    let (pong, ping, mando) = tokio::task::spawn_blocking(move || {
        let pong = ping_when_up(port, &key2, WAIT);
        let ping =
            signed_post(port, &key2, &command_interaction(1, "ping", serde_json::json!([])).to_string()).unwrap();
        let mando =
            signed_post(port, &key2, &command_interaction(2, "mando", serde_json::json!([])).to_string()).unwrap();
        (pong, ping, mando)
    })
    .await
    .unwrap();
    assert!(pong.ends_with(r#"{"type":1}"#), "{pong}");
    assert!(ping.contains(r#""content":"pong""#), "answered inline: {ping}");
    assert!(mando.ends_with(r#"{"type":5}"#), "a file is deferred: {mando}");
    let edits = fake.wait_for_calls(1, WAIT).await;
    assert_eq!(edits[0].path, "/webhooks/775799577604522054/token-2/messages/@original");
    assert_eq!(edits[0].authorization, None, "no bot token anywhere");
    assert!(edits[0].files[0].data.starts_with(b"\x89PNG"), "the image");
    tokio::task::spawn_blocking(move || {
        bot.terminate();
        let out = bot.finish_within(WAIT);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(1), "nothing more sent", || fake.calls().len() == 1);
}
