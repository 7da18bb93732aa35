//! The webhook endpoint over real sockets: each scheme accepted and refused, 404, 413, 415,
//! the request queued and handled by the plugin, a redelivered GitHub delivery handled once.

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::Request;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use regis_core::{Ctx, Result, WebhookRequest};
use regis_http::{HttpConfig, HttpServer};
use regis_macros::plugin;
use regis_testkit::TestBot;
use regis_webhooks::{hub_signature, Hook, HookAuth, Webhooks};
use std::time::{Duration, Instant};

/// Says what its hook received.
pub struct Ops;

#[plugin]
impl Ops {
    #[webhook("deploy")]
    async fn deploy(&self, ctx: &Ctx, request: &WebhookRequest) -> Result<()> {
        let channel = ctx.envelope().channel.as_ref().map(|c| c.id.clone()).unwrap_or_default();
        let event = request.header("X-GitHub-Event").unwrap_or("-");
        let secret_seen = request.header("authorization").is_some() || request.header("x-hub-signature-256").is_some();
        ctx.say(&channel, format!("{event}: {} (credentials seen: {secret_seen})", request.body)).await?;
        Ok(())
    }

    #[webhook("broken")]
    async fn broken(&self, _ctx: &Ctx, _request: &WebhookRequest) -> Result<()> {
        Err("the deploy server is down".into())
    }
}

struct Served {
    bot: TestBot,
    url: String,
    _task: tokio::task::JoinHandle<()>,
}

async fn serve() -> Served {
    let bot = TestBot::with(Ops).await;
    let hook = |name: &str, auth: HookAuth| Hook {
        plugin: "ops".into(),
        name: name.into(),
        auth,
        connector: regis_testkit::CONNECTOR.into(),
        channel: Some("ops-channel".into()),
    };
    let config = HttpConfig { addr: "127.0.0.1:0".parse().unwrap(), ..HttpConfig::default() };
    let http = HttpServer::bind(config).await.unwrap();
    let url = format!("http://{}", http.local_addr().unwrap());
    let hooks = vec![hook("deploy", HookAuth::Hmac("s3cret".into())), hook("broken", HookAuth::Bearer("t0ken".into()))];
    let router = Webhooks::new(hooks, bot.bot().ingress(), http.bodies(), 1024).router();
    let task = tokio::spawn(async move {
        http.serve(router, std::future::pending()).await;
    });
    Served { bot, url, _task: task }
}

async fn post(url: &str, headers: &[(&str, &str)], body: Vec<u8>) -> (u16, String) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut request = Request::post(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = client.request(request.body(Full::new(Bytes::from(body))).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn said(bot: &TestBot, want: usize) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = Vec::new();
    while seen.len() < want && Instant::now() < deadline {
        seen.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    bot.bot().idle().await;
    seen.extend(bot.connector_sent().into_iter().map(|s| s.reply.text));
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_github_delivery_is_queued_handled_and_handled_once_when_redelivered() {
    let s = serve().await;
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let sig = hub_signature("s3cret", &body);
    let headers = [
        ("x-hub-signature-256", sig.as_str()),
        ("x-github-event", "push"),
        ("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ];
    let (status, answer) = post(&format!("{}/hooks/ops/deploy", s.url), &headers, body.clone()).await;
    assert_eq!(status, 202, "{answer}");
    assert!(answer.contains(r#""queued":"hook-ops-deploy-72d3162e-cc78-11e3-81ab-4c9367dc0958""#), "{answer}");
    let (status, _) = post(&format!("{}/hooks/ops/deploy", s.url), &headers, body).await;
    assert_eq!(status, 202, "a redelivery is accepted");
    let seen = said(&s.bot, 1).await;
    assert_eq!(seen, vec![r#"push: {"ref":"refs/heads/main"} (credentials seen: false)"#.to_string()], "handled once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_status_and_reach_no_handler() {
    let s = serve().await;
    let deploy = format!("{}/hooks/ops/deploy", s.url);
    let body = b"{}".to_vec();
    let wrong = hub_signature("not the secret", &body);
    assert_eq!(post(&deploy, &[("x-hub-signature-256", &wrong)], body.clone()).await.0, 401, "wrong secret");
    assert_eq!(post(&deploy, &[], body.clone()).await.0, 401, "no signature");
    let tampered = hub_signature("s3cret", b"{\"other\":1}");
    assert_eq!(post(&deploy, &[("x-hub-signature-256", &tampered)], body.clone()).await.0, 401, "signed another body");
    assert_eq!(post(&format!("{}/hooks/ops/nope", s.url), &[], body.clone()).await.0, 404);
    assert_eq!(post(&format!("{}/hooks/nobody/deploy", s.url), &[], body.clone()).await.0, 404);
    let big = vec![b'x'; 2048];
    let sig = hub_signature("s3cret", &big);
    assert_eq!(post(&deploy, &[("x-hub-signature-256", &sig)], big).await.0, 413);
    let binary = vec![0xff, 0xfe];
    let sig = hub_signature("s3cret", &binary);
    assert_eq!(post(&deploy, &[("x-hub-signature-256", &sig)], binary).await.0, 415);
    let broken = format!("{}/hooks/ops/broken", s.url);
    assert_eq!(post(&broken, &[("authorization", "Bearer wrong")], body.clone()).await.0, 401);
    assert_eq!(post(&broken, &[("authorization", "Basic dDBrZW4=")], body.clone()).await.0, 401);
    assert!(said(&s.bot, 0).await.is_empty(), "nothing reached a handler");
    // The right token: queued; the handler's failure is logged and counted, not sent back.
    assert_eq!(post(&broken, &[("authorization", "Bearer t0ken")], body).await.0, 202);
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.bot.stats().errors == 0 {
        assert!(Instant::now() < deadline, "the handler's error was not counted");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
