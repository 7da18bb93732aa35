//! Reading what the page's user typed after `/` as Discord's client does before it sends an
//! interaction: the command by name, each option as `name:value` checked against the command's
//! schema (types, choices, required ones), the one being typed for autocomplete.

use serde_json::{json, Value};

/// Discord's application command option types that take a value.
const STRING: u64 = 3;
const INTEGER: u64 = 4;
const BOOLEAN: u64 = 5;
const USER: u64 = 6;
const CHANNEL: u64 = 7;
const ROLE: u64 = 8;
const MENTIONABLE: u64 = 9;
const NUMBER: u64 = 10;

/// A slash command as it will be sent: its name and the interaction's `data.options`.
#[derive(Debug, PartialEq)]
pub(crate) struct Invocation {
    /// The command's name.
    pub(crate) name: String,
    /// The options as Discord sends them (`name`, `type`, `value`; `focused` for the one being
    /// typed, when reading for autocomplete).
    pub(crate) options: Vec<Value>,
}

/// Why Discord's client would not send it.
#[derive(Debug, PartialEq, thiserror::Error)]
pub(crate) enum SlashError {
    /// Not a slash command at all.
    #[error("a slash command starts with /")]
    NoSlash,
    /// No command of that name is registered.
    #[error("no command /{0}")]
    Unknown(String),
    /// A word that is not `name:value`.
    #[error("`{word}`: write options as name:value ({usage})")]
    NotAnOption { word: String, usage: String },
    /// An option the command does not have.
    #[error("/{command} has no option `{option}` ({usage})")]
    UnknownOption { command: String, option: String, usage: String },
    /// A value of the wrong type, or out of range, or not among the choices.
    #[error("option `{option}`: {problem}")]
    BadValue { option: String, problem: String },
    /// A required option is missing.
    #[error("option `{option}` is required ({usage})")]
    Missing { option: String, usage: String },
}

/// A command's options as the page's hint shows them: `/name <required> [optional]`.
pub(crate) fn usage(command: &Value) -> String {
    let mut usage = format!("/{}", command["name"].as_str().unwrap_or_default());
    for option in options_of(command) {
        let name = option["name"].as_str().unwrap_or_default();
        if option["required"].as_bool().unwrap_or(false) {
            usage.push_str(&format!(" {name}:<{}>", type_name(option["type"].as_u64().unwrap_or(STRING))));
        } else {
            usage.push_str(&format!(" [{name}:<{}>]", type_name(option["type"].as_u64().unwrap_or(STRING))));
        }
    }
    usage
}

fn type_name(kind: u64) -> &'static str {
    match kind {
        INTEGER => "integer",
        BOOLEAN => "true|false",
        USER => "user",
        CHANNEL => "channel",
        ROLE => "role",
        MENTIONABLE => "mention",
        NUMBER => "number",
        _ => "text",
    }
}

