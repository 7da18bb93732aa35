//! The prefix-command parser (`!roll 2 6`, `"quoted strings"`, `name=value`, mentions) and the
//! conversion of structured options (slash commands) into the same [`Args`].

use super::param::{ArgError, ArgValue, Args};
use super::spec::{ParamKind, ParamSpec};
use crate::envelope::{check_user_id, clean_display_name, is_connector_name, ChannelRef, UserRef};

/// One word of a command line, with its byte span in the line (quotes included).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    /// The word, without surrounding quotes and with escapes resolved.
    pub text: String,
    /// Byte offset where it starts (at the opening quote, if quoted).
    pub start: usize,
    /// Whether it was quoted (a quoted word is never read as `name=value`).
    pub quoted: bool,
}

/// Splits a line into words; `"double quotes"` (or “curly quotes”) group words and `\"` escapes
/// a quote inside them.
pub fn tokenize(line: &str) -> Result<Vec<Token>, ArgError> {
    let mut tokens = Vec::new();
    let mut chars = line.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' || c == '“' {
            let close = if c == '"' { '"' } else { '”' };
            chars.next();
            let mut text = String::new();
            let mut closed = false;
            while let Some((_, ch)) = chars.next() {
                if ch == '\\' {
                    if let Some(&(_, next)) = chars.peek() {
                        if next == '"' || next == '\\' || next == close {
                            text.push(next);
                            chars.next();
                            continue;
                        }
                    }
                    text.push(ch);
                } else if ch == close || (close == '”' && ch == '"') {
                    closed = true;
                    break;
                } else {
                    text.push(ch);
                }
            }
            if !closed {
                return Err(ArgError::UnterminatedQuote);
            }
            tokens.push(Token { text, start, quoted: true });
        } else {
            let mut text = String::new();
            while let Some(&(_, ch)) = chars.peek() {
                if ch.is_whitespace() {
                    break;
                }
                text.push(ch);
                chars.next();
            }
            tokens.push(Token { text, start, quoted: false });
        }
    }
    Ok(tokens)
}

/// If `text` is a prefix command (`!roll 2`), the part after the prefix.
pub fn split_invocation<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = text.trim_start().strip_prefix(prefix)?;
    match rest.chars().next() {
        Some(c) if !c.is_whitespace() => Some(rest),
        _ => None,
    }
}

/// Parses the arguments of a prefix command against its parameters. Words fill parameters in
/// order; `name=value` sets a parameter by name; an optional parameter whose value does not
/// fit is skipped (so `!mando bezier` reaches `style`); a rest-of-line parameter takes the
/// remaining text verbatim. `source` is the connector, for user and channel values.
pub fn parse_prefix_args(params: &[ParamSpec], line: &str, source: &str) -> Result<Args, ArgError> {
    let tokens = tokenize(line)?;
    let mut values: Vec<Option<ArgValue>> = vec![None; params.len()];
    let mut positional: Vec<&Token> = Vec::new();
    for token in &tokens {
        if let Some((i, value)) = keyword(params, token) {
            if values[i].is_some() {
                return Err(ArgError::Invalid { param: params[i].name.clone(), problem: "is given twice".into() });
            }
            values[i] = Some(convert_text(&params[i], value, source)?);
        } else {
            positional.push(token);
        }
    }
    let mut next = 0;
    let mut skipped: Option<ArgError> = None;
    for (i, param) in params.iter().enumerate() {
        if values[i].is_some() {
            continue;
        }
        if param.kind == ParamKind::Rest {
            if let Some(token) = positional.get(next) {
                values[i] = Some(ArgValue::Str(line[token.start..].trim_end().to_string()));
                next = positional.len();
            }
        } else if let Some(token) = positional.get(next) {
            match convert_text(param, &token.text, source) {
                Ok(value) => {
                    values[i] = Some(value);
                    next += 1;
                }
                // A word of another type may belong to a later parameter; a word of the right
                // type but out of range is an error, never a reason to move on.
                Err(e) if !param.required && !fits_type(param, &token.text) => {
                    skipped.get_or_insert(e);
                }
                Err(e) => return Err(e),
            }
        }
        if values[i].is_none() && param.required {
            return Err(ArgError::Missing(param.name.clone()));
        }
    }
    if let Some(extra) = positional.get(next) {
        return Err(skipped.unwrap_or_else(|| ArgError::Unexpected(extra.text.clone())));
    }
    Ok(Args::new(values))
}

