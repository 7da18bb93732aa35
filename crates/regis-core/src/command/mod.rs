//! Commands: their declared shape ([`CommandSpec`]), typed parameters ([`Param`]), the prefix
//! parser and usage line, and the Discord application-command schema.

mod param;
mod parse;
mod schema;
mod spec;

pub use param::{
    choices, required_arg, ArgError, ArgValue, Args, Param, ParamShape, ParamValue, Rest, TextFormat, TextParam,
};
pub use parse::{parse_options, parse_prefix_args, split_invocation, tokenize, Token};
pub use spec::{ChoiceOption, CommandSpec, ParamKind, ParamSpec, SpecError, Syntax};
