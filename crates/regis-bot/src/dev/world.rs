//! What the playground page shows: the people who may speak, the channels, the messages as
//! Discord would render them, and the log of what went in and out. Every page connected gets
//! the same events; a page that connects later gets the latest ones first.

use regis_testkit::latest::Latest;
use serde_json::{json, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;
use tokio::sync::broadcast;

/// The guild of the playground (the fake Gateway's).
pub(crate) const GUILD_ID: u64 = regis_testkit::fake_gateway::GUILD_ID;
/// The bot's user and application id (the fake's).
pub(crate) const BOT_ID: u64 = regis_testkit::fake_gateway::BOT_ID;
/// The bot's name on the page.
pub(crate) const BOT_NAME: &str = "Regis";

/// Someone who may speak on the page.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Person {
    /// Their Discord user id.
    pub(crate) id: u64,
    /// Their name.
    pub(crate) name: &'static str,
    /// Whether they own the bot (listed in `owners`: rank 999, whatever is stored).
    pub(crate) owner: bool,
}

/// The people of the playground: the first owns the bot.
pub(crate) const PEOPLE: [Person; 3] = [
    Person { id: 1_310_000_000_000_000_001, name: "ada", owner: true },
    Person { id: 1_310_000_000_000_000_002, name: "ben", owner: false },
    Person { id: 1_310_000_000_000_000_003, name: "cy", owner: false },
];

/// The guild's text channels: id and name (the first is the fake Gateway's default channel).
pub(crate) const CHANNELS: [(u64, &str); 2] =
    [(regis_testkit::fake_gateway::CHANNEL_ID, "general"), (1_310_000_000_000_000_100, "random")];

/// How many events a page that connects is sent first.
const HISTORY: usize = 500;
/// How many messages (for button clicks and edits) and files are kept.
const KEPT_MESSAGES: usize = 500;
const KEPT_FILES: usize = 100;

/// A file shown on the page (an attachment of a reply).
#[derive(Clone)]
pub(crate) struct File {
    /// Its `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Its bytes.
    pub(crate) data: axum::body::Bytes,
}

/// An interaction the page sent, by token, so that the replies to it find their place.
#[derive(Clone, Debug)]
pub(crate) struct Sent {
    /// The message its first response is (`@original`): a new one, or for a button's
    /// deferred update the message the button is on.
    pub(crate) original: String,
    /// Where it was sent.
    pub(crate) channel: String,
    /// Who sent it.
    pub(crate) user: u64,
    /// What it was, for the page (`/mando`, `button pick:…`).
    pub(crate) label: String,
    /// When it was sent.
    pub(crate) at: Instant,
}

/// The playground's state shared by the page's connections and the feed of Discord calls.
pub(crate) struct World {
    events: broadcast::Sender<Value>,
    history: Mutex<VecDeque<Value>>,
    messages: Mutex<Latest<String, Value>>,
    files: Mutex<Latest<String, File>>,
    sent: Mutex<HashMap<String, Sent>>,
    /// DM channel id → the person it is with.
    dms: Mutex<HashMap<String, u64>>,
    next_id: AtomicU64,
    started: Instant,
}

impl World {
    /// An empty world.
    pub(crate) fn new() -> Self {
        World {
            events: broadcast::channel(1024).0,
            history: Mutex::new(VecDeque::new()),
            messages: Mutex::new(Latest::new(KEPT_MESSAGES)),
            files: Mutex::new(Latest::new(KEPT_FILES)),
            sent: Mutex::new(HashMap::new()),
            dms: Mutex::new(HashMap::new()),
            // Snowflakes above the fake Discord's own.
            next_id: AtomicU64::new(1_320_000_000_000_000_000),
            started: Instant::now(),
        }
    }

    /// A new snowflake for a message, an interaction or a file.
    pub(crate) fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Milliseconds since the playground started.
    pub(crate) fn clock_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    /// The events so far (the latest [`HISTORY`]) and every later one.
    pub(crate) fn subscribe(&self) -> (Vec<Value>, broadcast::Receiver<Value>) {
        let history = lock(&self.history);
        // Subscribed under the history's lock: no event is in both or in neither.
        (history.iter().cloned().collect(), self.events.subscribe())
    }

