//! Whole games in the test kit: several players, hints, time-outs, skips, stops, a flood of
//! right answers, restarts, and question files of every format.

use regis::{ChannelRef, Envelope};
use regis_plugin_trivia::{Trivia, TriviaConfig};
use regis_testkit::{Sent, TestBot, CHANNEL, CONNECTOR};
use std::path::Path;
use std::time::{Duration, Instant};

const SET: &str = r#"
[[question]]
category = "test"
question = "What is the capital of Burkina Faso?"
answers = ["Ouagadougou"]

[[question]]
category = "test"
question = "Which city hosts the Regis test suite?"
answers = ["Testville", "Test City"]

[[question]]
category = "test"
question = "What colour is the test sky?"
answers = ["blue"]
"#;

/// Quick settings, the questions of [`SET`] in `dir`.
fn config(dir: &Path) -> TriviaConfig {
    std::fs::write(dir.join("set.toml"), SET).unwrap();
    TriviaConfig {
        rounds: 3,
        hints: 2,
        hint_interval: Duration::from_millis(300),
        pause: Duration::from_millis(100),
        settle: Duration::from_millis(150),
        dir: Some(dir.to_path_buf()),
        ..TriviaConfig::default()
    }
}

fn answer_to(question_line: &str) -> &'static str {
    if question_line.contains("Burkina") {
        "Ouagadougou"
    } else if question_line.contains("test suite") {
        "Testville"
    } else {
        "blue"
    }
}

async fn bot_with(dir: &Path) -> TestBot {
    let bot = TestBot::builder().plugin(Trivia::new(config(dir))).owner("boss").start().await;
    let imported = bot.send_as("boss", "!trivia import set.toml").await.text();
    assert_eq!(imported, "Imported 3 question(s) from set.toml (test).");
    bot
}

/// What the bot said in the channel on its own (hints, wins, questions), read in order.
struct Channel<'a> {
    bot: &'a TestBot,
    log: Vec<String>,
    next: usize,
}

impl<'a> Channel<'a> {
    fn of(bot: &'a TestBot) -> Self {
        Channel { bot, log: Vec::new(), next: 0 }
    }

