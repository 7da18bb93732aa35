//! The state of each interaction this process received: still waiting for an inline answer,
//! deferred (Discord shows "thinking…" until the original response is edited), or answered.
//! Every transition happens under one lock, so the HTTP side and the egress side never both
//! answer, and no reply is lost between them.

use crate::convert::InteractionHandle;
use crate::interactions::FirstResponse;
use regis_core::Reply;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch};

/// An interaction token's lifetime.
pub(crate) const TOKEN_LIFETIME: Duration = Duration::from_secs(15 * 60);

/// How long an interaction is remembered once its handler has finished: a copy of it that
/// arrives meanwhile (a client's retry, a replay) gets the first response again instead of
/// being refused.
const REPLAY_MEMORY: Duration = Duration::from_secs(10);

/// What the HTTP side answers Discord with.
#[derive(Debug)]
pub(crate) enum Answer {
    /// Type 4 with this message.
    Message(Reply),
    /// Type 5 (the handler will edit the original response).
    Defer {
        /// Whether the eventual response is for the invoker only.
        ephemeral: bool,
    },
    /// Type 8: autocomplete suggestions.
    Suggestions(Vec<String>),
}

pub(crate) enum Slot {
    Waiting(oneshot::Sender<Answer>),
    Deferred { public: bool, edited: bool },
    Answered,
}

struct Entry {
    slot: Slot,
    handle: InteractionHandle,
    created: Instant,
    /// The first response once decided, for deliveries of the same interaction that arrive
    /// while it is answered.
    first: watch::Sender<Option<FirstResponse>>,
    /// The worker (process) whose reply was delivered first, when a worker elsewhere asked.
    answered_by: Option<String>,
    /// That worker said it sent the edit it was granted (until then, it may have died first).
    confirmed: bool,
    /// When its handler finished.
    finished: Option<Instant>,
}

impl Entry {
    fn new(slot: Slot, handle: InteractionHandle) -> Self {
        Entry {
            slot,
            handle,
            created: Instant::now(),
            first: watch::channel(None).0,
            answered_by: None,
            confirmed: false,
            finished: None,
        }
    }

    /// Still worth keeping: within the token's lifetime, and not finished long ago.
    fn live(&self) -> bool {
        self.created.elapsed() < TOKEN_LIFETIME && self.finished.is_none_or(|at| at.elapsed() < REPLAY_MEMORY)
    }
}

/// What registering an interaction found.
pub(crate) enum Registration {
    /// It is new here: its first answer will come through this channel.
    New(oneshot::Receiver<Answer>),
    /// It is being answered already (the same interaction delivered again): the first
    /// delivery's response will be published here.
    Duplicate(watch::Receiver<Option<FirstResponse>>),
}

/// How egress delivers a reply to an interaction.
pub(crate) enum Route {
    /// Hand it to the waiting HTTP request (type 4).
    Inline(oneshot::Sender<Answer>),
    /// Tell the waiting HTTP request to defer, then edit the original response (replies with
    /// files go this way: they need a multipart request).
    DeferThenEdit(oneshot::Sender<Answer>),
    /// Edit the original response (the first reply after a deferral).
    EditOriginal {
        /// Whether the deferral was public (an ephemeral reply then goes as a follow-up).
        public: bool,
    },
    /// Post a follow-up message.
    FollowUp,
    /// Nothing to send: the ingress in another process answered with it inline.
    AnsweredElsewhere,
}

/// Interactions in flight, by envelope id (see [`first_response`](crate::interactions::first_response)).
#[derive(Default)]
pub struct Pending {
    map: Mutex<HashMap<String, Entry>>,
}

impl Pending {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers an interaction the HTTP side now waits on, unless it is being answered
    /// already.
    pub(crate) fn wait(&self, id: &str, handle: InteractionHandle) -> Registration {
        let mut map = self.lock();
        match map.get(id) {
            Some(entry) if entry.live() => return Registration::Duplicate(entry.first.subscribe()),
            _ => {}
        }
        let (tx, rx) = oneshot::channel();
        map.insert(id.to_string(), Entry::new(Slot::Waiting(tx), handle));
        Registration::New(rx)
    }

    /// Records the first response decided for an interaction, for its duplicates.
    pub(crate) fn publish_first(&self, id: &str, response: &FirstResponse) {
        if let Some(entry) = self.lock().get(id) {
            entry.first.send_replace(Some(response.clone()));
        }
    }

