//! The console connector: talk to the bot from a terminal, or script it through a pipe.
//!
//! Each input line is a message from one local user in the channel `console`. Replies are
//! printed; embeds become text; attachments are written to files whose paths are printed.
//! Interactively, replies print as they come. With piped input, each line is handled to the
//! end before the next is read (so transcripts are in order), and after end of input the
//! console exits once every pending reply is out.

use async_trait::async_trait;
use regis_core::{
    Bot, Capabilities, ChannelInfo, ChannelRef, Connector, ConnectorError, Destination, Envelope, QueueError, Reply,
    SentMessage, UserInfo, UserRef,
};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// The connector name console envelopes carry (owners are written `console:NAME`).
pub const CONNECTOR: &str = "console";
/// The channel console messages come from.
pub const CHANNEL: &str = "console";

/// Egress to a terminal (or any writer): prints replies, saves uploads as files.
pub struct ConsoleConnector {
    out: Mutex<Box<dyn Write + Send>>,
    upload_dir: PathBuf,
    uploads: AtomicU64,
}

impl ConsoleConnector {
    /// Prints to `out`; uploads go to `upload_dir` (created when first needed).
    pub fn new(out: Box<dyn Write + Send>, upload_dir: impl Into<PathBuf>) -> Self {
        ConsoleConnector { out: Mutex::new(out), upload_dir: upload_dir.into(), uploads: AtomicU64::new(0) }
    }

    /// Prints to standard output.
    pub fn stdout(upload_dir: impl Into<PathBuf>) -> Self {
        ConsoleConnector::new(Box::new(std::io::stdout()), upload_dir)
    }

    fn save(&self, name: &str, data: &[u8]) -> Result<PathBuf, ConnectorError> {
        std::fs::create_dir_all(&self.upload_dir)
            .map_err(|e| ConnectorError::Failed(format!("cannot create {}: {e}", self.upload_dir.display())))?;
        let safe: String =
            Path::new(name).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "upload".into());
        let mut path = self.upload_dir.join(&safe);
        if path.exists() {
            let n = self.uploads.fetch_add(1, Ordering::Relaxed) + 1;
            path = self.upload_dir.join(format!("{}-{safe}", unique_suffix(n)));
        }
        std::fs::write(&path, data)
            .map_err(|e| ConnectorError::Failed(format!("cannot write {}: {e}", path.display())))?;
        Ok(path)
    }
}

fn unique_suffix(n: u64) -> String {
    let ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("{ms}-{n}")
}

#[async_trait]
impl Connector for ConsoleConnector {
    fn name(&self) -> &str {
        CONNECTOR
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities { embeds: false, attachments: true, buttons: false }
    }

    async fn send(
        &self,
        _origin: Option<&Envelope>,
        to: &Destination,
        reply: Reply,
    ) -> Result<SentMessage, ConnectorError> {
        let tag = match to {
            Destination::Origin => String::new(),
            Destination::Channel(c) => format!("[#{c}] "),
            Destination::Direct(u) => format!("[to {u}] "),
        };
        let mut lines: Vec<String> = Vec::new();
        if !reply.text.is_empty() {
            lines.push(format!("{tag}{}", reply.text));
        }
        for file in &reply.attachments {
            let path = self.save(&file.name, &file.data)?;
            lines.push(format!("{tag}[file] {} ({} bytes)", path.display(), file.data.len()));
        }
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        for line in lines {
            writeln!(out, "{line}").map_err(|e| ConnectorError::Failed(e.to_string()))?;
        }
        out.flush().map_err(|e| ConnectorError::Failed(e.to_string()))?;
        Ok(SentMessage { id: String::new(), channel: None })
    }

    async fn user(&self, id: &str) -> Result<Option<UserInfo>, ConnectorError> {
        Ok(Some(UserInfo { id: id.to_string(), name: id.to_string(), bot: false }))
    }

