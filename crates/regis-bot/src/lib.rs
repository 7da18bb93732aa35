//! The `regis` command line as a library: [`App`] gives a binary of your own, with your
//! plugins, everything the `regis` binary does (it is such an app, with the built-in plugins).
//!
//! Plugins are written with the `regis` crate and tested with `regis-testkit`; this crate
//! runs them.

mod app;
mod backbone;
#[cfg(feature = "bench-commands")]
#[doc(hidden)]
pub mod bench_plugin;
mod cli;
mod commands_sync;
mod config;
mod config_cmd;
mod dev;
mod hooks;
mod logging;
mod mandala_cmd;
mod readiness;
mod run;
mod scaffold;
mod secrets;
mod serve;

pub use app::App;
pub use config::{IrcSettings, Settings, Shards};
