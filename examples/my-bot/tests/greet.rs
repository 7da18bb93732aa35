//! The plugin with the test kit, and the binary's own console.

use std::io::Write;
use std::process::{Command, Stdio};

#[tokio::test]
async fn greetings_are_counted_per_person() {
    let bot = regis_testkit::TestBot::with(my_bot::Greet).await;
    assert_eq!(bot.send("!greet Ann").await.text(), "Hello, Ann! (greeted 1 time(s))");
    assert_eq!(bot.send_as("bob", "!greet ann").await.text(), "Hello, ann! (greeted 2 time(s))");
    assert!(bot.send("!greet").await.text().contains("Usage: !greet <who>"));
}

/// `my-bot console` with stdin piped: its own plugin, the admin plugin's help, its own name.
#[test]
fn the_binary_has_the_whole_command_line_with_its_plugin() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_my-bot"))
        .arg("console")
        .current_dir(dir.path())
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"!greet Ann\n!help\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("Hello, Ann! (greeted 1 time(s))"), "{text}");
    assert!(text.contains("greet") && text.contains("ping"), "help lists both plugins' commands: {text}");
    assert!(!text.contains("roll"), "no built-in plugin it did not add: {text}");
    let help = Command::new(env!("CARGO_BIN_EXE_my-bot")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: my-bot") && help.contains("serve"), "{help}");
}