/// Whether `text` has the parameter's type at all (limits aside).
fn fits_type(param: &ParamSpec, text: &str) -> bool {
    match &param.kind {
        ParamKind::Integer { .. } => text.trim_start_matches('+').parse::<i64>().is_ok(),
        ParamKind::Number { .. } => text.parse::<f64>().is_ok_and(f64::is_finite),
        // A text parameter with a format (a `TextParam`) fits only words it can parse.
        ParamKind::String { .. } => param.format.is_none_or(|f| f.check(text).is_ok()),
        _ => false,
    }
}

fn keyword<'t>(params: &[ParamSpec], token: &'t Token) -> Option<(usize, &'t str)> {
    if token.quoted {
        return None;
    }
    let (name, value) = token.text.split_once(['=', ':'])?;
    let index = params.iter().position(|p| p.name == name && p.kind != ParamKind::Rest)?;
    Some((index, value.trim_matches('"')))
}

/// Converts structured options (a slash command's, by parameter name) into [`Args`].
pub fn parse_options(
    params: &[ParamSpec],
    options: &serde_json::Map<String, serde_json::Value>,
    source: &str,
) -> Result<Args, ArgError> {
    if let Some(unknown) = options.keys().find(|k| !params.iter().any(|p| &p.name == *k)) {
        return Err(ArgError::Unexpected(unknown.clone()));
    }
    let mut values = Vec::with_capacity(params.len());
    for param in params {
        let value = match options.get(&param.name) {
            None | Some(serde_json::Value::Null) => {
                if param.required {
                    return Err(ArgError::Missing(param.name.clone()));
                }
                None
            }
            Some(serde_json::Value::String(s)) => Some(convert_text(param, s, source)?),
            Some(serde_json::Value::Bool(b)) if param.kind == ParamKind::Boolean => Some(ArgValue::Bool(*b)),
            // A user with its display name, as connectors that resolve mentions send it.
            Some(serde_json::Value::Object(user)) if param.kind == ParamKind::User => {
                let id = user.get("id").and_then(|v| v.as_str()).unwrap_or_default();
                check_user_id(id).map_err(|problem| invalid(param, problem))?;
                let name = user.get("name").and_then(|v| v.as_str()).unwrap_or(id);
                Some(ArgValue::User(UserRef::named(source, id, clean_display_name(name, id))))
            }
            Some(serde_json::Value::Number(n)) => Some(convert_text(param, &n.to_string(), source)?),
            // Connectors pass an option given several times as the list of its values.
            Some(serde_json::Value::Array(_)) => {
                return Err(ArgError::Invalid { param: param.name.clone(), problem: "is given twice".into() })
            }
            Some(other) => {
                return Err(ArgError::Invalid {
                    param: param.name.clone(),
                    problem: format!("must be {}, got {other}", param.kind_description()),
                })
            }
        };
        values.push(value);
    }
    Ok(Args::new(values))
}

fn invalid(param: &ParamSpec, problem: String) -> ArgError {
    ArgError::Invalid { param: param.name.clone(), problem }
}

