//! Every code block of the README and of `docs/` is checked by its language, so that what the
//! documentation shows is what the program takes:
//!
//! - `rust`: compiled (and run unless `no_run`) as doctests of this crate (`src/lib.rs` lists
//!   the pages; a page missing there fails here); a block with tests is `rust,ignore` and a
//!   whole source file of the workspace, compiled and run by cargo as such;
//! - `toml`: a whole `regis.toml`, read and checked by the bot's own configuration loader
//!   (or, with `[package]`/`[dependencies]`, a Cargo manifest naming crates that exist);
//! - `sh` and the `$ ` lines of `console`: every `regis …` command line (also through
//!   `cargo run -p regis-bot --`) parsed by the real command line, and the block by `bash -n`;
//! - `json` and `yaml` parsed; `ini` (systemd units) read as sections and `Key=Value` lines,
//!   with `ExecStart` command lines parsed; `sql` run on PostgreSQL under names of its own;
//! - `lua`: loaded as a script plugin (it must declare a plugin the bot accepts);
//! - `text`: free (diagrams, output); any other language, or none, is refused.
//!
//! Console transcripts (`$ printf … | regis console`) and the mandala command lines are also
//! run and compared byte for byte by `crates/regis-bot/tests/console.rs` and `mandala_cli.rs`.

use std::path::{Path, PathBuf};

/// One fenced code block.
struct Block {
    /// The page, relative to the workspace.
    page: String,
    /// The line of its opening fence.
    line: usize,
    /// The info string: `rust,no_run`, `toml`, …
    info: String,
    text: String,
}

impl Block {
    fn language(&self) -> &str {
        self.info.split([',', ' ']).next().unwrap_or("")
    }

    fn at(&self) -> String {
        format!("{}:{}", self.page, self.line)
    }
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("docs/ is in the workspace").to_path_buf()
}

/// README.md and every Markdown file under docs/, relative to the workspace.
fn pages() -> Vec<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("docs/ is readable") {
            let path = entry.expect("docs/ entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "md") {
                out.push(path);
            }
        }
    }
    let root = workspace();
    let mut found = vec![root.join("README.md")];
    walk(&root.join("docs"), &mut found);
    let mut pages: Vec<String> =
        found.iter().map(|p| p.strip_prefix(&root).expect("under the workspace").display().to_string()).collect();
    pages.sort();
    pages
}

/// The fenced blocks of a page (fences may be indented, as in a list).
fn blocks_of(page: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(workspace().join(page)).expect("page is readable");
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, usize, Vec<String>)> = None;
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        match &mut open {
            None if trimmed.starts_with("```") => {
                open = Some((index + 1, trimmed.trim_start_matches('`').trim().to_string(), indent, Vec::new()))
            }
            None => {}
            Some(_) if trimmed == "```" => {
                let (line, info, _, lines) = open.take().expect("a block is open");
                blocks.push(Block { page: page.to_string(), line, info, text: lines.join("\n") + "\n" });
            }
            Some((_, _, indent, lines)) => {
                let cut = line.char_indices().take_while(|(i, c)| *i < *indent && *c == ' ').count();
                lines.push(line[cut..].to_string());
            }
        }
    }
    assert!(open.is_none(), "{page}: a code block is never closed");
    blocks
}

fn all_blocks() -> Vec<Block> {
    pages().iter().flat_map(|p| blocks_of(p)).collect()
}

#[test]
fn every_page_is_compiled_and_every_block_has_a_language_this_test_checks() {
    let compiled: Vec<String> = regis_docs::PAGES
        .iter()
        .map(|p| {
            let full = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(p);
            let full = full.canonicalize().unwrap_or_else(|_| panic!("{p} (listed in src/lib.rs) does not exist"));
            full.strip_prefix(workspace()).expect("under the workspace").display().to_string()
        })
        .collect();
    for page in pages() {
        assert!(compiled.contains(&page), "{page} is not listed in docs/src/lib.rs: its Rust blocks would not compile");
    }
    let known = ["rust", "toml", "sh", "console", "json", "yaml", "ini", "sql", "lua", "text"];
    for block in all_blocks() {
        assert!(
            known.contains(&block.language()),
            "{}: a block of language `{}`: write one of {known:?} (`text` for output and diagrams)",
            block.at(),
            block.info
        );
        if block.language() == "rust" {
            assert!(
                !block.text.lines().any(|l| l.starts_with("# ") || l == "#"),
                "{}: hidden `# ` lines show on GitHub: write the whole example",
                block.at()
            );
            check_rust_block_is_compiled(&block);
        }
    }
}

