//! `regis serve`: receivers and workers as separate processes meeting on a real NATS server
//! (`TEST_NATS_URL`, default nats://127.0.0.1:4222), each test on a bot name of its own, with
//! the fake Discord behind the workers.

mod common;

use common::{eventually, free_port, ping_when_up, regis, signed_post, test_key, Running};
use regis_testkit::fake_discord::{command_interaction, FakeDiscord};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn nats_url() -> String {
    std::env::var("TEST_NATS_URL").ok().filter(|u| !u.is_empty()).unwrap_or_else(|| "nats://127.0.0.1:4222".into())
}

/// A bot name no other test (or run) uses.
fn bot_name(test: &str) -> String {
    format!("{test}-{:08x}", fastrand_u32())
}

fn fastrand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos());
    h.finish() as u32
}

/// `regis serve --role ROLES` of bot `bot`, with its own data dir.
fn serve(dir: &std::path::Path, roles: &str, bot: &str, env: &[(&str, String)]) -> std::process::Command {
    let mut command = regis(dir, &["serve", "--role", roles]);
    command.env("REGIS_QUEUE_URL", nats_url()).env("REGIS_BOT_NAME", bot).env("REGIS_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn receiver(dir: &std::path::Path, bot: &str, port: u16, public: &str) -> Running {
    let env = [("DISCORD_PUBLIC_KEY", public.to_string()), ("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))];
    Running::spawn(serve(dir, "receiver", bot, &env))
}

fn worker(dir: &std::path::Path, bot: &str, fake: &FakeDiscord) -> Running {
    let mut worker = Running::spawn(serve(dir, "worker", bot, &[("REGIS_DISCORD_API_URL", fake.api_url())]));
    worker.wait_for_log("worker consuming", WAIT);
    worker
}

fn post(port: u16, key: &ed25519_dalek::SigningKey, id: u64, command: &str) -> String {
    let body = command_interaction(id, command, serde_json::json!([])).to_string();
    signed_post(port, key, &body).unwrap_or_else(|e| format!("no answer: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answers_inline_what_a_worker_in_another_process_replies() {
    let (receiver_dir, worker_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let bot = bot_name("serve-inline");
    let port = free_port();
    let worker = worker(worker_dir.path(), &bot, &fake);
    let receiver = receiver(receiver_dir.path(), &bot, port, &public);
    let (pong, ping, mando) = tokio::task::spawn_blocking(move || {
        let pong = ping_when_up(port, &key, WAIT);
        (pong, post(port, &key, 1, "ping"), post(port, &key, 2, "mando"))
    })
    .await
    .unwrap();
    assert!(pong.ends_with(r#"{"type":1}"#), "{pong}");
    assert!(ping.contains(r#""type":4"#) && ping.contains(r#""content":"pong""#), "answered inline: {ping}");
    assert!(mando.ends_with(r#"{"type":5}"#), "a file is deferred: {mando}");
    let edits = fake.wait_for_calls(1, WAIT).await;
    assert_eq!(edits[0].path, "/webhooks/775799577604522054/token-2/messages/@original");
    assert!(edits[0].files[0].data.starts_with(b"\x89PNG"), "the worker edits in the image");
    tokio::task::spawn_blocking(move || {
        for process in [receiver, worker] {
            process.terminate();
            let out = process.finish_within(WAIT);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    })
    .await
    .unwrap();
    // The inline answer was not also sent over REST.
    eventually(Duration::from_secs(1), "nothing more sent", || fake.calls().len() == 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_worker_the_receiver_defers_and_the_worker_that_comes_later_edits() {
    let (receiver_dir, worker_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let bot = bot_name("serve-late");
    let port = free_port();
    let receiver = receiver(receiver_dir.path(), &bot, port, &public);
    let key2 = key.clone();
    let ping = tokio::task::spawn_blocking(move || {
        ping_when_up(port, &key2, WAIT);
        post(port, &key2, 7, "ping")
    })
    .await
    .unwrap();
    assert!(ping.ends_with(r#"{"type":5}"#), "no worker answered within the budget: {ping}");
    // The envelope waited in JetStream; the worker edits the deferred response.
    let worker = worker(worker_dir.path(), &bot, &fake);
    let edits = fake.wait_for_calls(1, WAIT).await;
    assert_eq!(edits[0].path, "/webhooks/775799577604522054/token-7/messages/@original");
    assert_eq!(edits[0].json.as_ref().map(|j| j["content"].clone()), Some(serde_json::json!("pong")));
    drop((receiver, worker));
}

#[test]
fn serve_names_what_a_role_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = test_key();
    let no_queue = regis(dir.path(), &["serve", "--role", "worker"]).output().unwrap();
    let text = String::from_utf8_lossy(&no_queue.stderr);
    assert!(!no_queue.status.success() && text.contains("`queue_url`"), "{text}");
    let no_key = serve(dir.path(), "receiver", "lacks", &[]).output().unwrap();
    let text = String::from_utf8_lossy(&no_key.stderr);
    assert!(!no_key.status.success() && text.contains("DISCORD_PUBLIC_KEY"), "{text}");
    let no_token = serve(dir.path(), "gateway", "lacks", &[("DISCORD_PUBLIC_KEY", public)]).output().unwrap();
    let text = String::from_utf8_lossy(&no_token.stderr);
    assert!(!no_token.status.success() && text.contains("DISCORD_TOKEN"), "{text}");
    let bad_role = regis(dir.path(), &["serve", "--role", "receiver,cook"]).output().unwrap();
    let text = String::from_utf8_lossy(&bad_role.stderr);
    assert!(!bad_role.status.success() && text.contains("`cook` is not a role"), "{text}");
    let bad_name = serve(dir.path(), "worker", "Not A Name", &[]).output().unwrap();
    let text = String::from_utf8_lossy(&bad_name.stderr);
    assert!(!bad_name.status.success() && text.contains("`bot_name`"), "{text}");
}
