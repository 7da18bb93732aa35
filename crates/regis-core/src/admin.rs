//! The built-in admin plugin: `help`, `ping`, `rank`, `rank set`, `ban`, `unban`, `link`,
//! `unlink`, `plugins`,
//! `plugin enable`, `plugin disable`, `plugin load`, `plugin reload`, `plugin unload`, `schedules`. It lives in the core because every bot (and every test
//! bot) has it: help is generated from the doc comments, and ranks and plugin switches are
//! core state.

use crate::command::{Rest, Syntax};
use crate::ctx::{CommandInfo, Ctx};
use crate::envelope::UserRef;
use crate::error::Result;
use crate::rank::Rank;
use crate::reply::Reply;
use regis_macros::plugin;

/// The built-in admin plugin (add it to every bot).
pub struct Admin;

/// One line of the command list, commands padded to `width` so that descriptions line up.
fn listing_line(syntax: Syntax<'_>, info: &CommandInfo, width: usize) -> String {
    format!("  {:<width$} {}", info.spec.invocation(syntax), info.spec.description)
}

/// The command list with one line per command, padded to the longest.
fn listing<'i>(syntax: Syntax<'_>, commands: impl IntoIterator<Item = &'i CommandInfo> + Clone) -> Vec<String> {
    let width = commands.clone().into_iter().map(|c| c.spec.invocation(syntax).chars().count() + 1).max().unwrap_or(0);
    commands.into_iter().map(|c| listing_line(syntax, c, width)).collect()
}

fn command_help(syntax: Syntax<'_>, info: &CommandInfo) -> String {
    let spec = &info.spec;
    let mut out = format!("{}\n{}", spec.invocation(syntax), spec.description);
    if !spec.help.is_empty() {
        out.push_str("\n\n");
        out.push_str(&spec.help);
    }
    out.push_str(&format!("\n\nUsage: {}", spec.usage(syntax)));
    for p in &spec.params {
        out.push_str(&format!("\n  {:<10} {} ({})", p.name, p.description, p.kind_description()));
    }
    if !spec.aliases.is_empty() {
        out.push_str(&format!("\nAliases: {}", spec.aliases.join(", ")));
    }
    if let Some(c) = &spec.cooldown {
        out.push_str(&format!("\nCooldown: {c}"));
    }
    out.push_str(&format!("\nRequires rank {} (plugin {})", info.rank, info.plugin));
    out
}

/// How to ask help about one command, in the asker's syntax.
fn help_hint(syntax: Syntax<'_>) -> String {
    match syntax {
        Syntax::Prefix(prefix) => format!("`{prefix}help <command>` explains one."),
        Syntax::Slash => "`/help command:<name>` explains one.".to_string(),
    }
}

/// A time as `2026-12-03 09:00:00 UTC (in 16h 2m)`.
fn when(at_ms: u64, now_ms: u64) -> String {
    let stamp = chrono::DateTime::from_timestamp_millis(i64::try_from(at_ms).unwrap_or(i64::MAX))
        .map_or_else(|| "far in the future".to_string(), |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string());
    let seconds = std::time::Duration::from_secs(at_ms.saturating_sub(now_ms).div_ceil(1000));
    if at_ms <= now_ms {
        format!("{stamp} (due now)")
    } else {
        format!("{stamp} (in {})", humantime::format_duration(seconds))
    }
}

/// Built-in commands: help, ping, ranks, bans, plugins and schedules.
#[plugin(name = "admin")]
impl Admin {
    /// List the commands you may run, or explain one.
    ///
    /// # Arguments
    /// * `command` - the command to explain
    #[command(aliases = ["h", "commands"])]
    async fn help(&self, ctx: &Ctx, command: Option<Rest>) -> Result<String> {
        let admin = ctx.admin();
        let syntax = ctx.syntax();
        let mine: Vec<CommandInfo> =
            admin.commands().into_iter().filter(|c| c.enabled && c.rank <= ctx.rank()).collect();
        if let Some(name) = command {
            // `!help !roll`, `/help command:/rank-set` and `/help command:rank set` all work.
            let name = name.trim().trim_start_matches(ctx.prefix()).trim_start_matches('/').trim().to_lowercase();
            // `rank` is a command and the head of `rank set`; `plugin` only a head.
            let head = format!("{name} ");
            let group: Vec<&CommandInfo> = mine.iter().filter(|c| c.spec.name.starts_with(&head)).collect();
            let listed = listing(syntax, group.iter().copied()).join("\n");
            let found = admin.command(&name).filter(|info| info.enabled && info.rank <= ctx.rank());
            let (shown, help) = match syntax {
                Syntax::Prefix(prefix) => (format!("{prefix}{name}"), format!("{prefix}help")),
                Syntax::Slash => (name.replace(' ', "-"), "/help".to_string()),
            };
            return Ok(match found {
                Some(info) if group.is_empty() => command_help(syntax, &info),
                Some(info) => format!("{}\n\nAlso:\n{listed}", command_help(syntax, &info)),
                None if !group.is_empty() => {
                    format!("`{shown}` is a group of commands:\n{listed}\n{}", help_hint(syntax))
                }
                None => format!("No command `{name}` that you may run. Try `{help}`."),
            });
        }
        let mut out = format!("Commands you may run (rank {}):", ctx.rank());
        let mut plugin = String::new();
        let width =
            mine.iter().map(|c| c.spec.invocation(syntax).chars().count()).max().map_or(17, |n| (n + 1).max(17));
        for info in &mine {
            if info.plugin != plugin {
                plugin = info.plugin.clone();
                out.push_str(&format!("\n{plugin}:"));
            }
            out.push('\n');
            out.push_str(&listing_line(syntax, info, width));
        }
        out.push('\n');
        out.push_str(&help_hint(syntax));
        Ok(out)
    }

