//! The Raft log of one range: in memory for raft-rs, on disk for recovery.
//!
//! raft-rs reads the log through the [`raft::Storage`] trait. [`RaftStorage`] keeps the
//! unapplied-and-recent part of the log in a [`MemStorage`] (bounded by log truncation) and
//! writes every change to the engine through the store loop's group-commit batch:
//!
//! ```text
//! RaftLog:   range_id (8 BE) ++ index (8 BE)  -> eraftpb::Entry
//! RaftState: range_id (8 BE) ++ "hs"          -> eraftpb::HardState
//!            range_id (8 BE) ++ "cs"          -> eraftpb::ConfState
//!            range_id (8 BE) ++ "trunc"       -> index (8 BE) ++ term (8 BE) of the last
//!                                                entry removed by truncation or snapshot
//! ```
//!
//! Snapshots are not stored: [`RaftStorage::snapshot`] asks the range's state machine for a
//! reader of its applied state when raft-rs needs to send one, and registers it in the node's
//! [`SnapshotSlots`]; the Raft snapshot carries only the reader's id (see [`crate::snapshot`]).

use crate::snapshot::{encode_id, SnapshotSlots};
use crate::{Fatal, StateMachine};
use atoll_storage::{Engine, Keyspace, WriteBatch};
use atoll_types::RangeId;
use protobuf::Message as _;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage, StorageError};
use std::ops::Bound;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// The log index at which a bootstrapped range's initial state counts as applied.
pub const BOOTSTRAP_INDEX: u64 = 5;
/// The term of [`BOOTSTRAP_INDEX`].
pub const BOOTSTRAP_TERM: u64 = 5;

const HARD_STATE: &[u8] = b"hs";
const CONF_STATE: &[u8] = b"cs";
const TRUNCATED: &[u8] = b"trunc";

fn state_key(range_id: RangeId, name: &[u8]) -> Vec<u8> {
    [range_id.0.to_be_bytes().as_slice(), name].concat()
}

