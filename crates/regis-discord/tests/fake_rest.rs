//! The fake Discord REST API itself, driven by plain HTTP requests, so that its fidelity does
//! not rest on twilight alone: it refuses what Discord refuses.

use regis_testkit::fake_discord::FakeDiscord;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one HTTP/1.1 request; the status and JSON body of the answer.
async fn request(fake: &FakeDiscord, method: &str, path: &str, auth: Option<&str>, body: &str) -> (u16, Value) {
    let (status, _, body) = exchange(fake, method, path, auth, body).await;
    (status, body)
}

/// Sends one HTTP/1.1 request; the status, headers (names in lowercase) and JSON body.
async fn exchange(
    fake: &FakeDiscord,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: &str,
) -> (u16, HashMap<String, String>, Value) {
    let addr = fake.api_url().trim_start_matches("http://").trim_end_matches("/api/v10").to_string();
    let mut stream = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} /api/v10{path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(body.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status line");
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let headers = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[tokio::test]
async fn bot_routes_need_the_bot_token() {
    let fake = FakeDiscord::start().await;
    let post = r#"{"content":"hi"}"#;
    let (status, body) = request(&fake, "POST", "/channels/1/messages", None, post).await;
    assert_eq!((status, body), (401, json!({ "message": "401: Unauthorized", "code": 0 })));
    assert_eq!(request(&fake, "POST", "/channels/1/messages", Some("Bot any"), post).await.0, 200);
    fake.set_bot("the-token", 42, "Regis");
    assert_eq!(request(&fake, "POST", "/channels/1/messages", Some("Bot any"), post).await.0, 401);
    let (status, sent) = request(&fake, "POST", "/channels/1/messages", Some("Bot the-token"), post).await;
    assert_eq!((status, &sent["author"]["id"], &sent["author"]["bot"]), (200, &json!("42"), &json!(true)));
    // Interaction webhooks are authorized by the token in their path.
    assert_eq!(request(&fake, "POST", "/webhooks/7/interaction-token", None, post).await.0, 200);
}

#[tokio::test]
async fn bad_messages_get_discords_errors() {
    let fake = FakeDiscord::start().await;
    let post = |body: String| {
        let fake = &fake;
        async move { request(fake, "POST", "/channels/1/messages", Some("Bot t"), &body).await }
    };
    let (status, body) = post("{}".into()).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50006)), "empty message");
    let (status, body) = post("{not json".into()).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50109)), "invalid JSON");
    let (status, body) = post(json!({ "content": "x".repeat(2001) }).to_string()).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50035)), "content too long");
    assert!(body["errors"]["content"]["_errors"][0]["message"].as_str().unwrap().contains("2000"));
    let (status, _) = post(json!({ "content": "x".repeat(2000) }).to_string()).await;
    assert_eq!(status, 200, "2000 characters are allowed");
    let (status, _) = post(json!({ "embeds": [{ "title": "only an embed" }] }).to_string()).await;
    assert_eq!(status, 200, "an embed alone is a message");
    let refused: Vec<u16> = fake.calls().iter().map(|c| c.status).collect();
    assert_eq!(refused, [400, 400, 400, 200, 200], "every call is recorded with its status");
}

#[tokio::test]
async fn route_buckets_count_down_and_refuse_when_exhausted() {
    let fake = FakeDiscord::start().await;
    fake.set_route_limit(2, Duration::from_secs(2));
    let post = r#"{"content":"hi"}"#;
    let send = |channel: u64| {
        let fake = &fake;
        async move { exchange(fake, "POST", &format!("/channels/{channel}/messages"), Some("Bot t"), post).await }
    };
    let (status, first, _) = send(1).await;
    assert_eq!((status, first["x-ratelimit-limit"].as_str(), first["x-ratelimit-remaining"].as_str()), (200, "2", "1"));
    let (_, second, _) = send(1).await;
    assert_eq!(second["x-ratelimit-remaining"], "0");
    let (status, third, body) = send(1).await;
    assert_eq!((status, third["x-ratelimit-scope"].as_str()), (429, "user"));
    let retry_after = body["retry_after"].as_f64().unwrap();
    assert!(retry_after > 0.0 && retry_after <= 2.0, "{retry_after}");
    assert_eq!(body["global"], false);
    // Another channel is another bucket of the same route (the same bucket hash).
    let (status, other, _) = send(2).await;
    assert_eq!((status, other["x-ratelimit-remaining"].as_str()), (200, "1"));
    assert_eq!(other["x-ratelimit-bucket"], first["x-ratelimit-bucket"]);
}
