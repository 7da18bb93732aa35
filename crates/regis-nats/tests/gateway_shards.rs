//! Two gateway processes splitting the shards (3 shards: 0-1 here, 2 there) against the fake
//! Gateway, with Discord's `max_concurrency` of 1: their IDENTIFYs, counted by the fake, are
//! spaced 5 seconds apart across both, through the IDENTIFY slots they share on NATS.

use regis_core::shared::InProcessRendezvous;
use regis_core::{InProcessQueue, Ingress};
use regis_discord::gateway::{Gateway, GatewayConfig, IdentifyQueue};
use regis_discord::{DiscordConnector, RestConfig};
use regis_nats::NatsSlots;
use regis_testkit::fake_discord::FakeDiscord;
use regis_testkit::fake_gateway::{FakeGateway, GatewayOptions, Record};
use std::sync::Arc;
use std::time::{Duration, Instant};

use regis_testkit::services::nats_url as url;

/// One gateway process: its own REST client and NATS connection, shards `range` of 3.
async fn gateway(fake: &FakeDiscord, token: &str, bot: &str, range: (u32, u32)) -> tokio::task::JoinHandle<()> {
    let rest = Arc::new(
        DiscordConnector::new(RestConfig {
            api_url: fake.api_url(),
            token: Some(token.into()),
            ..RestConfig::default()
        })
        .unwrap(),
    );
    let client = async_nats::connect(url()).await.expect("a nats-server with JetStream");
    let slots = NatsSlots::identify(client, bot, Duration::from_secs(5)).await.unwrap();
    let config = GatewayConfig {
        shards: Some(3),
        shard_range: Some(range),
        identify_queue: IdentifyQueue::Shared(Arc::new(slots)),
        ..GatewayConfig::new(token)
    };
    let gateway = Gateway::new(config, rest).unwrap();
    let ingress = Ingress::new(Arc::new(InProcessQueue::new(100)), Arc::new(InProcessRendezvous::default()), "!");
    tokio::spawn(async move {
        let _ = gateway.run(ingress, std::future::pending::<()>()).await;
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateway_processes_space_their_identifies_together() {
    regis_discord::install_crypto_provider();
    let options = GatewayOptions::default();
    let fake = FakeDiscord::start().await;
    fake.set_bot(&options.token, options.bot_id, &options.bot_name);
    let fake_gateway = FakeGateway::start_with(options.clone()).await;
    fake.set_gateway(&fake_gateway.url(), 3);
    fake.set_session_start_limit(1000, 990, Duration::from_secs(3600), 1);
    let bot = format!("shards-{:08x}", std::process::id() ^ regis_core::envelope::now_ms() as u32);
    let started = Instant::now();
    let here = gateway(&fake, &options.token, &bot, (0, 1)).await;
    let there = gateway(&fake, &options.token, &bot, (2, 2)).await;
    fake_gateway.wait_ready(3, Duration::from_secs(40)).await;
    let mut identifies: Vec<(Instant, serde_json::Value)> = fake_gateway
        .records()
        .into_iter()
        .filter_map(|r| match r {
            Record::Received { payload, at, .. } if payload["op"] == 2 => Some((at, payload["d"]["shard"].clone())),
            _ => None,
        })
        .collect();
    identifies.sort_by_key(|(at, _)| *at);
    let mut shards: Vec<String> = identifies.iter().map(|(_, s)| s.to_string()).collect();
    shards.sort();
    assert_eq!(shards, ["[0,3]", "[1,3]", "[2,3]"], "each process identified its own shards");
    let gaps: Vec<Duration> = identifies.windows(2).map(|w| w[1].0.duration_since(w[0].0)).collect();
    println!("IDENTIFY gaps across both processes: {gaps:?} (all ready after {:?})", started.elapsed());
    for gap in &gaps {
        assert!(*gap >= Duration::from_millis(4_900), "IDENTIFYs {gap:?} apart across the processes: {gaps:?}");
    }
    here.abort();
    there.abort();
}
