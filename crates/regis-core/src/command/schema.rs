//! The Discord application-command (slash command) JSON of a [`CommandSpec`].

use super::spec::{CommandSpec, ParamKind, ParamSpec};
use serde_json::{json, Map, Value};

impl CommandSpec {
    /// The name Discord knows the command by: subcommand words joined with `-` (`rank set` is
    /// `/rank-set`), so every command stays invocable on its own.
    pub fn discord_name(&self) -> String {
        self.name.replace(' ', "-")
    }

    /// The CHAT_INPUT application-command object for Discord's bulk-overwrite endpoint
    /// (option types, required flags, choices, min/max values and lengths).
    pub fn to_discord_json(&self) -> Value {
        let options: Vec<Value> = self.params.iter().map(param_json).collect();
        let mut command = json!({
            "type": 1,
            "name": self.discord_name(),
            "description": self.description,
        });
        if !options.is_empty() {
            command["options"] = Value::Array(options);
        }
        if !self.discord_permissions.is_empty() {
            let bits: u64 = self.discord_permissions.iter().filter_map(|n| discord_permission(n)).fold(0, |a, b| a | b);
            command["default_member_permissions"] = json!(bits.to_string());
        }
        if self.guild_only {
            command["contexts"] = json!([0]);
        }
        command
    }
}

/// Discord's permission flags by name (Discord's "Permissions" topic), for
/// `#[command(discord_permissions = "...")]`.
pub const DISCORD_PERMISSIONS: &[(&str, u64)] = &[
    ("CREATE_INSTANT_INVITE", 1 << 0),
    ("KICK_MEMBERS", 1 << 1),
    ("BAN_MEMBERS", 1 << 2),
    ("ADMINISTRATOR", 1 << 3),
    ("MANAGE_CHANNELS", 1 << 4),
    ("MANAGE_GUILD", 1 << 5),
    ("ADD_REACTIONS", 1 << 6),
    ("VIEW_AUDIT_LOG", 1 << 7),
    ("PRIORITY_SPEAKER", 1 << 8),
    ("STREAM", 1 << 9),
    ("VIEW_CHANNEL", 1 << 10),
    ("SEND_MESSAGES", 1 << 11),
    ("SEND_TTS_MESSAGES", 1 << 12),
    ("MANAGE_MESSAGES", 1 << 13),
    ("EMBED_LINKS", 1 << 14),
    ("ATTACH_FILES", 1 << 15),
    ("READ_MESSAGE_HISTORY", 1 << 16),
    ("MENTION_EVERYONE", 1 << 17),
    ("USE_EXTERNAL_EMOJIS", 1 << 18),
    ("VIEW_GUILD_INSIGHTS", 1 << 19),
    ("CONNECT", 1 << 20),
    ("SPEAK", 1 << 21),
    ("MUTE_MEMBERS", 1 << 22),
    ("DEAFEN_MEMBERS", 1 << 23),
    ("MOVE_MEMBERS", 1 << 24),
    ("USE_VAD", 1 << 25),
    ("CHANGE_NICKNAME", 1 << 26),
    ("MANAGE_NICKNAMES", 1 << 27),
    ("MANAGE_ROLES", 1 << 28),
    ("MANAGE_WEBHOOKS", 1 << 29),
    ("MANAGE_GUILD_EXPRESSIONS", 1 << 30),
    ("USE_APPLICATION_COMMANDS", 1 << 31),
    ("REQUEST_TO_SPEAK", 1 << 32),
    ("MANAGE_EVENTS", 1 << 33),
    ("MANAGE_THREADS", 1 << 34),
    ("CREATE_PUBLIC_THREADS", 1 << 35),
    ("CREATE_PRIVATE_THREADS", 1 << 36),
    ("USE_EXTERNAL_STICKERS", 1 << 37),
    ("SEND_MESSAGES_IN_THREADS", 1 << 38),
    ("USE_EMBEDDED_ACTIVITIES", 1 << 39),
    ("MODERATE_MEMBERS", 1 << 40),
];

/// The flag of a Discord permission named as Discord names it (`BAN_MEMBERS`).
pub fn discord_permission(name: &str) -> Option<u64> {
    DISCORD_PERMISSIONS.iter().find(|(n, _)| *n == name).map(|(_, bits)| *bits)
}

