//! What a script's handlers get: `ctx` (who asked, the connector verbs, the plugin's store,
//! events, sleeping) and their arguments, and how their return value becomes a reply.
//!
//! | in Lua | what it does |
//! |---|---|
//! | `ctx.author` | `{ id, name, key }` of who asked (`key` is the person across linked services) |
//! | `ctx.rank`, `ctx.channel_id`, `ctx.command` | their rank, where they asked, the command |
//! | `ctx:reply(r)`, `ctx:say(channel_id, r)`, `ctx:whisper(user_id, r)`, `ctx:upload(name, data)` | send now, elsewhere, in private, a file; each returns the sent message `{ id, channel }` |
//! | `ctx:edit(sent, r)` | edit a sent message |
//! | `ctx:subscribe(topic)` | the topic's events from now on: `sub:next(seconds)` is the next, or `nil` |
//! | `ctx:defer()` | "thinking…" where the service has it |
//! | `ctx:user(id)`, `ctx:channel(id)` | look a user (`{ id, name, bot }`) or channel (`{ id, name, topic }`) up |
//! | `ctx.store:get(k)`, `:set(k, v)`, `:delete(k)`, `:list(prefix)` | the plugin's key-value store (any Lua value of strings, numbers, booleans and tables) |
//! | `ctx:publish(topic, data)` | an event for other plugins |
//! | `ctx:sleep(seconds)` | waits without holding a worker (at most 60 s) |
//!
//! A reply is a string, or a table `{ text =, embeds = {{ title =, description =, fields =
//! {{ name =, value = }}, image = }}, buttons = {{ label =, id = }}, file = { name =, data = },
//! ephemeral = true }`; `nil` sends nothing.
//!
//! Writes to the store are kept with the call and written when it ends well: a call that
//! fails, or hits a limit, leaves the store as it found it.

use mlua::{Lua, LuaSerdeExt, Table, UserData, UserDataFields, UserDataMethods, Value};
use regis_core::{ArgValue, Attachment, Ctx, Embed, Event, Reply, SentMessage, Subscription};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The longest a script may sleep in one call of `ctx:sleep`.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The store writes of one call, by key (`None`: deleted), written when the call ends well.
#[derive(Clone, Default)]
pub(crate) struct Writes(Arc<Mutex<BTreeMap<String, Option<serde_json::Value>>>>);

impl Writes {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Option<serde_json::Value>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes them to the plugin's store.
    pub(crate) async fn commit(&self, ctx: &Ctx) -> regis_core::Result<()> {
        let writes = std::mem::take(&mut *self.lock());
        for (key, value) in writes {
            match value {
                Some(value) => ctx.store().set(&key, &value).await?,
                None => {
                    ctx.store().delete(&key).await?;
                }
            }
        }
        Ok(())
    }
}

/// The context of one call, as long as the call runs. A script may keep `ctx` (in a global)
/// past its call: it then refuses to act, and it holds nothing of the bot (the plugin's state
/// holding the plugin would never be freed).
#[derive(Clone)]
pub(crate) struct CallCtx(Arc<Mutex<Option<Ctx>>>);

impl CallCtx {
    pub(crate) fn new(ctx: Ctx) -> CallCtx {
        CallCtx(Arc::new(Mutex::new(Some(ctx))))
    }

    fn get(&self) -> mlua::Result<Ctx> {
        let ctx = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        ctx.ok_or_else(|| mlua::Error::RuntimeError("this ctx belongs to a call that has ended".into()))
    }

    /// Ends the call: the context is dropped.
    pub(crate) fn end(&self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
    }
}

/// `ctx` in a handler.
pub(crate) struct LuaCtx {
    pub(crate) call: CallCtx,
    pub(crate) writes: Writes,
}

/// `ctx.store`.
struct LuaStore {
    call: CallCtx,
    writes: Writes,
}

fn external<E: std::fmt::Display>(e: E) -> mlua::Error {
    mlua::Error::RuntimeError(e.to_string())
}

fn user_table(lua: &Lua, id: &str, name: &str, key: &str) -> mlua::Result<Table> {
    let user = lua.create_table()?;
    user.set("id", id)?;
    user.set("name", name)?;
    user.set("key", key)?;
    Ok(user)
}

