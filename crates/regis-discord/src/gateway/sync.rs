//! Registering slash commands: compare the application commands Discord holds (global, or of
//! one guild) with the ones the plugins declare, and bulk-overwrite only when they differ.

use crate::rest::{DiscordConnector, RestError};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use twilight_http::request::Request;
use twilight_http::routing::Route;
use twilight_http::Client;
use twilight_model::id::marker::{ApplicationMarker, GuildMarker};
use twilight_model::id::Id;

/// The fields of a command (and, recursively, of its options) that Regis declares; anything
/// else Discord adds (ids, versions, localizations) is not compared.
const COMPARED: &[&str] = &[
    "type",
    "name",
    "description",
    "options",
    "required",
    "choices",
    "value",
    "min_value",
    "max_value",
    "min_length",
    "max_length",
    "channel_types",
    "autocomplete",
    "default_member_permissions",
    "contexts",
];

/// How the commands Discord holds differ from the declared ones, by name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CommandDiff {
    /// Declared, not on Discord.
    pub added: Vec<String>,
    /// On Discord with another definition.
    pub changed: Vec<String>,
    /// On Discord, no longer declared.
    pub removed: Vec<String>,
    /// Identical on both sides.
    pub unchanged: Vec<String>,
}

impl CommandDiff {
    /// Whether Discord already holds exactly the declared commands.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// A failure to sync.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// The REST settings are unusable.
    #[error(transparent)]
    Rest(#[from] RestError),
    /// An id is not a snowflake.
    #[error("`{0}` is not a Discord id")]
    BadId(String),
    /// Discord refused a request.
    #[error("Discord refused {what}: {detail}")]
    Refused {
        /// Which request.
        what: &'static str,
        /// Discord's answer.
        detail: String,
    },
    /// Discord's answer was not a list of commands.
    #[error("unexpected answer from Discord to {0}")]
    BadAnswer(&'static str),
}

/// The comparable form of a command or option: only [`COMPARED`] fields, without nulls,
/// `required: false`, empty option lists or a default `type: 1` on a command.
fn canonical(value: &Value, top: bool) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = Map::new();
            for (key, v) in map {
                if !COMPARED.contains(&key.as_str()) || v.is_null() {
                    continue;
                }
                match (key.as_str(), v) {
                    ("required", Value::Bool(false)) | ("autocomplete", Value::Bool(false)) => continue,
                    ("options" | "choices" | "channel_types", Value::Array(a)) if a.is_empty() => continue,
                    ("type", t) if top && t.as_u64() == Some(1) => continue,
                    // Every context (guild, bot DM, private channel) is what no `contexts` means.
                    ("contexts", Value::Array(c)) if top && c.len() == 3 && (0..3).all(|i| c.contains(&i.into())) => {
                        continue
                    }
                    _ => {}
                }
                let v = match v {
                    Value::Array(items) => Value::Array(items.iter().map(|i| canonical(i, false)).collect()),
                    Value::Number(n) => n.as_f64().map(Value::from).unwrap_or_else(|| v.clone()),
                    other => canonical(other, false),
                };
                out.insert(key.clone(), v);
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

fn by_name(commands: &[Value]) -> BTreeMap<String, Value> {
    commands
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str).map(|n| (n.to_string(), canonical(c, true))))
        .collect()
}

/// The difference between the commands Discord holds and the declared ones.
pub fn diff(remote: &[Value], declared: &[Value]) -> CommandDiff {
    let (remote, declared) = (by_name(remote), by_name(declared));
    let mut diff = CommandDiff::default();
    for (name, command) in &declared {
        match remote.get(name) {
            None => diff.added.push(name.clone()),
            Some(r) if r != command => diff.changed.push(name.clone()),
            Some(_) => diff.unchanged.push(name.clone()),
        }
    }
    diff.removed = remote.keys().filter(|n| !declared.contains_key(*n)).cloned().collect();
    diff
}

fn snowflake<T>(text: &str) -> Result<Id<T>, SyncError> {
    text.parse::<u64>().ok().and_then(Id::new_checked).ok_or_else(|| SyncError::BadId(text.to_string()))
}

async fn call(client: &Client, request: Request, what: &'static str) -> Result<Vec<Value>, SyncError> {
    let response =
        client.request::<Vec<Value>>(request).await.map_err(|e| SyncError::Refused { what, detail: e.to_string() })?;
    let bytes = response.bytes().await.map_err(|e| SyncError::Refused { what, detail: e.to_string() })?;
    serde_json::from_slice(&bytes).map_err(|_| SyncError::BadAnswer(what))
}

/// Compares the declared commands (`CommandSpec::to_discord_json` of every command) with the
/// application's commands on Discord (global, or of `guild`), and bulk-overwrites them when
/// they differ. Returns the difference found (empty: nothing was written).
pub async fn sync_commands(
    rest: &DiscordConnector,
    application_id: &str,
    guild: Option<&str>,
    declared: &[Value],
) -> Result<CommandDiff, SyncError> {
    if !rest.has_token() {
        return Err(RestError::NeedsToken("syncing commands").into());
    }
    let client = rest.http();
    let application_id: Id<ApplicationMarker> = snowflake(application_id)?;
    let guild_id: Option<Id<GuildMarker>> = guild.map(snowflake).transpose()?;
    let (get, put) = match guild_id {
        None => (
            Route::GetGlobalCommands { application_id: application_id.get(), with_localizations: None },
            Route::SetGlobalCommands { application_id: application_id.get() },
        ),
        Some(guild_id) => (
            Route::GetGuildCommands {
                application_id: application_id.get(),
                guild_id: guild_id.get(),
                with_localizations: None,
            },
            Route::SetGuildCommands { application_id: application_id.get(), guild_id: guild_id.get() },
        ),
    };
    let request = Request::builder(&get)
        .build()
        .map_err(|e| SyncError::Refused { what: "GET commands", detail: e.to_string() })?;
    let remote = call(client, request, "GET commands").await?;
    let diff = diff(&remote, declared);
    if !diff.is_empty() {
        let body = Value::Array(declared.to_vec());
        let request = Request::builder(&put)
            .json(&body)
            .build()
            .map_err(|e| SyncError::Refused { what: "PUT commands", detail: e.to_string() })?;
        call(client, request, "PUT commands").await?;
    }
    Ok(diff)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn discord_additions_and_defaults_are_not_differences() {
        let declared = vec![json!({
            "type": 1, "name": "roll", "description": "Roll dice",
            "options": [{ "type": 4, "name": "count", "description": "how many", "required": false, "max_value": 20 }],
        })];
        let remote = vec![json!({
            "id": "1", "application_id": "2", "version": "3", "type": 1, "name": "roll",
            "description": "Roll dice", "default_member_permissions": null, "nsfw": false,
            "name_localizations": null, "contexts": null,
            "options": [{ "type": 4, "name": "count", "description": "how many", "max_value": 20.0 }],
        })];
        let d = diff(&remote, &declared);
        assert!(d.is_empty(), "{d:?}");
        assert_eq!(d.unchanged, ["roll"]);
    }

    #[test]
    fn permissions_and_contexts_are_compared() {
        let declared = vec![json!({
            "name": "ban", "description": "Ban", "default_member_permissions": "4", "contexts": [0],
        })];
        let before = vec![json!({ "name": "ban", "description": "Ban", "default_member_permissions": null })];
        assert_eq!(diff(&before, &declared).changed, ["ban"]);
        let after =
            vec![json!({ "name": "ban", "description": "Ban", "default_member_permissions": "4", "contexts": [0] })];
        assert!(diff(&after, &declared).is_empty());
        let everywhere = vec![json!({ "name": "ping", "description": "Ping", "contexts": [0, 1, 2] })];
        assert!(diff(&everywhere, &[json!({ "name": "ping", "description": "Ping" })]).is_empty());
    }

    #[test]
    fn added_changed_and_removed_are_named() {
        let declared = vec![
            json!({ "name": "roll", "description": "Roll dice" }),
            json!({ "name": "mando", "description": "Draw" }),
        ];
        let remote = vec![
            json!({ "name": "roll", "description": "Roll some dice" }),
            json!({ "name": "old", "description": "Gone" }),
        ];
        let d = diff(&remote, &declared);
        assert_eq!(d.added, ["mando"]);
        assert_eq!(d.changed, ["roll"]);
        assert_eq!(d.removed, ["old"]);
        assert!(!d.is_empty());
    }
}
