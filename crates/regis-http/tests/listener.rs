//! The listener against clients that misbehave on purpose, over real sockets: slow headers,
//! slow bodies, idle keep-alive, huge declared lengths, floods, and a shutdown with clients
//! still connected.

use axum::body::Body;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use regis_http::{BodyReader, HttpConfig, HttpServer};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const LIMIT: usize = 64 * 1024;

fn router(bodies: BodyReader) -> Router {
    Router::new().route("/ping", get(|| async { "pong" })).route(
        "/echo",
        post(move |headers: HeaderMap, body: Body| {
            let bodies = bodies.clone();
            async move {
                match bodies.read(&headers, body, LIMIT).await {
                    Ok(read) => (StatusCode::OK, format!("{} bytes", read.bytes.len())),
                    Err(e) => (e.status(), e.to_string()),
                }
            }
        }),
    )
}

struct Running {
    addr: SocketAddr,
    stats: std::sync::Arc<regis_http::HttpStats>,
    stop: Option<oneshot::Sender<Instant>>,
    done: tokio::task::JoinHandle<regis_http::ServeReport>,
}

async fn start(config: HttpConfig) -> Running {
    let server = HttpServer::bind(HttpConfig { addr: "127.0.0.1:0".parse().unwrap(), ..config }).await.unwrap();
    let addr = server.local_addr().unwrap();
    let stats = server.stats();
    let router = router(server.bodies());
    let (stop, stopped) = oneshot::channel::<Instant>();
    let done = tokio::spawn(server.serve(router, async move { stopped.await.unwrap_or_else(|_| Instant::now()) }));
    Running { addr, stats, stop: Some(stop), done }
}

fn fast() -> HttpConfig {
    HttpConfig {
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..HttpConfig::default()
    }
}

/// Reads until the server closes the connection or `within` passes; what it sent, and
/// whether it closed.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, bool) {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    stream.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    while Instant::now() < deadline {
        match stream.read(&mut buf) {
            Ok(0) => return (String::from_utf8_lossy(&got).into_owned(), true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (String::from_utf8_lossy(&got).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), false)
}

fn get_ping(addr: SocketAddr) -> std::io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_headers_and_silent_connections_are_closed_at_the_header_timeout() {
    let server = start(fast()).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let opened = Instant::now();
        let mut silent = TcpStream::connect(addr).unwrap();
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le").unwrap();
        let (_, closed) = read_until_closed(&mut silent, Duration::from_secs(10));
        assert!(closed, "a connection that sends nothing is closed");
        let (_, closed) = read_until_closed(&mut half, Duration::from_secs(10));
        assert!(closed, "a connection that never finishes its headers is closed");
        assert!(opened.elapsed() >= Duration::from_millis(300), "not before the header timeout");
    })
    .await
    .unwrap();
    assert_eq!(server.stats.header_timeouts(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_its_response() {
    let server = start(fast()).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (got, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
        assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("pong"), "{got}");
        assert!(closed, "kept alive and idle past the timeout: closed");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_sent_a_byte_at_a_time_is_cut_at_the_body_timeout() {
    let server = start(fast()).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n").unwrap();
        let started = Instant::now();
        let mut answer = String::new();
        stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut buf = [0u8; 1024];
        while started.elapsed() < Duration::from_secs(10) {
            // One byte every 100 ms, forever: only the total deadline can stop it.
            let _ = stream.write_all(b"x");
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => answer.push_str(&String::from_utf8_lossy(&buf[..n])),
                Err(_) if !answer.is_empty() => break,
                Err(_) => {}
            }
        }
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_content_length_is_refused_before_any_body_is_sent() {
    let server = start(HttpConfig::default()).await;
    let addr = server.addr;
    tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000000\r\n\r\n").unwrap();
        let (got, _) = read_until_closed(&mut stream, Duration::from_secs(10));
        assert!(got.starts_with("HTTP/1.1 413"), "{got}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_idle_connections_make_room_for_real_requests() {
    let config = HttpConfig { max_connections: 20, ..HttpConfig::default() };
    let server = start(config).await;
    let addr = server.addr;
    let stats = std::sync::Arc::clone(&server.stats);
    tokio::task::spawn_blocking(move || {
        // Ten times the cap in idle sockets, held open.
        let flood: Vec<TcpStream> = (0..200).filter_map(|_| TcpStream::connect(addr).ok()).collect();
        assert_eq!(flood.len(), 200);
        let response = get_ping(addr).unwrap();
        assert!(response.ends_with("pong"), "{response}");
        drop(flood);
    })
    .await
    .unwrap();
    assert!(stats.evicted() >= 180, "evicted {}", stats.evicted());
    assert!(stats.open() <= 21, "open {}", stats.open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_every_connection_is_busy_new_ones_are_shed() {
    let config = HttpConfig { max_connections: 3, body_timeout: Duration::from_secs(30), ..HttpConfig::default() };
    let server = start(config).await;
    let addr = server.addr;
    let stats = std::sync::Arc::clone(&server.stats);
    tokio::task::spawn_blocking(move || {
        // Three requests whose bodies never finish keep every slot busy.
        let busy: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut s = TcpStream::connect(addr).unwrap();
                s.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab").unwrap();
                s
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(10);
        while stats.open() < 3 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut shed = TcpStream::connect(addr).unwrap();
        let (got, closed) = read_until_closed(&mut shed, Duration::from_secs(10));
        assert!(closed && got.is_empty(), "closed at once without an answer: {got:?}");
        drop(busy);
    })
    .await
    .unwrap();
    assert_eq!(server.stats.shed(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_half_open_clients_and_keeps_its_deadline() {
    let config = HttpConfig { header_timeout: Duration::from_secs(60), ..HttpConfig::default() };
    let mut server = start(config).await;
    let addr = server.addr;
    let (mut half, mut slow_body) = tokio::task::spawn_blocking(move || {
        let mut half = TcpStream::connect(addr).unwrap();
        half.write_all(b"GET /ping HTTP/1.1\r\nHo").unwrap();
        let mut slow = TcpStream::connect(addr).unwrap();
        slow.write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab").unwrap();
        (half, slow)
    })
    .await
    .unwrap();
    let deadline_in = Duration::from_millis(500);
    let deadline = Instant::now() + deadline_in;
    while server.stats.open() < 2 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = server.stop.take().unwrap().send(deadline);
    let report = tokio::time::timeout(Duration::from_secs(10), &mut server.done).await.unwrap().unwrap();
    assert!(Instant::now() >= deadline, "the request in progress had until the deadline");
    assert_eq!(report.open_at_stop, 2);
    assert_eq!(report.cut, 1, "the half-sent headers closed at once; the unfinished body was cut");
    tokio::task::spawn_blocking(move || {
        assert!(read_until_closed(&mut half, Duration::from_secs(5)).1);
        assert!(read_until_closed(&mut slow_body, Duration::from_secs(5)).1);
        assert!(TcpStream::connect(addr).is_err(), "no longer accepting");
    })
    .await
    .unwrap();
}
