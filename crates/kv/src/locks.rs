//! Write locks: transactions that write the same key queue for it instead of aborting.
//!
//! Commit-time validation ([`crate::transaction`]) is what keeps transactions serializable.
//! On its own it makes every writer of a hot key but one fail at commit: in pgbench's TPC-B,
//! eight clients updating ten branch rows retried most of their transactions. A
//! [`LockTable`] turns that contention into waiting, as row locks do in PostgreSQL:
//!
//! 1. A transaction that is about to read a key in order to write it (`UPDATE`'s row, `SELECT
//!    ... FOR UPDATE`) calls [`Locks::acquire`] first. If another transaction holds the key it
//!    waits until that one commits or rolls back.
//! 2. It then reads the key's *latest* committed version, not its snapshot's, so the previous
//!    holder's write is what it builds on, and its commit-time compare on that key succeeds.
//! 3. Dropping [`Locks`] (after the commit has been applied on this node, or on rollback)
//!    releases every key and wakes the waiters.
//!
//! Locks are an optimisation, never what correctness rests on: a writer that takes no lock (the
//! etcd API, another node) is still caught by validation, and a lost lock costs a retry, not a
//! wrong answer. That is why the table lives in memory on one node and is not replicated.
//!
//! Waiting can deadlock (A holds x and waits for y while B holds y and waits for x). Each
//! transaction waits for at most one key at a time, so before waiting `acquire` follows the
//! chain holder -> key it waits for -> its holder; if that leads back to the caller it fails at
//! once with [`Error::Deadlock`]. A wait that lasts longer than [`LOCK_WAIT_MAX`] (a holder
//! whose client stopped talking mid-transaction) fails with [`Error::LockTimeout`]. Both are
//! retryable.

use crate::{Error, Result};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// Longest one transaction waits for one lock. A holder that is making progress commits well
/// within it (a commit waits at most 5 s for consensus); a client that went quiet while holding
/// locks must not stall every other writer of those keys forever.
pub const LOCK_WAIT_MAX: Duration = Duration::from_secs(10);

/// Most keys one transaction locks. Beyond it, `acquire` declines and the caller reads the
/// snapshot as without locks (validation keeps it correct): a bulk load of a million rows must
/// not put a million entries into the table, and queueing matters for the few hot rows an OLTP
/// transaction writes, not for a bulk write's.
pub const LOCKS_PER_TRANSACTION_MAX: usize = 10_000;

/// The locks of every transaction on one node.
pub struct LockTable {
    state: Mutex<State>,
    next_owner: AtomicU64,
    wait_max: Duration,
}

#[derive(Default)]
struct State {
    /// Key -> the transaction holding it.
    holders: HashMap<Vec<u8>, Holder>,
    /// Transaction -> the key it is waiting for.
    waiting: HashMap<u64, Vec<u8>>,
}

struct Holder {
    owner: u64,
    released: Arc<Notify>,
}

impl LockTable {
    /// A new, empty lock table.
    pub fn new() -> Arc<Self> {
        Self::with_wait_max(LOCK_WAIT_MAX)
    }

    /// A new, empty lock table whose waits give up after `wait_max`.
    pub fn with_wait_max(wait_max: Duration) -> Arc<Self> {
        Arc::new(LockTable { state: Mutex::default(), next_owner: AtomicU64::new(0), wait_max })
    }

    /// A lock set for a new transaction.
    pub fn owner(self: &Arc<Self>) -> Locks {
        let owner = self.next_owner.fetch_add(1, Ordering::Relaxed) + 1;
        Locks { table: self.clone(), owner, held: HashSet::new(), wait_max: self.wait_max }
    }

    /// How many keys are locked now (for metrics and tests).
    pub fn locked_keys(&self) -> usize {
        self.lock_state().holders.len()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // A panic while holding this mutex leaves the maps consistent (every update is one
        // insert or remove), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self, owner: u64, keys: &HashSet<Vec<u8>>) {
        let mut state = self.lock_state();
        state.waiting.remove(&owner);
        for key in keys {
            if state.holders.get(key).is_some_and(|holder| holder.owner == owner) {
                if let Some(holder) = state.holders.remove(key) {
                    holder.released.notify_waiters();
                }
            }
        }
    }
}

/// Whether `owner` waiting for a key held by `holder` closes a cycle of waiting transactions.
fn closes_cycle(state: &State, owner: u64, holder: u64) -> bool {
    let mut current = holder;
    // Every step moves to a different waiting transaction, so the chain is at most that long.
    for _ in 0..=state.waiting.len() {
        if current == owner {
            return true;
        }
        let Some(next) = state.waiting.get(&current).and_then(|key| state.holders.get(key)) else {
            return false;
        };
        current = next.owner;
    }
    false
}

