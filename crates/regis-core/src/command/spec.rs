//! The declared shape of a command, and its validation against Discord's limits.

use super::param::{Param, ParamShape, TextFormat};
use crate::cooldown::CooldownSpec;
use crate::rank::Rank;

/// The kind of value a parameter takes, with its limits.
#[derive(Clone, Debug, PartialEq)]
pub enum ParamKind {
    /// One word, or a "quoted string".
    String {
        /// Minimum length in characters.
        min_len: Option<u16>,
        /// Maximum length in characters.
        max_len: Option<u16>,
    },
    /// An integer, within the bounds if any.
    Integer {
        /// Smallest allowed value.
        min: Option<i64>,
        /// Largest allowed value.
        max: Option<i64>,
    },
    /// A number, within the bounds if any.
    Number {
        /// Smallest allowed value.
        min: Option<f64>,
        /// Largest allowed value.
        max: Option<f64>,
    },
    /// `true`/`false` (also yes/no, on/off, 1/0).
    Boolean,
    /// A user: a mention, a name or an id.
    User,
    /// A channel: a mention, a name or an id.
    Channel,
    /// One of a fixed set of values.
    Choice {
        /// The allowed values.
        choices: Vec<ChoiceOption>,
    },
    /// The rest of the line, verbatim; only as the last parameter.
    Rest,
}

/// One allowed value of a choice parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct ChoiceOption {
    /// What users see.
    pub name: String,
    /// What is typed and passed.
    pub value: String,
}

/// One parameter of a command.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// Name (lowercase), used in usage lines, `name=value` arguments and slash options.
    pub name: String,
    /// Description (from the `# Arguments` section of the doc comment).
    pub description: String,
    /// Kind and limits.
    pub kind: ParamKind,
    /// Whether it must be given.
    pub required: bool,
    /// Whether the plugin suggests values while the user types (Discord autocomplete).
    pub autocomplete: bool,
    /// For a [`crate::TextParam`] type: the format its words are checked against.
    pub format: Option<TextFormat>,
}

impl ParamSpec {
    /// The parameter `name` of Rust type `T`.
    pub fn of<T: Param>(name: &str, description: &str) -> Self {
        let ParamShape { kind, required } = T::shape();
        let description =
            if description.trim().is_empty() { name.replace('_', " ") } else { description.trim().to_string() };
        ParamSpec { name: name.to_string(), description, kind, required, autocomplete: false, format: T::text_format() }
    }

    /// Marks the parameter as offering suggestions (the plugin's `autocomplete` answers).
    pub fn autocomplete(mut self) -> Self {
        self.autocomplete = true;
        self
    }

    /// Narrows the lower bound (integers and numbers) or minimum length (strings).
    pub fn min(mut self, min: f64) -> Self {
        match &mut self.kind {
            ParamKind::Integer { min: m, .. } => {
                let v = min.ceil() as i64;
                *m = Some(m.map_or(v, |old| old.max(v)));
            }
            ParamKind::Number { min: m, .. } => *m = Some(m.map_or(min, |old| old.max(min))),
            ParamKind::String { min_len, .. } => *min_len = Some(min.max(0.0) as u16),
            _ => {}
        }
        self
    }

    /// Narrows the upper bound (integers and numbers) or maximum length (strings).
    pub fn max(mut self, max: f64) -> Self {
        match &mut self.kind {
            ParamKind::Integer { max: m, .. } => {
                let v = max.floor() as i64;
                *m = Some(m.map_or(v, |old| old.min(v)));
            }
            ParamKind::Number { max: m, .. } => *m = Some(m.map_or(max, |old| old.min(max))),
            ParamKind::String { max_len, .. } => *max_len = Some(max.max(0.0) as u16),
            _ => {}
        }
        self
    }

    /// How the parameter appears in a usage line: `<count>` or `[sides]`, choices spelled out.
    pub fn usage_token(&self) -> String {
        let inner = match &self.kind {
            ParamKind::Choice { choices } => {
                let values: Vec<&str> = choices.iter().map(|c| c.value.as_str()).collect();
                format!("{}: {}", self.name, values.join("|"))
            }
            ParamKind::Rest => format!("{}...", self.name),
            _ => self.name.clone(),
        };
        if self.required {
            format!("<{inner}>")
        } else {
            format!("[{inner}]")
        }
    }

