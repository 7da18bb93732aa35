//! `regis serve`: receivers and workers as separate processes meeting on a real NATS server
//! (`TEST_NATS_URL`, default nats://127.0.0.1:4222), each test on a bot name of its own, with
//! the fake Discord behind the workers.

mod common;

use common::{eventually, free_port, ping_when_up, regis, signed_post, test_key, Running};
use regis_testkit::fake_discord::{command_interaction, FakeDiscord};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

use regis_testkit::services::nats_url;

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
    let no_server = serve(dir.path(), "irc", "lacks", &[]).output().unwrap();
    let text = String::from_utf8_lossy(&no_server.stderr);
    assert!(!no_server.status.success() && text.contains("`irc.server` (REGIS_IRC_SERVER)"), "{text}");
    let bad_role = regis(dir.path(), &["serve", "--role", "receiver,cook"]).output().unwrap();
    let text = String::from_utf8_lossy(&bad_role.stderr);
    assert!(!bad_role.status.success() && text.contains("`cook` is not a role"), "{text}");
    let bad_name = serve(dir.path(), "worker", "Not A Name", &[]).output().unwrap();
    let text = String::from_utf8_lossy(&bad_name.stderr);
    assert!(!bad_name.status.success() && text.contains("`bot_name`"), "{text}");
}

/// A nats-server of the test's own (JetStream, file storage in `dir`), to stop and restart.
struct PrivateNats {
    port: u16,
    dir: std::path::PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateNats {
    fn start(port: u16, dir: &std::path::Path) -> PrivateNats {
        let mut nats = PrivateNats { port, dir: dir.to_path_buf(), child: None };
        nats.restart();
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string(), "-js", "-sd"])
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server on the PATH (scripts/test installs it)");
        self.child = Some(child);
        eventually(WAIT, "nats-server listening", || std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok());
    }

    /// SIGKILL: the server dies at once, as when its machine fails.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.kill();
    }
}

fn status_of(response: &str) -> u16 {
    response.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_nats_restart_receivers_refuse_then_recover_and_nothing_queued_is_lost() {
    let (nats_dir, receiver_dir, worker_dir) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut nats = PrivateNats::start(free_port(), nats_dir.path());
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let (bot, port) = (bot_name("restart"), free_port());
    let queue = ("REGIS_QUEUE_URL", nats.url());
    let env = [
        ("DISCORD_PUBLIC_KEY", public.clone()),
        ("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("REGIS_INTERACTION_BUDGET", "500ms".to_string()),
        queue.clone(),
    ];
    let receiver = Running::spawn(serve(receiver_dir.path(), "receiver", &bot, &env));
    let worker_env = [("REGIS_DISCORD_API_URL", fake.api_url()), queue];
    // Three interactions wait in the stream while no worker runs.
    let key2 = key.clone();
    let queued = tokio::task::spawn_blocking(move || {
        ping_when_up(port, &key2, WAIT);
        (1..=3).map(|id| post(port, &key2, id, "ping")).collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for response in &queued {
        assert!(response.ends_with(r#"{"type":5}"#), "queued and deferred: {response}");
    }
    nats.kill();
    // Down: the receiver refuses rather than accept what it cannot queue.
    let key2 = key.clone();
    let refused = tokio::task::spawn_blocking(move || {
        let mut id = 100;
        let mut last = String::new();
        // Within Discord's 3 s: a publish waiting on a dead connection would be too late.
        eventually(WAIT, "a 503 within 3 s while NATS is down", || {
            id += 1;
            let body = command_interaction(id, "ping", serde_json::json!([])).to_string();
            last = common::signed_post_within(port, &key2, &body, Duration::from_secs(3)).unwrap_or_default();
            status_of(&last) == 503
        });
        last
    })
    .await
    .unwrap();
    assert!(refused.contains("cannot queue the interaction now"), "{refused}");
    nats.restart();
    // Up again: the receiver takes interactions again by itself.
    let key2 = key.clone();
    tokio::task::spawn_blocking(move || {
        let mut id = 200;
        eventually(WAIT, "the receiver recovering", || {
            id += 1;
            status_of(&post(port, &key2, id, "ping")) == 200
        });
    })
    .await
    .unwrap();
    let mut worker = Running::spawn(serve(worker_dir.path(), "worker", &bot, &worker_env));
    worker.wait_for_log("worker consuming", WAIT);
    // What was queued before the restart is handled after it.
    for id in 1..=3 {
        let path = format!("/webhooks/775799577604522054/token-{id}/messages/@original");
        let deadline = std::time::Instant::now() + WAIT;
        while !fake.calls().iter().any(|c| c.path == path) {
            assert!(std::time::Instant::now() < deadline, "interaction {id} was lost: {:?}", fake.calls());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    drop((receiver, worker));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_defers_at_once_when_the_workers_are_far_behind() {
    let receiver_dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let (bot, port) = (bot_name("backlog"), free_port());
    let env = [
        ("DISCORD_PUBLIC_KEY", public),
        ("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}")),
        ("REGIS_INTERACTION_BUDGET", "2500ms".to_string()),
        ("REGIS_INTERACTION_DEFER_BACKLOG", "2".to_string()),
    ];
    // No worker: what is queued stays queued.
    let receiver = Running::spawn(serve(receiver_dir.path(), "receiver", &bot, &env));
    let answers = tokio::task::spawn_blocking(move || {
        ping_when_up(port, &key, WAIT);
        let waited: Vec<_> = (1..=2)
            .map(|id| {
                let key = key.clone();
                std::thread::spawn(move || post(port, &key, id, "ping"))
            })
            .collect();
        let waited: Vec<String> = waited.into_iter().map(|t| t.join().unwrap()).collect();
        // Two envelopes wait now: the next interaction is deferred without waiting the 2.5 s
        // budget, well within Discord's 3 s.
        std::thread::sleep(Duration::from_millis(300));
        let body = command_interaction(3, "ping", serde_json::json!([])).to_string();
        let at_once = common::signed_post_within(port, &key, &body, Duration::from_millis(1500));
        (waited, at_once.unwrap_or_else(|e| format!("no answer within 1.5 s: {e}")))
    })
    .await
    .unwrap();
    for waited in &answers.0 {
        assert!(waited.ends_with(r#"{"type":5}"#), "deferred at the budget: {waited}");
    }
    assert!(answers.1.ends_with(r#"{"type":5}"#), "deferred at once: {}", answers.1);
    drop(receiver);
}
