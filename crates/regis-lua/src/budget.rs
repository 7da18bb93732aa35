//! Per-call budgets: instructions and running time, counted by a hook every
//! [`HOOK_EVERY`] instructions, and a call that spends them ended for good.
//!
//! The hook knows which call is running through a thread-local set while the call's future is
//! polled: a Lua state runs code only inside such a poll, on the polling thread. Once a limit
//! is hit the call is *tripped*, and that is sticky: every later hook raises the limit error
//! again, the sandbox's `pcall`, `xpcall` and `coroutine.resume` re-raise it instead of
//! returning it (see `sandbox.rs`), and the future ends the call at its next poll whatever the
//! script did with the error. Running code also gives its worker thread back every
//! [`SLICE`] (a yield from the hook), so a script spinning up to its limit does not hold a
//! worker thread that other handlers need.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How often the hook runs, in VM instructions.
pub(crate) const HOOK_EVERY: u32 = 1000;

/// How long Lua code runs before it gives its thread back to other tasks.
const SLICE: Duration = Duration::from_millis(2);

/// A limit a call or a plugin ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Limit {
    /// The per-call VM instruction budget.
    #[error("its instruction budget ({0} instructions)")]
    Instructions(u64),
    /// The per-call running time.
    #[error("its time limit ({0:?} of running time)")]
    Time(Duration),
    /// The plugin's memory limit.
    #[error("its memory limit ({0} bytes)")]
    Memory(usize),
}

/// What one call may spend, and what it has spent.
pub(crate) struct Budget {
    max_instructions: u64,
    max_time: Duration,
    instructions: AtomicU64,
    running_ns: AtomicU64,
    /// When the current slice of running began (set while polled).
    slice: Mutex<Option<Instant>>,
    tripped: Mutex<Option<Limit>>,
    /// The call's own Lua thread: only it yields to the executor (a coroutine of the script
    /// must not see yields it did not ask for).
    thread: Mutex<Option<usize>>,
}

impl Budget {
    pub(crate) fn new(max_instructions: u64, max_time: Duration) -> Arc<Budget> {
        Arc::new(Budget {
            max_instructions,
            max_time,
            instructions: AtomicU64::new(0),
            running_ns: AtomicU64::new(0),
            slice: Mutex::new(None),
            tripped: Mutex::new(None),
            thread: Mutex::new(None),
        })
    }

    /// The limit this call hit, if any.
    pub(crate) fn tripped(&self) -> Option<Limit> {
        *self.tripped.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records that the call hit `limit` (the first one hit is kept).
    pub(crate) fn trip(&self, limit: Limit) {
        let mut tripped = self.tripped.lock().unwrap_or_else(|e| e.into_inner());
        tripped.get_or_insert(limit);
    }

    pub(crate) fn set_thread(&self, thread: *const std::ffi::c_void) {
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(thread as usize);
    }

    fn is_own_thread(&self, thread: *const std::ffi::c_void) -> bool {
        *self.thread.lock().unwrap_or_else(|e| e.into_inner()) == Some(thread as usize)
    }

    /// Running time so far, the current slice included.
    fn running(&self) -> (Duration, Duration) {
        let done = Duration::from_nanos(self.running_ns.load(Ordering::Relaxed));
        let slice = self.slice.lock().unwrap_or_else(|e| e.into_inner()).map_or(Duration::ZERO, |s| s.elapsed());
        (done + slice, slice)
    }

    /// Checks the time budget between polls.
    fn check_time(&self) {
        if self.running().0 > self.max_time {
            self.trip(Limit::Time(self.max_time));
        }
    }

    /// One hook call: [`HOOK_EVERY`] more instructions ran.
    fn tick(&self, lua: &mlua::Lua) -> mlua::Result<mlua::VmState> {
        let spent = self.instructions.fetch_add(u64::from(HOOK_EVERY), Ordering::Relaxed) + u64::from(HOOK_EVERY);
        if spent > self.max_instructions {
            self.trip(Limit::Instructions(self.max_instructions));
        }
        let (running, slice) = self.running();
        if running > self.max_time {
            self.trip(Limit::Time(self.max_time));
        }
        if let Some(limit) = self.tripped() {
            return Err(limit_error(limit));
        }
        if slice > SLICE && self.is_own_thread(lua.current_thread().to_pointer()) {
            return Ok(mlua::VmState::Yield);
        }
        Ok(mlua::VmState::Continue)
    }

    fn begin_slice(&self) {
        *self.slice.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
    }

    fn end_slice(&self) {
        if let Some(start) = self.slice.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            self.running_ns.fetch_add(ns, Ordering::Relaxed);
        }
    }
}

