//! `ctx.channel` on IRC: each channel's topic and members as the server tells them.
//!
//! For a channel the bot is in, the server says the topic (`332`, or `331` for none) and the
//! members (`353` lines ended by `366`) on joining, and every change after (`TOPIC`, `JOIN`,
//! `PART`, `KICK`, `QUIT`, `NICK`): the picture is kept up to date and a lookup answers from it.
//! For another channel, a lookup asks (`LIST` for the topic, `322`; then `NAMES`) and the answer ends at `366`; it
//! is remembered for [`CACHE_FOR`]. A channel the server does not know (`403`, or names
//! that name nobody) is `None`.

use crate::waiters::Waiters;
use regis_core::ChannelInfo;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// How long the answer about a channel the bot is not in is reused.
pub(crate) const CACHE_FOR: Duration = Duration::from_secs(60);

/// What the server said about one channel.
#[derive(Clone, Debug, Default)]
struct Channel {
    name: String,
    topic: Option<String>,
    members: BTreeSet<String>,
    /// `353` names since the last `366`.
    incoming: Vec<String>,
    /// When the last `366` came (the picture was complete then).
    complete_at: Option<Instant>,
    /// Whether the bot is in it (then it is kept up to date and never goes stale).
    joined: bool,
}

impl Channel {
    fn info(&self) -> ChannelInfo {
        ChannelInfo {
            id: self.name.clone(),
            name: self.name.clone(),
            topic: self.topic.clone(),
            members: self.members.iter().cloned().collect(),
        }
    }
}

/// Every channel the bot knows about, and the lookups waiting for one.
#[derive(Default)]
pub(crate) struct Channels {
    known: Mutex<HashMap<String, Channel>>,
    waiting: Waiters<Option<ChannelInfo>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A channel's key: IRC channel names are case-insensitive.
fn key(channel: &str) -> String {
    channel.to_lowercase()
}

/// A nick from a `353` entry, without its status prefix (`@op`, `+voiced`, `~owner`, ...).
fn bare(entry: &str) -> &str {
    entry.trim_start_matches(['@', '+', '%', '~', '&', '!'])
}

impl Channels {
    /// The channel as known, when it is up to date: joined, or answered within [`CACHE_FOR`].
    pub(crate) fn cached(&self, channel: &str) -> Option<ChannelInfo> {
        let known = lock(&self.known);
        let c = known.get(&key(channel))?;
        let fresh = c.complete_at.is_some_and(|at| c.joined || at.elapsed() < CACHE_FOR);
        fresh.then(|| c.info())
    }

    /// Waits for the next complete answer about `channel`; whether the questions must be sent
    /// (none is out yet).
    pub(crate) fn wait(&self, channel: &str) -> (oneshot::Receiver<Option<ChannelInfo>>, bool) {
        let (receiver, ask) = self.waiting.wait(channel);
        if ask {
            // An old topic must not outlive a server that no longer says one.
            if let Some(c) = lock(&self.known).get_mut(&key(channel)).filter(|c| !c.joined) {
                c.topic = None;
            }
        }
        (receiver, ask)
    }

    fn with(&self, channel: &str, f: impl FnOnce(&mut Channel)) {
        let mut known = lock(&self.known);
        let c =
            known.entry(key(channel)).or_insert_with(|| Channel { name: channel.to_string(), ..Channel::default() });
        f(c);
    }

    /// `332` / `331` / `322` / `TOPIC`: the topic (`None` for none).
    pub(crate) fn topic(&self, channel: &str, topic: Option<&str>) {
        self.with(channel, |c| c.topic = topic.filter(|t| !t.is_empty()).map(str::to_string));
    }

    /// `353`: some of the members.
    pub(crate) fn names(&self, channel: &str, names: &str) {
        self.with(channel, |c| c.incoming.extend(names.split_whitespace().map(|n| bare(n).to_string())));
    }

