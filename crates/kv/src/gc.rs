//! MVCC garbage collection: removing the versions no permitted read can see.
//!
//! # Two halves, as in etcd
//! Compaction is *logical* first: a `Compact` command, applied through Raft like any write,
//! only raises the range's compaction revision `C`. From then on every replica refuses reads
//! below `C` ("required revision has been compacted"), so the versions that only such reads
//! could see are garbage: for each key, every version older than its newest version at or
//! below `C`, and that newest version too when it is a tombstone. The apply is O(1), so a
//! compaction never stalls the store loop, however much garbage there is.
//!
//! The *physical* half runs on each node by itself, off the store loop, in bounded chunks
//! ([`Collector::step`]). It does not scan the data: every write that supersedes a live
//! version, and every tombstone, also adds `revision ++ key` to the `MvccGarbage` index in the
//! same batch ([`crate::mvcc::write`]). A chunk takes up to [`GC_CHUNK_ENTRIES_MAX`] entries
//! at or below `C`, oldest first, and for each named key deletes its garbage at `C` and the
//! entry, in one write batch. The work is therefore proportional to the garbage, not to the
//! data: a table loaded once and never updated costs nothing. Entries are added at the
//! revision of the write, which only grows, so everything below the last entry a collector
//! took stays processed and the next chunk starts after it. Replicas may differ in how much
//! garbage they still hold, never in what any permitted read returns.
//!
//! # Why deleting concurrently with readers and the store loop is safe
//! - New writes add versions above the current revision, which is at least `C`: they never
//!   make an old version visible again, so what is garbage stays garbage.
//! - A key's garbage is deleted in one atomic batch, its tombstone with the older versions it
//!   hides, so no older version ever shows through at a revision `>= C`.
//! - A read checks the compaction revision again *after* it has read
//!   ([`crate::RangeShared::read`]). Physical deletion for `C` starts only after `C` is
//!   published, so a read that overlapped any deletion it could have been hurt by fails with
//!   "compacted" instead of answering from a half-collected history.
//! - `MvccLatest` holds each key's newest version, which is never garbage unless it is a
//!   tombstone at or below `C`. Such an entry is deleted with the tombstone, after checking,
//!   under the lock the state machine holds while it writes, that it is still that tombstone:
//!   a key written again meanwhile keeps its new version.
//! - Installing a snapshot replaces the whole keyspace and the index. It bumps the range's GC
//!   epoch under the same lock a chunk holds while it checks the epoch and writes, so a chunk
//!   computed before a snapshot is thrown away rather than applied to the snapshot's data.

use crate::mvcc::{decode_garbage, decode_version, encode_garbage, encode_version, Record};
use crate::state_machine::RangeShared;
use crate::Result;
use atoll_storage::{Engine, Keyspace, WriteBatch};
use std::collections::HashSet;
use std::ops::Bound;
use std::sync::Arc;

/// Garbage index entries one chunk takes at most: each is one seek and usually a delete or
/// two, so a chunk's reads and its write batch stay around a few milliseconds and a pass never
/// holds the engine or a core for long. (A key with many versions is still deleted whole in
/// its chunk, since its tombstone must go with what it hides.)
pub const GC_CHUNK_ENTRIES_MAX: usize = 4096;

/// What one chunk found.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The deletions: versions and the index entries taken.
    pub batch: WriteBatch,
    /// Versions the batch deletes.
    pub removed: usize,
    /// Index entries taken.
    pub examined: usize,
    /// The last entry taken; the next chunk starts after it.
    pub last_entry: Option<Vec<u8>>,
    /// Whether the entries at or below the compaction revision are all taken.
    pub done: bool,
    /// Keys whose tombstone the batch deletes, with its revision: their `MvccLatest` entry
    /// goes too if it is still that tombstone when the batch is written (see [`finish`]).
    pub latest_tombstones: Vec<(Vec<u8>, i64)>,
}

/// Takes up to `entries_max` garbage index entries after `after`, at or below
/// `compact_revision`, and collects the garbage of the keys they name inside the range span
/// `span` (`[start, end)`, an empty end: to the end). The index is the node's and ordered by
/// revision, so entries of other ranges' keys are stepped over (counted, not taken): each
/// range's collector takes its own, at its own compaction revision.
pub fn collect_chunk(
    engine: &dyn Engine,
    compact_revision: i64,
    span: (&[u8], &[u8]),
    after: Option<&[u8]>,
    entries_max: usize,
) -> Result<Chunk> {
    let start = after.map_or(Bound::Unbounded, |after| Bound::Excluded(after.to_vec()));
    // Every entry at or below `compact_revision` sorts before this one.
    let end = Bound::Excluded(encode_garbage(compact_revision.saturating_add(1), b""));
    let mut chunk = Chunk::default();
    let mut keys_done = HashSet::new();
    for item in engine.scan(Keyspace::MvccGarbage, start, end, false) {
        if chunk.examined == entries_max {
            return Ok(chunk);
        }
        let (entry, _) = item?;
        let (_, key) = decode_garbage(&entry)?;
        chunk.examined += 1;
        let (start, end) = span;
        if key.as_slice() < start || (!end.is_empty() && key.as_slice() >= end) {
            chunk.last_entry = Some(entry);
            continue;
        }
        chunk.batch.delete(Keyspace::MvccGarbage, entry.clone());
        chunk.last_entry = Some(entry);
        // A key named twice (updated twice) is collected once: the first visit removes all
        // of its garbage at `compact_revision`.
        if keys_done.insert(key.clone()) {
            collect_key(engine, key, compact_revision, &mut chunk)?;
        }
    }
    chunk.done = true;
    Ok(chunk)
}

