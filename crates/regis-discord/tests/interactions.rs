//! The interactions endpoint against a key made here and the test kit's fake Discord REST.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use ed25519_dalek::{Signer, SigningKey};
use http_body_util::BodyExt;
use regis::prelude::*;
use regis::{Bot, CoreConfig, SqliteBackend};
use regis_discord::{DiscordConnector, InteractionsConfig, InteractionsServer, RestConfig};
use regis_testkit::fake_discord::{command_interaction, Failure, FakeDiscord};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

mod common;

use common::{all_bytes, Probe};

struct Harness {
    key: SigningKey,
    router: Router,
    fake: FakeDiscord,
    connector: Arc<DiscordConnector>,
    bot: Bot,
    _dir: tempfile::TempDir,
}

async fn harness() -> Harness {
    harness_with(CoreConfig::default()).await
}

async fn harness_with(core: CoreConfig) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let fake = FakeDiscord::start().await;
    let connector = Arc::new(
        DiscordConnector::new(RestConfig {
            api_url: fake.api_url(),
            max_backoff: Duration::from_millis(200),
            ..RestConfig::default()
        })
        .unwrap(),
    );
    let bot = Bot::builder(core)
        .storage(SqliteBackend::new(dir.path()))
        .connector(connector.clone())
        .plugin(regis_plugin_admin::Admin)
        .plugin(Probe)
        .start()
        .await
        .unwrap();
    let key = SigningKey::from_bytes(&[42u8; 32]);
    let mut config = InteractionsConfig::new(hex::encode(key.verifying_key().to_bytes()));
    config.budget = Duration::from_millis(150);
    let bodies = regis_http::BodyReader::new(Duration::from_secs(5), 64 << 20);
    let server = InteractionsServer::new(&config, bot.ingress(), connector.pending(), bodies).unwrap();
    Harness { key, router: server.router(), fake, connector, bot, _dir: dir }
}

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

impl Harness {
    fn signed(&self, body: &[u8], timestamp: u64) -> Request<Body> {
        let ts = timestamp.to_string();
        let mut message = ts.as_bytes().to_vec();
        message.extend_from_slice(body);
        let signature = hex::encode(self.key.sign(&message).to_bytes());
        Request::post("/interactions")
            .header("content-type", "application/json")
            .header("x-signature-ed25519", signature)
            .header("x-signature-timestamp", ts)
            .body(Body::from(body.to_vec()))
            .unwrap()
    }

    async fn call(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
    }

