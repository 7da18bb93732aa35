//! The page's slash commands, autocomplete and button clicks sent as Discord sends them: an
//! interaction object, signed with the application's key, POSTed over HTTP to the bot's own
//! `/interactions` endpoint. The endpoint's answer (inline, deferred, suggestions) is shown as
//! Discord's client shows it.

use super::calls::{decorate, view_of_reply};
use super::slash;
use super::world::{Person, Sent, World, BOT_ID, GUILD_ID};
use axum::body::Bytes;
use ed25519_dalek::{Signer, SigningKey};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Discord's INTERACTION_CALLBACK types the endpoint answers with.
const CHANNEL_MESSAGE: u64 = 4;
const DEFERRED_CHANNEL_MESSAGE: u64 = 5;
const AUTOCOMPLETE_RESULT: u64 = 8;
/// The largest answer read from the endpoint.
const ANSWER_LIMIT: usize = 1024 * 1024;
/// Discord waits 3 seconds for the endpoint, then fails the interaction.
const DISCORD_DEADLINE: Duration = Duration::from_secs(3);

/// Sends interactions to the bot's endpoint.
pub(crate) struct Interactions {
    world: Arc<World>,
    endpoint: String,
    key: SigningKey,
    client: Client<HttpConnector, Full<Bytes>>,
    bot: Arc<regis::Bot>,
    admin_rank: Option<regis::Rank>,
    /// The fake Discord, told when an interaction is answered (its token then works).
    discord: Arc<regis_testkit::fake_discord::FakeDiscord>,
}

/// What went wrong, as a line for the page.
pub(crate) type Notice = String;

impl Interactions {
    /// Sends to `endpoint` (`http://127.0.0.1:PORT/interactions`), signing with `key`; reads
    /// slash commands against `bot`'s application commands as `commands sync` registers them
    /// (`admin_rank`: the `discord_admin_rank` setting); tells `discord` which interactions
    /// were answered.
    pub(crate) fn new(
        world: Arc<World>,
        endpoint: String,
        key: SigningKey,
        (bot, admin_rank): (Arc<regis::Bot>, Option<regis::Rank>),
        discord: Arc<regis_testkit::fake_discord::FakeDiscord>,
    ) -> Self {
        let client = Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        Interactions { world, endpoint, key, client, bot, admin_rank, discord }
    }

    /// The bot's application commands now (scripts may have been loaded since the start).
    pub(crate) fn commands(&self) -> Vec<Value> {
        self.bot.application_commands(self.admin_rank)
    }

    /// `/name option:value …` typed by `who` in `channel`.
    pub(crate) async fn command(&self, who: Person, channel: &str, text: &str) -> Result<(), Notice> {
        let interaction = self.application_command(2, who, channel, text, false)?;
        let label = text.trim().to_string();
        self.send(interaction, who, channel, label).await.map(|_| ())
    }

    /// The suggestions for the option being typed at the end of `text`.
    pub(crate) async fn autocomplete(&self, who: Person, channel: &str, text: &str) -> Result<Vec<Value>, Notice> {
        let interaction = self.application_command(4, who, channel, text, true)?;
        if !interaction["data"]["options"].as_array().is_some_and(|o| o.iter().any(|o| o["focused"] == true)) {
            return Ok(Vec::new());
        }
        let answer = self.send(interaction, who, channel, format!("autocomplete of {}", text.trim())).await?;
        Ok(answer["data"]["choices"].as_array().cloned().unwrap_or_default())
    }

    /// An interaction of `kind` (APPLICATION_COMMAND or its AUTOCOMPLETE) for `text`, read
    /// against the bot's commands (`focused`: the last option is being typed).
    fn application_command(
        &self,
        kind: u64,
        who: Person,
        channel: &str,
        text: &str,
        focused: bool,
    ) -> Result<Value, Notice> {
        let commands = self.commands();
        let invocation = slash::read(text, &commands, focused).map_err(|e| e.to_string())?;
        // A stable id for the command, as Discord gives each registered command one.
        let index = commands.iter().position(|c| c["name"].as_str() == Some(invocation.name.as_str())).unwrap_or(0);
        let mut interaction = self.base(kind, self.world.next_id(), who, channel);
        interaction["data"] = json!({
            "id": (1_330_000_000_000_000_000u64 + index as u64).to_string(), "type": 1,
            "name": invocation.name, "options": invocation.options,
        });
        Ok(interaction)
    }

