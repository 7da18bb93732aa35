//! The Pub/Sub queue against Google's Pub/Sub emulator (`TEST_PUBSUB_EMULATOR_HOST`, which
//! `scripts/test` starts on a free port), each test on topics of its own.

use regis_core::{Envelope, Queue, SharedState, UserRef};
use regis_pubsub::{Endpoint, PubSubConfig, PubSubQueue};
use regis_testkit::queue_plugins::Slow;
use regis_testkit::TestBot;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn emulator() -> String {
    std::env::var("TEST_PUBSUB_EMULATOR_HOST").ok().filter(|h| !h.is_empty()).expect(
        "the Pub/Sub emulator: run scripts/test, or start \
         /usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator --host=127.0.0.1 --port=PORT \
         and set TEST_PUBSUB_EMULATOR_HOST=127.0.0.1:PORT",
    )
}

fn topic(name: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("t-{name}-{}-{nanos:08x}", std::process::id())
}

/// A queue on `topic`; `max_deliver` deliveries, a 10 s ack deadline (Pub/Sub's shortest).
async fn queue_on(topic: &str, max_deliver: u32) -> PubSubQueue {
    let mut config = PubSubConfig::from_url(&format!("pubsub://regis-test/{topic}")).unwrap();
    config.endpoint = Endpoint::Emulator(emulator());
    config.ack_deadline = Duration::from_secs(10);
    config.max_deliver = max_deliver;
    PubSubQueue::connect(config).await.expect("the Pub/Sub emulator (see scripts/test)")
}

fn envelope(text: &str) -> Envelope {
    Envelope::message("console", UserRef::new("console", "ann"), text)
}

async fn pop(q: &PubSubQueue, within: Duration) -> regis_core::Delivery {
    tokio::time::timeout(within, q.pop()).await.expect("a delivery in time").expect("open")
}

