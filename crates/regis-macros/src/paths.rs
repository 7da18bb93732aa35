//! Where the generated code finds Regis: `regis` if the user depends on it, else `regis-core`.

use proc_macro2::TokenStream;
use proc_macro_crate::{crate_name, FoundCrate};
use quote::{format_ident, quote};

pub(crate) fn krate() -> TokenStream {
    for candidate in ["regis", "regis-core"] {
        let lib = candidate.replace('-', "_");
        match crate_name(candidate) {
            Ok(FoundCrate::Itself) => {
                // Itself also covers the package's tests and examples, which are other crates.
                if std::env::var("CARGO_CRATE_NAME").is_ok_and(|c| c == lib) {
                    return quote!(crate);
                }
                let ident = format_ident!("{}", lib);
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
