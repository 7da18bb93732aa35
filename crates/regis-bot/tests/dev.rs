//! `regis dev` in a real browser: Debian's Chromium, headless, driven over WebDriver by
//! chromedriver (`TEST_CHROMIUM` and `TEST_CHROMEDRIVER` name other binaries; `scripts/test`
//! installs both when missing). The page is used as a person uses it: typing in the composer,
//! clicking buttons and the speaker switch, reading what is rendered.

mod common;

use common::{free_port, Running};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(30);

/// The owner of the playground (ada), as the page's people list has her.
const ADA: &str = "1310000000000000001";

/// A headless Chromium session; chromedriver and the browsers it started are killed when it
/// is dropped (they run in a process group of their own).
struct Browser {
    driver: Child,
    client: Client,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let group = format!("-{}", self.driver.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.driver.wait();
    }
}

fn binary(variable: &str, default: &str) -> String {
    let path = std::env::var(variable).unwrap_or_else(|_| default.to_string());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} not found: install Debian's chromium and chromium-driver (scripts/test does), or set {variable}"
    );
    path
}

async fn browser() -> Browser {
    let chromedriver = binary("TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
    let chromium = binary("TEST_CHROMIUM", "/usr/bin/chromium");
    let port = free_port();
    let driver = Command::new(chromedriver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let profile = tempfile::tempdir().unwrap();
    let capabilities = json!({
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1400,900", format!("--user-data-dir={}", profile.path().display()),
            ],
        }
    });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    let deadline = Instant::now() + WAIT;
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
        {
            Ok(client) => break client,
            Err(e) => {
                assert!(Instant::now() < deadline, "no WebDriver session: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    Browser { driver, client, _profile: profile }
}

/// A script plugin whose option is completed by the plugin as the user types.
const FRUIT: &str = r#"
return {
  description = "Pick a fruit.",
  commands = {
    {
      name = "fruit",
      description = "Name a fruit.",
      params = { {
        name = "name", type = "string", description = "a fruit",
        autocomplete = function(ctx, partial)
          local found = {}
          for _, fruit in ipairs({ "apple", "apricot", "banana", "cherry" }) do
            if fruit:sub(1, #partial) == partial then table.insert(found, fruit) end
          end
          return found
        end,
      } },
      run = function(ctx, args) return "You picked " .. args.name .. "." end,
    },
  },
}
"#;

/// `regis dev` on a free port in `dir`, with the shipped poll script and [`FRUIT`] loaded;
/// its URL.
fn start_dev(dir: &std::path::Path) -> (Running, String) {
    let scripts = dir.join("plugins");
    std::fs::create_dir(&scripts).unwrap();
    let poll = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/scripts/poll.lua");
    std::fs::copy(poll, scripts.join("poll.lua")).unwrap();
    std::fs::write(scripts.join("fruit.lua"), FRUIT).unwrap();
    let command = common::regis(dir, &["dev", "--port", "0"]);
    let mut dev = Running::spawn(command);
    dev.wait_for_log("in your browser", WAIT);
    let log = dev.log();
    let url = log
        .split("regis dev: open ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("the URL in the log")
        .to_string();
    (dev, url)
}

/// The texts of the elements `css` matches.
async fn texts(client: &Client, css: &str) -> Vec<String> {
    let script = "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)";
    let found = client.execute(script, vec![json!(css)]).await.expect("run a script in the page");
    serde_json::from_value(found).unwrap_or_default()
}

/// Waits until an element `css` matches has a text that satisfies `check`; that text.
async fn wait_for_text(client: &Client, css: &str, what: &str, check: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(found) = texts(client, css).await.into_iter().find(|t| check(t)) {
            return found;
        }
        if Instant::now() > deadline {
            let page = texts(client, "#messages .message, #log .entry, #notice").await;
            panic!("no {what} ({css}) within {WAIT:?}; the page shows:\n{}", page.join("\n"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types a line into the composer and presses Enter.
async fn type_line(client: &Client, line: &str) {
    let composer = client.find(Locator::Css("#composer")).await.expect("the composer");
    composer.send_keys(&format!("{line}\u{E007}")).await.expect("type into the composer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_uses_the_playground_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let (dev, url) = start_dev(dir.path());
    let browser = browser().await;
    let page = &browser.client;
    page.goto(&url).await.expect("open the page");
    wait_for_text(page, "#status", "a live connection", |t| t == "connected to regis dev").await;

    // A message goes to the bot over the Gateway; the answer is a reply in the channel.
    type_line(page, "!roll 2d6").await;
    let roll = wait_for_text(page, ".message[data-author='Regis'] .content", "the roll", |t| {
        t.starts_with('[') && t.contains("] = ") && t.contains("(roll #1)")
    })
    .await;
    assert!(texts(page, ".message[data-author='ada'] .content").await.contains(&"!roll 2d6".to_string()), "{roll}");
    // `@Regis` is sent as Discord's client sends a mention, `<@id>`, which the bot answers.
    type_line(page, "@Regis help roll").await;
    wait_for_text(page, ".message[data-author='Regis'] .content", "help by mention", |t| t.contains("Roll dice, e.g."))
        .await;
    wait_for_text(page, ".message[data-author='ada'] .mention", "the mention", |t| t == "@Regis").await;

    // A slash command whose reply carries a file is deferred: "thinking…", then the edit of
    // @original with the image, which the browser loads and decodes.
    page.execute(
        "window.sawThinking = false; new MutationObserver(() => { \
           if (document.querySelector('.message.thinking')) window.sawThinking = true; \
         }).observe(document.getElementById('messages'), { childList: true, subtree: true });",
        vec![],
    )
    .await
    .unwrap();
    type_line(page, "/mando seed:1").await;
    let deadline = Instant::now() + WAIT;
    loop {
        let loaded = page
            .execute(
                "const img = document.querySelector(\"#messages img[src$='/mandala-1.png']\"); \
                 return img !== null && img.complete && img.naturalWidth > 0;",
                vec![],
            )
            .await
            .unwrap();
        if loaded == json!(true) {
            break;
        }
        assert!(Instant::now() < deadline, "no mandala image: {:?}", texts(page, "#log .entry").await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(page.execute("return window.sawThinking", vec![]).await.unwrap(), json!(true), "no \"thinking…\" first");
    assert!(texts(page, ".message.thinking").await.is_empty(), "the edit replaced \"thinking…\"");
    wait_for_text(page, ".message .used", "who used the command", |t| t == "ada used /mando seed:1").await;
    wait_for_text(page, "#log .entry", "the deferral in the log", |t| t.contains("/mando seed:1: deferred after"))
        .await;

    // Autocomplete: the picker offers what the plugin suggests for what is typed so far.
    let composer = page.find(Locator::Css("#composer")).await.unwrap();
    composer.send_keys("/fruit name:ap").await.unwrap();
    let suggested = wait_for_text(page, "#picker .item", "the plugin's suggestions", |t| t == "apricot").await;
    let items = texts(page, "#picker .item").await;
    assert_eq!(items, ["apple", "apricot"], "{suggested}");
    composer.send_keys("\u{E004}\u{E007}").await.unwrap(); // Tab picks the first, Enter sends.
    wait_for_text(page, ".message .content", "the fruit", |t| t == "You picked apple.").await;

    // A button on a script plugin's reply: the click is a component interaction, and the
    // plugin's ephemeral answer is shown to the one who clicked.
    type_line(page, "!poll Pizza tonight?").await;
    wait_for_text(page, ".message button", "the poll's buttons", |t| t == "Yes").await;
    page.find(Locator::XPath("//div[@id='messages']//button[text()='Yes']")).await.unwrap().click().await.unwrap();
    wait_for_text(page, ".message.ephemeral .content", "the vote's answer", |t| t == "Counted, ada.").await;

    // The picture of the page the README shows: the mandala, the poll and the vote's answer.
    let shot = page.screenshot().await.expect("a screenshot");
    let decoder = png::Decoder::new(std::io::Cursor::new(&shot));
    let info = decoder.read_info().expect("the screenshot is a PNG");
    // The viewport: the window's width, its height less what the browser keeps for itself.
    assert_eq!(info.info().width, 1400, "the window's width");
    assert!(info.info().height >= 600, "the viewport's height: {}", info.info().height);
    std::fs::write(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("regis-dev.png"), &shot).unwrap();
    if std::env::var_os("TEST_DOCS_SCREENSHOT").is_some() {
        let docs = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/regis-dev.png");
        std::fs::write(docs, &shot).unwrap();
    }
    type_line(page, "!results").await;
    wait_for_text(page, ".message .content", "the results", |t| t == "Pizza tonight? yes 1, no 0").await;

    // cy has rank 0: her ban is refused, and only she sees her ephemeral refusal.
    page.find(Locator::Css("input[aria-label='speak as cy']")).await.unwrap().click().await.unwrap();
    type_line(page, &format!("/ban user:<@{ADA}>")).await;
    wait_for_text(page, ".message.ephemeral .content", "the refusal", |t| t == "ban needs rank 999; yours is 0.").await;
    let code = texts(page, ".message.ephemeral .content code").await;
    assert_eq!(code, ["ban"], "the command name is rendered as Discord renders `code`");
    assert!(
        !texts(page, ".message.ephemeral .content").await.iter().any(|t| t == "Counted, ada."),
        "ada's ephemeral answer is not shown to cy"
    );

    // The panel: a rank given to cy is stored and holds for her next command.
    let rank = page.find(Locator::Css("input[aria-label='rank of cy']")).await.unwrap();
    rank.clear().await.unwrap();
    rank.send_keys("150\u{E007}").await.unwrap();
    wait_for_text(page, "#log .entry", "the rank stored", |t| {
        t.ends_with("cy now has rank 150 (stored, from the panel)")
    })
    .await;
    type_line(page, "!rank").await;
    wait_for_text(page, ".message .content", "cy's new rank", |t| t == "cy has rank 150.").await;

    // A plugin switched off in the panel is off for the bot; on again, it answers again.
    page.find(Locator::Css("input[data-plugin='dice']")).await.unwrap().click().await.unwrap();
    wait_for_text(page, "#log .entry", "the switch", |t| t.ends_with("plugin dice disabled from the panel")).await;
    type_line(page, "!roll 1d6").await;
    wait_for_text(page, ".message .content", "the refusal", |t| t == "roll is unavailable: plugin dice is disabled.")
        .await;
    page.find(Locator::Css("input[data-plugin='dice']")).await.unwrap().click().await.unwrap();
    wait_for_text(page, "#log .entry", "the switch", |t| t.ends_with("plugin dice enabled from the panel")).await;
    type_line(page, "!roll 1d6").await;
    wait_for_text(page, ".message .content", "cy's roll", |t| t.starts_with('[') && t.ends_with("(roll #1)")).await;

    // The DM view: what cy says to the bot there, and its answer, stay out of #general.
    page.find(Locator::Css("#dm-link")).await.unwrap().click().await.unwrap();
    type_line(page, "!ping").await;
    wait_for_text(page, ".message[data-author='Regis'] .content", "the DM's answer", |t| t == "pong").await;
    page.find(Locator::Css(".channel[data-channel='290926798999357250']")).await.unwrap().click().await.unwrap();
    let general = texts(page, ".message .content").await;
    assert!(!general.iter().any(|t| t == "pong" || t == "!ping"), "the DM is not in #general: {general:?}");

    browser.client.clone().close().await.expect("end the browser session");
    drop(browser);
    dev.terminate();
    let output = dev.finish_within(WAIT);
    assert!(output.status.success(), "regis dev stopped cleanly: {output:?}");
}

#[test]
fn a_port_in_use_is_named_by_its_flag() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let output = common::regis(dir.path(), &["dev", "--port", &port]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("--port {port}: 127.0.0.1:{port} is in use")), "{stderr}");
    assert!(!dir.path().join("regis-data").exists(), "nothing started: {stderr}");
}