    /// `366`: the members are all said; waiting lookups get the channel.
    pub(crate) fn end_of_names(&self, channel: &str) {
        if !self.waiting.is_waiting(channel) && !lock(&self.known).contains_key(&key(channel)) {
            return; // the end of an answer already given (`403` came first)
        }
        let empty = lock(&self.known).get(&key(channel)).is_none_or(|c| !c.joined && c.incoming.is_empty());
        if empty {
            // No names: a channel nobody is in does not exist (or is secret, which is the same
            // to the bot).
            return self.no_such_channel(channel);
        }
        let mut info = None;
        self.with(channel, |c| {
            c.members = std::mem::take(&mut c.incoming).into_iter().collect();
            c.complete_at = Some(Instant::now());
            info = Some(c.info());
        });
        self.waiting.answer(channel, info);
    }

    /// `403`: no such channel.
    pub(crate) fn no_such_channel(&self, channel: &str) {
        lock(&self.known).remove(&key(channel));
        self.waiting.answer(channel, None);
    }

    /// `JOIN` by `nick` (the bot itself when `me`).
    pub(crate) fn joined(&self, channel: &str, nick: &str, me: bool) {
        self.with(channel, |c| {
            if me {
                // A fresh picture follows (332 and 353 ... 366).
                *c = Channel { name: channel.to_string(), joined: true, ..Channel::default() };
            }
            c.members.insert(nick.to_string());
        });
    }

    /// `PART` or `KICK` of `nick` (the bot itself when `me`: the channel is no longer followed).
    pub(crate) fn left(&self, channel: &str, nick: &str, me: bool) {
        if me {
            lock(&self.known).remove(&key(channel));
            return;
        }
        self.with(channel, |c| {
            c.members.remove(nick);
        });
    }

    /// `QUIT` of `nick`: gone from every channel.
    pub(crate) fn quit(&self, nick: &str) {
        for c in lock(&self.known).values_mut() {
            c.members.remove(nick);
        }
    }

    /// `NICK`: `old` is now `new` in every channel.
    pub(crate) fn renamed(&self, old: &str, new: &str) {
        for c in lock(&self.known).values_mut() {
            if c.members.remove(old) {
                c.members.insert(new.to_string());
            }
        }
    }

    /// The connection was lost: nothing known holds any more (the joins will tell again).
    pub(crate) fn reset(&self) {
        lock(&self.known).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_joined_channel_follows_topic_and_members() {
        let channels = Channels::default();
        channels.joined("#Ops", "Regis", true);
        assert!(channels.cached("#ops").is_none(), "not complete before 366");
        channels.topic("#Ops", Some("deploys at 9"));
        channels.names("#Ops", "@ann +bob Regis");
        channels.names("#Ops", "carol");
        let (waiting, send) = channels.wait("#ops");
        assert!(send);
        channels.end_of_names("#Ops");
        let info = waiting.await.unwrap().unwrap();
        assert_eq!((info.name.as_str(), info.topic.as_deref()), ("#Ops", Some("deploys at 9")));
        assert_eq!(info.members, ["Regis", "ann", "bob", "carol"]);
        channels.joined("#ops", "dave", false);
        channels.left("#ops", "bob", false);
        channels.renamed("ann", "anne");
        channels.quit("carol");
        channels.topic("#ops", Some(""));
        let info = channels.cached("#OPS").unwrap();
        assert_eq!(info.members, ["Regis", "anne", "dave"]);
        assert_eq!(info.topic, None);
        channels.left("#ops", "Regis", true);
        assert!(channels.cached("#ops").is_none());
    }

    #[tokio::test]
    async fn an_unknown_channel_is_none() {
        let channels = Channels::default();
        let (waiting, _) = channels.wait("#nope");
        channels.no_such_channel("#nope");
        assert_eq!(waiting.await.unwrap(), None);
        let (waiting, _) = channels.wait("#empty");
        channels.end_of_names("#empty");
        assert_eq!(waiting.await.unwrap(), None, "names of nobody");
        assert!(channels.cached("#empty").is_none());
    }
}
