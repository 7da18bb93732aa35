//! Reading request bodies with bounds that clients cannot move: a per-route size limit checked
//! against `Content-Length` before reading, a deadline for the whole body, and one memory
//! budget shared by every body being read.

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The budget is counted in KiB, so that a semaphore's `u32` permits cover any size.
const UNIT: usize = 1024;

/// Why a body was not read; each maps to an HTTP status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// `Content-Length` or the bytes sent exceed the route's limit (413).
    #[error("request body over the limit of {limit} bytes")]
    TooLarge {
        /// The route's limit.
        limit: usize,
    },
    /// The body did not arrive within the body timeout (408).
    #[error("request body not received within {0:?}")]
    TimedOut(Duration),
    /// Too many bodies are being read at once (503; retry later).
    #[error("the server is reading too many request bodies at once; retry shortly")]
    Busy,
    /// `Content-Length` is not a number (400).
    #[error("invalid Content-Length header")]
    BadLength,
    /// The connection failed while the body was read.
    #[error("reading the request body failed: {0}")]
    Transport(String),
}

impl BodyError {
    /// The HTTP status that answers it.
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::TimedOut(_) => StatusCode::REQUEST_TIMEOUT,
            BodyError::Busy => StatusCode::SERVICE_UNAVAILABLE,
            BodyError::BadLength | BodyError::Transport(_) => StatusCode::BAD_REQUEST,
        }
    }
}

impl IntoResponse for BodyError {
    fn into_response(self) -> Response {
        let body = format!("{{\"error\":\"{self}\"}}");
        let mut response = (self.status(), [(header::CONTENT_TYPE, "application/json")], body).into_response();
        if matches!(self, BodyError::Busy) {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        }
        response
    }
}

/// A body read whole; holds its share of the memory budget until dropped.
#[derive(Debug)]
pub struct ReadBody {
    /// The bytes.
    pub bytes: Bytes,
    _budget: OwnedSemaphorePermit,
}

/// Counters of the body reader.
#[derive(Debug, Default)]
struct Counters {
    too_large: AtomicU64,
    timed_out: AtomicU64,
    busy: AtomicU64,
}

/// Reads request bodies within the listener's bounds; cheap to clone, one per process.
#[derive(Clone, Debug)]
pub struct BodyReader {
    budget: Arc<Semaphore>,
    budget_units: usize,
    timeout: Duration,
    counters: Arc<Counters>,
}

impl BodyReader {
    /// A reader that lets a body take `timeout` to arrive, and all bodies together hold
    /// `memory` bytes.
    pub fn new(timeout: Duration, memory: usize) -> Self {
        let units = memory.div_ceil(UNIT).clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        BodyReader { budget: Arc::new(Semaphore::new(units)), budget_units: units, timeout, counters: Arc::default() }
    }

    /// The declared length of a request, if it declares one.
    fn declared_length(headers: &HeaderMap) -> Result<Option<usize>, BodyError> {
        match headers.get(header::CONTENT_LENGTH) {
            None => Ok(None),
            Some(value) => value
                .to_str()
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map(|n| Some(usize::try_from(n).unwrap_or(usize::MAX)))
                .ok_or(BodyError::BadLength),
        }
    }

    /// Refuses a request whose `Content-Length` is over `limit`, without touching its body;
    /// for handlers that check other headers first and read the body later.
    pub fn check_length(&self, headers: &HeaderMap, limit: usize) -> Result<(), BodyError> {
        match Self::declared_length(headers)? {
            Some(n) if n > limit => {
                self.counters.too_large.fetch_add(1, Ordering::Relaxed);
                Err(BodyError::TooLarge { limit })
            }
            _ => Ok(()),
        }
    }