/// A doctest is not compiled as a test, so the body of a `#[test]` in it would never be
/// type-checked: a block with tests is `rust,ignore` and is, byte for byte, a source file of
/// the workspace, which cargo compiles and runs. Only such blocks may be `ignore`d.
fn check_rust_block_is_compiled(block: &Block) {
    let has_tests = block.text.lines().any(|l| matches!(l.trim(), "#[test]" | "#[tokio::test]"))
        || block.text.contains("#[tokio::test(");
    let ignored = block.info.split(',').any(|flag| flag.trim() == "ignore");
    if has_tests {
        assert!(ignored, "{}: a block with tests must be `rust,ignore` and a whole test file", block.at());
    }
    if ignored {
        let files = workspace_sources();
        assert!(
            files.iter().any(|(_, text)| *text == block.text),
            "{}: an ignored block must be a whole source file of the workspace (none is identical)",
            block.at()
        );
    }
}

/// Every `.rs` file of the workspace's crates, with its text.
fn workspace_sources() -> Vec<(PathBuf, String)> {
    fn walk(dir: &Path, out: &mut Vec<(PathBuf, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name();
            if path.is_dir() && name != "target" && name != ".git" {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if let Ok(text) = std::fs::read_to_string(&path) {
                    out.push((path, text));
                }
            }
        }
    }
    let mut out = Vec::new();
    for dir in ["crates", "plugins", "examples", "docs"] {
        walk(&workspace().join(dir), &mut out);
    }
    out
}

/// Splits a shell line into the words of each simple command (quotes honoured, `|`, `&&`,
/// `||`, `;` and `&` between commands; `$(…)` and redirections are kept as words).
fn commands_of(line: &str) -> Vec<Vec<String>> {
    let mut commands = vec![Vec::new()];
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let end_word = |word: &mut String, in_word: &mut bool, commands: &mut Vec<Vec<String>>| {
        if *in_word {
            commands.last_mut().expect("one command at least").push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    word.push(c);
                }
            }
            '"' => {
                in_word = true;
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        '\\' => word.extend(chars.next()),
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.extend(chars.next());
            }
            '#' if !in_word => break,
            '|' | ';' | '&' => {
                end_word(&mut word, &mut in_word, &mut commands);
                if matches!(chars.peek(), Some('|' | '&')) {
                    chars.next();
                }
                commands.push(Vec::new());
            }
            c if c.is_whitespace() => end_word(&mut word, &mut in_word, &mut commands),
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    end_word(&mut word, &mut in_word, &mut commands);
    commands.retain(|c| !c.is_empty());
    commands
}

/// The arguments given to the bot's command line, if `words` runs it: `regis …`, a built
/// binary (`target/release/regis …`, `/usr/local/bin/regis …`), or `cargo run [-q] [-p
/// regis-bot|my-bot] [--release] -- …`; leading `VAR=value` assignments are skipped.
fn bot_arguments(words: &[String]) -> Option<Vec<String>> {
    let words: Vec<&str> =
        words.iter().map(String::as_str).skip_while(|w| w.contains('=') && !w.starts_with('-')).collect();
    let program = *words.first()?;
    if program == "regis" || program.ends_with("/regis") {
        return Some(words[1..].iter().map(|w| w.to_string()).collect());
    }
    if program == "cargo" && words.get(1) == Some(&"run") {
        let dashes = words.iter().position(|w| *w == "--");
        let package = words.iter().position(|w| *w == "-p").and_then(|i| words.get(i + 1)).copied();
        if matches!(package, None | Some("regis-bot" | "my-bot")) {
            return Some(dashes.map_or_else(Vec::new, |i| words[i + 1..].iter().map(|w| w.to_string()).collect()));
        }
    }
    None
}

/// Checks one shell line's bot command lines; returns how many it checked.
fn check_shell_line(at: &str, line: &str) -> usize {
    let app = regis_bot::App::new("regis").builtin_plugins();
    let mut checked = 0;
    for command in commands_of(line) {
        if let Some(args) = bot_arguments(&command) {
            if let Err(e) = app.check_command_line(&args) {
                panic!("{at}: `{line}` is not a command line the bot takes:\n{e}");
            }
            checked += 1;
        }
    }
    checked
}

/// A block's lines with `\` continuations joined.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    lines
}