    /// Forgets an interaction that was not queued (a retry may queue it), and any entry no
    /// longer worth keeping.
    pub(crate) fn forget(&self, id: &str) {
        let mut map = self.lock();
        map.remove(id);
        if map.len() > 1024 {
            map.retain(|_, e| e.live());
        }
    }

    /// An interaction's handler has finished (no reply can follow): it is kept a little
    /// ([`REPLAY_MEMORY`]) for copies of it that arrive late, then forgotten.
    pub(crate) fn finish(&self, id: &str) {
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(id) {
            entry.finished = Some(Instant::now());
        }
        if map.len() > 1024 {
            map.retain(|_, e| e.live());
        }
    }

    /// How many interactions are being answered (for tests and metrics): finished ones kept
    /// for late copies are not counted.
    pub(crate) fn len(&self) -> usize {
        self.lock().values().filter(|e| e.finished.is_none()).count()
    }

    /// The HTTP side's budget ran out: defer if nobody answered yet. False if an answer is
    /// already on its way through the channel.
    pub(crate) fn defer_on_budget(&self, id: &str) -> bool {
        let mut map = self.lock();
        match map.get_mut(id) {
            Some(entry) if matches!(entry.slot, Slot::Waiting(_)) => {
                entry.slot = Slot::Deferred { public: true, edited: false };
                true
            }
            _ => false,
        }
    }

    /// The handler finished without replying: answer with a short note unless an answer is
    /// already on its way.
    pub(crate) fn finish_silently(&self, id: &str) -> bool {
        let mut map = self.lock();
        match map.get_mut(id) {
            Some(entry) if matches!(entry.slot, Slot::Waiting(_)) => {
                entry.slot = Slot::Answered;
                true
            }
            _ => false,
        }
    }

    /// Autocomplete suggestions for a waiting request; false when it is no longer waiting
    /// (suggestions cannot be deferred: too late is dropped).
    pub(crate) fn suggest(&self, id: &str, choices: Vec<String>) -> bool {
        let mut map = self.lock();
        match map.get_mut(id).map(|e| std::mem::replace(&mut e.slot, Slot::Answered)) {
            Some(Slot::Waiting(tx)) => tx.send(Answer::Suggestions(choices)).is_ok(),
            Some(other) => {
                if let Some(e) = map.get_mut(id) {
                    e.slot = other;
                }
                false
            }
            None => false,
        }
    }

    /// An explicit `ctx.defer()`: answers the waiting request with type 5.
    pub(crate) fn defer(&self, id: &str, ephemeral: bool) {
        let mut map = self.lock();
        if let Some(entry) = map.get_mut(id) {
            if let Slot::Waiting(_) = entry.slot {
                if let Slot::Waiting(tx) =
                    std::mem::replace(&mut entry.slot, Slot::Deferred { public: !ephemeral, edited: false })
                {
                    let _ = tx.send(Answer::Defer { ephemeral });
                }
            }
        }
    }

    /// Decides how to deliver a reply, and records it. `handle` is used when this process
    /// has no record (the interaction was received elsewhere, or long ago).
    pub(crate) fn route(&self, id: &str, handle: &InteractionHandle, reply: &Reply) -> Route {
        let mut map = self.lock();
        // A worker that routes what it did not receive (an ingress that deferred at once) adds
        // an entry per interaction: the old ones go, as in `record`.
        if map.len() > 1024 && !map.contains_key(id) {
            map.retain(|_, e| e.live());
        }
        let entry = map
            .entry(id.to_string())
            .or_insert_with(|| Entry::new(Slot::Deferred { public: true, edited: false }, handle.clone()));
        Self::route_entry(entry, reply)
    }

    /// [`route`](Self::route) for an interaction this process tracks, for a reply from worker
    /// `asker` in another process (`None`: not tracked here).
    ///
    /// When another worker was routed first, `asker` runs a later delivery of the envelope
    /// (the first one's claim expired: it died or overran). If the first reply was delivered
    /// (answered inline here, or the first worker confirmed its edit), this one would be a
    /// second answer: [`Route::AnsweredElsewhere`], nothing to send. If the first worker was
    /// granted the edit of the original response but never confirmed it, the edit is granted
    /// to `asker` instead: the first worker may have died before sending it.
    pub(crate) fn route_asked(&self, id: &str, reply: &Reply, asker: &str) -> Option<Route> {
        let mut map = self.lock();
        let entry = map.get_mut(id)?;
        match &entry.answered_by {
            Some(first) if first != asker => match entry.slot {
                // Granted to a worker that never confirmed it: it may have died before editing.
                Slot::Deferred { public, edited: true } if !entry.confirmed => {
                    entry.answered_by = Some(asker.to_string());
                    return Some(Route::EditOriginal { public });
                }
                _ if entry.confirmed || matches!(entry.slot, Slot::Answered) => return Some(Route::AnsweredElsewhere),
                _ => {}
            },
            Some(_) => {}
            None => entry.answered_by = Some(asker.to_string()),
        }
        Some(Self::route_entry(entry, reply))
    }