impl UserData for LuaCtx {
    fn add_fields<F: UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("author", |lua, this| {
            let ctx = this.call.get()?;
            let author = ctx.author();
            user_table(lua, &author.id, &author.name, &author.key())
        });
        fields.add_field_method_get("rank", |_, this| Ok(i64::from(this.call.get()?.rank().value())));
        fields.add_field_method_get("channel_id", |_, this| {
            Ok(this.call.get()?.envelope().channel.as_ref().map(|c| c.id.clone()))
        });
        fields.add_field_method_get("command", |_, this| Ok(this.call.get()?.command().map(str::to_string)));
        fields.add_field_method_get("store", |_, this| {
            Ok(LuaStore { call: this.call.clone(), writes: this.writes.clone() })
        });
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method("reply", |lua, this, reply: Value| async move {
            let reply = to_reply(&lua, reply)?;
            let sent = this.call.get()?.reply(reply).await.map_err(external)?;
            sent_table(&lua, &sent)
        });
        methods.add_async_method("say", |lua, this, (channel, reply): (String, Value)| async move {
            let reply = to_reply(&lua, reply)?;
            let sent = this.call.get()?.say(&channel, reply).await.map_err(external)?;
            sent_table(&lua, &sent)
        });
        methods.add_async_method("whisper", |lua, this, (user, reply): (String, Value)| async move {
            let reply = to_reply(&lua, reply)?;
            let sent = this.call.get()?.whisper(&user, reply).await.map_err(external)?;
            sent_table(&lua, &sent)
        });
        methods.add_async_method("upload", |lua, this, (name, data): (String, mlua::LuaString)| async move {
            let sent = this.call.get()?.upload(&name, data.as_bytes().to_vec()).await.map_err(external)?;
            sent_table(&lua, &sent)
        });
        methods.add_async_method("edit", |lua, this, (sent, reply): (Table, Value)| async move {
            let sent = SentMessage { id: sent.get("id")?, channel: sent.get("channel")? };
            let reply = to_reply(&lua, reply)?;
            this.call.get()?.edit(&sent, reply).await.map_err(external)
        });
        methods.add_method("subscribe", |_, this, topic: String| {
            Ok(LuaSubscription(Arc::new(tokio::sync::Mutex::new(this.call.get()?.subscribe(&topic)))))
        });
        methods
            .add_async_method("defer", |_, this, ()| async move { this.call.get()?.defer().await.map_err(external) });
        methods.add_async_method("user", |lua, this, id: String| async move {
            match this.call.get()?.user(&id).await.map_err(external)? {
                Some(user) => {
                    let table = user_table(&lua, &user.id, &user.name, &user.id)?;
                    table.set("bot", user.bot)?;
                    Ok(Value::Table(table))
                }
                None => Ok(Value::Nil),
            }
        });
        methods.add_async_method("channel", |lua, this, id: String| async move {
            match this.call.get()?.channel(&id).await.map_err(external)? {
                Some(channel) => {
                    let table = lua.create_table()?;
                    table.set("id", channel.id)?;
                    table.set("name", channel.name)?;
                    table.set("topic", channel.topic)?;
                    Ok(Value::Table(table))
                }
                None => Ok(Value::Nil),
            }
        });
        methods.add_async_method("publish", |lua, this, (topic, data): (String, Value)| async move {
            let data: serde_json::Value = lua.from_value(data)?;
            this.call.get()?.publish(&topic, &data).await.map_err(external)
        });
        methods.add_async_method("sleep", |_, _this, seconds: f64| async move {
            let wait = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(MAX_SLEEP).min(MAX_SLEEP);
            tokio::time::sleep(wait).await;
            Ok(())
        });
    }
}

impl UserData for LuaStore {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method("get", |lua, this, key: String| async move {
            let pending = this.writes.lock().get(&key).cloned();
            let value = match pending {
                Some(value) => value,
                None => this.call.get()?.store().get::<serde_json::Value>(&key).await.map_err(external)?,
            };
            match value {
                Some(value) => lua.to_value(&value),
                None => Ok(Value::Nil),
            }
        });
        methods.add_method("set", |lua, this, (key, value): (String, Value)| {
            this.call.get()?;
            let value: serde_json::Value = lua.from_value(value)?;
            let value = (!value.is_null()).then_some(value);
            this.writes.lock().insert(key, value);
            Ok(())
        });
        methods.add_method("delete", |_, this, key: String| {
            this.call.get()?;
            this.writes.lock().insert(key, None);
            Ok(())
        });
        methods.add_async_method("list", |lua, this, prefix: Option<String>| async move {
            let prefix = prefix.unwrap_or_default();
            let stored = this.call.get()?.store().list::<serde_json::Value>(&prefix).await.map_err(external)?;
            let mut all: BTreeMap<String, Option<serde_json::Value>> =
                stored.into_iter().map(|(k, v)| (k, Some(v))).collect();
            for (key, value) in this.writes.lock().iter().filter(|(k, _)| k.starts_with(&prefix)) {
                all.insert(key.clone(), value.clone());
            }
            let table = lua.create_table()?;
            for (key, value) in all {
                if let Some(value) = value {
                    table.set(key, lua.to_value(&value)?)?;
                }
            }
            Ok(table)
        });
    }
}

/// A sent message as `{ id =, channel = }`, for `ctx:edit`.
fn sent_table(lua: &Lua, sent: &SentMessage) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set("id", sent.id.as_str())?;
    table.set("channel", sent.channel.clone())?;
    Ok(table)
}

