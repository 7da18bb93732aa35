//! A Lua state for one plugin, with only what a hostile script may have.
//!
//! Loaded: the base library (without `dofile`, `loadfile`, and with `load` for text chunks
//! only and `collectgarbage` for counting only), `string` (without `string.dump`), `table`,
//! `math`, `utf8`, `coroutine`, and of `os` only `time`, `clock`, `date` and `difftime`. Not
//! loaded: `io`, `package` (so no `require` of native modules), `debug`. Each plugin has a
//! state of its own, so no plugin sees another's globals, storage or string metatable.
//!
//! `pcall`, `xpcall` and `coroutine.resume` re-raise the error of a limit the call has hit
//! instead of returning it (see `budget.rs`), so no loop of protected calls outlives a limit.

use crate::budget::{self, limit_error, Limit};
use crate::Limits;
use mlua::{HookTriggers, Lua, LuaOptions, MultiValue, StdLib, Value};

/// The Lua error message of an allocation refused for the memory limit.
const OUT_OF_MEMORY: &str = "not enough memory";

/// Replaces the protected calls with ones that keep a limit's error, and the loaders with
/// text-only ones; runs once in every new state, before the plugin's own code.
const PRELUDE: &str = r#"
local check, raw_pcall, raw_xpcall, raw_resume = ...
local raw_load, raw_collect = load, collectgarbage
pcall = function(f, ...) return check(raw_pcall(f, ...)) end
xpcall = function(f, handler, ...) return check(raw_xpcall(f, handler, ...)) end
coroutine.resume = function(co, ...) return check(raw_resume(co, ...)) end
load = function(chunk, name, mode, env)
  return raw_load(chunk, name, "t", env or _ENV)
end
collectgarbage = function(what)
  if what == nil or what == "count" then return raw_collect("count") end
  error("collectgarbage: only \"count\" is allowed in a script", 2)
end
dofile, loadfile, string.dump = nil, nil, nil
local os_time, os_clock, os_date, os_difftime = os.time, os.clock, os.date, os.difftime
os = { time = os_time, clock = os_clock, date = os_date, difftime = os_difftime }
"#;

/// A new state for plugin `plugin` (the name its `print` lines are logged under).
pub(crate) fn new_state(plugin: &str, limits: &Limits) -> mlua::Result<Lua> {
    let libs = StdLib::COROUTINE | StdLib::TABLE | StdLib::STRING | StdLib::UTF8 | StdLib::MATH | StdLib::OS;
    let lua = Lua::new_with(libs, LuaOptions::default())?;
    // Every thread of the state, the script's own coroutines included, runs the hook.
    lua.set_global_hook(HookTriggers::new().every_nth_instruction(budget::HOOK_EVERY), |lua, _| budget::hook(lua))?;
    let memory = limits.memory;
    let check = lua.create_function(move |_, results: MultiValue| {
        let Some(budget) = budget::current() else {
            return Err(mlua::Error::RuntimeError("stopped: no call is running".into()));
        };
        let failed = matches!(results.front(), Some(Value::Boolean(false)));
        let out_of_memory = failed
            && matches!(results.get(1), Some(Value::String(s)) if s.to_str().is_ok_and(|s| &*s == OUT_OF_MEMORY));
        if out_of_memory {
            budget.trip(Limit::Memory(memory));
        }
        match budget.tripped() {
            Some(limit) => Err(limit_error(limit)),
            None => Ok(results),
        }
    })?;
    let name = plugin.to_string();
    let print = lua.create_function(move |_, values: MultiValue| {
        let words: Vec<String> = values.iter().map(|v| v.to_string().unwrap_or_else(|_| "?".into())).collect();
        tracing::info!(plugin = %name, "script: {}", words.join("\t"));
        Ok(())
    })?;
    lua.globals().set("print", print)?;
    let globals = lua.globals();
    let coroutine: mlua::Table = globals.get("coroutine")?;
    let (pcall, xpcall, resume): (Value, Value, Value) =
        (globals.get("pcall")?, globals.get("xpcall")?, coroutine.get("resume")?);
    lua.load(PRELUDE).set_name("=regis").call::<()>((check, pcall, xpcall, resume))?;
    lua.set_memory_limit(limits.memory)?;
    Ok(lua)
}
