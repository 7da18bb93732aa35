//! A script file as a [`Plugin`]: its commands in help and dispatch like native ones, each call
//! run in the plugin's own sandboxed state under the call's budget.

use crate::api::{args_table, event_table, to_reply, CallCtx, LuaCtx, Writes};
use crate::budget::{Budget, Failure, Limit, Running, Tracked};
use crate::definition::{Definition, DefinitionError};
use crate::sandbox;
use crate::Limits;
use mlua::{Function, Lua, LuaSerdeExt, Value};
use regis_core::{Args, BoxFuture, CommandSpec, Ctx, Event, Plugin, PluginMeta, Reply, Result};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// Why a script could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read script {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The script does not compile, or raised an error while it ran to declare the plugin
    /// (the message has the file and line).
    #[error("script {path}: {message}")]
    Lua {
        /// The file.
        path: PathBuf,
        /// Lua's message, `file.lua:LINE: ...`.
        message: String,
    },
    /// What it declares cannot be used.
    #[error("script {path}: {source}")]
    Definition {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: DefinitionError,
    },
    /// Declaring the plugin hit a limit (an endless loop at the top of the file).
    #[error("script {path}: stopped while loading: it reached {limit}")]
    Limit {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: Limit,
    },
}

/// One loaded version of a script: its state and what it declared.
struct Runtime {
    lua: Lua,
    definition: Definition,
}

/// A Lua script plugin, loaded from a `.lua` file.
pub struct ScriptPlugin {
    path: PathBuf,
    source: String,
    limits: Limits,
    meta: PluginMeta,
    commands: Vec<CommandSpec>,
    runtime: RwLock<Arc<Runtime>>,
    /// Set once the plugin was unloaded or replaced and its calls outlived the grace period:
    /// they end at once, even while they wait.
    stop: tokio::sync::watch::Sender<bool>,
}

impl std::fmt::Debug for ScriptPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScriptPlugin").field("name", &self.meta.name).field("path", &self.path).finish()
    }
}

/// A script's name from its file: `greet.lua` is `greet`.
fn default_name(path: &Path) -> String {
    path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "script".into())
}

/// Lua's message for an error, without mlua's wrapping and traceback.
pub(crate) fn lua_message(error: &mlua::Error) -> String {
    match error {
        mlua::Error::CallbackError { cause, .. } => lua_message(cause),
        mlua::Error::WithContext { cause, .. } => lua_message(cause),
        mlua::Error::RuntimeError(m) | mlua::Error::SyntaxError { message: m, .. } => {
            // The traceback is for the log of a developer, not for the chat.
            m.split("\nstack traceback:").next().unwrap_or(m).to_string()
        }
        mlua::Error::MemoryError(m) => m.clone(),
        other => other.to_string(),
    }
}

impl ScriptPlugin {
    /// Loads the script at `path` with `limits`.
    pub fn load(path: impl AsRef<Path>, limits: Limits) -> std::result::Result<ScriptPlugin, LoadError> {
        let path = path.as_ref().to_path_buf();
        let source = std::fs::read_to_string(&path).map_err(|source| LoadError::Read { path: path.clone(), source })?;
        ScriptPlugin::from_source(path, source, limits)
    }

    /// A plugin from a script's text; `path` names it in messages (and its file name is the
    /// plugin's name unless the script says another).
    pub fn from_source(
        path: impl AsRef<Path>,
        source: String,
        limits: Limits,
    ) -> std::result::Result<ScriptPlugin, LoadError> {
        let path = path.as_ref().to_path_buf();
        let runtime = build(&path, &source, &limits)?;
        let meta = runtime.definition.meta.clone();
        let commands = runtime.definition.commands.iter().map(|(spec, _)| spec.clone()).collect();
        let runtime = RwLock::new(Arc::new(runtime));
        Ok(ScriptPlugin { path, source, limits, meta, commands, runtime, stop: tokio::sync::watch::Sender::new(false) })
    }