    /// Whether a page is connected.
    pub(crate) fn has_pages(&self) -> bool {
        self.events.receiver_count() > 0
    }

    /// Sends an event to every page.
    pub(crate) fn emit(&self, event: Value) {
        let mut history = lock(&self.history);
        history.push_back(event.clone());
        while history.len() > HISTORY {
            history.pop_front();
        }
        let _ = self.events.send(event);
    }

    /// A line of the event log: `direction` is `in` (to the bot) or `out` (the bot's calls).
    pub(crate) fn log(&self, direction: &str, text: String) {
        self.emit(json!({ "kind": "log", "dir": direction, "at_ms": self.clock_ms(), "text": text }));
    }

    /// A message shown on the page (new, or replacing the one with its id).
    pub(crate) fn show(&self, message: Value) {
        if let Some(id) = message["id"].as_str() {
            lock(&self.messages).insert(id.to_string(), message.clone());
        }
        self.emit(json!({ "kind": "message", "message": message }));
    }

    /// A message shown earlier, by id.
    pub(crate) fn message(&self, id: &str) -> Option<Value> {
        lock(&self.messages).get(&id.to_string()).cloned()
    }

    /// Keeps a file for the page and gives its URL.
    pub(crate) fn keep_file(&self, name: &str, data: Vec<u8>) -> String {
        let id = self.next_id();
        let content_type = content_type(name);
        lock(&self.files).insert(id.to_string(), File { content_type, data: data.into() });
        format!("/dev/files/{id}/{}", url_safe(name))
    }

    /// A file kept by [`World::keep_file`].
    pub(crate) fn file(&self, id: &str) -> Option<File> {
        lock(&self.files).get(&id.to_string()).cloned()
    }

    /// Remembers an interaction the page sent.
    pub(crate) fn sent(&self, token: &str, sent: Sent) {
        lock(&self.sent).insert(token.to_string(), sent);
    }

    /// The interaction sent with `token`.
    pub(crate) fn sent_with(&self, token: &str) -> Option<Sent> {
        lock(&self.sent).get(token).cloned()
    }

    /// Forgets interactions older than Discord's 15 minutes, when their tokens expire.
    pub(crate) fn forget_expired(&self) {
        let expiry = std::time::Duration::from_secs(15 * 60);
        lock(&self.sent).retain(|_, sent| sent.at.elapsed() < expiry);
    }

    /// Remembers that DM channel `channel` is with `person`.
    pub(crate) fn dm(&self, channel: &str, person: u64) {
        lock(&self.dms).insert(channel.to_string(), person);
    }

    /// The person a DM channel is with, if it is one.
    pub(crate) fn dm_with(&self, channel: &str) -> Option<u64> {
        lock(&self.dms).get(channel).copied()
    }
}

/// A person by id.
pub(crate) fn person(id: u64) -> Option<Person> {
    PEOPLE.iter().copied().find(|p| p.id == id)
}

fn content_type(name: &str) -> &'static str {
    let extension = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "txt" | "log" => "text/plain; charset=utf-8",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// A file name as one URL path segment (anything but letters, digits, `.`, `-` and `_`
/// becomes `_`).
fn url_safe(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') { c } else { '_' }).collect()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_that_connects_later_gets_the_latest_events_and_no_more() {
        let world = World::new();
        for i in 0..HISTORY + 10 {
            world.emit(json!({ "kind": "message", "message": { "id": i.to_string() } }));
        }
        let (history, _) = world.subscribe();
        assert_eq!(history.len(), HISTORY);
        assert_eq!(history[0]["message"]["id"], "10");
    }

    #[test]
    fn files_and_messages_are_kept_up_to_their_limits() {
        let world = World::new();
        let first = world.keep_file("a b.png", vec![1]);
        assert!(first.ends_with("/a_b.png"), "{first}");
        let id = first.split('/').nth(3).unwrap().to_string();
        assert_eq!(world.file(&id).unwrap().content_type, "image/png");
        for _ in 0..KEPT_FILES {
            world.keep_file("x.txt", vec![2]);
        }
        assert!(world.file(&id).is_none(), "the oldest file is dropped");
    }
}