fn bash_syntax_ok(text: &str) -> Result<(), String> {
    let out = std::process::Command::new("bash")
        .args(["-n", "-c", text])
        .output()
        .map_err(|e| format!("cannot run bash: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

#[test]
fn shell_blocks_and_console_commands_are_command_lines_the_bot_takes() {
    let mut checked = 0;
    for block in all_blocks() {
        match block.language() {
            "sh" => {
                if let Err(e) = bash_syntax_ok(&block.text) {
                    panic!("{}: not valid shell:\n{e}", block.at());
                }
                for line in logical_lines(&block.text) {
                    checked += check_shell_line(&block.at(), &line);
                }
            }
            "console" => {
                let commands: Vec<String> = logical_lines(&block.text)
                    .into_iter()
                    .filter_map(|l| l.strip_prefix("$ ").map(str::to_string))
                    .collect();
                for line in commands {
                    if let Err(e) = bash_syntax_ok(&line) {
                        panic!("{}: `{line}` is not valid shell:\n{e}", block.at());
                    }
                    checked += check_shell_line(&block.at(), &line);
                }
            }
            _ => {}
        }
    }
    assert!(checked >= 10, "only {checked} bot command lines found: is the block parser broken?");
}

#[test]
fn the_shell_line_reader_finds_the_bot_and_refuses_what_it_would_not_take() {
    let words = |line: &str| commands_of(line).into_iter().map(|c| bot_arguments(&c)).collect::<Vec<_>>();
    assert_eq!(
        words("printf '!ping\\n' | cargo run -q -p regis-bot -- --log info console --as \"bob smith\""),
        vec![None, Some(vec!["--log".into(), "info".into(), "console".into(), "--as".into(), "bob smith".into()])]
    );
    assert_eq!(words("REGIS_QUEUE_URL=nats://x regis serve --role worker # a worker")[0].as_ref().unwrap().len(), 3);
    assert_eq!(words("cargo run -p other -- console"), vec![None]);
    assert_eq!(check_shell_line("here", "regis serve --role receiver,worker && regis run"), 2);
    let refused = std::panic::catch_unwind(|| check_shell_line("here", "regis serve --roles worker"));
    assert!(refused.is_err(), "an unknown flag is refused");
    let refused = std::panic::catch_unwind(|| check_shell_line("here", "cargo run -p regis-bot -- mandala --log x"));
    assert!(refused.is_err(), "a flag a subcommand does not take is refused");
}

#[test]
fn toml_blocks_are_configurations_the_bot_accepts() {
    let mut checked = 0;
    for block in all_blocks().into_iter().filter(|b| b.language() == "toml") {
        let manifest = ["[package]", "[dependencies]", "[dev-dependencies]", "[workspace]"]
            .iter()
            .any(|table| block.text.lines().any(|l| l.trim() == *table));
        if manifest {
            check_manifest(&block);
        } else if let Err(e) = regis_bot::Settings::from_toml(&block.text) {
            panic!("{}: the bot refuses this configuration: {e:#}", block.at());
        }
        checked += 1;
    }
    assert!(checked >= 1, "the guide shows a configuration");
    assert!(regis_bot::Settings::from_toml("workers = 4\nprefx = \"?\"\n").is_err(), "an unknown key is refused");
}

/// A Cargo manifest shown in the docs: valid TOML whose `regis*` dependencies are crates of
/// this workspace.
fn check_manifest(block: &Block) {
    let manifest: serde_json::Value = match toml_value(&block.text) {
        Ok(v) => v,
        Err(e) => panic!("{}: not TOML: {e}", block.at()),
    };
    let members = std::fs::read_to_string(workspace().join("Cargo.toml")).expect("workspace manifest");
    for table in ["dependencies", "dev-dependencies"] {
        let Some(deps) = manifest.get(table).and_then(|d| d.as_object()) else { continue };
        for name in deps.keys().filter(|n| n.starts_with("regis")) {
            assert!(
                members.contains(&format!("{name} = {{ path")),
                "{}: `{name}` is not a crate of this workspace",
                block.at()
            );
        }
    }
}

/// TOML read by the same reader the configuration uses.
fn toml_value(text: &str) -> Result<serde_json::Value, String> {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::string(text)).extract::<serde_json::Value>().map_err(|e| e.to_string())
}

#[test]
fn json_yaml_and_unit_file_blocks_parse() {
    for block in all_blocks() {
        match block.language() {
            "json" => {
                if let Err(e) = serde_json::from_str::<serde_json::Value>(&block.text) {
                    panic!("{}: not JSON: {e}", block.at());
                }
            }
            "yaml" => {
                if let Err(e) = yaml_rust2::YamlLoader::load_from_str(&block.text) {
                    panic!("{}: not YAML: {e}", block.at());
                }
            }
            "ini" => check_unit_file(&block),
            _ => {}
        }
    }
}

/// A systemd unit: `[Section]` headers and `Key=Value` lines; a `regis` in `ExecStart` is a
/// command line the bot takes (a template's `%i` stands for each role).
fn check_unit_file(block: &Block) {
    for line in block.text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        if line.starts_with('[') && line.ends_with(']') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            panic!("{}: `{line}` is neither a [Section] nor Key=Value", block.at());
        };
        assert!(key.chars().all(|c| c.is_ascii_alphanumeric()), "{}: `{key}` is not a unit key", block.at());
        if key == "ExecStart" {
            for role in ["receiver", "gateway", "irc", "worker"] {
                let line = value.replace("%i", role);
                assert_eq!(check_shell_line(&block.at(), &line), 1, "{}: `{line}` runs the bot", block.at());
            }
        }
    }
}