    /// A short description of the accepted values, such as "integer 1..=20".
    pub fn kind_description(&self) -> String {
        fn range<T: std::fmt::Display>(min: &Option<T>, max: &Option<T>) -> String {
            match (min, max) {
                (Some(a), Some(b)) => format!(" {a}..={b}"),
                (Some(a), None) => format!(" >= {a}"),
                (None, Some(b)) => format!(" <= {b}"),
                (None, None) => String::new(),
            }
        }
        if let Some(format) = self.format {
            return format.what.into();
        }
        match &self.kind {
            ParamKind::String { min_len, max_len } => {
                let r = range(min_len, max_len);
                if r.is_empty() {
                    "text".into()
                } else {
                    format!("text, length{r}")
                }
            }
            ParamKind::Integer { min, max } => format!("integer{}", range(min, max)),
            ParamKind::Number { min, max } => format!("number{}", range(min, max)),
            ParamKind::Boolean => "yes/no".into(),
            ParamKind::User => "user".into(),
            ParamKind::Channel => "channel".into(),
            ParamKind::Choice { choices } => {
                let values: Vec<&str> = choices.iter().map(|c| c.value.as_str()).collect();
                format!("one of {}", values.join(", "))
            }
            ParamKind::Rest => "text to the end of the line".into(),
        }
    }
}

/// How commands are typed where one was asked: after the prefix in a message (`!roll 2d6` on
/// the console, IRC or in a Discord message), or as a Discord slash command (`/roll`). Help and
/// usage lines show commands in the syntax of the place they answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax<'a> {
    /// A message starting with this prefix (`!` by default).
    Prefix(&'a str),
    /// A Discord application (slash) command: subcommand words joined with `-`.
    Slash,
}

/// Everything Regis knows about one command: generated by `#[command]` from the function's
/// signature, doc comment and attribute.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandSpec {
    /// Name: one word, or two for a subcommand (`rank set`).
    pub name: String,
    /// First line of the doc comment: help summary and slash-command description.
    pub description: String,
    /// The rest of the doc comment.
    pub help: String,
    /// Parameters in order.
    pub params: Vec<ParamSpec>,
    /// Rank required to run it.
    pub rank: Rank,
    /// Other names for the prefix form.
    pub aliases: Vec<String>,
    /// Rate limit, such as `3 per 10s per user`.
    pub cooldown: Option<String>,
    /// Discord permissions (by Discord's names, `BAN_MEMBERS`) a server member needs for
    /// Discord to offer the command by default (`default_member_permissions`); server admins
    /// can change it in the server's settings. Regis still checks the rank.
    pub discord_permissions: Vec<String>,
    /// Only in servers: Discord does not offer it in direct messages (`contexts: [0]`).
    pub guild_only: bool,
}

/// A command declaration that breaks a rule; the message names the command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("command `{command}`: {problem}")]
pub struct SpecError {
    /// The command's name.
    pub command: String,
    /// What is wrong.
    pub problem: String,
}

