//! Script plugins in the `regis` binary: a script in `plugins/` answers a signed slash
//! command on the interactions endpoint, and a script saved while `regis run` runs is
//! answered without a restart.

mod common;

use common::{free_port, ping_when_up, regis, signed_post, test_key, Running};
use regis_testkit::fake_discord::command_interaction;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

const HELLO: &str = "return { description = 'Greetings.', commands = {\n\
  { name = 'hello', description = 'Say hello.', params = { { name = 'who', type = 'string' } },\n\
    run = function(ctx, args) return 'hello ' .. args.who end },\n} }\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_answers_slash_commands_and_a_new_one_is_loaded_while_the_bot_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plugins = dir.path().join("plugins");
    std::fs::create_dir(&plugins).unwrap();
    std::fs::write(plugins.join("hello.lua"), HELLO).unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let mut command = regis(dir.path(), &["run"]);
    command.env("DISCORD_PUBLIC_KEY", &public).env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"));
    let bot = Running::spawn(command);
    let plugins_dir = plugins.clone();
    tokio::task::spawn_blocking(move || {
        ping_when_up(port, &key, WAIT);
        let options = serde_json::json!([{ "name": "who", "type": 3, "value": "ann" }]);
        let answer = signed_post(port, &key, &command_interaction(7, "hello", options).to_string()).unwrap();
        assert!(answer.contains(r#""content":"hello ann""#), "{answer}");
        let missing =
            signed_post(port, &key, &command_interaction(8, "hello", serde_json::json!([])).to_string()).unwrap();
        assert!(missing.contains("Usage: /hello <who>"), "{missing}");

        // A new script, saved while the bot runs, is loaded and answers.
        let later = "return { description = 'Later.', commands = {\n\
          { name = 'later', description = 'Arrived later.', run = function() return 'here now' end },\n} }\n";
        std::fs::write(plugins_dir.join("later.lua"), later).unwrap();
        let deadline = Instant::now() + WAIT;
        let mut id = 9;
        loop {
            let answer =
                signed_post(port, &key, &command_interaction(id, "later", serde_json::json!([])).to_string()).unwrap();
            if answer.contains(r#""content":"here now""#) {
                break;
            }
            assert!(Instant::now() < deadline, "the new script never answered: {answer}");
            id += 1;
            std::thread::sleep(Duration::from_millis(100));
        }
    })
    .await
    .unwrap();
    bot.terminate();
    let out = bot.finish_within(WAIT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
