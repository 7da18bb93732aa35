//! Translations between Discord's model (twilight-model) and Regis' connector-neutral types:
//! interactions become [`Envelope`]s; [`Reply`]s become message payloads.

use crate::CONNECTOR;
use regis_core::{ChannelRef, Envelope, EnvelopeKind, Reply, UserRef};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use twilight_model::application::interaction::application_command::{CommandData, CommandOptionValue};
use twilight_model::application::interaction::Interaction;
use twilight_model::channel::message::component::{ActionRow, Button, ButtonStyle, Component};
use twilight_model::channel::message::embed::{EmbedField, EmbedImage};
use twilight_model::channel::message::{Embed, MessageFlags};
use twilight_model::http::attachment::Attachment;
use twilight_model::user::User;

/// Discord's limit on message content, in characters.
pub const MAX_CONTENT: usize = 2000;
/// Discord's limit on embeds per message.
pub const MAX_EMBEDS: usize = 10;

/// What egress needs to answer an interaction; carried in [`Envelope::reply_handle`]. The
/// token is a secret: this type's `Debug` hides it.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InteractionHandle {
    /// The interaction's id.
    pub interaction_id: String,
    /// The application's id (webhook routes start with it).
    pub application_id: String,
    /// The interaction token (valid for 15 minutes).
    pub token: String,
    /// When the interaction arrived, milliseconds since the Unix epoch.
    pub received_ms: u64,
}

impl std::fmt::Debug for InteractionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InteractionHandle")
            .field("interaction_id", &self.interaction_id)
            .field("application_id", &self.application_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl InteractionHandle {
    /// The handle of an envelope, if it came from an interaction.
    pub fn of(envelope: &Envelope) -> Option<InteractionHandle> {
        envelope.reply_handle.as_ref().and_then(|v| InteractionHandle::deserialize(v).ok())
    }
}

/// The name Discord shows for a user: the global display name, else the username, with
/// control and direction-changing characters removed.
pub(crate) fn display_name(user: &User) -> String {
    let name = user.global_name.as_deref().unwrap_or(&user.name);
    regis_core::envelope::clean_display_name(name, &user.id.to_string())
}

/// A Discord user as a Regis identity.
pub(crate) fn user_ref(user: &User) -> UserRef {
    UserRef::named(CONNECTOR, user.id.to_string(), display_name(user))
}

/// A Discord user as the connector verb `user(id)` reports it.
pub(crate) fn user_info(user: &User) -> regis_core::UserInfo {
    regis_core::UserInfo { id: user.id.to_string(), name: display_name(user), bot: user.bot }
}

/// A Discord channel as the connector verb `channel(id)` reports it.
pub(crate) fn channel_info(channel: &twilight_model::channel::Channel) -> regis_core::ChannelInfo {
    regis_core::ChannelInfo {
        id: channel.id.to_string(),
        name: channel.name.clone().unwrap_or_default(),
        topic: channel.topic.clone(),
        members: Vec::new(),
    }
}

/// Why an interaction cannot become an envelope (answered with 400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// No invoking user or member.
    #[error("interaction has no user")]
    NoUser,
    /// An APPLICATION_COMMAND without command data.
    #[error("application command interaction has no command data")]
    NoCommandData,
    /// A MESSAGE_COMPONENT without component data.
    #[error("component interaction has no component data")]
    NoComponentData,
    /// An autocomplete interaction without a focused option.
    #[error("autocomplete interaction has no focused option")]
    NoFocusedOption,
}

/// The envelope of an APPLICATION_COMMAND interaction: the command name and its options by
/// name (users with their resolved display names).
pub fn command_envelope(interaction: &Interaction, received_ms: u64) -> Result<Envelope, ConvertError> {
    let author = interaction.author().map(user_ref).ok_or(ConvertError::NoUser)?;
    let Some(twilight_model::application::interaction::InteractionData::ApplicationCommand(data)) = &interaction.data
    else {
        return Err(ConvertError::NoCommandData);
    };
    let kind = EnvelopeKind::Command { name: data.name.clone(), options: options_json(data) };
    Ok(envelope_for(interaction, author, kind, "interaction", received_ms))
}

fn envelope_for(
    interaction: &Interaction,
    author: UserRef,
    kind: EnvelopeKind,
    label: &str,
    received_ms: u64,
) -> Envelope {
    let mut envelope = Envelope::new(CONNECTOR, author, kind);
    envelope.id = format!("discord-{label}-{}", interaction.id);
    envelope.time_ms = received_ms;
    envelope.guild = interaction.guild_id.map(|g| g.to_string());
    #[allow(deprecated)] // older payloads (and Discord's own examples) carry only `channel_id`
    let channel_id = interaction.channel.as_ref().map(|c| c.id).or(interaction.channel_id);
    envelope.channel = channel_id.map(|id| ChannelRef {
        id: id.to_string(),
        name: interaction.channel.as_ref().and_then(|c| c.name.clone()),
        direct: interaction.guild_id.is_none(),
    });
    let handle = InteractionHandle {
        interaction_id: interaction.id.to_string(),
        application_id: interaction.application_id.to_string(),
        token: interaction.token.clone(),
        received_ms,
    };
    envelope.reply_handle = serde_json::to_value(handle).ok();
    envelope
}

