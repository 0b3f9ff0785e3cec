//! Completion slots: how the writer thread answers a caller, blocking or async.
//!
//! A [`Ticket`] is handed back by [`super::Ledger::submit`]; the writer thread fills its slot
//! once the entries are written (and, if asked, durable). `wait` blocks the calling thread;
//! awaiting the ticket (it is a [`Future`]) parks only the task, so an async runtime's worker
//! threads are never blocked.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

/// The one-shot channel between the writer thread and one caller.
#[derive(Debug)]
pub(crate) struct Slot<T> {
    state: Mutex<SlotState<T>>,
    ready: Condvar,
}

#[derive(Debug)]
struct SlotState<T> {
    value: Option<T>,
    waker: Option<Waker>,
    taken: bool,
    /// A thread is blocked in `wait` (a notify is a system call even with nobody waiting).
    waiting: bool,
}

impl<T> Slot<T> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Slot {
            state: Mutex::new(SlotState {
                value: None,
                waker: None,
                taken: false,
                waiting: false,
            }),
            ready: Condvar::new(),
        })
    }

    /// Fills the slot (once; later fills are ignored) and wakes the waiter.
    pub(crate) fn fill(&self, value: T) {
        let waker = {
            // A panic while holding this lock cannot leave the state half-updated: every
            // critical section below is a few field assignments.
            let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if s.value.is_some() || s.taken {
                return;
            }
            s.value = Some(value);
            (s.waker.take(), s.waiting)
        };
        let (waker, waiting) = waker;
        if waiting {
            self.ready.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn wait(&self) -> T {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(v) = s.value.take() {
                s.taken = true;
                return v;
            }
            s.waiting = true;
            s = self.ready.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn poll(&self, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(v) = s.value.take() {
            s.taken = true;
            return Poll::Ready(v);
        }
        match &s.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => s.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    fn is_ready(&self) -> bool {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .value
            .is_some()
    }
}

/// A submitted operation the writer thread will answer: call [`Ticket::wait`] to block until
/// it does, or `.await` it.
///
/// Dropping a ticket does not cancel the operation: the entries are appended either way.
///
/// ```
/// use provledger::{Draft, Durability, Ledger, Options, SigningKey};
/// let dir = tempfile::tempdir()?;
/// let ledger = Ledger::create(dir.path(), SigningKey::generate()?, "demo", Options::default())?;
/// let tickets: Vec<_> = (0..3)
///     .map(|i| ledger.submit(Draft::application("text/plain", vec![i]), Durability::Synced))
///     .collect::<Result<_, _>>()?;
/// for t in tickets {
///     let receipt = t.wait()?;
///     assert!(receipt.durable);
/// }
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Debug)]
#[must_use = "a ticket tells whether the entry was appended; wait for it or await it"]
pub struct Ticket<T, E = crate::error::AppendError> {
    slot: Arc<Slot<Result<T, E>>>,
}

impl<T, E> Ticket<T, E> {
    pub(crate) fn new(slot: Arc<Slot<Result<T, E>>>) -> Self {
        Ticket { slot }
    }

    /// Blocks until the writer answers.
    ///
    /// # Errors
    /// Whatever the operation failed with (for appends, see [`crate::Ledger::append`]).
    pub fn wait(self) -> Result<T, E> {
        self.slot.wait()
    }

    /// Whether the answer is there (so [`Ticket::wait`] would not block).
    #[must_use]
    pub fn is_ready(&self) -> bool {
        self.slot.is_ready()
    }
}

impl<T, E> Future for Ticket<T, E> {
    type Output = Result<T, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.slot.poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_returns_what_was_filled_once() {
        let slot = Slot::<Result<u32, crate::error::AppendError>>::new();
        let t = Ticket::new(Arc::clone(&slot));
        assert!(!t.is_ready());
        let filler = std::thread::spawn(move || {
            slot.fill(Ok(7));
            slot.fill(Ok(8));
        });
        assert_eq!(t.wait().ok(), Some(7));
        filler.join().unwrap();
    }

    #[test]
    fn poll_registers_the_waker_and_wakes_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::task::Wake;
        struct Count(AtomicUsize);
        impl Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let mut cx = Context::from_waker(&waker);
        let slot = Slot::<Result<u32, crate::error::AppendError>>::new();
        let mut t = Ticket::new(Arc::clone(&slot));
        assert!(Pin::new(&mut t).poll(&mut cx).is_pending());
        slot.fill(Ok(3));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        match Pin::new(&mut t).poll(&mut cx) {
            Poll::Ready(Ok(3)) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}