    /// Waits for the next line that `matches` (10 s at most) and returns it; lines before it
    /// are passed over.
    async fn said(&mut self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            self.log.extend(self.bot.connector_sent().into_iter().map(|s: Sent| s.reply.text));
            if let Some(i) = self.log[self.next..].iter().position(|t| matches(t)) {
                self.next += i + 1;
                return self.log[self.next - 1].clone();
            }
            assert!(Instant::now() < deadline, "nothing said matched {what}: {:?}", &self.log[self.next..]);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Everything said after what was last waited for.
    fn rest(&mut self) -> Vec<String> {
        self.log.extend(self.bot.connector_sent().into_iter().map(|s: Sent| s.reply.text));
        self.log[self.next..].to_vec()
    }
}

fn question_in(text: &str) -> String {
    text.lines().find(|l| l.starts_with("Question ")).unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_game_with_hints_a_time_out_and_the_final_scores() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(dir.path()).await;
    let mut chan = Channel::of(&bot);
    let started = bot.send_as("ann", "!trivia start test").await.text();
    assert!(started.starts_with("Trivia! 3 question(s) of test;"), "{started}");
    let q1 = question_in(&started);
    assert!(q1.starts_with("Question 1/3: "), "{started}");
    assert!(bot.send_as("ann", "!trivia start").await.text().starts_with("A trivia game is already running here"));

    // Wrong answers and a near-miss that is too far are silent.
    assert!(bot.send_as("ann", "Paris").await.is_empty());
    assert!(bot.send_as("bob", "xyzzy").await.is_empty());
    // Two hints, then bob answers with a typo.
    let hint1 = chan.said("hint 1", |t| t.starts_with("Hint 1/2: ")).await;
    let hint2 = chan.said("hint 2", |t| t.starts_with("Hint 2/2: ")).await;
    let shown = |h: &str| h.chars().filter(|c| c.is_alphanumeric()).count();
    assert!(shown(&hint2) > shown(&hint1), "{hint1} then {hint2}");
    let answer = answer_to(&q1);
    let typo: String = answer.chars().skip(1).collect(); // one letter missing
    let typo = if answer.len() <= 4 { answer.to_uppercase() } else { typo };
    assert!(bot.send_as("bob", &typo).await.is_empty(), "the win is announced when settled");
    let won = chan.said("bob's win", |t| t.starts_with("bob got it")).await;
    assert!(won.contains(&format!(": {answer} (+10 points)")), "two hints given: 10 points: {won}");

    // Question 2: carol at once (30 points); then a late right answer is told it is taken.
    let q2 = chan.said("question 2", |t| t.starts_with("Question 2/3: ")).await;
    assert!(bot.send_as("carol", answer_to(&q2)).await.is_empty());
    let won = chan.said("carol's win", |t| t.starts_with("carol got it")).await;
    assert!(won.contains("(+30 points)"), "{won}");
    let late = bot.send_as("dave", answer_to(&q2)).await.text();
    assert_eq!(late, "dave, that question is taken.");

    // Question 3: nobody answers.
    let q3 = chan.said("question 3", |t| t.starts_with("Question 3/3: ")).await;
    assert_ne!(q3, q2);
    let up = chan.said("time's up", |t| t.starts_with("Time's up!")).await;
    assert_eq!(up, format!("Time's up! The answer was {}.", answer_to(&q3)));
    let end = chan.said("the final scores", |t| t.starts_with("Trivia over!")).await;
    assert_eq!(end, "Trivia over! Final scores:\n1. carol 30\n2. bob 10");

    // The leaderboards and records kept it.
    let top = bot.send("!trivia top").await.text();
    assert_eq!(top, "Trivia top, this channel:\n1. carol 30 points (1 right)\n2. bob 10 points (1 right)");
    assert!(bot.send("!trivia top all").await.text().contains("1. carol 30 points"));
    let stats = bot.send_as("bob", "!trivia stats").await.text();
    assert!(stats.starts_with("bob: 10 points, 1 right, best streak 1, fastest answer "), "{stats}");
    assert_eq!(bot.send("!trivia stats @erin").await.text(), "erin has not answered a trivia question yet.");
    assert_eq!(bot.send("!trivia stop").await.text(), "No trivia game is running here.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_starter_or_rank_100_stops_and_skips_need_rank_100() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(dir.path()).await;
    let mut chan = Channel::of(&bot);
    bot.send_as("ann", "!trivia start test").await;
    assert_eq!(
        bot.send_as("dave", "!trivia stop").await.text(),
        "Only who started the game, or rank 100, can stop it."
    );
    let skip = bot.send_as("dave", "!trivia skip").await.text();
    assert!(skip.contains("rank 100"), "{skip}");
    bot.set_rank("mod", 100).await;
    let skipped = bot.send_as("mod", "!trivia skip").await.text();
    assert!(skipped.starts_with("Skipped. The answer was "), "{skipped}");
    chan.said("question 2", |t| t.starts_with("Question 2/3: ")).await;
    let stopped = bot.send_as("ann", "!trivia stop").await.text();
    assert!(stopped.starts_with("Trivia stopped. The answer was "), "{stopped}");
    assert!(stopped.ends_with("Final scores:\nNobody scored."), "{stopped}");
    // Its timers find no game: nothing more is said.
    tokio::time::sleep(Duration::from_millis(800)).await;
    bot.bot().idle().await;
    assert!(chan.rest().is_empty(), "{:?}", chan.rest());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_right_answers_at_once_make_exactly_one_winner_the_earliest() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(dir.path()).await;
    let mut chan = Channel::of(&bot);
    let started = bot.send_as("ann", "!trivia start test 1").await.text();
    let answer = answer_to(&question_in(&started));
    let base = regis::envelope::now_ms();
    // Sent in one order, timestamped in another: player 37 wrote first.
    let mut envelopes: Vec<Envelope> = (0..100)
        .map(|i| {
            let user = format!("p{i:02}");
            let mut e = Envelope::message(CONNECTOR, TestBot::user(&user), answer).in_channel(ChannelRef::new(CHANNEL));
            e.time_ms = base + if i == 37 { 0 } else { 1 + (i as u64 * 7) % 50 };
            e
        })
        .collect();
    envelopes.reverse();
    let ingress = bot.bot().ingress();
    let pushes = envelopes.into_iter().map(|e| {
        let ingress = ingress.clone();
        async move { ingress.submit_and_wait(e).await }
    });
    for result in futures::future::join_all(pushes).await {
        result.expect("queued");
    }
    let won = chan.said("the winner", |t| t.contains(" got it: ")).await;
    assert_eq!(won, format!("p37 got it: {answer} (+30 points) (99 others were right, a moment later)"));
    chan.said("the end", |t| t.starts_with("Trivia over!")).await;
    let top = bot.send("!trivia top").await.text();
    assert_eq!(top, "Trivia top, this channel:\n1. p37 30 points (1 right)", "one winner, points once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_resumes_after_a_restart_mid_question() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(dir.path()).await;
    let started = bot.send_as("ann", "!trivia start test 2").await.text();
    let q1 = question_in(&started);
    let bot = bot.restart().await;
    let mut chan = Channel::of(&bot);
    // The first hint was due while the bot was down: it comes now, and the game goes on.
    chan.said("hint 1 after the restart", |t| t.starts_with("Hint 1/2: ")).await;
    assert!(bot.send_as("bob", answer_to(&q1)).await.is_empty());
    let won = chan.said("bob's win", |t| t.starts_with("bob got it")).await;
    assert!(won.contains("(+20 points)"), "{won}");
    chan.said("question 2", |t| t.starts_with("Question 2/2: ")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_game_whose_bot_was_away_too_long_ends_with_its_scores_kept() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path());
    config.resume_limit = Duration::from_millis(200);
    let bot = TestBot::builder().plugin(Trivia::new(config)).owner("boss").start().await;
    bot.send_as("boss", "!trivia import set.toml").await;
    let mut chan = Channel::of(&bot);
    let started = bot.send_as("ann", "!trivia start test 3").await.text();
    assert!(bot.send_as("bob", answer_to(&question_in(&started))).await.is_empty());
    chan.said("bob's win", |t| t.starts_with("bob got it")).await;
    bot.bot().shutdown().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let bot = bot.restart().await;
    let mut chan = Channel::of(&bot);
    let end = chan.said("the end", |t| t.starts_with("The trivia game was interrupted")).await;
    assert_eq!(end, "The trivia game was interrupted (the bot was away). Final scores:\n1. bob 30");
    assert!(bot.send("!trivia top").await.text().contains("1. bob 30 points"));
    assert!(bot.send_as("ann", "!trivia start test").await.text().starts_with("Trivia!"), "the channel is free again");
}

#[tokio::test]
async fn question_files_of_each_format_import_and_bad_ones_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(dir.path()).await;
    let opentdb = r#"{"response_code":0,"results":[
        {"type":"multiple","difficulty":"easy","category":"Science &amp; Nature","question":"Which is a noble gas?","correct_answer":"Neon","incorrect_answers":["Oxygen","Nitrogen","Hydrogen"]},
        {"type":"boolean","difficulty":"easy","category":"Science &amp; Nature","question":"Is &quot;water&quot; wet?","correct_answer":"True","incorrect_answers":["False"]}]}"#;
    std::fs::write(dir.path().join("tdb.json"), opentdb).unwrap();
    assert_eq!(
        bot.send_as("boss", "!trivia import tdb.json").await.text(),
        "Imported 2 question(s) from tdb.json (science-nature)."
    );
    std::fs::write(
        dir.path().join("murders"),
        "Cock Robin:{the }sparrow\n{John {F{.} }}Kennedy|JFK:{Lee Harvey }Oswald\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("index"), format!("{}:victim:killer\n", dir.path().join("murders").display()))
        .unwrap();
    assert_eq!(
        bot.send_as("boss", "!trivia import murders").await.text(),
        "Imported 2 question(s) from murders (murders)."
    );
    let cats = bot.send("!trivia categories").await.text();
    assert!(cats.contains("murders (2)") && cats.contains("science-nature (2)") && cats.contains("test (3)"), "{cats}");

    // A broken version of a file is refused whole, naming the line; the old questions stay.
    std::fs::write(
        dir.path().join("set.toml"),
        format!("{SET}\n[[question]]\ncategory = \"test\"\nquestion = \"Q\"\nanswers = []\n"),
    )
    .unwrap();
    let refused = bot.send_as("boss", "!trivia import set.toml").await.text();
    assert!(
        refused.starts_with("Nothing imported: ")
            && refused
                .ends_with(": set.toml line 17: every question needs at least one answer, and no answer may be blank"),
        "{refused}"
    );
    std::fs::write(dir.path().join("tdb.json"), r#"{"results":[{"type":"multiple"}]}"#).unwrap();
    assert!(bot.send_as("boss", "!trivia import tdb.json").await.text().starts_with("Nothing imported: "));
    std::fs::write(dir.path().join("murders"), "fine:ok\nbroken{:x\n").unwrap();
    let refused = bot.send_as("boss", "!trivia import murders").await.text();
    assert!(refused.ends_with(": murders line 2: a `}` is missing"), "{refused}");
    assert_eq!(bot.send("!trivia categories").await.text(), cats, "nothing half-imported");

    // Only owners import, only from the directory.
    let refused = bot.send_as("ann", "!trivia import set.toml").await.text();
    assert!(refused.contains("rank 999"), "{refused}");
    let refused = bot.send_as("boss", "!trivia import ../etc/passwd").await.text();
    assert_eq!(refused, "`../etc/passwd` must be a file name in the trivia directory, without a path.");
    let missing = bot.send_as("boss", "!trivia import nope.toml").await.text();
    assert!(
        missing.starts_with("Nothing imported: ") && missing.starts_with("Nothing imported: nope.toml: cannot read it"),
        "{missing}"
    );
}

/// The real BSD quiz files (Debian's `bsdgames`, which the test script installs).
#[tokio::test]
async fn the_bsd_quiz_files_import() {
    let quiz = std::env::var("TEST_BSD_QUIZ_DIR").unwrap_or_else(|_| "/usr/share/games/bsdgames/quiz".into());
    let quiz = Path::new(&quiz);
    assert!(
        quiz.join("index").exists(),
        "{} has no quiz index: install Debian's bsdgames (scripts/test does)",
        quiz.display()
    );
    let dir = tempfile::tempdir().unwrap();
    for name in ["index", "africa", "murders", "pres", "bard"] {
        std::fs::copy(quiz.join(name), dir.path().join(name)).unwrap();
    }
    // The index names the files where Debian put them; the titles are read from it.
    let bot = bot_with(dir.path()).await;
    for name in ["africa", "murders", "pres", "bard"] {
        let imported = bot.send_as("boss", &format!("!trivia import {name}")).await.text();
        assert!(imported.starts_with("Imported ") && imported.contains(&format!("from {name} ({name})")), "{imported}");
    }
    let started = bot.send_as("ann", "!trivia start africa 1").await.text();
    assert!(question_in(&started).contains("What is the capital of "), "{started}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multiple_choice_by_button_or_letter_one_pick_each() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mc.toml"),
        "[[question]]\ncategory = \"mc\"\nquestion = \"Which is a prime?\"\nanswers = [\"7\"]\nchoices = [\"7\", \"8\", \"9\", \"10\"]\n",
    )
    .unwrap();
    let bot = TestBot::builder().plugin(Trivia::new(config(dir.path()))).owner("boss").start().await;
    let mut chan = Channel::of(&bot);
    bot.send_as("boss", "!trivia import mc.toml").await;
    let started = bot.send_as("ann", "!trivia start mc 1").await;
    let buttons = &started.0[0].reply.buttons;
    assert_eq!(buttons.len(), 4, "{started:?}");
    let right = buttons.iter().find(|b| b.label.ends_with(") 7")).expect("a button for 7");
    let wrong = buttons.iter().find(|b| b.label.ends_with(") 8")).expect("a button for 8");
    assert!(right.custom_id.starts_with("trivia:pick:"), "{}", right.custom_id);
    let picked = bot.click("bob", &wrong.custom_id).await;
    assert_eq!(picked.text(), "You picked 8.");
    assert!(picked.0[0].reply.ephemeral, "only bob sees it");
    assert_eq!(bot.click("bob", &right.custom_id).await.text(), "You already picked for this question.");
    assert_eq!(bot.click("carol", &right.custom_id).await.text(), "You picked 7.");
    let won = chan.said("carol's win", |t| t.contains(" got it: ")).await;
    assert!(won.starts_with("carol got it: 7 (+30 points)"), "{won}");
    // The text lists the choices by letter; a letter answers too (here, after the win).
    let letter = started
        .text()
        .lines()
        .last()
        .unwrap()
        .split("   ")
        .find(|c| c.ends_with(") 7"))
        .unwrap()
        .chars()
        .next()
        .unwrap();
    assert_eq!(bot.send_as("dave", &letter.to_string()).await.text(), "dave, that question is taken.");
}

#[tokio::test]
async fn question_files_uploaded_in_the_chat_import_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(dir.path()).await;
    let before = bot.send("!trivia categories").await.text();
    let up = "[[question]]\ncategory = \"uploaded\"\nquestion = \"Q?\"\nanswers = [\"A\"]\n";
    let bad = "fine:ok\nbroken{:x\n";
    let refused = bot
        .send_files_as("boss", "!trivia import", &[("up.toml", up.as_bytes()), ("quiz", bad.as_bytes())])
        .await
        .text();
    assert_eq!(refused, "Nothing imported: quiz line 2: a `}` is missing");
    assert_eq!(bot.send("!trivia categories").await.text(), before, "the good file was not imported either");
    let refused = bot.send_files_as("boss", "!trivia import", &[("bin.toml", &[0xff, 0xfe, 0x00])]).await.text();
    assert_eq!(refused, "Nothing imported: bin.toml: not UTF-8 text");
    let huge = vec![b'#'; 4 * 1024 * 1024 + 1];
    let refused = bot.send_files_as("boss", "!trivia import", &[("huge.toml", &huge)]).await.text();
    assert!(
        refused
            .starts_with("Nothing imported: could not fetch huge.toml: huge.toml is 4194305 bytes, more than 4194304"),
        "{refused}"
    );
    let usage = bot.send_as("boss", "!trivia import").await.text();
    assert!(usage.starts_with("Attach question files to the message, or name a file"), "{usage}");

