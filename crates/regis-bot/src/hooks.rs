//! The webhooks of the configuration (`[hooks.<plugin>.<name>]`), with their secrets from the
//! environment (`REGIS_HOOK_<PLUGIN>_<NAME>_SECRET`, never from a file, never logged).

use crate::config::Settings;
use anyhow::{bail, Result};
use regis_webhooks::{Hook, HookAuth};
use serde::{Deserialize, Serialize};

/// One hook's settings.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HookSettings {
    /// `hmac` (GitHub's `X-Hub-Signature-256`), `bearer` or `basic`.
    pub auth: String,
    /// The user name, for `basic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The connector the handler says through; `discord` by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connector: Option<String>,
    /// The channel the handler says into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
}

/// The environment variable holding a hook's secret.
pub fn secret_variable(plugin: &str, name: &str) -> String {
    let upper = |s: &str| s.to_ascii_uppercase().replace('-', "_");
    format!("REGIS_HOOK_{}_{}_SECRET", upper(plugin), upper(name))
}

/// The configured hooks, each checked against `declared` (plugin, hook) when given (a worker
/// knows its plugins; a receiver does not), with its secret from `env`.
pub fn configured(
    settings: &Settings,
    declared: Option<&[(String, String)]>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<Hook>> {
    let mut hooks = Vec::new();
    for (plugin, named) in &settings.hooks {
        for (name, hook) in named {
            let key = format!("hooks.{plugin}.{name}");
            if let Some(declared) = declared {
                if !declared.iter().any(|(p, h)| p == plugin && h == name) {
                    let offered: Vec<String> = declared.iter().map(|(p, h)| format!("{p}.{h}")).collect();
                    let offered = if offered.is_empty() { "none".to_string() } else { offered.join(", ") };
                    bail!("configuration key `{key}`: no plugin declares this webhook (declared: {offered})");
                }
            }
            let variable = secret_variable(plugin, name);
            let Some(secret) = env(&variable).filter(|s| !s.is_empty()) else {
                bail!("configuration key `{key}`: set its secret in the environment variable {variable}");
            };
            let auth = match (hook.auth.as_str(), &hook.user) {
                ("hmac", None) => HookAuth::Hmac(secret),
                ("bearer", None) => HookAuth::Bearer(secret),
                ("basic", Some(user)) => HookAuth::Basic { user: user.clone(), password: secret },
                ("basic", None) => bail!("configuration key `{key}.user`: `basic` needs a user name"),
                ("hmac" | "bearer", Some(_)) => bail!("configuration key `{key}.user`: only `basic` takes a user"),
                (other, _) => bail!("configuration key `{key}.auth`: `{other}` is not hmac, bearer or basic"),
            };
            hooks.push(Hook {
                plugin: plugin.clone(),
                name: name.clone(),
                auth,
                connector: hook.connector.clone().unwrap_or_else(|| "discord".into()),
                channel: hook.channel.clone(),
            });
        }
    }
    Ok(hooks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(toml: &str) -> Settings {
        use figment::providers::{Format, Serialized, Toml};
        figment::Figment::from(Serialized::defaults(Settings::default())).merge(Toml::string(toml)).extract().unwrap()
    }

    #[test]
    fn hooks_need_a_declared_webhook_a_secret_and_a_known_scheme() {
        let declared = vec![("github".to_string(), "events".to_string())];
        let s = settings("[hooks.github.events]\nauth = \"hmac\"\nchannel = \"42\"\n");
        let env = |v: &str| (v == "REGIS_HOOK_GITHUB_EVENTS_SECRET").then(|| "x".to_string());
        let hooks = configured(&s, Some(&declared), env).unwrap();
        assert_eq!(hooks.len(), 1);
        assert_eq!(format!("{:?}", hooks[0].auth), "Hmac(<redacted>)");
        assert_eq!(hooks[0].connector, "discord");
        let err = configured(&s, Some(&declared), |_| None).unwrap_err().to_string();
        assert_eq!(err, "configuration key `hooks.github.events`: set its secret in the environment variable REGIS_HOOK_GITHUB_EVENTS_SECRET");
        let err = configured(&s, Some(&[]), env).unwrap_err().to_string();
        assert_eq!(err, "configuration key `hooks.github.events`: no plugin declares this webhook (declared: none)");
        let s = settings("[hooks.github.events]\nauth = \"hmca\"\n");
        let err = configured(&s, None, env).unwrap_err().to_string();
        assert_eq!(err, "configuration key `hooks.github.events.auth`: `hmca` is not hmac, bearer or basic");
        let s = settings("[hooks.alertmanager.alerts]\nauth = \"basic\"\n");
        let err = configured(&s, None, |_| Some("pw".into())).unwrap_err().to_string();
        assert_eq!(err, "configuration key `hooks.alertmanager.alerts.user`: `basic` needs a user name");
        assert_eq!(secret_variable("my-ops", "deploy"), "REGIS_HOOK_MY_OPS_DEPLOY_SECRET");
    }
}
