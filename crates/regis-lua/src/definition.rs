//! What a script declares: the table its file returns, read into the same command specs that
//! native plugins declare with `#[command]`.
//!
//! ```lua
//! return {
//!   name = "greet",                       -- optional: the file's name without `.lua`
//!   description = "Greetings.",
//!   commands = {
//!     {
//!       name = "greet", description = "Greet someone.", help = "Longer help.",
//!       rank = 0, cooldown = "3 per 10s per user", aliases = { "hi" },
//!       params = {
//!         { name = "who", type = "user", description = "whom to greet" },
//!         { name = "times", type = "integer", min = 1, max = 3, optional = true },
//!       },
//!       run = function(ctx, args) return "hello " .. args.who.name end,
//!     },
//!   },
//!   buttons = { vote = function(ctx, id) return ctx.author.name .. " votes " .. id end },
//!   events = { message = function(ctx, event) end },
//! }
//! ```

use mlua::{Function, Table, Value};
use regis_core::{ChoiceOption, CommandSpec, ParamKind, ParamSpec, PluginMeta};

/// A script's declaration, with its handler functions.
pub(crate) struct Definition {
    pub(crate) meta: PluginMeta,
    pub(crate) commands: Vec<(CommandSpec, Function)>,
    /// Suggestion functions by (command, parameter).
    pub(crate) suggestions: Vec<((String, String), Function)>,
    /// Button handlers by id prefix (`vote` takes `vote` and `vote:...`).
    pub(crate) buttons: Vec<(String, Function)>,
    /// Event handlers by topic.
    pub(crate) events: Vec<(String, Function)>,
}

/// A declaration that cannot be used; the message says which field and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DefinitionError(pub String);

fn field<T: mlua::FromLua>(table: &Table, key: &str, at: &str) -> Result<T, DefinitionError> {
    table.get::<T>(key).map_err(|e| DefinitionError(format!("{at}: `{key}`: {}", short(&e))))
}

/// The first line of an mlua conversion error, without its Rust type names.
fn short(error: &mlua::Error) -> String {
    match error {
        mlua::Error::FromLuaConversionError { from, to, message } => {
            format!("expected {to}, got {from}{}", message.as_deref().map(|m| format!(" ({m})")).unwrap_or_default())
        }
        other => other.to_string().lines().next().unwrap_or_default().to_string(),
    }
}

impl Definition {
    /// Reads the table a script returned; `default_name` is its file's name.
    pub(crate) fn read(value: Value, default_name: &str) -> Result<Definition, DefinitionError> {
        let Value::Table(table) = value else {
            return Err(DefinitionError(format!(
                "the script must return a table declaring the plugin (got {})",
                value.type_name()
            )));
        };
        let name: Option<String> = field(&table, "name", "the plugin")?;
        let name = name.unwrap_or_else(|| default_name.to_string());
        let description: Option<String> = field(&table, "description", "the plugin")?;
        let meta = PluginMeta {
            name: name.clone(),
            description: description.unwrap_or_else(|| format!("Script plugin {name}.")),
            migrations: Vec::new(),
        };
        let mut definition =
            Definition { meta, commands: Vec::new(), suggestions: Vec::new(), buttons: Vec::new(), events: Vec::new() };
        let commands: Option<Table> = field(&table, "commands", "the plugin")?;
        for (index, command) in commands.iter().flat_map(|t| t.sequence_values::<Table>()).enumerate() {
            let command = command
                .map_err(|e| DefinitionError(format!("command #{}: must be a table ({})", index + 1, short(&e))))?;
            definition.read_command(&command, index)?;
        }
        for (key, target) in [("buttons", &mut definition.buttons), ("events", &mut definition.events)] {
            let handlers: Option<Table> = field(&table, key, "the plugin")?;
            for pair in handlers.iter().flat_map(|t| t.pairs::<String, Function>()) {
                let (id, handler) = pair.map_err(|e| {
                    DefinitionError(format!("`{key}`: each entry must be name = function ({})", short(&e)))
                })?;
                target.push((id, handler));
            }
        }
        // The longest button ids first, so that `vote:yes` wins over `vote`.
        definition.buttons.sort_by_key(|(id, _)| std::cmp::Reverse(id.len()));
        Ok(definition)
    }

