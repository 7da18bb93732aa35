//! `regis run` with a bot token, as a deployment runs it, against the test kit's fake Discord
//! (REST and Gateway): commands answered over the Gateway (beside the interactions endpoint),
//! secrets kept out of trace logs, a clean stop on SIGTERM, a refused token stopping the
//! process with a clear error; and `regis commands sync` writing only what changed.

mod common;

use regis_testkit::fake_discord::{command_interaction, FakeDiscord};
use regis_testkit::fake_gateway::{message_create, FakeGateway, GatewayOptions, AUTHOR_ID, CHANNEL_ID, GUILD_ID};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "MTIzNDU2Nzg5.gateway-secret-token-value";
const WAIT: Duration = Duration::from_secs(20);

fn regis(dir: &std::path::Path, fake: &FakeDiscord, token: &str, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_regis"));
    command
        .args(args)
        .current_dir(dir)
        .env("DISCORD_TOKEN", token)
        .env("REGIS_DISCORD_API_URL", fake.api_url())
        .env("REGIS_LOG", "trace")
        .env_remove("RUST_LOG")
        .env_remove("DISCORD_PUBLIC_KEY")
        .env_remove("DISCORD_APPLICATION_ID")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

async fn wait_for(fake: &FakeDiscord, what: &str, check: impl Fn(&regis_testkit::fake_discord::Call) -> bool) {
    let deadline = Instant::now() + WAIT;
    while !fake.calls().iter().any(&check) {
        assert!(Instant::now() < deadline, "no call {what}: {:#?}", fake.calls());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A signed PING to the interactions endpoint; the raw HTTP answer.
/// `GET path`: the body.
fn get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default()
}

fn signed_ping(port: u16, key: &ed25519_dalek::SigningKey) -> String {
    use ed25519_dalek::Signer;
    use std::io::{Read, Write};
    let body = r#"{"type":1}"#;
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs().to_string();
    let signature = hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes());
    let deadline = Instant::now() + WAIT;
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "the endpoint never listened: {e}");
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    };
    write!(
        stream,
        "POST /interactions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nX-Signature-Ed25519: {signature}\r\nX-Signature-Timestamp: {ts}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

/// Waits for the process to exit; kills it and fails after `WAIT` (a reconnect loop fails
/// the test instead of hanging it).
async fn finish(child: Child) -> Output {
    tokio::task::spawn_blocking(move || common::Running::from(child).finish_within(WAIT)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_runs_the_gateway_and_never_reaches_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = FakeGateway::start_with(GatewayOptions { token: TOKEN.into(), ..GatewayOptions::default() }).await;
    let fake = FakeDiscord::start().await;
    fake.set_bot(TOKEN, regis_testkit::fake_gateway::BOT_ID, "Regis");
    fake.set_gateway(&gateway.url(), 1);
    fake.require_callbacks(true);
    // The interactions endpoint runs beside the Gateway, on the same REST egress.
    let key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32]);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = regis(dir.path(), &fake, TOKEN, &["run"])
        .env("DISCORD_PUBLIC_KEY", hex::encode(key.verifying_key().to_bytes()))
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .spawn()
        .unwrap();
    gateway.wait_ready(1, WAIT).await;
    let pong = tokio::task::spawn_blocking(move || signed_ping(port, &key)).await.unwrap();
    assert!(pong.starts_with("HTTP/1.1 200") && pong.ends_with(r#"{"type":1}"#), "{pong}");
    let path = format!("/channels/{CHANNEL_ID}/messages");
    gateway.dispatch("MESSAGE_CREATE", message_create(10, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "!ping"));
    wait_for(&fake, "pong", |c| c.path == path && c.json.as_ref().is_some_and(|j| j["content"] == "pong")).await;
    gateway.dispatch("INTERACTION_CREATE", command_interaction(77, "roll", serde_json::json!([])));
    wait_for(&fake, "the callback", |c| c.path == "/interactions/77/token-77/callback" && c.status == 204).await;
    // An event twilight cannot read (an interaction without `data.id`) is skipped and logged
    // by type, never with its payload (which holds the interaction's token).
    let mut broken = command_interaction(78, "roll", serde_json::json!([]));
    broken["data"].as_object_mut().unwrap().remove("id");
    broken["token"] = serde_json::json!("leaked-interaction-token-78");
    gateway.dispatch("INTERACTION_CREATE", broken);
    gateway.dispatch("MESSAGE_CREATE", message_create(11, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "!ping"));
    wait_for(&fake, "the pong after it", |c| {
        c.path == path
            && c.json.as_ref().is_some_and(|j| j["content"] == "pong" && j["message_reference"]["message_id"] == "11")
    })
    .await;

    // Ready: the shard's session is active; and its state is in the metrics.
    let (readiness, metrics) =
        tokio::task::spawn_blocking(move || (get(port, "/readyz"), get(port, "/metrics"))).await.unwrap();
    assert_eq!(readiness, "ready\nshutdown: ok\nstorage: ok\ndiscord: ok\n");
    assert!(metrics.contains("regis_gateway_shard_connected{shard=\"0\"} 1"), "{metrics}");
    assert!(metrics.contains("regis_interactions_total{ingress=\"gateway\",answer=\"inline\"} 1"), "{metrics}");

    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = finish(child).await;
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit status {:?}: {logs}", out.status);
    assert!(logs.contains("Discord Gateway") && logs.contains("interactions endpoint"), "{logs}");
    assert!(logs.contains("received dispatch"), "trace logs were on: {logs}");
    assert!(!logs.contains("gateway-secret-token-value"), "the bot token reached the logs");
    assert!(!logs.contains("token-77"), "an interaction token reached the logs");
    assert!(!logs.contains("leaked-interaction-token"), "an unreadable event's token reached the logs: {logs}");
    assert!(logs.contains("could not read a Gateway event (op 0, INTERACTION_CREATE), skipped it"), "{logs}");
    assert!(logs.contains("interactions/77/<token>/callback"), "twilight's request span, redacted: {logs}");
    // The session ended with a normal close, as Discord asks of a bot that leaves.
    assert!(gateway.records().iter().any(|r| matches!(
        r,
        regis_testkit::fake_gateway::Record::Closed {
            by: regis_testkit::fake_gateway::ClosedBy::Client(Some(1000)),
            ..
        }
    )));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_token_stops_the_process_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = FakeGateway::start_with(GatewayOptions { token: TOKEN.into(), ..GatewayOptions::default() }).await;
    let fake = FakeDiscord::start().await;
    fake.set_bot(TOKEN, regis_testkit::fake_gateway::BOT_ID, "Regis");
    fake.set_gateway(&gateway.url(), 1);
    // The Gateway URL and shard count configured: the IDENTIFY is the first thing refused.
    let child = regis(dir.path(), &fake, "not-the-token", &["run"])
        .env(
            "REGIS_HTTP_ADDR",
            format!("127.0.0.1:{}", std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()),
        )
        .env("REGIS_DISCORD_GATEWAY_URL", gateway.url())
        .env("REGIS_DISCORD_SHARDS", "1")
        .spawn()
        .unwrap();
    let out = finish(child).await;
    let logs = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{logs}");
    assert!(logs.contains("4004") && logs.contains("check DISCORD_TOKEN"), "{logs}");
    assert!(!logs.contains("not-the-token"), "{logs}");
    assert_eq!(gateway.received(2).len(), 1, "one IDENTIFY: no reconnect loop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_sync_writes_only_differences() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start().await;
    fake.set_bot(TOKEN, regis_testkit::fake_gateway::BOT_ID, "Regis");
    let sync = |args: &[&str]| {
        let mut command = regis(dir.path(), &fake, TOKEN, args);
        command.env("DISCORD_APPLICATION_ID", "775799577604522054").env("REGIS_LOG", "warn");
        command
    };
    let run = |mut command: Command| async move { finish(command.spawn().unwrap()).await };

    let out = run(sync(&["commands", "sync"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("+ /roll") && stdout.contains("+ /mando") && stdout.contains("+ /rank-set"), "{stdout}");
    assert!(stdout.contains("0 changed, 0 removed, 0 unchanged (global); commands overwritten"), "{stdout}");
    let stored = fake.commands("global");
    assert!(stored.iter().any(|c| c["name"] == "roll" && c["options"][0]["name"] == "dice"));
    // Discord hides what needs a server permission from members without it by default.
    let permissions =
        |name: &str| stored.iter().find(|c| c["name"] == name).map(|c| c["default_member_permissions"].clone());
    assert_eq!(permissions("ban"), Some(serde_json::json!("4")), "Ban Members");
    assert_eq!(permissions("rank-set"), Some(serde_json::json!("268435456")), "Manage Roles");
    assert_eq!(permissions("plugin-disable"), Some(serde_json::json!("32")), "Manage Server");
    assert_eq!(permissions("roll"), Some(serde_json::Value::Null), "offered to everyone");
    // Owner-only commands without a permission of their own: administrators only
    // (`discord_admin_rank`, 999 by default).
    assert_eq!(permissions("trivia-import"), Some(serde_json::json!("0")), "rank 999: administrators");
    assert_eq!(permissions("trivia-skip"), Some(serde_json::Value::Null), "rank 100: offered to everyone");

    let out = run(sync(&["commands", "sync"])).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("nothing written"), "{stdout}");
    let puts = fake.calls().iter().filter(|c| c.method == "PUT").count();
    assert_eq!(puts, 1, "the second sync wrote nothing");

    let out = run(sync(&["commands", "sync", "--guild", "290926798626357999"])).await;
    assert!(out.status.success());
    assert_eq!(fake.commands("290926798626357999").len(), stored.len());
    assert!(fake
        .calls()
        .iter()
        .any(|c| c.method == "PUT" && c.path == "/applications/775799577604522054/guilds/290926798626357999/commands"));

    // A lower threshold hides more; 1000 hides none. Both are changes Discord is sent.
    let mut lower = sync(&["commands", "sync"]);
    lower.env("REGIS_DISCORD_ADMIN_RANK", "100");
    let out = run(lower).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("~ /trivia-skip") && !stdout.contains("/trivia-import"), "{stdout}");
    let stored = fake.commands("global");
    let hidden = stored.iter().find(|c| c["name"] == "trivia-skip").map(|c| c["default_member_permissions"].clone());
    assert_eq!(hidden, Some(serde_json::json!("0")));
    let mut none = sync(&["commands", "sync"]);
    none.env("REGIS_DISCORD_ADMIN_RANK", "1000");
    let stdout = String::from_utf8_lossy(&run(none).await.stdout).into_owned();
    assert!(stdout.contains("~ /trivia-skip") && stdout.contains("~ /trivia-import"), "{stdout}");
    assert!(!stdout.contains("/ban"), "declared permissions stay: {stdout}");
    let mut refused = sync(&["commands", "sync"]);
    refused.env("REGIS_DISCORD_ADMIN_RANK", "1001");
    let out = run(refused).await;
    assert!(String::from_utf8_lossy(&out.stderr).contains("discord_admin_rank"), "a rank out of range is refused");

    let mut missing = sync(&["commands", "sync"]);
    missing.env_remove("DISCORD_APPLICATION_ID");
    let out = run(missing).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DISCORD_APPLICATION_ID"));
}

/// A script plugin over the Discord Gateway and REST API (the fake Discord): its prefix
/// command and its slash command answered, and `commands sync` registering it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_plugin_answers_over_the_gateway_and_is_registered_by_commands_sync() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("plugins")).unwrap();
    std::fs::write(
        dir.path().join("plugins/hello.lua"),
        "return { description = 'Greetings.', commands = {\n\
           { name = 'hello', description = 'Say hello.', params = { { name = 'who', type = 'string' } },\n\
             run = function(ctx, args) return 'hello ' .. args.who end },\n} }\n",
    )
    .unwrap();
    let gateway = FakeGateway::start_with(GatewayOptions { token: TOKEN.into(), ..GatewayOptions::default() }).await;
    let fake = FakeDiscord::start().await;
    fake.set_bot(TOKEN, regis_testkit::fake_gateway::BOT_ID, "Regis");
    fake.set_gateway(&gateway.url(), 1);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child =
        regis(dir.path(), &fake, TOKEN, &["run"]).env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}")).spawn().unwrap();
    gateway.wait_ready(1, WAIT).await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    gateway
        .dispatch("MESSAGE_CREATE", message_create(20, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "!hello ann"));
    wait_for(&fake, "the script's answer", |c| {
        c.path == path && c.json.as_ref().is_some_and(|j| j["content"] == "hello ann")
    })
    .await;
    let options = serde_json::json!([{ "name": "who", "type": 3, "value": "bob" }]);
    gateway.dispatch("INTERACTION_CREATE", command_interaction(90, "hello", options));
    wait_for(&fake, "the slash command's answer", |c| {
        c.path == "/interactions/90/token-90/callback"
            && c.json.as_ref().is_some_and(|j| j["data"]["content"] == "hello bob")
    })
    .await;
    assert!(Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    assert!(finish(child).await.status.success());

    let mut sync = regis(dir.path(), &fake, TOKEN, &["commands", "sync"]);
    sync.env("DISCORD_APPLICATION_ID", "775799577604522054").env("REGIS_LOG", "warn");
    let out = finish(sync.spawn().unwrap()).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("+ /hello"), "{}", String::from_utf8_lossy(&out.stdout));
    let stored = fake.commands("global");
    let hello = stored.iter().find(|c| c["name"] == "hello").expect("the script's command is registered");
    assert_eq!(hello["options"][0]["name"], "who");
    assert_eq!(hello["options"][0]["required"], true);
}
