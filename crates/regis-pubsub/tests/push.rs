//! Push mode against Google's Pub/Sub emulator (`TEST_PUBSUB_EMULATOR_HOST`): the emulator
//! POSTs each message to a worker's `/pubsub/push` on loopback, and the worker's answer settles
//! it. (The emulator signs no OIDC token; the token check has its own tests, with a key set of
//! the test's.)

use regis_core::Envelope;
use regis_pubsub::{Endpoint, PubSubConfig, PubSubQueue, PushConfig, PushQueue};
use regis_testkit::queue_plugins::Flaky;
use regis_testkit::TestBot;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn emulator() -> String {
    std::env::var("TEST_PUBSUB_EMULATOR_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .expect("the Pub/Sub emulator: run scripts/test, or start it and set TEST_PUBSUB_EMULATOR_HOST")
}

fn config(topic: &str, max_deliver: u32) -> PubSubConfig {
    let mut config = PubSubConfig::from_url(&format!("pubsub://regis-test/{topic}")).unwrap();
    config.endpoint = Endpoint::Emulator(emulator());
    config.ack_deadline = Duration::from_secs(10);
    config.max_deliver = max_deliver;
    config
}

/// A worker in push mode: the bot on a [`PushQueue`], its router on a loopback listener that
/// the emulator pushes to. Also a pull handle on the same topic, to publish raw bytes and read
/// the dead letters (the workers' subscription stays the push one created first).
async fn worker(max_deliver: u32, failures: Arc<AtomicU32>) -> (TestBot, Arc<PushQueue>, PubSubQueue) {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let topic = format!("push-{}-{nanos:08x}", std::process::id());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}/pubsub/push", listener.local_addr().unwrap());
    let push = PushConfig { endpoint, oidc: None };
    let queue = Arc::new(PushQueue::connect(config(&topic, max_deliver), push).await.expect("the emulator"));
    let router = queue.router(regis_http::BodyReader::new(Duration::from_secs(10), 64 * 1024 * 1024));
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let bot = TestBot::builder().plugin(Flaky::new(failures)).queue(queue.clone()).start().await;
    let handle = PubSubQueue::publisher(config(&topic, max_deliver));
    (bot, queue, handle)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_whose_subscription_delivers_otherwise_stops_at_set_up() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let topic = format!("mismatch-{}-{nanos:08x}", std::process::id());
    let pulled = PubSubQueue::connect(config(&topic, 5)).await.expect("the emulator");
    let push = PushConfig { endpoint: "http://127.0.0.1:9/pubsub/push".into(), oidc: None };
    let error = PushQueue::connect(config(&topic, 5), push.clone()).await.err().expect("a pulled subscription");
    let text = error.to_string();
    assert!(text.contains("is pulled") && text.contains("is pushed to at http://127.0.0.1:9/pubsub/push"), "{text}");
    pulled.delete().await.unwrap();

    let topic = format!("{topic}-b");
    let _pushed = PushQueue::connect(config(&topic, 5), push).await.expect("the emulator");
    let error = PubSubQueue::connect(config(&topic, 5)).await.err().expect("a push subscription");
    let text = error.to_string();
    assert!(text.contains("pushes to http://127.0.0.1:9/pubsub/push") && text.contains("this worker pulls"), "{text}");
    PubSubQueue::publisher(config(&topic, 5)).delete().await.unwrap();
}

