//! A chat line, as anyone in a channel may type it: split from the prefix, tokenized and parsed
//! against parameters of every kind, with an error (and usage line) or arguments, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;
use regis_core::command::{parse_prefix_args, split_invocation, tokenize};

fuzz_target!(|line: &[u8]| {
    let line = String::from_utf8_lossy(line);
    let _ = tokenize(&line);
    if let Some(rest) = split_invocation(&line, "!") {
        let params = regis_fuzz_params::all();
        let _ = parse_prefix_args(&params, rest, "console");
        let _ = parse_prefix_args(&params[..3], rest, "discord");
    }
});

mod regis_fuzz_params {
    include!("params.rs");
}
