//! Regis core: the connector-neutral heart of the bot.
//!
//! Input from any chat service becomes an [`Envelope`], is pushed onto a [`Queue`], and the
//! [`Dispatcher`](dispatcher) — a bounded worker pool and the only place that runs plugin code —
//! checks the author's [`Rank`], parses the command with its typed parameters, runs the plugin's
//! handler under a timeout and a panic guard, and sends the [`Reply`] back through the
//! [`Connector`] the envelope came from. This crate does no network I/O itself.

// Lets macro-generated code name this crate `::regis_core` from inside it too.
extern crate self as regis_core;

pub mod admin;
pub mod ask;
pub mod bot;
pub mod command;
pub mod connector;
pub mod cooldown;
mod core_tables;
pub mod ctx;
pub mod dispatcher;
pub mod envelope;
pub mod error;
pub mod events;
pub mod identities;
pub mod loader;
pub mod metrics;
pub mod plugin;
pub mod queue;
pub mod rank;
pub mod ranks;
pub mod registry;
pub mod reply;
pub mod schedule;
pub mod shared;
pub mod storage;
pub mod suggest;
pub mod timers;
pub mod webhook;

pub use ask::Answer;
pub use bot::{check_command_ranks_of, Bot, BotBuilder, BotError, Completion, CoreConfig, Ingress, Stats};
pub use command::{
    ArgError, ArgValue, Args, ChoiceOption, CommandSpec, Param, ParamKind, ParamShape, ParamSpec, ParamValue, Rest,
    SpecError, Syntax, TextFormat, TextParam,
};
pub use connector::{Capabilities, ChannelInfo, Connector, ConnectorError, Destination, SentMessage, UserInfo};
pub use ctx::{Admin, CommandInfo, Ctx, CtxError, PluginStatus};
pub use envelope::{ChannelRef, Envelope, EnvelopeKind, FileRef, UserRef};
pub use error::{Error, Result};
pub use events::{Event, Subscription};
pub use loader::{Followed, PluginControl, PluginLoadError, PluginSource, Unloaded};
pub use plugin::{BoxFuture, Migration, Plugin, PluginMeta};
pub use queue::{Ack, Acknowledgement, Delivery, InProcessQueue, Queue, QueueError};
pub use rank::{Rank, RankError};
pub use reply::{Attachment, Button, Embed, EmbedField, IntoReply, Reply};
pub use schedule::{ScheduleError, ScheduleSpec, ScheduleStatus};
pub use shared::{Change, Claim, SharedState, StateError};
pub use storage::{Db, KvBackend, PluginStorage, StorageBackend, StorageError, Store};
pub use timers::{PendingTimer, TimerId};
pub use webhook::WebhookRequest;

/// The SQL toolkit behind [`Ctx::db`]: `regis::sqlx::query("...").bind(x).execute(ctx.db().pool())`.
pub use sqlx;

/// Items used by code that the `regis-macros` crate generates; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::command::{choices, required_arg};
    pub use std::boxed::Box;
    pub use std::string::String;
    pub use std::vec::Vec;
}