/// The answers `bot` sent, once there are `n`.
async fn answers(bot: &TestBot, n: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut sent = Vec::new();
    while sent.len() < n {
        assert!(Instant::now() < deadline, "{} answers of {n}: {sent:?}", sent.len());
        sent.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushed_envelopes_are_handled_and_a_failure_is_pushed_again() {
    let failures = Arc::new(AtomicU32::new(1));
    let (bot, queue, handle) = worker(5, failures.clone()).await;
    // The bot's own queue publishes to the topic; the emulator pushes it back.
    bot.bot().ingress().submit(Envelope::message("test", TestBot::user("ann"), "!ping")).await.unwrap();
    assert_eq!(answers(&bot, 1).await, ["pong"]);
    // The first push fails (503 to the emulator), the second is answered.
    bot.bot().ingress().submit(Envelope::message("test", TestBot::user("ann"), "!flaky")).await.unwrap();
    assert_eq!(answers(&bot, 1).await, ["flaky done"]);
    assert_eq!(failures.load(Ordering::SeqCst), 0);
    assert_eq!(bot.stats().retries, 1, "{:?}", bot.stats());
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(bot.connector_sent().is_empty(), "answered once: a 204 is the end of it");
    assert_eq!(queue.dead_lettered(), 0);
    handle.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_push_and_a_handler_that_keeps_failing_end_in_the_dead_letters() {
    let (bot, queue, handle) = worker(2, Arc::new(AtomicU32::new(u32::MAX))).await;
    handle.publish_raw(b"not json").await.unwrap();
    bot.bot().ingress().submit(Envelope::message("test", TestBot::user("ann"), "!flaky")).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut letters = Vec::new();
    while letters.len() < 2 {
        assert!(Instant::now() < deadline, "dead letters: {letters:?}");
        letters.extend(handle.take_dead_letters(10).await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut reasons: Vec<String> = letters.iter().map(|l| l.reason.clone()).collect();
    reasons.sort();
    // The emulator's pushes carry no `deliveryAttempt` (Google's do, with a dead-letter policy):
    // every push is a first attempt here, and the subscription's policy (max(2 + 1, 5)
    // deliveries) moves the failing one.
    assert_eq!(reasons[0], "moved by the subscription's dead-letter policy after 5 deliveries", "{reasons:?}");
    assert!(reasons[1].starts_with("not an envelope: "), "{reasons:?}");
    assert_eq!(queue.dead_lettered(), 1, "the poison message, by the worker");
    handle.delete().await.unwrap();
}

/// POSTs `body` to `addr`'s `/pubsub/push`; the raw answer.
async fn post(addr: std::net::SocketAddr, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!(
        "POST /pubsub/push HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
}

/// A push body as Google sends it, with `deliveryAttempt`.
fn push_body(envelope: &Envelope, attempt: u32) -> String {
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(envelope).unwrap());
    serde_json::json!({
        "message": { "data": data, "attributes": { "regis-envelope-id": envelope.id }, "messageId": "1" },
        "subscription": "projects/regis-test/subscriptions/x-workers",
        "deliveryAttempt": attempt,
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attempt_google_reports_decides_the_last_delivery() {
    let (_bot, queue, handle) = worker(2, Arc::new(AtomicU32::new(u32::MAX))).await;
    let router = queue.router(regis_http::BodyReader::new(Duration::from_secs(10), 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let envelope = Envelope::message("test", TestBot::user("ann"), "!flaky");
    let first = post(addr, &push_body(&envelope, 1)).await;
    assert!(first.starts_with("HTTP/1.1 503"), "a failure asks Pub/Sub to push again: {first}");
    let last = post(addr, &push_body(&envelope, 2)).await;
    assert!(last.starts_with("HTTP/1.1 204"), "the last attempt is settled by its dead letter: {last}");
    let letters = handle.take_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].reason.starts_with("failed on all 2 deliveries: Discord answered 503"), "{}", letters[0].reason);
    assert_eq!(letters[0].envelope_id.as_deref(), Some(envelope.id.as_str()));
    handle.delete().await.unwrap();
}

#[tokio::test]
async fn a_push_that_is_not_from_pub_sub_is_refused() {
    let (_bot, queue, handle) = worker(5, Arc::new(AtomicU32::new(0))).await;
    let router = queue.router(regis_http::BodyReader::new(Duration::from_secs(10), 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    assert!(post(addr, "{}").await.starts_with("HTTP/1.1 400"), "no message.data");
    assert!(post(addr, "not json").await.starts_with("HTTP/1.1 400"));
    handle.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_waiting_for_a_worker_are_answered_503_when_it_stops() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let topic = format!("stop-{}-{nanos:08x}", std::process::id());
    // No bot pops from this queue: a push waits until the queue closes.
    let push = PushConfig { endpoint: "http://127.0.0.1:9/pubsub/push".into(), oidc: None };
    let queue = Arc::new(PushQueue::connect(config(&topic, 5), push).await.expect("the emulator"));
    let router = queue.router(regis_http::BodyReader::new(Duration::from_secs(10), 1024 * 1024));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let envelope = Envelope::message("test", TestBot::user("ann"), "!ping");
    let waiting = tokio::spawn(async move { post(addr, &push_body(&envelope, 1)).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let closed = Instant::now();
    regis_core::Queue::close(queue.as_ref());
    let answer = tokio::time::timeout(Duration::from_secs(3), waiting).await.expect("answered at once").unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(closed.elapsed() < Duration::from_secs(2), "not after the ack deadline: {:?}", closed.elapsed());
    PubSubQueue::publisher(config(&topic, 5)).delete().await.unwrap();
}
