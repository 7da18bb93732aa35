//! What an operator watches: `regis run`'s `/metrics` (parsed with a Prometheus text-format
//! parser after a run, its counters checked), `/healthz` and `/readyz` (which name each check,
//! and fail when the storage does), and `log_format = "json"` (one object per line, the
//! envelope's id on the lines logged while it is handled).

mod common;

use common::{free_port, ping_when_up, regis, signed_post, test_key, Running};
use ed25519_dalek::SigningKey;
use prometheus_parse::{Scrape, Value};
use regis_testkit::fake_discord::{command_interaction, FakeDiscord};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

const WAIT: Duration = Duration::from_secs(15);

/// `GET path`: the status code and the body.
fn get(port: u16, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("the listener");
    stream.set_read_timeout(Some(WAIT)).unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// The value of the sample of `metric` whose labels include all of `labels`.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape.samples.iter().find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v))).map(
        |s| match s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => v,
            _ => f64::NAN,
        },
    )
}

fn scrape(port: u16) -> Scrape {
    let (status, body) = get(port, "/metrics");
    assert_eq!(status, 200, "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text format")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_json_logs_after_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start().await;
    let (key, public) = test_key();
    let port = free_port();
    let mut command = regis(dir.path(), &["run"]);
    command
        .env("DISCORD_PUBLIC_KEY", &public)
        .env("REGIS_DISCORD_API_URL", fake.api_url())
        .env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"))
        // Answers are deferred at once and sent as edits over REST, to the fake Discord.
        .env("REGIS_INTERACTION_BUDGET", "1ms")
        .env("REGIS_LOG_FORMAT", "json")
        .env("REGIS_LOG", "info,sqlx=debug");
    let bot = Running::spawn(command);
    let (ping, answers, unsigned) = tokio::task::spawn_blocking(move || {
        let ping = ping_when_up(port, &key, WAIT);
        let answers: Vec<String> = [(77, "roll"), (78, "mando")]
            .iter()
            .map(|(id, name)| {
                let interaction = command_interaction(*id, name, serde_json::json!([]));
                signed_post(port, &key, &interaction.to_string()).unwrap()
            })
            .collect();
        let unsigned = signed_post(port, &SigningKey::from_bytes(&[1u8; 32]), r#"{"type":1}"#).unwrap();
        (ping, answers, unsigned)
    })
    .await
    .unwrap();
    assert!(ping.ends_with(r#"{"type":1}"#), "{ping}");
    assert!(unsigned.starts_with("HTTP/1.1 401"), "{unsigned}");
    // A 1 ms budget: a roll may still be answered inline; a mandala is deferred.
    let inline = answers.iter().filter(|a| a.contains(r#""type":4"#)).count();
    let deferred = answers.iter().filter(|a| a.contains(r#""type":5"#)).count();
    assert_eq!(inline + deferred, 2, "{answers:?}");
    assert!(answers[1].contains(r#""type":5"#), "the mandala is deferred: {}", answers[1]);
    let deadline = Instant::now() + WAIT;
    while fake.calls().iter().filter(|c| c.path.ends_with("/messages/@original")).count() < deferred {
        assert!(Instant::now() < deadline, "a deferred answer never edited the response: {:#?}", fake.calls());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (health, readiness) =
        tokio::task::spawn_blocking(move || (get(port, "/healthz"), get(port, "/readyz"))).await.unwrap();
    assert_eq!(health, (200, "ok".to_string()));
    assert_eq!(readiness, (200, "ready\nshutdown: ok\nstorage: ok\n".to_string()));

    let metrics = tokio::task::spawn_blocking(move || scrape(port)).await.unwrap();
    let counter = |metric: &str, labels: &[(&str, &str)]| value(&metrics, metric, labels);
    let count = |n: usize| if n == 0 { None } else { Some(n as f64) };
    assert_eq!(counter("regis_interactions_total", &[("ingress", "http"), ("answer", "deferred")]), count(deferred));
    assert_eq!(counter("regis_interactions_total", &[("ingress", "http"), ("answer", "inline")]), count(inline));
    assert_eq!(counter("regis_interactions_total", &[("ingress", "http"), ("answer", "pong")]), Some(1.0));
    assert_eq!(counter("regis_interactions_total", &[("ingress", "http"), ("answer", "unsigned")]), Some(1.0));
    assert_eq!(counter("regis_envelopes_received_total", &[("source", "discord"), ("kind", "command")]), Some(2.0));
    assert_eq!(counter("regis_envelopes_handled_total", &[("source", "discord")]), Some(2.0));
    assert_eq!(
        counter("regis_handlers_total", &[("source", "discord"), ("plugin", "dice"), ("outcome", "ok")]),
        Some(1.0)
    );
    assert_eq!(counter("regis_handler_duration_seconds_count", &[("plugin", "dice"), ("handler", "roll")]), Some(1.0));
    let edits = counter(
        "regis_discord_rest_requests_total",
        &[("route", "/api/v10/webhooks/:id/<token>/messages/@original"), ("status", "200")],
    );
    assert_eq!(edits, count(deferred), "{:#?}", metrics.samples);
    assert_eq!(
        counter("regis_handler_duration_seconds_count", &[("plugin", "mandala"), ("handler", "mando")]),
        Some(1.0)
    );
    assert_eq!(counter("regis_workers_alive", &[]), Some(32.0));
    assert_eq!(counter("regis_queue_depth", &[]), Some(0.0));

    bot.terminate();
    let out = bot.finish_within(WAIT);
    assert!(out.status.success(), "{:?}", out.status);
    let logs = String::from_utf8_lossy(&out.stderr);
    let mut about_the_roll = 0;
    for line in logs.lines().filter(|l| !l.starts_with("regis: ")) {
        let object: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(object["level"].is_string() && object["fields"].is_object(), "{line}");
        // The dice plugin's own write of the roll count, inside its handler's task.
        let summary = object["fields"]["summary"].as_str().unwrap_or_default();
        if object["span"]["envelope"] == "discord-interaction-77" && summary.starts_with("INSERT INTO _regis_kv") {
            about_the_roll += 1;
        }
    }
    assert!(about_the_roll > 0, "the handler's lines do not carry the envelope's id:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_fails_naming_the_storage_when_its_database_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = test_key();
    let port = free_port();
    let mut command = regis(dir.path(), &["run"]);
    command.env("DISCORD_PUBLIC_KEY", &public).env("REGIS_HTTP_ADDR", format!("127.0.0.1:{port}"));
    let bot = Running::spawn(command);
    let db = dir.path().join("regis-data").join("core.db");
    tokio::task::spawn_blocking(move || {
        ping_when_up(port, &key, WAIT);
        assert_eq!(get(port, "/readyz").0, 200);
    })
    .await
    .unwrap();
    // The core database's table goes away under the running bot (another process's doing).
    regis::sqlx::any::install_default_drivers();
    let pool = regis::sqlx::AnyPool::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    regis::sqlx::query("DROP TABLE regis_timers").execute(&pool).await.unwrap();
    pool.close().await;
    let readiness = tokio::task::spawn_blocking(move || get(port, "/readyz")).await.unwrap();
    assert_eq!(readiness.0, 503, "{readiness:?}");
    assert!(readiness.1.starts_with("not ready\nshutdown: ok\nstorage: "), "{readiness:?}");
    assert!(!readiness.1.contains("storage: ok"), "{readiness:?}");
    bot.kill();
}
