//! The playground's HTTP side, a router on the bot's one listener: the page and its assets
//! (embedded in the binary), the files replies carried, and the websocket that carries what
//! the page's user does to the bot and everything the page shows back.

use super::interact::{Interactions, Notice};
use super::world::{person, Person, World, BOT_ID, BOT_NAME, CHANNELS, GUILD_ID, PEOPLE};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::{SinkExt, StreamExt};
use regis::{Bot, Rank, UserRef};
use regis_testkit::fake_discord::FakeDiscord;
use regis_testkit::fake_gateway::{message_create, FakeGateway};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

const INDEX: &str = include_str!("assets/index.html");
const SCRIPT: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// Everything the page's handlers reach.
pub(crate) struct Playground {
    pub(crate) world: Arc<World>,
    pub(crate) bot: Arc<Bot>,
    pub(crate) gateway: Arc<FakeGateway>,
    pub(crate) discord: Arc<FakeDiscord>,
    pub(crate) interactions: Interactions,
}

/// The page's routes: `/`, `/dev/app.js`, `/dev/style.css`, `/dev/files/{id}/{name}` and the
/// websocket `/dev/ws`.
pub(crate) fn router(playground: Arc<Playground>) -> Router {
    tokio::spawn(watch_state(Arc::clone(&playground)));
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/dev/app.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/dev/style.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
        .route("/dev/files/{id}/{name}", get(file))
        .route("/dev/ws", get(upgrade))
        .with_state(playground)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "no-cache")], body).into_response()
}

async fn file(State(playground): State<Arc<Playground>>, Path((id, _name)): Path<(String, String)>) -> Response {
    match playground.world.file(&id) {
        Some(file) => ([(header::CONTENT_TYPE, file.content_type)], file.data).into_response(),
        None => (StatusCode::NOT_FOUND, "no such file (the playground keeps the latest 100)").into_response(),
    }
}

/// The largest message a page may send (a command line is far shorter).
const PAGE_MESSAGE_LIMIT: usize = 64 * 1024;

async fn upgrade(State(playground): State<Arc<Playground>>, headers: HeaderMap, ws: WebSocketUpgrade) -> Response {
    if let Err(refusal) = same_origin(&headers) {
        return (StatusCode::FORBIDDEN, refusal).into_response();
    }
    ws.max_message_size(PAGE_MESSAGE_LIMIT).on_upgrade(move |socket| connected(socket, playground))
}

/// Whether a websocket request comes from the playground's own page. Browsers let any site
/// open a websocket to 127.0.0.1 (no CORS for websockets), and the page can speak as the
/// bot's owner: so the `Host` must be this machine (no DNS rebinding) and the `Origin`, which
/// browsers always send, must be the page's own.
fn same_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let value = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let host = value(header::HOST).ok_or("no Host header")?;
    let hostname = host.rsplit_once(':').map_or(host, |(name, _)| name);
    if !matches!(hostname, "127.0.0.1" | "localhost" | "[::1]") {
        return Err("the playground answers for 127.0.0.1 and localhost only");
    }
    match value(header::ORIGIN) {
        Some(origin) if origin != format!("http://{host}") => {
            Err("a page of another site may not drive the playground")
        }
        _ => Ok(()),
    }
}

/// What the page sends.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum FromPage {
    /// A message typed in a channel (or `dm`: the speaker's DM with the bot).
    Say { user: String, channel: String, content: String },
    /// A slash command typed in a channel.
    Slash { user: String, channel: String, text: String },
    /// The slash command being typed, for the suggestions of its last option.
    Autocomplete { user: String, channel: String, text: String },
    /// A click on a button.
    Click { user: String, message: String, custom_id: String },
    /// A new stored rank for a person.
    Rank { user: String, rank: i64 },
    /// A plugin switched on or off.
    Plugin { name: String, enabled: bool },
}

async fn connected(socket: WebSocket, playground: Arc<Playground>) {
    let (mut sink, mut stream) = socket.split();
    // Answers for this page only (refusals, suggestions).
    let (private, mut answers) = mpsc::unbounded_channel::<Value>();
    let (history, mut events) = playground.world.subscribe();
    let mut first = vec![hello(&playground).await];
    first.extend(history);
    for event in first {
        if sink.send(Message::Text(event.to_string().into())).await.is_err() {
            return;
        }
    }
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => event,
                // Too far behind to catch up event by event: the page starts over.
                Err(RecvError::Lagged(_)) => json!({ "kind": "reload" }),
                Err(RecvError::Closed) => return,
            },
            Some(answer) = answers.recv() => answer,
            incoming = stream.next() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let playground = Arc::clone(&playground);
                    let private = private.clone();
                    // Each action in its own task: a command waiting on the bot does not hold
                    // up the page's next one.
                    tokio::spawn(async move {
                        if let Some(answer) = act(&playground, text.as_str()).await {
                            let _ = private.send(answer);
                        }
                    });
                    continue;
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return,
            },
        };
        if sink.send(Message::Text(event.to_string().into())).await.is_err() {
            return;
        }
    }
}

