//! The data directory as users and accidents treat it: backed up by copying `*.db` after a
//! clean exit, damaged files, a read-only directory, a core database that went missing, and
//! `regis backup`.

mod common;

use common::{free_port, ping_when_up, regis, signed_post, test_key, Running};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A piped console session in `dir`.
fn console(dir: &Path, args: &[&str], input: &str) -> Output {
    let mut command = regis(dir, &["console"]);
    command.args(args).stdin(std::process::Stdio::piped()).env("REGIS_LOG", "warn");
    let mut running = command.spawn().unwrap();
    running.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let pid = running.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(running.wait_with_output());
    });
    rx.recv_timeout(WAIT)
        .unwrap_or_else(|_| {
            let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
            panic!("the console did not exit within {WAIT:?}")
        })
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Every database file of a data directory, and write-ahead log, with its bytes. (Not the
/// `-shm` index beside a log: any reader of a database with a log may rebuild it, and it holds
/// no data.)
fn snapshot(data: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(data.join("plugins"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.to_string_lossy().ends_with("-shm"))
        .chain(std::iter::once(data.join("core.db")))
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect()
}

/// Only the `.db` files of `from`, copied into a new data directory under `to`.
fn copy_db_files_only(from: &Path, to: &Path) {
    std::fs::create_dir_all(to.join("regis-data/plugins")).unwrap();
    std::fs::copy(from.join("core.db"), to.join("regis-data/core.db")).unwrap();
    for entry in std::fs::read_dir(from.join("plugins")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "db") {
            std::fs::copy(&path, to.join("regis-data/plugins").join(path.file_name().unwrap())).unwrap();
        }
    }
}

#[test]
fn after_a_clean_console_exit_the_db_files_alone_hold_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = console(dir.path(), &[], "!rank set @alice 100\n!roll 1d2\n");
    assert!(out.status.success(), "{}", stderr(&out));
    let data = dir.path().join("regis-data");
    for wal in ["core.db-wal", "plugins/dice.db-wal"] {
        let size = std::fs::metadata(data.join(wal)).map(|m| m.len()).unwrap_or(0);
        assert_eq!(size, 0, "{wal} is empty or gone after a clean exit");
    }
    // A backup that copies only `*.db` (no -wal, no -shm) has everything.
    let copy = tempfile::tempdir().unwrap();
    copy_db_files_only(&data, copy.path());
    let out = console(copy.path(), &[], "!rank @alice\n!roll 1d2\n");
    let text = stdout(&out);
    assert!(text.starts_with("alice has rank 100.\n"), "{text}");
    assert!(text.ends_with("(roll #2)\n"), "the dice counted the earlier roll: {text}");
}

#[test]
fn after_sigterm_the_db_files_alone_hold_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let mut command = regis(dir.path(), &["run"]);
    command.env("DISCORD_PUBLIC_KEY", &public).env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"));
    let bot = Running::spawn(command);
    ping_when_up(port, &key, WAIT);
    let roll = regis_testkit::fake_discord::command_interaction(5, "roll", serde_json::json!([]));
    let answer = signed_post(port, &key, &roll.to_string()).unwrap();
    assert!(answer.contains("(roll #1)"), "{answer}");
    bot.terminate();
    assert!(bot.finish_within(WAIT).status.success());
    let copy = tempfile::tempdir().unwrap();
    copy_db_files_only(&dir.path().join("regis-data"), copy.path());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let counts: Vec<(String, u64)> = runtime.block_on(async {
        let storage = regis::SqliteBackend::new(copy.path().join("regis-data"));
        let dice = regis::StorageBackend::open(&storage, "dice", &[]).await.unwrap();
        regis::Store::new(dice.kv).list("").await.unwrap()
    });
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert!(counts[0].0.starts_with("discord:") && counts[0].1 == 1, "{counts:?}");
}

#[test]
fn a_damaged_database_stops_the_bot_at_once_naming_it_and_touching_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    assert!(console(dir.path(), &[], "!rank set @alice 100\n!roll\n").status.success());
    let data = dir.path().join("regis-data");
    let good_core = std::fs::read(data.join("core.db")).unwrap();
    type Damage = Box<dyn Fn(&[u8]) -> Vec<u8>>;
    let damages: [(&str, &str, Damage); 4] = [
        ("core.db", "file is not a database", Box::new(|_| (0..8192u32).map(|i| (i * 7919 % 251) as u8).collect())),
        ("core.db", "database disk image is malformed", Box::new(|good| good[..3000].to_vec())),
        ("core.db", "file is not a database", Box::new(|_| [b"SQLite format 3\0".as_slice(), &[0x5a; 8192]].concat())),
        ("plugins/dice.db", "file is not a database", Box::new(|_| b"not a database at all".to_vec())),
    ];
    for (file, cause, damage) in damages {
        let good = std::fs::read(data.join(file)).unwrap();
        std::fs::write(data.join(file), damage(&good)).unwrap();
        let before = snapshot(&data);
        let started = std::time::Instant::now();
        let out = console(dir.path(), &[], "!ping\n");
        let message = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{file}: {message}");
        assert!(started.elapsed() < Duration::from_secs(10), "{file}: failed at once, not after a pool timeout");
        let expected = format!("cannot use database ./regis-data/{file}: {cause}");
        assert!(message.contains(&expected), "{file}: {message}");
        assert_eq!(stdout(&out), "", "the bot did not start");
        assert!(snapshot(&data) == before, "{file}: no database file was touched");
        std::fs::write(data.join(file), good).unwrap();
    }
    assert_eq!(std::fs::read(data.join("core.db")).unwrap(), good_core);
    assert_eq!(stdout(&console(dir.path(), &[], "!rank @alice\n")), "alice has rank 100.\n", "repaired, it runs");
}