impl CommandSpec {
    /// A command with a name and doc text; no parameters, rank 0.
    pub fn new(name: &str, description: &str, help: &str) -> Self {
        CommandSpec {
            name: name.to_string(),
            description: description.trim().to_string(),
            help: help.trim().to_string(),
            params: Vec::new(),
            rank: Rank::EVERYONE,
            aliases: Vec::new(),
            cooldown: None,
            discord_permissions: Vec::new(),
            guild_only: false,
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, param: ParamSpec) -> Self {
        self.params.push(param);
        self
    }

    /// Sets the required rank (out-of-range values are reported by [`CommandSpec::validate`]).
    pub fn rank(mut self, rank: i64) -> Self {
        self.rank = Rank::new(rank).unwrap_or(Rank::INVALID);
        self
    }

    /// Adds aliases.
    pub fn aliases(mut self, aliases: &[&str]) -> Self {
        self.aliases.extend(aliases.iter().map(|a| a.to_string()));
        self
    }

    /// Sets the cooldown.
    pub fn cooldown(mut self, cooldown: &str) -> Self {
        self.cooldown = Some(cooldown.to_string());
        self
    }

    /// Sets the Discord permissions a member needs for Discord to offer the command by
    /// default (unknown names are reported by [`CommandSpec::validate`]).
    pub fn discord_permissions(mut self, names: &[&str]) -> Self {
        self.discord_permissions.extend(names.iter().map(|n| n.to_string()));
        self
    }

    /// Offers the command only in servers, not in direct messages.
    pub fn guild_only(mut self) -> Self {
        self.guild_only = true;
        self
    }

    /// How the command is typed in `syntax`: `!rank set` after a prefix, `/rank-set` as a
    /// Discord slash command.
    pub fn invocation(&self, syntax: Syntax<'_>) -> String {
        match syntax {
            Syntax::Prefix(prefix) => format!("{prefix}{}", self.name),
            Syntax::Slash => format!("/{}", self.discord_name()),
        }
    }

    /// The usage line, such as `!roll [dice]` or, as a slash command, `/roll [dice]`.
    pub fn usage(&self, syntax: Syntax<'_>) -> String {
        let mut line = self.invocation(syntax);
        for p in &self.params {
            line.push(' ');
            line.push_str(&p.usage_token());
        }
        line
    }

    /// Checks the declaration against Discord's application-command limits and Regis' own
    /// rules, so a bad command fails at plugin registration with a clear message.
    pub fn validate(&self) -> Result<(), SpecError> {
        let fail = |problem: String| Err(SpecError { command: self.name.clone(), problem });
        let words: Vec<&str> = self.name.split(' ').collect();
        if words.len() > 2 {
            return fail("a name has at most two words (command and subcommand)".into());
        }
        for word in &words {
            if let Err(problem) = check_name(word) {
                return fail(format!("name {problem}"));
            }
        }
        for alias in &self.aliases {
            if let Err(problem) = check_name(alias) {
                return fail(format!("alias `{alias}` {problem}"));
            }
        }
        if self.rank == Rank::INVALID {
            return fail("rank must be between -1 and 999".into());
        }
        if let Err(problem) = check_description(&self.description) {
            return fail(format!("description (first doc line) {problem}"));
        }
        if self.params.len() > 25 {
            return fail(format!("has {} parameters; Discord allows at most 25", self.params.len()));
        }
        if let Some(cooldown) = &self.cooldown {
            if let Err(e) = cooldown.parse::<CooldownSpec>() {
                return fail(format!("cooldown: {e}"));
            }
        }
        for name in &self.discord_permissions {
            if super::schema::discord_permission(name).is_none() {
                let hint = crate::suggest::closest(name, super::schema::DISCORD_PERMISSIONS.iter().map(|(n, _)| *n))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return fail(format!("`{name}` is not a Discord permission{hint}"));
            }
        }
        let mut seen_optional = false;
        for (i, p) in self.params.iter().enumerate() {
            if let Err(problem) = check_name(&p.name) {
                return fail(format!("parameter `{}` name {problem}", p.name));
            }
            if self.params[..i].iter().any(|q| q.name == p.name) {
                return fail(format!("parameter `{}` is declared twice", p.name));
            }
            if let Err(problem) = check_description(&p.description) {
                return fail(format!("parameter `{}` description {problem}", p.name));
            }
            if p.required && seen_optional {
                return fail(format!(
                    "required parameter `{}` follows an optional one; Discord requires required options first",
                    p.name
                ));
            }
            seen_optional |= !p.required;
            if p.autocomplete
                && !matches!(
                    p.kind,
                    ParamKind::String { .. } | ParamKind::Rest | ParamKind::Integer { .. } | ParamKind::Number { .. }
                )
            {
                return fail(format!("parameter `{}`: only text and number parameters can autocomplete", p.name));
            }
            if p.kind == ParamKind::Rest && i + 1 != self.params.len() {
                return fail(format!("rest-of-line parameter `{}` must be the last", p.name));
            }
            match &p.kind {
                ParamKind::Integer { min: Some(a), max: Some(b) } if a > b => {
                    return fail(format!("parameter `{}` has min {a} > max {b}", p.name));
                }
                ParamKind::Number { min: Some(a), max: Some(b) } if a > b => {
                    return fail(format!("parameter `{}` has min {a} > max {b}", p.name));
                }
                ParamKind::String { min_len, max_len } => {
                    if min_len.is_some_and(|m| m > 6000) || max_len.is_some_and(|m| m == 0 || m > 6000) {
                        return fail(format!("parameter `{}` length limits must lie in 0..=6000 (max >= 1)", p.name));
                    }
                    if let (Some(a), Some(b)) = (min_len, max_len) {
                        if a > b {
                            return fail(format!("parameter `{}` has min length {a} > max length {b}", p.name));
                        }
                    }
                }
                ParamKind::Choice { choices } => {
                    if choices.is_empty() || choices.len() > 25 {
                        return fail(format!(
                            "parameter `{}` has {} choices; Discord allows 1 to 25",
                            p.name,
                            choices.len()
                        ));
                    }
                    for c in choices {
                        if c.name.is_empty() || c.name.chars().count() > 100 || c.value.chars().count() > 100 {
                            return fail(format!(
                                "parameter `{}` choice `{}`: names and values must be 1-100 characters",
                                p.name, c.name
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Discord's rule for slash-command and option names (`^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$`,
/// in lowercase where a letter has a lowercase form): 1-32 letters of any script, digits, `-`,
/// `_` and `'`.
fn check_name(name: &str) -> Result<(), String> {
    let len = name.chars().count();
    if !(1..=32).contains(&len) {
        return Err(format!("`{name}` must be 1-32 characters, has {len}"));
    }
    let allowed = |c: char| {
        let script = matches!(c as u32, 0x0900..=0x097F | 0x0E00..=0x0E7F);
        (c.is_alphanumeric() || script || matches!(c, '-' | '_' | '\'')) && c.to_lowercase().eq(std::iter::once(c))
    };
    if let Some(bad) = name.chars().find(|c| !allowed(*c)) {
        return Err(format!("`{name}` may only hold lowercase letters, digits, `-`, `_` and `'` (found `{bad}`)"));
    }
    Ok(())
}

fn check_description(text: &str) -> Result<(), String> {
    let len = text.chars().count();
    if (1..=100).contains(&len) {
        Ok(())
    } else {
        Err(format!("must be 1-100 characters, has {len}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Rest;

    fn roll() -> CommandSpec {
        CommandSpec::new("roll", "Roll dice.", "")
            .param(ParamSpec::of::<Option<u8>>("count", "how many dice").min(1.0).max(20.0))
            .param(ParamSpec::of::<Option<u16>>("sides", ""))
    }

    #[test]
    fn usage_line_comes_from_the_signature() {
        assert_eq!(roll().usage(Syntax::Prefix("!")), "!roll [count] [sides]");
        assert_eq!(roll().usage(Syntax::Slash), "/roll [count] [sides]");
        let say = CommandSpec::new("say", "Say it.", "")
            .param(ParamSpec::of::<String>("channel", "where"))
            .param(ParamSpec::of::<Rest>("text", "what"));
        assert_eq!(say.usage(Syntax::Prefix("!")), "!say <channel> <text...>");
        let rank_set = CommandSpec::new("rank set", "Set a rank.", "").param(ParamSpec::of::<i32>("rank", ""));
        assert_eq!(rank_set.usage(Syntax::Prefix("?")), "?rank set <rank>");
        assert_eq!(rank_set.usage(Syntax::Slash), "/rank-set <rank>");
    }

    #[test]
    fn integer_bounds_intersect_type_range() {
        let spec = roll();
        assert_eq!(spec.params[0].kind, ParamKind::Integer { min: Some(1), max: Some(20) });
        assert_eq!(spec.params[1].kind, ParamKind::Integer { min: Some(0), max: Some(65535) });
        assert_eq!(spec.params[1].description, "sides");
        assert!(spec.validate().is_ok());
    }

    #[test]
    fn names_follow_discords_pattern() {
        for good in ["roll", "dé", "サイコロ", "don't", "a-b_c", "रोल", "x1"] {
            assert_eq!(check_name(good), Ok(()), "{good}");
        }
        for bad in ["Roll", "two words", "roll!", "", &"x".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn discord_limits_are_enforced_with_the_command_named() {
        let long = "x".repeat(101);
        let cases = vec![
            (CommandSpec::new("Roll", "d", ""), "lowercase"),
            (CommandSpec::new(&"a".repeat(33), "d", ""), "1-32"),
            (CommandSpec::new("roll", "", ""), "description"),
            (CommandSpec::new("roll", &long, ""), "1-100"),
            (
                CommandSpec::new("roll", "d", "")
                    .param(ParamSpec::of::<Option<u8>>("a", "a"))
                    .param(ParamSpec::of::<u8>("b", "b")),
                "required parameter `b` follows",
            ),
            (CommandSpec::new("roll", "d", "").param(ParamSpec::of::<u8>("a", "a").min(9.0).max(3.0)), "min 9 > max 3"),
            (CommandSpec::new("roll", "d", "").rank(1000), "rank"),
            (CommandSpec::new("roll", "d", "").cooldown("often"), "cooldown"),
        ];
        for (spec, needle) in cases {
            let err = spec.validate().expect_err(needle).to_string();
            assert!(err.contains("command `"), "{err}");
            assert!(err.contains(needle), "{err} should mention {needle}");
        }
        let mut many = CommandSpec::new("many", "d", "");
        for i in 0..26 {
            many = many.param(ParamSpec::of::<Option<u8>>(&format!("p{i}"), "x"));
        }
        assert!(many.validate().unwrap_err().to_string().contains("at most 25"));
    }
}