    async fn channel(&self, id: &str) -> Result<Option<ChannelInfo>, ConnectorError> {
        Ok((id == CHANNEL).then(|| ChannelInfo {
            id: id.to_string(),
            name: id.to_string(),
            topic: Some("the local console".into()),
            members: Vec::new(),
        }))
    }
}

/// How a console session reads its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// A person at a terminal: a prompt, replies printed as they arrive.
    Interactive,
    /// A script: each line handled to the end before the next; exit after the last reply.
    Piped,
}

/// Feeds lines from `input` to the bot as messages from `speaker` until end of input (or
/// `/quit` interactively), then waits until every pending reply is out. The console's own
/// notices (a line refused because the bot is busy, bytes that are not UTF-8 and were
/// replaced) go to `notices`; the lines after a bad one still count.
pub async fn run<R: AsyncBufRead + Unpin>(
    bot: &Bot,
    speaker: &UserRef,
    input: R,
    mode: Mode,
    mut notices: impl Write,
) -> std::io::Result<()> {
    let ingress = bot.ingress();
    let mut input = input;
    let prompt = || {
        if mode == Mode::Interactive {
            print!("> ");
            let _ = std::io::stdout().flush();
        }
    };
    prompt();
    let mut raw = Vec::new();
    let mut number = 0u64;
    loop {
        raw.clear();
        if input.read_until(b'\n', &mut raw).await? == 0 {
            break;
        }
        number += 1;
        // A line that is not UTF-8 is kept, its bad bytes replaced, and the session goes on.
        let line = String::from_utf8_lossy(&raw);
        if let std::borrow::Cow::Owned(_) = line {
            writeln!(notices, "regis: line {number} is not valid UTF-8; its invalid bytes were replaced with U+FFFD")?;
        }
        let line = line.trim();
        if line.is_empty() {
            prompt();
            continue;
        }
        if mode == Mode::Interactive && (line == "/quit" || line == "/exit") {
            break;
        }
        let envelope = Envelope::message(CONNECTOR, speaker.clone(), line).in_channel(ChannelRef {
            id: CHANNEL.into(),
            name: Some(CHANNEL.into()),
            direct: false,
        });
        let result = match mode {
            Mode::Piped => ingress.submit_and_wait(envelope).await,
            Mode::Interactive => ingress.submit(envelope).await,
        };
        match result {
            Ok(()) => {}
            Err(QueueError::Full(n)) => {
                writeln!(notices, "regis: busy ({n} messages waiting); line {number} dropped, try again")?
            }
            Err(e) => {
                writeln!(notices, "regis: {e}")?;
                break;
            }
        }
        prompt();
    }
    bot.idle().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use regis_core::{Attachment, Embed};
    use std::sync::Arc;

    /// A writer whose bytes the test can read back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn uploads_become_files_and_embeds_text() {
        let dir = tempfile::tempdir().unwrap();
        let out = Shared::default();
        let console = ConsoleConnector::new(Box::new(out.clone()), dir.path().join("uploads"));
        let reply = Reply::text("here")
            .embed(Embed::titled("Mandala").field("seed", "7"))
            .attach(Attachment::new("../../etc/m.png", vec![1, 2, 3]));
        let reply = reply.degrade(&console.capabilities());
        console.send(None, &Destination::Origin, reply.clone()).await.unwrap();
        console.send(None, &Destination::Direct("ann".into()), reply).await.unwrap();
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let first = dir.path().join("uploads/m.png");
        assert_eq!(std::fs::read(&first).unwrap(), vec![1, 2, 3], "name is reduced to its file name");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0..3], ["here", "== Mandala ==", "seed: 7"]);
        assert_eq!(lines[3], format!("[file] {} (3 bytes)", first.display()));
        assert!(lines[4].starts_with("[to ann] here"));
        assert!(lines[7].starts_with("[to ann] [file] ") && !lines[7].contains(&first.display().to_string()));
    }
}