/// Whether `q` delivers anything within `window`.
async fn delivers_within(q: &PubSubQueue, window: Duration) -> bool {
    tokio::time::timeout(window, q.pop()).await.is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acked_envelope_is_done_and_one_left_by_a_dead_worker_goes_to_another() {
    let name = topic("dies");
    let worker = queue_on(&name, 5).await;
    worker.push(envelope("!ping")).await.unwrap();
    worker.push(envelope("!roll")).await.unwrap();
    let first = pop(&worker, Duration::from_secs(10)).await;
    let second = pop(&worker, Duration::from_secs(10)).await;
    assert_eq!((first.attempt, second.attempt), (1, 1));
    let (acked, abandoned) = if first.envelope.text() == Some("!ping") { (first, second) } else { (second, first) };
    acked.ack().await;
    // The worker dies holding `!roll`: no ack, no nak. Another worker gets it after the ack
    // deadline, counted as a second delivery; `!ping` never comes again.
    let started = Instant::now();
    drop(abandoned);
    drop(worker);
    let other = queue_on(&name, 5).await;
    let again = pop(&other, Duration::from_secs(30)).await;
    assert_eq!((again.envelope.text(), again.attempt), (Some("!roll"), 2));
    assert!(started.elapsed() >= Duration::from_secs(5), "only after the ack deadline: {:?}", started.elapsed());
    again.ack().await;
    assert!(!delivers_within(&other, Duration::from_secs(12)).await, "nothing acked comes back");
    other.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nak_delivers_again_after_its_delay_and_the_last_attempt_is_dead_lettered_with_its_reason() {
    let q = queue_on(&topic("nak"), 2).await;
    q.push(envelope("!flaky")).await.unwrap();
    let (first, settle) = pop(&q, Duration::from_secs(10)).await.split();
    assert_eq!(settle.attempt(), 1);
    let naked = Instant::now();
    settle.nak(first, Duration::from_secs(1)).await;
    let (again, settle) = pop(&q, Duration::from_secs(10)).await.split();
    assert!(naked.elapsed() >= Duration::from_millis(900), "after the delay: {:?}", naked.elapsed());
    assert_eq!((again.text(), settle.attempt()), (Some("!flaky"), 2));
    let id = again.id.clone();
    settle.nak(again, Duration::from_secs(1)).await;
    let letters = q.take_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].reason, "not handled after 2 deliveries");
    assert_eq!(letters[0].envelope_id.as_deref(), Some(id.as_str()));
    let stored: Envelope = serde_json::from_slice(&letters[0].data).unwrap();
    assert_eq!(stored.text(), Some("!flaky"));
    assert!(!delivers_within(&q, Duration::from_secs(3)).await, "a dead letter is not delivered again");
    assert_eq!(q.dead_lettered(), 1);
    q.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_is_not_an_envelope_is_dead_lettered_at_once_and_the_next_one_delivered() {
    let q = queue_on(&topic("poison"), 5).await;
    q.publish_raw(b"{\"this is\": \"not an envelope\"}").await.unwrap();
    q.push(envelope("!after")).await.unwrap();
    let next = pop(&q, Duration::from_secs(10)).await;
    assert_eq!(next.envelope.text(), Some("!after"));
    next.ack().await;
    let letters = q.take_dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert!(letters[0].reason.starts_with("not an envelope: "), "{}", letters[0].reason);
    assert_eq!(letters[0].data, b"{\"this is\": \"not an envelope\"}");
    q.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_handler_extends_its_deadline_and_keeps_its_delivery() {
    let name = topic("long");
    let q = queue_on(&name, 5).await;
    let other = queue_on(&name, 5).await;
    q.push(envelope("!slow")).await.unwrap();
    let (envelope, settle) = pop(&q, Duration::from_secs(10)).await.split();
    // 14 s of work, past the 10 s deadline, extended every 3 s: nobody else gets it.
    let watcher = tokio::spawn(async move {
        let got = delivers_within(&other, Duration::from_secs(14)).await;
        (got, other)
    });
    for _ in 0..5 {
        settle.in_progress().await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }
    let (stolen, other) = watcher.await.unwrap();
    assert!(!stolen, "the extended delivery was not given to another worker");
    assert_eq!(envelope.text(), Some("!slow"));
    settle.ack().await;
    assert!(!delivers_within(&other, Duration::from_secs(12)).await);
    q.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_the_subscription_and_a_repeated_publish_is_answered_once() {
    let name = topic("bots");
    let first = Arc::new(queue_on(&name, 5).await);
    let second = Arc::new(queue_on(&name, 5).await);
    let shared = SharedState::in_process(1000);
    let a = TestBot::builder().queue(first.clone()).shared_state(shared.clone()).start().await;
    let b = TestBot::builder().queue(second.clone()).shared_state(shared).data_dir(a.data_dir()).start().await;
    let sent: Vec<Envelope> =
        (0..20).map(|i| Envelope::message("test", TestBot::user("ann"), format!("!ping {i}"))).collect();
    for envelope in &sent {
        a.bot().ingress().submit(envelope.clone()).await.unwrap();
        // A receiver that retried its publish: Pub/Sub keeps both; the dedupe record answers one.
        a.bot().ingress().submit(envelope.clone()).await.unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut on_a, mut on_b) = (Vec::new(), Vec::new());
    loop {
        on_a.extend(a.connector_sent());
        on_b.extend(b.connector_sent());
        let duplicates = a.stats().duplicates + b.stats().duplicates;
        if on_a.len() + on_b.len() >= sent.len() && duplicates >= sent.len() as u64 {
            break;
        }
        assert!(Instant::now() < deadline, "{} + {} answers, {duplicates} duplicates", on_a.len(), on_b.len());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut answered: Vec<String> = on_a.iter().chain(&on_b).filter_map(|s| s.origin.clone()).collect();
    let total = answered.len();
    answered.sort();
    answered.dedup();
    assert_eq!((answered.len(), total), (sent.len(), sent.len()), "each envelope answered exactly once");
    assert!(!on_a.is_empty() && !on_b.is_empty(), "both workers took work: {} and {}", on_a.len(), on_b.len());
    first.delete().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_delivery_on_its_last_attempt_waits_for_the_first_instead_of_dead_lettering_it() {
    // One delivery allowed: the second copy of the envelope (Pub/Sub keeps repeated
    // publishes) arrives on its last attempt while the first is being handled.
    let q = Arc::new(queue_on(&topic("running"), 1).await);
    let bot = TestBot::builder().plugin(Slow::new(Duration::from_secs(3))).queue(q.clone()).start().await;
    let envelope = Envelope::message("test", TestBot::user("ann"), "!slow");
    bot.bot().ingress().submit(envelope.clone()).await.unwrap();
    bot.bot().ingress().submit(envelope).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut answers = Vec::new();
    while bot.stats().duplicates < 1 {
        assert!(Instant::now() < deadline, "{:?}, dead letters: {}", bot.stats(), q.dead_lettered());
        answers.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    answers.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
    assert_eq!(answers, ["slow done"], "answered once");
    let stats = bot.stats();
    assert!(stats.rechecks >= 1, "the second delivery met the first's claim: {stats:?}");
    assert_eq!(q.dead_lettered(), 0, "nothing handled is dead-lettered");
    assert!(q.take_dead_letters(10).await.unwrap().is_empty());
    q.delete().await.unwrap();
}
