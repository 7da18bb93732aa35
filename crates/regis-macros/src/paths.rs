//! Where the generated code finds Regis: `regis` if the user depends on it, else `regis-core`.

use proc_macro2::TokenStream;
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote};

pub(crate) fn krate() -> TokenStream {
    for candidate in ["regis", "regis-core"] {
        match crate_name(candidate) {
            // Within the crate itself (and its tests, examples and doctests) the name resolves
            // through `extern crate self as ...;` in its root.
            Ok(FoundCrate::Itself) => {
                let ident = format_ident!("{}", candidate.replace('-', "_"));
                return quote!(::#ident);
            }
            Ok(FoundCrate::Name(name)) => {
                let ident = format_ident!("{}", name);
                return quote!(::#ident);
            }
            Err(_) => continue,
        }
    }
    quote!(::regis)
}

pub(crate) fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}
