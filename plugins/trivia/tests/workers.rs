//! Trivia on three workers sharing PostgreSQL (`TEST_DATABASE_URL`), as `regis serve` workers
//! on several machines are: right answers handled by different workers still make one winner,
//! the earliest by message time, and the game goes on when the worker that started it stops.

use regis::{ChannelRef, Envelope, PostgresBackend, StorageBackend};
use regis_plugin_trivia::{Trivia, TriviaConfig};
use regis_testkit::{TestBot, CHANNEL, CONNECTOR};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SET: &str =
    "[[question]]\ncategory = \"test\"\nquestion = \"What colour is the test sky?\"\nanswers = [\"blue\"]\n";

/// Everything the workers said on their own, until a line matches (10 s at most).
async fn wait_for(bots: &[&TestBot], log: &mut Vec<String>, what: &str, matches: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for bot in bots {
            log.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
        }
        if let Some(line) = log.iter().find(|t| matches(t)) {
            return line.clone();
        }
        assert!(Instant::now() < deadline, "nothing matched {what}: {log:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_one_winner_and_a_game_that_outlives_its_worker() {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    let bot_name = format!("trivia-{:08x}", nanos ^ std::process::id().rotate_left(16));
    let database = regis_testkit::services::database_url();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("set.toml"), SET).unwrap();
    let config = TriviaConfig {
        rounds: 2,
        hints: 1,
        hint_interval: Duration::from_millis(400),
        pause: Duration::from_millis(100),
        settle: Duration::from_millis(300),
        dir: Some(dir.path().to_path_buf()),
        ..TriviaConfig::default()
    };
    let mut workers = Vec::new();
    for _ in 0..3 {
        let storage: Arc<dyn StorageBackend> = Arc::new(PostgresBackend::new(database.clone(), bot_name.clone()));
        workers
            .push(TestBot::builder().storage(storage).plugin(Trivia::new(config.clone())).owner("boss").start().await);
    }
    assert_eq!(
        workers[1].send_as("boss", "!trivia import set.toml").await.text(),
        "Imported 1 question(s) from set.toml (test)."
    );
    let started = workers[0].send_as("ann", "!trivia start test").await.text();
    assert!(started.contains("Question 1/2: What colour is the test sky?"), "{started}");
    assert!(workers[2].send_as("ann", "!trivia start").await.text().starts_with("A trivia game is already running"));

    // 90 right answers, 30 to each worker at once; p44 (on worker 2) wrote first.
    let base = regis::envelope::now_ms();
    let answers = (0..90).map(|i| {
        let mut e = Envelope::message(CONNECTOR, TestBot::user(&format!("p{i:02}")), "Blue!")
            .in_channel(ChannelRef::new(CHANNEL));
        e.time_ms = base + if i == 44 { 0 } else { 1 + (i as u64 * 13) % 40 };
        let ingress = workers[i % 3].bot().ingress();
        async move { ingress.submit_and_wait(e).await }
    });
    for done in futures::future::join_all(answers).await {
        done.expect("queued");
    }
    let refs: Vec<&TestBot> = workers.iter().collect();
    let mut log = Vec::new();
    let won = wait_for(&refs, &mut log, "the win", |t| t.contains(" got it: ")).await;
    assert_eq!(won, "p44 got it: blue (+20 points) (89 others were right, a moment later)");

    // The worker that started the game stops; the others ask the next question and end it.
    let first = workers.remove(0);
    first.bot().shutdown().await;
    let refs: Vec<&TestBot> = workers.iter().collect();
    wait_for(&refs, &mut log, "question 2", |t| t.starts_with("Question 2/2: ")).await;
    wait_for(&refs, &mut log, "time's up", |t| t.starts_with("Time's up!")).await;
    let end = wait_for(&refs, &mut log, "the end", |t| t.starts_with("Trivia over!")).await;
    assert_eq!(end, "Trivia over! Final scores:\n1. p44 20");
    assert_eq!(log.iter().filter(|t| t.contains(" got it: ")).count(), 1, "one winner: {log:?}");
    assert_eq!(workers[1].send("!trivia top all").await.text(), "Trivia top, everyone:\n1. p44 20 points (1 right)");
    for worker in &workers {
        worker.bot().shutdown().await;
    }
    regis_testkit::services::drop_schemas(&database, &bot_name).await;
}