    /// Check that the bot answers.
    #[command]
    async fn ping(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("pong")
    }

    /// Show a user's rank (yours by default).
    ///
    /// # Arguments
    /// * `user` - whose rank to show
    #[command]
    async fn rank(&self, ctx: &Ctx, user: Option<UserRef>) -> Result<String> {
        let user = user.unwrap_or_else(|| ctx.author().clone());
        let rank = ctx.admin().rank_of(&user).await?;
        Ok(format!("{} has rank {rank}.", user.name))
    }

    /// Set a user's rank, below your own.
    ///
    /// # Arguments
    /// * `user` - whose rank to set
    /// * `rank` - the new rank, -1 (banned) to 998
    #[command(name = "rank set", rank = 100, discord_permissions = "MANAGE_ROLES")]
    async fn rank_set(
        &self,
        ctx: &Ctx,
        user: UserRef,
        #[min = -1]
        #[max = 999]
        rank: i32,
    ) -> Result<String> {
        let rank = Rank::new(rank.into())?;
        if rank.is_banned() {
            let needed = ctx.admin().command("ban").map_or(Rank::OWNER, |ban| ban.rank);
            if ctx.rank() < needed {
                return Err(format!("banning needs rank {needed}, like `ban`").into());
            }
        }
        ctx.admin().set_rank(&user, rank).await?;
        Ok(format!("{} now has rank {rank}.", user.name))
    }

    /// Ban a user: the bot ignores everything they send.
    ///
    /// # Arguments
    /// * `user` - who to ban
    #[command(rank = 999, discord_permissions = "BAN_MEMBERS")]
    async fn ban(&self, ctx: &Ctx, user: UserRef) -> Result<String> {
        ctx.admin().set_rank(&user, Rank::BANNED).await?;
        Ok(format!("{} is banned.", user.name))
    }

    /// Lift a ban (the user gets rank 0).
    ///
    /// # Arguments
    /// * `user` - who to unban
    #[command(rank = 999, discord_permissions = "BAN_MEMBERS")]
    async fn unban(&self, ctx: &Ctx, user: UserRef) -> Result<String> {
        ctx.admin().set_rank(&user, Rank::EVERYONE).await?;
        Ok(format!("{} is no longer banned.", user.name))
    }

    /// Link your identity on another service: one rank, ban and data for both.
    ///
    /// Run it without a code to get a one-time code in private (valid ten minutes), then run
    /// it with that code on the other service. Without a code it also lists your links.
    ///
    /// # Arguments
    /// * `code` - the code `link` gave you on the other service
    #[command]
    async fn link(&self, ctx: &Ctx, code: Option<String>) -> Result<Reply> {
        let admin = ctx.admin();
        let me = ctx.author().identity();
        if let Some(code) = code {
            let person = admin.link(&code).await?;
            return Ok(Reply::text(format!("{me} is now linked to {person}: one rank, ban and data for both.")));
        }
        let code = admin.link_code().await?;
        let minutes = crate::identities::CODE_TTL.as_secs() / 60;
        let secret = format!(
            "Your link code: {code}\nRun `{}link {code}` on the other service within {minutes} minutes. Anyone with it can link to you: keep it to yourself.",
            ctx.prefix()
        );
        let links = admin.links().await?;
        let listing = match links.as_slice() {
            [_] => format!("{me} is not linked."),
            [person, members @ ..] => format!("{person} is linked with {}.", members.join(", ")),
            [] => String::new(),
        };
        let envelope = ctx.envelope();
        let private = matches!(envelope.kind, crate::envelope::EnvelopeKind::Command { .. })
            || envelope.channel.as_ref().is_some_and(|c| c.direct);
        if private {
            return Ok(Reply::text(format!("{secret}\n{listing}")).ephemeral());
        }
        ctx.whisper(&ctx.author().id, secret).await?;
        Ok(Reply::text(format!("I sent you a link code in private. {listing}")))
    }