fn log_key(range_id: RangeId, index: u64) -> Vec<u8> {
    [range_id.0.to_be_bytes(), index.to_be_bytes()].concat()
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> Fatal {
    Fatal(format!("corrupt {what} on disk: {e}"))
}

/// raft-rs storage for one range.
pub struct RaftStorage<S> {
    range_id: RangeId,
    memory: MemStorage,
    state_machine: Arc<Mutex<S>>,
    slots: Arc<SnapshotSlots>,
    /// Approximate bytes of the entries in the log (data and context), for truncation.
    log_bytes: AtomicU64,
    /// Index and term of the last entry truncated away. raft-rs asks for the term of the entry
    /// before the first one (to append from the first entry on); `MemStorage::compact` forgets
    /// it, and a follower whose log ends there would be sent a needless snapshot.
    truncated: Mutex<(u64, u64)>,
}

fn entry_bytes(entry: &Entry) -> u64 {
    (entry.data.len() + entry.context.len()) as u64
}

impl<S: StateMachine> RaftStorage<S> {
    /// Creates the storage for a replica that has no log yet (it waits for a snapshot).
    pub fn new_empty(range_id: RangeId, state_machine: Arc<Mutex<S>>, slots: Arc<SnapshotSlots>) -> Self {
        RaftStorage {
            range_id,
            memory: MemStorage::new(),
            state_machine,
            slots,
            log_bytes: AtomicU64::new(0),
            truncated: Mutex::new((0, 0)),
        }
    }

    /// Loads the log of `range_id` from the engine.
    pub fn load(
        engine: &dyn Engine,
        range_id: RangeId,
        state_machine: Arc<Mutex<S>>,
        slots: Arc<SnapshotSlots>,
    ) -> Result<Self, Fatal> {
        let memory = MemStorage::new();
        let get = |name| engine.get(Keyspace::RaftState, &state_key(range_id, name));
        let conf_state = match get(CONF_STATE)? {
            Some(bytes) => ConfState::parse_from_bytes(&bytes).map_err(|e| corrupt("conf state", e))?,
            None => ConfState::default(),
        };
        let (truncated_index, truncated_term) = match get(TRUNCATED)? {
            Some(bytes) if bytes.len() == 16 => {
                let (index, term) = bytes.split_at(8);
                (
                    u64::from_be_bytes(index.try_into().map_err(|e| corrupt("truncated state", e))?),
                    u64::from_be_bytes(term.try_into().map_err(|e| corrupt("truncated state", e))?),
                )
            }
            Some(_) => return Err(corrupt("truncated state", "wrong length")),
            None => (0, 0),
        };
        let log_bytes;
        {
            let mut core = memory.wl();
            if truncated_index > 0 {
                let mut snapshot = Snapshot::default();
                snapshot.mut_metadata().index = truncated_index;
                snapshot.mut_metadata().term = truncated_term;
                snapshot.mut_metadata().set_conf_state(conf_state.clone());
                core.apply_snapshot(snapshot).map_err(|e| corrupt("raft log", e))?;
            }
            core.set_conf_state(conf_state);
            let start = Bound::Included(log_key(range_id, truncated_index + 1));
            let end = Bound::Included(log_key(range_id, u64::MAX));
            let mut entries = Vec::new();
            for item in engine.scan(Keyspace::RaftLog, start, end, false) {
                let (_, value) = item?;
                entries.push(Entry::parse_from_bytes(&value).map_err(|e| corrupt("raft entry", e))?);
            }
            let last_index = entries.last().map_or(truncated_index, |e| e.index);
            log_bytes = entries.iter().map(entry_bytes).sum();
            core.append(&entries).map_err(|e| corrupt("raft log", e))?;
            if let Some(bytes) = get(HARD_STATE)? {
                let mut hard_state = HardState::parse_from_bytes(&bytes).map_err(|e| corrupt("hard state", e))?;
                // Entries are applied before the next hard state with their commit index is
                // written, so the applied index may be ahead of the stored commit index: it is
                // committed all the same, and raft-rs requires applied <= commit.
                let applied = state_machine.lock().map_err(|_| Fatal("poisoned".into()))?.applied_index();
                hard_state.commit = hard_state.commit.max(applied).min(last_index);
                core.set_hardstate(hard_state);
            }
        }
        Ok(RaftStorage {
            range_id,
            memory,
            state_machine,
            slots,
            log_bytes: AtomicU64::new(log_bytes),
            truncated: Mutex::new((truncated_index, truncated_term)),
        })
    }

    /// Writes the initial state of a brand-new range whose first replicas are `voters`.
    ///
    /// The initial state is not in the log: the log starts out truncated at
    /// [`BOOTSTRAP_INDEX`], as if a snapshot of the initial state had been taken there, and the
    /// state machine must record that index as applied. A replica added later therefore always
    /// starts from a snapshot that carries the initial replica set and state, never from a log
    /// replay that would miss them.
    pub fn bootstrap(batch: &mut WriteBatch, range_id: RangeId, voters: Vec<u64>) {
        let conf_state = ConfState::from((voters, vec![]));
        batch.put(
            Keyspace::RaftState,
            state_key(range_id, CONF_STATE),
            conf_state.write_to_bytes().unwrap_or_default(),
        );
        let hard_state = HardState { term: BOOTSTRAP_TERM, commit: BOOTSTRAP_INDEX, ..Default::default() };
        batch.put(
            Keyspace::RaftState,
            state_key(range_id, HARD_STATE),
            hard_state.write_to_bytes().unwrap_or_default(),
        );
        let truncated = [BOOTSTRAP_INDEX.to_be_bytes(), BOOTSTRAP_TERM.to_be_bytes()].concat();
        batch.put(Keyspace::RaftState, state_key(range_id, TRUNCATED), truncated);
    }

    /// The ranges that have Raft state in the engine.
    pub fn list_ranges(engine: &dyn Engine) -> Result<Vec<RangeId>, Fatal> {
        let mut ranges = Vec::new();
        for item in engine.scan(Keyspace::RaftState, Bound::Unbounded, Bound::Unbounded, false) {
            let (key, _) = item?;
            if key.len() == 8 + HARD_STATE.len() && key.ends_with(HARD_STATE) {
                let id: [u8; 8] = key[..8].try_into().map_err(|e| corrupt("raft state key", e))?;
                ranges.push(RangeId(u64::from_be_bytes(id)));
            }
        }
        Ok(ranges)
    }

    /// The first index still in the log.
    pub fn first_index_now(&self) -> u64 {
        Storage::first_index(&self.memory).unwrap_or(1)
    }

    /// The last index in the log.
    pub fn last_index_now(&self) -> u64 {
        Storage::last_index(&self.memory).unwrap_or(0)
    }

    /// Approximate bytes of the entries in the log.
    pub fn log_bytes(&self) -> u64 {
        self.log_bytes.load(Ordering::Relaxed)
    }

    /// The in-memory log, for the store loop.
    pub fn memory(&self) -> &MemStorage {
        &self.memory
    }

    /// Appends entries to the in-memory log and to `batch`.
    pub fn append(&self, entries: &[Entry], batch: &mut WriteBatch) -> Result<(), Fatal> {
        let Some(first) = entries.first() else { return Ok(()) };
        let last_before = self.last_index_now();
        self.memory.wl().append(entries).map_err(|e| Fatal(format!("append: {e}")))?;
        // A suffix overwritten by a new leader stays counted until truncation: an estimate.
        self.log_bytes.fetch_add(entries.iter().map(entry_bytes).sum(), Ordering::Relaxed);
        for entry in entries {
            let bytes = entry.write_to_bytes().map_err(|e| Fatal(e.to_string()))?;
            batch.put(Keyspace::RaftLog, log_key(self.range_id, entry.index), bytes);
        }
        // A new leader may overwrite a suffix of our log: delete what the new entries replaced.
        let last_new = first.index + entries.len() as u64 - 1;
        for index in last_new + 1..=last_before {
            batch.delete(Keyspace::RaftLog, log_key(self.range_id, index));
        }
        Ok(())
    }

    /// Records a new hard state.
    pub fn set_hard_state(&self, hard_state: &HardState, batch: &mut WriteBatch) {
        self.memory.wl().set_hardstate(hard_state.clone());
        batch.put(
            Keyspace::RaftState,
            state_key(self.range_id, HARD_STATE),
            hard_state.write_to_bytes().unwrap_or_default(),
        );
    }

    /// Records the commit index reported after a Ready was persisted.
    pub fn set_commit(&self, commit: u64, batch: &mut WriteBatch) {
        let hard_state = {
            let mut core = self.memory.wl();
            core.mut_hard_state().commit = commit;
            core.hard_state().clone()
        };
        self.set_hard_state(&hard_state, batch);
    }

    /// Records the replica set after a conf change was applied.
    pub fn set_conf_state(&self, conf_state: &ConfState, batch: &mut WriteBatch) {
        self.memory.wl().set_conf_state(conf_state.clone());
        batch.put(
            Keyspace::RaftState,
            state_key(self.range_id, CONF_STATE),
            conf_state.write_to_bytes().unwrap_or_default(),
        );
    }

    /// Installs a snapshot received from the leader: the log restarts after its index.
    pub fn apply_snapshot(&self, snapshot: &Snapshot, batch: &mut WriteBatch) -> Result<(), Fatal> {
        let meta = snapshot.get_metadata();
        let first_before = self.first_index_now();
        let last_before = self.last_index_now();
        self.memory.wl().apply_snapshot(snapshot.clone()).map_err(|e| Fatal(format!("apply snapshot: {e}")))?;
        self.log_bytes.store(0, Ordering::Relaxed);
        for index in first_before..=last_before {
            batch.delete(Keyspace::RaftLog, log_key(self.range_id, index));
        }
        self.write_truncated(meta.index, meta.term, batch);
        self.set_conf_state(meta.get_conf_state(), batch);
        let hard_state = self.memory.rl().hard_state().clone();
        self.set_hard_state(&hard_state, batch);
        Ok(())
    }

    fn write_truncated(&self, index: u64, term: u64, batch: &mut WriteBatch) {
        *self.truncated.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = (index, term);
        let value = [index.to_be_bytes(), term.to_be_bytes()].concat();
        batch.put(Keyspace::RaftState, state_key(self.range_id, TRUNCATED), value);
    }

    /// Drops log entries up to and excluding `index`, which must be applied.
    pub fn truncate(&self, index: u64, batch: &mut WriteBatch) -> Result<(), Fatal> {
        let first = self.first_index_now();
        if index <= first {
            return Ok(());
        }
        let term = Storage::term(self, index - 1).map_err(|e| Fatal(format!("truncate: {e}")))?;
        let removed = self
            .memory
            .entries(first, index, None, GetEntriesContext::empty(false))
            .map_err(|e| Fatal(format!("truncate: {e}")))?;
        let removed_bytes: u64 = removed.iter().map(entry_bytes).sum();
        let _ = self
            .log_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| Some(b.saturating_sub(removed_bytes)));
        self.memory.wl().compact(index).map_err(|e| Fatal(format!("truncate: {e}")))?;
        for old in first..index {
            batch.delete(Keyspace::RaftLog, log_key(self.range_id, old));
        }
        self.write_truncated(index - 1, term, batch);
        Ok(())
    }
}

