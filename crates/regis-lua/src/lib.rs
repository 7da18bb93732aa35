//! Script plugins for Regis: a `.lua` file is a plugin, run in a sandbox that holds against a
//! hostile author.
//!
//! The language is **Lua 5.4** (mlua, compiled in), rather than Luau: its hook counts VM
//! instructions, which gives each call an exact instruction budget (Luau only offers an
//! interrupt at calls and loop edges), and it is the Lua most users know. The sandbox is built
//! explicitly rather than from a "safe" library set (see `sandbox.rs`):
//!
//! - one Lua state per plugin, with only `string`, `table`, `math`, `utf8`, `coroutine`, a
//!   part of `os` (time) and of the base library (no files, no native modules, no bytecode);
//! - per call (a command, a click, a suggestion, an event): an instruction budget and a limit
//!   on running time; per plugin: a memory limit. A limit is final for the call: protected
//!   calls cannot catch it, and the call ends at once; the plugin's state is then built anew
//!   from the script;
//! - store writes are kept with the call and written only when it ends well.
//!
//! ```no_run
//! use regis_lua::{Limits, ScriptPlugin};
//!
//! let plugin = ScriptPlugin::load("plugins/counter.lua", Limits::default())?;
//! # Ok::<(), regis_lua::LoadError>(())
//! ```
//!
//! What a script declares is described in [`definition`](crate#declaring-a-plugin) below, and
//! what its handlers get in `api.rs`.
//!
//! # Declaring a plugin
//!
//! A script returns a table: `name` (default: the file's name), `description`, `commands` (each
//! with `name`, `description`, optional `help`, `rank`, `cooldown`, `aliases`, `params`, and
//! `run = function(ctx, args)`), `buttons` (`id = function(ctx, id)`) and `events` (`topic =
//! function(ctx, event)`). A parameter has `name`, `type` (`string`, `integer`, `number`,
//! `boolean`, `user`, `channel`, `choice` with `choices`, `rest`), and optionally
//! `description`, `optional = true`, `min`, `max` and `autocomplete = function(ctx, partial)`.

#![deny(missing_docs)]

mod api;
mod budget;
mod definition;
mod directory;
mod plugin;
mod sandbox;
mod watch;

pub use budget::Limit;
pub use definition::DefinitionError;
pub use directory::ScriptDirectory;
pub use plugin::{LoadError, ScriptPlugin};
pub use watch::{ScriptWatcher, DEBOUNCE};

use std::time::Duration;

/// What one script plugin may use.
#[derive(Clone, Debug, PartialEq)]
pub struct Limits {
    /// Lua VM instructions one call (a command, a click, a suggestion, an event) may run.
    pub instructions: u64,
    /// Time one call may spend running Lua code (time waiting for storage, a chat service or
    /// `ctx:sleep` does not count; the bot's handler timeout bounds the whole call).
    pub time: Duration,
    /// Memory the plugin's Lua state may hold, in bytes.
    pub memory: usize,
}

impl Default for Limits {
    /// 10 million instructions and 1 s of running time per call, 32 MiB per plugin.
    fn default() -> Self {
        Limits { instructions: 10_000_000, time: Duration::from_secs(1), memory: 32 * 1024 * 1024 }
    }
}
