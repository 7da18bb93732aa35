//! `regis run` with an IRC server configured, beside Discord's interactions in the same
//! process: each answered on the connector it came from. And what it refuses to configure.

mod common;

use common::{free_port, ping_when_up, regis, signed_post, test_key, Running};
use regis_testkit::fake_discord::command_interaction;
use regis_testkit::ircd::{Client, Server};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_answers_on_irc_and_on_discord() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let mut command = regis(dir.path(), &["run"]);
    command
        .env("DISCORD_PUBLIC_KEY", &public)
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env("REGIS_IRC_SERVER", server.addr())
        .env("REGIS_IRC_CHANNELS", "#regis")
        .env("REGIS_IRC_NICK", "Regis");
    let bot = Running::spawn(command);
    let interaction = tokio::task::spawn_blocking(move || {
        ping_when_up(port, &key, WAIT);
        signed_post(port, &key, &command_interaction(5, "ping", serde_json::json!([])).to_string()).unwrap()
    })
    .await
    .unwrap();
    assert!(interaction.contains(r#""content":"pong""#), "{interaction}");
    let mut ann = Client::connect(&server, "ann").await;
    ann.join("#regis").await;
    let deadline = Instant::now() + WAIT;
    loop {
        ann.send("PRIVMSG #regis :!ping").await;
        let answer = tokio::time::timeout(Duration::from_secs(1), ann.privmsg("Regis", "#regis")).await;
        if let Ok((text, _)) = answer {
            assert_eq!(text, "ann: pong");
            break;
        }
        assert!(Instant::now() < deadline, "the bot never answered on IRC");
    }
    bot.terminate();
    let out = bot.finish_within(WAIT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn unreadable_tls_roots_and_a_sasl_password_are_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = regis(dir.path(), &["run"]);
    command
        .env("REGIS_IRC_SERVER", "127.0.0.1:6697")
        .env("REGIS_IRC_TLS", "true")
        .env("REGIS_IRC_TLS_ROOTS", "no-such.pem");
    let out = Running::spawn(command).finish_within(WAIT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("cannot read the certificates in no-such.pem"), "{err}");
    let mut command = regis(dir.path(), &["run"]);
    command.env("REGIS_IRC_SERVER", "127.0.0.1:6667").env("REGIS_IRC_PASSWORD", "hunter2");
    let out = Running::spawn(command).finish_within(WAIT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("SASL is not built yet"), "{err}");
    assert!(!err.contains("hunter2"));
    let mut command = regis(dir.path(), &["run"]);
    command.env("REGIS_IRC_SERVER", "no-port");
    let out = Running::spawn(command).finish_within(WAIT);
    assert!(String::from_utf8_lossy(&out.stderr).contains("`no-port` is not `host:port`"));
}
