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
//! ([`Collector::step`]): it scans the MVCC keyspace, deletes the garbage of at most
//! [`GC_CHUNK_VERSIONS_MAX`] versions per write batch, and pauses between chunks. Replicas may
//! differ in how much garbage they still hold, never in what any permitted read returns.
//!
//! # Why deleting concurrently with readers and the store loop is safe
//! - New writes add versions above the current revision, which is at least `C`: they never
//!   make an old version visible again, so what is garbage stays garbage.
//! - A key whose newest version at `C` is a tombstone loses its older versions first and the
//!   tombstone last (in the chunk where the key ends), so no older version ever shows through
//!   at a revision `>= C`.
//! - A read checks the compaction revision again *after* it has read
//!   ([`crate::RangeShared::read`]). Physical deletion for `C` starts only after `C` is
//!   published, so a read that overlapped any deletion it could have been hurt by fails with
//!   "compacted" instead of answering from a half-collected history.
//! - `MvccLatest` holds each key's newest version, which is never garbage unless it is a
//!   tombstone at or below `C`. Such an entry is deleted with the key's last history version,
//!   after checking, under the lock the state machine holds while it writes, that it is still
//!   that tombstone: a key written again meanwhile keeps its new version.
//! - Installing a snapshot replaces the whole keyspace. It bumps the range's GC epoch under the
//!   same lock a chunk holds while it checks the epoch and writes, so a chunk computed before a
//!   snapshot is thrown away rather than applied to the snapshot's data.

use crate::mvcc::{decode_version, Record};
use crate::state_machine::RangeShared;
use crate::Result;
use atoll_storage::{Engine, Keyspace, WriteBatch};
use std::ops::Bound;
use std::sync::Arc;

/// Versions one chunk examines at most: a chunk's scan and its delete batch stay around a
/// millisecond, so a pass never holds the engine or a core for long.
pub const GC_CHUNK_VERSIONS_MAX: usize = 4096;

/// Where a pass stands between chunks.
#[derive(Debug, Default, Clone)]
pub struct Cursor {
    /// The last encoded version examined; the next chunk starts after it.
    after: Option<Vec<u8>>,
    /// The user key being examined, if the last chunk ended inside it.
    key: Option<Vec<u8>>,
    /// Whether that key's newest version at the compaction revision was already seen.
    kept_visible: bool,
    /// That version, when it is a tombstone (encoded, and its revision): deleted with the
    /// key's last older version.
    tombstone: Option<(Vec<u8>, i64)>,
}

/// What one chunk found.
#[derive(Debug, Default)]
pub struct Chunk {
    /// The deletions.
    pub batch: WriteBatch,
    /// Versions examined.
    pub examined: usize,
    /// Whether the pass reached the end of the keyspace.
    pub done: bool,
    /// Keys whose tombstone the batch deletes, with its revision: their `MvccLatest` entry
    /// goes too if it is still that tombstone when the batch is written (see [`finish`]).
    pub latest_tombstones: Vec<(Vec<u8>, i64)>,
}

impl Cursor {
    /// Ends the key being examined: its tombstone, if any, goes with the rest of its garbage.
    fn end_key(&mut self, chunk: &mut Chunk) {
        if let (Some((tombstone, revision)), Some(key)) = (self.tombstone.take(), self.key.take()) {
            chunk.batch.delete(Keyspace::Mvcc, tombstone);
            chunk.latest_tombstones.push((key, revision));
        }
        self.kept_visible = false;
    }

    /// Classifies one version of the scan.
    fn visit(&mut self, encoded: Vec<u8>, value: &[u8], compact_revision: i64, chunk: &mut Chunk) -> Result<()> {
        let (key, revision) = decode_version(&encoded)?;
        if self.key.as_ref() != Some(&key) {
            self.end_key(chunk);
            self.key = Some(key);
        }
        if revision > compact_revision {
            return Ok(());
        }
        if self.kept_visible {
            chunk.batch.delete(Keyspace::Mvcc, encoded);
        } else {
            self.kept_visible = true;
            if Record::decode(value)? == Record::Tombstone {
                self.tombstone = Some((encoded, revision));
            }
        }
        Ok(())
    }
}

