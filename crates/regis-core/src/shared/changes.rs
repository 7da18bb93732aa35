//! Changes every process must apply at once: a user's rank (a ban on one worker holds on every
//! worker), a plugin switched on or off. The change is stored first (in the core's storage,
//! shared when it is PostgreSQL); this feed tells every process to drop what it cached.

use super::StateError;
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// One change to apply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    /// The stored rank of an identity (`connector:id`) changed.
    Rank {
        /// The identity.
        identity: String,
    },
    /// An identity was linked to another (`!link`) or unlinked.
    Link {
        /// The identity (`connector:id`).
        identity: String,
    },
    /// A plugin was enabled or disabled.
    Plugin {
        /// The plugin.
        name: String,
        /// Its new state.
        enabled: bool,
    },
    /// A plugin was loaded (or reloaded) from the plugin source, or unloaded, by the process
    /// `from`: every other process does the same with its own source.
    Loaded {
        /// The plugin.
        name: String,
        /// Loaded or reloaded (`true`), or unloaded.
        loaded: bool,
        /// The process that did it (it does not do it again).
        from: u64,
    },
    /// A handler put a question to a user (`ctx.ask`): their next message there, or their
    /// click on its buttons, answers it.
    Asking {
        /// The question's id.
        id: String,
        /// Who it waits for, and where.
        asked: crate::ask::Asked,
        /// Until when, milliseconds since the Unix epoch.
        until_ms: u64,
    },
    /// The question was answered, or its handler stopped waiting.
    Asked {
        /// The question's id.
        id: String,
    },
}

/// Where changes are announced and heard.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    /// Tells every process of the bot (this one included).
    async fn announce(&self, change: Change) -> Result<(), StateError>;
    /// The changes announced from now on, by any process.
    fn subscribe(&self) -> broadcast::Receiver<Change>;
}

/// The feed of a single process.
pub struct InProcessChanges {
    sender: broadcast::Sender<Change>,
}

impl Default for InProcessChanges {
    fn default() -> Self {
        InProcessChanges { sender: broadcast::channel(256).0 }
    }
}

#[async_trait]
impl ChangeFeed for InProcessChanges {
    async fn announce(&self, change: Change) -> Result<(), StateError> {
        let _ = self.sender.send(change);
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.sender.subscribe()
    }
}