/// What a page is told first: the bot, the people, the channels, the commands, the plugins.
async fn hello(playground: &Playground) -> Value {
    let channels: Vec<Value> =
        CHANNELS.iter().map(|(id, name)| json!({ "id": id.to_string(), "name": name })).collect();
    json!({
        "kind": "hello",
        "bot": { "id": BOT_ID.to_string(), "name": BOT_NAME },
        "guild": GUILD_ID.to_string(),
        "channels": channels,
        "commands": commands(playground),
        "people": people(playground).await,
        "plugins": plugins(playground),
    })
}

/// The slash commands with the usage line the page hints.
fn commands(playground: &Playground) -> Vec<Value> {
    let mut commands = playground.interactions.commands();
    for command in &mut commands {
        command["usage"] = json!(super::slash::usage(command));
    }
    commands
}

async fn people(playground: &Playground) -> Vec<Value> {
    let mut people = Vec::new();
    for person in PEOPLE {
        let user = UserRef::new(regis_discord::CONNECTOR, person.id.to_string());
        let rank = playground.bot.rank_of(&user).await.map(|r| r.value()).unwrap_or_default();
        people.push(json!({ "id": person.id.to_string(), "name": person.name, "owner": person.owner, "rank": rank }));
    }
    people
}

fn plugins(playground: &Playground) -> Vec<Value> {
    let plugins = playground.bot.plugins();
    plugins
        .iter()
        .map(|p| json!({ "name": p.name, "description": p.description, "enabled": p.enabled, "commands": p.commands }))
        .collect()
}

/// Tells every page when ranks, plugins or commands change, whoever changed them (a `!ban`, a
/// `!plugin disable`, a script loaded, the page's own panel).
async fn watch_state(playground: Arc<Playground>) {
    let mut last = Value::Null;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        // Nobody to tell: compared again once a page listens (which its hello tells first).
        if !playground.world.has_pages() {
            continue;
        }
        let state = json!({
            "kind": "state",
            "people": people(&playground).await,
            "plugins": plugins(&playground),
            "commands": commands(&playground),
        });
        if state != last {
            if !last.is_null() {
                playground.world.emit(state.clone());
            }
            last = state;
        }
    }
}

/// Does what the page asked; an answer for that page alone, if any.
async fn act(playground: &Playground, text: &str) -> Option<Value> {
    let notice = |text: Notice| Some(json!({ "kind": "notice", "text": text }));
    let asked: FromPage = match serde_json::from_str(text) {
        Ok(asked) => asked,
        Err(e) => return notice(format!("the playground did not understand the page: {e}")),
    };
    let result = match asked {
        FromPage::Say { user, channel, content } => match speaker(&user) {
            Ok(who) => say(playground, who, &channel, &content),
            Err(e) => Err(e),
        },
        FromPage::Slash { user, channel, text } => match speaker(&user) {
            Ok(who) => {
                let channel = channel_id(playground, who, &channel);
                playground.interactions.command(who, &channel, &text).await
            }
            Err(e) => Err(e),
        },
        FromPage::Autocomplete { user, channel, text } => {
            let who = match speaker(&user) {
                Ok(who) => who,
                Err(e) => return notice(e),
            };
            let channel = channel_id(playground, who, &channel);
            return match playground.interactions.autocomplete(who, &channel, &text).await {
                Ok(choices) => Some(json!({ "kind": "choices", "text": text, "choices": choices })),
                Err(e) => notice(e),
            };
        }
        FromPage::Click { user, message, custom_id } => match speaker(&user) {
            Ok(who) => playground.interactions.click(who, &message, &custom_id).await,
            Err(e) => Err(e),
        },
        FromPage::Rank { user, rank } => set_rank(playground, &user, rank).await,
        FromPage::Plugin { name, enabled } => match playground.bot.set_plugin_enabled(&name, enabled).await {
            Ok(()) => {
                let state = if enabled { "enabled" } else { "disabled" };
                playground.world.log("in", format!("plugin {name} {state} from the panel"));
                Ok(())
            }
            Err(e) => Err(e.to_string()),
        },
    };
    result.err().and_then(notice)
}

fn speaker(id: &str) -> Result<Person, Notice> {
    id.parse().ok().and_then(person).ok_or_else(|| format!("no one in the playground has the id `{id}`"))
}

/// The channel id for the page's channel name: a guild channel's id, or for `dm` the DM
/// channel between the speaker and the bot.
fn channel_id(playground: &Playground, who: Person, channel: &str) -> String {
    if channel == "dm" {
        let dm = playground.discord.dm_channel(&who.id.to_string());
        playground.world.dm(&dm, who.id);
        return dm;
    }
    channel.to_string()
}

