//! [`Ctx`]: what a handler gets — the invocation, the connector verbs, its storage, events.

use crate::bot::Core;
use crate::command::{CommandSpec, Syntax};
use crate::connector::{ChannelInfo, Connector, ConnectorError, Destination, SentMessage, UserInfo};
use crate::envelope::{Envelope, EnvelopeKind, UserRef};
use crate::events::Subscription;
use crate::queue::QueueError;
use crate::rank::Rank;
use crate::registry::LoadedPlugin;
use crate::reply::{Attachment, Reply};
use crate::storage::{Db, StorageError, Store};
use serde::Serialize;
use std::sync::Arc;

/// Why a [`Ctx`] operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CtxError {
    /// The connector failed or refused.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
    /// Storage failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The envelope's connector is not attached to this bot.
    #[error("connector `{0}` is not attached to this bot")]
    UnknownConnector(String),
    /// No plugin of that name.
    #[error("no plugin named `{0}`")]
    UnknownPlugin(String),
    /// The operation is not allowed (names why).
    #[error("{0}")]
    Refused(String),
    /// The event could not be queued.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// An event payload could not be serialized.
    #[error("event payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// A link of identities was refused (names why).
    #[error(transparent)]
    Link(#[from] crate::identities::LinkError),
    /// A plugin could not be loaded, reloaded or unloaded (names why).
    #[error(transparent)]
    Load(#[from] crate::loader::PluginLoadError),
}

/// The context of one handler invocation: who asked, where, with what rank; the connector
/// verbs; the plugin's own store and database; events. Cheap to clone.
#[derive(Clone)]
pub struct Ctx {
    pub(crate) envelope: Arc<Envelope>,
    pub(crate) rank: Rank,
    pub(crate) plugin: Arc<LoadedPlugin>,
    pub(crate) core: Arc<Core>,
    pub(crate) command: Option<String>,
    /// Set once a reply to the envelope's origin was sent (and the envelope recorded as
    /// answered), shared by every context of one handling.
    pub(crate) answered: Arc<std::sync::atomic::AtomicBool>,
    /// Parks the handler while it waits for an answer ([`Ctx::ask`]), freeing its worker.
    pub(crate) park: Arc<crate::ask::Park>,
}

impl Ctx {
    /// The envelope being handled.
    pub fn envelope(&self) -> &Envelope {
        &self.envelope
    }

    /// Who sent it.
    pub fn author(&self) -> &UserRef {
        &self.envelope.author
    }

    /// The sender's rank.
    pub fn rank(&self) -> Rank {
        self.rank
    }

    /// The command being run, if this is a command.
    pub fn command(&self) -> Option<&str> {
        self.command.as_deref()
    }

    /// This plugin's name.
    pub fn plugin_name(&self) -> &str {
        &self.plugin.meta.name
    }

    /// The command prefix (`!` by default), for messages that show commands.
    pub fn prefix(&self) -> &str {
        &self.core.config.prefix
    }

    /// How commands are typed where this one was asked: [`Syntax::Slash`] for a slash command,
    /// the prefix otherwise. Show commands with [`CommandSpec::invocation`] in it.
    ///
    /// [`CommandSpec::invocation`]: crate::CommandSpec::invocation
    pub fn syntax(&self) -> Syntax<'_> {
        match self.envelope.kind {
            EnvelopeKind::Command { .. } => Syntax::Slash,
            _ => Syntax::Prefix(self.prefix()),
        }
    }

    fn connector(&self) -> Result<Arc<dyn Connector>, CtxError> {
        self.core
            .connector(&self.envelope.source)
            .ok_or_else(|| CtxError::UnknownConnector(self.envelope.source.clone()))
    }

    async fn send(&self, to: Destination, mut reply: Reply) -> Result<SentMessage, CtxError> {
        let connector = self.connector()?;
        let prefix = format!("{}:", self.plugin.meta.name);
        for button in &mut reply.buttons {
            if !button.custom_id.starts_with(&prefix) {
                button.custom_id.insert_str(0, &prefix);
            }
        }
        let reply = reply.degrade(&connector.capabilities());
        let sent = connector.send(Some(&self.envelope), &to, reply).await?;
        if to == Destination::Origin && !self.answered.swap(true, std::sync::atomic::Ordering::AcqRel) {
            // Answered: a delivery of the envelope after this one (its worker died before
            // acknowledging it) is dropped rather than answered again.
            if let Err(e) = self.core.shared.dedupe.answered(&self.envelope.id).await {
                tracing::warn!(envelope = %self.envelope.id, error = %e, "cannot record the envelope as answered");
            }
        }
        Ok(sent)
    }

    /// Answers where the message came from (a reply; on Discord interactions, the response).
    /// A handler may reply several times; its return value is sent as one more reply.
    pub async fn reply(&self, reply: impl Into<Reply>) -> Result<SentMessage, CtxError> {
        self.send(Destination::Origin, reply.into()).await
    }

    /// Posts to another channel of the same connector.
    pub async fn say(&self, channel_id: &str, reply: impl Into<Reply>) -> Result<SentMessage, CtxError> {
        self.send(Destination::Channel(channel_id.to_string()), reply.into()).await
    }

    /// Sends a direct (private) message to a user of the same connector.
    pub async fn whisper(&self, user_id: &str, reply: impl Into<Reply>) -> Result<SentMessage, CtxError> {
        self.send(Destination::Direct(user_id.to_string()), reply.into()).await
    }

    /// Uploads a file as a reply (a connector without attachments gets a line naming it).
    pub async fn upload(&self, name: &str, data: Vec<u8>) -> Result<SentMessage, CtxError> {
        self.reply(Reply::default().attach(Attachment::new(name, data))).await
    }

    /// Edits a message this bot sent.
    pub async fn edit(&self, message: &SentMessage, reply: impl Into<Reply>) -> Result<(), CtxError> {
        let connector = self.connector()?;
        Ok(connector.edit(message, reply.into().degrade(&connector.capabilities())).await?)
    }

    /// Tells the service an answer is coming (Discord: "thinking…"); needed only for handlers
    /// that take longer than the service's deadline. Harmless elsewhere.
    pub async fn defer(&self) -> Result<(), CtxError> {
        Ok(self.connector()?.defer(&self.envelope).await?)
    }

    /// Looks a user up on the envelope's connector.
    pub async fn user(&self, id: &str) -> Result<Option<UserInfo>, CtxError> {
        Ok(self.connector()?.user(id).await?)
    }

    /// Looks a channel up on the envelope's connector.
    pub async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, CtxError> {
        Ok(self.connector()?.channel(id).await?)
    }

    /// This plugin's key-value store (nobody else's).
    pub fn store(&self) -> &Store {
        &self.plugin.store
    }

    /// The files attached to the message being handled.
    pub fn files(&self) -> &[crate::envelope::FileRef] {
        &self.envelope.files
    }

    /// Fetches a file attached to the message, through its connector; one of more than
    /// `limit` bytes is refused.
    pub async fn download(&self, file: &crate::envelope::FileRef, limit: u64) -> Result<Vec<u8>, CtxError> {
        Ok(self.connector()?.download(file, limit).await?)
    }

    /// This plugin's own SQL database, with its migrations applied.
    pub fn db(&self) -> &Db {
        &self.plugin.db
    }

    /// An event envelope from this plugin, with this invocation's author, channel and guild;
    /// for `to_plugin` alone when it is set.
    fn event_envelope<T: Serialize>(&self, topic: &str, data: &T, to_plugin: bool) -> Result<Envelope, CtxError> {
        let plugin = self.plugin.meta.name.clone();
        let kind = EnvelopeKind::Event {
            topic: topic.to_string(),
            data: serde_json::to_value(data)?,
            to_plugin: to_plugin.then(|| plugin.clone()),
            from_plugin: Some(plugin),
        };
        let mut envelope = Envelope::new(self.envelope.source.clone(), self.envelope.author.clone(), kind);
        envelope.channel = self.envelope.channel.clone();
        envelope.guild = self.envelope.guild.clone();
        Ok(envelope)
    }

    /// Publishes an event under `topic` to the plugins subscribed to it (through the queue).
    pub async fn publish<T: Serialize>(&self, topic: &str, data: &T) -> Result<(), CtxError> {
        Ok(self.core.queue.push(self.event_envelope(topic, data, false)?).await?)
    }

    /// Delivers an event of `topic` with `data` to this plugin's own `#[event(topic)]` handler
    /// once, `delay` from now, on whichever worker is free; its author and channel are this
    /// invocation's, so the handler can `say` there. Timers are kept in the bot's storage:
    /// one due while the bot was down fires when it starts again (late), and with several
    /// workers sharing a database each timer fires exactly once, also when the worker that
    /// set it died. Only this plugin receives it, and a ban of the author does not stop it.
    pub async fn after<T: Serialize>(
        &self,
        delay: std::time::Duration,
        topic: &str,
        data: &T,
    ) -> Result<crate::timers::TimerId, CtxError> {
        self.set_timer(delay, None, topic, data).await
    }

    /// Like [`Ctx::after`], but delivered every `period` (the first `period` from now) until
    /// called off with [`Ctx::cancel_timer`]. Each period fires once across all workers; periods
    /// that pass while the bot is down, or while a handler runs longer than the period, are
    /// skipped rather than delivered as a burst.
    pub async fn every<T: Serialize>(
        &self,
        period: std::time::Duration,
        topic: &str,
        data: &T,
    ) -> Result<crate::timers::TimerId, CtxError> {
        if period.is_zero() {
            return Err(CtxError::Refused("a repeating timer needs a period longer than zero".into()));
        }
        self.set_timer(period, Some(period), topic, data).await
    }

    async fn set_timer<T: Serialize>(
        &self,
        delay: std::time::Duration,
        every: Option<std::time::Duration>,
        topic: &str,
        data: &T,
    ) -> Result<crate::timers::TimerId, CtxError> {
        let mut envelope = self.event_envelope(topic, data, true)?;
        envelope.id = format!("{}{}", crate::timers::TIMER_ID_PREFIX, envelope.id);
        Ok(self.core.timers.set(&self.plugin.meta.name, topic, delay, every, &envelope).await?)
    }

    /// Calls off a timer this plugin set; whether it had not fired yet.
    pub async fn cancel_timer(&self, timer: &crate::timers::TimerId) -> Result<bool, CtxError> {
        Ok(self.core.timers.cancel(&self.plugin.meta.name, timer).await?)
    }

    /// This plugin's timers that have not fired yet, soonest first.
    pub async fn timers(&self) -> Result<Vec<crate::timers::PendingTimer>, CtxError> {
        Ok(self.core.timers.pending(Some(&self.plugin.meta.name)).await?)
    }

    /// Asks the invoking user `question` (sent as a reply, with "Yes" and "No" buttons where
    /// the connector has buttons) and waits up to `timeout` for their answer: their next
    /// message in this channel, or a click on one of the buttons. Meant for confirming what
    /// cannot be undone: `if ctx.ask("Deploy to prod?", 30s).await?.is_yes() { ... }`.
    ///
    /// While it waits in a command or a button handler, the worker that ran the handler goes
    /// on with other envelopes (the wait does not count against the handler timeout; in other
    /// handlers it does, and holds the worker), and the answer may be handled by any worker of
    /// the bot. `timeout` is at most a day. The message that answers is not also run as a command. A
    /// message sent before the question reached every worker (a few milliseconds) may be
    /// taken as an ordinary message.
    pub async fn ask(
        &self,
        question: impl Into<Reply>,
        timeout: std::time::Duration,
    ) -> Result<crate::ask::Answer, CtxError> {
        use crate::ask::{answer_topic, Answer, Asked, BUTTON_PREFIX};
        use crate::shared::Change;
        // A day at most: a question is a conversation, not a job queue.
        let timeout = timeout.min(std::time::Duration::from_secs(24 * 3600));
        let id = crate::envelope::new_id();
        let mut answers = self.core.shared.events.subscribe(&answer_topic(&id));
        let asked = Asked::of(&self.envelope);
        let until_ms = crate::envelope::now_ms().saturating_add(timeout.as_millis().min(u64::MAX as u128) as u64);
        self.core.questions.open(&id, asked.clone(), until_ms);
        let closed = || async {
            self.core.questions.close(&id);
            if let Err(e) = self.core.shared.changes.announce(Change::Asked { id: id.clone() }).await {
                tracing::warn!(question = %id, error = %e, "cannot announce that a question is closed; it expires");
            }
        };
        if let Err(e) = self.core.shared.changes.announce(Change::Asking { id: id.clone(), asked, until_ms }).await {
            self.core.questions.close(&id);
            return Err(CtxError::Refused(format!("cannot put the question to the other workers: {e}")));
        }
        let question = question
            .into()
            .button("Yes", format!("{BUTTON_PREFIX}{id}:yes"))
            .button("No", format!("{BUTTON_PREFIX}{id}:no"));
        if let Err(e) = self.reply(question).await {
            closed().await;
            return Err(e);
        }
        self.park.park(timeout);
        let answer = match tokio::time::timeout(timeout, answers.next()).await {
            Ok(Some(event)) => event.data::<Answer>().unwrap_or(Answer::TimedOut),
            Ok(None) | Err(_) => Answer::TimedOut,
        };
        closed().await;
        Ok(answer)
    }

    /// A live stream of the events of `topic` from now on, e.g. to collect the answers to a
    /// question for 30 seconds inside a command.
    pub fn subscribe(&self, topic: &str) -> Subscription {
        self.core.shared.events.subscribe(topic)
    }

    /// Bot administration (ranks, plugins, the command list), for the admin plugin and help.
    pub fn admin(&self) -> Admin<'_> {
        Admin { ctx: self }
    }
}

