//! A trivia game over Discord: the real twilight Gateway client against the test kit's fake
//! Gateway and REST API; the question, the answer and the win are Discord messages.

use regis::{Bot, CoreConfig, SqliteBackend};
use regis_discord::gateway::{Gateway, GatewayConfig, IdentifyQueue};
use regis_discord::{DiscordConnector, RestConfig};
use regis_plugin_trivia::{Trivia, TriviaConfig};
use regis_testkit::fake_discord::FakeDiscord;
use regis_testkit::fake_gateway::{message_create, FakeGateway, GatewayOptions, AUTHOR_ID, CHANNEL_ID, GUILD_ID};
use std::sync::Arc;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// The contents of the messages posted to the channel so far.
fn posted(fake: &FakeDiscord) -> Vec<String> {
    let path = format!("/channels/{CHANNEL_ID}/messages");
    fake.calls()
        .into_iter()
        .filter(|c| c.path == path)
        .filter_map(|c| c.json.and_then(|j| j["content"].as_str().map(str::to_string)))
        .collect()
}

async fn wait_posted(fake: &FakeDiscord, what: &str, matches: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(text) = posted(fake).into_iter().find(|t| matches(t)) {
            return text;
        }
        assert!(Instant::now() < deadline, "nothing posted matched {what}: {:?}", posted(fake));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_over_the_discord_gateway() {
    regis_discord::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let options = GatewayOptions::default();
    let fake = FakeDiscord::start().await;
    fake.set_bot(&options.token, options.bot_id, &options.bot_name);
    let token = options.token.clone();
    let gateway = FakeGateway::start_with(options).await;
    fake.set_gateway(&gateway.url(), 1);
    let rest = Arc::new(
        DiscordConnector::new(RestConfig {
            api_url: fake.api_url(),
            token: Some(token.clone()),
            max_backoff: Duration::from_millis(200),
        })
        .unwrap(),
    );
    let mut config = GatewayConfig::new(&token);
    config.identify_queue = IdentifyQueue::Unlimited;
    let connector = Gateway::new(config, Arc::clone(&rest)).unwrap();
    let trivia = TriviaConfig {
        hints: 1,
        hint_interval: Duration::from_millis(500),
        pause: Duration::from_millis(100),
        settle: Duration::from_millis(100),
        ..TriviaConfig::default()
    };
    let core = CoreConfig { owners: vec![format!("discord:{AUTHOR_ID}")], ..CoreConfig::default() };
    let bot = Bot::builder(core)
        .storage(SqliteBackend::new(dir.path()))
        .connector(connector.connector())
        .plugin(regis_plugin_admin::Admin)
        .plugin(Trivia::new(trivia))
        .start()
        .await
        .unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(connector.run(bot.ingress(), async move {
        let _ = stopped.await;
    }));
    gateway.wait_ready(1, WAIT).await;

    let say = |id: u64, author: (u64, &str), content: &str| {
        gateway
            .dispatch("MESSAGE_CREATE", message_create(id, CHANNEL_ID, Some(GUILD_ID), author, content))
            .expect("a session");
    };
    // The owner uploads a question file with the command; the bot fetches it from the CDN.
    let set = "[[question]]\ncategory = \"uploaded\"\nquestion = \"Which port is HTTPS?\"\nanswers = [\"443\"]\n";
    let mut upload = message_create(2_000, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "!trivia import");
    upload["attachments"] = serde_json::json!([fake.attachment(CHANNEL_ID, "ports.toml", set.as_bytes().to_vec())]);
    gateway.dispatch("MESSAGE_CREATE", upload).expect("a session");
    wait_posted(&fake, "the import", |t| t == "Imported 1 question(s) from ports.toml (uploaded).").await;
    // A file somewhere else than Discord's CDN is never fetched.
    let mut elsewhere = message_create(2_001, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "!trivia import");
    let url = "http://127.0.0.2:9/x.toml";
    elsewhere["attachments"] =
        serde_json::json!([{ "id": "9", "filename": "x.toml", "size": 10, "url": url, "proxy_url": url }]);
    gateway.dispatch("MESSAGE_CREATE", elsewhere).expect("a session");
    let refusal = "Nothing imported: could not fetch x.toml: x.toml is not on Discord's CDN; not fetched";
    wait_posted(&fake, "the refusal", |t| t == refusal).await;

    say(2_002, (AUTHOR_ID, "Mason"), "!trivia start uploaded 1");
    let question = wait_posted(&fake, "the question", |t| t.contains("Question 1/1: ")).await;
    assert!(question.ends_with("Question 1/1: Which port is HTTPS?"), "{question}");
    say(2_003, (AUTHOR_ID + 1, "Ada"), "no idea");
    say(2_004, (AUTHOR_ID + 1, "Ada"), "443");
    let won = wait_posted(&fake, "the win", |t| t.contains(" got it: ")).await;
    assert_eq!(won, "Ada got it: 443 (+20 points)");
    let end = wait_posted(&fake, "the end", |t| t.starts_with("Trivia over!")).await;
    assert_eq!(end, "Trivia over! Final scores:\n1. Ada 20");
    let _ = stop.send(());
    let _ = tokio::time::timeout(WAIT, task).await;
    bot.shutdown().await;
}