    /// A click by `who` on the button `custom_id` of message `message`.
    pub(crate) async fn click(&self, who: Person, message: &str, custom_id: &str) -> Result<(), Notice> {
        let shown =
            self.world.message(message).ok_or_else(|| "that message is gone from the playground".to_string())?;
        let channel = shown["channel_id"].as_str().unwrap_or_default().to_string();
        let id = self.world.next_id();
        let mut interaction = self.base(3, id, who, &channel);
        interaction["data"] = json!({ "custom_id": custom_id, "component_type": 2 });
        interaction["message"] = discord_message(&shown);
        let shown_label = shown["components"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|row| row["components"].as_array().into_iter().flatten())
            .find(|c| c["custom_id"].as_str() == Some(custom_id))
            .and_then(|c| c["label"].as_str());
        let label = format!("the button {} ({custom_id})", shown_label.unwrap_or("?"));
        self.send(interaction, who, &channel, label).await.map(|_| ())
    }

    /// An interaction of `kind` from `who` in `channel`: Discord's example interaction with the
    /// playground's ids, a guild member's in a guild channel and a user's in a DM.
    fn base(&self, kind: u64, id: u64, who: Person, channel: &str) -> Value {
        let mut interaction = regis_testkit::fake_discord::command_interaction(id, "", json!([]));
        interaction["type"] = json!(kind);
        interaction["token"] = json!(format!("dev-{id}-{:016x}", fastrand::u64(..)));
        interaction["application_id"] = json!(BOT_ID.to_string());
        interaction["channel_id"] = json!(channel);
        interaction["version"] = json!(1);
        let user = json!({
            "id": who.id.to_string(), "username": who.name, "global_name": who.name, "discriminator": "0",
            "avatar": null, "public_flags": 0,
        });
        match self.world.dm_with(channel) {
            Some(_) => {
                let object = interaction.as_object_mut();
                if let Some(object) = object {
                    object.remove("member");
                    object.remove("guild_id");
                    object.remove("guild_locale");
                }
                interaction["user"] = user;
                interaction["context"] = json!(1);
                interaction["channel"] = json!({ "id": channel, "type": 1 });
                interaction["authorizing_integration_owners"] = json!({ "1": who.id.to_string() });
            }
            None => {
                interaction["member"]["user"] = user;
                interaction["guild_id"] = json!(GUILD_ID.to_string());
                interaction["context"] = json!(0);
                interaction["channel"] = json!({ "id": channel, "type": 0, "guild_id": GUILD_ID.to_string() });
            }
        }
        interaction
    }

