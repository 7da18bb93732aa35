//! The plugin trait. Write plugins with `#[plugin]` and `#[command]` (see the `regis` crate);
//! implementing this trait by hand is possible but rarely needed.

use crate::command::{Args, CommandSpec};
use crate::ctx::Ctx;
use crate::error::Result;
use crate::events::Event;
use crate::reply::Reply;
use std::future::Future;
use std::pin::Pin;

/// A boxed, sendable future, as plugin methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One schema change of a plugin's own tables; applied once, in order, when the plugin loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Version number, 1-based and increasing.
    pub version: u32,
    /// The SQL to run (may hold several statements).
    pub sql: &'static str,
}

/// What a plugin is: its name, description and table migrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginMeta {
    /// Unique name: lowercase letters, digits, `-` and `_`; also its storage name.
    pub name: String,
    /// One line for the `plugins` listing.
    pub description: String,
    /// Its SQL migrations, applied on load.
    pub migrations: Vec<Migration>,
}

/// A bot plugin: a set of commands and event handlers with its own storage.
pub trait Plugin: Send + Sync + 'static {
    /// Name, description and migrations.
    fn meta(&self) -> PluginMeta;

    /// The commands it offers.
    fn commands(&self) -> Vec<CommandSpec>;

    /// Runs `command` (a name from [`Plugin::commands`]) with parsed arguments.
    fn invoke<'a>(&'a self, ctx: &'a Ctx, command: &'a str, args: Args) -> BoxFuture<'a, Result<Reply>>;

    /// The event topics it handles with [`Plugin::on_event`] (`message`, `member_join`,
    /// `reaction`, or topics other plugins publish).
    fn subscriptions(&self) -> Vec<String> {
        Vec::new()
    }

    /// Suggestions for parameter `param` of `command` while the user types `partial`
    /// (parameters declared with `#[autocomplete = "method"]`).
    fn autocomplete<'a>(
        &'a self,
        ctx: &'a Ctx,
        command: &'a str,
        param: &'a str,
        partial: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        let _ = (ctx, command, param, partial);
        Box::pin(async { Ok(Vec::new()) })
    }

    /// Handles a click on a button this plugin sent (`custom_id` without the plugin prefix);
    /// `None` when no handler matches.
    fn on_component<'a>(&'a self, ctx: &'a Ctx, custom_id: &'a str) -> BoxFuture<'a, Result<Option<Reply>>> {
        let _ = (ctx, custom_id);
        Box::pin(async { Ok(None) })
    }

    /// The names of the webhooks it handles with [`Plugin::on_webhook`]
    /// (`POST /hooks/<plugin>/<name>`).
    fn webhooks(&self) -> Vec<String> {
        Vec::new()
    }

    /// Handles a request to its webhook `hook`; `None` when it has no such hook.
    fn on_webhook<'a>(
        &'a self,
        ctx: &'a Ctx,
        request: &'a crate::webhook::WebhookRequest,
    ) -> BoxFuture<'a, Result<Option<()>>> {
        let _ = (ctx, request);
        Box::pin(async { Ok(None) })
    }

    /// The schedules it handles with [`Plugin::on_schedule`] (`#[schedule("cron")]` methods).
    fn schedules(&self) -> Vec<crate::schedule::ScheduleSpec> {
        Vec::new()
    }

    /// Runs its schedule `name` for one firing; `None` when it has no such schedule.
    fn on_schedule<'a>(&'a self, ctx: &'a Ctx, name: &'a str) -> BoxFuture<'a, Result<Option<()>>> {
        let _ = (ctx, name);
        Box::pin(async { Ok(None) })
    }

    /// Ends the calls still running: the plugin was unloaded or replaced while they ran and
    /// the grace period (`shutdown_grace`) is over. Plugins whose calls cannot be ended this
    /// way leave it as it is; their calls then run to their end (or the handler timeout).
    fn stop(&self) {}

    /// Handles an event of a subscribed topic.
    fn on_event<'a>(&'a self, ctx: &'a Ctx, event: &'a Event) -> BoxFuture<'a, Result<()>> {
        let _ = (ctx, event);
        Box::pin(async { Ok(()) })
    }
}
