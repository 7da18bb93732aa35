//! `regis serve` on Google Cloud Pub/Sub: receivers and workers as separate processes meeting on
//! Google's emulator (`TEST_PUBSUB_EMULATOR_HOST`, started by `scripts/test`), the workers'
//! shared state in PostgreSQL (`TEST_DATABASE_URL`), the fake Discord behind the workers. Pub/Sub
//! has no request-reply: receivers defer every interaction at once and a worker edits it.

mod common;

use common::{eventually, free_port, ping_when_up, regis, signed_post, test_key, Running};
use regis_testkit::fake_discord::{command_interaction, FakeDiscord};
use regis_testkit::services::{database_url, drop_schemas};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

fn emulator() -> String {
    std::env::var("TEST_PUBSUB_EMULATOR_HOST").ok().filter(|h| !h.is_empty()).expect(
        "these tests need Google's Pub/Sub emulator: run scripts/test, which starts one, or start \
         /usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator --host=127.0.0.1 --port=PORT \
         and set TEST_PUBSUB_EMULATOR_HOST=127.0.0.1:PORT",
    )
}

/// A bot (and topic) name no other test or run uses.
fn bot_name(test: &str) -> String {
    format!("{test}-{:08x}", fastrand::u32(..))
}

/// `regis serve --role ROLES` of bot `bot` on the emulator's topic of the same name.
fn serve(dir: &std::path::Path, roles: &str, bot: &str, env: &[(&str, String)]) -> std::process::Command {
    let mut command = regis(dir, &["serve", "--role", roles]);
    command
        .env("REGIS_QUEUE_URL", format!("pubsub://regis-test/{bot}"))
        .env("PUBSUB_EMULATOR_HOST", emulator())
        .env("REGIS_BOT_NAME", bot)
        .env("REGIS_LOG", "warn");
    for (key, value) in env {
        command.env(key, value);
    }
    command
}

