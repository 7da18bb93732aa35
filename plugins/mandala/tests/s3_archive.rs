//! `!mando` archiving to S3, against a real S3 API: moto's server (`moto[server]` from PyPI,
//! which `scripts/test` installs when missing; `TEST_MOTO_SERVER` names another binary). The
//! object, its bytes and `Content-Type`, the public link, and the fallback to an attachment
//! when the store is down.

#![cfg(feature = "cloud")]

use mandala::MandalaSpec;
use object_store::ObjectStoreExt;
use regis::Reply;
use regis_plugin_mandala::{Archive, Mandala, MandalaOptions};
use regis_testkit::TestBot;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BUCKET: &str = "regis-mandalas";

/// A private moto S3 server on a free port, killed when dropped.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto() -> Moto {
    let binary = std::env::var("TEST_MOTO_SERVER").unwrap_or_else(|_| "moto_server".to_string());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary} ({e}): pip install 'moto[server]' (scripts/test does)"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Moto { child, port }
}

/// One plain HTTP/1.1 request to moto, with no body; its status and body.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, answer)
}

/// The archive as the environment would configure it (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`,
/// test credentials), given here as the same options.
fn options(port: u16) -> [(&'static str, String); 5] {
    [
        ("aws_endpoint", format!("http://127.0.0.1:{port}")),
        ("aws_allow_http", "true".to_string()),
        ("aws_access_key_id", "test".to_string()),
        ("aws_secret_access_key", "test".to_string()),
        ("aws_region", "us-east-1".to_string()),
    ]
}

fn archive(port: u16) -> Archive {
    Archive::open_with(&format!("s3://{BUCKET}/art"), Some("https://mandalas.example"), options(port))
        .unwrap()
        .with_timeout(Duration::from_secs(3))
}

async fn one_reply(bot: &TestBot, text: &str) -> Reply {
    let replies = bot.send(text).await;
    assert_eq!(replies.len(), 1, "one reply to {text}");
    replies.0.into_iter().next().map(|s| s.reply).expect("a reply")
}

#[tokio::test]
async fn images_are_archived_in_s3_with_their_type_and_linked_publicly() {
    let moto = moto();
    let (status, answer) = http(moto.port, "PUT", &format!("/{BUCKET}"));
    assert_eq!(status, 200, "the bucket: {answer}");
    let bot = TestBot::with(Mandala::new(MandalaOptions { archive: Some(archive(moto.port)) })).await;

    let reply = one_reply(&bot, "!mando 42").await;
    assert!(reply.attachments.is_empty(), "the embed shows the archived copy, not an attachment: {:?}", reply.embeds);
    let url = reply.embeds[0].image_url.clone().expect("an image URL");
    let key = url.strip_prefix("https://mandalas.example/").expect("the public base, then the key");
    assert!(key.starts_with("mandalas/42-") && key.ends_with(".png"), "{key}");

    // Read back through the S3 API (signed: moto's buckets are private, as S3's are by default).
    let bucket = url::Url::parse(&format!("s3://{BUCKET}")).unwrap();
    let (store, _) = object_store::parse_url_opts(&bucket, options(moto.port)).unwrap();
    let object = store
        .get(&object_store::path::Path::from(format!("art/{key}")))
        .await
        .expect("the object, under the store URL's prefix");
    let content_type = object.attributes.get(&object_store::Attribute::ContentType).map(|v| v.to_string());
    assert_eq!(content_type.as_deref(), Some("image/png"));
    let stored = object.bytes().await.unwrap();
    assert!(stored == mandala::render_png(&MandalaSpec::new(42)).unwrap().bytes, "the same bytes");

    // The store goes down: the image still arrives, as an attachment.
    drop(moto);
    let reply = one_reply(&bot, "!mando 43").await;
    assert_eq!(reply.attachments.len(), 1, "{:?}", reply.embeds);
    assert_eq!(reply.embeds[0].image_url.as_deref(), Some("attachment://mandala-43.png"));
    assert!(reply.attachments[0].data == mandala::render_png(&MandalaSpec::new(43)).unwrap().bytes);
}