/// Examines up to `versions_max` versions after `cursor` and collects the garbage at
/// `compact_revision` among them.
pub fn collect_chunk(
    engine: &dyn Engine,
    compact_revision: i64,
    cursor: &mut Cursor,
    versions_max: usize,
) -> Result<Chunk> {
    let start = cursor.after.clone().map_or(Bound::Unbounded, Bound::Excluded);
    let mut chunk = Chunk::default();
    let mut items = engine.scan(Keyspace::Mvcc, start, Bound::Unbounded, false);
    while chunk.examined < versions_max {
        let Some(item) = items.next() else {
            cursor.end_key(&mut chunk);
            chunk.done = true;
            return Ok(chunk);
        };
        let (encoded, value) = item?;
        cursor.after = Some(encoded.clone());
        cursor.visit(encoded, &value, compact_revision, &mut chunk)?;
        chunk.examined += 1;
    }
    Ok(chunk)
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
    let mut cursor = Cursor::default();
    let mut removed = 0;
    loop {
        let chunk = collect_chunk(engine, compact_revision, &mut cursor, GC_CHUNK_VERSIONS_MAX)?;
        removed += chunk.batch.len();
        let done = chunk.done;
        engine.write(finish(engine, chunk)?, false)?;
        if done {
            return Ok(removed);
        }
    }
}

/// One node's physical collector for one range: call [`Collector::step`] until it says the
/// pass is done, pausing between calls.
pub struct Collector {
    engine: Arc<dyn Engine>,
    shared: Arc<RangeShared>,
    /// The compaction revision the current pass collects for (0: no pass yet).
    pass_revision: i64,
    /// The GC epoch the pass started in.
    epoch: u64,
    /// The compaction revision of the last completed pass.
    done_revision: i64,
    cursor: Cursor,
}

/// What one [`Collector::step`] did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Versions deleted.
    pub removed: usize,
    /// Versions examined.
    pub examined: usize,
    /// Whether a pass ended with this step.
    pub finished_pass: bool,
    /// Whether there is more to do right away.
    pub more: bool,
}

impl Collector {
    pub fn new(engine: Arc<dyn Engine>, shared: Arc<RangeShared>) -> Self {
        Collector { engine, shared, pass_revision: 0, epoch: 0, done_revision: 0, cursor: Cursor::default() }
    }

    /// Whether the published compaction revision is ahead of what was collected.
    pub fn has_work(&self) -> bool {
        self.shared.compact_revision() > self.done_revision
    }

    /// Examines one chunk of at most `versions_max` versions and deletes its garbage.
    pub fn step(&mut self, versions_max: usize) -> Result<Step> {
        if self.pass_revision == 0 {
            if !self.has_work() {
                return Ok(Step::default());
            }
            self.start_pass();
        }
        let chunk = collect_chunk(self.engine.as_ref(), self.pass_revision, &mut self.cursor, versions_max)?;
        let (removed, examined, done) = (chunk.batch.len(), chunk.examined, chunk.done);
        {
            let epoch = self.shared.gc_epoch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if *epoch != self.epoch {
                // A snapshot replaced the data this chunk was computed from: start over.
                drop(epoch);
                self.start_pass();
                return Ok(Step { examined, more: true, ..Step::default() });
            }
            let batch = finish(self.engine.as_ref(), chunk)?;
            self.engine.write(batch, false)?;
        }
        let mut step = Step { removed, examined, finished_pass: false, more: !done };
        if done {
            self.done_revision = self.pass_revision;
            self.pass_revision = 0;
            step.finished_pass = true;
            step.more = self.has_work();
        }
        Ok(step)
    }

    fn start_pass(&mut self) {
        self.pass_revision = self.shared.compact_revision();
        self.epoch = *self.shared.gc_epoch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        self.cursor = Cursor::default();
    }
}

#[cfg(test)]
mod tests;