/// The locks one transaction holds; dropping it releases them all.
pub struct Locks {
    table: Arc<LockTable>,
    owner: u64,
    held: HashSet<Vec<u8>>,
    /// How long one wait may last: the table's bound, or less if the session asked
    /// (`lock_timeout`).
    wait_max: Duration,
}

impl Locks {
    /// These locks' waits give up after `wait_max` if that is sooner than the table's bound
    /// (a holder that stopped talking still cannot keep a waiter longer than that).
    pub fn with_wait_max(mut self, wait_max: Duration) -> Self {
        self.wait_max = self.wait_max.min(wait_max);
        self
    }

    /// Whether this transaction holds the lock on `key`.
    pub fn holds(&self, key: &[u8]) -> bool {
        self.held.contains(key)
    }

    /// Takes the lock on `key`, waiting while another transaction holds it. Returns false,
    /// without waiting, when the transaction already holds [`LOCKS_PER_TRANSACTION_MAX`] locks.
    pub async fn acquire(&mut self, key: &[u8]) -> Result<bool> {
        if self.holds(key) {
            return Ok(true);
        }
        if self.held.len() >= LOCKS_PER_TRANSACTION_MAX {
            return Ok(false);
        }
        let deadline = tokio::time::Instant::now() + self.wait_max;
        loop {
            let released: Arc<Notify>;
            let notified;
            {
                let mut state = self.table.lock_state();
                let Some(holder) = state.holders.get(key) else {
                    let released = Arc::new(Notify::new());
                    state.holders.insert(key.to_vec(), Holder { owner: self.owner, released });
                    state.waiting.remove(&self.owner);
                    self.held.insert(key.to_vec());
                    return Ok(true);
                };
                let holder_owner = holder.owner;
                released = holder.released.clone();
                if closes_cycle(&state, self.owner, holder_owner) {
                    state.waiting.remove(&self.owner);
                    return Err(Error::Deadlock);
                }
                state.waiting.insert(self.owner, key.to_vec());
                // Created while the table is locked, so the holder's release (which needs the
                // table) cannot slip in between: a `Notified` receives `notify_waiters` from
                // the moment it exists.
                notified = released.notified();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                self.table.lock_state().waiting.remove(&self.owner);
                return Err(Error::LockTimeout);
            }
        }
    }
}

impl Drop for Locks {
    fn drop(&mut self) {
        self.table.release(self.owner, &self.held);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_writer_waits_until_the_first_releases() {
        let table = LockTable::new();
        let mut first = table.owner();
        first.acquire(b"k").await.expect("free lock");
        let mut second = table.owner();
        let waiter = tokio::spawn(async move {
            second.acquire(b"k").await.expect("lock after release");
            second
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the second writer must wait while the first holds the key");
        drop(first);
        let second = waiter.await.expect("task");
        assert!(second.holds(b"k"));
        assert_eq!(table.locked_keys(), 1);
        drop(second);
        assert_eq!(table.locked_keys(), 0);
    }

    #[tokio::test]
    async fn acquiring_a_held_key_again_is_immediate() {
        let table = LockTable::new();
        let mut locks = table.owner();
        locks.acquire(b"k").await.expect("first");
        locks.acquire(b"k").await.expect("again");
        assert_eq!(table.locked_keys(), 1);
    }

    #[tokio::test]
    async fn a_transaction_at_its_lock_limit_is_declined_without_waiting() {
        let table = LockTable::new();
        let mut locks = table.owner();
        for i in 0..LOCKS_PER_TRANSACTION_MAX {
            assert_eq!(locks.acquire(&i.to_be_bytes()).await, Ok(true));
        }
        assert_eq!(locks.acquire(b"one more").await, Ok(false));
        assert!(!locks.holds(b"one more"));
        assert_eq!(table.locked_keys(), LOCKS_PER_TRANSACTION_MAX);
    }

    #[tokio::test]
    async fn a_cycle_of_waiters_is_a_deadlock_for_the_one_that_closes_it() {
        let table = LockTable::new();
        let mut a = table.owner();
        let mut b = table.owner();
        a.acquire(b"x").await.expect("a takes x");
        b.acquire(b"y").await.expect("b takes y");
        let a_waits = tokio::spawn(async move {
            let result = a.acquire(b"y").await;
            (a, result)
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(b.acquire(b"x").await, Err(Error::Deadlock));
        drop(b);
        let (_a, result) = a_waits.await.expect("task");
        assert_eq!(result, Ok(true), "once b gives up, a gets y");
    }

    #[tokio::test]
    async fn a_wait_longer_than_the_limit_times_out() {
        let table = LockTable::with_wait_max(Duration::from_millis(100));
        let mut holder = table.owner();
        holder.acquire(b"k").await.expect("free lock");
        let mut waiter = table.owner();
        assert_eq!(waiter.acquire(b"k").await, Err(Error::LockTimeout));
        assert!(!waiter.holds(b"k"));
        drop(holder);
        waiter.acquire(b"k").await.expect("free again");
    }
}