    /// Signs and sends `interaction`, and shows the endpoint's answer; returns it.
    async fn send(&self, interaction: Value, who: Person, channel: &str, label: String) -> Result<Value, Notice> {
        let token = interaction["token"].as_str().unwrap_or_default().to_string();
        let original = self.world.next_id().to_string();
        let at = Instant::now();
        let sent = Sent { original: original.clone(), channel: channel.to_string(), user: who.id, label, at };
        self.world.sent(&token, sent.clone());
        self.world.forget_expired();
        self.world.log(
            "in",
            format!("{} by {}: POST /interactions (signed, type {})", sent.label, who.name, interaction["type"]),
        );
        let (status, answer) = self.post(&interaction).await.map_err(|e| {
            self.world.log("in", format!("{}: the endpoint did not answer: {e}", sent.label));
            format!("the bot's interactions endpoint did not answer: {e}")
        })?;
        let ms = at.elapsed().as_millis();
        if status != 200 {
            self.world.log("in", format!("{}: HTTP {status} after {ms} ms: {answer}", sent.label));
            return Err(format!("the interactions endpoint answered HTTP {status}: {answer}"));
        }
        let flags = answer["data"]["flags"].as_u64().unwrap_or(0);
        match answer["type"].as_u64() {
            Some(CHANNEL_MESSAGE) => {
                self.world.log("in", format!("{}: answered inline in {ms} ms (type 4, within the budget)", sent.label));
                let mut view = view_of_reply(&self.world, &original, channel, &answer["data"], &[]);
                decorate(&mut view, &sent, flags);
                self.world.show(view);
            }
            Some(DEFERRED_CHANNEL_MESSAGE) => {
                self.world.log(
                    "in",
                    format!("{}: deferred after {ms} ms (type 5: \"thinking…\" until the edit)", sent.label),
                );
                // The edit may have come first (the worker can beat this answer to the page).
                if self.world.message(&original).is_none() {
                    let mut view = view_of_reply(&self.world, &original, channel, &json!({}), &[]);
                    view["thinking"] = json!(true);
                    decorate(&mut view, &sent, flags);
                    self.world.show(view);
                }
            }
            Some(AUTOCOMPLETE_RESULT) => {
                let count = answer["data"]["choices"].as_array().map_or(0, Vec::len);
                self.world.log("in", format!("{}: {count} suggestion(s) in {ms} ms (type 8)", sent.label));
            }
            other => {
                self.world.log("in", format!("{}: answer of type {other:?} after {ms} ms", sent.label));
            }
        }
        // As on Discord, the token's webhooks (the edit of `@original`, follow-ups) work from
        // now on: an edit the bot sent before this gets 404 Unknown Webhook and is retried.
        self.discord.acknowledge(&token);
        if at.elapsed() > DISCORD_DEADLINE {
            self.world.log("in", format!("{}: over Discord's 3 s deadline: Discord would have failed it", sent.label));
        }
        Ok(answer)
    }

    /// POSTs the signed interaction; the status and the JSON answer.
    async fn post(&self, interaction: &Value) -> Result<(u16, Value), String> {
        let body = interaction.to_string();
        let timestamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
            .to_string();
        let signature = self.key.sign(format!("{timestamp}{body}").as_bytes());
        let request = hyper::Request::post(&self.endpoint)
            .header("content-type", "application/json")
            .header("x-signature-ed25519", hex::encode(signature.to_bytes()))
            .header("x-signature-timestamp", timestamp)
            .header("user-agent", "Discord-Interactions/1.0 (+https://discord.com)")
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(DISCORD_DEADLINE * 2, self.client.request(request))
            .await
            .map_err(|_| "no answer within 6 s".to_string())?
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let bytes = Limited::new(response.into_body(), ANSWER_LIMIT)
            .collect()
            .await
            .map_err(|e| format!("reading the answer: {e}"))?
            .to_bytes();
        let answer = serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        Ok((status, answer))
    }
}

/// A message the page shows, as the Discord message object a component interaction carries.
fn discord_message(shown: &Value) -> Value {
    let mut message: Value =
        serde_json::from_str(regis_testkit::fake_discord::MESSAGE_FIXTURE).unwrap_or_else(|_| json!({}));
    message["id"] = shown["id"].clone();
    message["channel_id"] = shown["channel_id"].clone();
    message["content"] = shown["content"].clone();
    message["embeds"] = shown["embeds"].clone();
    message["components"] = shown["components"].clone();
    message["reactions"] = json!([]);
    message["attachments"] = json!([]);
    message["author"] = json!({
        "id": BOT_ID.to_string(), "username": super::world::BOT_NAME, "discriminator": "0",
        "global_name": null, "avatar": null, "bot": true, "public_flags": 0,
    });
    message
}

/// A new signing key for the playground's application, from the operating system's randomness.
pub(crate) fn new_key() -> anyhow::Result<SigningKey> {
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness for the playground's key: {e}"))?;
    Ok(SigningKey::from_bytes(&seed))
}
