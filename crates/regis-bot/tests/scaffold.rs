//! `regis new NAME`: a bot crate of one's own, outside the workspace, that builds with cargo
//! and whose console answers with its plugin.

mod common;

use common::regis;
use std::process::Command;

/// The workspace this test belongs to.
fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

#[test]
fn a_new_bot_builds_and_answers_on_its_console() {
    let dir = tempfile::tempdir().unwrap();
    let out = regis(dir.path(), &["new", "greeter"]).output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("cd greeter && cargo run -- console"), "{said}");
    let krate = dir.path().join("greeter");
    let manifest = std::fs::read_to_string(krate.join("Cargo.toml")).unwrap();
    let regis_bot = workspace().join("crates/regis-bot");
    assert!(
        manifest.contains(&format!("regis-bot = {{ path = {:?} }}", regis_bot.display().to_string())),
        "{manifest}"
    );
    let main = std::fs::read_to_string(krate.join("src/main.rs")).unwrap();
    assert!(main.contains(r#"App::new("greeter").plugin(greeter::Greet)"#), "{main}");

    // Not twice, and not under a name cargo would refuse.
    let again = regis(dir.path(), &["new", "greeter"]).output().unwrap();
    assert!(!again.status.success() && String::from_utf8_lossy(&again.stderr).contains("exists already"));
    let bad = regis(dir.path(), &["new", "Greeter Bot"]).output().unwrap();
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("is not a crate name"));

    // The versions this workspace was tested with, and its built dependencies: no download.
    std::fs::copy(workspace().join("Cargo.lock"), krate.join("Cargo.lock")).unwrap();
    let target = std::env::var("CARGO_TARGET_DIR").map(std::path::PathBuf::from).unwrap_or(workspace().join("target"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let built = Command::new(cargo)
        .args(["build", "--offline", "--quiet"])
        .current_dir(&krate)
        .env("CARGO_TARGET_DIR", target.join("scaffold"))
        .output()
        .unwrap();
    assert!(built.status.success(), "{}", String::from_utf8_lossy(&built.stderr));
    let mut console = Command::new(target.join("scaffold/debug/greeter"));
    console.arg("console").current_dir(&krate).env_remove("RUST_LOG");
    let out = common::with_input(console, b"!greet Ann\n!greet ann\n");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Hello, Ann! (greeted 1 time(s))") && text.contains("Hello, ann! (greeted 2 time(s))"),
        "{text}"
    );
}

#[test]
fn the_readme_shows_the_example_bots_main_as_it_is() {
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let start = readme.find("<!-- my-bot:start -->\n```rust,no_run\n").expect("README has a my-bot:start marker");
    let end = readme.find("```\n<!-- my-bot:end -->").expect("README has a my-bot:end marker");
    let shown = &readme[start + "<!-- my-bot:start -->\n```rust,no_run\n".len()..end];
    let main = std::fs::read_to_string(workspace().join("examples/my-bot/src/main.rs")).unwrap();
    assert!(main.ends_with(shown), "README shows:\n{shown}\nexamples/my-bot/src/main.rs is:\n{main}");
}