impl<S: StateMachine> Storage for RaftStorage<S> {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.memory.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.memory.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        let (index, term) = *self.truncated.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if idx == index && idx > 0 {
            return Ok(term);
        }
        self.memory.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.memory.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.memory.last_index()
    }

    /// Prepares a snapshot of the applied state: a reader registered in the node's slots,
    /// named by its id (see [`crate::snapshot`]). raft-rs asks for one at least at
    /// `request_index`; if the state machine has not applied that far yet, or the node sends
    /// as many snapshots as it may, it asks again later.
    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let unavailable = || raft::Error::Store(StorageError::SnapshotTemporarilyUnavailable);
        if !self.slots.has_room() {
            return Err(unavailable());
        }
        let state_machine = self.state_machine.lock().map_err(|_| unavailable())?;
        let applied = state_machine.applied_index();
        if applied < request_index {
            return Err(unavailable());
        }
        let term = Storage::term(self, applied)?;
        let reader = state_machine.snapshot().map_err(|e| raft::Error::Store(StorageError::Other(Box::new(e))))?;
        let id = self.slots.prepare(reader);
        let mut snapshot = Snapshot::default();
        snapshot.set_data(encode_id(id).into());
        let meta = snapshot.mut_metadata();
        meta.index = applied;
        meta.term = term;
        meta.set_conf_state(self.memory.initial_state()?.conf_state);
        Ok(snapshot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_storage::MemoryEngine;

    /// The log's own tests need no replicated state: every state machine call is refused.
    struct NoState;

    impl StateMachine for NoState {
        type Response = ();
        fn applied_index(&self) -> u64 {
            0
        }
        fn apply(&mut self, _: u64, _: &[u8]) -> Result<(), Fatal> {
            Err(Fatal("no state in this test".into()))
        }
        fn apply_other(&mut self, _: u64, _: Option<&[u64]>) -> Result<(), Fatal> {
            Err(Fatal("no state in this test".into()))
        }
        fn snapshot(&self) -> Result<Box<dyn crate::snapshot::SnapshotReader>, Fatal> {
            Err(Fatal("no state in this test".into()))
        }
        fn begin_restore(&mut self, _: u64, _: &[u64], _: &std::path::Path, _: &mut WriteBatch) -> Result<(), Fatal> {
            Err(Fatal("no state in this test".into()))
        }
        fn pending_restore(&self) -> Result<Option<crate::snapshot::PendingRestore>, Fatal> {
            Ok(None)
        }
        fn finish_restore(&mut self) -> Result<(), Fatal> {
            Err(Fatal("no state in this test".into()))
        }
    }

    #[test]
    fn the_term_before_the_first_entry_survives_truncation_live_and_after_a_restart() {
        let engine = MemoryEngine::new();
        let range_id = RangeId(1);
        let storage = RaftStorage::new_empty(range_id, Arc::new(Mutex::new(NoState)), Arc::default());
        let entries: Vec<Entry> =
            (1..=10).map(|index| Entry { index, term: if index <= 5 { 2 } else { 3 }, ..Default::default() }).collect();
        let mut batch = WriteBatch::new();
        storage.append(&entries, &mut batch).expect("append");
        storage.truncate(7, &mut batch).expect("truncate");
        engine.write(batch, true).expect("write");
        assert_eq!(storage.first_index_now(), 7);
        // A leader appends from index 7 to a follower that has 6 only if it knows term(6).
        assert_eq!(Storage::term(&storage, 6).expect("term of the last truncated entry"), 3);
        assert!(Storage::term(&storage, 5).is_err(), "entries before it are gone");
        let loaded = RaftStorage::load(&engine, range_id, Arc::new(Mutex::new(NoState)), Arc::default()).expect("load");
        assert_eq!(loaded.first_index_now(), 7);
        assert_eq!(Storage::term(&loaded, 6).expect("term after a restart"), 3);
        assert_eq!(loaded.log_bytes(), storage.log_bytes());
    }
}
