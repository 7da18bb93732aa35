//! The JetStream queue against a real nats-server (the one on 127.0.0.1:4222, or
//! `TEST_NATS_URL`), each test on a bot name of its own.

use futures::StreamExt;
use regis_core::{Envelope, Queue, UserRef};
use regis_nats::{JetStreamConfig, JetStreamQueue};
use regis_testkit::queue_plugins::{Flaky, Slow};
use std::time::Duration;

use regis_testkit::services::nats_url as url;

async fn queue(configure: impl FnOnce(&mut JetStreamConfig)) -> JetStreamQueue {
    let bot = format!("test-{:08x}", fastrand_u32());
    let mut config = JetStreamConfig::new(url(), bot);
    configure(&mut config);
    JetStreamQueue::connect(config).await.expect("a nats-server with JetStream (see scripts/test)")
}

fn fastrand_u32() -> u32 {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    nanos ^ std::process::id().rotate_left(16)
}

fn envelope(text: &str) -> Envelope {
    Envelope::message("console", UserRef::new("console", "ann"), text)
}

async fn pop(q: &JetStreamQueue) -> regis_core::Delivery {
    tokio::time::timeout(Duration::from_secs(10), q.pop()).await.expect("a delivery in time").expect("open")
}

#[tokio::test]
async fn envelopes_round_trip_and_a_repeated_publish_is_queued_once() {
    let q = queue(|_| {}).await;
    let first = envelope("!ping");
    q.push(first.clone()).await.unwrap();
    q.push(first.clone()).await.unwrap();
    q.push(envelope("!roll")).await.unwrap();
    let one = pop(&q).await;
    assert_eq!((one.envelope.clone(), one.attempt), (first, 1));
    one.ack().await;
    assert_eq!(pop(&q).await.envelope.text(), Some("!roll"), "the second publish of !ping was dropped");
    assert_eq!(q.duplicates(), 1);
    q.delete().await.unwrap();
}

#[tokio::test]
async fn a_nak_delivers_again_and_the_last_attempt_goes_to_the_dead_letters() {
    let q = queue(|c| c.max_deliver = 2).await;
    let mut dead = q.client().subscribe(q.dead_letter_subject().to_string()).await.unwrap();
    q.push(envelope("!flaky")).await.unwrap();
    let (first, settle) = pop(&q).await.split();
    assert_eq!(settle.attempt(), 1);
    settle.nak(first, Duration::from_millis(100)).await;
    let (again, settle) = pop(&q).await.split();
    assert_eq!((again.text(), settle.attempt()), (Some("!flaky"), 2));
    settle.nak(again, Duration::from_millis(100)).await;
    let letter = tokio::time::timeout(Duration::from_secs(5), dead.next()).await.unwrap().unwrap();
    let headers = letter.headers.unwrap();
    assert_eq!(headers.get("Regis-Dead-Reason").unwrap().as_str(), "not handled after 2 deliveries");
    let stored: Envelope = serde_json::from_slice(&letter.payload).unwrap();
    assert_eq!(stored.text(), Some("!flaky"), "the dead letter keeps the envelope");
    assert_eq!(q.dead_lettered(), 1);
    assert!(tokio::time::timeout(Duration::from_millis(1500), q.pop()).await.is_err(), "not delivered again");
    q.delete().await.unwrap();
}

#[tokio::test]
async fn a_message_that_is_not_an_envelope_is_dead_lettered_with_its_reason() {
    let q = queue(|_| {}).await;
    let client = q.client();
    let mut dead = client.subscribe(q.dead_letter_subject().to_string()).await.unwrap();
    let js = async_nats::jetstream::new(client.clone());
    let subject = format!("{}.console.message", q.subject_prefix());
    js.publish(subject, "{not an envelope".into()).await.unwrap().await.unwrap();
    q.push(envelope("!after")).await.unwrap();
    assert_eq!(pop(&q).await.envelope.text(), Some("!after"), "the poison message is skipped");
    let letter = tokio::time::timeout(Duration::from_secs(5), dead.next()).await.unwrap().unwrap();
    let reason = letter.headers.unwrap().get("Regis-Dead-Reason").unwrap().to_string();
    assert!(reason.starts_with("not an envelope: "), "{reason}");
    assert_eq!(&letter.payload[..], b"{not an envelope");
    q.delete().await.unwrap();
}

#[tokio::test]
async fn a_delivery_never_settled_comes_back_after_the_ack_wait() {
    // A worker that died mid-handler: its delivery is neither acked nor naked.
    let q = queue(|c| c.ack_wait = Duration::from_secs(1)).await;
    q.push(envelope("!orphan")).await.unwrap();
    let lost = pop(&q).await;
    std::mem::forget(lost);
    let again = pop(&q).await;
    assert_eq!((again.envelope.text(), again.attempt), (Some("!orphan"), 2));
    again.ack().await;
    q.delete().await.unwrap();
}

