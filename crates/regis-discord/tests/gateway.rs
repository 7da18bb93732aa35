//! The Gateway connector: the real twilight client (zstd-stream compression, heartbeats,
//! resume) against the test kit's fake Discord Gateway and REST API.

use regis::prelude::*;
use regis::{Bot, CoreConfig, SqliteBackend};
use regis_discord::gateway::{Gateway, GatewayConfig, GatewayError, IdentifyQueue};
use regis_discord::{DiscordConnector, RestConfig};
use regis_testkit::fake_discord::{command_interaction, Call, Failure, FakeDiscord};
use regis_testkit::fake_gateway::{
    message_create, ClosedBy, FakeGateway, GatewayOptions, Record, AUTHOR_ID, BOT_ID, CHANNEL_ID, GUILD_ID,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

mod common;

use common::{all_bytes, Probe, EVENTS_CHANNEL};

const WAIT: Duration = Duration::from_secs(15);

struct Harness {
    fake: FakeDiscord,
    gateway: FakeGateway,
    bot: Bot,
    rest: Arc<DiscordConnector>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), GatewayError>>,
    _dir: tempfile::TempDir,
}

async fn start(options: GatewayOptions, shards: u64, token: &str) -> Harness {
    start_with(options, shards, token, |_, _| {}).await
}

/// As `start`, with changes to the connector's configuration.
async fn start_with(
    options: GatewayOptions,
    shards: u64,
    token: &str,
    configure: impl FnOnce(&mut GatewayConfig, &FakeGateway),
) -> Harness {
    start_full(options, shards, token, CoreConfig::default(), |_| {}, configure).await
}

/// As `start_with`, with the bot's configuration and the fake REST API's set-up too.
async fn start_full(
    options: GatewayOptions,
    shards: u64,
    token: &str,
    core: CoreConfig,
    prepare: impl FnOnce(&FakeDiscord),
    configure: impl FnOnce(&mut GatewayConfig, &FakeGateway),
) -> Harness {
    regis_discord::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start().await;
    fake.set_bot(&options.token, options.bot_id, &options.bot_name);
    let gateway = FakeGateway::start_with(options).await;
    fake.set_gateway(&gateway.url(), shards);
    fake.require_callbacks(true);
    prepare(&fake);
    let rest = Arc::new(
        DiscordConnector::new(RestConfig {
            api_url: fake.api_url(),
            token: Some(token.to_string()),
            max_backoff: Duration::from_millis(200),
        })
        .unwrap(),
    );
    let mut config = GatewayConfig::new(token);
    config.budget = Duration::from_millis(300);
    config.identify_queue = IdentifyQueue::Unlimited;
    configure(&mut config, &gateway);
    let connector = Gateway::new(config, Arc::clone(&rest)).unwrap();
    let bot = Bot::builder(core)
        .storage(SqliteBackend::new(dir.path()))
        .connector(connector.connector())
        .plugin(regis_plugin_admin::Admin)
        .plugin(Probe)
        .start()
        .await
        .unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let ingress = bot.ingress();
    let task = tokio::spawn(connector.run(ingress, async move {
        let _ = stopped.await;
    }));
    Harness { fake, gateway, bot, rest, stop: Some(stop), task, _dir: dir }
}

async fn harness() -> Harness {
    let h = start(GatewayOptions::default(), 1, "fake-bot-token").await;
    h.gateway.wait_ready(1, WAIT).await;
    h
}

impl Harness {
    /// Dispatches a guild message from the example author.
    fn say(&self, id: u64, content: &str) -> u64 {
        self.gateway
            .dispatch("MESSAGE_CREATE", message_create(id, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), content))
            .expect("a session")
    }

    /// Waits until a call matches, and returns it.
    async fn call(&self, what: &str, matches: impl Fn(&Call) -> bool) -> Call {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(call) = self.fake.calls().into_iter().find(|c| matches(c)) {
                return call;
            }
            assert!(Instant::now() < deadline, "no call {what}; calls: {:#?}", self.fake.calls());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// The channel messages posted with this content.
    fn posted(&self, content: &str) -> Vec<Call> {
        self.fake.calls().into_iter().filter(|c| c.json.as_ref().is_some_and(|j| j["content"] == content)).collect()
    }

    async fn stop(mut self) -> Result<(), GatewayError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = tokio::time::timeout(WAIT, self.task).await.expect("the Gateway stops").expect("no panic");
        self.bot.shutdown().await;
        result
    }
}

fn content_is(call: &Call, path: &str, content: &str) -> bool {
    call.path == path && call.json.as_ref().is_some_and(|j| j["content"] == content)
}