#[test]
fn a_read_only_data_directory_stops_the_bot_at_once_naming_the_file() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let dir = tempfile::tempdir().unwrap();
    assert!(console(dir.path(), &[], "!roll\n").status.success());
    let data = dir.path().join("regis-data");
    let set_mode =
        |path: &Path, mode: u32| std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    for (path, mode) in [(data.join("plugins"), 0o555), (data.clone(), 0o555)] {
        set_mode(&path, mode);
    }
    for entry in std::fs::read_dir(data.join("plugins")).unwrap() {
        set_mode(&entry.unwrap().path(), 0o444);
    }
    set_mode(&data.join("core.db"), 0o444);
    set_mode(dir.path(), 0o755);
    let mut command = regis(dir.path(), &["console"]);
    command.stdin(std::process::Stdio::null());
    // Root writes anywhere: run as nobody, whom the permissions bind.
    if rustix::process::geteuid().is_root() {
        command.uid(65534).gid(65534);
    }
    let out = Running::spawn(command).finish_within(Duration::from_secs(10));
    let message = stderr(&out);
    for (path, mode) in [(data.clone(), 0o755), (data.join("plugins"), 0o755)] {
        set_mode(&path, mode);
    }
    assert_eq!(out.status.code(), Some(1), "{message}");
    // The databases open side by side: whichever is refused first is named. SQLite refuses a
    // read-only database at its first write, or at once when the last run left its write-ahead
    // log behind (it cannot make the log's index in a read-only directory).
    let named = message.split("cannot use database ./regis-data/").nth(1).unwrap_or_default();
    let refused = [".db: attempt to write a readonly database", ".db: unable to open database file"];
    assert!(refused.iter().any(|why| named.contains(why)), "{message}");
}

#[test]
fn a_missing_core_database_in_a_used_data_directory_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    assert!(console(dir.path(), &[], "!rank set @alice 100\n").status.success());
    let out = console(dir.path(), &[], "!ping\n");
    assert!(!stderr(&out).contains("creating a new core database"), "{}", stderr(&out));
    std::fs::remove_file(dir.path().join("regis-data/core.db")).unwrap();
    let out = console(dir.path(), &[], "!rank @alice\n");
    assert_eq!(stdout(&out), "alice has rank 0.\n");
    assert!(
        stderr(&out).contains("creating a new core database in a data directory that was used before"),
        "{}",
        stderr(&out)
    );
    // An empty file is the same loss.
    std::fs::write(dir.path().join("regis-data/core.db"), b"").unwrap();
    assert!(stderr(&console(dir.path(), &[], "!ping\n")).contains("creating a new core database"));
}

#[test]
fn backup_copies_complete_databases_while_the_bot_runs() {
    let dir = tempfile::tempdir().unwrap();
    assert!(console(dir.path(), &[], "!rank set @alice 100\n!roll\n").status.success());
    // A running bot holds the files open; the backup is still consistent.
    let (key, public) = test_key();
    let port = free_port();
    let mut command = regis(dir.path(), &["run"]);
    command.env("DISCORD_PUBLIC_KEY", &public).env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"));
    let bot = Running::spawn(command);
    ping_when_up(port, &key, WAIT);
    let out = Running::spawn(regis(dir.path(), &["backup", "saved"])).finish_within(WAIT);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed = stdout(&out);
    assert!(listed.contains("saved/core.db\n") && listed.contains("saved/plugins/dice.db\n"), "{listed}");
    assert!(listed.ends_with("backed up 7 database(s) from ./regis-data into saved\n"), "{listed}");
    let again = Running::spawn(regis(dir.path(), &["backup", "saved"])).finish_within(WAIT);
    assert!(
        !again.status.success() && stderr(&again).contains("already there"),
        "never overwrites: {}",
        stderr(&again)
    );
    bot.terminate();
    assert!(bot.finish_within(WAIT).status.success());
    let restored = tempfile::tempdir().unwrap();
    std::fs::rename(dir.path().join("saved"), restored.path().join("regis-data")).unwrap();
    assert_eq!(stdout(&console(restored.path(), &[], "!rank @alice\n")), "alice has rank 100.\n");
}
