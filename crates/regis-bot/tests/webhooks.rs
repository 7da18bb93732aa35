//! `regis run` with a GitHub webhook configured: a signed push delivery over a real socket
//! becomes a line in the configured Discord channel (the fake Discord), a wrong signature gets
//! 401, and the hook's secret never reaches the logs.

mod common;

use common::{free_port, regis, Running};
use regis_testkit::fake_discord::FakeDiscord;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);
const SECRET: &str = "hook-secret-value-7f3a";

fn post_hook(port: u16, signature: &str, body: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(WAIT))?;
    write!(
        stream,
        "POST /hooks/github/events HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-GitHub-Delivery: d-1\r\nX-Hub-Signature-256: {signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_github_push_appears_in_the_configured_channel() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("regis.toml"), "[hooks.github.events]\nauth = \"hmac\"\nchannel = \"4242\"\n")
        .unwrap();
    let fake = FakeDiscord::start().await;
    let token = "MTIzNDU2Nzg5.bot-token";
    fake.set_bot(token, 1, "Regis");
    let port = free_port();
    let mut command = regis(dir.path(), &["run"]);
    command
        .env("DISCORD_TOKEN", token)
        .env("REGIS_DISCORD_API_URL", fake.api_url())
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("REGIS_HOOK_GITHUB_EVENTS_SECRET", SECRET)
        .env("REGIS_LOG", "debug");
    let mut bot = Running::spawn(command);
    bot.wait_for_log("webhooks on http://", WAIT);
    let body = r#"{"ref":"refs/heads/main","compare":"https://github.com/o/r/compare/a...b","commits":[{"id":"0123456789abcdef","message":"Ship it","author":{"name":"Ann"}}],"repository":{"full_name":"o/r"},"sender":{"login":"ann"}}"#;
    let (wrong, right) = tokio::task::spawn_blocking(move || {
        let wrong = post_hook(port, &regis_webhooks::hub_signature("not it", body.as_bytes()), body).unwrap();
        let right = post_hook(port, &regis_webhooks::hub_signature(SECRET, body.as_bytes()), body).unwrap();
        (wrong, right)
    })
    .await
    .unwrap();
    assert!(wrong.starts_with("HTTP/1.1 401"), "{wrong}");
    assert!(right.starts_with("HTTP/1.1 202"), "{right}");
    let deadline = Instant::now() + WAIT;
    let posted = loop {
        let calls = fake.calls();
        if let Some(call) = calls.iter().find(|c| c.path == "/channels/4242/messages") {
            break call.clone();
        }
        assert!(Instant::now() < deadline, "nothing posted: {calls:#?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let content = posted.json.as_ref().and_then(|j| j["content"].as_str()).unwrap_or_default().to_string();
    assert_eq!(
        content,
        "[o/r] ann pushed 1 commit to main https://github.com/o/r/compare/a...b\n  0123456 Ship it (Ann)"
    );
    bot.terminate();
    let logs = bot.log();
    assert!(!logs.contains(SECRET), "the hook's secret reached the logs");
}

#[test]
fn a_hook_without_its_secret_stops_the_bot_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("regis.toml"), "[hooks.github.events]\nauth = \"hmac\"\n").unwrap();
    let mut command = regis(dir.path(), &["run"]);
    command.env("DISCORD_TOKEN", "x").env("REGIS_DISCORD_API_URL", format!("http://127.0.0.1:{}/api/v10", free_port()));
    let out = Running::spawn(command).finish_within(WAIT);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("REGIS_HOOK_GITHUB_EVENTS_SECRET"), "{err}");
}
