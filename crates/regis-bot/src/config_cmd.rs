//! `regis config check` and `regis config show`: the merged settings, where each value came
//! from, and whether the bot would start with them, without starting anything.

use crate::app::Plugins;
use crate::config::{Layers, Settings};
use anyhow::{Context, Result};

/// Runs `regis config check` (or, with `show`, `regis config show`) on the layers read.
pub fn run(layers: &Layers, plugins: &Plugins, show: bool) -> Result<()> {
    let settings = layers.settings()?;
    if show {
        print!("{}", self::show(layers, &settings)?);
    } else {
        check(&settings, plugins)?;
        println!("{}", summary(layers, &settings)?);
    }
    Ok(())
}

/// What the bot refuses at start, checked without starting it: the settings' own values, the
/// plugins' settings, `command_ranks` naming commands, and the webhooks with their secrets.
fn check(settings: &Settings, plugins: &Plugins) -> Result<()> {
    let core = settings.core()?;
    settings.log_format()?;
    let mut made = plugins.make(settings)?;
    // The scripts that load; one that does not is left out at start too (and logged).
    let scripts = crate::app::script_source(settings);
    made.extend(
        regis::PluginSource::available(&*scripts).iter().filter_map(|n| regis::PluginSource::load(&*scripts, n).ok()),
    );
    regis::check_command_ranks_of(&core, &made)?;
    let declared: Vec<(String, String)> =
        made.iter().flat_map(|p| p.webhooks().into_iter().map(|h| (p.meta().name, h))).collect();
    crate::hooks::configured(settings, Some(&declared), |v| std::env::var(v).ok())?;
    Ok(())
}

/// `The configuration is valid: regis.toml (2 values), the environment (1 value), no flags.`
fn summary(layers: &Layers, settings: &Settings) -> Result<String> {
    use crate::config::Origin;
    let origins: Vec<Origin> = settings_lines(settings)?.iter().map(|(k, _)| layers.origin(k)).collect();
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
    Ok(format!("The configuration is valid: {file}, {env}, {flags}."))
}

/// Every setting as `key = value  # origin` lines.
fn show(layers: &Layers, settings: &Settings) -> Result<String> {
    let lines = settings_lines(settings)?;
    let width = lines.iter().map(|(k, v)| k.len() + v.len() + 3).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in &lines {
        let line = format!("{} = {value}", toml_key(key));
        out.push_str(&format!("{line:width$}  # {}\n", layers.origin(key)));
    }
    out.push_str("# Keys not listed are not set (see regis.example.toml for every key).\n");
    Ok(out)
}

/// The settings flattened to dotted keys with TOML values, in alphabetical order; secrets in
/// URLs and IRC channel keys masked.
fn settings_lines(settings: &Settings) -> Result<Vec<(String, String)>> {
    let mut lines = Vec::new();
    let value = serde_json::to_value(settings).context("cannot show the settings (a path that is not UTF-8?)")?;
    flatten("", &value, &mut lines);
    Ok(lines)
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
                serde_json::Value::Array(channels) if prefix == "irc.channels" => {
                    let shown: Vec<serde_json::Value> =
                        channels.iter().map(|c| c.as_str().map(without_key).unwrap_or_default().into()).collect();
                    serde_json::Value::Array(shown).to_string()
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

/// A URL with whatever may be a secret replaced by `****`: the password of its user part, a
/// user part alone on NATS (`nats://TOKEN@host` is a token), and query values named like
/// secrets (`?password=`). Text that is not a URL is masked whole, as it cannot be told apart.
fn mask(text: &str) -> String {
    const HIDDEN: &str = "****";
    let Ok(mut url) = url::Url::parse(text) else { return HIDDEN.to_string() };
    if url.password().is_some() {
        let _ = url.set_password(Some(HIDDEN));
    } else if !url.username().is_empty() && (url.scheme().starts_with("nats") || url.scheme() == "tls") {
        let _ = url.set_username(HIDDEN);
    }
    let secret = |name: &str| {
        let name = name.to_ascii_lowercase();
        ["password", "pass", "token", "secret", "key", "auth"].iter().any(|s| name.contains(s))
    };
    if url.query_pairs().any(|(name, _)| secret(&name)) {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(n, v)| (n.to_string(), if secret(&n) { HIDDEN.to_string() } else { v.to_string() }))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    // Url may write `****` percent-encoded.
    url.to_string().replace("%2A%2A%2A%2A", HIDDEN)
}

/// An IRC channel entry without its key: `#ops key` is shown `#ops ****`.
fn without_key(entry: &str) -> String {
    match entry.split_once(' ') {
        Some((channel, _key)) => format!("{channel} ****"),
        None => entry.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_urls_are_masked_and_nothing_else() {
        assert_eq!(mask("postgres://bot:s3cr%40t@db:5432/regis"), "postgres://bot:****@db:5432/regis");
        assert_eq!(mask("nats://u:p@127.0.0.1:4222"), "nats://u:****@127.0.0.1:4222");
        assert_eq!(mask("nats://s3cr3t@127.0.0.1:4222"), "nats://****@127.0.0.1:4222", "a NATS token");
        assert_eq!(mask("postgres://bot@db/regis"), "postgres://bot@db/regis");
        assert_eq!(
            mask("postgres://bot@db/regis?password=hunter2&sslmode=disable"),
            "postgres://bot@db/regis?password=****&sslmode=disable"
        );
        assert_eq!(mask("https://example.com/a@b"), "https://example.com/a@b");
        assert_eq!(mask("nats://127.0.0.1:4222?x=a@b"), "nats://127.0.0.1:4222?x=a@b");
        assert_eq!(mask("not a url"), "****");
    }

    #[test]
    fn irc_channel_keys_are_masked() {
        assert_eq!(without_key("#ops s3cr3t"), "#ops ****");
        assert_eq!(without_key("#regis"), "#regis");
    }

    #[test]
    fn keys_are_quoted_where_toml_needs_it() {
        assert_eq!(toml_key("irc.nick"), "irc.nick");
        assert_eq!(toml_key("command_ranks.rank set"), "command_ranks.\"rank set\"");
    }
}
