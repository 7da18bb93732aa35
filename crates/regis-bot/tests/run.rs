//! `regis run` with both secrets set: the interactions endpoint answers a signed PING over a
//! real socket while the Gateway connector retries an unreachable Discord in the background,
//! secrets stay out of trace logs, and SIGTERM stops it cleanly. (The interactions-only
//! process, with no token, is tested in `hardening.rs`.)

mod common;

use common::{free_port, ping_when_up, regis, signed_post, test_key, Running};
use ed25519_dalek::SigningKey;
use std::time::Duration;

#[test]
fn with_a_token_too_the_endpoint_answers_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let token = "MTIzNDU2Nzg5.secret-bot-token-value";
    let mut command = regis(dir.path(), &["run"]);
    command
        .env("DISCORD_PUBLIC_KEY", public)
        .env("DISCORD_TOKEN", token)
        // The token also starts the Gateway connector: keep its REST calls on this machine
        // (nothing listens there; it retries in the background until SIGTERM).
        .env("REGIS_DISCORD_API_URL", format!("http://127.0.0.1:{}/api/v10", free_port()))
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("REGIS_LOG", "trace");
    let bot = Running::spawn(command);
    let response = ping_when_up(port, &key, Duration::from_secs(10));
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_ascii_lowercase().contains("content-type: application/json"), "{response}");
    assert!(response.ends_with(r#"{"type":1}"#), "{response}");
    let unsigned = signed_post(port, &SigningKey::from_bytes(&[1u8; 32]), r#"{"type":1}"#).unwrap();
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");

    bot.terminate();
    let out = bot.finish_within(Duration::from_secs(20));
    assert!(out.status.success(), "exit status {:?}", out.status);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("interactions endpoint"), "{logs}");
    assert!(!logs.contains("secret-bot-token-value"), "the token reached the logs");
    assert!(!logs.contains("\u{1b}["), "no colour codes when standard error is not a terminal");
}

#[test]
fn an_address_in_use_stops_the_start_naming_it_before_anything_connects() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = test_key();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let mut command = regis(dir.path(), &["run"]);
    command
        .env("DISCORD_PUBLIC_KEY", public)
        .env("REGIS_HTTP_ADDR", addr.to_string())
        // Nothing may have connected to IRC when the start fails.
        .env("REGIS_IRC_SERVER", format!("127.0.0.1:{}", free_port()));
    let out = Running::spawn(command).finish_within(Duration::from_secs(10));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")) && err.contains("`http_addr`"), "{err}");
    assert!(!err.contains(" on http://") && !err.contains("IRC connection"), "nothing said it started: {err}");
}

#[test]
fn secrets_are_not_taken_as_flags() {
    let dir = tempfile::tempdir().unwrap();
    let out =
        Running::spawn(regis(dir.path(), &["run", "--discord-token", "x"])).finish_within(Duration::from_secs(10));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unexpected argument '--discord-token'"), "{err}");
}
