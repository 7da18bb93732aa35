//! The listener: accepts connections up to the cap, serves each with hyper's HTTP/1 server
//! (header read timeout on), and shuts down within its deadline.

use crate::body::BodyReader;
use crate::config::{ConfigError, HttpConfig};
use crate::connections::{Connection, Registry};
use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A setting cannot work.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// What the system said.
        source: std::io::Error,
    },
}

/// The listener's counters.
#[derive(Debug, Default)]
pub struct HttpStats {
    open: AtomicUsize,
    accepted: AtomicU64,
    shed: AtomicU64,
    evicted: AtomicU64,
    header_timeouts: AtomicU64,
}

impl HttpStats {
    /// Connections open now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Connections accepted and served.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Connections closed on arrival because the cap was reached and every open one was busy.
    pub fn shed(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    /// Idle connections closed to make room for a new one at the cap.
    pub fn evicted(&self) -> u64 {
        self.evicted.load(Ordering::Relaxed)
    }

    /// Connections closed because a request's headers (or the next request, on keep-alive)
    /// did not arrive within the header timeout.
    pub fn header_timeouts(&self) -> u64 {
        self.header_timeouts.load(Ordering::Relaxed)
    }
}

/// What a shutdown did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServeReport {
    /// Connections open when the shutdown began.
    pub open_at_stop: usize,
    /// Connections still serving a request at the deadline, and cut.
    pub cut: usize,
}

/// The HTTP listener of the process; merge every feature's router into the one it serves.
pub struct HttpServer {
    listener: TcpListener,
    config: HttpConfig,
    max_connections: usize,
    stats: Arc<HttpStats>,
    bodies: BodyReader,
}

/// File descriptors kept for everything but client connections (databases, the broker,
/// Discord, logs).
const RESERVED_DESCRIPTORS: u64 = 128;

/// The connection cap the process's file-descriptor limit allows (raising the soft limit to
/// the hard one first, as servers do).
fn connection_cap(wanted: usize) -> usize {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit { current: limit.maximum, maximum: limit.maximum };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    let Some(descriptors) = limit.current else { return wanted };
    let allowed =
        if descriptors > 2 * RESERVED_DESCRIPTORS { descriptors - RESERVED_DESCRIPTORS } else { descriptors / 2 };
    let allowed = usize::try_from(allowed).unwrap_or(usize::MAX).max(1);
    if wanted > allowed {
        tracing::warn!(
            wanted,
            allowed,
            descriptors,
            "configuration key `http_max_connections` is above what the file-descriptor limit allows; using the lower value"
        );
    }
    wanted.min(allowed)
}

/// Logs a line at most every 10 s for a recurring condition.
struct Throttle(Mutex<Option<Instant>>);

impl Throttle {
    fn ready(&self) -> bool {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match *last {
            Some(at) if at.elapsed() < Duration::from_secs(10) => false,
            _ => {
                *last = Some(Instant::now());
                true
            }
        }
    }
}

impl HttpServer {
    /// Checks the settings and binds the address.
    pub async fn bind(config: HttpConfig) -> Result<Self, ServeError> {
        config.check()?;
        let listener =
            TcpListener::bind(config.addr).await.map_err(|source| ServeError::Bind { addr: config.addr, source })?;
        let max_connections = connection_cap(config.max_connections);
        let bodies = BodyReader::new(config.body_timeout, config.body_memory);
        Ok(HttpServer { listener, config, max_connections, stats: Arc::default(), bodies })
    }

    /// The address it listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The body reader every route of this listener should read bodies with.
    pub fn bodies(&self) -> BodyReader {
        self.bodies.clone()
    }

    /// The connection cap in force (the configured one, or lower if the file-descriptor limit
    /// requires).
    pub fn max_connections(&self) -> usize {
        self.max_connections
    }

    /// The counters.
    pub fn stats(&self) -> Arc<HttpStats> {
        Arc::clone(&self.stats)
    }

