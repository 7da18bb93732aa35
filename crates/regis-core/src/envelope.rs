//! The connector-neutral inbound event.

use serde::{Deserialize, Serialize};
use std::time::{SystemTime, UNIX_EPOCH};

/// One inbound event from a chat service, as every connector produces it. It crosses the queue
/// (in-process or JetStream), so it is serde-serializable; its `id` is the idempotency key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// Unique id; the dispatcher handles each id at most once.
    pub id: String,
    /// Name of the connector it came from (`console`, `discord`, `irc`, ...); replies go back there.
    pub source: String,
    /// What happened.
    pub kind: EnvelopeKind,
    /// Who caused it.
    pub author: UserRef,
    /// Where it happened, if in a channel.
    #[serde(default)]
    pub channel: Option<ChannelRef>,
    /// The guild (server) it happened in, if any.
    #[serde(default)]
    pub guild: Option<String>,
    /// When it happened, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Connector-specific data needed to answer it (a message id, an interaction token, ...).
    #[serde(default)]
    pub reply_handle: Option<serde_json::Value>,
    /// Where the ingress that queued it waits for its completion and answers workers'
    /// questions about it (a NATS subject), when it was queued by another process; see
    /// [`Rendezvous`](crate::shared::Rendezvous).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// Files attached to the message, to fetch with [`Ctx::download`](crate::Ctx::download).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRef>,
}

/// A file attached to an incoming message: where the connector can fetch it from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// The file's name, as its sender gave it.
    pub name: String,
    /// Where the connector fetches it (Discord's CDN address, for example).
    pub url: String,
    /// Its size in bytes, as the service announced it.
    pub size: u64,
}

/// What an [`Envelope`] carries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EnvelopeKind {
    /// A chat message; it is a command when it starts with the prefix.
    Message {
        /// The message text.
        text: String,
    },
    /// A structured command invocation (a Discord slash command): name and typed options.
    Command {
        /// Command name, words separated by single spaces for subcommands (`rank set`).
        name: String,
        /// Option values by parameter name; an option the service sent several times maps to
        /// the array of its values (the parser then says it was given twice).
        #[serde(default)]
        options: serde_json::Map<String, serde_json::Value>,
    },
    /// A user is typing a parameter that offers suggestions (Discord autocomplete).
    Autocomplete {
        /// The command's name.
        command: String,
        /// The parameter being typed.
        param: String,
        /// What has been typed so far.
        partial: String,
    },
    /// A user clicked a button a plugin sent; `custom_id` is `plugin:id`.
    Component {
        /// The button's id, namespaced by the plugin that created it.
        custom_id: String,
    },
    /// A member joined the guild or channel.
    MemberJoin,
    /// A reaction was added to a message.
    Reaction {
        /// The message reacted to.
        message_id: String,
        /// The emoji, as text.
        emoji: String,
    },
    /// An HTTP request to a plugin's webhook (`POST /hooks/<plugin>/<hook>`), authenticated.
    Webhook {
        /// The plugin.
        plugin: String,
        /// The hook's name.
        hook: String,
        /// The request headers (names lowercase; authentication headers left out).
        #[serde(default)]
        headers: std::collections::BTreeMap<String, String>,
        /// The raw body.
        body: String,
    },
    /// One firing of a plugin's `#[schedule]`.
    Schedule {
        /// The plugin.
        plugin: String,
        /// The schedule's name (its handler's).
        schedule: String,
        /// When it was due, milliseconds since the Unix epoch.
        firing_ms: u64,
    },
    /// An event published by a plugin (or a webhook) under a topic.
    Event {
        /// Topic name, such as `trivia.answered`.
        topic: String,
        /// The payload.
        data: serde_json::Value,
        /// The publishing plugin, if any.
        #[serde(default)]
        from_plugin: Option<String>,
        /// The one plugin it is for (a timer's firing), rather than every subscriber of the
        /// topic.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to_plugin: Option<String>,
    },
}

impl EnvelopeKind {
    /// The kind's name in snake case (`message`, `command`, `webhook`, ...), as queue subjects
    /// and metrics label it.
    pub fn name(&self) -> &'static str {
        match self {
            EnvelopeKind::Message { .. } => "message",
            EnvelopeKind::Command { .. } => "command",
            EnvelopeKind::Autocomplete { .. } => "autocomplete",
            EnvelopeKind::Component { .. } => "component",
            EnvelopeKind::MemberJoin => "member_join",
            EnvelopeKind::Reaction { .. } => "reaction",
            EnvelopeKind::Webhook { .. } => "webhook",
            EnvelopeKind::Schedule { .. } => "schedule",
            EnvelopeKind::Event { .. } => "event",
        }
    }
}

/// A user on some connector. `connector:id` identifies them across the bot (ranks, bans),
/// unless they linked it to another identity (`!link`): then [`UserRef::key`] is that one.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserRef {
    /// The connector the id belongs to.
    pub connector: String,
    /// The connector's id for the user (a Discord snowflake, an IRC nick, a console name).
    pub id: String,
    /// A display name.
    pub name: String,
    /// The identity this one is linked to (`connector:id` of another service), set by the
    /// dispatcher for the author of what it handles; `None` when not linked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person: Option<String>,
}

impl UserRef {
    /// A user whose display name is their id.
    pub fn new(connector: impl Into<String>, id: impl Into<String>) -> Self {
        let id = id.into();
        UserRef { connector: connector.into(), name: id.clone(), id, person: None }
    }

    /// A user with a display name of their own.
    pub fn named(connector: impl Into<String>, id: impl Into<String>, name: impl Into<String>) -> Self {
        UserRef { connector: connector.into(), id: id.into(), name: name.into(), person: None }
    }

