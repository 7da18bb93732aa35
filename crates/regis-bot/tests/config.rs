//! `regis config show` and `regis config check`: what the bot would run with, where each value
//! came from, and what it would refuse, without starting anything.

mod common;

use common::regis;

fn run(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = regis(dir, args);
    for (key, value) in env {
        command.env(key, value);
    }
    let out = command.output().expect("regis runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// The line of `key` in `show`'s output, its value and its origin.
fn line<'a>(show: &'a str, key: &str) -> (&'a str, &'a str) {
    let line =
        show.lines().find(|l| l.starts_with(&format!("{key} = "))).unwrap_or_else(|| panic!("no {key}:\n{show}"));
    let (setting, origin) = line.split_once("  # ").unwrap_or_else(|| panic!("no origin: {line}"));
    (setting.trim_end().split_once(" = ").map_or("", |(_, v)| v), origin)
}

#[test]
fn show_names_where_each_value_came_from_and_masks_passwords() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("regis.toml"),
        "workers = 4\nprefix = \"%\"\n\n[command_ranks]\n\"rank set\" = 200\n",
    )
    .unwrap();
    let env = [("REGIS_PREFIX", "?"), ("REGIS_DATABASE_URL", "postgres://bot:hunter2@127.0.0.1/regis")];
    let (code, show, err) = run(dir.path(), &["--log", "info", "config", "show"], &env);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line(&show, "workers"), ("4", "regis.toml line 1"));
    assert_eq!(line(&show, "prefix"), ("\"?\"", "environment REGIS_PREFIX"), "the environment wins over the file");
    assert_eq!(line(&show, "log"), ("\"info\"", "flag --log"));
    assert_eq!(line(&show, "command_ranks.\"rank set\""), ("200", "regis.toml line 5"));
    assert_eq!(line(&show, "handler_timeout"), ("\"30s\"", "default"));
    assert_eq!(line(&show, "irc.nick"), ("\"Regis\"", "default"));
    assert_eq!(line(&show, "database_url").0, "\"postgres://bot:****@127.0.0.1/regis\"");
    assert!(!show.contains("hunter2"), "{show}");
    assert!(!dir.path().join("regis-data").exists(), "nothing was started or created");
}

#[test]
fn check_passes_what_would_start_and_refuses_what_would_not() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &["config", "check"], &[("REGIS_WORKERS", "3")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, "The configuration is valid: no file, the environment (1 value), no flags.\n");
    let refused = [
        ("[command_ranks]\nbann = 5\n", "no command is named `bann` (did you mean `ban`?)"),
        ("workerz = 3\n", "configuration key `workerz` (regis.toml line 1) is not a setting: did you mean `workers`?"),
        ("handler_timeout = \"soon\"\n", "`soon` is not a duration"),
        ("trivia_hints = 0\n", "configuration key `trivia_hints`: must be 1 to 10, got 0"),
        (
            "queue_url = \"nats://127.0.0.1:4222\"\npubsub_push_endpoint = \"https://w.example/pubsub/push\"\n",
            "configuration key `pubsub_push_endpoint` applies to a Pub/Sub queue only",
        ),
        (
            "queue_url = \"pubsub://p/regis\"\npubsub_push_endpoint = \"w.example/pubsub/push\"\n",
            "configuration key `pubsub_push_endpoint`: `w.example/pubsub/push` is not an http(s) URL",
        ),
        ("[hooks.github.push]\nauth = \"hmac\"\n", "no plugin declares this webhook (declared: github.events,"),
        (
            "[hooks.github.events]\nauth = \"hmac\"\n",
            "set its secret in the environment variable REGIS_HOOK_GITHUB_EVENTS_SECRET",
        ),
    ];
    for (file, problem) in refused {
        std::fs::write(dir.path().join("regis.toml"), file).unwrap();
        let (code, out, err) = run(dir.path(), &["config", "check"], &[]);
        assert_eq!((code, out.as_str()), (1, ""), "{file}: {err}");
        assert!(err.contains(problem), "{file}: {err}");
    }
    assert!(!dir.path().join("regis-data").exists(), "nothing was started or created");
}

