//! Typed parameters: how a Rust type maps to a parameter kind and back from a parsed value.

use super::spec::{ChoiceOption, ParamKind};
use crate::envelope::{ChannelRef, UserRef};
use std::fmt;

/// A parsed argument value, already checked against its parameter's kind and limits.
#[derive(Clone, Debug, PartialEq)]
pub enum ArgValue {
    /// A string (also a choice value and a rest-of-line string).
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Num(f64),
    /// A boolean.
    Bool(bool),
    /// A user (from a mention, a name or an id).
    User(UserRef),
    /// A channel (from a mention, a name or an id).
    Channel(ChannelRef),
}

/// Why an argument could not be used; shown to the user with the command's usage line.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ArgError {
    /// A required parameter got no value.
    #[error("missing `{0}`")]
    Missing(String),
    /// A value did not fit its parameter.
    #[error("`{param}` {problem}")]
    Invalid {
        /// The parameter's name.
        param: String,
        /// What is wrong, such as "must be between 1 and 20, got 40".
        problem: String,
    },
    /// More arguments than parameters.
    #[error("unexpected argument `{0}`")]
    Unexpected(String),
    /// A quote was opened and never closed.
    #[error("unterminated quote")]
    UnterminatedQuote,
    /// The generated code asked for a value of another kind (a bug in a hand-written plugin).
    #[error("internal: parameter {0} has a value of the wrong kind")]
    WrongKind(usize),
}

/// The arguments of one invocation, one slot per declared parameter, in declaration order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args {
    values: Vec<Option<ArgValue>>,
}

impl Args {
    /// Arguments from parsed values.
    pub fn new(values: Vec<Option<ArgValue>>) -> Self {
        Args { values }
    }

    /// Takes parameter `index` as type `T`.
    pub fn take<T: Param>(&mut self, index: usize) -> Result<T, ArgError> {
        let value = self.values.get_mut(index).and_then(Option::take);
        T::from_arg(value).map_err(|e| match e {
            ArgError::WrongKind(_) => ArgError::WrongKind(index),
            other => other,
        })
    }

    /// The raw values.
    pub fn values(&self) -> &[Option<ArgValue>] {
        &self.values
    }
}

/// Whether a parameter must be given, and its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamShape {
    /// The kind of value.
    pub kind: ParamKind,
    /// Whether the invocation must give it.
    pub required: bool,
}

/// A type usable as a command parameter: `String`, integers, floats, `bool`, [`UserRef`],
/// [`ChannelRef`], [`Rest`], enums deriving `Choice`, and `Option<T>` of any of them.
pub trait Param: Sized {
    /// The parameter's kind and whether it is required.
    fn shape() -> ParamShape;
    /// Converts the parsed value (None when not given).
    fn from_arg(value: Option<ArgValue>) -> Result<Self, ArgError>;
    /// The text format of a [`TextParam`], checked while the arguments are parsed.
    fn text_format() -> Option<TextFormat> {
        None
    }
}

/// A type that is a parameter value; `T` is then a required parameter and `Option<T>` an
/// optional one.
pub trait ParamValue: Sized {
    /// The kind of value, with the type's natural limits (e.g. 0..=255 for `u8`).
    fn kind() -> ParamKind;
    /// Converts a parsed value of that kind.
    fn from_value(value: ArgValue) -> Result<Self, ArgError>;
    /// The text format of a [`TextParam`], checked while the arguments are parsed.
    fn text_format() -> Option<TextFormat> {
        None
    }
}

/// A parameter type written as one word of text and parsed by the plugin: dice notation, a
/// duration, a colour. On Discord it is a string option. A word that does not parse is refused
/// like any bad argument, with the command's usage line and before the handler runs (so it
/// costs no cooldown); the handler gets the parsed value.
///
/// ```
/// use regis_core::TextParam;
///
/// /// A colour written `#rrggbb`.
/// struct Colour(u32);
///
/// impl TextParam for Colour {
///     const FORMAT: &'static str = "a colour such as #ff8800";
///     fn parse_text(text: &str) -> Result<Self, String> {
///         let hex = text.strip_prefix('#').filter(|h| h.len() == 6);
///         let value = hex.and_then(|h| u32::from_str_radix(h, 16).ok());
///         value.map(Colour).ok_or_else(|| format!("must be a colour such as #ff8800, got `{text}`"))
///     }
/// }
/// assert_eq!(Colour::parse_text("#ff8800").map(|c| c.0), Ok(0xff8800));
/// ```
pub trait TextParam: Sized {
    /// What the text looks like, for help: `"dice such as 2d6, d20 or 3d8+2"`.
    const FORMAT: &'static str;
    /// Parses the text. The error says what is wrong and is shown after the parameter's name:
    /// `"must be at most 20 dice, got 50"` is shown as ``"`dice` must be at most 20 dice, got 50"``.
    fn parse_text(text: &str) -> Result<Self, String>;
}

/// How the words of a [`TextParam`] parameter are checked while the arguments are parsed.
#[derive(Clone, Copy)]
pub struct TextFormat {
    /// What the text looks like ([`TextParam::FORMAT`]).
    pub what: &'static str,
    check: fn(&str) -> Result<(), String>,
}

impl TextFormat {
    /// Whether `text` parses; the error is the parser's problem text.
    pub fn check(&self, text: &str) -> Result<(), String> {
        (self.check)(text)
    }
}

impl fmt::Debug for TextFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TextFormat").field("what", &self.what).finish_non_exhaustive()
    }
}

