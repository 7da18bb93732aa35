//! `!mando` archiving to Google Cloud Storage, against a stand-in of the one call it makes.
//!
//! No GCS emulator here takes `object_store`'s upload: the stock `fake-gcs-server` lacks the
//! plain `PUT` of the XML API (fsouza/fake-gcs-server#331). So the test serves that call
//! itself, in the shape Google documents for it (`PUT /BUCKET/OBJECT` with the object's bytes,
//! `Authorization: Bearer …` and `Content-Type`; answered `200 OK` with `ETag` and
//! `x-goog-generation`), and checks what the archive sends: the bucket and key, the bytes, the
//! type, the token, then the public link and the fallback to an attachment when the store is
//! down. It is a recorded-shape stand-in, not Google's service.

#![cfg(feature = "cloud")]

use mandala::MandalaSpec;
use regis::Reply;
use regis_plugin_mandala::{Archive, Mandala, MandalaOptions};
use regis_testkit::TestBot;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const BUCKET: &str = "regis-mandalas";
const TOKEN: &str = "test-token";

/// One request the stand-in received.
#[derive(Clone, Debug)]
struct Received {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// The stand-in: answers every request `200 OK` with an ETag and a generation, recording it.
async fn stand_in() -> (u16, Arc<Mutex<Vec<Received>>>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let received: Arc<Mutex<Vec<Received>>> = Arc::default();
    let log = Arc::clone(&received);
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let log = Arc::clone(&log);
            tokio::spawn(async move {
                let mut stream = BufReader::new(stream);
                // One request a connection, closed after: once the server is stopped, nothing
                // answers.
                if let Some(request) = read_request(&mut stream).await {
                    let generation = log.lock().unwrap().len() + 1;
                    log.lock().unwrap().push(request);
                    let answer = format!(
                        "HTTP/1.1 200 OK\r\nETag: \"etag-{generation}\"\r\nx-goog-generation: {generation}\r\n\
                         Content-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                    let _ = stream.get_mut().write_all(answer.as_bytes()).await;
                }
            });
        }
    });
    (port, received, server)
}

async fn read_request(stream: &mut BufReader<tokio::net::TcpStream>) -> Option<Received> {
    let mut line = String::new();
    stream.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    // GCS takes the bucket and the object name percent-encoded (object_store encodes every
    // character but letters and digits, `/` included) and decodes them.
    let (method, path) = (parts.next()?.to_string(), percent_decoded(parts.next()?)?);
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        stream.read_line(&mut header).await.ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    let length: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
    let mut body = vec![0; length];
    stream.read_exact(&mut body).await.ok()?;
    Some(Received { method, path, headers, body })
}

fn percent_decoded(path: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(path.len());
    let mut rest = path.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(first);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

/// The archive as the environment configures it (`GOOGLE_BASE_URL`, `GOOGLE_BEARER_TOKEN`;
/// the pairs `Archive::open` reads from the environment).
fn archive(port: u16) -> Archive {
    let options = [("GOOGLE_BASE_URL", format!("http://127.0.0.1:{port}")), ("GOOGLE_BEARER_TOKEN", TOKEN.into())];
    Archive::open_with(&format!("gs://{BUCKET}"), Some("https://storage.googleapis.com/regis-mandalas"), options)
        .unwrap()
        .with_timeout(Duration::from_secs(3))
}

async fn one_reply(bot: &TestBot, text: &str) -> Reply {
    let replies = bot.send(text).await;
    assert_eq!(replies.len(), 1, "one reply to {text}");
    replies.0.into_iter().next().map(|s| s.reply).expect("a reply")
}

#[tokio::test]
async fn images_are_uploaded_to_gcs_with_their_type_and_token_and_linked_publicly() {
    let (port, received, server) = stand_in().await;
    let bot = TestBot::with(Mandala::new(MandalaOptions { archive: Some(archive(port)) })).await;

    let reply = one_reply(&bot, "!mando 42").await;
    assert!(reply.attachments.is_empty(), "the embed shows the archived copy: {:?}", reply.embeds);
    let url = reply.embeds[0].image_url.clone().expect("an image URL");
    let key =
        url.strip_prefix("https://storage.googleapis.com/regis-mandalas/").expect("the public base, then the key");
    assert!(key.starts_with("mandalas/42-") && key.ends_with(".png"), "{key}");

    let uploads = received.lock().unwrap().clone();
    assert_eq!(uploads.len(), 1, "one call: {uploads:?}");
    let upload = &uploads[0];
    assert_eq!((upload.method.as_str(), upload.path.as_str()), ("PUT", format!("/{BUCKET}/{key}").as_str()));
    assert_eq!(upload.headers.get("authorization").map(String::as_str), Some("Bearer test-token"));
    assert_eq!(upload.headers.get("content-type").map(String::as_str), Some("image/png"));
    assert!(upload.body == mandala::render_png(&MandalaSpec::new(42)).unwrap().bytes, "the same bytes");

    // The store goes down: the image still arrives, as an attachment.
    server.abort();
    let _ = server.await;
    let reply = one_reply(&bot, "!mando 43").await;
    assert_eq!(reply.attachments.len(), 1, "{:?}", reply.embeds);
    assert_eq!(reply.embeds[0].image_url.as_deref(), Some("attachment://mandala-43.png"));
}