/// The Lua error raised when a limit is hit (and again at every hook after it).
pub(crate) fn limit_error(limit: Limit) -> mlua::Error {
    mlua::Error::RuntimeError(format!("stopped: the script reached {limit}"))
}

thread_local! {
    /// The calls being polled on this thread, innermost last.
    static CURRENT: RefCell<Vec<Arc<Budget>>> = const { RefCell::new(Vec::new()) };
}

/// The call running on this thread, if any.
pub(crate) fn current() -> Option<Arc<Budget>> {
    CURRENT.with(|c| c.borrow().last().cloned())
}

/// The hook of every plugin's Lua state.
pub(crate) fn hook(lua: &mlua::Lua) -> mlua::Result<mlua::VmState> {
    match current() {
        Some(budget) => budget.tick(lua),
        // Every entry into a script goes through `Tracked`; code running outside one (a
        // finalizer after the call ended) gets no budget at all.
        None => Err(mlua::Error::RuntimeError("stopped: no call is running".into())),
    }
}

/// Marks `budget` as the running call while it lives.
pub(crate) struct Running {
    budget: Arc<Budget>,
}

impl Running {
    pub(crate) fn enter(budget: &Arc<Budget>) -> Running {
        budget.begin_slice();
        CURRENT.with(|c| c.borrow_mut().push(Arc::clone(budget)));
        Running { budget: Arc::clone(budget) }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CURRENT.with(|c| {
            let mut stack = c.borrow_mut();
            if let Some(i) = stack.iter().rposition(|b| Arc::ptr_eq(b, &self.budget)) {
                stack.remove(i);
            }
        });
        self.budget.end_slice();
    }
}

/// How a call into a script ended badly.
#[derive(Debug)]
pub(crate) enum Failure {
    /// It hit a limit (whatever it did with the error).
    Limit(Limit),
    /// It raised an error, or returned what cannot be used.
    Lua(mlua::Error),
    /// Its plugin was unloaded or replaced, and the grace period for its calls is over.
    Stopped,
}

/// A call's future, polled with its budget as the running call, and ended as soon as the
/// budget trips.
pub(crate) struct Tracked<F> {
    budget: Arc<Budget>,
    inner: Pin<Box<F>>,
}

impl<F> Tracked<F> {
    pub(crate) fn new(budget: Arc<Budget>, inner: F) -> Self {
        Tracked { budget, inner: Box::pin(inner) }
    }
}

impl<F, T> Future for Tracked<F>
where
    F: Future<Output = mlua::Result<T>>,
{
    type Output = Result<T, Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(limit) = self.budget.tripped() {
            return Poll::Ready(Err(Failure::Limit(limit)));
        }
        let result = {
            let _running = Running::enter(&self.budget);
            self.inner.as_mut().poll(cx)
        };
        self.budget.check_time();
        let tripped = self.budget.tripped();
        match (result, tripped) {
            (Poll::Pending, None) => Poll::Pending,
            (_, Some(limit)) => Poll::Ready(Err(Failure::Limit(limit))),
            (Poll::Ready(Ok(value)), None) => Poll::Ready(Ok(value)),
            (Poll::Ready(Err(e)), None) => Poll::Ready(Err(Failure::Lua(e))),
        }
    }
}