/// `ctx:subscribe(topic)`: the events of a topic from now on; `sub:next(seconds)` waits for
/// the next (`nil` when none came in time, at most 60 s).
struct LuaSubscription(Arc<tokio::sync::Mutex<Subscription>>);

impl UserData for LuaSubscription {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_async_method("next", |lua, this, seconds: f64| async move {
            let wait = Duration::try_from_secs_f64(seconds.max(0.0)).unwrap_or(MAX_SLEEP).min(MAX_SLEEP);
            let subscription = Arc::clone(&this.0);
            let mut subscription = subscription.lock().await;
            match tokio::time::timeout(wait, subscription.next()).await {
                Ok(Some(event)) => Ok(Value::Table(event_table(&lua, &event)?)),
                _ => Ok(Value::Nil),
            }
        });
    }
}

/// An event as `{ topic =, data =, author = { id, name, key } }`, for an `events` handler and
/// `sub:next`.
pub(crate) fn event_table(lua: &Lua, event: &Event) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    table.set("topic", event.topic.as_str())?;
    table.set("data", lua.to_value(&event.data)?)?;
    let author = &event.envelope.author;
    table.set("author", user_table(lua, &author.id, &author.name, &author.key())?)?;
    Ok(table)
}

/// A handler's arguments as a table by parameter name.
pub(crate) fn args_table(lua: &Lua, names: &[String], values: &[Option<ArgValue>]) -> mlua::Result<Table> {
    let table = lua.create_table()?;
    for (name, value) in names.iter().zip(values) {
        let value = match value {
            None => Value::Nil,
            Some(ArgValue::Str(s)) => Value::String(lua.create_string(s)?),
            Some(ArgValue::Int(i)) => Value::Integer(*i),
            Some(ArgValue::Num(n)) => Value::Number(*n),
            Some(ArgValue::Bool(b)) => Value::Boolean(*b),
            Some(ArgValue::User(user)) => Value::Table(user_table(lua, &user.id, &user.name, &user.key())?),
            Some(ArgValue::Channel(channel)) => {
                let table = lua.create_table()?;
                table.set("id", channel.id.as_str())?;
                table.set("name", channel.name.clone())?;
                Value::Table(table)
            }
        };
        table.set(name.as_str(), value)?;
    }
    Ok(table)
}

/// What a handler returned (or passed to `ctx:reply`), as a reply.
pub(crate) fn to_reply(lua: &Lua, value: Value) -> mlua::Result<Reply> {
    let bad = |what: &str| mlua::Error::RuntimeError(format!("a reply {what}"));
    match value {
        Value::Nil => Ok(Reply::default()),
        Value::String(s) => Ok(Reply::text(s.to_str()?.to_string())),
        Value::Integer(_) | Value::Number(_) | Value::Boolean(_) => {
            Ok(Reply::text(value.to_string().map_err(|_| bad("must be text"))?))
        }
        Value::Table(table) => {
            let mut reply = Reply::text(table.get::<Option<String>>("text")?.unwrap_or_default());
            reply.ephemeral = table.get::<Option<bool>>("ephemeral")?.unwrap_or(false);
            if let Some(embeds) = table.get::<Option<Table>>("embeds")? {
                for embed in embeds.sequence_values::<Table>() {
                    reply = reply.embed(to_embed(&embed?)?);
                }
            }
            if let Some(buttons) = table.get::<Option<Table>>("buttons")? {
                for button in buttons.sequence_values::<Table>() {
                    let button = button?;
                    let label: String = button.get("label").map_err(|_| bad("button needs a `label`"))?;
                    let id: String = button.get("id").map_err(|_| bad("button needs an `id`"))?;
                    reply = reply.button(label, id);
                }
            }
            if let Some(file) = table.get::<Option<Table>>("file")? {
                let name: String = file.get("name").map_err(|_| bad("file needs a `name`"))?;
                let data: mlua::LuaString = file.get("data").map_err(|_| bad("file needs its `data` as a string"))?;
                reply = reply.attach(Attachment::new(name, data.as_bytes().to_vec()));
            }
            let _ = lua;
            Ok(reply)
        }
        other => Err(bad(&format!("must be text or a table, not a {}", other.type_name()))),
    }
}

fn to_embed(table: &Table) -> mlua::Result<Embed> {
    let mut embed = Embed::titled(table.get::<Option<String>>("title")?.unwrap_or_default());
    if let Some(text) = table.get::<Option<String>>("description")? {
        embed = embed.description(text);
    }
    if let Some(fields) = table.get::<Option<Table>>("fields")? {
        for field in fields.sequence_values::<Table>() {
            let field = field?;
            embed = embed.field(field.get::<String>("name")?, field.get::<String>("value")?);
        }
    }
    if let Some(image) = table.get::<Option<String>>("image")? {
        embed = embed.image(image);
    }
    Ok(embed)
}