/// One command as help shows it.
#[derive(Clone, Debug)]
pub struct CommandInfo {
    /// The plugin offering it.
    pub plugin: String,
    /// Its declaration.
    pub spec: CommandSpec,
    /// The rank it requires here (the configuration may override the declared one).
    pub rank: Rank,
    /// Whether its plugin is enabled.
    pub enabled: bool,
}

/// A plugin as the `plugins` listing shows it.
#[derive(Clone, Debug)]
pub struct PluginStatus {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Its command names.
    pub commands: Vec<String>,
}

/// Administration of the running bot.
pub struct Admin<'a> {
    ctx: &'a Ctx,
}

impl Admin<'_> {
    /// Every command of every plugin, in plugin order.
    pub fn commands(&self) -> Vec<CommandInfo> {
        let core = &self.ctx.core;
        core.registry
            .plugins()
            .iter()
            .flat_map(|p| {
                p.commands.iter().map(|spec| CommandInfo {
                    plugin: p.meta.name.clone(),
                    rank: core.required_rank(spec),
                    spec: spec.clone(),
                    enabled: p.is_enabled(),
                })
            })
            .collect()
    }

    /// The command with this name or alias.
    pub fn command(&self, name: &str) -> Option<CommandInfo> {
        let core = &self.ctx.core;
        core.registry.resolve_name(name).map(|r| CommandInfo {
            plugin: r.plugin.meta.name.clone(),
            rank: core.required_rank(r.spec()),
            spec: r.spec().clone(),
            enabled: r.plugin.is_enabled(),
        })
    }

    /// Every plugin's schedules with their next firing, by plugin and name.
    pub async fn schedules(&self) -> Result<Vec<crate::schedule::ScheduleStatus>, CtxError> {
        Ok(self.ctx.core.schedules.list().await?)
    }

    /// Every plugin's pending timers, soonest first.
    pub async fn timers(&self) -> Result<Vec<crate::timers::PendingTimer>, CtxError> {
        Ok(self.ctx.core.timers.pending(None).await?)
    }

    /// A user's rank (the person's, when the identity is linked).
    pub async fn rank_of(&self, user: &UserRef) -> Result<Rank, CtxError> {
        let user = self.ctx.core.identities.resolve(user);
        Ok(self.ctx.core.ranks.rank_of(&user).await?)
    }

    /// Whether the user is an owner from the configuration (`user` as the dispatcher gives
    /// it, with its link resolved).
    pub fn is_owner(&self, user: &UserRef) -> bool {
        self.ctx.core.ranks.is_owner(user)
    }

    /// Sets a user's rank on behalf of the invoker: refused when the new rank is not below the
    /// invoker's, or the target's current rank is not below it, or the target is an owner.
    /// A linked identity's rank is its person's: setting it sets theirs.
    pub async fn set_rank(&self, user: &UserRef, rank: Rank) -> Result<(), CtxError> {
        let user = &self.ctx.core.identities.resolve(user);
        let mine = self.ctx.rank;
        if self.is_owner(user) {
            return Err(CtxError::Refused(format!("{} is an owner (rank 999, from the configuration)", user.name)));
        }
        if rank >= mine {
            return Err(CtxError::Refused(format!("you cannot grant rank {rank}: it must be below your own ({mine})")));
        }
        let theirs = self.rank_of(user).await?;
        if theirs >= mine {
            return Err(CtxError::Refused(format!("{} has rank {theirs}, not below your own ({mine})", user.name)));
        }
        Ok(self.ctx.core.ranks.set(user, rank).await?)
    }

    /// Every plugin with its state.
    pub fn plugins(&self) -> Vec<PluginStatus> {
        self.ctx.core.plugin_statuses()
    }

    /// Enables or disables a plugin at runtime; the state persists across restarts. The
    /// plugin running this cannot disable itself.
    pub async fn set_plugin_enabled(&self, name: &str, enabled: bool) -> Result<(), CtxError> {
        let same = self.ctx.core.registry.plugin(name).is_some_and(|p| p.meta.name == self.ctx.plugin.meta.name);
        if !enabled && same {
            return Err(CtxError::Refused(format!("plugin `{name}` cannot disable itself")));
        }
        self.ctx.core.switch_plugin(name, enabled).await
    }

    /// Loads plugin `name` from the bot's plugin source (a script file), on every process.
    pub async fn load_plugin(&self, name: &str) -> Result<(), CtxError> {
        Ok(self.ctx.core.load_plugin(name).await?)
    }

    /// Reads a loaded plugin from the source again, on every process; if the new version
    /// does not load, the running one stays.
    pub async fn reload_plugin(&self, name: &str) -> Result<(), CtxError> {
        Ok(self.ctx.core.reload_plugin(name).await?)
    }

    /// Unloads a plugin loaded from the source, on every process: its commands go at once,
    /// and its running calls get `shutdown_grace` to finish before they are stopped.
    pub async fn unload_plugin(&self, name: &str) -> Result<crate::loader::Unloaded, CtxError> {
        Ok(self.ctx.core.unload_plugin(name).await?)
    }

    /// A one-time code (valid for [`CODE_TTL`](crate::identities::CODE_TTL)) that links
    /// whoever redeems it on another service to the invoker's person.
    pub async fn link_code(&self) -> Result<String, CtxError> {
        let author = self.ctx.author();
        let by_owner = self.ctx.rank == Rank::OWNER;
        Ok(self.ctx.core.identities.issue(&author.key(), &author.identity(), by_owner).await?)
    }

    /// Links the invoker's identity to the person whose `code` it is; that person's key.
    /// Refused for a used or expired code, an identity already linked or with identities
    /// linked to it, and a link that would raise the invoker's rank unless an owner issued or
    /// redeems the code.
    pub async fn link(&self, code: &str) -> Result<String, CtxError> {
        use crate::identities::LinkError;
        let core = &self.ctx.core;
        let author = self.ctx.author();
        let identity = author.identity();
        if let Some(person) = core.identities.stored(&identity).await? {
            return Err(LinkError::AlreadyLinked { identity, person }.into());
        }
        let count = core.identities.members(&identity).await?.len();
        if count > 0 {
            return Err(LinkError::HasLinks { count }.into());
        }
        let redeemed = core.identities.redeem(code).await?.ok_or(LinkError::UnknownCode)?;
        if redeemed.person == identity || redeemed.issuer == identity {
            return Err(LinkError::OwnCode.into());
        }
        let person = UserRef { person: Some(redeemed.person.clone()), ..author.clone() };
        let (from, to) = (self.ctx.rank, core.ranks.rank_of(&person).await?);
        if to > from.max(Rank::EVERYONE) && !redeemed.by_owner && self.ctx.rank != Rank::OWNER {
            return Err(LinkError::NeedsOwner { identity, from, to }.into());
        }
        core.identities.link(&identity, &redeemed.person).await?;
        Ok(redeemed.person)
    }

    /// Undoes the invoker's link; for a person, releases every identity linked to them. The
    /// identities released.
    pub async fn unlink(&self) -> Result<Vec<String>, CtxError> {
        Ok(self.ctx.core.identities.unlink(&self.ctx.author().identity()).await?)
    }

    /// The identities linked to the invoker's person (the person's own key first).
    pub async fn links(&self) -> Result<Vec<String>, CtxError> {
        let person = self.ctx.author().key();
        let mut all = vec![person.clone()];
        all.extend(self.ctx.core.identities.members(&person).await?);
        Ok(all)
    }

    /// Gives a user a rank for this process only, not stored (the console's `--rank`).
    pub fn set_session_rank(&self, user: &UserRef, rank: Rank) {
        self.ctx.core.ranks.set_override(user, rank);
    }
}