#[tokio::test]
async fn identifies_as_discord_documents_and_answers_prefix_and_mention_commands() {
    let h = harness().await;
    let connected = h.gateway.records().into_iter().find_map(|r| match r {
        Record::Connected { path, query, .. } => Some((path, query)),
        _ => None,
    });
    let (path, query) = connected.unwrap();
    assert_eq!(path, "/");
    assert_eq!(query, "v=10&encoding=json&compress=zstd-stream", "twilight's default transport compression");
    let identify = &h.gateway.received(2)[0]["d"];
    assert_eq!(identify["intents"], 1 | (1 << 9) | (1 << 12) | (1 << 15), "guilds, guild and direct messages, content");
    assert_eq!(identify["shard"], json!([0, 1]));
    assert_eq!(identify["token"], "Bot fake-bot-token");

    let path = format!("/channels/{CHANNEL_ID}/messages");
    h.say(1_100, "!ping");
    let reply = h.call("pong", |c| content_is(c, &path, "pong")).await;
    assert_eq!(reply.json.as_ref().unwrap()["message_reference"]["message_id"], "1100", "a reply references");
    assert_eq!(reply.authorization.as_deref(), Some("Bot fake-bot-token"));

    h.say(1_101, &format!("<@{BOT_ID}> quick"));
    h.call("mention command", |c| content_is(c, &path, "quick answer")).await;
    h.say(1_102, &format!("<@!{BOT_ID}>"));
    h.call("mention alone is help", |c| {
        c.path == path
            && c.json.as_ref().is_some_and(|j| j["content"].as_str().unwrap_or("").contains("Commands you may run"))
    })
    .await;
    // Ordinary chatter and the bot's own messages are not commands.
    h.gateway
        .dispatch("MESSAGE_CREATE", message_create(1_103, CHANNEL_ID, Some(GUILD_ID), (BOT_ID, "Regis"), "!ping"))
        .unwrap();
    h.say(1_104, "just talking");
    h.say(1_105, "!quick");
    h.call("after the chatter", |c| {
        content_is(c, &path, "quick answer") && c.json.as_ref().unwrap()["message_reference"]["message_id"] == "1105"
    })
    .await;
    assert_eq!(h.posted("pong").len(), 1, "the bot's own message was ignored");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn direct_messages_whispers_and_channel_posts() {
    let h = harness().await;
    let dm_channel = 900_000_000_000_000_001u64;
    h.gateway
        .dispatch("MESSAGE_CREATE", message_create(1_200, dm_channel, None, (AUTHOR_ID, "Mason"), "!psst"))
        .unwrap();
    let open = h.call("open a DM", |c| c.path == "/users/@me/channels").await;
    assert_eq!(open.json.unwrap()["recipient_id"], AUTHOR_ID.to_string());
    let secret = h.call("the whisper", |c| c.json.as_ref().is_some_and(|j| j["content"] == "a secret")).await;
    assert!(secret.path.starts_with("/channels/") && secret.path != format!("/channels/{dm_channel}/messages"));
    h.call("the reply in the DM", |c| content_is(c, &format!("/channels/{dm_channel}/messages"), "sent you a DM"))
        .await;
    h.say(1_201, "!announce 123456789012345678");
    h.call("a post elsewhere", |c| content_is(c, "/channels/123456789012345678/messages", "announcement")).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_posted_message_is_edited_in_place() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    h.say(1_250, "!progress");
    let posted = h.call("the post", |c| content_is(c, &path, "working…")).await;
    let id = posted.answer["id"].as_str().expect("Discord answers with the message").to_string();
    let edit = h.call("the edit", |c| c.method == axum::http::Method::PATCH).await;
    assert_eq!(edit.path, format!("{path}/{id}"));
    assert_eq!((edit.status, edit.json.unwrap()["content"].clone()), (200, json!("done")));
    assert_eq!(edit.answer["id"], id.as_str(), "Discord answers with the edited message");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn uploads_arrive_byte_for_byte() {
    let h = harness().await;
    h.say(1_300, "!upload");
    let call = h.call("the upload", |c| !c.files.is_empty()).await;
    assert_eq!(call.files[0].filename, "bytes.bin");
    assert_eq!(call.files[0].data, all_bytes());
    assert_eq!(call.path, format!("/channels/{CHANNEL_ID}/messages"));
    h.say(1_301, "!file");
    let call = h.call("file with embed", |c| c.json.as_ref().is_some_and(|j| j["content"] == "a file")).await;
    assert_eq!(call.files[0].data, all_bytes());
    assert_eq!(call.json.unwrap()["embeds"][0]["image"]["url"], "attachment://bytes.bin");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn lookups_use_the_cache_then_rest() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    // The author is cached from the message itself, the channel from GUILD_CREATE.
    h.say(1_400, &format!("!lookup user {AUTHOR_ID}"));
    h.call("cached user", |c| content_is(c, &path, "user Mason")).await;
    h.say(1_401, &format!("!lookup channel {CHANNEL_ID}"));
    h.call("cached channel", |c| content_is(c, &path, "channel general")).await;
    let lookup = |c: &Call| c.method == "GET" && (c.path.starts_with("/users/") || c.path.starts_with("/channels/"));
    assert!(!h.fake.calls().iter().any(lookup), "no REST lookups: {:#?}", h.fake.calls());
    h.fake.add_user("222222222222222222", "Zoe");
    h.say(1_402, "!lookup user 222222222222222222");
    h.call("user from REST", |c| content_is(c, &path, "user Zoe")).await;
    h.say(1_403, "!lookup user 333333333333333333");
    h.call("unknown user", |c| content_is(c, &path, "no such user")).await;
    let gets: Vec<String> = h.fake.calls().into_iter().filter(lookup).map(|c| c.path).collect();
    assert_eq!(gets, ["/users/222222222222222222", "/users/333333333333333333"]);
    h.stop().await.unwrap();
}

fn interaction(id: u64, name: &str, options: Value) -> Value {
    command_interaction(id, name, options)
}

#[tokio::test]
async fn slash_commands_over_the_gateway_answer_through_the_callback() {
    let h = harness().await;
    h.gateway.dispatch("INTERACTION_CREATE", interaction(7_001, "quick", json!([]))).unwrap();
    let callback = h.call("inline callback", |c| c.path == "/interactions/7001/token-7001/callback").await;
    assert_eq!(callback.status, 204);
    let body = callback.json.unwrap();
    assert_eq!((body["type"].as_u64(), body["data"]["content"].as_str()), (Some(4), Some("quick answer")));

    h.gateway
        .dispatch("INTERACTION_CREATE", interaction(7_002, "slow", json!([{"type": 4, "name": "ms", "value": 900}])))
        .unwrap();
    let callback = h.call("deferred callback", |c| c.path == "/interactions/7002/token-7002/callback").await;
    assert_eq!(callback.json.unwrap()["type"], 5);
    let edit = h.call("edit of @original", |c| c.path.ends_with("/token-7002/messages/@original")).await;
    assert_eq!(edit.status, 200, "the edit came after the callback");
    assert_eq!(edit.json.unwrap()["content"], "slow answer");
    assert!(edit.at >= callback.at);

    // A file cannot go inline: deferred, then a multipart edit.
    h.gateway.dispatch("INTERACTION_CREATE", interaction(7_003, "file", json!([]))).unwrap();
    let callback = h.call("file callback", |c| c.path == "/interactions/7003/token-7003/callback").await;
    assert_eq!(callback.json.unwrap()["type"], 5);
    let edit = h.call("multipart edit", |c| c.path.ends_with("/token-7003/messages/@original")).await;
    assert_eq!((edit.status, edit.files[0].data == all_bytes()), (200, true));

    // A handler replying right at the budget never edits before the callback (the fake
    // answers 404 to an edit of an interaction that was not acknowledged).
    for (i, ms) in [200u64, 225, 250, 290, 300, 310].into_iter().enumerate() {
        let id = 7_100 + i as u64;
        h.gateway
            .dispatch("INTERACTION_CREATE", interaction(id, "slow", json!([{"type": 4, "name": "ms", "value": ms}])))
            .unwrap();
    }
    for i in 0..6u64 {
        let id = 7_100 + i;
        let callback =
            h.call("callback at the budget", |c| c.path == format!("/interactions/{id}/token-{id}/callback")).await;
        if callback.json.as_ref().unwrap()["type"] == 5 {
            let edit = h.call("edit", |c| c.path.ends_with(&format!("/token-{id}/messages/@original"))).await;
            assert_eq!(edit.status, 200, "interaction {id}");
        } else {
            assert_eq!(callback.json.unwrap()["data"]["content"], "slow answer");
        }
    }
    assert!(h.fake.calls().iter().all(|c| c.status < 400), "{:#?}", h.fake.calls());
    h.stop().await.unwrap();
}

#[tokio::test]
async fn buttons_and_autocomplete_over_the_gateway() {
    let h = harness().await;
    let focused = json!([{"type": 3, "name": "colour", "value": "gr", "focused": true}]);
    let mut autocomplete = interaction(8_001, "paint", focused.clone());
    autocomplete["type"] = json!(4);
    autocomplete["data"] = json!({ "type": 1, "name": "paint", "id": "771825006014889984", "options": focused });
    h.gateway.dispatch("INTERACTION_CREATE", autocomplete).unwrap();
    let callback = h.call("suggestions", |c| c.path == "/interactions/8001/token-8001/callback").await;
    assert_eq!(
        callback.json.unwrap(),
        json!({"type": 8, "data": {"choices": [{"name": "green", "value": "green"}, {"name": "grey", "value": "grey"}]}})
    );
    h.gateway.dispatch("INTERACTION_CREATE", interaction(8_002, "menu", json!([]))).unwrap();
    let menu = h.call("buttons", |c| c.path == "/interactions/8002/token-8002/callback").await;
    assert_eq!(menu.json.unwrap()["data"]["components"][0]["components"][1]["custom_id"], "probe:pick:blue");
    let mut click = interaction(8_003, "menu", json!([]));
    click["type"] = json!(3);
    click["data"] = json!({"custom_id": "probe:pick:blue", "component_type": 2});
    h.gateway.dispatch("INTERACTION_CREATE", click).unwrap();
    let clicked = h.call("click answer", |c| c.path == "/interactions/8003/token-8003/callback").await;
    assert_eq!(clicked.json.unwrap()["data"]["content"], "Mason picked blue");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_dropped_connection_resumes_and_loses_no_command() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    for i in 0..40u64 {
        h.say(2_000 + i, "!ping");
        if i == 15 {
            h.gateway.drop_connections();
        }
    }
    let deadline = Instant::now() + WAIT;
    while h.posted("pong").len() < 40 {
        assert!(Instant::now() < deadline, "only {} of 40 answered", h.posted("pong").len());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.bot.idle().await;
    let mut answered: Vec<String> = h
        .posted("pong")
        .iter()
        .map(|c| c.json.as_ref().unwrap()["message_reference"]["message_id"].as_str().unwrap().to_string())
        .collect();
    answered.sort();
    answered.dedup();
    assert_eq!((h.posted("pong").len(), answered.len()), (40, 40), "each command answered exactly once");
    assert!(h.posted("pong").iter().all(|c| c.path == path));
    let records = h.gateway.records();
    assert!(records.iter().any(|r| matches!(r, Record::Closed { by: ClosedBy::Dropped, .. })));
    let resumed = records
        .iter()
        .find_map(|r| match r {
            Record::Connected { connection, path, .. } if path == "/resume/" => Some(*connection),
            _ => None,
        })
        .expect("resumed on resume_gateway_url");
    let replayed = records
        .iter()
        .filter(|r| matches!(r, Record::Sent { connection, payload } if *connection == resumed && payload["t"] == "MESSAGE_CREATE"))
        .count();
    assert!(replayed >= 1, "the missed messages were replayed after RESUME");
    assert_eq!(h.gateway.received(2).len(), 1, "no second IDENTIFY");
    let resume = &h.gateway.received(6)[0]["d"];
    assert_eq!(resume["token"], "Bot fake-bot-token");
    assert!(resume["seq"].as_u64().unwrap() >= 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn reconnect_and_invalid_session_are_followed() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    h.gateway.request_reconnect();
    h.gateway
        .wait_until(WAIT, "RESUMED", |r| {
            r.iter().any(|r| matches!(r, Record::Sent { payload, .. } if payload["t"] == "RESUMED"))
        })
        .await;
    h.say(3_000, "!quick");
    h.call("after RECONNECT", |c| content_is(c, &path, "quick answer")).await;
    h.gateway.invalidate_sessions(false);
    h.gateway.wait_ready(2, WAIT).await;
    assert_eq!(h.gateway.received(2).len(), 2, "a new IDENTIFY after INVALID_SESSION(false)");
    h.say(3_001, "!ping");
    h.call("after INVALID_SESSION", |c| content_is(c, &path, "pong")).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn heartbeats_are_sent_and_acknowledged() {
    let options = GatewayOptions { heartbeat_interval: Duration::from_millis(150), ..GatewayOptions::default() };
    let h = start(options, 1, "fake-bot-token").await;
    h.gateway.wait_ready(1, WAIT).await;
    h.gateway
        .wait_until(WAIT, "4 heartbeats", |r| {
            r.iter().filter(|r| matches!(r, Record::Received { payload, .. } if payload["op"] == 1)).count() >= 4
        })
        .await;
    let acks =
        h.gateway.records().iter().filter(|r| matches!(r, Record::Sent { payload, .. } if payload["op"] == 11)).count();
    assert!(acks >= 3, "{acks} ACKs");
    assert_eq!(h.gateway.received(2).len(), 1, "the connection stayed up");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_rate_limit_is_waited_out() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    h.fake.fail_next_on(&path, Failure::RateLimited { retry_after: 1.0, global: false });
    h.say(4_000, "!quick");
    let ok = h.call("the retried reply", |c| content_is(c, &path, "quick answer") && c.status == 200).await;
    let limited = h.fake.calls().into_iter().find(|c| c.status == 429).expect("the 429");
    let waited = ok.at.duration_since(limited.at);
    assert!(waited >= Duration::from_millis(990), "retried after {waited:?}");
    assert_eq!(h.posted("quick answer").len(), 2, "one refused, one accepted");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn replies_follow_the_buckets_rate_limit_headers() {
    let h = harness().await;
    h.fake.set_route_limit(2, Duration::from_millis(600));
    let path = format!("/channels/{CHANNEL_ID}/messages");
    for i in 0..5 {
        h.say(4_400 + i, "!quick");
    }
    tokio::time::timeout(WAIT, async {
        while h.posted("quick answer").len() < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("every reply");
    let replies = h.posted("quick answer");
    let all: Vec<(String, u16, u128)> = h
        .fake
        .calls()
        .iter()
        .map(|c| (c.path.clone(), c.status, c.at.duration_since(replies[0].at).as_millis()))
        .collect();
    assert!(
        replies.iter().all(|c| c.status == 200 && c.path == path),
        "a reply met a 429 instead of waiting for its bucket: {all:?}"
    );
    let waited = replies[2].at.duration_since(replies[0].at);
    assert!(waited >= Duration::from_millis(500), "the third reply went {waited:?} after the first");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_global_rate_limit_holds_every_request_but_interaction_callbacks() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    h.fake.fail_next_on(&path, Failure::RateLimited { retry_after: 1.0, global: true });
    h.say(4_100, "!quick");
    let limited = h.call("the global 429", |c| c.status == 429).await;
    // While held: a post elsewhere waits too, a slash command's callback does not.
    h.say(4_101, "!announce 123456789012345678");
    h.gateway.dispatch("INTERACTION_CREATE", interaction(7_100, "quick", json!([]))).unwrap();
    let callback = h.call("the callback", |c| c.path == "/interactions/7100/token-7100/callback").await;
    let retried = h.call("the retried reply", |c| content_is(c, &path, "quick answer") && c.status == 200).await;
    assert!(callback.at < retried.at, "the callback went during the hold, before the held reply");
    let other =
        h.call("the other post", |c| content_is(c, "/channels/123456789012345678/messages", "announcement")).await;
    for (what, call) in [("the retry", &retried), ("the other post", &other)] {
        let waited = call.at.duration_since(limited.at);
        assert!(waited >= Duration::from_millis(990), "{what} went {waited:?} after a global 429 asking for 1 s");
    }
    assert_eq!(h.rest.global_rate_limits(), 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_cloudflare_ban_holds_everything() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    h.fake.fail_next_on(&path, Failure::Banned { retry_after: 1 });
    h.say(4_200, "!quick");
    let banned = h.call("the ban", |c| c.status == 429).await;
    h.gateway.dispatch("INTERACTION_CREATE", interaction(7_200, "quick", json!([]))).unwrap();
    let retried = h.call("the retried reply", |c| content_is(c, &path, "quick answer") && c.status == 200).await;
    let callback = h.call("the callback", |c| c.path == "/interactions/7200/token-7200/callback").await;
    for (what, call) in [("the retry", &retried), ("the callback", &callback)] {
        let waited = call.at.duration_since(banned.at);
        assert!(waited >= Duration::from_millis(990), "{what} went {waited:?} after a ban asking for 1 s");
    }
    assert_eq!(h.rest.global_rate_limits(), 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_long_ban_is_not_waited_out_request_by_request() {
    let h = harness().await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    h.fake.fail_next_on(&path, Failure::Banned { retry_after: 3600 });
    h.say(4_300, "!quick");
    let banned = h.call("the ban", |c| c.status == 429).await;
    // A plugin posting during the ban is told at once, and nothing is sent.
    h.say(4_301, "!attempt");
    h.gateway.dispatch("INTERACTION_CREATE", interaction(7_300, "quick", json!([]))).unwrap();
    let deadline = Instant::now() + WAIT;
    let (outcome, took) = loop {
        if let Some(attempt) = common::ATTEMPTS.lock().unwrap().first().cloned() {
            break attempt;
        }
        assert!(Instant::now() < deadline, "the attempt never finished");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let error = outcome.expect_err("refused");
    assert!(error.contains("503") && error.contains("held by Discord's global rate limit"), "{error}");
    assert!(took < Duration::from_secs(4), "refused at once ({took:?}), not held for the forwarder's 5 s");
    // Past the longest hold (5 s), nothing went out late either.
    tokio::time::sleep(Duration::from_millis(5_500)).await;
    let after: Vec<Call> = h.fake.calls().into_iter().filter(|c| c.at > banned.at).collect();
    assert!(after.is_empty(), "{after:#?}");
    assert_eq!(h.rest.global_rate_limits(), 1);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn shards_follow_discords_recommendation() {
    let h = start(GatewayOptions::default(), 2, "fake-bot-token").await;
    h.gateway.wait_ready(2, WAIT).await;
    let mut shards: Vec<Value> = h.gateway.received(2).iter().map(|p| p["d"]["shard"].clone()).collect();
    shards.sort_by_key(|s| s[0].as_u64());
    assert_eq!(shards, [json!([0, 2]), json!([1, 2])]);
    // A DM goes to shard 0, the guild's messages to its shard; both are answered.
    h.gateway.dispatch("MESSAGE_CREATE", message_create(5_000, 42, None, (AUTHOR_ID, "Mason"), "!ping")).unwrap();
    h.say(5_001, "!quick");
    h.call("DM answer", |c| content_is(c, "/channels/42/messages", "pong")).await;
    h.call("guild answer", |c| content_is(c, &format!("/channels/{CHANNEL_ID}/messages"), "quick answer")).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_refused_token_stops_with_a_clear_error_and_no_retry() {
    // With the Gateway URL and shard count configured, no REST call comes first: the Gateway
    // refuses the IDENTIFY.
    let h = start_with(GatewayOptions::default(), 1, "wrong-token", |config, gateway| {
        config.gateway_url = Some(gateway.url());
        config.shards = Some(1);
    })
    .await;
    let result = tokio::time::timeout(WAIT, h.task).await.expect("stops by itself").expect("no panic");
    let error = result.expect_err("4004 is fatal");
    assert!(matches!(error, GatewayError::Fatal { code: 4004, .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("4004") && text.contains("DISCORD_TOKEN"), "{text}");
    assert!(!text.contains("wrong-token"), "{text}");
    // The connector has stopped: nothing can identify again.
    h.gateway
        .wait_until(WAIT, "the refused connection closed", |r| r.iter().any(|r| matches!(r, Record::Closed { .. })))
        .await;
    assert_eq!(h.gateway.received(2).len(), 1, "one IDENTIFY, no reconnect loop");
    assert_eq!(h.gateway.open_connections(), 0);
    h.bot.shutdown().await;
}

#[tokio::test]
async fn a_token_refused_by_rest_stops_before_connecting() {
    let h = start(GatewayOptions::default(), 1, "wrong-token").await;
    let result = tokio::time::timeout(WAIT, h.task).await.expect("stops by itself").expect("no panic");
    let error = result.expect_err("a 401 is final");
    assert!(matches!(error, GatewayError::GatewayBot(_)), "{error:?}");
    assert!(error.to_string().contains("check DISCORD_TOKEN"), "{error}");
    assert_eq!(h.fake.calls().iter().map(|c| (c.path.as_str(), c.status)).collect::<Vec<_>>(), [("/gateway/bot", 401)]);
    assert!(h.gateway.records().is_empty(), "never connected");
    h.bot.shutdown().await;
}

#[tokio::test]
async fn without_the_message_content_intent_only_mentions_and_dms_are_commands() {
    use twilight_gateway::Intents;
    let h = start_with(GatewayOptions::default(), 1, "fake-bot-token", |config, _| {
        config.intents = Intents::GUILDS | Intents::GUILD_MESSAGES | Intents::DIRECT_MESSAGES;
    })
    .await;
    h.gateway.wait_ready(1, WAIT).await;
    let path = format!("/channels/{CHANNEL_ID}/messages");
    // Discord sends the guild message with its content emptied: no command.
    h.say(8_000, "!ping");
    h.say(8_001, &format!("<@{BOT_ID}> quick"));
    h.call("the mention command", |c| content_is(c, &path, "quick answer")).await;
    h.gateway
        .dispatch("MESSAGE_CREATE", message_create(8_002, 42, None, (AUTHOR_ID, "Mason"), "!ping"))
        .expect("DMs are seen");
    h.call("the DM command", |c| content_is(c, "/channels/42/messages", "pong")).await;
    assert!(h.posted("pong").iter().all(|c| c.path != path), "the prefix command in the guild was not seen");
    // Reactions were not asked for: Discord does not send them.
    let reaction = json!({ "user_id": AUTHOR_ID.to_string(), "channel_id": CHANNEL_ID.to_string(),
        "message_id": "8000", "guild_id": GUILD_ID.to_string(), "emoji": { "id": null, "name": "👍" } });
    assert_eq!(h.gateway.dispatch("MESSAGE_REACTION_ADD", reaction), None);
    h.stop().await.unwrap();
}

#[tokio::test]
async fn disallowed_intents_stop_with_advice() {
    let options = GatewayOptions { privileged_intents: 0, ..GatewayOptions::default() };
    let h = start(options, 1, "fake-bot-token").await;
    let error = tokio::time::timeout(WAIT, h.task).await.unwrap().unwrap().expect_err("4014 is fatal");
    assert!(matches!(error, GatewayError::Fatal { code: 4014, .. }), "{error:?}");
    assert!(error.to_string().contains("Message Content"), "{error}");
    h.bot.shutdown().await;
}

#[test]
fn the_fakes_payloads_are_valid_discord_models() {
    use regis_testkit::fake_gateway::{guild_create, FakeGuild};
    let guild = FakeGuild { id: GUILD_ID, name: "g".into(), channels: vec![(CHANNEL_ID, "general".into())] };
    let parsed: twilight_model::guild::Guild = serde_json::from_value(guild_create(&guild, (BOT_ID, "Regis"))).unwrap();
    assert_eq!(parsed.channels.len(), 1);
    let message: twilight_model::channel::Message =
        serde_json::from_value(message_create(1, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "hi")).unwrap();
    assert_eq!(message.member.unwrap().roles.len(), 0);
}

#[tokio::test]
async fn a_failing_callback_is_retried_within_the_deadline() {
    let h = harness().await;
    h.fake.fail_next_on("/interactions/", Failure::ServerError(502));
    h.gateway.dispatch("INTERACTION_CREATE", interaction(9_001, "quick", json!([]))).unwrap();
    let ok =
        h.call("the retried callback", |c| c.path == "/interactions/9001/token-9001/callback" && c.status == 204).await;
    let failed: Vec<Call> = h.fake.calls().into_iter().filter(|c| c.status == 502).collect();
    assert_eq!(failed.len(), 1);
    assert!(ok.at > failed[0].at);
    assert_eq!(ok.json.unwrap()["data"]["content"], "quick answer");
    h.stop().await.unwrap();
}

/// The connections that resumed (RESUME received on them), in order.
fn resumes(records: &[Record]) -> usize {
    records.iter().filter(|r| matches!(r, Record::Received { payload, .. } if payload["op"] == 6)).count()
}

#[tokio::test]
async fn an_unanswered_heartbeat_leads_to_a_resume() {
    let options = GatewayOptions { heartbeat_interval: Duration::from_millis(200), ..GatewayOptions::default() };
    let h = start(options, 1, "fake-bot-token").await;
    h.gateway.wait_ready(1, WAIT).await;
    h.gateway.withhold_heartbeat_acks(true);
    h.gateway.wait_until(WAIT, "a RESUME after a heartbeat went unanswered", |r| resumes(r) >= 1).await;
    h.gateway.withhold_heartbeat_acks(false);
    let records = h.gateway.records();
    let zombie = records
        .iter()
        .find_map(|r| match r {
            Record::Closed { connection, by } => Some((*connection, by.clone())),
            _ => None,
        })
        .expect("the zombied connection was closed");
    assert_eq!(zombie.0, 1, "the first connection");
    assert!(!matches!(zombie.1, ClosedBy::Client(Some(1000 | 1001))), "closed so as to resume: {:?}", zombie.1);
    assert_eq!(h.gateway.received(2).len(), 1, "resumed, not identified again");
    h.say(12_000, "!ping");
    h.call("an answer after the resume", |c| content_is(c, &format!("/channels/{CHANNEL_ID}/messages"), "pong")).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_message_replayed_after_a_resume_is_not_run_twice() {
    let h = harness().await;
    // The resume will replay the last three messages, which the bot has seen and answered.
    h.gateway.replay_seen_on_resume(3);
    for i in 0..3u64 {
        h.say(13_000 + i, "!ping");
    }
    let deadline = Instant::now() + WAIT;
    while h.posted("pong").len() < 3 {
        assert!(Instant::now() < deadline, "{} pongs", h.posted("pong").len());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    h.gateway.drop_connections();
    h.gateway
        .wait_until(WAIT, "the replay", |records| {
            records
                .iter()
                .filter(|r| matches!(r, Record::Sent { connection, payload } if *connection > 1 && payload["t"] == "MESSAGE_CREATE"))
                .count()
                >= 3
        })
        .await;
    let deadline = Instant::now() + WAIT;
    while h.bot.stats().duplicates < 3 {
        assert!(Instant::now() < deadline, "the replayed messages reached the dispatcher: {:?}", h.bot.stats());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Anything new after the replay is answered, so the replays had their turn before it.
    h.say(13_010, "!quick");
    h.call("the message after the replay", |c| c.json.as_ref().is_some_and(|j| j["content"] == "quick answer")).await;
    assert_eq!(h.posted("pong").len(), 3, "each replayed command ran once");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_resumable_invalid_session_resumes() {
    let h = harness().await;
    h.gateway.invalidate_sessions(true);
    h.gateway.wait_until(WAIT, "a RESUME", |r| resumes(r) >= 1).await;
    h.gateway
        .wait_until(WAIT, "RESUMED", |r| {
            r.iter().any(|r| matches!(r, Record::Sent { payload, .. } if payload["t"] == "RESUMED"))
        })
        .await;
    assert_eq!(h.gateway.received(2).len(), 1, "no new IDENTIFY for INVALID_SESSION(true)");
    h.say(14_000, "!ping");
    h.call("an answer", |c| content_is(c, &format!("/channels/{CHANNEL_ID}/messages"), "pong")).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn identifies_are_spaced_as_session_start_limit_says() {
    // Two shards, one IDENTIFY per 5 seconds (max_concurrency 1), as GET /gateway/bot says.
    let h = start_full(
        GatewayOptions::default(),
        2,
        "fake-bot-token",
        CoreConfig::default(),
        |fake| fake.set_session_start_limit(1000, 990, Duration::from_secs(3600), 1),
        |config, _| config.identify_queue = IdentifyQueue::Discord,
    )
    .await;
    h.gateway.wait_ready(2, Duration::from_secs(30)).await;
    let at: Vec<Instant> = h
        .gateway
        .records()
        .iter()
        .filter_map(|r| match r {
            Record::Received { payload, at, .. } if payload["op"] == 2 => Some(*at),
            _ => None,
        })
        .collect();
    assert_eq!(at.len(), 2);
    let gap = at[1].duration_since(at[0]);
    assert!(gap >= Duration::from_millis(4_900), "the second shard identified {gap:?} after the first");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn an_unreachable_gateway_bot_is_retried_with_growing_backoff() {
    let h = start_full(
        GatewayOptions::default(),
        1,
        "fake-bot-token",
        CoreConfig::default(),
        |fake| {
            for _ in 0..3 {
                fake.fail_next_on("/gateway/bot", Failure::ServerError(502));
            }
        },
        |_, _| {},
    )
    .await;
    h.gateway.wait_ready(1, WAIT).await;
    let tries: Vec<Call> = h.fake.calls().into_iter().filter(|c| c.path == "/gateway/bot").collect();
    assert_eq!(tries.iter().map(|c| c.status).collect::<Vec<_>>(), [502, 502, 502, 200]);
    let gaps: Vec<Duration> = tries.windows(2).map(|w| w[1].at.duration_since(w[0].at)).collect();
    assert!(gaps[0] >= Duration::from_millis(450), "{gaps:?}");
    assert!(gaps[1] > gaps[0] && gaps[2] > gaps[1], "the waits grow: {gaps:?}");
    h.stop().await.unwrap();
}

#[tokio::test]
async fn members_joining_and_reactions_reach_the_plugins() {
    use twilight_gateway::Intents;
    let options = GatewayOptions { privileged_intents: (1 << 1) | (1 << 15), ..GatewayOptions::default() };
    let h = start_with(options, 1, "fake-bot-token", |config, _| {
        config.intents =
            regis_discord::gateway::DEFAULT_INTENTS | Intents::GUILD_MEMBERS | Intents::GUILD_MESSAGE_REACTIONS;
    })
    .await;
    h.gateway.wait_ready(1, WAIT).await;
    let member = json!({
        "guild_id": GUILD_ID.to_string(), "roles": [], "joined_at": "2026-12-01T10:00:00.000000+00:00",
        "deaf": false, "mute": false, "flags": 0, "pending": false, "nick": null,
        "user": { "id": "80351110224678912", "username": "nelly", "global_name": "Nelly",
                  "discriminator": "0", "avatar": null },
    });
    h.gateway.dispatch("GUILD_MEMBER_ADD", member).expect("asked for GUILD_MEMBERS");
    let path = format!("/channels/{EVENTS_CHANNEL}/messages");
    h.call("the welcome", |c| content_is(c, &path, "welcome Nelly")).await;
    let reaction = json!({ "user_id": AUTHOR_ID.to_string(), "channel_id": CHANNEL_ID.to_string(),
        "message_id": "15000", "guild_id": GUILD_ID.to_string(), "emoji": { "id": null, "name": "👍" },
        "burst": false, "type": 0 });
    h.gateway.dispatch("MESSAGE_REACTION_ADD", reaction).expect("asked for reactions");
    h.call("the reaction", |c| content_is(c, &path, &format!("{AUTHOR_ID} reacted \"👍\" to \"15000\""))).await;
    h.stop().await.unwrap();
}

#[tokio::test]
async fn a_command_the_queue_cannot_take_is_answered_busy() {
    let core = CoreConfig { workers: 1, queue_capacity: 1, ..CoreConfig::default() };
    let h = start_full(GatewayOptions::default(), 1, "fake-bot-token", core, |_| {}, |_, _| {}).await;
    h.gateway.wait_ready(1, WAIT).await;
    h.say(16_000, "!slow 800");
    let deadline = Instant::now() + WAIT;
    while h.bot.stats().in_flight == 0 {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let filler = regis::Envelope::message("test", regis::UserRef::new("test", "t"), "hello");
    h.bot.ingress().submit(filler).await.unwrap();
    h.say(16_001, "!quick");
    let path = format!("/channels/{CHANNEL_ID}/messages");
    let busy = h.call("the busy note", |c| content_is(c, &path, "The bot is busy; try again in a moment.")).await;
    assert_eq!(busy.json.unwrap()["message_reference"]["message_id"], "16001", "a reply to the refused command");
    // A message that is not a command gets no note when refused.
    h.say(16_002, "just chatting");
    h.call("the slow answer", |c| content_is(c, &path, "slow answer")).await;
    assert_eq!(h.posted("The bot is busy; try again in a moment.").len(), 1);
    h.stop().await.unwrap();
}
