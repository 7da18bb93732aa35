//! `regis run` with an IRC server configured, beside Discord's interactions in the same
//! process: each answered on the connector it came from; `regis serve --role irc` with
//! workers in other processes meeting it on NATS (`TEST_NATS_URL`). And what it refuses to
//! configure.

mod common;

use common::{free_port, ping_when_up, regis, signed_post, test_key, Running};
use regis_testkit::fake_discord::command_interaction;
use regis_testkit::ircd::{Client, Server};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// An IRC server, and `regis run` joining `#regis` as `Regis` on it and serving Discord's
/// interactions on a free port (with `env` besides): the server, the bot, the key that signs
/// interactions, the port, and the data directory.
fn irc_and_discord(env: &[(&str, &str)]) -> (Server, Running, ed25519_dalek::SigningKey, u16, tempfile::TempDir) {
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
        .env("REGIS_IRC_NICK", "Regis")
        .envs(env.iter().copied());
    (server, Running::spawn(command), key, port, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_answers_on_irc_and_on_discord() {
    let (server, bot, key, port, _dir) = irc_and_discord(&[]);
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

/// Sends `line` to `#regis` until the bot answers `to` there (it may not have joined yet).
async fn ask_until_answered(client: &mut Client, to: &str, line: &str) -> String {
    let deadline = Instant::now() + WAIT;
    let head = format!(" PRIVMSG #regis :{to}: ");
    loop {
        client.send(&format!("PRIVMSG #regis :{line}")).await;
        let from_bot = |l: &str| l.starts_with(":Regis!") && l.contains(&head);
        let answer = tokio::time::timeout(Duration::from_secs(2), client.until(from_bot)).await;
        if let Ok(line) = answer {
            return line.split_once(&head).map(|(_, text)| text.to_string()).unwrap_or_default();
        }
        assert!(Instant::now() < deadline, "the bot never answered {line} on IRC");
    }
}

/// An IRC nick and a Discord user linked with `/link` and `!link <code>` are one person: a ban
/// of the IRC identity silences the Discord one too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_nick_linked_to_a_discord_user_shares_its_ban() {
    let (server, bot, key, port, _dir) = irc_and_discord(&[("REGIS_OWNERS", "irc:boss")]);
    let post_key = key.clone();
    let post = move |id: u64, name: &'static str| {
        let key = post_key.clone();
        tokio::task::spawn_blocking(move || {
            signed_post(port, &key, &command_interaction(id, name, serde_json::json!([])).to_string()).unwrap()
        })
    };
    tokio::task::spawn_blocking(move || ping_when_up(port, &key, WAIT)).await.unwrap();
    let linking = post(6, "link").await.unwrap();
    assert!(linking.contains(r#""flags":64"#), "the code is ephemeral: {linking}");
    let code: String = linking.split("Your link code: ").nth(1).expect(&linking).chars().take(10).collect();

    let mut ann = Client::connect(&server, "ann").await;
    ann.join("#regis").await;
    let linked = ask_until_answered(&mut ann, "ann", &format!("!link {code}")).await;
    assert_eq!(linked, "irc:ann is now linked to discord:53908232506183680: one rank, ban and data for both.");
    let mut boss = Client::connect(&server, "boss").await;
    boss.join("#regis").await;
    assert_eq!(ask_until_answered(&mut boss, "boss", "!ban ann").await, "ann is banned.");

    let ignored = post(7, "ping").await.unwrap();
    assert!(!ignored.contains("pong"), "the Discord identity of the banned person is ignored: {ignored}");
    ann.send("PRIVMSG #regis :!ping").await;
    assert_eq!(ask_until_answered(&mut boss, "boss", "!ping").await, "pong");
    let answered = tokio::time::timeout(Duration::from_secs(2), ann.until(|l| l.contains(":ann: pong"))).await;
    assert!(answered.is_err(), "a banned nick got an answer");
    assert_eq!(
        ask_until_answered(&mut boss, "boss", "!unban discord:53908232506183680").await,
        "discord:53908232506183680 is no longer banned."
    );
    let pong = post(8, "ping").await.unwrap();
    assert!(pong.contains(r#""content":"pong""#), "{pong}");
    bot.terminate();
    let out = bot.finish_within(WAIT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `!mando` on IRC: without an archive the image cannot be shown and the reply says so; with
/// an archive that has a public address, the reply links to the image there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mandala_on_irc_is_a_link_to_the_archive_or_says_it_cannot_be_shown() {
    for archived in [false, true] {
        let store = tempfile::tempdir().unwrap();
        let store_url = format!("file://{}", store.path().display());
        let env: Vec<(&str, &str)> = if archived {
            vec![("REGIS_OBJECT_STORE_URL", &store_url), ("REGIS_PUBLIC_BASE_URL", "https://cdn.example/m")]
        } else {
            Vec::new()
        };
        let (server, bot, _key, _port, _dir) = irc_and_discord(&env);
        let mut ann = Client::connect(&server, "ann").await;
        ann.join("#regis").await;
        let first = ask_until_answered(&mut ann, "ann", "!mando 3").await;
        assert!(first.starts_with("Mandala: seed 3"), "{first}");
        let (mut lines, deadline) = (Vec::new(), Instant::now() + WAIT);
        while !lines.iter().any(|l: &String| l.starts_with("[file ") || l.starts_with("https://")) {
            assert!(Instant::now() < deadline, "no image line: {lines:?}");
            lines.push(ann.privmsg("Regis", "#regis").await.0);
        }
        let image = lines.last().unwrap();
        if archived {
            assert!(image.starts_with("https://cdn.example/m/mandalas/") && image.ends_with(".png"), "{image}");
            let stored = std::fs::read_dir(store.path().join("mandalas")).unwrap().count();
            assert_eq!(stored, 1, "the image is in the archive");
        } else {
            assert!(
                image.starts_with("[file mandala-3.png (image/png, ") && image.ends_with("files cannot be shown here]"),
                "{image}"
            );
        }
        bot.terminate();
        bot.finish_within(WAIT);
    }
}

/// `regis serve --role ROLES` of bot `bot` in `dir`, for the IRC server `server`: nick
/// `Regis` in `#regis`, a one-second shutdown grace, a two-second ack wait, log level `log`.
fn serve(dir: &std::path::Path, roles: &str, bot: &str, server: &Server, log: &str) -> Running {
    let mut command = regis(dir, &["serve", "--role", roles]);
    command
        .env("REGIS_QUEUE_URL", regis_testkit::services::nats_url())
        .env("REGIS_BOT_NAME", bot)
        .env("REGIS_LOG", log)
        .env("REGIS_SHUTDOWN_GRACE", "1s")
        // What a killed worker had taken goes to another soon.
        .env("REGIS_QUEUE_ACK_WAIT", "2s")
        .env("REGIS_IRC_SERVER", server.addr())
        .env("REGIS_IRC_CHANNELS", "#regis")
        .env("REGIS_IRC_NICK", "Regis");
    Running::spawn(command)
}

/// The next line from the bot to `#regis`, if one comes within `within`.
async fn next_answer(client: &mut Client, within: Duration) -> Option<String> {
    tokio::time::timeout(within, client.privmsg("Regis", "#regis")).await.ok().map(|(text, _)| text)
}

/// Waits until the bot is in `#regis` (ann is there and sees it join).
async fn wait_for_join(ann: &mut Client) {
    ann.until(|l| l.starts_with(":Regis!") && l.contains(" JOIN ")).await;
}

/// The IRC connection as a role of its own: what it takes is queued on JetStream for workers
/// in other processes, who answer through it; a message taken while no worker runs is answered
/// by the one that comes later; a reply whose IRC process died goes out once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_irc_role_takes_messages_and_workers_in_other_processes_answer_through_it() {
    let server = Server::start();
    let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    let bot = format!(
        "irc-role-{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() % (1 << 40)
    );
    let mut ann = Client::connect(&server, "ann").await;
    ann.join("#regis").await;
    let mut irc = serve(dirs[0].path(), "irc", &bot, &server, "warn");
    irc.wait_for_log("relaying replies from workers", WAIT);
    wait_for_join(&mut ann).await;

    // Taken with no worker running: it waits in JetStream.
    ann.send("PRIVMSG #regis :!ping").await;
    assert_eq!(next_answer(&mut ann, Duration::from_secs(1)).await, None, "nobody could answer yet");
    let mut first = serve(dirs[1].path(), "worker", &bot, &server, "warn");
    first.wait_for_log("worker consuming", WAIT);
    assert_eq!(next_answer(&mut ann, WAIT).await.as_deref(), Some("ann: pong"));

    // Two workers: every command answered once.
    let mut second = serve(dirs[2].path(), "worker", &bot, &server, "warn");
    second.wait_for_log("worker consuming", WAIT);
    for _ in 0..10 {
        ann.send("PRIVMSG #regis :!ping").await;
    }
    let mut answers = Vec::new();
    while let Some(answer) = next_answer(&mut ann, Duration::from_secs(3)).await {
        answers.push(answer);
    }
    assert_eq!(answers, vec!["ann: pong"; 10], "each command answered exactly once");

    // No worker and then no IRC process: the message is queued; the worker that comes finds
    // nobody to send its reply through, and sends it once the IRC process is back.
    first.kill();
    second.kill();
    let nats = async_nats::connect(regis_testkit::services::nats_url()).await.unwrap();
    let mut queued = nats.subscribe(format!("regis.{bot}.envelopes.>")).await.unwrap();
    nats.flush().await.unwrap();
    ann.send("PRIVMSG #regis :!help ping").await;
    tokio::time::timeout(WAIT, futures::StreamExt::next(&mut queued))
        .await
        .expect("the IRC process queued the message");
    irc.kill();
    ann.until(|l| l.starts_with(":Regis!") && l.contains(" QUIT ")).await;
    let mut late = serve(dirs[3].path(), "worker", &bot, &server, "info");
    late.wait_for_log("the reply could not be sent now", WAIT);
    let irc = serve(dirs[0].path(), "irc", &bot, &server, "warn");
    wait_for_join(&mut ann).await;
    let answer = next_answer(&mut ann, WAIT).await.unwrap_or_default();
    assert!(answer.starts_with("ann: ") && answer.contains("ping"), "the help, late: {answer}");

    for process in [irc, late] {
        process.terminate();
        let out = process.finish_within(WAIT);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
}

#[test]
fn unreadable_tls_roots_and_an_empty_sasl_password_are_refused_at_start() {
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
    command.env("REGIS_IRC_SERVER", "127.0.0.1:6667").env("REGIS_IRC_PASSWORD", "");
    let out = Running::spawn(command).finish_within(WAIT);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("REGIS_IRC_PASSWORD is set but empty"), "{err}");
    let mut command = regis(dir.path(), &["run"]);
    command.env("REGIS_IRC_SERVER", "no-port");
    let out = Running::spawn(command).finish_within(WAIT);
    assert!(String::from_utf8_lossy(&out.stderr).contains("`no-port` is not `host:port`"));
}
