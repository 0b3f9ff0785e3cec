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
        let (waker, waiting) = self.put(value);
        if waiting {
            self.ready.notify_all();
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Fills the slot like [`Slot::fill`] but leaves waking its waiter, if it has one, to the
    /// returned [`Wake`] (when it is dropped). A writer answering a whole group fills every
    /// slot first and wakes the waiters after: woken one by one as their slots fill, a
    /// producer waiting on its oldest ticket would find its next one not yet filled and block
    /// again, once per ticket, and the woken threads would take the cores from the writer
    /// that is still answering.
    pub(crate) fn fill_later(self: &Arc<Self>, value: T) -> Option<Wake>
    where
        T: Send + 'static,
    {
        let (waker, waiting) = self.put(value);
        if waker.is_none() && !waiting {
            return None;
        }
        Some(Wake {
            waker,
            notify: waiting.then(|| Arc::clone(self) as Arc<dyn Notify>),
        })
    }

    /// Stores the value (unless the slot was filled or taken) and says whom to wake.
    fn put(&self, value: T) -> (Option<Waker>, bool) {
        // A panic while holding this lock cannot leave the state half-updated: every
        // critical section below is a few field assignments.
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if s.value.is_some() || s.taken {
            return (None, false);
        }
        s.value = Some(value);
        (s.waker.take(), s.waiting)
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

/// A filled slot's waiter, woken when this is dropped ([`Slot::fill_later`]); dropping it
/// during a panic still wakes it, so a waiter is never left asleep on a filled slot.
pub(crate) struct Wake {
    waker: Option<Waker>,
    notify: Option<Arc<dyn Notify>>,
}

impl Drop for Wake {
    fn drop(&mut self) {
        if let Some(n) = self.notify.take() {
            n.notify();
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// A slot's condition variable, whatever the slot's value type.
trait Notify: Send + Sync {
    fn notify(&self);
}

impl<T: Send> Notify for Slot<T> {
    fn notify(&self) {
        self.ready.notify_all();
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
    use std::panic::AssertUnwindSafe;

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

    /// A waker that counts its wakes.
    fn counting_waker() -> (Arc<std::sync::atomic::AtomicUsize>, Waker) {
        struct Count(Arc<std::sync::atomic::AtomicUsize>);
        impl std::task::Wake for Count {
            fn wake(self: Arc<Self>) {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let n = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        (Arc::clone(&n), Waker::from(Arc::new(Count(n))))
    }

    #[test]
    fn fill_later_fills_at_once_and_wakes_the_task_only_when_the_wake_is_dropped() {
        use std::sync::atomic::Ordering;
        let (count, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let slot = Slot::<Result<u32, crate::error::AppendError>>::new();
        let mut t = Ticket::new(Arc::clone(&slot));
        assert!(Pin::new(&mut t).poll(&mut cx).is_pending());
        let wake = slot.fill_later(Ok(3));
        assert!(wake.is_some(), "a task is waiting: someone must wake it");
        assert!(t.is_ready(), "filled before the wake");
        assert_eq!(count.load(Ordering::SeqCst), 0, "not woken before the wake is dropped");
        drop(wake);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        assert!(matches!(Pin::new(&mut t).poll(&mut cx), Poll::Ready(Ok(3))));
        // Filled once: later fills neither replace the value nor wake anyone.
        assert!(slot.fill_later(Ok(4)).is_none());
    }

    #[test]
    fn fill_later_with_nobody_waiting_returns_no_wake() {
        let slot = Slot::<Result<u32, crate::error::AppendError>>::new();
        let t = Ticket::new(Arc::clone(&slot));
        assert!(slot.fill_later(Ok(9)).is_none());
        assert_eq!(t.wait().ok(), Some(9));
    }

    #[test]
    fn a_blocked_waiter_is_woken_by_the_dropped_wake_even_when_unwinding() {
        let slot = Slot::<Result<u32, crate::error::AppendError>>::new();
        let t = Ticket::new(Arc::clone(&slot));
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || tx.send(t.wait().ok()));
        // Until the waiter is blocked on the condition variable.
        while !slot.state.lock().unwrap_or_else(PoisonError::into_inner).waiting {
            std::thread::yield_now();
        }
        let unwound = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let _wake = slot.fill_later(Ok(5)).expect("the waiter is waiting");
            panic!("the writer fails while answering");
        }));
        assert!(unwound.is_err());
        let got = rx.recv_timeout(std::time::Duration::from_secs(30));
        assert_eq!(got, Ok(Some(5)), "the waiter must be woken");
        waiter.join().unwrap().unwrap();
    }
}
