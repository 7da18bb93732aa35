//! The connector relay on a real NATS server (`TEST_NATS_URL`): a connector served by one
//! "process" (its own NATS connection) and used through a [`RemoteConnector`] by another,
//! as a worker uses the IRC connection another process holds.

use async_trait::async_trait;
use regis_core::{
    Capabilities, ChannelInfo, ChannelRef, Connector, ConnectorError, Destination, Envelope, EnvelopeKind, Reply,
    SentMessage, UserInfo, UserRef,
};
use regis_nats::{ConnectorRelay, RemoteConnector};
use regis_testkit::services::nats_url;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CAPS: Capabilities = Capabilities { embeds: false, attachments: false, buttons: false };

/// A connector that records what it sends and knows one user; `slow` takes 3 s to look up.
#[derive(Default)]
struct Chat {
    sent: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Connector for Chat {
    fn name(&self) -> &str {
        "chat"
    }

    fn capabilities(&self) -> Capabilities {
        CAPS
    }

    async fn send(
        &self,
        origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError> {
        let target = match to {
            Destination::Origin => {
                let origin = origin.ok_or_else(|| ConnectorError::NotFound("no origin".into()))?;
                format!("{} in {}", origin.author.name, origin.channel.as_ref().map(|c| c.id.as_str()).unwrap_or("?"))
            }
            Destination::Channel(id) | Destination::Direct(id) if id == "nowhere" => {
                return Err(ConnectorError::NotFound("no channel nowhere".into()))
            }
            Destination::Channel(id) | Destination::Direct(id) => id.clone(),
        };
        let mut sent = self.sent.lock().unwrap();
        sent.push((target.clone(), reply.text));
        Ok(SentMessage { id: format!("m{}", sent.len()), channel: Some(target) })
    }

    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError> {
        if id == "slow" {
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        Ok((id == "ann" || id == "slow").then(|| UserInfo { id: id.into(), name: id.to_uppercase(), bot: false }))
    }

    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        Ok(Some(ChannelInfo {
            id: id.into(),
            name: id.into(),
            topic: Some("dice".into()),
            members: vec!["ann".into()],
        }))
    }
}

/// A bot name of its own for each test.
fn bot(test: &str) -> String {
    format!("relay-{test}-{}", regis_core::envelope::new_id())
}

async fn client() -> async_nats::Client {
    async_nats::connect(nats_url()).await.expect("a NATS server (TEST_NATS_URL)")
}

/// `chat` served on bot `bot`, and a remote of it from another connection.
async fn served(bot: &str) -> (Arc<Chat>, ConnectorRelay, RemoteConnector) {
    let chat = Arc::new(Chat::default());
    let relay = ConnectorRelay::serve(client().await, bot, chat.clone()).await.unwrap();
    (chat, relay, RemoteConnector::new(client().await, bot, "chat", CAPS))
}

#[tokio::test]
async fn a_worker_sends_and_looks_up_through_the_process_that_holds_the_connection() {
    let bot = bot("verbs");
    let (chat, _relay, remote) = served(&bot).await;
    let mut origin =
        Envelope::new("chat", UserRef::named("chat", "ann", "Ann"), EnvelopeKind::Message { text: "!hi".into() });
    origin.channel = Some(ChannelRef::new("#dice"));
    let sent = remote.send(Some(&origin), &Destination::Origin, Reply::text("hello")).await.unwrap();
    assert_eq!(sent, SentMessage { id: "m1".into(), channel: Some("Ann in #dice".into()) }, "the origin crossed whole");
    remote.send(None, &Destination::Direct("bob".into()), Reply::text("psst")).await.unwrap();
    assert_eq!(
        *chat.sent.lock().unwrap(),
        [("Ann in #dice".to_string(), "hello".to_string()), ("bob".into(), "psst".into())]
    );
    let ann = remote.user("ann").await.unwrap().expect("ann is known");
    assert_eq!(ann.name, "ANN");
    assert_eq!(remote.user("nobody").await.unwrap(), None);
    let channel = remote.channel("#dice").await.unwrap().unwrap();
    assert_eq!((channel.topic.as_deref(), channel.members.as_slice()), (Some("dice"), ["ann".to_string()].as_slice()));
    // The serving connector's errors arrive as they were.
    let missing = remote.send(None, &Destination::Channel("nowhere".into()), Reply::text("x")).await;
    assert!(matches!(missing, Err(ConnectorError::NotFound(m)) if m == "no channel nowhere"));
    let edit = remote.edit(&sent, Reply::text("changed")).await;
    assert!(matches!(edit, Err(ConnectorError::Unsupported("edit"))), "{edit:?}");
    assert_eq!(remote.capabilities(), CAPS);
}

#[tokio::test]
async fn with_nobody_serving_the_connector_a_verb_is_unavailable_to_be_tried_again() {
    let remote = RemoteConnector::new(client().await, &bot("nobody"), "chat", CAPS);
    let error = remote.send(None, &Destination::Channel("#dice".into()), Reply::text("hello")).await.unwrap_err();
    assert!(
        matches!(&error, ConnectorError::Unavailable(m) if m.contains("no process of the bot holds its connection")),
        "{error}"
    );
    // Once it is served, the same remote gets through.
    let bot = bot("later");
    let remote = RemoteConnector::new(client().await, &bot, "chat", CAPS);
    assert!(remote.user("ann").await.is_err());
    let (chat, relay, _) = served(&bot).await;
    assert!(remote.user("ann").await.unwrap().is_some());
    // And a relay dropped (its process gone) serves no more.
    drop(relay);
    let error = remote.send(None, &Destination::Channel("#dice".into()), Reply::text("late")).await.unwrap_err();
    assert!(matches!(error, ConnectorError::Unavailable(_)), "{error}");
    assert!(chat.sent.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_slow_lookup_holds_up_no_send_and_a_remote_waits_only_its_timeout() {
    let bot = bot("slow");
    let (chat, _relay, remote) = served(&bot).await;
    let remote = Arc::new(remote);
    let slow = tokio::spawn({
        let remote = Arc::clone(&remote);
        async move { remote.user("slow").await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    remote.send(None, &Destination::Channel("#dice".into()), Reply::text("meanwhile")).await.unwrap();
    assert!(!slow.is_finished(), "the send was answered while the lookup was still being made");
    assert_eq!(slow.await.unwrap().unwrap().map(|u| u.name), Some("SLOW".into()));
    assert_eq!(chat.sent.lock().unwrap().len(), 1);
    let impatient = RemoteConnector::new(client().await, &bot, "chat", CAPS).with_timeout(Duration::from_millis(300));
    let error = impatient.user("slow").await.unwrap_err();
    assert!(matches!(&error, ConnectorError::Unavailable(m) if m.contains("no answer within")), "{error}");
}

#[tokio::test]
async fn a_request_that_does_not_decode_is_answered_with_an_error_and_serving_goes_on() {
    let bot = bot("corrupt");
    let (_chat, _relay, remote) = served(&bot).await;
    let raw = client().await;
    let subject = regis_nats::relay::relay_subject(&bot, "chat");
    let answer = raw.request(subject, "{not json".into()).await.unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer.payload).unwrap();
    assert_eq!(answer["outcome"], "failed");
    assert!(answer["error"]["message"].as_str().unwrap().starts_with("not a connector request"), "{answer}");
    assert!(remote.user("ann").await.unwrap().is_some(), "the relay still serves");
}

#[tokio::test]
async fn of_two_processes_serving_one_connector_each_request_reaches_one() {
    let bot = bot("two");
    let (first, _one, remote) = served(&bot).await;
    let second = Arc::new(Chat::default());
    let _two = ConnectorRelay::serve(client().await, &bot, second.clone()).await.unwrap();
    for i in 0..40 {
        remote.send(None, &Destination::Channel(format!("#c{i}")), Reply::text("once")).await.unwrap();
    }
    let (a, b) = (first.sent.lock().unwrap().len(), second.sent.lock().unwrap().len());
    assert_eq!(a + b, 40, "every message sent once: {a} + {b}");
}