/// A message typed on the page: shown, and sent to the bot as a Gateway MESSAGE_CREATE.
fn say(playground: &Playground, who: Person, channel: &str, content: &str) -> Result<(), Notice> {
    if content.trim().is_empty() {
        return Err("Discord sends no empty message".to_string());
    }
    if content.chars().count() > 2000 {
        return Err("a message holds at most 2000 characters".to_string());
    }
    let channel = channel_id(playground, who, channel);
    let channel_number: u64 = channel.parse().map_err(|_| format!("no channel `{channel}`"))?;
    let in_guild = CHANNELS.iter().any(|(id, _)| *id == channel_number);
    if !in_guild && playground.world.dm_with(&channel).is_none() {
        return Err(format!("no channel `{channel}`"));
    }
    let id = playground.world.next_id();
    let guild = in_guild.then_some(GUILD_ID);
    let content = &with_mentions(content);
    let event = message_create(id, channel_number, guild, (who.id, who.name), content);
    let author = json!({ "id": who.id.to_string(), "name": who.name, "bot": false });
    let body = json!({ "content": content });
    playground.world.show(super::calls::view(&playground.world, &id.to_string(), &channel, author, &body, &[]));
    match playground.gateway.dispatch("MESSAGE_CREATE", event) {
        Some(seq) => {
            playground
                .world
                .log("in", format!("MESSAGE_CREATE by {} over the Gateway (seq {seq}): {content}", who.name));
            Ok(())
        }
        None => Err("the bot has no Gateway session yet (it is still connecting): try again in a moment".to_string()),
    }
}

/// `@name` of a person or of the bot written as Discord's client sends it, `<@id>` (names are
/// matched without regard to case; an `@` inside a word, as in an e-mail address, is no
/// mention).
fn with_mentions(content: &str) -> String {
    let mut written = String::with_capacity(content.len());
    let mut rest = content;
    while let Some(at) = rest.find('@') {
        let before = &rest[..at];
        written.push_str(before);
        let after = &rest[at + 1..];
        let length = after.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(after.len());
        let name = &after[..length];
        let starts_word = !before.ends_with(|c: char| c.is_alphanumeric() || c == '<');
        let id = if name.eq_ignore_ascii_case(BOT_NAME) {
            Some(BOT_ID)
        } else {
            PEOPLE.iter().find(|p| p.name.eq_ignore_ascii_case(name)).map(|p| p.id)
        };
        match id {
            Some(id) if starts_word => {
                written.push_str(&format!("<@{id}>"));
                rest = &after[length..];
            }
            _ => {
                written.push('@');
                rest = after;
            }
        }
    }
    written.push_str(rest);
    written
}

async fn set_rank(playground: &Playground, user: &str, rank: i64) -> Result<(), Notice> {
    let who = speaker(user)?;
    if who.owner {
        return Err(format!("{} owns the bot (the `owners` setting): always rank 999", who.name));
    }
    let rank = Rank::new(rank).map_err(|e| e.to_string())?;
    let user = UserRef::new(regis_discord::CONNECTOR, who.id.to_string());
    playground.bot.set_rank(&user, rank).await.map_err(|e| format!("storing the rank: {e}"))?;
    playground.world.log("in", format!("{} now has rank {} (stored, from the panel)", who.name, rank.value()));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(host: &str, origin: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, host.parse().unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, origin.parse().unwrap());
        }
        headers
    }

    #[test]
    fn names_after_at_become_mentions_as_discord_sends_them() {
        assert_eq!(with_mentions("@Regis help"), format!("<@{BOT_ID}> help"));
        assert_eq!(with_mentions("hi @ADA, and @nobody"), format!("hi <@{}>, and @nobody", PEOPLE[0].id));
        assert_eq!(with_mentions("mail ada@ben.example"), "mail ada@ben.example");
        assert_eq!(with_mentions("<@123> @"), "<@123> @");
    }

    #[test]
    fn only_the_page_itself_may_open_the_websocket() {
        assert_eq!(same_origin(&headers("127.0.0.1:8080", Some("http://127.0.0.1:8080"))), Ok(()));
        assert_eq!(same_origin(&headers("localhost:8080", Some("http://localhost:8080"))), Ok(()));
        // A client that is not a browser sends no Origin.
        assert_eq!(same_origin(&headers("127.0.0.1:8080", None)), Ok(()));
        assert!(same_origin(&headers("127.0.0.1:8080", Some("https://evil.example"))).is_err());
        assert!(same_origin(&headers("127.0.0.1:8080", Some("http://127.0.0.1:9999"))).is_err());
        // DNS rebinding: another name that resolves to this machine.
        assert!(same_origin(&headers("evil.example:8080", Some("http://evil.example:8080"))).is_err());
        assert!(same_origin(&HeaderMap::new()).is_err());
    }
}
