//! Reading doc comments: first line = description, rest = long help, and the `# Arguments`
//! section = parameter descriptions.

use std::collections::HashMap;
use syn::{Attribute, Expr, Lit, Meta};

/// A parsed doc comment.
pub(crate) struct Docs {
    pub(crate) description: String,
    pub(crate) help: String,
    pub(crate) params: HashMap<String, String>,
}

pub(crate) fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    let mut lines = Vec::new();
    for attr in attrs {
        if let Meta::NameValue(nv) = &attr.meta {
            if nv.path.is_ident("doc") {
                if let Expr::Lit(lit) = &nv.value {
                    if let Lit::Str(s) = &lit.lit {
                        for line in s.value().lines() {
                            lines.push(line.strip_prefix(' ').unwrap_or(line).trim_end().to_string());
                        }
                    }
                }
            }
        }
    }
    lines
}

pub(crate) fn parse(attrs: &[Attribute]) -> Docs {
    let lines = doc_lines(attrs);
    let mut description = String::new();
    let mut help = Vec::new();
    let mut params = HashMap::new();
    let mut in_arguments = false;
    for line in lines {
        let trimmed = line.trim();
        if description.is_empty() {
            description = trimmed.to_string();
            continue;
        }
        if trimmed.starts_with('#') {
            let heading = trimmed.trim_start_matches('#').trim().to_ascii_lowercase();
            in_arguments = heading == "arguments" || heading == "parameters";
            if in_arguments {
                continue;
            }
        }
        if in_arguments {
            if let Some((name, text)) = argument_line(trimmed) {
                params.insert(name, text);
            }
            continue;
        }
        help.push(line);
    }
    while help.first().is_some_and(|l| l.trim().is_empty()) {
        help.remove(0);
    }
    while help.last().is_some_and(|l| l.trim().is_empty()) {
        help.pop();
    }
    Docs { description, help: help.join("\n"), params }
}

/// `* `count` - how many dice` or `- count: how many dice`.
fn argument_line(line: &str) -> Option<(String, String)> {
    let item = line.strip_prefix('*').or_else(|| line.strip_prefix('-'))?.trim();
    let (name, text) = item.split_once(" - ").or_else(|| item.split_once(" – ")).or_else(|| item.split_once(':'))?;
    let name = name.trim().trim_matches('`').trim().to_string();
    Some((name, text.trim().to_string()))
}