fn param_json(param: &ParamSpec) -> Value {
    let mut option = Map::new();
    let option_type = match &param.kind {
        ParamKind::String { .. } | ParamKind::Rest | ParamKind::Choice { .. } => 3,
        ParamKind::Integer { .. } => 4,
        ParamKind::Boolean => 5,
        ParamKind::User => 6,
        ParamKind::Channel => 7,
        ParamKind::Number { .. } => 10,
    };
    option.insert("type".into(), json!(option_type));
    option.insert("name".into(), json!(param.name));
    option.insert("description".into(), json!(param.description));
    option.insert("required".into(), json!(param.required));
    if param.autocomplete {
        option.insert("autocomplete".into(), json!(true));
    }
    match &param.kind {
        ParamKind::String { min_len, max_len } => {
            if let Some(v) = min_len {
                option.insert("min_length".into(), json!(v));
            }
            if let Some(v) = max_len {
                option.insert("max_length".into(), json!(v));
            }
        }
        ParamKind::Integer { min, max } => {
            if let Some(v) = min {
                option.insert("min_value".into(), json!(v));
            }
            if let Some(v) = max {
                option.insert("max_value".into(), json!(v));
            }
        }
        ParamKind::Number { min, max } => {
            if let Some(v) = min {
                option.insert("min_value".into(), json!(v));
            }
            if let Some(v) = max {
                option.insert("max_value".into(), json!(v));
            }
        }
        ParamKind::Choice { choices } => {
            let list: Vec<Value> = choices.iter().map(|c| json!({"name": c.name, "value": c.value})).collect();
            option.insert("choices".into(), Value::Array(list));
        }
        _ => {}
    }
    Value::Object(option)
}

#[cfg(test)]
mod tests {
    use crate::command::{ChoiceOption, CommandSpec, ParamKind, ParamSpec, Rest};
    use crate::UserRef;
    use serde_json::json;

    #[test]
    fn discord_permissions_and_guild_only_are_what_discord_reads() {
        let spec = CommandSpec::new("ban", "Ban a user.", "").discord_permissions(&["BAN_MEMBERS", "MANAGE_ROLES"]);
        let json = spec.clone().to_discord_json();
        assert_eq!(json["default_member_permissions"], json!(((1u64 << 2) | (1 << 28)).to_string()));
        assert_eq!(json.get("contexts"), None, "offered everywhere unless guild-only");
        assert_eq!(spec.guild_only().to_discord_json()["contexts"], json!([0]));
        let plain = CommandSpec::new("ping", "Ping.", "").to_discord_json();
        assert_eq!((plain.get("default_member_permissions"), plain.get("contexts")), (None, None));
        let err = CommandSpec::new("ban", "Ban.", "").discord_permissions(&["BAN_MEMBER"]).validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "command `ban`: `BAN_MEMBER` is not a Discord permission (did you mean `BAN_MEMBERS`?)"
        );
        assert!(CommandSpec::new("ban", "Ban.", "").discord_permissions(&["ADMINISTRATOR"]).validate().is_ok());
    }

    #[test]
    fn schema_has_types_limits_and_choices() {
        let spec = CommandSpec::new("mando", "Draw a mandala.", "")
            .param(ParamSpec::of::<UserRef>("for", "who it is for"))
            .param(ParamSpec::of::<Option<u8>>("rings", "ring count").min(4.0).max(19.0))
            .param(ParamSpec {
                name: "style".into(),
                description: "shape".into(),
                kind: ParamKind::Choice { choices: vec![ChoiceOption { name: "fill".into(), value: "fill".into() }] },
                required: false,
                autocomplete: false,
                format: None,
            })
            .param(ParamSpec::of::<Option<Rest>>("note", "a note").autocomplete());
        assert_eq!(
            spec.to_discord_json(),
            json!({
                "type": 1, "name": "mando", "description": "Draw a mandala.",
                "options": [
                    {"type": 6, "name": "for", "description": "who it is for", "required": true},
                    {"type": 4, "name": "rings", "description": "ring count", "required": false,
                     "min_value": 4, "max_value": 19},
                    {"type": 3, "name": "style", "description": "shape", "required": false,
                     "choices": [{"name": "fill", "value": "fill"}]},
                    {"type": 3, "name": "note", "description": "a note", "required": false, "autocomplete": true}
                ]
            })
        );
    }

    #[test]
    fn subcommands_get_a_dashed_discord_name() {
        let spec = CommandSpec::new("rank set", "Set a rank.", "");
        assert_eq!(spec.to_discord_json()["name"], "rank-set");
        assert!(spec.to_discord_json().get("options").is_none());
    }
}
