//! A console session fed by a reader, as a person or a script would feed it: lines the queue
//! cannot take are refused with a notice (never waited on), and bytes that are not UTF-8 do
//! not end the session.

use regis::prelude::*;
use regis::{Bot, CoreConfig, SqliteBackend};
use regis_console::{ConsoleConnector, Mode};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

struct Slow;

/// Slow and quick commands.
#[plugin]
impl Slow {
    /// Takes a while.
    #[command]
    async fn slow(&self, _ctx: &Ctx) -> Result<&'static str> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok("slow done")
    }

    /// Answers at once.
    #[command]
    async fn quick(&self, _ctx: &Ctx) -> Result<&'static str> {
        Ok("quick done")
    }
}

async fn bot(dir: &std::path::Path, out: Captured, config: CoreConfig) -> Bot {
    Bot::builder(config)
        .storage(SqliteBackend::new(dir))
        .connector(Arc::new(ConsoleConnector::new(Box::new(out), dir.join("uploads"))))
        .plugin(Slow)
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn lines_the_queue_cannot_take_are_refused_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let (out, notices) = (Captured::default(), Captured::default());
    let config = CoreConfig { workers: 1, queue_capacity: 1, ..CoreConfig::default() };
    let bot = Arc::new(bot(dir.path(), out.clone(), config).await);
    let (mut typing, input) = tokio::io::duplex(1024);
    let session = {
        let (bot, notices) = (Arc::clone(&bot), notices.clone());
        tokio::spawn(async move {
            let speaker = regis::UserRef::new("console", "operator");
            let input = tokio::io::BufReader::new(input);
            regis_console::run(&bot, &speaker, input, Mode::Interactive, notices).await.unwrap();
        })
    };
    use tokio::io::AsyncWriteExt;
    // One line being handled, one waiting: the queue is full...
    typing.write_all(b"!slow\n").await.unwrap();
    while bot.stats().in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    typing.write_all(b"!slow\n").await.unwrap();
    // ...so the lines typed now are refused at once, never waited on.
    typing.write_all(b"!quick\n!quick\n").await.unwrap();
    drop(typing);
    session.await.unwrap();
    let notices = notices.text();
    assert_eq!(
        notices,
        "regis: busy (1 messages waiting); line 3 dropped, try again\n\
         regis: busy (1 messages waiting); line 4 dropped, try again\n"
    );
    assert_eq!(out.text(), "slow done\nslow done\n", "the lines taken are answered");
    bot.shutdown().await;
}

#[tokio::test]
async fn bytes_that_are_not_utf8_are_replaced_and_the_session_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let (out, notices) = (Captured::default(), Captured::default());
    let bot = bot(dir.path(), out.clone(), CoreConfig::default()).await;
    let speaker = regis::UserRef::new("console", "operator");
    let input: &[u8] = b"!quick\n\xff\xfe!quick \xc3\n!quick\n";
    regis_console::run(&bot, &speaker, input, Mode::Piped, notices.clone()).await.unwrap();
    assert_eq!(out.text(), "quick done\nquick done\n", "the lines after the bad one still count");
    assert_eq!(
        notices.text(),
        "regis: line 2 is not valid UTF-8; its invalid bytes were replaced with U+FFFD\n",
        "the bad line is not a command"
    );
    bot.shutdown().await;
}