fn options_of(command: &Value) -> &[Value] {
    command["options"].as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Reads `text` (`/mando seed:1 style:ink`) against `commands` (the bot's application
/// commands). With `focused`, the last option is the one being typed: it is marked `focused`
/// and sent as typed, unchecked, and required options are not asked for (Discord's
/// autocomplete request).
pub(crate) fn read(text: &str, commands: &[Value], focused: bool) -> Result<Invocation, SlashError> {
    let text = text.trim_start().strip_prefix('/').ok_or(SlashError::NoSlash)?;
    let (name, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let command = commands
        .iter()
        .find(|c| c["name"].as_str() == Some(name))
        .ok_or_else(|| SlashError::Unknown(name.to_string()))?;
    let declared = options_of(command);
    let pairs = split_options(rest, declared, command)?;
    let count = pairs.len();
    let mut options = Vec::new();
    for (i, (option_name, raw)) in pairs.into_iter().enumerate() {
        let option = declared.iter().find(|o| o["name"].as_str() == Some(option_name.as_str())).ok_or_else(|| {
            SlashError::UnknownOption { command: name.to_string(), option: option_name.clone(), usage: usage(command) }
        })?;
        let kind = option["type"].as_u64().unwrap_or(STRING);
        if focused && i + 1 == count {
            options.push(json!({ "name": option_name, "type": kind, "value": raw, "focused": true }));
            continue;
        }
        let value = typed_value(option, kind, &raw)
            .map_err(|problem| SlashError::BadValue { option: option_name.clone(), problem })?;
        options.push(json!({ "name": option_name, "type": kind, "value": value }));
    }
    if !focused {
        for option in declared {
            let option_name = option["name"].as_str().unwrap_or_default();
            let given = options.iter().any(|o| o["name"] == option_name);
            if option["required"].as_bool().unwrap_or(false) && !given {
                return Err(SlashError::Missing { option: option_name.to_string(), usage: usage(command) });
            }
        }
    }
    Ok(Invocation { name: name.to_string(), options })
}

/// Splits `seed:1 text:hello world` into (name, value) pairs: a value runs until the next
/// word that starts with a declared option's `name:`, so text values may hold spaces.
fn split_options(rest: &str, declared: &[Value], command: &Value) -> Result<Vec<(String, String)>, SlashError> {
    let starts_option = |word: &str| {
        word.split_once(':').is_some_and(|(name, _)| declared.iter().any(|o| o["name"].as_str() == Some(name)))
    };
    let mut pairs: Vec<(String, String)> = Vec::new();
    for word in rest.split(' ').filter(|w| !w.is_empty()) {
        match word.split_once(':') {
            Some((name, value)) if starts_option(word) || pairs.is_empty() => {
                pairs.push((name.to_string(), value.to_string()));
            }
            _ => match pairs.last_mut() {
                Some((_, value)) => {
                    value.push(' ');
                    value.push_str(word);
                }
                None => return Err(SlashError::NotAnOption { word: word.to_string(), usage: usage(command) }),
            },
        }
    }
    Ok(pairs)
}

/// The JSON value Discord sends for `raw` in an option of `kind`, or what is wrong with it.
fn typed_value(option: &Value, kind: u64, raw: &str) -> Result<Value, String> {
    let value = match kind {
        INTEGER => {
            let n: i64 = raw.parse().map_err(|_| format!("`{raw}` is not a whole number"))?;
            check_range(option, n as f64, raw)?;
            json!(n)
        }
        NUMBER => {
            let n: f64 = raw.parse().ok().filter(|n: &f64| n.is_finite()).ok_or(format!("`{raw}` is not a number"))?;
            check_range(option, n, raw)?;
            json!(n)
        }
        BOOLEAN => match raw {
            "true" | "yes" => json!(true),
            "false" | "no" => json!(false),
            _ => return Err(format!("`{raw}` is not true or false")),
        },
        // A user, channel, role or mention: `<@123>`, `<#123>`, `<@&123>` or the bare id.
        USER | CHANNEL | ROLE | MENTIONABLE => {
            let id = raw.trim_start_matches("<@&").trim_start_matches("<@!").trim_start_matches("<@");
            let id = id.trim_start_matches("<#").trim_end_matches('>');
            id.parse::<u64>().map_err(|_| format!("`{raw}` is not a mention or an id"))?;
            json!(id)
        }
        _ => {
            let length = raw.chars().count() as u64;
            if option["min_length"].as_u64().is_some_and(|min| length < min)
                || option["max_length"].as_u64().is_some_and(|max| length > max)
            {
                return Err(format!("`{raw}` has {length} characters, outside the allowed length"));
            }
            json!(raw)
        }
    };
    if let Some(choices) = option["choices"].as_array() {
        // Discord's client offers only the choices; typing one's name picks it.
        let picked = choices.iter().find(|c| c["value"] == value || c["name"].as_str() == Some(raw));
        return match picked {
            Some(choice) => Ok(choice["value"].clone()),
            None => {
                let names: Vec<&str> = choices.iter().filter_map(|c| c["name"].as_str()).collect();
                Err(format!("`{raw}` is not one of {}", names.join(", ")))
            }
        };
    }
    Ok(value)
}

fn check_range(option: &Value, n: f64, raw: &str) -> Result<(), String> {
    if let Some(min) = option["min_value"].as_f64().filter(|min| n < *min) {
        return Err(format!("`{raw}` is below the minimum, {min}"));
    }
    if let Some(max) = option["max_value"].as_f64().filter(|max| n > *max) {
        return Err(format!("`{raw}` is above the maximum, {max}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands() -> Vec<Value> {
        vec![
            json!({ "name": "mando", "options": [
                { "name": "seed", "type": INTEGER },
                { "name": "symmetry", "type": INTEGER, "min_value": 3, "max_value": 20 },
                { "name": "style", "type": STRING, "choices": [
                    { "name": "ink", "value": "ink" }, { "name": "neon", "value": "neon" } ] },
            ]}),
            json!({ "name": "rank-set", "options": [
                { "name": "user", "type": USER, "required": true },
                { "name": "rank", "type": INTEGER, "required": true },
            ]}),
            json!({ "name": "say", "options": [ { "name": "text", "type": STRING, "required": true } ] }),
        ]
    }

    #[test]
    fn options_are_typed_as_discord_sends_them() {
        let read = read("/mando seed:1 style:ink", &commands(), false).unwrap();
        assert_eq!(read.name, "mando");
        assert_eq!(
            read.options,
            vec![
                json!({ "name": "seed", "type": INTEGER, "value": 1 }),
                json!({ "name": "style", "type": STRING, "value": "ink" }),
            ]
        );
        let read = read_ok("/rank-set user:<@42> rank:100");
        assert_eq!(read.options[0]["value"], "42");
        assert_eq!(read.options[1]["value"], 100);
        assert_eq!(read_ok("/say text:hello there world").options[0]["value"], "hello there world");
        assert_eq!(read_ok("/mando").options, Vec::<Value>::new());
    }

    fn read_ok(text: &str) -> Invocation {
        read(text, &commands(), false).unwrap()
    }

    #[test]
    fn what_discord_would_not_send_is_refused_with_the_usage() {
        let refused = |text: &str| read(text, &commands(), false).unwrap_err().to_string();
        assert_eq!(refused("mando"), "a slash command starts with /");
        assert_eq!(refused("/nope"), "no command /nope");
        assert_eq!(refused("/mando seed:x"), "option `seed`: `x` is not a whole number");
        assert_eq!(refused("/mando symmetry:2"), "option `symmetry`: `2` is below the minimum, 3");
        assert_eq!(refused("/mando style:gold"), "option `style`: `gold` is not one of ink, neon");
        assert_eq!(
            refused("/mando colour:red"),
            "/mando has no option `colour` (/mando [seed:<integer>] [symmetry:<integer>] [style:<text>])"
        );
        assert_eq!(refused("/rank-set user:<@42>"), "option `rank` is required (/rank-set user:<user> rank:<integer>)");
        assert_eq!(
            refused("/mando 7"),
            "`7`: write options as name:value (/mando [seed:<integer>] [symmetry:<integer>] [style:<text>])"
        );
    }

    #[test]
    fn the_option_being_typed_is_focused_and_unchecked() {
        let read = read("/rank-set rank:1", &commands(), true).unwrap();
        assert_eq!(read.options, vec![json!({ "name": "rank", "type": INTEGER, "value": "1", "focused": true })]);
    }
}