/// Adds the garbage of `key` at `compact_revision` to the chunk: every version older than its
/// newest version at or below it, and that one too if it is a tombstone.
fn collect_key(engine: &dyn Engine, key: Vec<u8>, compact_revision: i64, chunk: &mut Chunk) -> Result<()> {
    let start = Bound::Included(encode_version(&key, compact_revision));
    let end = Bound::Included(encode_version(&key, 0));
    let mut versions = engine.scan(Keyspace::Mvcc, start, end, false);
    let Some(visible) = versions.next() else { return Ok(()) };
    let (encoded, value) = visible?;
    if Record::decode(&value)? == Record::Tombstone {
        let (_, revision) = decode_version(&encoded)?;
        chunk.batch.delete(Keyspace::Mvcc, encoded);
        chunk.removed += 1;
        chunk.latest_tombstones.push((key, revision));
    }
    for older in versions {
        chunk.batch.delete(Keyspace::Mvcc, older?.0);
        chunk.removed += 1;
    }
    Ok(())
}

/// The chunk's batch, with the `MvccLatest` entries of fully deleted keys whose newest version
/// is still the collected tombstone. Must run under the range's write lock, so that no apply
/// writes a newer version between the check and the write.
pub fn finish(engine: &dyn Engine, chunk: Chunk) -> Result<WriteBatch> {
    let mut batch = chunk.batch;
    for (key, revision) in chunk.latest_tombstones {
        if matches!(crate::mvcc::latest(engine, &key)?, Some((newest, Record::Tombstone)) if newest == revision) {
            batch.delete(Keyspace::MvccLatest, key);
        }
    }
    Ok(batch)
}

/// Removes all garbage at `compact_revision` at once (tests and tools; nodes use a
/// [`Collector`]). Returns the number of versions removed.
pub fn collect_all(engine: &dyn Engine, compact_revision: i64) -> Result<usize> {
    let mut after: Option<Vec<u8>> = None;
    let mut removed = 0;
    loop {
        let chunk = collect_chunk(engine, compact_revision, (&[], &[]), after.as_deref(), GC_CHUNK_ENTRIES_MAX)?;
        removed += chunk.removed;
        let done = chunk.done;
        after = chunk.last_entry.clone().or(after);
        engine.write(finish(engine, chunk)?, false)?;
        if done {
            return Ok(removed);
        }
    }
}

/// One node's physical collector for one range: call [`Collector::step`] until it says there
/// is no more to do, pausing between calls.
pub struct Collector {
    engine: Arc<dyn Engine>,
    shared: Arc<RangeShared>,
    /// The GC epoch `after` belongs to.
    epoch: u64,
    /// The last index entry taken (in this epoch): everything up to it is collected.
    after: Option<Vec<u8>>,
    /// The compaction revision up to which every entry was taken.
    done_revision: i64,
}

/// What one [`Collector::step`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Versions deleted.
    pub removed: usize,
    /// Garbage index entries taken.
    pub examined: usize,
    /// Whether this step took the last entry at or below the compaction revision.
    pub finished_pass: bool,
    /// Whether there is more to do right away.
    pub more: bool,
}

impl Collector {
    pub fn new(engine: Arc<dyn Engine>, shared: Arc<RangeShared>) -> Self {
        let epoch = shared.gc_epoch();
        Collector { engine, shared, epoch, after: None, done_revision: 0 }
    }

    /// Whether the published compaction revision is ahead of what was collected.
    pub fn has_work(&self) -> bool {
        self.shared.compact_revision() > self.done_revision
    }

    /// Takes one chunk of at most `entries_max` index entries and deletes the garbage.
    pub fn step(&mut self, entries_max: usize) -> Result<Step> {
        if !self.has_work() {
            return Ok(Step::default());
        }
        let compact_revision = self.shared.compact_revision();
        let descriptor = self.shared.descriptor();
        let span = (descriptor.start_key.as_slice(), descriptor.end_key.as_slice());
        let chunk = collect_chunk(self.engine.as_ref(), compact_revision, span, self.after.as_deref(), entries_max)?;
        let (removed, examined, done) = (chunk.removed, chunk.examined, chunk.done);
        let last_entry = chunk.last_entry.clone();
        {
            let epoch = self.shared.gc_epoch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if *epoch != self.epoch {
                // A snapshot replaced the data and the index this chunk was computed from:
                // start again from the new index's beginning.
                self.epoch = *epoch;
                self.after = None;
                self.done_revision = 0;
                return Ok(Step { examined, more: true, ..Step::default() });
            }
            let batch = finish(self.engine.as_ref(), chunk)?;
            self.engine.write(batch, false)?;
        }
        self.after = last_entry.or(self.after.take());
        if done {
            self.done_revision = compact_revision;
        }
        Ok(Step { removed, examined, finished_pass: done, more: !done || self.has_work() })
    }
}

#[cfg(test)]
mod tests;
