//! SASL PLAIN against a real server with services: InspIRCd 3 linked to Atheme
//! (`regis_testkit::sasl_ircd`), on loopback ports with throwaway configuration.

mod common;

use regis_core::Bot;
use regis_irc::{IrcConfig, Sasl};
use regis_testkit::ircd::Client;
use regis_testkit::sasl_ircd::SaslServer;
use std::time::{Duration, Instant};
use tokio::sync::watch;

async fn bot(server: &SaslServer, password: &str) -> (Bot, watch::Sender<bool>, tempfile::TempDir) {
    let mut config = IrcConfig::new(server.addr(), "Regis");
    config.sasl = Some(Sasl { account: "Regis".into(), password: password.into() });
    common::irc_bot(config, Quiet).await
}

/// A plugin with nothing to say (the admin plugin answers `!ping`).
pub struct Quiet;

#[regis_macros::plugin]
impl Quiet {}

/// What the server says about `nick`: the account it is logged in as (`330`), `None` when
/// it is online and not logged in, and `Err` when nobody has the nick.
async fn account_of(client: &mut Client, nick: &str) -> Result<Option<String>, ()> {
    client.send(&format!("WHOIS {nick}")).await;
    let (mut account, mut online) = (None, true);
    loop {
        // 401 (no such nick) is followed by 318 (end of WHOIS) too: read to the end.
        let line = client.until(|l| matches!(l.split(' ').nth(1), Some("330" | "318" | "401"))).await;
        match line.split(' ').nth(1) {
            Some("330") => account = line.split(' ').nth(4).map(str::to_string),
            Some("401") => online = false,
            _ => return if online { Ok(account) } else { Err(()) },
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bot_logs_in_with_sasl_and_answers() {
    let server = SaslServer::start(&[("Regis", "s3cret-pass")]);
    let (_bot, _stop, _dir) = bot(&server, "s3cret-pass").await;
    let mut ann = Client::connect_to(&server.addr(), "ann").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match account_of(&mut ann, "Regis").await {
            Ok(Some(account)) => {
                assert_eq!(account, "Regis");
                break;
            }
            Ok(None) => panic!("the bot registered without logging in"),
            Err(()) => assert!(Instant::now() < deadline, "the bot never registered"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ann.join("#regis").await;
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        ann.send("PRIVMSG #regis :!ping").await;
        if let Ok((text, _)) = tokio::time::timeout(Duration::from_secs(2), ann.privmsg("Regis", "#regis")).await {
            assert_eq!(text, "ann: pong");
            break;
        }
        assert!(Instant::now() < deadline, "the bot never answered in #regis");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_login_never_registers_unauthenticated() {
    let server = SaslServer::start(&[("Regis", "s3cret-pass")]);
    let (_bot, _stop, _dir) = bot(&server, "wrong-pass").await;
    let mut ann = Client::connect_to(&server.addr(), "ann").await;
    // Long enough for the bot to connect, be refused and try again (1 s, then 2 s).
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        assert_eq!(account_of(&mut ann, "Regis").await, Err(()), "the bot is on the server without its login");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