    /// Serves `router` until `stop` resolves with the shutdown's deadline; then stops
    /// accepting, closes idle and half-sent connections, lets requests in progress finish
    /// until the deadline and cuts the rest.
    pub async fn serve(self, router: Router, stop: impl Future<Output = Instant> + Send) -> ServeReport {
        let registry = Arc::new(Registry::default());
        let (closing_tx, closing) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let throttle = Throttle(Mutex::new(None));
        tracing::info!(addr = ?self.listener.local_addr().ok(), max_connections = self.max_connections, "HTTP listener ready");
        tokio::pin!(stop);
        let deadline = loop {
            tokio::select! {
                deadline = &mut stop => break deadline,
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        if registry.len() >= self.max_connections && !self.make_room(&registry, &throttle) {
                            drop(stream);
                            continue;
                        }
                        self.stats.accepted.fetch_add(1, Ordering::Relaxed);
                        let (key, connection) = registry.add();
                        let task = ConnectionTask {
                            router: router.clone(),
                            connection,
                            config: self.config.clone(),
                            stats: Arc::clone(&self.stats),
                            closing: closing.clone(),
                        };
                        let registry = Arc::clone(&registry);
                        tasks.spawn(async move {
                            task.run(stream).await;
                            registry.remove(key);
                        });
                    }
                    Err(e) => {
                        if throttle.ready() {
                            tracing::error!(error = %e, open = registry.len(), "cannot accept connections (out of file descriptors?)");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                },
            }
        };
        drop(self.listener);
        let open_at_stop = tasks.len();
        let _ = closing_tx.send(true);
        let drained =
            tokio::time::timeout_at(deadline.into(), async { while tasks.join_next().await.is_some() {} }).await;
        let cut = if drained.is_ok() { 0 } else { tasks.len() };
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        if cut > 0 {
            tracing::warn!(cut, "HTTP requests still running at the shutdown deadline were cut");
        }
        ServeReport { open_at_stop, cut }
    }

    /// At the cap: closes the oldest idle connection (true), or sheds the new one (false).
    fn make_room(&self, registry: &Registry, throttle: &Throttle) -> bool {
        let evicted = registry.evict_oldest_idle();
        let counter = if evicted { &self.stats.evicted } else { &self.stats.shed };
        counter.fetch_add(1, Ordering::Relaxed);
        if throttle.ready() {
            tracing::warn!(
                max_connections = self.max_connections,
                evicted = self.stats.evicted(),
                shed = self.stats.shed(),
                "HTTP connection limit reached: closing idle connections first, then refusing new ones"
            );
        }
        evicted
    }
}

/// What serving one connection needs.
struct ConnectionTask {
    router: Router,
    connection: Arc<Connection>,
    config: HttpConfig,
    stats: Arc<HttpStats>,
    closing: watch::Receiver<bool>,
}

/// Counts an open connection for as long as it lives.
struct OpenGuard(Arc<HttpStats>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

impl ConnectionTask {
    async fn run(mut self, stream: TcpStream) {
        self.stats.open.fetch_add(1, Ordering::Relaxed);
        let _open = OpenGuard(Arc::clone(&self.stats));
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&self.connection);
        let router = self.router.clone();
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            let guard = state.begin_request();
            let response = router.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let response = response.await;
                drop(guard);
                response
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.config.header_timeout)
            .max_buf_size(self.config.max_header_bytes)
            .keep_alive(true);
        let served = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
        tokio::pin!(served);
        let mut draining = false;
        loop {
            if !draining && *self.closing.borrow() {
                // Shutting down: a connection with no request in progress (idle, or still
                // sending its headers) closes now; one serving a request closes after it.
                if self.connection.is_idle() {
                    return;
                }
                draining = true;
                served.as_mut().graceful_shutdown();
            }
            tokio::select! {
                result = served.as_mut() => {
                    if let Err(e) = result {
                        if e.is_timeout() {
                            self.stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
                        }
                        tracing::debug!(error = %e, "HTTP connection ended with an error");
                    }
                    return;
                }
                () = self.connection.evicted() => return,
                changed = self.closing.changed(), if !draining => {
                    if changed.is_err() {
                        // The listener is gone without a shutdown: finish what is in progress.
                        draining = true;
                        served.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }
}
