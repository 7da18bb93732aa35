//! The fake Gateway itself, driven by a plain websocket client speaking Discord's documented
//! protocol (the fixtures' payloads), so that its fidelity does not rest on twilight alone.

use futures::{SinkExt, StreamExt};
use regis_testkit::fake_gateway::{FakeGateway, GatewayOptions, CHANNEL_ID, GUILD_ID};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

const IDENTIFY: &str = include_str!("../../regis-testkit/fixtures/discord/gateway_identify.json");
const RESUME: &str = include_str!("../../regis-testkit/fixtures/discord/gateway_resume.json");
const HEARTBEAT: &str = include_str!("../../regis-testkit/fixtures/discord/gateway_heartbeat.json");

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(format!("{url}/?v=10&encoding=json")).await.expect("connect").0
}

/// The next payload, or the close code.
async fn next(socket: &mut Socket) -> Result<Value, Option<u16>> {
    loop {
        let message = tokio::time::timeout(Duration::from_secs(5), socket.next()).await.expect("an answer in time");
        match message {
            Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("JSON")),
            Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code))),
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return Err(None),
        }
    }
}

async fn send(socket: &mut Socket, payload: Value) {
    socket.send(Message::text(payload.to_string())).await.expect("send");
}

/// Guilds, guild messages and DM typing: the TYPING_START events these tests dispatch (no
/// guild) need the last.
const WITH_DM_TYPING: u64 = 513 | (1 << 14);

fn identify(token: &str, intents: u64) -> Value {
    let mut payload: Value = serde_json::from_str(IDENTIFY).unwrap();
    payload["d"]["token"] = json!(token);
    payload["d"]["intents"] = json!(intents);
    payload
}

async fn close_code_after(gateway: &FakeGateway, payload: Value) -> Option<u16> {
    let mut socket = connect(&gateway.url()).await;
    assert_eq!(next(&mut socket).await.unwrap()["op"], 10);
    send(&mut socket, payload).await;
    close_code(&mut socket).await
}

/// Reads until the connection closes; the close code.
async fn close_code(socket: &mut Socket) -> Option<u16> {
    loop {
        if let Err(code) = next(socket).await {
            return code;
        }
    }
}

#[tokio::test]
async fn hello_identify_ready_and_heartbeat_ack() {
    let gateway = FakeGateway::start().await;
    let mut socket = connect(&gateway.url()).await;
    let hello = next(&mut socket).await.unwrap();
    assert_eq!(hello, json!({ "op": 10, "d": { "heartbeat_interval": 45000 } }));
    send(&mut socket, identify("fake-bot-token", WITH_DM_TYPING)).await;
    let ready = next(&mut socket).await.unwrap();
    assert_eq!((ready["op"].as_u64(), ready["t"].as_str(), ready["s"].as_u64()), (Some(0), Some("READY"), Some(1)));
    assert_eq!(ready["d"]["resume_gateway_url"], gateway.resume_url());
    assert_eq!(ready["d"]["guilds"][0], json!({ "id": GUILD_ID.to_string(), "unavailable": true }));
    let guild = next(&mut socket).await.unwrap();
    assert_eq!((guild["t"].as_str(), guild["s"].as_u64()), (Some("GUILD_CREATE"), Some(2)));
    assert_eq!(guild["d"]["channels"][0]["id"], CHANNEL_ID.to_string());
    send(&mut socket, serde_json::from_str(HEARTBEAT).unwrap()).await;
    assert_eq!(next(&mut socket).await.unwrap(), json!({ "op": 11 }));
    gateway.dispatch("TYPING_START", json!({ "channel_id": "1" })).unwrap();
    let typing = next(&mut socket).await.unwrap();
    assert_eq!((typing["t"].as_str(), typing["s"].as_u64()), (Some("TYPING_START"), Some(3)));
}

#[tokio::test]
async fn protocol_violations_get_discords_close_codes() {
    let gateway = FakeGateway::start_with(GatewayOptions { privileged_intents: 0, ..GatewayOptions::default() }).await;
    assert_eq!(close_code_after(&gateway, json!({ "op": 3, "d": {} })).await, Some(4003), "not authenticated");
    assert_eq!(close_code_after(&gateway, json!({ "op": 99, "d": null })).await, Some(4001), "unknown opcode");
    assert_eq!(close_code_after(&gateway, json!("not a payload")).await, Some(4002), "decode error");
    let oversized = json!({ "op": 1, "d": null, "padding": "x".repeat(4096) });
    assert_eq!(close_code_after(&gateway, oversized).await, Some(4002), "over 4096 bytes");
    assert_eq!(close_code_after(&gateway, identify("wrong", 513)).await, Some(4004), "authentication failed");
    assert_eq!(close_code_after(&gateway, identify("fake-bot-token", 1 << 40)).await, Some(4013), "invalid intents");
    assert_eq!(close_code_after(&gateway, identify("fake-bot-token", 1 << 15)).await, Some(4014), "disallowed intents");
    let mut bad_shard = identify("fake-bot-token", 513);
    bad_shard["d"]["shard"] = json!([2, 2]);
    assert_eq!(close_code_after(&gateway, bad_shard).await, Some(4010), "invalid shard");

    let mut socket = connect(&gateway.url()).await;
    next(&mut socket).await.unwrap();
    send(&mut socket, identify("fake-bot-token", 513)).await;
    next(&mut socket).await.unwrap();
    send(&mut socket, identify("fake-bot-token", 513)).await;
    assert_eq!(close_code(&mut socket).await, Some(4005), "already authenticated");

    let mut old = tokio_tungstenite::connect_async(format!("{}/?v=8&encoding=json", gateway.url())).await.unwrap().0;
    assert_eq!(next(&mut old).await.unwrap_err(), Some(4012), "invalid API version (v8 is discontinued)");
}

