//! The `regis` binary driven as a user would: piped console sessions, and the README's
//! transcript reproduced exactly.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn run_console(dir: &Path, args: &[&str], input: &str) -> (String, String, bool) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_regis"))
        .arg("console")
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start regis");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().expect("regis runs");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.success(),
    )
}

/// Each `$ printf '...' | regis console [args]` block of the README transcript section, with
/// the output shown under it.
fn readme_sessions() -> Vec<(Vec<String>, String, String)> {
    let readme = include_str!("../../../README.md");
    let start = readme.find("<!-- transcript:start -->").expect("transcript:start marker");
    let end = readme.find("<!-- transcript:end -->").expect("transcript:end marker");
    let mut sessions = Vec::new();
    for block in readme[start..end].split("```console\n").skip(1) {
        let block = block.split("```").next().unwrap();
        let (command, output) = block.split_once('\n').unwrap();
        let command = command.strip_prefix("$ printf '").expect("session starts with $ printf '");
        let (input, rest) = command.split_once("' | ").unwrap();
        let args: Vec<String> =
            rest.split_whitespace().skip_while(|w| *w != "console").skip(1).map(String::from).collect();
        sessions.push((args, input.replace("\\n", "\n"), output.to_string()));
    }
    sessions
}

#[test]
fn readme_transcript_matches_the_program() {
    let dir = tempfile::tempdir().unwrap();
    let sessions = readme_sessions();
    assert!(sessions.len() >= 2, "README shows at least two sessions");
    for (args, input, expected) in sessions {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (stdout, stderr, ok) = run_console(dir.path(), &args, &input);
        assert!(ok, "regis console {args:?} failed: {stderr}");
        assert_eq!(stdout, expected, "output of `regis console {args:?}` differs from the README");
    }
}

#[test]
fn ranks_persist_between_console_sessions_and_uploads_are_files() {
    let dir = tempfile::tempdir().unwrap();
    let (out, _, ok) = run_console(dir.path(), &[], "!rank set @alice 100\n!ban @troll\n");
    assert!(ok);
    assert_eq!(out, "alice now has rank 100.\ntroll is banned.\n");
    let (out, _, _) = run_console(dir.path(), &["--as", "alice"], "!rank\n!rank set @bob 200\n");
    assert_eq!(
        out,
        "alice has rank 100.\n`rank set` failed: you cannot grant rank 200: it must be below your own (100)\n"
    );
    let (out, _, _) = run_console(dir.path(), &["--as", "troll"], "!ping\n");
    assert_eq!(out, "", "banned users get no answer");
    let (out, _, _) = run_console(dir.path(), &["--as", "carol", "--rank", "999"], "!ping\n!rank\n");
    assert_eq!(out, "pong\ncarol has rank 999.\n");
    let (out, _, _) = run_console(dir.path(), &["--as", "carol"], "!rank\n");
    assert_eq!(out, "carol has rank 0.\n", "--rank lasts one session only");
    // A user's mistake is answered, and is no warning in the log.
    let (out, err, _) = run_console(dir.path(), &[], "!plugin disable nosuch\n");
    assert_eq!(out, "`plugin disable` failed: no plugin named `nosuch`\n");
    assert!(err.is_empty(), "{err}");
    // The operator is an owner whoever speaks: a moderator cannot demote it.
    let (out, _, _) = run_console(dir.path(), &["--as", "mod", "--rank", "150"], "!rank set @operator 5\n");
    assert_eq!(out, "`rank set` failed: operator has rank 999, not below your own (150)\n");
    assert!(dir.path().join("regis-data/plugins/dice.db").exists());
}

#[test]
fn bad_configuration_is_reported_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("regis.toml"), "workers = \"lots\"\n").unwrap();
    let (_, stderr, ok) = run_console(dir.path(), &[], "!ping\n");
    assert!(!ok);
    assert!(stderr.contains("configuration key `workers`"), "{stderr}");
}

#[test]
fn a_written_out_identity_is_the_one_acted_on_and_odd_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let long = "x".repeat(300);
    let input = format!("!ban console:mallory\n!ban console:operator\n!ban @ali\u{202E}ce\n!ban {long}\n");
    let (out, _, ok) = run_console(dir.path(), &[], &input);
    assert!(ok);
    assert_eq!(
        out,
        "mallory is banned.\n\
         `ban` failed: operator has rank 999, not below your own (999)\n\
         `user` must name a user without spaces, control or direction-changing characters\nUsage: !ban <user>\n\
         `user` must name a user in at most 64 characters\nUsage: !ban <user>\n"
    );
    let (out, _, _) = run_console(dir.path(), &["--as", "mallory"], "!ping\n");
    assert_eq!(out, "", "the identity banned is the one named");
    let (_, err, ok) = run_console(dir.path(), &["--as", "evil\u{202E}"], "!ping\n");
    assert!(!ok && err.contains("--as `evil\u{202E}`: must name a user without spaces"), "{err}");
}

#[test]
fn invalid_utf8_input_is_replaced_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_regis"))
        .arg("console")
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"!ping\n\xff\xfe\xfd\n!ping\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "pong\npong\n");
    assert!(String::from_utf8_lossy(&out.stderr).contains("line 2 is not valid UTF-8"));
}

/// `--log` beats `RUST_LOG` (which only fills in when `log` is set nowhere).
#[test]
fn the_log_flag_wins_over_rust_log() {
    let dir = tempfile::tempdir().unwrap();
    let console = |args: &[&str], rust_log: &str| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_regis"))
            .args(args)
            .arg("console")
            .current_dir(dir.path())
            .env("RUST_LOG", rust_log)
            .env("NO_COLOR", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"!ping\n").unwrap();
        String::from_utf8_lossy(&child.wait_with_output().unwrap().stderr).into_owned()
    };
    assert!(console(&["--log", "debug"], "error").contains("DEBUG"), "the flag wins");
    assert!(console(&[], "debug").contains("DEBUG"), "RUST_LOG fills in");
    assert!(!console(&["--log", "error"], "debug").contains("DEBUG"));
}

#[test]
fn script_plugins_in_the_plugins_directory_are_loaded_and_a_broken_one_is_left_out() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(
        plugins.join("hello.lua"),
        "return { description = 'Greetings.', commands = { { name = 'hello', description = 'Say hello.',\n\
         params = { { name = 'who', type = 'string', optional = true } },\n\
         run = function(ctx, args) return 'hello ' .. (args.who or ctx.author.name) end } } }\n",
    )
    .unwrap();
    std::fs::write(plugins.join("broken.lua"), "return {\n  commands = ,\n}\n").unwrap();
    std::fs::write(plugins.join("notes.txt"), "not a script").unwrap();
    let (stdout, stderr, ok) = run_console(dir.path(), &[], "!hello\n!hello world\n!plugins\n");
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[..2], ["hello operator", "hello world"], "{stdout}");
    assert!(stdout.contains("hello") && stdout.contains("Greetings."), "listed: {stdout}");
    assert!(stderr.contains("broken.lua:2:"), "the broken script's error names its line: {stderr}");
    // A directory of its own, from the configuration.
    std::fs::write(dir.path().join("regis.toml"), "plugins_dir = \"elsewhere\"\n").unwrap();
    let (stdout, _, ok) = run_console(dir.path(), &[], "!hello\n");
    assert!(ok);
    assert_eq!(stdout.trim(), "Unknown command `!hello`. Try `!help`.");
}