    let done = bot
        .send_files_as("boss", "!trivia import", &[("up.toml", up.as_bytes()), ("quiz", b"ping:pong\n")])
        .await
        .text();
    assert_eq!(done, "Imported 1 question(s) from up.toml (uploaded).\nImported 1 question(s) from quiz (quiz).");
    let started = bot.send_as("ann", "!trivia start quiz 1").await.text();
    assert!(started.contains("Question 1/1: ping?"), "{started}");
    let refused = bot.send_files_as("ann", "!trivia import", &[("up.toml", up.as_bytes())]).await.text();
    assert!(refused.contains("rank 999"), "owners only: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_play_their_own_games_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(dir.path()).await;
    let mut chan = Channel::of(&bot);
    let in_channel = |channel: &str, user: &str, text: &str| {
        let mut e = Envelope::message(CONNECTOR, TestBot::user(user), text).in_channel(ChannelRef::new(channel));
        e.guild = Some("guild-1".into());
        e
    };
    let one = bot.submit(in_channel("one", "ann", "!trivia start test 1")).await.text();
    let two = bot.submit(in_channel("two", "bob", "!trivia start test 1")).await.text();
    assert!(one.starts_with("Trivia!") && two.starts_with("Trivia!"), "{one} / {two}");
    // Each channel's right answer wins there, and only there.
    let answer_one = answer_to(&question_in(&one));
    let answer_two = answer_to(&question_in(&two));
    bot.submit(in_channel("two", "carol", answer_two)).await;
    bot.submit(in_channel("one", "dave", answer_one)).await;
    let first = chan.said("a win", |t| t.contains(" got it: ")).await;
    let second = chan.said("the other win", |t| t.contains(" got it: ")).await;
    let mut wins = vec![first, second];
    wins.sort();
    assert!(wins[0].starts_with("carol got it: ") && wins[1].starts_with("dave got it: "), "{wins:?}");
    assert_eq!(
        bot.submit(in_channel("one", "x", "!trivia top")).await.text(),
        "Trivia top, this channel:\n1. dave 30 points (1 right)"
    );
    assert_eq!(
        bot.submit(in_channel("two", "x", "!trivia top")).await.text(),
        "Trivia top, this channel:\n1. carol 30 points (1 right)"
    );
    let server = bot.submit(in_channel("two", "x", "!trivia top server")).await.text();
    assert_eq!(server, "Trivia top, this server:\n1. carol 30 points (1 right)\n2. dave 30 points (1 right)");
    assert_eq!(bot.send("!trivia top server").await.text(), "This is not on a server; try `trivia top channel`.");
}