    /// Reads a body of at most `limit` bytes: refused at once when `Content-Length` says more,
    /// cut off when the bytes sent go past it or do not arrive in time.
    pub async fn read(&self, headers: &HeaderMap, body: Body, limit: usize) -> Result<ReadBody, BodyError> {
        self.check_length(headers, limit)?;
        // Reserve what the body may hold: its declared length, or the limit when chunked.
        let reserve = Self::declared_length(headers)?.unwrap_or(limit).min(limit).max(1);
        let units = u32::try_from(reserve.div_ceil(UNIT).min(self.budget_units)).unwrap_or(u32::MAX);
        let permit = match Arc::clone(&self.budget).try_acquire_many_owned(units) {
            Ok(permit) => permit,
            Err(_) => {
                self.counters.busy.fetch_add(1, Ordering::Relaxed);
                return Err(BodyError::Busy);
            }
        };
        let collected = tokio::time::timeout(self.timeout, Limited::new(body, limit).collect()).await;
        match collected {
            Ok(Ok(collected)) => Ok(ReadBody { bytes: collected.to_bytes(), _budget: permit }),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                self.counters.too_large.fetch_add(1, Ordering::Relaxed);
                Err(BodyError::TooLarge { limit })
            }
            Ok(Err(e)) => Err(BodyError::Transport(e.to_string())),
            Err(_) => {
                self.counters.timed_out.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(timeout = ?self.timeout, "request body timed out");
                Err(BodyError::TimedOut(self.timeout))
            }
        }
    }

    /// Bodies refused as too large.
    pub fn refused_too_large(&self) -> u64 {
        self.counters.too_large.load(Ordering::Relaxed)
    }

    /// Bodies cut off at the body timeout.
    pub fn timed_out(&self) -> u64 {
        self.counters.timed_out.load(Ordering::Relaxed)
    }

    /// Bodies refused because the memory budget was spent.
    pub fn refused_busy(&self) -> u64 {
        self.counters.busy.load(Ordering::Relaxed)
    }

    /// Bytes of the budget in use now (rounded up to KiB per body).
    pub fn memory_in_use(&self) -> usize {
        (self.budget_units - self.budget.available_permits()) * UNIT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body that sends one byte and then nothing, ever.
    struct SlowBody;

    impl SlowBody {
        fn body() -> Body {
            let first = futures::stream::once(async { Ok::<_, std::io::Error>(Bytes::from_static(b"{")) });
            Body::from_stream(futures::StreamExt::chain(first, futures::stream::pending()))
        }
    }

    fn length(n: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_LENGTH, n.parse().unwrap());
        headers
    }

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let reader = BodyReader::new(Duration::from_secs(1), 1 << 20);
        // The body would never end: a refusal that read it would hang.
        let err = reader.read(&length("10000000000"), SlowBody::body(), 1024).await.unwrap_err();
        assert_eq!(err, BodyError::TooLarge { limit: 1024 });
        assert_eq!(err.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(reader.read(&length("lots"), Body::empty(), 1024).await.unwrap_err(), BodyError::BadLength);
    }

    #[tokio::test]
    async fn bodies_longer_than_declared_or_allowed_are_cut() {
        let reader = BodyReader::new(Duration::from_secs(1), 1 << 20);
        let chunked = reader.read(&HeaderMap::new(), Body::from(vec![b'x'; 2000]), 1024).await.unwrap_err();
        assert_eq!(chunked, BodyError::TooLarge { limit: 1024 });
        let ok = reader.read(&length("5"), Body::from("hello"), 1024).await.unwrap();
        assert_eq!(&ok.bytes[..], b"hello");
        assert_eq!(reader.refused_too_large(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_body_is_cut_at_the_timeout() {
        let reader = BodyReader::new(Duration::from_secs(5), 1 << 20);
        let err = reader.read(&length("100"), SlowBody::body(), 1024).await.unwrap_err();
        assert_eq!(err, BodyError::TimedOut(Duration::from_secs(5)));
        assert_eq!(err.status(), StatusCode::REQUEST_TIMEOUT);
        assert_eq!(reader.timed_out(), 1);
        assert_eq!(reader.memory_in_use(), 0, "the reservation is given back");
    }

    #[tokio::test]
    async fn the_memory_budget_is_shared_and_given_back() {
        let reader = BodyReader::new(Duration::from_secs(5), 4 * 1024);
        let held = reader.read(&length("3000"), Body::from(vec![b'x'; 3000]), 8192).await.unwrap();
        assert_eq!(reader.memory_in_use(), 3 * 1024);
        let err = reader.read(&length("2000"), Body::from(vec![b'x'; 2000]), 8192).await.unwrap_err();
        assert_eq!(err, BodyError::Busy);
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert!(reader.read(&length("2000"), Body::from(vec![b'x'; 2000]), 8192).await.is_ok());
        assert_eq!(reader.refused_busy(), 1);
    }
}
