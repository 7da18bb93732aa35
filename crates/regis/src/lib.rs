//! Regis: a plugin framework for Discord and ChatOps bots.
//!
//! A plugin is a type with an `impl` block marked [`plugin`](macro@plugin). Each `#[command]` method is one
//! command on every connector: its doc comment is its help (the first line is the summary and
//! the slash-command description; the `# Arguments` section describes the parameters), its
//! typed parameters are its parser and its slash-command schema, and its return value is its
//! reply.
//!
//! ```
//! use regis::prelude::*;
//!
//! pub struct Dice;
//!
//! /// Dice for the channel.
//! #[plugin]
//! impl Dice {
//!     /// Roll dice, e.g. `!roll 2 6`; counts your rolls.
//!     ///
//!     /// # Arguments
//!     /// * `count` - how many dice (default 1)
//!     /// * `sides` - sides per die (default 6)
//!     #[command(cooldown = "5 per 10s per user")]
//!     async fn roll(&self, ctx: &Ctx, #[max = 20] count: Option<u8>, #[min = 2] sides: Option<u16>) -> Result<String> {
//!         let rolls: Vec<u16> = (0..count.unwrap_or(1)).map(|_| fastrand::u16(1..=sides.unwrap_or(6))).collect();
//!         let n: u64 = ctx.store().update(&ctx.author().key(), |n: Option<u64>| n.unwrap_or(0) + 1).await?;
//!         Ok(format!("{rolls:?} (roll #{n})"))
//!     }
//! }
//! # fn main() {}
//! ```
//!
//! Parameter types: `String`, integers (with `#[min]`/`#[max]`), `f64`, `bool`, [`UserRef`],
//! [`ChannelRef`], [`Rest`] (the rest of the line), enums with `#[derive(Choice)]`, and
//! `Option<T>` of each for optional parameters. Command options: `rank = N`,
//! `aliases = [...]`, `cooldown = "N per DURATION per user|channel|guild|global"`,
//! `name = "..."` (two words for a subcommand such as `rank set`).

#![deny(missing_docs)]

// Lets the macros name this crate `::regis` from inside it too.
extern crate self as regis;

pub use regis_core::*;
pub use regis_macros::{command, component, event, plugin, schedule, webhook, Choice};
pub use regis_store::{PostgresBackend, SqliteBackend};

/// Everything a plugin author needs: `use regis::prelude::*;`.
pub mod prelude {
    pub use regis_core::{
        Attachment, Button, ChannelRef, Ctx, Embed, Error, Event, Plugin, Rank, Reply, Rest, Result, TextParam,
        UserRef, WebhookRequest,
    };
    pub use regis_macros::{command, component, event, plugin, schedule, webhook, Choice};
}