fn receiver(dir: &std::path::Path, bot: &str, port: u16, public: &str) -> Running {
    let env = [("DISCORD_PUBLIC_KEY", public.to_string()), ("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))];
    Running::spawn(serve(dir, "receiver", bot, &env))
}

/// A worker; `push_port`: pushed to on this port, else pulling.
fn worker(dir: &std::path::Path, bot: &str, fake: &FakeDiscord, push_port: Option<u16>) -> Running {
    let mut env = vec![("REGIS_DISCORD_API_URL", fake.api_url()), ("REGIS_DATABASE_URL", database_url())];
    if let Some(port) = push_port {
        env.push(("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}")));
        env.push(("REGIS_PUBSUB_PUSH_ENDPOINT", format!("http://127.0.0.1:{port}/pubsub/push")));
    }
    let mut worker = Running::spawn(serve(dir, "worker", bot, &env));
    worker.wait_for_log("worker consuming", WAIT);
    worker
}

fn post(port: u16, key: &ed25519_dalek::SigningKey, id: u64, command: &str) -> String {
    let body = command_interaction(id, command, serde_json::json!([])).to_string();
    signed_post(port, key, &body).unwrap_or_else(|e| format!("no answer: {e}"))
}

/// A script plugin whose command says nothing.
const QUIET: &str =
    r#"return { commands = { { name = "hush", description = "Say nothing.", run = function(ctx, args) end } } }"#;

const ORIGINAL: &str = "/webhooks/775799577604522054/token-{id}/messages/@original";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_pubsub_receivers_defer_at_once_and_two_pulling_workers_edit_each_reply_once() {
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let bot = bot_name("pubsub-pull");
    let ports = [free_port(), free_port()];
    // A command that answers nothing: on Pub/Sub its deferral still gets an answer.
    for dir in &dirs[..2] {
        std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
        std::fs::write(dir.path().join("plugins/quiet.lua"), QUIET).unwrap();
    }
    let workers = [worker(dirs[0].path(), &bot, &fake, None), worker(dirs[1].path(), &bot, &fake, None)];
    let receivers =
        [receiver(dirs[2].path(), &bot, ports[0], &public), receiver(dirs[3].path(), &bot, ports[1], &public)];
    let answers = tokio::task::spawn_blocking(move || {
        for port in ports {
            ping_when_up(port, &key, WAIT);
        }
        // Every interaction reaches both receivers (as a retry through another region would):
        // each is queued twice, and the workers' shared dedupe answers it once.
        let mut answers = Vec::new();
        for id in 1..=20 {
            answers.extend(ports.map(|port| post(port, &key, id, "ping")));
        }
        answers.push(post(ports[0], &key, 21, "mando"));
        answers.push(post(ports[1], &key, 22, "hush"));
        answers
    })
    .await
    .unwrap();
    for answer in &answers {
        assert!(answer.ends_with(r#"{"type":5}"#), "deferred at once, with no worker to wait for: {answer}");
    }
    let calls = fake.wait_for_calls(22, WAIT).await;
    let paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    let mut edited = paths.clone();
    edited.sort_unstable();
    edited.dedup();
    assert_eq!((paths.len(), edited.len()), (22, 22), "each interaction's original response edited once: {paths:?}");
    for id in 1..=20 {
        let call = calls.iter().find(|c| c.path == ORIGINAL.replace("{id}", &id.to_string())).expect("its edit");
        assert_eq!(call.json.as_ref().map(|j| j["content"].clone()), Some(serde_json::json!("pong")));
    }
    let mando = calls
        .iter()
        .find(|c| c.path == ORIGINAL.replace("{id}", "21"))
        .unwrap_or_else(|| panic!("the image edit: {paths:?}"));
    assert!(mando.files[0].data.starts_with(b"\x89PNG"), "the worker edits in the image");
    let hush = calls
        .iter()
        .find(|c| c.path.contains("token-22"))
        .unwrap_or_else(|| panic!("an answer to the quiet command: {paths:?}"));
    assert_eq!(hush.json.as_ref().map(|j| j["content"].clone()), Some(serde_json::json!("Done.")), "{hush:?}");
    tokio::task::spawn_blocking(move || {
        for process in workers.into_iter().chain(receivers) {
            process.terminate();
            let out = process.finish_within(WAIT);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        }
    })
    .await
    .unwrap();
    eventually(Duration::from_secs(2), "nothing more sent", || fake.calls().len() == 22);
    drop_schemas(&database_url(), &bot).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_pushed_to_by_pubsub_edits_the_deferred_reply() {
    let (worker_dir, receiver_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let bot = bot_name("pubsub-push");
    let (port, push_port) = (free_port(), free_port());
    let worker = worker(worker_dir.path(), &bot, &fake, Some(push_port));
    let receiver = receiver(receiver_dir.path(), &bot, port, &public);
    let ping = tokio::task::spawn_blocking(move || {
        ping_when_up(port, &key, WAIT);
        post(port, &key, 5, "ping")
    })
    .await
    .unwrap();
    assert!(ping.ends_with(r#"{"type":5}"#), "{ping}");
    let edits = fake.wait_for_calls(1, WAIT).await;
    assert_eq!(edits[0].path, ORIGINAL.replace("{id}", "5"));
    assert_eq!(edits[0].json.as_ref().map(|j| j["content"].clone()), Some(serde_json::json!("pong")));
    assert!(worker.log().contains("taking Pub/Sub's pushes"), "{}", worker.log());
    drop((receiver, worker));
    drop_schemas(&database_url(), &bot).await;
}

#[test]
fn on_pubsub_serve_names_what_a_role_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let (_, public) = test_key();
    let failure = |roles: &str, env: &[(&str, String)]| {
        let out = serve(dir.path(), roles, "pubsub-lacks", env).output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let text = failure("worker", &[]);
    assert!(text.contains("`database_url`"), "a worker keeps its shared state in PostgreSQL: {text}");
    let text = failure("gateway", &[("DISCORD_TOKEN", "t".into())]);
    assert!(text.contains("need NATS") && text.contains("`queue_url`"), "{text}");
    // Off the emulator, pushes must be checked.
    let mut google = serve(dir.path(), "worker", "pubsub-lacks", &[("REGIS_DATABASE_URL", database_url())]);
    google.env_remove("PUBSUB_EMULATOR_HOST").env("REGIS_PUBSUB_PUSH_ENDPOINT", "https://w.example/pubsub/push");
    let out = google.output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && text.contains("`pubsub_push_service_account`"), "{text}");
    let bad = regis(dir.path(), &["serve", "--role", "receiver"])
        .env("REGIS_QUEUE_URL", "pubsub://regis-test/9starts-with-a-digit")
        .env("DISCORD_PUBLIC_KEY", public)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && text.contains("`queue_url`") && text.contains("start with a letter"), "{text}");
}