impl PartialEq for TextFormat {
    fn eq(&self, other: &Self) -> bool {
        self.what == other.what && std::ptr::fn_addr_eq(self.check, other.check)
    }
}

impl<T: TextParam> ParamValue for T {
    fn kind() -> ParamKind {
        ParamKind::String { min_len: None, max_len: None }
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        match value {
            ArgValue::Str(s) => {
                T::parse_text(&s).map_err(|problem| ArgError::Invalid { param: String::new(), problem })
            }
            _ => Err(ArgError::WrongKind(0)),
        }
    }
    fn text_format() -> Option<TextFormat> {
        Some(TextFormat { what: T::FORMAT, check: |text| T::parse_text(text).map(drop) })
    }
}

impl<T: TextParam> Param for T {
    fn shape() -> ParamShape {
        ParamShape { kind: <T as ParamValue>::kind(), required: true }
    }
    fn from_arg(value: Option<ArgValue>) -> Result<Self, ArgError> {
        required_arg(value)
    }
    fn text_format() -> Option<TextFormat> {
        <T as ParamValue>::text_format()
    }
}

/// Converts a value of a required parameter; used by generated code.
pub fn required_arg<T: ParamValue>(value: Option<ArgValue>) -> Result<T, ArgError> {
    match value {
        Some(v) => T::from_value(v),
        None => Err(ArgError::Missing(String::new())),
    }
}

impl<T: ParamValue> Param for Option<T> {
    fn shape() -> ParamShape {
        ParamShape { kind: T::kind(), required: false }
    }
    fn from_arg(value: Option<ArgValue>) -> Result<Self, ArgError> {
        value.map(T::from_value).transpose()
    }
    fn text_format() -> Option<TextFormat> {
        T::text_format()
    }
}

macro_rules! required_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn shape() -> ParamShape {
                ParamShape { kind: <$t as ParamValue>::kind(), required: true }
            }
            fn from_arg(value: Option<ArgValue>) -> Result<Self, ArgError> {
                required_arg(value)
            }
        }
    )*};
}

required_params!(String, Rest, bool, f64, f32, i64, i32, i16, i8, u64, u32, u16, u8, UserRef, ChannelRef);

/// The largest integer magnitude Discord accepts for integer options (2^53).
const DISCORD_INT_LIMIT: i64 = 1 << 53;

macro_rules! integer_values {
    ($($t:ty),*) => {$(
        impl ParamValue for $t {
            fn kind() -> ParamKind {
                ParamKind::Integer {
                    min: Some((<$t>::MIN as i128).max(-(DISCORD_INT_LIMIT as i128)) as i64),
                    max: Some((<$t>::MAX as i128).min(DISCORD_INT_LIMIT as i128) as i64),
                }
            }
            fn from_value(value: ArgValue) -> Result<Self, ArgError> {
                match value {
                    ArgValue::Int(n) => <$t>::try_from(n).map_err(|_| ArgError::WrongKind(0)),
                    _ => Err(ArgError::WrongKind(0)),
                }
            }
        }
    )*};
}

integer_values!(i64, i32, i16, i8, u64, u32, u16, u8);

impl ParamValue for f64 {
    fn kind() -> ParamKind {
        ParamKind::Number { min: None, max: None }
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        match value {
            ArgValue::Num(n) => Ok(n),
            ArgValue::Int(n) => Ok(n as f64),
            _ => Err(ArgError::WrongKind(0)),
        }
    }
}

impl ParamValue for f32 {
    fn kind() -> ParamKind {
        f64::kind()
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        f64::from_value(value).map(|n| n as f32)
    }
}

impl ParamValue for bool {
    fn kind() -> ParamKind {
        ParamKind::Boolean
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        match value {
            ArgValue::Bool(b) => Ok(b),
            _ => Err(ArgError::WrongKind(0)),
        }
    }
}

impl ParamValue for String {
    fn kind() -> ParamKind {
        ParamKind::String { min_len: None, max_len: None }
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        match value {
            ArgValue::Str(s) => Ok(s),
            _ => Err(ArgError::WrongKind(0)),
        }
    }
}

impl ParamValue for UserRef {
    fn kind() -> ParamKind {
        ParamKind::User
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        match value {
            ArgValue::User(u) => Ok(u),
            _ => Err(ArgError::WrongKind(0)),
        }
    }
}

impl ParamValue for ChannelRef {
    fn kind() -> ParamKind {
        ParamKind::Channel
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        match value {
            ArgValue::Channel(c) => Ok(c),
            _ => Err(ArgError::WrongKind(0)),
        }
    }
}

/// The rest of the line, verbatim (quotes kept), as the last parameter: `!say hello "world"`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rest(pub String);

impl ParamValue for Rest {
    fn kind() -> ParamKind {
        ParamKind::Rest
    }
    fn from_value(value: ArgValue) -> Result<Self, ArgError> {
        match value {
            ArgValue::Str(s) => Ok(Rest(s)),
            _ => Err(ArgError::WrongKind(0)),
        }
    }
}

impl fmt::Display for Rest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::ops::Deref for Rest {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

/// Builds the choice list of a `#[derive(Choice)]` enum; used by generated code.
pub fn choices(values: &[&str]) -> ParamKind {
    ParamKind::Choice {
        choices: values.iter().map(|v| ChoiceOption { name: (*v).to_string(), value: (*v).to_string() }).collect(),
    }
}
