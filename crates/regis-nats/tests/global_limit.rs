//! Discord's global rate limit (50 requests per second for the bot, however many processes
//! send them) shared over NATS: three Discord connectors, each with its own HTTP client and
//! rate limiter as three worker processes have, send bursts of channel messages to the fake
//! Discord, which enforces the global limit across all its connections.

use regis_core::{Connector, Destination, Reply};
use regis_discord::{DiscordConnector, RestConfig};
use regis_nats::NatsRateLimit;
use regis_testkit::fake_discord::FakeDiscord;
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "Bot-token-for-tests";

use regis_testkit::services::nats_url as url;

fn workers(fake: &FakeDiscord) -> Vec<Arc<DiscordConnector>> {
    let config = || RestConfig { api_url: fake.api_url(), token: Some(TOKEN.into()), ..RestConfig::default() };
    (0..3).map(|_| Arc::new(DiscordConnector::new(config()).unwrap())).collect()
}

/// Every worker posts `each` messages at once, each to a channel of its own (so that no
/// route's limit applies, only the global one); returns how many were sent.
async fn burst(workers: &[Arc<DiscordConnector>], each: usize, first_channel: u64) -> usize {
    let mut sends = Vec::new();
    for (w, worker) in workers.iter().enumerate() {
        for i in 0..each {
            let worker = Arc::clone(worker);
            let channel = (first_channel + (w * each + i) as u64).to_string();
            sends.push(tokio::spawn(async move {
                worker.send(None, &Destination::Channel(channel), Reply::text("hello")).await
            }));
        }
    }
    let mut sent = 0;
    for send in sends {
        if let Ok(Ok(_)) = send.await {
            sent += 1;
        }
    }
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_sharing_the_limit_get_no_global_429() {
    let fake = FakeDiscord::start().await;
    fake.set_bot(TOKEN, 1, "regis");
    // Each worker on its own keeps under 50 per second, but together they exceed it.
    let alone = workers(&fake);
    assert_eq!(burst(&alone, 60, 1_000_000).await, 180, "every message is sent in the end");
    let unshared = fake.global_rate_limited();
    assert!(unshared > 0, "the fake counts the global 429s of workers that do not share the limit");

    tokio::time::sleep(Duration::from_secs(1)).await;
    let bot = format!("limit-{:08x}", std::process::id() ^ regis_core::envelope::now_ms() as u32);
    let shared = workers(&fake);
    for worker in &shared {
        let client = async_nats::connect(url()).await.expect("a nats-server with JetStream");
        worker.share_global_limit(Arc::new(NatsRateLimit::connect(client, &bot, 50).await.unwrap()));
    }
    let start = std::time::Instant::now();
    assert_eq!(burst(&shared, 60, 2_000_000).await, 180);
    let took = start.elapsed();
    assert_eq!(fake.global_rate_limited(), unshared, "no global 429 while the limit is shared");
    println!("180 messages from 3 workers: {unshared} global 429s unshared; 0 shared, in {took:?}");
}