fn options_json(data: &CommandData) -> Map<String, Value> {
    let mut map = Map::new();
    for option in &data.options {
        let value = match &option.value {
            CommandOptionValue::String(s) => json!(s),
            CommandOptionValue::Integer(n) => json!(n),
            CommandOptionValue::Number(n) => json!(n),
            CommandOptionValue::Boolean(b) => json!(b),
            CommandOptionValue::User(id) => {
                let name = data
                    .resolved
                    .as_ref()
                    .and_then(|r| r.users.get(id))
                    .map(display_name)
                    .unwrap_or_else(|| id.to_string());
                json!({ "id": id.to_string(), "name": name })
            }
            CommandOptionValue::Channel(id) => json!(id.to_string()),
            CommandOptionValue::Role(id) => json!(id.to_string()),
            CommandOptionValue::Mentionable(id) => json!(id.to_string()),
            CommandOptionValue::Attachment(id) => json!(id.to_string()),
            CommandOptionValue::Focused(text, _) => json!(text),
            // Regis commands have no Discord subcommands (two-word names become `a-b`);
            // pass them on so the parser reports the unexpected option.
            CommandOptionValue::SubCommand(_) | CommandOptionValue::SubCommandGroup(_) => Value::Null,
        };
        // An option sent twice keeps every value, so the parser can say it was given twice
        // (as it does for `name=value` given twice in a prefix command).
        match map.get_mut(&option.name) {
            Some(Value::Array(values)) => values.push(value),
            Some(first) => *first = Value::Array(vec![first.take(), value]),
            None => {
                map.insert(option.name.clone(), value);
            }
        }
    }
    map
}

/// Message content within Discord's limit (cut with an ellipsis).
pub fn content(reply: &Reply) -> Option<String> {
    if reply.text.is_empty() {
        return None;
    }
    if reply.text.chars().count() <= MAX_CONTENT {
        return Some(reply.text.clone());
    }
    let mut cut: String = reply.text.chars().take(MAX_CONTENT - 1).collect();
    cut.push('…');
    Some(cut)
}

/// Regis embeds as Discord embeds (at most 10).
pub fn embeds(reply: &Reply) -> Vec<Embed> {
    reply
        .embeds
        .iter()
        .take(MAX_EMBEDS)
        .map(|e| Embed {
            author: None,
            color: e.color,
            description: e.description.clone(),
            fields: e
                .fields
                .iter()
                .map(|f| EmbedField { inline: true, name: f.name.clone(), value: f.value.clone() })
                .collect(),
            flags: None,
            footer: None,
            image: e.image_url.as_ref().map(|url| image(url)),
            kind: "rich".into(),
            provider: None,
            thumbnail: None,
            timestamp: None,
            title: e.title.clone(),
            url: None,
            video: None,
        })
        .collect()
}

fn image(url: &str) -> EmbedImage {
    EmbedImage {
        content_type: None,
        flags: None,
        height: None,
        placeholder: None,
        placeholder_version: None,
        proxy_url: None,
        url: url.to_string(),
        width: None,
    }
}

/// Discord allows 5 buttons per row and 5 rows.
const BUTTONS_PER_ROW: usize = 5;

/// Regis buttons as rows of Discord buttons (ids already namespaced by the plugin).
pub fn components(reply: &Reply) -> Vec<Component> {
    reply
        .buttons
        .chunks(BUTTONS_PER_ROW)
        .take(5)
        .map(|row| {
            Component::ActionRow(ActionRow {
                id: None,
                components: row
                    .iter()
                    .map(|b| {
                        Component::Button(Button {
                            custom_id: Some(b.custom_id.chars().take(100).collect()),
                            disabled: false,
                            emoji: None,
                            id: None,
                            label: Some(b.label.chars().take(80).collect()),
                            sku_id: None,
                            style: ButtonStyle::Primary,
                            url: None,
                        })
                    })
                    .collect(),
            })
        })
        .collect()
}

/// The envelope of a MESSAGE_COMPONENT interaction (a button click).
pub fn component_envelope(interaction: &Interaction, received_ms: u64) -> Result<Envelope, ConvertError> {
    let author = interaction.author().map(user_ref).ok_or(ConvertError::NoUser)?;
    let Some(twilight_model::application::interaction::InteractionData::MessageComponent(data)) = &interaction.data
    else {
        return Err(ConvertError::NoComponentData);
    };
    let kind = EnvelopeKind::Component { custom_id: data.custom_id.clone() };
    Ok(envelope_for(interaction, author, kind, "component", received_ms))
}