    /// The worker granted the edit of the original response has sent it.
    pub(crate) fn confirm(&self, id: &str) {
        if let Some(entry) = self.lock().get_mut(id) {
            entry.confirmed = true;
        }
    }

    /// Whether this process tracks the interaction.
    pub(crate) fn knows(&self, id: &str) -> bool {
        self.lock().contains_key(id)
    }

    /// Records what another process's ingress decided for an interaction handled here.
    pub(crate) fn record(&self, id: &str, handle: &InteractionHandle, slot: Slot) {
        let mut map = self.lock();
        if map.len() > 1024 {
            map.retain(|_, e| e.live());
        }
        map.insert(id.to_string(), Entry::new(slot, handle.clone()));
    }

    fn route_entry(entry: &mut Entry, reply: &Reply) -> Route {
        match std::mem::replace(&mut entry.slot, Slot::Answered) {
            Slot::Waiting(tx) if reply.attachments.is_empty() => Route::Inline(tx),
            Slot::Waiting(tx) => {
                entry.slot = Slot::Deferred { public: !reply.ephemeral, edited: true };
                Route::DeferThenEdit(tx)
            }
            Slot::Deferred { public, edited: false } => {
                entry.slot = Slot::Deferred { public, edited: true };
                Route::EditOriginal { public }
            }
            other @ (Slot::Deferred { .. } | Slot::Answered) => {
                entry.slot = other;
                Route::FollowUp
            }
        }
    }

    /// The handle of a tracked interaction (for edits of messages it sent).
    pub(crate) fn handle(&self, id: &str) -> Option<InteractionHandle> {
        self.lock().get(id).map(|e| e.handle.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handle() -> InteractionHandle {
        InteractionHandle {
            interaction_id: "1".into(),
            application_id: "2".into(),
            token: "token".into(),
            received_ms: 0,
        }
    }

    #[test]
    fn interactions_routed_from_elsewhere_are_forgotten_once_their_token_expires() {
        let pending = Pending::default();
        let reply = Reply::text("pong");
        for id in 0..1100 {
            assert!(matches!(pending.route(&id.to_string(), &handle(), &reply), Route::EditOriginal { public: true }));
        }
        let Some(expired) = Instant::now().checked_sub(TOKEN_LIFETIME + Duration::from_secs(1)) else {
            return; // the machine has been up for less than a token's lifetime
        };
        for entry in pending.lock().values_mut() {
            entry.created = expired;
        }
        assert!(matches!(pending.route("new", &handle(), &reply), Route::EditOriginal { public: true }));
        assert_eq!(pending.lock().len(), 1, "only the live one is kept");
    }

    #[test]
    fn an_edit_granted_to_a_worker_that_never_confirmed_it_is_granted_to_the_next_run() {
        let pending = Pending::default();
        let _http = pending.wait("e", handle());
        assert!(pending.defer_on_budget("e"));
        let reply = Reply::text("pong");
        assert!(matches!(pending.route_asked("e", &reply, "w1"), Some(Route::EditOriginal { public: true })));
        // w1 died before editing; the delivery that runs on w2 edits instead.
        assert!(matches!(pending.route_asked("e", &reply, "w2"), Some(Route::EditOriginal { public: true })));
        // w2 edited and said so: a third run sends nothing, and w2's own next reply follows up.
        pending.confirm("e");
        assert!(matches!(pending.route_asked("e", &reply, "w3"), Some(Route::AnsweredElsewhere)));
        assert!(matches!(pending.route_asked("e", &reply, "w2"), Some(Route::FollowUp)));
    }

    #[test]
    fn an_answer_given_inline_here_is_never_given_again() {
        let pending = Pending::default();
        let _http = pending.wait("e", handle());
        let reply = Reply::text("pong");
        assert!(matches!(pending.route_asked("e", &reply, "w1"), Some(Route::Inline(_))));
        assert!(matches!(pending.route_asked("e", &reply, "w2"), Some(Route::AnsweredElsewhere)));
    }
}
