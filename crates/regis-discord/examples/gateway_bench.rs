//! Gateway round trip through the test kit's fake Discord (used by `scripts/bench`):
//! MESSAGE_CREATE `!ping` dispatched by the fake Gateway (zstd-stream, as Discord sends it)
//! → the bot → `pong` POSTed to the fake REST API, measured at the fake.
//!
//! Two paths, measured in the same run against the same fakes:
//! - baseline: twilight alone — a bare shard that answers every MESSAGE_CREATE with
//!   `create_message` (no queue, no dispatcher, no plugin), the ceiling of this setup;
//! - Regis: the Gateway connector, queue, dispatcher, the admin plugin's `!ping`, and the
//!   REST egress.
//!
//! For each: a burst (every message dispatched at once; commands per second until the last
//! reply) and one at a time (latency from dispatch to reply, median and p95). The paths run
//! alternately, twice, and the second round is shown. Both paths send
//! through twilight-http's rate limiter, which keeps Discord's documented global limit of 50
//! requests per second: a burst of replies cannot go faster than that, with or without Regis.

use regis::{Bot, CoreConfig, SqliteBackend};
use regis_discord::gateway::{Gateway, GatewayConfig, IdentifyQueue};
use regis_discord::{DiscordConnector, RestConfig};
use regis_testkit::fake_discord::FakeDiscord;
use regis_testkit::fake_gateway::{message_create, FakeGateway, GatewayOptions, AUTHOR_ID, CHANNEL_ID, GUILD_ID};
use std::sync::Arc;
use std::time::{Duration, Instant};
use twilight_gateway::{ConfigBuilder, Event, EventTypeFlags, Intents, Shard, ShardId, StreamExt};

const TOKEN: &str = "bench-token";
const BURST: u64 = 250;
const SEQUENTIAL: u64 = 300;

struct Figures {
    burst_rate: f64,
    p50: Duration,
    p95: Duration,
}

/// Dispatches `!ping`s and measures at the fake REST API.
async fn measure(gateway: &FakeGateway, fake: &FakeDiscord, first_id: u64) -> Figures {
    // Start on a fresh 1-second window of the global limit (the Gateway's own `GET
    // /gateway/bot` counts against it, as on Discord).
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let base = fake.calls().len();
    let started = Instant::now();
    for i in 0..BURST {
        let message = message_create(first_id + i, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "!ping");
        gateway.dispatch("MESSAGE_CREATE", message).expect("a session");
    }
    fake.wait_for_calls(base + BURST as usize, Duration::from_secs(120)).await;
    let burst_rate = BURST as f64 / started.elapsed().as_secs_f64();
    let mut latencies = Vec::with_capacity(SEQUENTIAL as usize);
    for i in 0..SEQUENTIAL {
        let n = fake.calls().len();
        let id = first_id + BURST + i;
        let sent = Instant::now();
        gateway
            .dispatch("MESSAGE_CREATE", message_create(id, CHANNEL_ID, Some(GUILD_ID), (AUTHOR_ID, "Mason"), "!ping"))
            .expect("a session");
        let calls = fake.wait_for_calls(n + 1, Duration::from_secs(10)).await;
        latencies.push(calls[n].at.duration_since(sent));
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    assert!(fake.calls().iter().all(|c| c.status == 200), "every reply accepted");
    Figures { burst_rate, p50: at(0.5), p95: at(0.95) }
}

async fn fakes() -> (FakeGateway, FakeDiscord) {
    let gateway = FakeGateway::start_with(GatewayOptions { token: TOKEN.into(), ..GatewayOptions::default() }).await;
    let fake = FakeDiscord::start().await;
    fake.set_bot(TOKEN, regis_testkit::fake_gateway::BOT_ID, "Regis");
    fake.set_gateway(&gateway.url(), 1);
    (gateway, fake)
}

/// twilight alone: a shard that answers each message with `create_message`.
async fn baseline() -> Figures {
    let (gateway, fake) = fakes().await;
    let http = Arc::new(
        twilight_http::Client::builder()
            .proxy(fake.api_url().trim_start_matches("http://").trim_end_matches("/api/v10").to_string(), true)
            .token(TOKEN.into())
            .build(),
    );
    let config = ConfigBuilder::new(TOKEN.into(), Intents::GUILD_MESSAGES | Intents::MESSAGE_CONTENT)
        .proxy_url(gateway.url())
        .queue(twilight_gateway::queue::InMemoryQueue::new(0, 0, Duration::ZERO, 0))
        .build();
    let mut shard = Shard::with_config(ShardId::ONE, config);
    let task = tokio::spawn(async move {
        while let Some(item) = shard.next_event(EventTypeFlags::MESSAGE_CREATE).await {
            if let Ok(Event::MessageCreate(message)) = item {
                let http = Arc::clone(&http);
                tokio::spawn(async move {
                    let _ = http.create_message(message.channel_id).content("pong").reply(message.id).await;
                });
            }
        }
    });
    gateway.wait_ready(1, Duration::from_secs(10)).await;
    let figures = measure(&gateway, &fake, 10_000_000).await;
    task.abort();
    figures
}

/// The bot with the Gateway connector.
async fn regis() -> Figures {
    let (gateway, fake) = fakes().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rest = Arc::new(
        DiscordConnector::new(RestConfig {
            api_url: fake.api_url(),
            token: Some(TOKEN.into()),
            ..RestConfig::default()
        })
        .expect("REST settings"),
    );
    let mut config = GatewayConfig::new(TOKEN);
    config.identify_queue = IdentifyQueue::Unlimited;
    let connector = Gateway::new(config, rest).expect("Gateway settings");
    let bot = Bot::builder(CoreConfig::default())
        .storage(SqliteBackend::new(dir.path()))
        .connector(connector.connector())
        .plugin(regis_plugin_admin::Admin)
        .start()
        .await
        .expect("the bot starts");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(connector.run(bot.ingress(), async move {
        let _ = stopped.await;
    }));
    gateway.wait_ready(1, Duration::from_secs(10)).await;
    let figures = measure(&gateway, &fake, 20_000_000).await;
    let _ = stop.send(());
    let _ = run.await;
    bot.shutdown().await;
    figures
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    regis_discord::install_crypto_provider();
    // Alternate the two paths and keep the second round of each: the first warms the machine.
    let _warm_up = (baseline().await, regis().await);
    let (base, bot) = (baseline().await, regis().await);
    println!("Discord Gateway round trip: MESSAGE_CREATE `!ping` in (fake Gateway, zstd-stream) → `pong` POSTed (fake REST), 127.0.0.1");
    println!("burst: {BURST} messages dispatched at once; latency: {SEQUENTIAL} messages one at a time");
    println!("(replies go through twilight-http's rate limiter, which keeps Discord's global limit of 50 requests/s)");
    println!();
    println!("| path | burst throughput | latency p50 | latency p95 |");
    println!("|---|---|---|---|");
    println!(
        "| baseline: twilight alone (shard → create_message) | {:.0} cmd/s | {} | {} |",
        base.burst_rate,
        ms(base.p50),
        ms(base.p95)
    );
    println!(
        "| Regis: Gateway connector → queue → dispatcher → `!ping` → REST | {:.0} cmd/s | {} | {} |",
        bot.burst_rate,
        ms(bot.p50),
        ms(bot.p95)
    );
    println!();
    let difference = (bot.p50.as_secs_f64() - base.p50.as_secs_f64()) * 1000.0;
    println!(
        "Regis reaches {:.0}% of the baseline's burst throughput; median latency {difference:+.2} ms against it.",
        100.0 * bot.burst_rate / base.burst_rate,
    );
}