    /// The file it was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn runtime(&self) -> Arc<Runtime> {
        Arc::clone(&self.runtime.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// After a limit: the state is thrown away and built again from the script, so nothing a
    /// runaway call left behind (memory, half-changed globals) stays.
    fn rebuild(&self) {
        match build(&self.path, &self.source, &self.limits) {
            Ok(runtime) => *self.runtime.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(runtime),
            Err(e) => tracing::error!(plugin = %self.meta.name, "cannot rebuild the script's state: {e}"),
        }
    }

    /// Runs `pick`'s function of the current state with the call's `ctx` and the argument
    /// `make_arg` makes, under a budget; the result converted by `convert`, the store's writes
    /// committed if all went well.
    async fn call<T>(
        &self,
        ctx: &Ctx,
        pick: impl FnOnce(&Definition) -> Option<Function>,
        make_arg: impl FnOnce(&Lua) -> mlua::Result<Value>,
        convert: impl FnOnce(&Lua, Value) -> mlua::Result<T>,
    ) -> Result<Option<T>> {
        let runtime = self.runtime();
        let Some(function) = pick(&runtime.definition) else { return Ok(None) };
        let writes = Writes::default();
        let call = CallCtx::new(ctx.clone());
        // However the call ends (or is dropped), its `ctx` lets go of the bot.
        struct End(CallCtx);
        impl Drop for End {
            fn drop(&mut self) {
                self.0.end();
            }
        }
        let _end = End(call.clone());
        let budget = Budget::new(self.limits.instructions, self.limits.time);
        let lua = &runtime.lua;
        let start = || -> mlua::Result<_> {
            let thread = lua.create_thread(function)?;
            budget.set_thread(thread.to_pointer());
            let args = {
                let _running = Running::enter(&budget);
                let lua_ctx = lua.create_userdata(LuaCtx { call: call.clone(), writes: writes.clone() })?;
                (lua_ctx, make_arg(lua)?)
            };
            thread.into_async::<Value>(args)
        };
        let outcome = start();
        let result = match outcome {
            Ok(future) => {
                let mut stop = self.stop.subscribe();
                let stopped = async move {
                    if stop.wait_for(|stopped| *stopped).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    result = Tracked::new(Arc::clone(&budget), future) => result,
                    () = stopped => Err(Failure::Stopped),
                }
            }
            Err(e) => Err(Failure::Lua(e)),
        };
        let value = match result {
            Ok(value) => value,
            Err(Failure::Limit(limit)) => return Err(self.stopped(limit)),
            Err(Failure::Lua(mlua::Error::MemoryError(_))) => {
                return Err(self.stopped(Limit::Memory(self.limits.memory)))
            }
            Err(Failure::Lua(e)) => return Err(lua_message(&e).into()),
            Err(Failure::Stopped) => {
                return Err(format!("script plugin `{}` was unloaded while this ran", self.meta.name).into())
            }
        };
        let converted = {
            let _running = Running::enter(&budget);
            convert(lua, value)
        };
        let converted = converted.map_err(|e| lua_message(&e))?;
        writes.commit(ctx).await?;
        Ok(Some(converted))
    }

    fn stopped(&self, limit: Limit) -> regis_core::Error {
        tracing::warn!(plugin = %self.meta.name, "script stopped: it reached {limit}; its state is rebuilt");
        self.rebuild();
        format!("script plugin `{}` was stopped: it reached {limit}", self.meta.name).into()
    }
}

/// Runs the script to get its declaration, in a new state, under a budget of its own.
fn build(path: &Path, source: &str, limits: &Limits) -> std::result::Result<Runtime, LoadError> {
    let lua_error = |e: mlua::Error| LoadError::Lua { path: path.to_path_buf(), message: lua_message(&e) };
    let name = default_name(path);
    let lua = sandbox::new_state(&name, limits).map_err(lua_error)?;
    let budget = Budget::new(limits.instructions, limits.time);
    let chunk_name = format!("@{}", path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default());
    let value = {
        let _running = Running::enter(&budget);
        lua.load(source).set_name(chunk_name).set_mode(mlua::chunk::ChunkMode::Text).eval::<Value>()
    };
    if let Some(limit) = budget.tripped() {
        return Err(LoadError::Limit { path: path.to_path_buf(), limit });
    }
    let value = value.map_err(lua_error)?;
    let definition =
        Definition::read(value, &name).map_err(|source| LoadError::Definition { path: path.to_path_buf(), source })?;
    Ok(Runtime { lua, definition })
}

impl Plugin for ScriptPlugin {
    fn meta(&self) -> PluginMeta {
        self.meta.clone()
    }

    fn commands(&self) -> Vec<CommandSpec> {
        self.commands.clone()
    }

    fn invoke<'a>(&'a self, ctx: &'a Ctx, command: &'a str, args: Args) -> BoxFuture<'a, Result<Reply>> {
        Box::pin(async move {
            let names: Vec<String> = self
                .commands
                .iter()
                .find(|c| c.name == command)
                .map(|c| c.params.iter().map(|p| p.name.clone()).collect())
                .unwrap_or_default();
            let reply = self
                .call(
                    ctx,
                    |d| d.commands.iter().find(|(spec, _)| spec.name == command).map(|(_, f)| f.clone()),
                    |lua| Ok(Value::Table(args_table(lua, &names, args.values())?)),
                    to_reply,
                )
                .await?;
            reply.ok_or_else(|| format!("script plugin `{}` has no command `{command}`", self.meta.name).into())
        })
    }

    fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn subscriptions(&self) -> Vec<String> {
        self.runtime().definition.events.iter().map(|(topic, _)| topic.clone()).collect()
    }

    fn autocomplete<'a>(
        &'a self,
        ctx: &'a Ctx,
        command: &'a str,
        param: &'a str,
        partial: &'a str,
    ) -> BoxFuture<'a, Result<Vec<String>>> {
        Box::pin(async move {
            let suggestions = self
                .call(
                    ctx,
                    |d| d.suggestions.iter().find(|((c, p), _)| c == command && p == param).map(|(_, f)| f.clone()),
                    |lua| Ok(Value::String(lua.create_string(partial)?)),
                    |lua, value| lua.from_value::<Option<Vec<String>>>(value).map(Option::unwrap_or_default),
                )
                .await?;
            Ok(suggestions.unwrap_or_default())
        })
    }

    fn on_component<'a>(&'a self, ctx: &'a Ctx, custom_id: &'a str) -> BoxFuture<'a, Result<Option<Reply>>> {
        Box::pin(async move {
            let matches = |id: &str| custom_id == id || custom_id.strip_prefix(id).is_some_and(|r| r.starts_with(':'));
            self.call(
                ctx,
                |d| d.buttons.iter().find(|(id, _)| matches(id)).map(|(_, f)| f.clone()),
                |lua| Ok(Value::String(lua.create_string(custom_id)?)),
                to_reply,
            )
            .await
        })
    }

    fn on_event<'a>(&'a self, ctx: &'a Ctx, event: &'a Event) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            self.call(
                ctx,
                |d| d.events.iter().find(|(topic, _)| *topic == event.topic).map(|(_, f)| f.clone()),
                |lua| Ok(Value::Table(event_table(lua, event)?)),
                |_, _| Ok(()),
            )
            .await?;
            Ok(())
        })
    }
}
