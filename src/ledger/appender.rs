//! A cloneable appender for many threads, with group commit: concurrent `append` calls are
//! gathered into one batch — one write and, under [`Durability::PerBatch`], one `fdatasync`
//! for all of them — by whichever caller finds no batch in progress (the leader).

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};

use super::{Draft, Ledger, Receipt};
use crate::error::{Error, StorageError};

/// A handle on a [`Ledger`] that many threads can append through at once.
///
/// ```
/// use provledger::{Appender, Draft, Ledger, Options, SigningKey};
/// let dir = tempfile::tempdir()?;
/// let key = SigningKey::generate()?;
/// let appender = Appender::new(Ledger::create(dir.path(), &key, "demo", Options::default())?);
/// let threads: Vec<_> = (0..4)
///     .map(|t| {
///         let a = appender.clone();
///         std::thread::spawn(move || a.append(Draft::application("text/plain", vec![t; 8])))
///     })
///     .collect();
/// for t in threads {
///     assert!(t.join().expect("thread")?.durable);
/// }
/// assert_eq!(appender.with_ledger(|l| l.len()), 5);
/// # Ok::<_, provledger::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Appender {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    ledger: Mutex<Ledger>,
    queue: Mutex<Queue>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct Queue {
    next_ticket: u64,
    pending: Vec<(u64, Draft)>,
    results: HashMap<u64, Result<Receipt, Error>>,
    leader: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic in another appender leaves consistent data (the ledger poisons itself on I/O
    // errors); keep serving.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Appender {
    /// Wraps a ledger for shared use.
    #[must_use]
    pub fn new(ledger: Ledger) -> Self {
        Appender {
            shared: Arc::new(Shared {
                ledger: Mutex::new(ledger),
                queue: Mutex::new(Queue::default()),
                done: Condvar::new(),
            }),
        }
    }

    /// Appends one entry, committed together with whatever other threads append meanwhile.
    /// The receipt's `durable` flag follows the ledger's [`Durability`](crate::Durability).
    ///
    /// # Errors
    /// As [`Ledger::append`]. A draft that is rejected fails alone: the others of its group
    /// are appended without it.
    pub fn append(&self, draft: Draft) -> Result<Receipt, Error> {
        let mut q = lock(&self.shared.queue);
        let ticket = q.next_ticket;
        q.next_ticket += 1;
        q.pending.push((ticket, draft));
        loop {
            if let Some(r) = q.results.remove(&ticket) {
                return r;
            }
            if q.leader {
                q = self.shared.done.wait(q).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            q.leader = true;
            let group = std::mem::take(&mut q.pending);
            drop(q);
            let results = self.commit(group);
            q = lock(&self.shared.queue);
            q.results.extend(results);
            q.leader = false;
            self.shared.done.notify_all();
        }
    }

    /// Appends a group as one batch; if the batch is refused, appends its drafts one by one
    /// so that a bad draft fails alone.
    fn commit(&self, group: Vec<(u64, Draft)>) -> Vec<(u64, Result<Receipt, Error>)> {
        let mut ledger = lock(&self.shared.ledger);
        let (tickets, drafts): (Vec<u64>, Vec<Draft>) = group.into_iter().unzip();
        let fallback = drafts.clone();
        match ledger.append_batch(drafts) {
            Ok(receipts) => tickets.into_iter().zip(receipts.into_iter().map(Ok)).collect(),
            Err(Error::Storage(e)) => {
                let msg = e.to_string();
                let fail = |t| (t, Err(io_failure(&msg)));
                tickets.into_iter().map(fail).collect()
            }
            Err(_) => tickets
                .into_iter()
                .zip(fallback)
                .map(|(t, d)| (t, ledger.append(d)))
                .collect(),
        }
    }

    /// Runs `f` with exclusive access to the ledger (to checkpoint, sync, read its state).
    pub fn with_ledger<T>(&self, f: impl FnOnce(&mut Ledger) -> T) -> T {
        f(&mut lock(&self.shared.ledger))
    }
}

/// The error every member of a group gets when the group's write failed.
fn io_failure(msg: &str) -> Error {
    StorageError::Io {
        op: "group commit",
        path: std::path::PathBuf::new(),
        source: std::io::Error::other(msg.to_owned()),
    }
    .into()
}
