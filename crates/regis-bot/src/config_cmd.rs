//! `regis config check` and `regis config show`: the merged settings, where each value came
//! from, and whether the bot would start with them, without starting anything.

use crate::app::Plugins;
use crate::config::{Layers, Settings};
use anyhow::Result;
use clap::Subcommand;

/// What `regis config` does.
#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Check the configuration (file, REGIS_* variables, flags) and the plugins' settings as
    /// `run` does before it starts, and say which sources were read. Starts nothing.
    Check,
    /// Print every setting in TOML with where its value came from: default, the file's line,
    /// an environment variable or a flag. Passwords in URLs are masked.
    Show,
}

/// Runs `regis config check` or `regis config show` on the layers read.
pub fn run(layers: &Layers, plugins: &Plugins, command: &ConfigCommand) -> Result<()> {
    let settings = layers.settings()?;
    match command {
        ConfigCommand::Check => {
            check(&settings, plugins)?;
            println!("{}", summary(layers, &settings));
        }
        ConfigCommand::Show => print!("{}", show(layers, &settings)),
    }
    Ok(())
}

/// What the bot refuses at start, checked without starting it: the settings' own values, the
/// plugins' settings, `command_ranks` naming commands, and the webhooks with their secrets.
fn check(settings: &Settings, plugins: &Plugins) -> Result<()> {
    let core = settings.core()?;
    settings.log_format()?;
    let made = plugins.make(settings)?;
    regis::check_command_ranks_of(&core, &made)?;
    let declared: Vec<(String, String)> =
        made.iter().flat_map(|p| p.webhooks().into_iter().map(|h| (p.meta().name, h))).collect();
    crate::hooks::configured(settings, Some(&declared), |v| std::env::var(v).ok())?;
    Ok(())
}

/// `The configuration is valid: regis.toml (2 values), the environment (1 value), no flags.`
fn summary(layers: &Layers, settings: &Settings) -> String {
    use crate::config::Origin;
    let origins: Vec<Origin> = settings_lines(settings).iter().map(|(k, _)| layers.origin(k)).collect();
    let count = |f: fn(&Origin) -> bool| origins.iter().filter(|o| f(o)).count();
    let part = |what: &str, n: usize| match n {
        0 => format!("no {what}"),
        1 => format!("the {what} (1 value)"),
        n => format!("the {what} ({n} values)"),
    };
    let file = match layers.file() {
        Some(path) => {
            let n = count(|o| matches!(o, Origin::File { .. }));
            format!("{} ({n} value{})", path.display(), if n == 1 { "" } else { "s" })
        }
        None => "no file".to_string(),
    };
    let env = part("environment", count(|o| matches!(o, Origin::Environment(_))));
    let flags = match count(|o| matches!(o, Origin::Flag(_))) {
        0 => "no flags".to_string(),
        n => format!("flags ({n})"),
    };
    let env = env.replace("no environment", "nothing from the environment");
    format!("The configuration is valid: {file}, {env}, {flags}.")
}

/// Every setting as `key = value  # origin` lines.
fn show(layers: &Layers, settings: &Settings) -> String {
    let lines = settings_lines(settings);
    let width = lines.iter().map(|(k, v)| k.len() + v.len() + 3).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in &lines {
        let line = format!("{} = {value}", toml_key(key));
        out.push_str(&format!("{line:width$}  # {}\n", layers.origin(key)));
    }
    out.push_str("# Keys not listed are not set (see regis.example.toml for every key).\n");
    out
}

/// The settings flattened to dotted keys with TOML values, in the order they are declared.
fn settings_lines(settings: &Settings) -> Vec<(String, String)> {
    let mut lines = Vec::new();
    flatten("", &serde_json::to_value(settings).unwrap_or_default(), &mut lines);
    lines
}

fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, value) in map {
                let key = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&key, value, out);
            }
        }
        serde_json::Value::Null => {}
        other => {
            let text = match other {
                serde_json::Value::String(s) if prefix.ends_with("_url") => {
                    serde_json::Value::String(mask(s)).to_string()
                }
                other => other.to_string(),
            };
            out.push((prefix.to_string(), text));
        }
    }
}

/// A dotted key with each part quoted when TOML needs it (`command_ranks."rank set"`).
fn toml_key(key: &str) -> String {
    let bare = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    key.split('.')
        .map(|part| if bare(part) { part.to_string() } else { serde_json::Value::String(part.into()).to_string() })
        .collect::<Vec<_>>()
        .join(".")
}

/// A URL with the password of its user part replaced: `postgres://bot:****@db/regis`.
fn mask(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else { return url.to_string() };
    match rest[..at].split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:****{}", &rest[at..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_urls_are_masked_and_nothing_else() {
        assert_eq!(mask("postgres://bot:s3cr%40t@db:5432/regis"), "postgres://bot:****@db:5432/regis");
        assert_eq!(mask("nats://u:p@127.0.0.1:4222"), "nats://u:****@127.0.0.1:4222");
        assert_eq!(mask("postgres://bot@db/regis"), "postgres://bot@db/regis");
        assert_eq!(mask("https://example.com/a@b"), "https://example.com/a@b");
        assert_eq!(mask("not a url"), "not a url");
    }

    #[test]
    fn keys_are_quoted_where_toml_needs_it() {
        assert_eq!(toml_key("irc.nick"), "irc.nick");
        assert_eq!(toml_key("command_ranks.rank set"), "command_ranks.\"rank set\"");
    }
}