#[test]
fn configuration_flags_are_taken_before_or_after_the_subcommand_and_after_wins() {
    let dir = tempfile::tempdir().unwrap();
    let (code, show, err) = run(dir.path(), &["config", "show", "--log", "info"], &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line(&show, "log"), ("\"info\"", "flag --log"));
    let (_, show, _) = run(dir.path(), &["--log", "debug", "--prefix", "?", "config", "show", "--log", "info"], &[]);
    assert_eq!(line(&show, "log"), ("\"info\"", "flag --log"));
    assert_eq!(line(&show, "prefix"), ("\"?\"", "flag --prefix"));
}

#[test]
fn each_subcommand_shows_only_the_options_it_takes() {
    let dir = tempfile::tempdir().unwrap();
    let help = |args: &[&str]| {
        let (code, out, err) = run(dir.path(), args, &[]);
        assert_eq!(code, 0, "{err}");
        out
    };
    for args in [&["run", "--help"][..], &["console", "--help"], &["serve", "--help"], &["config", "show", "--help"]] {
        let text = help(args);
        for flag in ["--config <FILE>", "--data-dir <DIR>", "--prefix <TEXT>", "--log <FILTER>"] {
            assert!(text.contains(flag), "`regis {}` lacks {flag}:\n{text}", args.join(" "));
        }
    }
    // Rendering mandalas and scaffolding a crate read no configuration, and do not offer it.
    for args in [&["mandala", "--help"][..], &["new", "--help"]] {
        let text = help(args);
        assert!(!text.contains("--data-dir") && !text.contains("--log"), "`regis {}`:\n{text}", args.join(" "));
    }
    let (code, _, err) = run(dir.path(), &["mandala", "--log", "info", "--out", "x.png"], &[]);
    assert_eq!(code, 2, "{err}");
    // Environment variables are shown one way: `[env: NAME]`, never clap's `[env: NAME=value]`.
    let top = help(&["--help"]);
    assert!(top.starts_with("Regis: a bot for Discord, IRC and ChatOps"), "{top}");
    for variable in ["REGIS_CONFIG", "REGIS_DATA_DIR", "REGIS_PREFIX", "REGIS_LOG"] {
        assert!(top.contains(&format!("[env: {variable}]")), "{top}");
    }
    assert!(!top.contains("=]"), "{top}");
    // Subcommands are listed by a one-line summary; the details are in their own --help.
    let run_line = top.lines().find(|l| l.trim_start().starts_with("run ")).unwrap();
    assert!(!run_line.contains("DISCORD_TOKEN"), "{run_line}");
    assert!(help(&["run", "--help"]).contains("DISCORD_TOKEN enables the Discord Gateway"));
}

#[test]
fn script_limits_come_from_scripts_and_regis_script_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("regis.toml"),
        "[scripts]\ninstructions = 5000\n\n[scripts.plugins.poll]\ntime = \"2s\"\n",
    )
    .unwrap();
    let (code, show, err) = run(dir.path(), &["config", "show"], &[("REGIS_SCRIPT_MEMORY", "1048576")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(line(&show, "scripts.memory"), ("1048576", "environment REGIS_SCRIPT_MEMORY"));
    assert_eq!(line(&show, "scripts.instructions"), ("5000", "regis.toml line 2"));
    let (code, _, err) = run(dir.path(), &["config", "check"], &[("REGIS_SCRIPT_TIME", "soon")]);
    assert_eq!(code, 1);
    assert!(err.contains("`scripts.time`: `soon` is not a duration"), "{err}");
    let (code, _, err) = run(dir.path(), &["config", "check"], &[("REGIS_SCRIPT_MEMROY", "1")]);
    assert_eq!(code, 1);
    assert!(err.contains("REGIS_SCRIPT_MEMROY is not a setting: did you mean REGIS_SCRIPT_MEMORY?"), "{err}");
}