    async fn command(&self, id: u64, name: &str, options: Value) -> (StatusCode, Value) {
        let body = command_interaction(id, name, options).to_string();
        self.call(self.signed(body.as_bytes(), now())).await
    }
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let h = harness().await;
    let response = h
        .router
        .clone()
        .oneshot(h.signed(br#"{"type":1,"id":"1","application_id":"2","token":"t","version":1}"#, now()))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], br#"{"type":1}"#);
}

#[tokio::test]
async fn bad_requests_get_the_documented_status() {
    let h = harness().await;
    let ping = br#"{"type":1}"#;
    let unsigned = Request::post("/interactions").body(Body::from(ping.to_vec())).unwrap();
    assert_eq!(h.call(unsigned).await.0, StatusCode::UNAUTHORIZED);
    let mut tampered = h.signed(ping, now());
    *tampered.body_mut() = Body::from(br#"{"type":2}"#.to_vec());
    assert_eq!(h.call(tampered).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = h.call(h.signed(ping, now() - 301)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body["error"].as_str().unwrap().contains("window"), "{body}");
    assert_eq!(h.call(h.signed(ping, now() + 301)).await.0, StatusCode::UNAUTHORIZED);
    let huge = vec![b' '; 1024 * 1024 + 1];
    assert_eq!(h.call(h.signed(&huge, now())).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, body) = h.call(h.signed(b"{not json", now())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().starts_with("invalid JSON"), "{body}");
    let (status, body) = h.call(h.signed(br#"{"type":42}"#, now())).await;
    assert_eq!((status, body["error"].as_str().unwrap()), (StatusCode::BAD_REQUEST, "unknown interaction type 42"));
    let (status, _) = h.call(h.signed(br#"{"type":2,"id":"x"}"#, now())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an APPLICATION_COMMAND that does not parse");
    let unknown = Request::get("/healthz").body(Body::empty()).unwrap();
    assert_eq!(
        h.router.clone().oneshot(unknown).await.unwrap().status(),
        StatusCode::NOT_FOUND,
        "health is not this router's"
    );
}

#[tokio::test]
async fn quick_handlers_answer_inline() {
    let h = harness().await;
    let (status, body) = h.command(1, "quick", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["type"], 4);
    assert_eq!(body["data"]["content"], "quick answer");
    let (_, body) = h.command(2, "secret", json!([])).await;
    assert_eq!((body["type"].clone(), body["data"]["flags"].clone()), (json!(4), json!(64)));
    let (_, body) = h.command(3, "silent", json!([])).await;
    assert_eq!((body["data"]["content"].clone(), body["data"]["flags"].clone()), (json!("Done."), json!(64)));
    let (_, body) = h.command(4, "slow", json!([{"type": 3, "name": "ms", "value": "soon"}])).await;
    assert_eq!(body["data"]["content"], "`ms` must be integer 0..=9007199254740992, got `soon`\nUsage: /slow <ms>");
    let (_, body) = h.command(5, "nope", json!([])).await;
    assert_eq!(body["data"]["content"], "Unknown command `/nope`.");
    let user = json!([{"type": 6, "name": "user", "value": "53908232506183680"}]);
    let (_, body) = h.command(6, "greet", user).await;
    assert_eq!(body["data"]["content"], "hello 53908232506183680 (53908232506183680)");
    assert!(h.fake.calls().is_empty(), "nothing went through REST");
}

/// A refusal (bad argument, unknown command, rank too low, cooling down) is for the asker
/// alone: the channel does not see someone's typo or their rank.
#[tokio::test]
async fn refusals_are_ephemeral() {
    let h = harness().await;
    let cases = [
        ("slow", json!([{"type": 3, "name": "ms", "value": "soon"}]), "`ms` must be integer"),
        ("nope", json!([]), "Unknown command `/nope`."),
        ("vault", json!([]), "`vault` needs rank 100; yours is 0."),
        ("once", json!([]), "once"),
        ("once", json!([]), "`once` is cooling down; try again in "),
    ];
    for (i, (command, options, text)) in cases.into_iter().enumerate() {
        let (status, body) = h.command(10 + i as u64, command, options).await;
        assert_eq!((status, body["type"].clone()), (StatusCode::OK, json!(4)), "{command}: {body}");
        let content = body["data"]["content"].as_str().unwrap_or_default();
        assert!(content.starts_with(text), "{command}: {body}");
        let private = if text == "once" { json!(null) } else { json!(64) };
        assert_eq!(body["data"]["flags"], private, "{command}: {body}");
    }
}

#[tokio::test]
async fn slow_handlers_are_deferred_and_edit_the_original() {
    let h = harness().await;
    let (status, body) = h.command(7, "slow", json!([{"type": 4, "name": "ms", "value": 400}])).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"type": 5})));
    assert!(h.fake.calls().is_empty(), "answered at the budget, before the handler's reply");
    assert_eq!(h.bot.stats().in_flight, 1, "the handler was still running");
    let calls = h.fake.wait_for_calls(1, Duration::from_secs(5)).await;
    assert_eq!(calls[0].method, "PATCH");
    assert_eq!(calls[0].path, "/webhooks/775799577604522054/token-7/messages/@original");
    assert_eq!(calls[0].json.as_ref().unwrap()["content"], "slow answer");
    assert_eq!(calls[0].authorization, None, "webhook routes need no bot token");
}

#[tokio::test]
async fn explicit_defer_then_edit() {
    let h = harness().await;
    let (_, body) = h.command(8, "later", json!([])).await;
    assert_eq!(body, json!({"type": 5}));
    let calls = h.fake.wait_for_calls(1, Duration::from_secs(5)).await;
    assert_eq!(calls[0].json.as_ref().unwrap()["content"], "deferred answer");
}

#[tokio::test]
async fn an_edit_racing_discords_receipt_of_the_deferral_is_retried() {
    let h = harness().await;
    h.fake.require_callbacks(true);
    // A reply with a file defers and edits at once; Discord takes a moment to process the
    // deferral, and until then it does not know the token's webhook.
    let (_, body) = h.command(21, "file", json!([])).await;
    assert_eq!(body, json!({"type": 5}));
    let refused = h.fake.wait_for_calls(1, Duration::from_secs(5)).await.remove(0);
    assert_eq!(
        (refused.status, refused.path.as_str()),
        (404, "/webhooks/775799577604522054/token-21/messages/@original")
    );
    h.fake.acknowledge("token-21");
    let calls = h.fake.wait_for_calls(2, Duration::from_secs(5)).await;
    let edit = calls.iter().find(|c| c.status == 200).expect("the edit, retried");
    assert_eq!(edit.files[0].data, all_bytes());
    // An unknown token long after the interaction arrived is final.
    let old = regis::envelope::now_ms() - 60_000;
    let interaction: twilight_model::application::interaction::Interaction =
        serde_json::from_value(command_interaction(22, "quick", json!([]))).unwrap();
    let envelope = regis_discord::convert::command_envelope(&interaction, old).unwrap();
    let result =
        regis::Connector::send(&*h.connector, Some(&envelope), &regis::Destination::Origin, Reply::text("late")).await;
    assert!(result.unwrap_err().to_string().contains("10015"));
}

#[tokio::test]
async fn files_go_by_multipart_and_decode_to_the_same_bytes() {
    let h = harness().await;
    let (_, body) = h.command(9, "file", json!([])).await;
    assert_eq!(body, json!({"type": 5}));
    let calls = h.fake.wait_for_calls(1, Duration::from_secs(5)).await;
    let call = &calls[0];
    assert_eq!(call.files.len(), 1);
    assert_eq!(call.files[0].field, "files[0]");
    assert_eq!(call.files[0].filename, "bytes.bin");
    assert_eq!(call.files[0].data, all_bytes());
    let payload = call.json.as_ref().unwrap();
    assert_eq!(payload["content"], "a file");
    assert_eq!(payload["embeds"][0]["image"]["url"], "attachment://bytes.bin");
    assert_eq!(payload["attachments"][0]["filename"], "bytes.bin");
}

#[tokio::test]
async fn later_replies_are_follow_ups() {
    let h = harness().await;
    let (_, body) = h.command(10, "twice", json!([])).await;
    assert_eq!(body["data"]["content"], "one");
    let calls = h.fake.wait_for_calls(1, Duration::from_secs(5)).await;
    assert_eq!((calls[0].method.as_str(), calls[0].path.as_str()), ("POST", "/webhooks/775799577604522054/token-10"));
    assert_eq!(calls[0].json.as_ref().unwrap()["content"], "two");
}

#[tokio::test]
async fn a_handler_failing_after_the_deferral_edits_in_the_error() {
    let h = harness().await;
    let (_, body) = h.command(11, "boom", json!([])).await;
    assert_eq!(body, json!({"type": 5}));
    let calls = h.fake.wait_for_calls(1, Duration::from_secs(5)).await;
    assert_eq!(calls[0].path, "/webhooks/775799577604522054/token-11/messages/@original");
    assert_eq!(calls[0].json.as_ref().unwrap()["content"], "`boom` failed: the reactor is offline");
}

#[tokio::test]
async fn rate_limits_are_honoured_and_server_errors_retried() {
    let h = harness().await;
    h.fake.fail_next(Failure::RateLimited { retry_after: 0.3, global: false });
    h.fake.fail_next(Failure::ServerError(502));
    let (_, body) = h.command(12, "slow", json!([{"type": 4, "name": "ms", "value": 200}])).await;
    assert_eq!(body, json!({"type": 5}));
    let calls = h.fake.wait_for_calls(3, Duration::from_secs(5)).await;
    assert_eq!(calls.iter().map(|c| c.status).collect::<Vec<_>>(), [429, 502, 200]);
    let waited = calls[1].at.duration_since(calls[0].at);
    assert!(waited >= Duration::from_millis(300), "retried {waited:?} after a 429 with retry_after 0.3 s");
    assert_eq!(calls[2].json.as_ref().unwrap()["content"], "slow answer");
    // twilight-http's rate limiter retries the 429 itself once `retry_after` has passed;
    // the connector's own backoff retried the 502.
    assert_eq!(h.connector.retried_requests(), 1);
}

#[tokio::test]
async fn replies_after_the_token_lifetime_are_dropped() {
    let h = harness().await;
    let interaction: twilight_model::application::interaction::Interaction =
        serde_json::from_value(command_interaction(13, "quick", json!([]))).unwrap();
    let sixteen_minutes_ago = regis::envelope::now_ms() - 16 * 60 * 1000;
    let envelope = regis_discord::convert::command_envelope(&interaction, sixteen_minutes_ago).unwrap();
    let result =
        regis::Connector::send(&*h.connector, Some(&envelope), &regis::Destination::Origin, Reply::text("late")).await;
    assert!(result.unwrap_err().to_string().contains("expired"));
    assert_eq!(h.connector.expired_replies(), 1);
    assert!(h.fake.calls().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_interactions_at_once_all_answer_within_the_deadline() {
    let h = Arc::new(harness().await);
    let tasks: Vec<_> = (0..300u64)
        .map(|i| {
            let h = h.clone();
            tokio::spawn(async move { h.command(1000 + i, "quick", json!([])).await })
        })
        .collect();
    for task in tasks {
        let (status, body) = task.await.unwrap();
        // Inline (type 4) means within the budget; past it the answer would be "deferred".
        assert_eq!((status, body["type"].clone()), (StatusCode::OK, json!(4)));
        assert_eq!(body["data"]["content"], "quick answer");
    }
    assert!(h.fake.calls().is_empty(), "no interaction needed a deferral and an edit");
}

/// Random headers and bodies: never a panic, always a 4xx.
#[tokio::test]
async fn random_requests_never_panic_and_always_get_a_4xx() {
    let h = harness().await;
    let mut rng = fastrand::Rng::with_seed(8032);
    let samples: [&[u8]; 6] =
        [b"{\"type\":", b"[]", b"{\"type\":2,\"data\":null}", b"\xff\xfe", b"{\"type\":1e400}", b"null"];
    for round in 0..400 {
        let mut body: Vec<u8> = (0..rng.usize(0..64)).map(|_| rng.u8(..)).collect();
        if rng.bool() {
            body = samples[rng.usize(..samples.len())].to_vec();
        }
        let mut request = if round % 3 == 0 {
            // Correctly signed garbage must be a 400, not a 5xx.
            h.signed(&body, now())
        } else {
            let mut builder = Request::post("/interactions");
            if rng.bool() {
                let sig: String = (0..rng.usize(0..140)).map(|_| rng.alphanumeric()).collect();
                builder = builder.header("x-signature-ed25519", sig);
            }
            if rng.bool() {
                builder = builder.header("x-signature-timestamp", rng.i64(..).to_string());
            }
            builder.body(Body::from(body.clone())).unwrap()
        };
        if rng.bool() {
            request.headers_mut().insert("content-type", "text/plain".parse().unwrap());
        }
        let (status, _) = h.call(request).await;
        assert!(status.is_client_error(), "round {round}: {status} for body {body:?}");
    }
}

#[tokio::test]
async fn finished_interactions_are_forgotten() {
    let h = harness().await;
    for i in 0..50 {
        h.command(5000 + i, "quick", json!([])).await;
    }
    // Handlers that finish without replying are forgotten too (their clean-up once awaited
    // the completion twice and panicked).
    for i in 0..5 {
        h.command(5200 + i, "silent", json!([])).await;
    }
    h.command(5100, "slow", json!([{"type": 4, "name": "ms", "value": 300}])).await;
    assert!(h.connector.tracked_interactions() >= 1, "the slow one is still running");
    h.bot.idle().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    while h.connector.tracked_interactions() > 0 {
        assert!(Instant::now() < deadline, "{} still tracked", h.connector.tracked_interactions());
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn with_kind(mut interaction: Value, kind: u8, data: Value) -> Value {
    interaction["type"] = json!(kind);
    interaction["data"] = data;
    interaction
}

#[tokio::test]
async fn autocomplete_answers_with_the_plugins_suggestions() {
    let h = harness().await;
    let focused = json!([{"type": 3, "name": "colour", "value": "gr", "focused": true}]);
    let body = with_kind(
        command_interaction(20, "paint", focused.clone()),
        4,
        json!({
            "type": 1, "name": "paint", "id": "771825006014889984", "options": focused
        }),
    );
    let (status, body) = h.call(h.signed(body.to_string().as_bytes(), now())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"type": 8, "data": {"choices": [
            {"name": "green", "value": "green"}, {"name": "grey", "value": "grey"}
        ]}})
    );
    let schema = regis::CommandSpec::to_discord_json(
        &regis::Plugin::commands(&Probe).into_iter().find(|c| c.name == "paint").unwrap(),
    );
    assert_eq!(schema["options"][0]["autocomplete"], true);
    // A parameter without suggestions answers with none, at once.
    let other = json!([{"type": 4, "name": "ms", "value": "1", "focused": true}]);
    let body = with_kind(
        command_interaction(21, "slow", other.clone()),
        4,
        json!({
            "type": 1, "name": "slow", "id": "771825006014889984", "options": other
        }),
    );
    let (_, body) = h.call(h.signed(body.to_string().as_bytes(), now())).await;
    assert_eq!(body, json!({"type": 8, "data": {"choices": []}}));
}

#[tokio::test]
async fn buttons_are_namespaced_and_clicks_reach_their_plugin() {
    let h = harness().await;
    let (_, body) = h.command(22, "menu", json!([])).await;
    let row = &body["data"]["components"][0];
    assert_eq!(row["type"], 1);
    assert_eq!(row["components"][0]["custom_id"], "probe:pick:red");
    assert_eq!(row["components"][1]["label"], "Blue");
    let click = with_kind(
        command_interaction(23, "menu", json!([])),
        3,
        json!({"custom_id": "probe:pick:blue", "component_type": 2}),
    );
    let (status, body) = h.call(h.signed(click.to_string().as_bytes(), now())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["content"], "Mason picked blue");
    let stale =
        with_kind(command_interaction(24, "menu", json!([])), 3, json!({"custom_id": "gone:x", "component_type": 2}));
    let (_, body) = h.call(h.signed(stale.to_string().as_bytes(), now())).await;
    assert_eq!(body["data"]["content"], "This button is no longer handled.");
    let (status, body) = h.call(h.signed(br#"{"type":5}"#, now())).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"].as_str().unwrap().contains("modal"), "{body}");
}

/// The same signed request `n` times (a retry, or a replay of a captured request).
fn copies(h: &Harness, body: &Value, n: usize) -> Vec<Request<Body>> {
    let body = body.to_string();
    let ts = now();
    (0..n).map(|_| h.signed(body.as_bytes(), ts)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_interaction_delivered_ten_times_gets_one_answer_and_no_lost_reply() {
    let h = Arc::new(harness().await);
    // Slower than the budget: every delivery is told "deferred", and the one edit carries the
    // answer.
    let slow = command_interaction(40, "slow", json!([{"type": 4, "name": "ms", "value": 400}]));
    let answers = futures::future::join_all(copies(&h, &slow, 10).into_iter().map(|r| h.call(r))).await;
    for (status, body) in &answers {
        assert_eq!((*status, body), (StatusCode::OK, &json!({"type": 5})));
    }
    let edits = h.fake.wait_for_calls(1, Duration::from_secs(5)).await;
    assert_eq!(edits[0].path, "/webhooks/775799577604522054/token-40/messages/@original");
    assert_eq!(edits[0].json.as_ref().unwrap()["content"], "slow answer");
    // Quick: every delivery carries the inline answer.
    let quick = command_interaction(41, "quick", json!([]));
    let answers = futures::future::join_all(copies(&h, &quick, 10).into_iter().map(|r| h.call(r))).await;
    for (status, body) in &answers {
        assert_eq!(
            (*status, body["type"].clone(), body["data"]["content"].clone()),
            (StatusCode::OK, json!(4), json!("quick answer"))
        );
    }
    // A copy arriving once it is answered gets the same answer, and is not run again.
    let (status, body) = h.call(copies(&h, &quick, 1).remove(0)).await;
    assert_eq!((status, body["data"]["content"].clone()), (StatusCode::OK, json!("quick answer")));
    h.bot.idle().await;
    assert_eq!(h.fake.calls().len(), 1, "one edit in all, no follow-up");
    assert_eq!(h.bot.stats().handled, 2, "each interaction ran once");
    assert_eq!(h.bot.stats().duplicates, 0, "no copy reached the queue");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_answered_with_a_busy_note() {
    let h = Arc::new(harness_with(CoreConfig { workers: 1, queue_capacity: 1, ..CoreConfig::default() }).await);
    let busy = {
        let h = Arc::clone(&h);
        tokio::spawn(async move { h.command(50, "slow", json!([{"type": 4, "name": "ms", "value": 500}])).await })
    };
    while h.bot.stats().in_flight == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The worker is busy; this fills the one place in the queue.
    let waiting = regis::Envelope::message("test", regis::UserRef::new("test", "t"), "!quick");
    h.bot.ingress().submit(waiting).await.unwrap();
    let (status, body) = h.command(51, "quick", json!([])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["data"]["content"], "The bot is busy; try again in a moment.");
    assert_eq!(body["data"]["flags"], 64, "for the invoker only");
    assert_eq!(busy.await.unwrap().1, json!({"type": 5}));
}

#[tokio::test]
async fn an_option_given_twice_is_refused_as_the_prefix_form_refuses_it() {
    let h = harness().await;
    let twice = json!([{"type": 4, "name": "ms", "value": 1}, {"type": 4, "name": "ms", "value": 2}]);
    let (_, body) = h.command(60, "slow", twice).await;
    assert_eq!(body["data"]["content"], "`ms` is given twice\nUsage: /slow <ms>");
}

#[tokio::test]
async fn a_slow_autocomplete_answers_none_at_the_budget() {
    let h = harness().await;
    let focused = json!([{"type": 3, "name": "colour", "value": "r", "focused": true}]);
    let body = with_kind(
        command_interaction(61, "tint", focused.clone()),
        4,
        json!({"type": 1, "name": "tint", "id": "771825006014889984", "options": focused}),
    );
    let (status, body) = h.call(h.signed(body.to_string().as_bytes(), now())).await;
    assert_eq!((status, body), (StatusCode::OK, json!({"type": 8, "data": {"choices": []}})));
    // The late suggestions are dropped: autocomplete cannot be deferred or followed up.
    h.bot.idle().await;
    assert!(h.fake.calls().is_empty(), "{:?}", h.fake.calls());
}

#[tokio::test]
async fn a_user_option_is_shown_by_its_display_name() {
    let h = harness().await;
    let user = json!([{"type": 6, "name": "user", "value": "53908232506183680"}]);
    let mut interaction = command_interaction(62, "greet", user);
    interaction["data"]["resolved"] = json!({"users": {"53908232506183680": {
        "id": "53908232506183680", "username": "mason", "global_name": "Mason \u{202e}the Great",
        "discriminator": "0", "avatar": null
    }}});
    let (_, body) = h.call(h.signed(interaction.to_string().as_bytes(), now())).await;
    assert_eq!(body["data"]["content"], "hello Mason the Great (53908232506183680)", "display name, cleaned");
}
