//! The envelope queue's own cost, on each backend, in one run: the in-process queue (the
//! baseline), NATS JetStream (a private nats-server) and Google Cloud Pub/Sub in pull and push
//! mode (a private Pub/Sub emulator). Prints a table:
//!
//! - publish: how long `push` takes, p50 and p99 of 200 in a row;
//! - round trip: from `push` until a waiting worker pops it, p50 and p99 of 200 in a row (each
//!   acknowledged before the next);
//! - throughput: 1 000 envelopes pushed by 8 tasks at once and popped and acknowledged by 4
//!   workers, envelopes per second.
//!
//! Run by `scripts/bench`: `cargo run --release -p regis-pubsub --example queue_bench`. Needs
//! `nats-server` and the emulator (`TEST_PUBSUB_EMULATOR_BIN`, default the Debian package's).

use regis_core::{Envelope, InProcessQueue, Queue, UserRef};
use regis_pubsub::{Endpoint, PubSubConfig, PubSubQueue, PushConfig, PushQueue};
use regis_testkit::services::{private_nats, private_pubsub_emulator};
use std::sync::Arc;
use std::time::{Duration, Instant};

const IN_A_ROW: usize = 200;
const BURST: usize = 1000;

fn envelope(i: usize) -> Envelope {
    Envelope::message("bench", UserRef::new("bench", "ann"), format!("!ping {i}"))
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One backend's figures: publish p50/p99, round trip p50/p99, envelopes per second.
struct Figures {
    publish: (Duration, Duration),
    round_trip: (Duration, Duration),
    rate: f64,
}

async fn measure(publisher: Arc<dyn Queue>, consumer: Arc<dyn Queue>) -> Figures {
    let mut publish = Vec::new();
    for i in 0..IN_A_ROW {
        let started = Instant::now();
        publisher.push(envelope(i)).await.expect("published");
        publish.push(started.elapsed());
    }
    for _ in 0..IN_A_ROW {
        consumer.pop().await.expect("a delivery").ack().await;
    }
    let mut round_trip = Vec::new();
    for i in 0..IN_A_ROW {
        let started = Instant::now();
        publisher.push(envelope(i)).await.expect("published");
        let delivery = consumer.pop().await.expect("a delivery");
        round_trip.push(started.elapsed());
        delivery.ack().await;
    }
    publish.sort();
    round_trip.sort();
    let started = Instant::now();
    let publishers: Vec<_> = (0..8)
        .map(|p| {
            let publisher = Arc::clone(&publisher);
            tokio::spawn(async move {
                for i in (p..BURST).step_by(8) {
                    publisher.push(envelope(i)).await.expect("published");
                }
            })
        })
        .collect();
    let taken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let consumer = Arc::clone(&consumer);
            let taken = Arc::clone(&taken);
            tokio::spawn(async move {
                while taken.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < BURST {
                    consumer.pop().await.expect("a delivery").ack().await;
                }
            })
        })
        .collect();
    for task in publishers.into_iter().chain(workers) {
        task.await.expect("no panic");
    }
    let rate = BURST as f64 / started.elapsed().as_secs_f64();
    Figures {
        publish: (percentile(&publish, 0.5), percentile(&publish, 0.99)),
        round_trip: (percentile(&round_trip, 0.5), percentile(&round_trip, 0.99)),
        rate,
    }
}

fn pubsub_config(emulator: &str, topic: &str) -> PubSubConfig {
    let mut config = PubSubConfig::from_url(&format!("pubsub://regis-bench/{topic}")).expect("a queue URL");
    config.endpoint = Endpoint::Emulator(emulator.to_string());
    config
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (_nats, nats_url) = private_nats(dir.path());
    let (_emulator, emulator) = private_pubsub_emulator();
    let mut rows: Vec<(&str, Figures)> = Vec::new();

    let in_process: Arc<dyn Queue> = Arc::new(InProcessQueue::new(BURST * 2));
    rows.push(("in-process (baseline)", measure(Arc::clone(&in_process), in_process).await));

    let config = regis_nats::JetStreamConfig::new(&nats_url, "bench");
    let jetstream: Arc<dyn Queue> = Arc::new(regis_nats::JetStreamQueue::connect(config).await.expect("JetStream"));
    rows.push(("NATS JetStream", measure(Arc::clone(&jetstream), jetstream).await));

    let pull: Arc<dyn Queue> =
        Arc::new(PubSubQueue::connect(pubsub_config(&emulator, "bench-pull")).await.expect("Pub/Sub"));
    rows.push(("Pub/Sub pull (emulator)", measure(Arc::clone(&pull), pull).await));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a listener");
    let endpoint = format!("http://{}/pubsub/push", listener.local_addr().expect("its address"));
    let push = PushQueue::connect(pubsub_config(&emulator, "bench-push"), PushConfig { endpoint, oidc: None })
        .await
        .expect("Pub/Sub push");
    let push = Arc::new(push);
    let router = push.router(regis_http::BodyReader::new(Duration::from_secs(10), 256 * 1024 * 1024));
    tokio::spawn(async move { axum::serve(listener, router).await });
    let push: Arc<dyn Queue> = push;
    rows.push(("Pub/Sub push (emulator)", measure(Arc::clone(&push), push).await));

    // Ratios against the in-process queue measured above, and against JetStream, the other
    // shared queue.
    let (base, jet) = (&rows[0].1, &rows[1].1);
    println!("Envelope queues: {IN_A_ROW} in a row, then {BURST} by 8 publishers and 4 workers");
    println!(
        "| backend | publish p50 | publish p99 | round trip p50 | round trip p99 | round trip p50 vs JetStream | envelopes/s | rate vs in-process | rate vs JetStream |"
    );
    println!("|---|--:|--:|--:|--:|--:|--:|--:|--:|");
    let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
    for (name, f) in &rows {
        println!(
            "| {name} | {} | {} | {} | {} | {:.1}× | {:.0} | {:.4}× | {:.3}× |",
            ms(f.publish.0),
            ms(f.publish.1),
            ms(f.round_trip.0),
            ms(f.round_trip.1),
            f.round_trip.0.as_secs_f64() / jet.round_trip.0.as_secs_f64(),
            f.rate,
            f.rate / base.rate,
            f.rate / jet.rate,
        );
    }
}
