//! What the server sends that becomes an envelope: a `PRIVMSG` in a channel or in private, a
//! command when it starts with the prefix or is addressed to the bot by nick
//! (`Regis: roll 2 6`, `Regis, help`; the nick alone is `help`).

use regis_core::{ChannelRef, Envelope, UserRef};

/// The connector's name, the `source` of its envelopes and the `connector` of its users.
pub const CONNECTOR: &str = "irc";

/// Whether `target` names a channel (rather than a nick).
pub fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

/// The envelope for `text` sent by `nick` to `target` (a channel, or our nick in private);
/// `None` for what is not for plugins (CTCP, empty text).
pub fn message_envelope(nick: &str, target: &str, text: &str, own_nick: &str, prefix: &str) -> Option<Envelope> {
    if text.starts_with('\u{1}') || text.trim().is_empty() {
        return None; // CTCP (ACTION, VERSION, ...)
    }
    let text = addressed(text, own_nick)
        .map(|rest| match rest {
            "" => format!("{prefix}help"),
            rest if rest.starts_with(prefix) => rest.to_string(),
            rest => format!("{prefix}{rest}"),
        })
        .unwrap_or_else(|| text.to_string());
    let author = UserRef::named(CONNECTOR, nick, nick);
    let channel = if is_channel(target) {
        ChannelRef::new(target)
    } else {
        ChannelRef { id: nick.into(), name: Some(nick.into()), direct: true }
    };
    Some(Envelope::message(CONNECTOR, author, text).in_channel(channel))
}

/// The rest of `text` when it is addressed to `nick` (`nick: rest`, `nick, rest`, or the nick
/// alone), in any case.
fn addressed<'a>(text: &'a str, nick: &str) -> Option<&'a str> {
    let text = text.trim();
    let head = text.get(..nick.len())?;
    if !head.eq_ignore_ascii_case(nick) {
        return None;
    }
    let rest = &text[nick.len()..];
    if rest.is_empty() {
        return Some("");
    }
    rest.strip_prefix([':', ',']).map(str::trim)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(text: &str, target: &str) -> Option<String> {
        message_envelope("ann", target, text, "Regis", "!").map(|e| e.text().unwrap_or_default().to_string())
    }

    #[test]
    fn commands_addressed_by_nick_become_prefixed() {
        assert_eq!(text_of("Regis: roll 2 6", "#ops").as_deref(), Some("!roll 2 6"));
        assert_eq!(text_of("regis, help", "#ops").as_deref(), Some("!help"));
        assert_eq!(text_of("Regis:", "#ops").as_deref(), Some("!help"));
        assert_eq!(text_of("Regis", "#ops").as_deref(), Some("!help"));
        assert_eq!(text_of("Regis: !ping", "#ops").as_deref(), Some("!ping"));
        assert_eq!(text_of("Regisfan: hi", "#ops").as_deref(), Some("Regisfan: hi"), "another nick");
        assert_eq!(text_of("!ping", "#ops").as_deref(), Some("!ping"));
        assert_eq!(text_of("\u{1}ACTION waves\u{1}", "#ops"), None);
    }

    #[test]
    fn a_private_message_is_a_direct_channel_of_the_sender() {
        let envelope = message_envelope("ann", "Regis", "!ping", "Regis", "!").unwrap();
        let channel = envelope.channel.unwrap();
        assert!(channel.direct && channel.id == "ann");
        assert_eq!(envelope.author.key(), "irc:ann");
        let envelope = message_envelope("ann", "#ops", "hi", "Regis", "!").unwrap();
        assert_eq!(envelope.channel.map(|c| (c.id, c.direct)), Some(("#ops".to_string(), false)));
    }
}