    fn read_command(&mut self, command: &Table, index: usize) -> Result<(), DefinitionError> {
        let at = format!("command #{}", index + 1);
        let name: String = field(command, "name", &at)?;
        let at = format!("command `{name}`");
        let description: Option<String> = field(command, "description", &at)?;
        let help: Option<String> = field(command, "help", &at)?;
        let description = description
            .ok_or_else(|| DefinitionError(format!("{at}: `description` is required (help and Discord show it)")))?;
        let mut spec = CommandSpec::new(&name, &description, help.as_deref().unwrap_or_default());
        if let Some(rank) = field::<Option<i64>>(command, "rank", &at)? {
            spec = spec.rank(rank);
        }
        if let Some(cooldown) = field::<Option<String>>(command, "cooldown", &at)? {
            spec = spec.cooldown(&cooldown);
        }
        if let Some(aliases) = field::<Option<Vec<String>>>(command, "aliases", &at)? {
            spec.aliases = aliases;
        }
        let params: Option<Table> = field(command, "params", &at)?;
        for (i, param) in params.iter().flat_map(|t| t.sequence_values::<Table>()).enumerate() {
            let param = param.map_err(|e| DefinitionError(format!("{at}: parameter #{}: {}", i + 1, short(&e))))?;
            let (param, suggest) = read_param(&param, &at, i)?;
            if let Some(suggest) = suggest {
                self.suggestions.push(((name.clone(), param.name.clone()), suggest));
            }
            spec = spec.param(param);
        }
        let run: Function = match command.get::<Value>("run") {
            Ok(Value::Function(f)) => f,
            _ => return Err(DefinitionError(format!("{at}: `run` must be the function that handles it"))),
        };
        spec.validate().map_err(|e| DefinitionError(e.to_string()))?;
        self.commands.push((spec, run));
        Ok(())
    }
}

/// One parameter, and its suggestion function if it has one.
fn read_param(param: &Table, command: &str, index: usize) -> Result<(ParamSpec, Option<Function>), DefinitionError> {
    let at = format!("{command}: parameter #{}", index + 1);
    let name: String = field(param, "name", &at)?;
    let at = format!("{command}: parameter `{name}`");
    let kind_name: Option<String> = field(param, "type", &at)?;
    let kind_name = kind_name.unwrap_or_else(|| "string".to_string());
    let min: Option<f64> = field(param, "min", &at)?;
    let max: Option<f64> = field(param, "max", &at)?;
    let kind = match kind_name.as_str() {
        "string" => ParamKind::String { min_len: None, max_len: None },
        "integer" => ParamKind::Integer { min: None, max: None },
        "number" => ParamKind::Number { min: None, max: None },
        "boolean" => ParamKind::Boolean,
        "user" => ParamKind::User,
        "channel" => ParamKind::Channel,
        "rest" => ParamKind::Rest,
        "choice" => {
            let values: Option<Vec<String>> = field(param, "choices", &at)?;
            let values = values
                .filter(|v| !v.is_empty())
                .ok_or_else(|| DefinitionError(format!("{at}: a `choice` needs `choices`, a list of words")))?;
            ParamKind::Choice {
                choices: values.into_iter().map(|v| ChoiceOption { name: v.clone(), value: v }).collect(),
            }
        }
        other => {
            return Err(DefinitionError(format!(
                "{at}: unknown type `{other}` (string, integer, number, boolean, user, channel, choice, rest)"
            )))
        }
    };
    let description: Option<String> = field(param, "description", &at)?;
    let optional: Option<bool> = field(param, "optional", &at)?;
    let mut spec = ParamSpec {
        description: description.unwrap_or_else(|| name.replace('_', " ")),
        name,
        kind,
        required: !optional.unwrap_or(false),
        autocomplete: false,
        format: None,
    };
    if let Some(min) = min {
        spec = spec.min(min);
    }
    if let Some(max) = max {
        spec = spec.max(max);
    }
    let suggest = match param.get::<Value>("autocomplete") {
        Ok(Value::Function(f)) => Some(f),
        Ok(Value::Nil) => None,
        _ => return Err(DefinitionError(format!("{at}: `autocomplete` must be a function (ctx, partial)"))),
    };
    if suggest.is_some() {
        spec = spec.autocomplete();
    }
    Ok((spec, suggest))
}