/// Converts one word to a value of the parameter's kind, checking its limits.
fn convert_text(param: &ParamSpec, text: &str, source: &str) -> Result<ArgValue, ArgError> {
    match &param.kind {
        ParamKind::String { min_len, max_len } => {
            let len = text.chars().count();
            if min_len.is_some_and(|m| len < m as usize) || max_len.is_some_and(|m| len > m as usize) {
                return Err(invalid(param, format!("must be {}, got {len} characters", param.kind_description())));
            }
            if let Some(format) = &param.format {
                format.check(text).map_err(|problem| invalid(param, problem))?;
            }
            Ok(ArgValue::Str(text.to_string()))
        }
        ParamKind::Rest => Ok(ArgValue::Str(text.to_string())),
        ParamKind::Integer { min, max } => {
            let n: i64 = text
                .trim_start_matches('+')
                .parse()
                .map_err(|_| invalid(param, format!("must be {}, got `{text}`", param.kind_description())))?;
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(invalid(param, format!("must be {}, got {n}", param.kind_description())));
            }
            Ok(ArgValue::Int(n))
        }
        ParamKind::Number { min, max } => {
            let n: f64 = text
                .parse()
                .ok()
                .filter(|n: &f64| n.is_finite())
                .ok_or_else(|| invalid(param, format!("must be {}, got `{text}`", param.kind_description())))?;
            if min.is_some_and(|m| n < m) || max.is_some_and(|m| n > m) {
                return Err(invalid(param, format!("must be {}, got {n}", param.kind_description())));
            }
            Ok(ArgValue::Num(n))
        }
        ParamKind::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "on" | "1" => Ok(ArgValue::Bool(true)),
            "false" | "no" | "n" | "off" | "0" => Ok(ArgValue::Bool(false)),
            _ => Err(invalid(param, format!("must be yes or no, got `{text}`"))),
        },
        ParamKind::User => user_value(param, text, source),
        ParamKind::Channel => {
            let id = strip_mention(text, &["<#"], ">").or_else(|| text.strip_prefix('#')).unwrap_or(text);
            if id.is_empty() {
                return Err(invalid(param, "must name a channel".into()));
            }
            Ok(ArgValue::Channel(ChannelRef::new(id)))
        }
        ParamKind::Choice { choices } => choices
            .iter()
            .find(|c| c.value.eq_ignore_ascii_case(text) || c.name.eq_ignore_ascii_case(text))
            .map(|c| ArgValue::Str(c.value.clone()))
            .ok_or_else(|| invalid(param, format!("must be {}, got `{text}`", param.kind_description()))),
    }
}

/// A user named by a mention (`<@42>`), a name (`@bob`, `bob`) on the envelope's connector, or
/// an identity on any connector written out (`console:operator`, `@discord:42`).
fn user_value(param: &ParamSpec, text: &str, source: &str) -> Result<ArgValue, ArgError> {
    if let Some(id) = strip_mention(text, &["<@!", "<@"], ">") {
        check_user_id(id).map_err(|problem| invalid(param, problem))?;
        return Ok(ArgValue::User(UserRef::new(source, id)));
    }
    let name = text.strip_prefix('@').unwrap_or(text);
    let (connector, id) = match name.split_once(':') {
        Some((connector, id)) if is_connector_name(connector) && !id.is_empty() => (connector, id),
        _ => (source, name),
    };
    check_user_id(id).map_err(|problem| invalid(param, problem))?;
    let mut user = UserRef::new(connector, id);
    if connector != source {
        // Shown in full, so that a reply names the identity that was acted on.
        user.name = user.identity();
    }
    Ok(ArgValue::User(user))
}

