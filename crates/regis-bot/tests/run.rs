//! `regis run` as a deployment runs it: an interactions-only process with no bot token, a
//! signed PING over a real socket, secrets kept out of the logs, a clean stop on SIGTERM.

use ed25519_dalek::{Signer, SigningKey};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn signed_post(port: u16, key: &SigningKey, body: &str) -> std::io::Result<String> {
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let signature = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "POST /interactions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Signature-Ed25519: {signature}\r\nX-Signature-Timestamp: {ts}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[test]
fn interactions_only_process_answers_ping_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::from_bytes(&[9u8; 32]);
    let port = free_port();
    let token = "MTIzNDU2Nzg5.secret-bot-token-value";
    let child = Command::new(env!("CARGO_BIN_EXE_regis"))
        .arg("run")
        .current_dir(dir.path())
        .env("DISCORD_PUBLIC_KEY", hex::encode(key.verifying_key().to_bytes()))
        .env("DISCORD_TOKEN", token)
        // The token also starts the Gateway connector: keep its REST calls on this machine
        // (nothing listens there; it retries in the background until SIGTERM).
        .env("REGIS_DISCORD_API_URL", format!("http://127.0.0.1:{}/api/v10", free_port()))
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("REGIS_LOG", "trace")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let response = loop {
        match signed_post(port, &key, r#"{"type":1}"#) {
            Ok(r) => break r,
            Err(_) if started.elapsed() < Duration::from_secs(10) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => panic!("no answer: {e}"),
        }
    };
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.to_ascii_lowercase().contains("content-type: application/json"), "{response}");
    assert!(response.ends_with(r#"{"type":1}"#), "{response}");
    let unsigned = signed_post(port, &SigningKey::from_bytes(&[1u8; 32]), r#"{"type":1}"#).unwrap();
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "exit status {:?}", out.status);
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(logs.contains("interactions endpoint"), "{logs}");
    assert!(!logs.contains("secret-bot-token-value"), "the token reached the logs");
}