    /// Undo your link (or, as the one linked to, every link to you).
    #[command]
    async fn unlink(&self, ctx: &Ctx) -> Result<String> {
        let released = ctx.admin().unlink().await?;
        Ok(if released.is_empty() {
            format!("{} is not linked.", ctx.author().identity())
        } else {
            format!("Unlinked {}.", released.join(", "))
        })
    }

    /// List the plugins and whether they are enabled.
    #[command]
    async fn plugins(&self, ctx: &Ctx) -> Result<String> {
        let mut out = String::from("Plugins:");
        let plugins = ctx.admin().plugins();
        let width = plugins.iter().map(|p| p.name.chars().count()).max().unwrap_or(0).max(10);
        for p in plugins {
            let state = if p.enabled { "enabled" } else { "disabled" };
            out.push_str(&format!("\n  {:<width$} {:<9} {}", p.name, state, p.description));
        }
        Ok(out)
    }

    /// List the schedules and timers with when they fire next.
    #[command]
    async fn schedules(&self, ctx: &Ctx) -> Result<String> {
        let admin = ctx.admin();
        let (schedules, timers) = (admin.schedules().await?, admin.timers().await?);
        if schedules.is_empty() && timers.is_empty() {
            return Ok("No schedules or timers.".into());
        }
        let now = crate::envelope::now_ms();
        let mut out = String::new();
        if !schedules.is_empty() {
            out.push_str("Schedules:");
            let names: Vec<String> = schedules.iter().map(|s| format!("{}/{}", s.plugin, s.spec.name)).collect();
            let width = names.iter().map(|n| n.chars().count()).max().unwrap_or(0);
            for (name, schedule) in names.iter().zip(&schedules) {
                let next = schedule.next_ms.map_or_else(|| "never again".to_string(), |at| when(at, now));
                out.push_str(&format!("\n  {name:<width$}  {}  next {next}", schedule.spec.describe()));
            }
        }
        if !timers.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str("Timers:");
            for timer in &timers {
                let every =
                    timer.every.map(|e| format!(", every {}", humantime::format_duration(e))).unwrap_or_default();
                out.push_str(&format!(
                    "\n  {}  {}  next {}{every}",
                    timer.plugin,
                    timer.topic,
                    when(timer.due_ms, now)
                ));
            }
        }
        Ok(out)
    }

    /// Enable a plugin.
    ///
    /// # Arguments
    /// * `name` - the plugin
    #[command(name = "plugin enable", rank = 500, discord_permissions = "MANAGE_GUILD")]
    async fn plugin_enable(&self, ctx: &Ctx, name: String) -> Result<String> {
        ctx.admin().set_plugin_enabled(&name, true).await?;
        Ok(format!("Plugin `{name}` enabled."))
    }

    /// Disable a plugin: its commands and event handlers stop until enabled again.
    ///
    /// # Arguments
    /// * `name` - the plugin
    #[command(name = "plugin disable", rank = 500, discord_permissions = "MANAGE_GUILD")]
    async fn plugin_disable(&self, ctx: &Ctx, name: String) -> Result<String> {
        ctx.admin().set_plugin_enabled(&name, false).await?;
        Ok(format!("Plugin `{name}` disabled."))
    }

    /// Load a plugin from the plugin directory (a script file), on every worker.
    ///
    /// # Arguments
    /// * `name` - the plugin: its file's name without `.lua`
    #[command(name = "plugin load", rank = 999, discord_permissions = "MANAGE_GUILD")]
    async fn plugin_load(&self, ctx: &Ctx, name: String) -> Result<String> {
        ctx.admin().load_plugin(&name).await?;
        Ok(format!("Plugin `{name}` loaded."))
    }

    /// Read a loaded script plugin again; if it does not load, the running version stays.
    ///
    /// # Arguments
    /// * `name` - the plugin
    #[command(name = "plugin reload", rank = 999, discord_permissions = "MANAGE_GUILD")]
    async fn plugin_reload(&self, ctx: &Ctx, name: String) -> Result<String> {
        ctx.admin().reload_plugin(&name).await?;
        Ok(format!("Plugin `{name}` reloaded."))
    }

    /// Unload a script plugin: its commands go at once, its running calls may finish.
    ///
    /// # Arguments
    /// * `name` - the plugin
    #[command(name = "plugin unload", rank = 999, discord_permissions = "MANAGE_GUILD")]
    async fn plugin_unload(&self, ctx: &Ctx, name: String) -> Result<String> {
        let unloaded = ctx.admin().unload_plugin(&name).await?;
        Ok(if unloaded.stopped {
            format!("Plugin `{name}` unloaded; the calls still running after the grace period were stopped.")
        } else {
            format!("Plugin `{name}` unloaded.")
        })
    }
}
