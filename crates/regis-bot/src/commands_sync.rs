//! `regis commands sync [--guild ID]`: registers the plugins' slash commands with Discord,
//! writing only when what Discord holds differs, and prints the difference.

use crate::config::Settings;
use anyhow::{Context, Result};
use clap::Args;
use regis_discord::gateway::{sync_commands, CommandDiff};
use regis_discord::{DiscordConnector, RestConfig};

/// What `regis commands sync` takes on its command line; the bot token
/// (`DISCORD_TOKEN`) and the application's id (`DISCORD_APPLICATION_ID`) come from the
/// environment.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Register in this guild only: changes show at once (global commands are for every
    /// guild the bot is in)
    #[arg(long, value_name = "ID")]
    pub guild: Option<String>,
}

/// The printed difference, one command a line: `+` added, `~` changed, `-` removed.
pub fn describe(diff: &CommandDiff, scope: &str) -> String {
    let mut out = String::new();
    if diff.is_empty() {
        out.push_str(&format!(
            "Discord already has these {} commands ({scope}); nothing written.\n",
            diff.unchanged.len()
        ));
        return out;
    }
    for (mark, names) in [("+", &diff.added), ("~", &diff.changed), ("-", &diff.removed)] {
        for name in names {
            out.push_str(&format!("{mark} /{name}\n"));
        }
    }
    out.push_str(&format!(
        "{} added, {} changed, {} removed, {} unchanged ({scope}); commands overwritten.\n",
        diff.added.len(),
        diff.changed.len(),
        diff.removed.len(),
        diff.unchanged.len()
    ));
    out
}

/// Runs the sync.
pub(crate) async fn run(settings: Settings, plugins: &crate::app::Plugins, args: SyncArgs) -> Result<()> {
    let secrets = crate::secrets::DiscordSecrets::from_env()?;
    let token = secrets.token.context("`regis commands sync` needs DISCORD_TOKEN (the bot token)")?;
    let application = secrets.application_id.context(
        "`regis commands sync` needs DISCORD_APPLICATION_ID (General Information page of the developer portal)",
    )?;
    let bot = crate::cli::start_bot(&settings, plugins, Vec::new()).await?;
    let declared: Vec<serde_json::Value> = bot.application_commands(settings.discord_admin_rank());
    bot.shutdown().await;
    let scope = match &args.guild {
        Some(guild) => format!("guild {guild}"),
        None => "global".to_string(),
    };
    let rest = RestConfig { api_url: settings.discord_api_url.clone(), token: Some(token), ..RestConfig::default() };
    let rest = DiscordConnector::new(rest)
        .context("starting the Discord REST client (configuration key `discord_api_url`)")?;
    let diff = sync_commands(&rest, &application, args.guild.as_deref(), &declared)
        .await
        .with_context(|| format!("syncing the {scope} commands"))?;
    print!("{}", describe(&diff, &scope));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_difference_is_printed_by_kind() {
        let diff = CommandDiff {
            added: vec!["mando".into()],
            changed: vec!["roll".into()],
            removed: vec!["old".into()],
            unchanged: vec!["ping".into()],
        };
        assert_eq!(
            describe(&diff, "global"),
            "+ /mando\n~ /roll\n- /old\n1 added, 1 changed, 1 removed, 1 unchanged (global); commands overwritten.\n"
        );
        let same = CommandDiff { unchanged: vec!["ping".into()], ..CommandDiff::default() };
        assert_eq!(describe(&same, "guild 1"), "Discord already has these 1 commands (guild 1); nothing written.\n");
    }
}