#[tokio::test]
async fn close_wakes_a_waiting_worker_and_refuses_pushes() {
    let q = std::sync::Arc::new(queue(|_| {}).await);
    let waiting = {
        let q = std::sync::Arc::clone(&q);
        tokio::spawn(async move { q.pop().await.is_none() })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    q.close();
    assert!(tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap());
    assert_eq!(q.push(envelope("late")).await, Err(regis_core::QueueError::Closed));
    q.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_the_stream_and_each_envelope_is_answered_once() {
    use regis_testkit::TestBot;
    let first = std::sync::Arc::new(queue(|_| {}).await);
    let config = JetStreamConfig::new(url(), first.subject_prefix().split('.').nth(1).unwrap());
    let second = std::sync::Arc::new(JetStreamQueue::connect(config).await.unwrap());
    let shared = regis_core::SharedState::in_process(1000);
    let a = TestBot::builder().queue(first.clone()).shared_state(shared.clone()).start().await;
    let b = TestBot::builder().queue(second.clone()).shared_state(shared).data_dir(a.data_dir()).start().await;
    // From the test kit's connector, so that replies have somewhere to go.
    let sent: Vec<Envelope> =
        (0..40).map(|i| Envelope::message("test", TestBot::user("ann"), format!("!ping {i}"))).collect();
    for envelope in &sent {
        a.bot().ingress().submit(envelope.clone()).await.unwrap();
        // A receiver that retried its publish: JetStream keeps one.
        a.bot().ingress().submit(envelope.clone()).await.unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    while on_a.len() + on_b.len() < sent.len() {
        assert!(std::time::Instant::now() < deadline, "{} + {} answers", on_a.len(), on_b.len());
        on_a.extend(a.connector_sent());
        on_b.extend(b.connector_sent());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut answered: Vec<String> = on_a.iter().chain(&on_b).filter_map(|s| s.origin.clone()).collect();
    answered.sort();
    answered.dedup();
    assert_eq!(answered.len(), sent.len(), "each envelope answered exactly once");
    assert!(!on_a.is_empty() && !on_b.is_empty(), "both workers took work: {} and {}", on_a.len(), on_b.len());
    first.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_longer_than_the_ack_wait_keeps_its_delivery() {
    use regis_testkit::TestBot;
    let q = std::sync::Arc::new(queue(|c| c.ack_wait = Duration::from_secs(1)).await);
    let bot = TestBot::builder().plugin(Slow::new(Duration::from_millis(2500))).queue(q.clone()).start().await;
    let envelope = Envelope::message("test", TestBot::user("ann"), "!slow");
    bot.bot().ingress().submit(envelope).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut sent = Vec::new();
    while sent.is_empty() {
        assert!(std::time::Instant::now() < deadline, "no answer");
        sent.extend(bot.connector_sent());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(sent[0].reply.text, "slow done");
    // Had the delivery gone back to the queue at the ack wait, a second delivery would have
    // met the first's claim and been put back.
    let stats = bot.stats();
    assert_eq!((stats.handled, stats.duplicates, stats.rechecks), (1, 0, 0), "delivered once: {stats:?}");
    q.delete().await.unwrap();
}

/// The answers `bot` sent, once there are `n`.
async fn answers(bot: &regis_testkit::TestBot, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut sent = Vec::new();
    while sent.len() < n {
        assert!(std::time::Instant::now() < deadline, "{} answers of {n}: {sent:?}", sent.len());
        sent.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transient_failure_is_retried_and_answered_once_it_passes() {
    use regis_testkit::TestBot;
    let q = std::sync::Arc::new(queue(|c| c.max_deliver = 4).await);
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(2));
    let bot = TestBot::builder().plugin(Flaky::new(failures)).queue(q.clone()).start().await;
    bot.bot().ingress().submit(Envelope::message("test", TestBot::user("ann"), "!flaky")).await.unwrap();
    assert_eq!(answers(&bot, 1).await, ["flaky done"], "the failures were not answered");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(bot.connector_sent().is_empty(), "one answer only");
    let stats = bot.stats();
    assert_eq!((stats.retries, stats.errors, stats.handled), (2, 0, 1), "{stats:?}");
    assert_eq!(q.dead_lettered(), 0);
    q.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_keeps_failing_is_retried_max_deliver_times_then_dead_lettered() {
    use regis_testkit::TestBot;
    let q = std::sync::Arc::new(queue(|c| c.max_deliver = 3).await);
    let mut dead = q.client().subscribe(q.dead_letter_subject().to_string()).await.unwrap();
    let failures = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(u32::MAX));
    let bot = TestBot::builder().plugin(Flaky::new(failures.clone())).queue(q.clone()).start().await;
    bot.bot().ingress().submit(Envelope::message("test", TestBot::user("ann"), "!flaky")).await.unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(20), dead.next()).await.expect("a dead letter").unwrap();
    let reason = letter.headers.unwrap().get("Regis-Dead-Reason").unwrap().to_string();
    assert_eq!(reason, "failed on all 3 deliveries: Discord answered 503 (temporarily unavailable)");
    assert_eq!(u32::MAX - failures.load(std::sync::atomic::Ordering::SeqCst), 3, "run on each delivery");
    assert_eq!(answers(&bot, 1).await, ["`flaky` failed: Discord answered 503 (temporarily unavailable)"]);
    assert_eq!(bot.stats().retries, 2);
    q.delete().await.unwrap();
}