fn strip_mention<'a>(text: &'a str, openers: &[&str], closer: &str) -> Option<&'a str> {
    openers.iter().find_map(|o| text.strip_prefix(o)).and_then(|t| t.strip_suffix(closer))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{ChoiceOption, Rest};

    fn p<T: crate::command::Param>(name: &str) -> ParamSpec {
        ParamSpec::of::<T>(name, "")
    }

    fn style() -> ParamSpec {
        ParamSpec {
            name: "style".into(),
            description: "style".into(),
            kind: ParamKind::Choice {
                choices: ["fill", "bezier"]
                    .iter()
                    .map(|v| ChoiceOption { name: v.to_string(), value: v.to_string() })
                    .collect(),
            },
            required: false,
            autocomplete: false,
            format: None,
        }
    }

    /// A word of the form `NxN`, for the text-parameter tests.
    struct Grid;

    impl crate::command::TextParam for Grid {
        const FORMAT: &'static str = "a grid such as 3x4";
        fn parse_text(text: &str) -> Result<Self, String> {
            let fits = text.split_once('x').is_some_and(|(a, b)| a.parse::<u8>().is_ok() && b.parse::<u8>().is_ok());
            fits.then_some(Grid).ok_or_else(|| format!("must be a grid such as 3x4, got `{text}`"))
        }
    }

    #[test]
    fn a_text_parameter_is_checked_and_a_word_it_cannot_read_may_belong_to_the_next() {
        let params = [p::<Option<Grid>>("grid"), p::<Option<String>>("note")];
        let args = parse_prefix_args(&params, "3x4 hello", "test").unwrap();
        assert_eq!(args.values(), [Some(ArgValue::Str("3x4".into())), Some(ArgValue::Str("hello".into()))]);
        let args = parse_prefix_args(&params, "hello", "test").unwrap();
        assert_eq!(args.values(), [None, Some(ArgValue::Str("hello".into()))], "skipped to `note`");
        let alone = [p::<Option<Grid>>("grid")];
        let err = parse_prefix_args(&alone, "hello", "test").unwrap_err();
        assert_eq!(err.to_string(), "`grid` must be a grid such as 3x4, got `hello`");
        let options = serde_json::json!({ "grid": "nope" });
        let err = parse_options(&alone, options.as_object().unwrap(), "test").unwrap_err();
        assert_eq!(err.to_string(), "`grid` must be a grid such as 3x4, got `nope`");
        assert_eq!(alone[0].kind_description(), "a grid such as 3x4");
    }

    #[test]
    fn tokenizes_quotes_and_escapes() {
        let t = tokenize(r#"say "hello world" "a \"q\"" x"#).unwrap();
        let words: Vec<&str> = t.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(words, ["say", "hello world", "a \"q\"", "x"]);
        assert_eq!(tokenize(r#"say "oops"#), Err(ArgError::UnterminatedQuote));
        assert_eq!(tokenize("“curly quotes”").unwrap()[0].text, "curly quotes");
    }

    #[test]
    fn positional_keyword_and_skipping_optionals() {
        let params = vec![p::<Option<u64>>("seed"), p::<Option<u8>>("rings").min(4.0).max(19.0), style()];
        let args = parse_prefix_args(&params, "bezier", "console").unwrap();
        assert_eq!(args.values(), &[None, None, Some(ArgValue::Str("bezier".into()))]);
        let args = parse_prefix_args(&params, "7 rings=12", "console").unwrap();
        assert_eq!(args.values(), &[Some(ArgValue::Int(7)), Some(ArgValue::Int(12)), None]);
        let err = parse_prefix_args(&params, "7 40", "console").unwrap_err();
        assert_eq!(err.to_string(), "`rings` must be integer 4..=19, got 40");
        let err = parse_prefix_args(&params, "7 40 fill", "console").unwrap_err();
        assert_eq!(err.to_string(), "`rings` must be integer 4..=19, got 40", "out of range never skips");
        let err = parse_prefix_args(&params, "7 12 fill extra", "console").unwrap_err();
        assert_eq!(err, ArgError::Unexpected("extra".into()));
    }

    #[test]
    fn required_missing_and_rest_of_line() {
        let params = vec![p::<UserRef>("user"), p::<Rest>("text")];
        assert_eq!(parse_prefix_args(&params, "", "irc"), Err(ArgError::Missing("user".into())));
        let args = parse_prefix_args(&params, r#"<@!42> hello "big"   world  "#, "discord").unwrap();
        assert_eq!(args.values()[0], Some(ArgValue::User(UserRef::new("discord", "42"))));
        assert_eq!(args.values()[1], Some(ArgValue::Str(r#"hello "big"   world"#.into())));
        let args = parse_prefix_args(&params, "@bob hi", "console").unwrap();
        assert_eq!(args.values()[0], Some(ArgValue::User(UserRef::new("console", "bob"))));
    }

    #[test]
    fn an_identity_written_out_names_that_identity() {
        let params = vec![p::<UserRef>("user")];
        let user = |line: &str, source: &str| match parse_prefix_args(&params, line, source) {
            Ok(args) => match &args.values()[0] {
                Some(ArgValue::User(u)) => Ok((u.key(), u.name.clone())),
                other => panic!("{other:?}"),
            },
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(user("console:operator", "console"), Ok(("console:operator".into(), "operator".into())));
        assert_eq!(user("@discord:42", "console"), Ok(("discord:42".into(), "discord:42".into())));
        assert_eq!(user("<@42>", "discord"), Ok(("discord:42".into(), "42".into())));
        assert_eq!(user("bob", "irc"), Ok(("irc:bob".into(), "bob".into())));
        assert_eq!(user("Not A Connector:x", "irc").map(|u| u.0), Err("unexpected argument `A`".into()));
        assert!(user(&"x".repeat(300), "console").unwrap_err().contains("at most 64 characters"));
        assert!(user("\"\"", "console").unwrap_err().contains("must name a user"));
        assert!(user("evil\u{202E}gnp.exe", "console").unwrap_err().contains("direction-changing"));
    }

    #[test]
    fn kinds_are_checked() {
        let params = vec![p::<bool>("flag"), p::<f64>("x"), p::<ChannelRef>("where")];
        let args = parse_prefix_args(&params, "yes 2.5 <#99>", "discord").unwrap();
        assert_eq!(
            args.values(),
            &[Some(ArgValue::Bool(true)), Some(ArgValue::Num(2.5)), Some(ArgValue::Channel(ChannelRef::new("99")))]
        );
        assert!(parse_prefix_args(&params, "maybe 1 #x", "c").unwrap_err().to_string().contains("yes or no"));
        assert!(parse_prefix_args(&params, "no NaN #x", "c").unwrap_err().to_string().contains("number"));
    }

    #[test]
    fn structured_options_use_the_same_rules() {
        let params = vec![p::<u8>("count").min(1.0).max(5.0), style()];
        let mut options = serde_json::Map::new();
        options.insert("count".into(), serde_json::json!(3));
        options.insert("style".into(), serde_json::json!("fill"));
        let args = parse_options(&params, &options, "discord").unwrap();
        assert_eq!(args.values(), &[Some(ArgValue::Int(3)), Some(ArgValue::Str("fill".into()))]);
        options.insert("count".into(), serde_json::json!(9));
        assert!(parse_options(&params, &options, "discord").is_err());
        options.insert("count".into(), serde_json::json!([2, 3]));
        assert_eq!(parse_options(&params, &options, "discord").unwrap_err().to_string(), "`count` is given twice");
        assert_eq!(
            parse_prefix_args(&params, "count=2 count=3", "console").unwrap_err().to_string(),
            "`count` is given twice",
            "the same words as the prefix form"
        );
        options.insert("bogus".into(), serde_json::json!(1));
        assert_eq!(parse_options(&params, &options, "discord"), Err(ArgError::Unexpected("bogus".into())));
    }

    #[test]
    fn split_requires_prefix_and_a_word() {
        assert_eq!(split_invocation("!roll 2", "!"), Some("roll 2"));
        assert_eq!(split_invocation("! roll", "!"), None);
        assert_eq!(split_invocation("hello", "!"), None);
    }
}
