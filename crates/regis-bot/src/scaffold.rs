//! `regis new NAME`: a bot crate of your own, outside this workspace — the files of
//! `examples/my-bot` (which the workspace builds and tests) under your name, depending on the
//! Regis crates by path.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::path::{Path, PathBuf};

/// Arguments of `regis new`.
#[derive(Args, Debug)]
pub struct NewArgs {
    /// The crate's name, and its directory's (created here): lowercase letters, digits and -
    name: String,
    /// A checkout of Regis to depend on [default: the one this binary was built from]
    #[arg(long, value_name = "DIR")]
    regis: Option<PathBuf>,
}

/// The example's files, and where they go.
const FILES: [(&str, &str); 3] = [
    ("src/lib.rs", include_str!("../../../examples/my-bot/src/lib.rs")),
    ("src/main.rs", include_str!("../../../examples/my-bot/src/main.rs")),
    ("tests/greet.rs", include_str!("../../../examples/my-bot/tests/greet.rs")),
];

/// The checkout this binary was built from.
fn built_from() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether `name` is a crate name `cargo` takes and that is not a Regis crate's.
fn check_name(name: &str) -> Result<()> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !ok {
        bail!("`{name}` is not a crate name: use lowercase letters, digits and `-`, starting with a letter");
    }
    if name == "regis" || name.starts_with("regis-") || name == "test" {
        bail!("`{name}` is taken (Regis's own crates, or cargo's): choose another name");
    }
    Ok(())
}

/// `Cargo.toml` of crate `name` depending on the checkout at `regis`.
fn manifest(name: &str, regis: &Path) -> String {
    let dep = |krate: &str| format!("{{ path = {:?} }}", regis.join("crates").join(krate).display().to_string());
    format!(
        "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\npublish = false\n\n\
         [dependencies]\nregis = {}\nregis-bot = {}\n\n\
         [dev-dependencies]\nregis-testkit = {}\ntokio = {{ version = \"1\", features = [\"macros\", \"rt-multi-thread\"] }}\n\
         tempfile = \"3\"\n\n\
         # A workspace of its own, even when created inside another.\n[workspace]\n",
        dep("regis"),
        dep("regis-bot"),
        dep("regis-testkit")
    )
}

/// Writes the crate into `./NAME` and says what to run next.
pub fn run(args: &NewArgs) -> Result<()> {
    check_name(&args.name)?;
    let regis = args.regis.clone().unwrap_or_else(built_from);
    let regis = regis.canonicalize().ok().filter(|dir| dir.join("crates/regis-bot/Cargo.toml").is_file());
    let Some(regis) = regis else {
        bail!(
            "the Regis crates are not published yet and no checkout was found: give --regis DIR, a clone of Regis \
             (its crates are under DIR/crates)"
        );
    };
    let dir = PathBuf::from(&args.name);
    if dir.exists() {
        bail!("{} exists already: nothing was written", dir.display());
    }
    let module = args.name.replace('-', "_");
    let mut files = vec![("Cargo.toml".to_string(), manifest(&args.name, &regis))];
    files.push((".gitignore".into(), "/target\n/regis-data\n".into()));
    for (path, text) in FILES {
        files.push((path.to_string(), text.replace("my_bot", &module).replace("my-bot", &args.name)));
    }
    for (path, text) in &files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("Created {} (depending on Regis at {}). Next:", dir.display(), regis.display());
    println!("  cd {} && cargo run -- console", dir.display());
    println!("  cargo test");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_cargo_would_refuse_or_that_are_taken_are_refused() {
        for bad in ["", "My-Bot", "1bot", "my_bot", "my bot", "regis", "regis-core", "test"] {
            assert!(check_name(bad).is_err(), "{bad:?} was taken");
        }
        check_name("greeter-2").unwrap();
    }
}