#[tokio::test]
async fn a_silent_client_is_closed_with_session_timed_out() {
    let gateway = FakeGateway::start_with(GatewayOptions {
        heartbeat_interval: Duration::from_millis(100),
        ..Default::default()
    })
    .await;
    let mut socket = connect(&gateway.url()).await;
    next(&mut socket).await.unwrap();
    send(&mut socket, identify("fake-bot-token", 513)).await;
    let started = std::time::Instant::now();
    assert_eq!(close_code(&mut socket).await, Some(4009));
    assert!(started.elapsed() >= Duration::from_millis(100), "{:?}", started.elapsed());
}

#[tokio::test]
async fn resume_replays_what_was_missed() {
    let gateway = FakeGateway::start().await;
    let mut socket = connect(&gateway.url()).await;
    next(&mut socket).await.unwrap();
    send(&mut socket, identify("fake-bot-token", WITH_DM_TYPING)).await;
    let ready = next(&mut socket).await.unwrap();
    let session = ready["d"]["session_id"].as_str().unwrap().to_string();
    next(&mut socket).await.unwrap(); // GUILD_CREATE, seq 2
    drop(socket);
    gateway
        .wait_until(Duration::from_secs(5), "the drop", |r| {
            r.iter().any(|r| matches!(r, regis_testkit::fake_gateway::Record::Closed { .. }))
        })
        .await;
    assert_eq!(gateway.dispatch("TYPING_START", json!({ "n": 1 })), Some(3));
    assert_eq!(gateway.dispatch("TYPING_START", json!({ "n": 2 })), Some(4));

    let mut resumed = connect(&gateway.resume_url()).await;
    next(&mut resumed).await.unwrap();
    let mut resume: Value = serde_json::from_str(RESUME).unwrap();
    resume["d"] = json!({ "token": "fake-bot-token", "session_id": session, "seq": 2 });
    send(&mut resumed, resume.clone()).await;
    let replayed: Vec<(Option<u64>, Value)> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            let p = next(&mut resumed).await.unwrap();
            v.push((p["s"].as_u64(), p["t"].clone()));
        }
        v
    };
    assert_eq!(
        replayed,
        [(Some(3), json!("TYPING_START")), (Some(4), json!("TYPING_START")), (Some(5), json!("RESUMED"))]
    );

    let mut ahead = connect(&gateway.url()).await;
    next(&mut ahead).await.unwrap();
    resume["d"]["seq"] = json!(99);
    send(&mut ahead, resume.clone()).await;
    assert_eq!(close_code(&mut ahead).await, Some(4007), "invalid seq");

    let mut unknown = connect(&gateway.url()).await;
    next(&mut unknown).await.unwrap();
    resume["d"]["session_id"] = json!("no-such-session");
    resume["d"]["seq"] = json!(1);
    send(&mut unknown, resume).await;
    assert_eq!(next(&mut unknown).await.unwrap(), json!({ "op": 9, "d": false }));
}

#[tokio::test]
async fn zstd_stream_compression_is_one_stream_per_connection() {
    let gateway = FakeGateway::start().await;
    let url = format!("{}/?v=10&encoding=json&compress=zstd-stream", gateway.url());
    let mut socket = tokio_tungstenite::connect_async(url).await.unwrap().0;
    let mut dctx = zstd_safe::DCtx::create();
    let mut decode = |data: &[u8]| -> Value {
        let mut out: Vec<u8> = Vec::with_capacity(1 << 20);
        let mut input = zstd_safe::InBuffer::around(data);
        let mut output = zstd_safe::OutBuffer::around(&mut out);
        dctx.decompress_stream(&mut output, &mut input).expect("a zstd block");
        assert_eq!(input.pos, data.len(), "each frame is a complete flushed block");
        serde_json::from_slice(&out).expect("JSON")
    };
    let binary = |m: Option<Result<Message, _>>| match m {
        Some(Ok(Message::Binary(b))) => b,
        other => panic!("expected a binary frame, got {other:?}"),
    };
    let hello = decode(&binary(socket.next().await));
    assert_eq!(hello["op"], 10);
    socket.send(Message::text(identify("fake-bot-token", 513).to_string())).await.unwrap();
    let ready = decode(&binary(socket.next().await));
    assert_eq!(ready["t"], "READY");
    let guild = decode(&binary(socket.next().await));
    assert_eq!(guild["t"], "GUILD_CREATE");
}

#[tokio::test]
async fn compression_the_fake_does_not_speak_is_refused() {
    let gateway = FakeGateway::start().await;
    let url = format!("{}/?v=10&encoding=json&compress=zlib-stream", gateway.url());
    let refused = tokio_tungstenite::connect_async(url).await.expect_err("no websocket");
    assert!(refused.to_string().contains("400"), "{refused}");
}

#[tokio::test]
async fn a_session_closed_with_4009_cannot_be_resumed() {
    let gateway = FakeGateway::start().await;
    let mut socket = connect(&gateway.url()).await;
    next(&mut socket).await.unwrap();
    send(&mut socket, identify("fake-bot-token", 513)).await;
    let session = next(&mut socket).await.unwrap()["d"]["session_id"].as_str().unwrap().to_string();
    gateway.close_all(4009, "Session timed out");
    assert_eq!(close_code(&mut socket).await, Some(4009));
    let mut again = connect(&gateway.resume_url()).await;
    next(&mut again).await.unwrap();
    let mut resume: Value = serde_json::from_str(RESUME).unwrap();
    resume["d"] = json!({ "token": "fake-bot-token", "session_id": session, "seq": 2 });
    send(&mut again, resume).await;
    assert_eq!(next(&mut again).await.unwrap(), json!({ "op": 9, "d": false }), "a new session is needed");
}
