//! Gateway dispatches as Regis envelopes: messages (prefix and `@mention` commands, in guild
//! channels and DMs), members joining, reactions.

use crate::convert::user_ref;
use crate::CONNECTOR;
use regis_core::{ChannelRef, Envelope, EnvelopeKind, FileRef, UserRef};
use serde_json::json;
use twilight_model::channel::message::EmojiReactionType;
use twilight_model::channel::Message;
use twilight_model::gateway::payload::incoming::{MemberAdd, ReactionAdd};
use twilight_model::id::marker::UserMarker;
use twilight_model::id::Id;

/// Milliseconds between the Unix epoch and Discord's (2015-01-01).
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// When a snowflake was made, in milliseconds since the Unix epoch.
pub fn snowflake_ms(id: u64) -> u64 {
    (id >> 22) + DISCORD_EPOCH_MS
}

/// The text a message stands for: a message that starts by mentioning the bot
/// (`<@BOT> roll 2 6`, or the older `<@!BOT>`) is the command `{prefix}roll 2 6`; a mention
/// alone is `{prefix}help`. Other text is unchanged.
pub fn command_text(content: &str, bot: Option<Id<UserMarker>>, prefix: &str) -> String {
    let Some(bot) = bot else {
        return content.to_string();
    };
    let trimmed = content.trim_start();
    for mention in [format!("<@{bot}>"), format!("<@!{bot}>")] {
        if let Some(rest) = trimmed.strip_prefix(&mention) {
            let rest = rest.trim_start();
            let rest = rest.strip_prefix(prefix).unwrap_or(rest);
            return if rest.trim().is_empty() { format!("{prefix}help") } else { format!("{prefix}{rest}") };
        }
    }
    content.to_string()
}

/// The envelope of a MESSAGE_CREATE, or `None` for messages the bot ignores: its own, those
/// of other bots and of webhooks.
///
/// Its id is `discord-message-{id}`, so a dispatch replayed after a resume is handled once;
/// its reply handle carries the `message_id` that replies reference.
pub fn message_envelope(message: &Message, bot: Option<Id<UserMarker>>, prefix: &str) -> Option<Envelope> {
    if message.author.bot || message.webhook_id.is_some() || Some(message.author.id) == bot {
        return None;
    }
    let text = command_text(&message.content, bot, prefix);
    let mut envelope = Envelope::new(CONNECTOR, user_ref(&message.author), EnvelopeKind::Message { text });
    envelope.id = format!("discord-message-{}", message.id);
    envelope.time_ms = snowflake_ms(message.id.get());
    envelope.guild = message.guild_id.map(|g| g.to_string());
    envelope.channel =
        Some(ChannelRef { id: message.channel_id.to_string(), name: None, direct: message.guild_id.is_none() });
    envelope.reply_handle = Some(json!({ "message_id": message.id.to_string() }));
    envelope.files = message
        .attachments
        .iter()
        .map(|a| FileRef { name: a.filename.clone(), url: a.url.clone(), size: a.size })
        .collect();
    Some(envelope)
}

/// The envelope of a GUILD_MEMBER_ADD (needs the privileged GUILD_MEMBERS intent).
pub fn member_join_envelope(member: &MemberAdd) -> Envelope {
    let mut envelope = Envelope::new(CONNECTOR, user_ref(&member.member.user), EnvelopeKind::MemberJoin);
    let joined = member.member.joined_at.map(|t| t.as_micros()).unwrap_or_default();
    envelope.id = format!("discord-join-{}-{}-{joined}", member.guild_id, member.member.user.id);
    envelope.guild = Some(member.guild_id.to_string());
    envelope
}

/// The envelope of a MESSAGE_REACTION_ADD (needs the GUILD_MESSAGE_REACTIONS or
/// DIRECT_MESSAGE_REACTIONS intent). The author is known by id only unless the member came
/// with the event.
pub fn reaction_envelope(reaction: &ReactionAdd) -> Envelope {
    let author = match reaction.member.as_ref() {
        Some(member) => user_ref(&member.user),
        None => UserRef::new(CONNECTOR, reaction.user_id.to_string()),
    };
    let emoji = match &reaction.emoji {
        EmojiReactionType::Custom { name, id, .. } => name.clone().unwrap_or_else(|| id.to_string()),
        EmojiReactionType::Unicode { name } => name.clone(),
    };
    let mut envelope = Envelope::new(
        CONNECTOR,
        author,
        EnvelopeKind::Reaction { message_id: reaction.message_id.to_string(), emoji: emoji.clone() },
    );
    envelope.id = format!("discord-reaction-{}-{}-{emoji}", reaction.message_id, reaction.user_id);
    envelope.guild = reaction.guild_id.map(|g| g.to_string());
    envelope.channel =
        Some(ChannelRef { id: reaction.channel_id.to_string(), name: None, direct: reaction.guild_id.is_none() });
    envelope
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOT: u64 = 775799577604522054;

    fn message(json: serde_json::Value) -> Message {
        serde_json::from_value(json).expect("a valid message")
    }

    fn base(content: &str, guild: bool, bot_author: bool) -> serde_json::Value {
        let mut m: serde_json::Value =
            serde_json::from_str(include_str!("../../../regis-testkit/fixtures/discord/message_object.json")).unwrap();
        m["content"] = json!(content);
        m["reactions"] = json!([]);
        m["author"]["bot"] = json!(bot_author);
        if guild {
            m["guild_id"] = json!("290926798626357999");
        }
        m
    }

    #[test]
    fn mentions_become_prefix_commands() {
        let bot = Some(Id::new(BOT));
        assert_eq!(command_text("<@775799577604522054> roll 2 6", bot, "!"), "!roll 2 6");
        assert_eq!(command_text("<@!775799577604522054>   ping", bot, "!"), "!ping");
        assert_eq!(command_text("<@775799577604522054> !ping", bot, "!"), "!ping");
        assert_eq!(command_text("<@775799577604522054>", bot, "!"), "!help");
        assert_eq!(command_text("<@1> ping", bot, "!"), "<@1> ping");
        assert_eq!(command_text("hello <@775799577604522054>", bot, "!"), "hello <@775799577604522054>");
        assert_eq!(command_text("<@775799577604522054> ping", None, "!"), "<@775799577604522054> ping");
    }

    #[test]
    fn guild_and_direct_messages_become_envelopes() {
        let e = message_envelope(&message(base("!roll", true, false)), Some(Id::new(BOT)), "!").unwrap();
        assert_eq!(e.id, "discord-message-334385199974967042");
        assert_eq!(e.text(), Some("!roll"));
        assert_eq!(e.author.key(), "discord:53908099506183680");
        assert_eq!(e.guild.as_deref(), Some("290926798626357999"));
        let channel = e.channel.unwrap();
        assert_eq!((channel.id.as_str(), channel.direct), ("290926798999357250", false));
        assert_eq!(e.reply_handle.unwrap()["message_id"], "334385199974967042");
        assert_eq!(e.time_ms, snowflake_ms(334385199974967042));
        let dm = message_envelope(&message(base("!ping", false, false)), None, "!").unwrap();
        assert!(dm.channel.unwrap().direct);
        assert!(dm.guild.is_none());
    }

    #[test]
    fn bots_are_ignored() {
        assert!(message_envelope(&message(base("!ping", true, true)), None, "!").is_none());
    }

    #[test]
    fn snowflakes_carry_their_time() {
        // Discord's documented example: 175928847299117063 was made at 1462015105796 ms.
        assert_eq!(snowflake_ms(175928847299117063), 1_462_015_105_796);
    }
}
