//! The IRC connector against a real IRC server: Debian's ngircd on a loopback port with a
//! throwaway configuration (`TEST_NGIRCD`, default `ngircd` on the PATH), and a plain test
//! client on the same server.

mod common;

use regis_core::{Bot, Ctx, Result};
use regis_irc::{IrcConfig, MAX_LINE};
use regis_testkit::ircd::{Client, Server, WAIT};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Test commands: a long reply and a burst of replies.
pub struct Talk;

#[regis_macros::plugin]
impl Talk {
    /// A reply of 3 000 characters with emoji and CJK in it.
    #[command]
    async fn long(&self, _ctx: &Ctx) -> Result<String> {
        Ok(long_text())
    }

    /// Look a nick up.
    ///
    /// # Arguments
    /// * `nick` - who
    #[command]
    async fn whois(&self, ctx: &Ctx, nick: String) -> Result<String> {
        Ok(match ctx.user(&nick).await? {
            Some(user) => format!("found {}", user.name),
            None => format!("no {nick} here"),
        })
    }

    /// Describe a channel.
    ///
    /// # Arguments
    /// * `channel` - which
    #[command]
    async fn about(&self, ctx: &Ctx, channel: String) -> Result<String> {
        Ok(match ctx.channel(&channel).await? {
            Some(c) => {
                format!("{} topic={} members={}", c.name, c.topic.as_deref().unwrap_or("-"), c.members.join(","))
            }
            None => format!("no {channel}"),
        })
    }

    /// Fifty replies.
    #[command]
    async fn burst(&self, ctx: &Ctx) -> Result<String> {
        for i in 0..49 {
            ctx.reply(format!("line {i}")).await?;
        }
        Ok("line 49".into())
    }
}

fn long_text() -> String {
    let mut text = String::new();
    let mut i = 0;
    while text.chars().count() < 3000 {
        text.push_str(["word ", "🦀", "日本語", "ß ", "x"][i % 5]);
        i += 1;
    }
    text.chars().take(3000).collect()
}

/// A bot on the server as `Regis`, in #regis, with `flood` lines a second after a burst.
async fn bot(server: &Server, flood: f64) -> (Bot, watch::Sender<bool>, tempfile::TempDir) {
    bot_with(IrcConfig::new(server.addr(), "Regis"), flood).await
}

async fn bot_with(mut config: IrcConfig, flood: f64) -> (Bot, watch::Sender<bool>, tempfile::TempDir) {
    config.flood_per_second = flood;
    config.flood_burst = 10;
    common::irc_bot(config, Talk).await
}

