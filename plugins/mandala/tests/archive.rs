//! `!mando` with an archive on the local-file backend: the copy, its public address, and a
//! failing store that still delivers the image (and logs why it was not archived).

use mandala::MandalaSpec;
use regis::Reply;
use regis_plugin_mandala::{Archive, Mandala, MandalaOptions};
use regis_testkit::TestBot;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

/// Everything logged by this test binary (a global subscriber: handlers run on worker threads).
fn logs() -> &'static Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = Capture(Arc::clone(&buffer));
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
        buffer
    })
}

#[derive(Clone)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn file_url(dir: &Path) -> String {
    url::Url::from_directory_path(dir).expect("an absolute path").to_string()
}

async fn bot_with(archive: Archive) -> TestBot {
    TestBot::with(Mandala::new(MandalaOptions { archive: Some(archive) })).await
}

async fn one_reply(bot: &TestBot, text: &str) -> Reply {
    let replies = bot.send(text).await;
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies.0.into_iter().next().map(|s| s.reply).expect("a reply")
}

#[tokio::test]
async fn archived_images_are_linked_at_the_public_address() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("bucket");
    let archive = Archive::open(&file_url(&root), Some("https://cdn.example/art/")).unwrap();
    let bot = bot_with(archive).await;

    let reply = one_reply(&bot, "!mando 42").await;
    assert!(reply.attachments.is_empty(), "the embed shows the archived copy");
    let url = reply.embeds[0].image_url.clone().expect("an image URL");
    let key = url.strip_prefix("https://cdn.example/art/").expect("public base + key");
    assert!(key.starts_with("mandalas/42-") && key.ends_with(".png"), "{key}");
    let stored = std::fs::read(root.join(key)).expect("the object exists");
    assert!(stored == mandala::render_png(&MandalaSpec::new(42)).unwrap().bytes, "same bytes");
    assert!(reply.text.starts_with("Mandala: seed 42, "), "{}", reply.text);

    let again = one_reply(&bot, "!mando 42").await;
    let other = again.embeds[0].image_url.clone().expect("an image URL");
    assert_ne!(other, url, "every image gets its own key");
    assert_eq!(std::fs::read_dir(root.join("mandalas")).unwrap().count(), 2);
}

#[tokio::test]
async fn without_a_public_address_images_are_archived_and_attached() {
    let dir = tempfile::tempdir().unwrap();
    let bot = bot_with(Archive::open(&file_url(dir.path()), None).unwrap()).await;
    let reply = one_reply(&bot, "!mando 7").await;
    assert_eq!(reply.attachments.len(), 1);
    assert_eq!(reply.embeds[0].image_url.as_deref(), Some("attachment://mandala-7.png"));
    let files: Vec<_> = std::fs::read_dir(dir.path().join("mandalas")).unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(files.len(), 1);
    assert!(std::fs::read(files[0].path()).unwrap() == reply.attachments[0].data);
}

#[tokio::test]
async fn a_failing_store_still_delivers_the_image_and_logs_why() {
    let logs = logs();
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("not-a-directory");
    std::fs::write(&blocker, b"a file where the archive's folder should be").unwrap();
    let archive = Archive::open(&file_url(&blocker.join("archive")), Some("https://cdn.example")).unwrap();
    let bot = bot_with(archive).await;

    let reply = one_reply(&bot, "!mando 1234").await;
    assert_eq!(reply.attachments.len(), 1, "the image arrives anyway");
    assert_eq!(reply.attachments[0].name, "mandala-1234.png");
    assert!(reply.attachments[0].data == mandala::render_png(&MandalaSpec::new(1234)).unwrap().bytes);
    assert_eq!(reply.embeds[0].image_url.as_deref(), Some("attachment://mandala-1234.png"));

    let logged = String::from_utf8_lossy(&logs.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
    let line = logged.lines().find(|l| l.contains("mandala not archived")).unwrap_or_else(|| panic!("{logged}"));
    assert!(line.contains("ERROR") && line.contains("seed=1234") && line.contains("not-a-directory"), "{line}");
}