    /// The key of the person: the identity this one is linked to, else [`UserRef::identity`].
    /// Ranks, bans, cooldowns and plugin data are kept under it, so that a person linked
    /// across services has one of each; use it as a storage key.
    pub fn key(&self) -> String {
        self.person.clone().unwrap_or_else(|| self.identity())
    }

    /// This connector's identity `connector:id`, unique across connectors, linked or not.
    pub fn identity(&self) -> String {
        format!("{}:{}", self.connector, self.id)
    }

    /// How to mention the user in text.
    pub fn mention(&self) -> String {
        format!("@{}", self.name)
    }
}

/// The longest user id a person may type to name a user (Discord snowflakes have 20 digits,
/// IRC nicks at most 30 characters).
pub const MAX_USER_ID_CHARS: usize = 64;

/// The longest display name kept; longer ones are cut.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Characters that must not be in a name: control characters, and the invisible and
/// direction-changing ones that make text read differently from what it is (bidi overrides
/// and isolates, zero-width characters).
pub fn is_hidden_or_control(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{061C}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Why a user id typed by a person cannot name a user, if it cannot.
pub fn check_user_id(id: &str) -> Result<(), String> {
    if id.trim().is_empty() {
        return Err("must name a user".into());
    }
    if id.chars().count() > MAX_USER_ID_CHARS {
        return Err(format!("must name a user in at most {MAX_USER_ID_CHARS} characters"));
    }
    if id.chars().any(|c| c.is_whitespace() || is_hidden_or_control(c)) {
        return Err("must name a user without spaces, control or direction-changing characters".into());
    }
    Ok(())
}

/// A display name fit to show: hidden and control characters removed, spaces trimmed, cut to
/// [`MAX_DISPLAY_NAME_CHARS`]; `fallback` (the id) when nothing is left.
pub fn clean_display_name(name: &str, fallback: &str) -> String {
    let cleaned: String = name.chars().filter(|c| !is_hidden_or_control(*c)).collect();
    let cleaned: String = cleaned.trim().chars().take(MAX_DISPLAY_NAME_CHARS).collect();
    if cleaned.is_empty() {
        fallback.to_string()
    } else {
        cleaned
    }
}

/// Whether `name` can be a connector's name (`console`, `discord`, `irc`): 1-32 lowercase
/// letters, digits, `-` and `_`.
pub fn is_connector_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// A channel on some connector.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChannelRef {
    /// The connector's id for the channel.
    pub id: String,
    /// A display name, if known.
    #[serde(default)]
    pub name: Option<String>,
    /// Whether this is a direct (private) conversation with the author.
    #[serde(default)]
    pub direct: bool,
}

impl ChannelRef {
    /// A channel known only by id.
    pub fn new(id: impl Into<String>) -> Self {
        ChannelRef { id: id.into(), name: None, direct: false }
    }
}

impl Envelope {
    /// A new envelope with a fresh random id and the current time.
    pub fn new(source: impl Into<String>, author: UserRef, kind: EnvelopeKind) -> Self {
        Envelope {
            id: new_id(),
            source: source.into(),
            kind,
            author,
            channel: None,
            guild: None,
            time_ms: now_ms(),
            reply_handle: None,
            reply_to: None,
            files: Vec::new(),
        }
    }

    /// A chat message envelope.
    pub fn message(source: impl Into<String>, author: UserRef, text: impl Into<String>) -> Self {
        Envelope::new(source, author, EnvelopeKind::Message { text: text.into() })
    }

    /// Sets the channel.
    pub fn in_channel(mut self, channel: ChannelRef) -> Self {
        self.channel = Some(channel);
        self
    }

    /// The message text, if this is a message.
    pub fn text(&self) -> Option<&str> {
        match &self.kind {
            EnvelopeKind::Message { text } => Some(text),
            _ => None,
        }
    }
}

/// A fresh random 128-bit id in hex.
pub fn new_id() -> String {
    format!("{:016x}{:016x}", fastrand::u64(..), fastrand::u64(..))
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_round_trips_through_json() {
        let env = Envelope::message("console", UserRef::new("console", "alice"), "!ping")
            .in_channel(ChannelRef::new("console"));
        let json = serde_json::to_string(&env).unwrap();
        assert!(json.contains(r#""type":"message""#));
        let back: Envelope = serde_json::from_str(&json).unwrap();
        assert_eq!(back, env);
    }

    #[test]
    fn names_that_read_differently_from_what_they_are_are_refused_or_cleaned() {
        assert!(check_user_id("alice").is_ok());
        assert!(check_user_id("80351110224678912").is_ok());
        assert!(check_user_id("   ").is_err());
        assert!(check_user_id(&"x".repeat(300)).is_err());
        assert!(check_user_id("ali\u{202E}ecilA").is_err());
        assert!(check_user_id("a\u{200B}b").is_err());
        assert!(check_user_id("bell\u{7}").is_err());
        assert_eq!(clean_display_name(" Ann\u{202E}nnA ", "42"), "AnnnnA");
        assert_eq!(clean_display_name("\u{202E}\u{200B}", "42"), "42");
        assert_eq!(clean_display_name(&"é".repeat(300), "42").chars().count(), MAX_DISPLAY_NAME_CHARS);
        assert!(is_connector_name("discord") && !is_connector_name("Discord") && !is_connector_name(""));
    }

    #[test]
    fn ids_are_unique_and_keys_namespaced() {
        assert_ne!(new_id(), new_id());
        assert_eq!(UserRef::new("irc", "bob").key(), "irc:bob");
    }
}
