//! `regis dev`: the bot against the test kit's fake Discord (REST and Gateway) in this
//! process, and a page on `127.0.0.1:PORT` that looks and behaves like a Discord channel. The
//! page drives the real code paths: a typed message reaches the bot as a Gateway
//! MESSAGE_CREATE through the real Gateway connector, a slash command or a click as a signed
//! interaction POSTed to the real interactions endpoint; the bot answers through the REST API
//! as on Discord, and the page shows what the fake Discord received.

mod calls;
mod interact;
mod page;
mod slash;
mod world;

use crate::config::Settings;
use crate::secrets::DiscordSecrets;
use anyhow::Result;
use regis_testkit::fake_discord::FakeDiscord;
use regis_testkit::fake_gateway::{FakeGateway, FakeGuild, GatewayOptions, PRIVILEGED_INTENTS};
use std::sync::Arc;
use std::time::Duration;
use world::{World, BOT_ID, BOT_NAME, CHANNELS, GUILD_ID, PEOPLE};

/// The port the page is served on when `--port` is not given.
pub(crate) const DEFAULT_PORT: u16 = 8080;

/// Runs the playground until Ctrl-C: the page on `127.0.0.1:port` (0: any free port).
pub(crate) async fn dev(mut settings: Settings, plugins: &crate::app::Plugins, port: u16) -> Result<()> {
    // Said in the flag's words, before anything starts (the listener itself says `http_addr`).
    if port != 0 && std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        anyhow::bail!("--port {port}: 127.0.0.1:{port} is in use; pick another port (--port 0 takes a free one)");
    }
    let token = format!("dev.{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..));
    let key = interact::new_key()?;
    let gateway = FakeGateway::start_with(GatewayOptions {
        token: token.clone(),
        heartbeat_interval: Duration::from_millis(41_250),
        // The playground's application has every privileged intent enabled.
        privileged_intents: PRIVILEGED_INTENTS,
        bot_id: BOT_ID,
        bot_name: BOT_NAME.into(),
        guilds: vec![FakeGuild {
            id: GUILD_ID,
            name: "Regis playground".into(),
            channels: CHANNELS.iter().map(|(id, name)| (*id, name.to_string())).collect(),
        }],
    })
    .await;
    let discord = FakeDiscord::start().await;
    discord.set_bot(&token, BOT_ID, BOT_NAME);
    discord.set_gateway(&gateway.url(), 1);
    // The page is the record; the fake keeps no calls of its own for hours on end.
    discord.keep_calls(0);
    discord.remember(10_000);
    // Edits and follow-ups work only once the interaction is answered, as on Discord.
    discord.require_callbacks(true);
    for person in PEOPLE {
        discord.add_user(&person.id.to_string(), person.name);
    }
    for (id, name) in CHANNELS {
        discord.add_channel(&id.to_string(), name, Some(&GUILD_ID.to_string()));
    }
    let world = Arc::new(World::new());
    tokio::spawn(calls::follow(Arc::clone(&world), discord.subscribe()));

    // The bot's settings, pointed at the fakes and kept on this machine.
    settings.discord_api_url = discord.api_url();
    settings.discord_gateway_url = None;
    settings.discord_shards = None;
    settings.http_addr = Some(format!("127.0.0.1:{port}"));
    settings.irc.server = None;
    settings.owners.push(format!("{}:{}", regis_discord::CONNECTOR, PEOPLE[0].id));
    let secrets = DiscordSecrets {
        public_key: Some(hex::encode(key.verifying_key().to_bytes())),
        token: Some(token),
        application_id: Some(BOT_ID.to_string()),
    };
    let admin_rank = settings.discord_admin_rank();
    let (gateway, discord) = (Arc::new(gateway), Arc::new(discord));
    let page: crate::run::ExtraRouter = Box::new(move |bot, addr| {
        let endpoint = format!("http://{addr}/interactions");
        let interactions = interact::Interactions::new(
            Arc::clone(&world),
            endpoint,
            key,
            (Arc::clone(bot), admin_rank),
            Arc::clone(&discord),
        );
        eprintln!("regis dev: open http://{addr}/ in your browser (Ctrl-C stops)");
        page::router(Arc::new(page::Playground { world, bot: Arc::clone(bot), gateway, discord, interactions }))
    });
    crate::run::run_with(settings, plugins, secrets, Some(page)).await
}