/// The envelope of an APPLICATION_COMMAND_AUTOCOMPLETE interaction: the command, the focused
/// parameter and what has been typed.
pub fn autocomplete_envelope(interaction: &Interaction, received_ms: u64) -> Result<Envelope, ConvertError> {
    let author = interaction.author().map(user_ref).ok_or(ConvertError::NoUser)?;
    let Some(twilight_model::application::interaction::InteractionData::ApplicationCommand(data)) = &interaction.data
    else {
        return Err(ConvertError::NoCommandData);
    };
    let (param, partial) = data
        .options
        .iter()
        .find_map(|o| match &o.value {
            CommandOptionValue::Focused(text, _) => Some((o.name.clone(), text.clone())),
            _ => None,
        })
        .ok_or(ConvertError::NoFocusedOption)?;
    let kind = EnvelopeKind::Autocomplete { command: data.name.clone(), param, partial };
    Ok(envelope_for(interaction, author, kind, "autocomplete", received_ms))
}

/// Regis attachments as multipart files (`files[n]`).
pub fn attachments(reply: &Reply) -> Vec<Attachment> {
    reply
        .attachments
        .iter()
        .enumerate()
        .map(|(i, a)| Attachment::from_bytes(a.name.clone(), a.data.clone(), i as u64))
        .collect()
}

/// The flags of a reply (EPHEMERAL = 64 when it is for the invoker only).
pub fn flags(reply: &Reply) -> Option<MessageFlags> {
    reply.ephemeral.then_some(MessageFlags::EPHEMERAL)
}

/// The inline interaction response (type 4, CHANNEL_MESSAGE_WITH_SOURCE) for a reply without
/// attachments.
pub fn inline_response(reply: &Reply) -> Value {
    let mut data = Map::new();
    if let Some(text) = content(reply) {
        data.insert("content".into(), json!(text));
    }
    let embeds = embeds(reply);
    if !embeds.is_empty() {
        data.insert("embeds".into(), serde_json::to_value(embeds).unwrap_or(Value::Null));
    }
    if let Some(flags) = flags(reply) {
        data.insert("flags".into(), json!(flags.bits()));
    }
    let components = components(reply);
    if !components.is_empty() {
        data.insert("components".into(), serde_json::to_value(components).unwrap_or(Value::Null));
    }
    data.insert("allowed_mentions".into(), json!({ "parse": [] }));
    json!({ "type": 4, "data": data })
}

/// The autocomplete response (type 8, APPLICATION_COMMAND_AUTOCOMPLETE_RESULT): at most 25
/// choices, each name and value at most 100 characters.
pub fn suggestions_response(choices: &[String]) -> Value {
    let list: Vec<Value> = choices
        .iter()
        .take(25)
        .map(|c| {
            let c: String = c.chars().take(100).collect();
            json!({ "name": c, "value": c })
        })
        .collect();
    json!({ "type": 8, "data": { "choices": list } })
}

/// The deferred response (type 5, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE): Discord shows
/// "thinking…" until the original response is edited.
pub fn deferred_response(ephemeral: bool) -> Value {
    if ephemeral {
        json!({ "type": 5, "data": { "flags": MessageFlags::EPHEMERAL.bits() } })
    } else {
        json!({ "type": 5 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regis_core::{Attachment as RegisAttachment, Embed as RegisEmbed};

    #[test]
    fn long_text_is_cut_and_flags_follow_ephemeral() {
        let reply = Reply::text("x".repeat(2500)).ephemeral();
        let text = content(&reply).unwrap();
        assert_eq!(text.chars().count(), 2000);
        assert!(text.ends_with('…'));
        let json = inline_response(&reply);
        assert_eq!(json["type"], 4);
        assert_eq!(json["data"]["flags"], 64);
        assert_eq!(json["data"]["allowed_mentions"]["parse"], json!([]));
    }

    #[test]
    fn embeds_and_files_map_to_discord() {
        let reply = Reply::text("")
            .embed(RegisEmbed::titled("Mandala").field("seed", "7").image("attachment://m.png"))
            .attach(RegisAttachment::new("m.png", vec![1, 2]));
        let e = &embeds(&reply)[0];
        assert_eq!(e.title.as_deref(), Some("Mandala"));
        assert_eq!(e.image.as_ref().unwrap().url, "attachment://m.png");
        let a = &attachments(&reply)[0];
        assert_eq!((a.filename.as_str(), a.file.as_slice(), a.id), ("m.png", &[1u8, 2][..], 0));
        assert!(content(&reply).is_none());
    }

    #[test]
    fn handle_debug_hides_the_token() {
        let h = InteractionHandle {
            interaction_id: "1".into(),
            application_id: "2".into(),
            token: "secret-token".into(),
            received_ms: 0,
        };
        assert!(!format!("{h:?}").contains("secret-token"));
    }
}