#[tokio::test]
async fn sql_blocks_run_on_postgresql() {
    use regis_docs_sql::*;
    let blocks: Vec<Block> = all_blocks().into_iter().filter(|b| b.language() == "sql").collect();
    if blocks.is_empty() {
        return;
    }
    let url = regis_testkit::services::database_url();
    let mut connection = connect(&url).await;
    for (n, block) in blocks.iter().enumerate() {
        // The block's own names (`regis`) become names of this run, dropped afterwards.
        let name = format!("regis_docs_{}_{n}", std::process::id());
        let sql = rename(&block.text, "regis", &name);
        let result = run(&mut connection, &sql).await;
        cleanup(&mut connection, &name).await;
        if let Err(e) = result {
            panic!("{}: PostgreSQL refuses it: {e}", block.at());
        }
    }
}

/// Running the SQL blocks: each statement on its own (CREATE DATABASE cannot run in a
/// transaction).
mod regis_docs_sql {
    use sqlx::{Connection, Executor, PgConnection};

    pub async fn connect(url: &str) -> PgConnection {
        PgConnection::connect(url).await.unwrap_or_else(|e| panic!("PostgreSQL at {url}: {e}"))
    }

    pub async fn run(connection: &mut PgConnection, sql: &str) -> Result<(), sqlx::Error> {
        for statement in sql.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            connection.execute(statement).await?;
        }
        Ok(())
    }

    pub async fn cleanup(connection: &mut PgConnection, name: &str) {
        let _ = connection.execute(format!("DROP DATABASE IF EXISTS {name}").as_str()).await;
        let _ = connection.execute(format!("DROP ROLE IF EXISTS {name}").as_str()).await;
    }

    /// `word` replaced where it stands as a whole identifier.
    pub fn rename(sql: &str, word: &str, by: &str) -> String {
        let mut out = String::new();
        let mut rest = sql;
        let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
        while let Some(at) = rest.find(word) {
            let before = rest[..at].chars().last().or_else(|| out.chars().last());
            let after = rest[at + word.len()..].chars().next();
            out.push_str(&rest[..at]);
            if before.is_some_and(is_ident) || after.is_some_and(is_ident) {
                out.push_str(word);
            } else {
                out.push_str(by);
            }
            rest = &rest[at + word.len()..];
        }
        out.push_str(rest);
        out
    }

    #[test]
    fn rename_takes_whole_identifiers_only() {
        assert_eq!(
            rename("CREATE ROLE regis; -- regis_x regisbot", "regis", "r1"),
            "CREATE ROLE r1; -- regis_x regisbot"
        );
    }
}

#[test]
fn lua_blocks_are_script_plugins_the_bot_loads() {
    let mut checked = 0;
    for block in all_blocks().into_iter().filter(|b| b.language() == "lua") {
        let name = format!("{}-{}.lua", block.page.replace(['/', '.'], "-"), block.line);
        if let Err(e) = regis_lua::ScriptPlugin::from_source(&name, block.text.clone(), regis_lua::Limits::default()) {
            panic!("{}: the script does not load: {e}", block.at());
        }
        checked += 1;
    }
    assert!(checked >= 1, "the guide shows a script");
}