/// A client in #regis once the bot is there too.
async fn client_with_bot(server: &Server, nick: &str) -> Client {
    let mut client = Client::connect(server, nick).await;
    client.join("#regis").await;
    let deadline = Instant::now() + WAIT;
    loop {
        client.send("NAMES #regis").await;
        let names = client.until(|l| l.split(' ').nth(1) == Some("353")).await;
        if names.split(' ').any(|n| n.trim_start_matches([':', '@', '+']) == "Regis") {
            return client;
        }
        assert!(Instant::now() < deadline, "the bot never joined: {names}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_in_a_channel_in_private_and_addressed_by_nick() {
    let server = Server::start();
    let (_bot, _stop, _dir) = bot(&server, 0.0).await;
    let mut ann = client_with_bot(&server, "ann").await;
    ann.send("PRIVMSG #regis :!ping").await;
    assert_eq!(ann.privmsg("Regis", "#regis").await.0, "ann: pong");
    ann.send("PRIVMSG #regis :Regis: ping").await;
    assert_eq!(ann.privmsg("Regis", "#regis").await.0, "ann: pong");
    ann.send("PRIVMSG Regis :!ping").await;
    assert_eq!(ann.privmsg("Regis", "ann").await.0, "pong", "in private, without the nick");
    ann.send("PRIVMSG Regis :!whois ann").await;
    assert_eq!(ann.privmsg("Regis", "ann").await.0, "found ann", "WHOIS");
    ann.send("PRIVMSG Regis :!whois nobody42").await;
    assert_eq!(ann.privmsg("Regis", "ann").await.0, "no nobody42 here");
    ann.send("PRIVMSG #regis :Regis,").await;
    let (help, _) = ann.privmsg("Regis", "#regis").await;
    assert!(help.starts_with("ann: Commands you may run"), "{help}");
}

/// `ctx.channel`: a channel the bot is in is followed (joins, parts, nick changes, topic);
/// another is asked about (`TOPIC`, `NAMES`); one that does not exist is `None`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_lookups_follow_topic_and_members() {
    let server = Server::start();
    let (_bot, _stop, _dir) = bot(&server, 0.0).await;
    let mut ann = client_with_bot(&server, "ann").await;
    assert_eq!(ask(&mut ann, "#regis").await, "#regis topic=- members=Regis,ann");
    let mut bob = client_with_bot(&server, "bob").await;
    bob.send("NICK bobby").await;
    bob.until(|l| l.contains(" NICK ")).await;
    assert_eq!(ask(&mut ann, "#regis").await, "#regis topic=- members=Regis,ann,bobby");
    bob.send("PART #regis").await;
    bob.until(|l| l.contains(" PART ")).await;
    assert_eq!(ask(&mut ann, "#regis").await, "#regis topic=- members=Regis,ann");
    // A channel the bot is not in: ann makes it and sets its topic.
    ann.send("JOIN #lab").await;
    ann.until(|l| l.split(' ').nth(1) == Some("366")).await;
    ann.send("TOPIC #lab :cats and lasers").await;
    ann.until(|l| l.contains(" TOPIC #lab ")).await;
    assert_eq!(ask(&mut ann, "#lab").await, "#lab topic=cats and lasers members=ann");
    assert_eq!(ask(&mut ann, "#nowhere").await, "no #nowhere");
    assert_eq!(ask(&mut ann, "not-a-channel").await, "no not-a-channel");
}

/// What the bot answers ann in private about `channel`.
async fn ask(ann: &mut Client, channel: &str) -> String {
    ann.send(&format!("PRIVMSG Regis :!about {channel}")).await;
    ann.privmsg("Regis", "ann").await.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_reply_is_split_within_the_line_limit_and_reassembles() {
    let server = Server::start();
    let (_bot, _stop, _dir) = bot(&server, 0.0).await;
    let mut ann = client_with_bot(&server, "ann").await;
    ann.send("PRIVMSG Regis :!long").await;
    let want = long_text();
    let mut got = String::new();
    let mut pieces = 0;
    while got.len() < want.len() {
        let (text, line) = ann.privmsg("Regis", "ann").await;
        assert!(line.len() + 2 <= MAX_LINE, "{} bytes: {line}", line.len() + 2);
        got.push_str(&text);
        pieces += 1;
        // Split at a space: the space is dropped, so put it back for the comparison.
        if want[got.len()..].starts_with(' ') {
            got.push(' ');
        }
    }
    assert_eq!(got, want);
    assert!(pieces >= want.len() / MAX_LINE, "{pieces} lines for {} bytes", want.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_fifty_replies_arrives_in_order_without_a_disconnect() {
    let server = Server::start();
    let (_bot, _stop, _dir) = bot(&server, 4.0).await;
    let mut ann = client_with_bot(&server, "ann").await;
    ann.send("PRIVMSG Regis :!burst").await;
    for i in 0..50 {
        assert_eq!(ann.privmsg("Regis", "ann").await.0, format!("line {i}"));
    }
    // Still connected and answering.
    ann.send("PRIVMSG Regis :!ping").await;
    assert_eq!(ann.privmsg("Regis", "ann").await.0, "pong");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_taken_nick_falls_back_and_a_restarted_server_is_joined_again() {
    let mut server = Server::start();
    // Someone has the nick already.
    let _squatter = Client::connect(&server, "Regis").await;
    let (bot, _stop, _dir) = bot(&server, 0.0).await;
    let mut ann = Client::connect(&server, "ann").await;
    ann.join("#regis").await;
    let deadline = Instant::now() + WAIT;
    loop {
        ann.send("PRIVMSG Regis_ :!ping").await;
        let line = ann.until(|l| l.contains(" PRIVMSG ann :") || l.contains(" 401 ")).await;
        if line.ends_with(":pong") {
            assert!(line.starts_with(":Regis_!"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "the fallback nick never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(_squatter);
    // The server goes down and comes back: the bot connects, registers and joins again.
    server.restart();
    let mut bob = Client::connect(&server, "bob").await;
    bob.join("#regis").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        bob.send("PRIVMSG #regis :!ping").await;
        let answered =
            tokio::time::timeout(Duration::from_secs(1), bob.until(|l| l.contains(" PRIVMSG #regis :bob: pong"))).await;
        if answered.is_ok() {
            break;
        }
        assert!(Instant::now() < deadline, "the bot never came back to #regis");
    }
    drop(bot);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_with_the_servers_own_certificate() {
    let server = Server::start_with_tls();
    let mut config = IrcConfig::new(server.tls_addr(), "Regis");
    config.tls = true;
    config.tls_roots = Some(server.certificate());
    let (_bot, _stop, _dir) = bot_with(config, 0.0).await;
    let mut ann = client_with_bot(&server, "ann").await;
    ann.send("PRIVMSG #regis :!ping").await;
    assert_eq!(ann.privmsg("Regis", "#regis").await.0, "ann: pong");
    // Without the certificate trusted, the handshake fails (and is retried, never sent plain).
    let mut untrusted = IrcConfig::new(server.tls_addr(), "Mallory");
    untrusted.tls = true;
    untrusted.channels = vec!["#regis".into()];
    let (_other, _stop_other, _dir_other) = bot_with(untrusted, 0.0).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    ann.send("NAMES #regis").await;
    let names = ann.until(|l| l.split(' ').nth(1) == Some("353")).await;
    assert!(!names.contains("Mallory"), "{names}");
}

/// A channel with a key is joined with it; kicked from it, the bot joins again, unless told
/// not to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_channel_is_joined_and_a_kick_is_followed_by_a_rejoin_when_configured() {
    let server = Server::start();
    for rejoin in [true, false] {
        // Ann is first in #ops (its operator) and locks it with a key.
        let channel = if rejoin { "#ops" } else { "#ops2" };
        let mut ann = Client::connect(&server, if rejoin { "ann" } else { "ann2" }).await;
        ann.join(channel).await;
        ann.send(&format!("MODE {channel} +k sesame")).await;
        ann.until(|l| l.contains(" MODE ") && l.contains("+k")).await;
        let mut config = IrcConfig::new(server.addr(), if rejoin { "Regis" } else { "Regis2" });
        config.channels = vec![format!("{channel} sesame")];
        config.rejoin_on_kick = rejoin;
        let (_bot, _stop, _dir) = bot_with(config, 0.0).await;
        let nick = if rejoin { "Regis" } else { "Regis2" };
        let joined = |l: &str| l.starts_with(&format!(":{nick}!")) && l.contains(" JOIN ");
        ann.until(joined).await;
        ann.send(&format!("KICK {channel} {nick} :out")).await;
        ann.until(|l| l.contains(" KICK ")).await;
        let again = tokio::time::timeout(Duration::from_secs(3), ann.until(joined)).await;
        assert_eq!(again.is_ok(), rejoin, "rejoin_on_kick = {rejoin}");
    }
}

/// A server that registers the bot and then says nothing more: the bot PINGs it, gives up
/// after `ping_timeout` and connects again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_server_is_noticed_by_our_own_ping_and_connected_to_again() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut config = IrcConfig::new(listener.local_addr().unwrap().to_string(), "Regis");
    config.ping_interval = Duration::from_millis(300);
    config.ping_timeout = Duration::from_millis(300);
    let (_bot, _stop, _dir) = bot_with(config, 0.0).await;
    let (first, _) = tokio::time::timeout(WAIT, listener.accept()).await.expect("the bot connects").unwrap();
    let (read, mut write) = first.into_split();
    let mut lines = BufReader::new(read).lines();
    let mut heard = Vec::new();
    let pinged = tokio::time::timeout(WAIT, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.starts_with("USER ") {
                write.write_all(b":silent.test 001 Regis :Welcome\r\n").await.unwrap();
            }
            let ping = line.starts_with("PING ");
            heard.push(line);
            if ping {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(pinged, Ok(true), "the bot pinged the silent server: {heard:?}");
    // No PONG: the bot ends this connection and makes another.
    let (second, _) = tokio::time::timeout(WAIT, listener.accept()).await.expect("the bot connects again").unwrap();
    drop((second, write));
}
