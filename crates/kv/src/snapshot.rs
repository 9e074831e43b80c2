//! A range's state as a snapshot stream: what a chunk holds, how it is read from an engine
//! snapshot, and how a received file is installed (the replication crate's `snapshot` module
//! describes the whole life of one).
//!
//! A chunk is an encoded [`RangeSnapshotData`]: first the range's `range_state` keys (applied
//! index, revision, descriptor, members, staged parts; never the restore marker), then its
//! MVCC history in key order. The derived keyspaces (`mvcc_latest`, `mvcc_garbage`) are not
//! sent: the receiver rebuilds them from the history as it installs it ([`mvcc::Derived`]).
//!
//! The install ([`KvRestoreJob::run`]) holds the range's GC lock for its whole run, deletes
//! the range's old state and data in batches, writes the chunks in batches, and in its last,
//! fsynced batch writes the new applied state and deletes the marker. Until then the marker
//! says the range's data is not its state; a crash makes the next start run it again.

use crate::state::{self, AppliedState};
use crate::state_machine::RangeShared;
use crate::{mvcc, Error};
use atoll_proto::atoll::{RangeSnapshotData, SnapshotPair, SnapshotRestore};
use atoll_proto::Message;
use atoll_replication::snapshot::{RestoreJob, SnapshotFileReader, SnapshotReader, SNAPSHOT_APPLY_BATCH_BYTES};
use atoll_replication::Fatal;
use atoll_storage::{Engine, EngineSnapshot, Keyspace, WriteBatch};
use atoll_types::RangeId;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn fatal(e: impl std::fmt::Display) -> Fatal {
    Fatal(e.to_string())
}

/// Which part of the range the reader is in.
enum Phase {
    State,
    Mvcc,
    Done,
}

/// Reads one range's state from an engine snapshot, chunk by chunk.
pub struct KvSnapshotReader {
    snapshot: Box<dyn EngineSnapshot>,
    range_id: RangeId,
    /// The range's span, of which the history is read.
    span: (Vec<u8>, Vec<u8>),
    phase: Phase,
    /// The last key read in the current phase: the next chunk starts after it.
    after: Option<Vec<u8>>,
}

impl KvSnapshotReader {
    /// A reader of the range `descriptor` describes as of `snapshot` (the descriptor must be
    /// the one applied at the snapshot's point).
    pub fn new(snapshot: Box<dyn EngineSnapshot>, descriptor: &atoll_proto::atoll::RangeDescriptor) -> Self {
        KvSnapshotReader {
            snapshot,
            range_id: RangeId(descriptor.range_id),
            span: (descriptor.start_key.clone(), descriptor.end_key.clone()),
            phase: Phase::State,
            after: None,
        }
    }

    /// Fills `pairs` from the current phase's keyspace until `bytes_max`; returns whether the
    /// phase is done.
    fn fill(&mut self, pairs: &mut Vec<SnapshotPair>, bytes: &mut usize, bytes_max: usize) -> Result<bool, Fatal> {
        let prefix = state::prefix(self.range_id);
        let marker = state::restore_marker_key(self.range_id);
        let (keyspace, first, end) = match self.phase {
            Phase::State => (
                Keyspace::RangeState,
                Bound::Included(prefix.clone()),
                Bound::Excluded(atoll_types::keys::prefix_end(&prefix)),
            ),
            _ => {
                let (first, end) = mvcc::span_bounds(&self.span.0, &self.span.1);
                (Keyspace::Mvcc, first, end)
            }
        };
        let start = match self.after.take() {
            Some(after) => Bound::Excluded(after),
            None => first,
        };
        for item in self.snapshot.scan(keyspace, start, end) {
            let (key, value) = item.map_err(fatal)?;
            if key == marker {
                continue;
            }
            *bytes += key.len() + value.len() + 8;
            self.after = Some(key.clone());
            pairs.push(SnapshotPair { key, value });
            if *bytes >= bytes_max {
                return Ok(false);
            }
        }
        self.after = None;
        Ok(true)
    }
}

impl SnapshotReader for KvSnapshotReader {
    fn next_chunk(&mut self, bytes_max: usize) -> Result<Option<Vec<u8>>, Fatal> {
        let mut data = RangeSnapshotData::default();
        let mut bytes = 0;
        if matches!(self.phase, Phase::State) {
            if self.fill(&mut data.state, &mut bytes, bytes_max)? {
                self.phase = Phase::Mvcc;
            } else {
                return Ok(Some(data.encode_to_vec()));
            }
        }
        if matches!(self.phase, Phase::Mvcc) && self.fill(&mut data.mvcc, &mut bytes, bytes_max)? {
            self.phase = Phase::Done;
        }
        if data.state.is_empty() && data.mvcc.is_empty() {
            return Ok(None);
        }
        Ok(Some(data.encode_to_vec()))
    }
}

/// Checks a snapshot's chunks as a peer sends them, before the store is given the file.
///
/// The install ([`KvRestoreJob::run`]) reads its file as the node's own data: a chunk it
/// cannot decode, state of another range, history out of order or a state it cannot load is a
/// broken disk there, and stops the node. What comes from a peer must not stop the node, so
/// the receiver runs every chunk through this first and refuses the stream (the sender's
/// `InvalidArgument`) on the first thing the install would not take. A file that passed is
/// framed with a CRC per chunk, so the install sees exactly what was checked.
pub struct SnapshotCheck {
    range_id: RangeId,
    prefix: Vec<u8>,
    marker: Vec<u8>,
    /// The range state seen so far (staged commit parts left out, as the install does).
    state: atoll_storage::MemoryEngine,
    last_state: Option<Vec<u8>>,
    last_mvcc: Option<Vec<u8>>,
    /// The snapshot's descriptor, read from its state when its MVCC history begins.
    descriptor: Option<atoll_proto::atoll::RangeDescriptor>,
}

impl SnapshotCheck {
    /// A check of a snapshot of `range_id`.
    pub fn new(range_id: RangeId) -> Self {
        SnapshotCheck {
            range_id,
            prefix: state::prefix(range_id),
            marker: state::restore_marker_key(range_id),
            state: atoll_storage::MemoryEngine::new(),
            last_state: None,
            last_mvcc: None,
            descriptor: None,
        }
    }

    /// Checks the next chunk, as [`KvSnapshotReader`] cuts them: the range's state keys in
    /// order, then its MVCC history in key order.
    pub fn chunk(&mut self, chunk: &[u8]) -> Result<(), String> {
        let data = RangeSnapshotData::decode(chunk).map_err(|e| format!("undecodable snapshot chunk: {e}"))?;
        let mut batch = WriteBatch::new();
        for pair in data.state {
            if self.last_mvcc.is_some() {
                return Err("snapshot state after its MVCC history".into());
            }
            if !pair.key.starts_with(&self.prefix) {
                return Err("snapshot holds state of another range".into());
            }
            if pair.key == self.marker {
                return Err("snapshot holds a restore marker".into());
            }
            ascending(&mut self.last_state, &pair.key, "state")?;
            let name = &pair.key[self.prefix.len()..];
            if name.starts_with(b"/staged") {
                crate::staged::check_snapshot_pair(name, &pair.value)?;
            } else {
                batch.put(Keyspace::RangeState, pair.key, pair.value);
            }
        }
        self.state.write(batch, false).map_err(|e| e.to_string())?;
        if !data.mvcc.is_empty() && self.descriptor.is_none() {
            let state = AppliedState::load(&self.state, self.range_id)
                .map_err(|e| format!("snapshot range state: {e}"))?
                .ok_or("snapshot MVCC history before its range state")?;
            self.descriptor = Some(state.descriptor);
        }
        for pair in &data.mvcc {
            let (key, _) = mvcc::decode_version(&pair.key).map_err(|e| format!("snapshot MVCC key: {e}"))?;
            let descriptor = self.descriptor.as_ref().expect("read above, before the first MVCC pair");
            if !crate::descriptor::owns(descriptor, &key, &[]) {
                return Err("snapshot holds a key outside its range's span".into());
            }
            mvcc::Record::decode(&pair.value).map_err(|e| format!("snapshot MVCC value: {e}"))?;
            ascending(&mut self.last_mvcc, &pair.key, "MVCC")?;
        }
        Ok(())
    }

    /// Checks the whole: the range state loads, is this range's, and is not past `index`, the
    /// index of the snapshot's Raft message.
    pub fn finish(self, index: u64) -> Result<(), String> {
        let state = AppliedState::load(&self.state, self.range_id)
            .map_err(|e| format!("snapshot range state: {e}"))?
            .ok_or("snapshot without range state")?;
        state::load_members(&self.state, self.range_id).map_err(|e| format!("snapshot members: {e}"))?;
        if state.descriptor.range_id != self.range_id.0 {
            return Err(format!("snapshot of range {} sent as range {}", state.descriptor.range_id, self.range_id));
        }
        if state.applied_index > index {
            return Err(format!("snapshot state applied {} beyond its index {index}", state.applied_index));
        }
        Ok(())
    }
}

/// Keys must come strictly ascending (the install rebuilds the MVCC index in one pass).
fn ascending(last: &mut Option<Vec<u8>>, key: &[u8], what: &str) -> Result<(), String> {
    if last.as_deref().is_some_and(|last| last >= key) {
        return Err(format!("snapshot {what} keys out of order"));
    }
    *last = Some(key.to_vec());
    Ok(())
}

/// The marker's value.
pub(crate) fn encode_marker(index: u64, voters: &[u64], file: &Path) -> Vec<u8> {
    SnapshotRestore { index, voters: voters.to_vec(), file: file.to_string_lossy().into_owned() }.encode_to_vec()
}

/// The restore recorded for `range_id`, if any.
pub(crate) fn load_marker(engine: &dyn Engine, range_id: RangeId) -> crate::Result<Option<SnapshotRestore>> {
    let Some(bytes) = engine.get(Keyspace::RangeState, &state::restore_marker_key(range_id))? else {
        return Ok(None);
    };
    SnapshotRestore::decode(bytes.as_slice()).map(Some).map_err(|e| Error::Corrupt(format!("restore marker: {e}")))
}

/// A range's span, `[start, end)` (an empty end: to the end of the key space).
type KeySpan = (Vec<u8>, Vec<u8>);

/// Installs one received snapshot file into the engine (see the module docs).
pub struct KvRestoreJob {
    pub(crate) engine: Arc<dyn Engine>,
    pub(crate) shared: Arc<RangeShared>,
    pub(crate) range_id: RangeId,
    pub(crate) index: u64,
    pub(crate) voters: Vec<u64>,
    pub(crate) file: PathBuf,
}

/// Writes and syncs `batch` once it holds [`SNAPSHOT_APPLY_BATCH_BYTES`] (synced so the
/// install's writes reach the disk steadily, not in one burst that stalls every fsync).
fn flush_if_full(engine: &dyn Engine, batch: &mut WriteBatch) -> Result<(), Fatal> {
    if batch.size_bytes() >= SNAPSHOT_APPLY_BATCH_BYTES {
        engine.write(std::mem::take(batch), true)?;
    }
    Ok(())
}

impl KvRestoreJob {
    /// The spans whose data the install replaces: the replica's old span, if it has state,
    /// and the snapshot's. The snapshot's descriptor is among its first state keys (state keys
    /// come in order, and `/descriptor` sorts before the staged parts that could be large).
    fn spans(&self) -> Result<Vec<KeySpan>, Fatal> {
        let mut spans = Vec::new();
        if let Some(old) = AppliedState::load(self.engine.as_ref(), self.range_id).map_err(fatal)? {
            if !old.descriptor.replicas.is_empty() {
                spans.push((old.descriptor.start_key, old.descriptor.end_key));
            }
        }
        let descriptor_key = state::descriptor_key(self.range_id);
        let mut reader = SnapshotFileReader::open(&self.file, self.engine.cipher())?;
        while let Some(chunk) = reader.next_chunk()? {
            let data = RangeSnapshotData::decode(chunk.as_slice())
                .map_err(|e| fatal(format!("undecodable snapshot chunk: {e}")))?;
            if let Some(pair) = data.state.iter().find(|pair| pair.key == descriptor_key) {
                let descriptor = atoll_proto::atoll::RangeDescriptor::decode(pair.value.as_slice())
                    .map_err(|e| fatal(format!("snapshot descriptor: {e}")))?;
                spans.push((descriptor.start_key, descriptor.end_key));
                return Ok(spans);
            }
            if !data.mvcc.is_empty() {
                break;
            }
        }
        Err(Fatal(format!("range {}: snapshot without a descriptor before its history", self.range_id)))
    }

    /// Deletes the range's state (but the marker) and every MVCC key of its old and new spans,
    /// in batches. Other ranges' keys on this node are left alone: MVCC keys carry no range id,
    /// a range is its span (see `crate::split`).
    pub(crate) fn delete_old(&self) -> Result<(), Fatal> {
        let spans = self.spans()?;
        let engine = self.engine.as_ref();
        let marker = state::restore_marker_key(self.range_id);
        let mut batch = WriteBatch::new();
        for item in atoll_storage::scan_prefix(engine, Keyspace::RangeState, &state::prefix(self.range_id)) {
            let key = item?.0;
            if key != marker {
                batch.delete(Keyspace::RangeState, key);
            }
        }
        // One pass per keyspace and span: a scan started again from the beginning after each
        // batch would step over every tombstone written so far, and the install would take
        // quadratic time.
        for (start, end) in &spans {
            for (keyspace, (lower, upper)) in [
                (Keyspace::Mvcc, mvcc::span_bounds(start, end)),
                (Keyspace::MvccLatest, mvcc::latest_span_bounds(start, end)),
            ] {
                for item in engine.scan(keyspace, lower, upper, false) {
                    batch.delete(keyspace, item?.0);
                    flush_if_full(engine, &mut batch)?;
                }
            }
        }
        // The garbage index is ordered by revision: filtered by key.
        let inside = |key: &[u8]| {
            spans.iter().any(|(start, end)| key >= start.as_slice() && (end.is_empty() || key < end.as_slice()))
        };
        for item in engine.scan(Keyspace::MvccGarbage, Bound::Unbounded, Bound::Unbounded, false) {
            let entry = item?.0;
            let (_, key) = mvcc::decode_garbage(&entry).map_err(fatal)?;
            if inside(&key) {
                batch.delete(Keyspace::MvccGarbage, entry);
                flush_if_full(engine, &mut batch)?;
            }
        }
        Ok(engine.write(batch, false)?)
    }

    /// Writes the file's chunks; returns the range state they carried (through a scratch
    /// engine, with the same code that loads it from disk; staged commit parts left out) and
    /// the bytes read.
    fn write_chunks(&self, progress: &dyn Fn(u64)) -> Result<(atoll_storage::MemoryEngine, u64), Fatal> {
        let engine = self.engine.as_ref();
        let prefix = state::prefix(self.range_id);
        let scratch = atoll_storage::MemoryEngine::new();
        let mut reader = SnapshotFileReader::open(&self.file, self.engine.cipher())?;
        let mut derived = mvcc::Derived::default();
        let mut batch = WriteBatch::new();
        let mut bytes = 0u64;
        while let Some(chunk) = reader.next_chunk()? {
            bytes += chunk.len() as u64;
            let data = RangeSnapshotData::decode(chunk.as_slice())
                .map_err(|e| fatal(format!("undecodable snapshot chunk: {e}")))?;
            let mut state_batch = WriteBatch::new();
            for pair in data.state {
                if !pair.key.starts_with(&prefix) {
                    return Err(Fatal("snapshot holds state of another range".into()));
                }
                // Staged parts of a large commit (up to 512 MiB) need not be held twice.
                if !pair.key[prefix.len()..].starts_with(b"/staged") {
                    state_batch.put(Keyspace::RangeState, pair.key.clone(), pair.value.clone());
                }
                batch.put(Keyspace::RangeState, pair.key, pair.value);
                flush_if_full(engine, &mut batch)?;
            }
            scratch.write(state_batch, false)?;
            for pair in data.mvcc {
                derived.feed(&pair.key, &pair.value, &mut batch).map_err(fatal)?;
                batch.put(Keyspace::Mvcc, pair.key, pair.value);
                flush_if_full(engine, &mut batch)?;
            }
            flush_if_full(engine, &mut batch)?;
            progress(bytes);
        }
        derived.finish(&mut batch);
        engine.write(batch, false)?;
        Ok((scratch, bytes))
    }
}

impl RestoreJob for KvRestoreJob {
    fn file(&self) -> &Path {
        &self.file
    }

    fn run(self: Box<Self>, progress: &dyn Fn(u64)) -> Result<(), Fatal> {
        // No garbage collector chunk may write while the data is replaced, nor one computed
        // from the old data afterwards (the epoch moves).
        let mut epoch = self.shared.gc_epoch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        *epoch += 1;
        self.delete_old()?;
        let (scratch, _) = self.write_chunks(progress)?;
        let mut state = AppliedState::load(&scratch, self.range_id)
            .map_err(fatal)?
            .ok_or_else(|| Fatal("snapshot without range state".into()))?;
        assert!(
            state.applied_index <= self.index,
            "range {}: snapshot state applied {} beyond its index {}",
            self.range_id,
            state.applied_index,
            self.index
        );
        assert_eq!(state.descriptor.range_id, self.range_id.0, "snapshot of another range");
        state.applied_index = self.index;
        state.descriptor.replicas = self.voters.clone();
        let mut batch = WriteBatch::new();
        state.save(&mut batch);
        batch.delete(Keyspace::RangeState, state::restore_marker_key(self.range_id));
        self.engine.write(batch, true)?;
        Ok(())
    }
}

/// Moves a snapshot's state into `target` the way two nodes do: read in chunks of
/// `chunk_bytes`, through a snapshot file, a marker and an install job.
#[cfg(test)]
pub(crate) fn must_install(
    mut reader: Box<dyn SnapshotReader>,
    target: &mut crate::KvStateMachine,
    engine: &dyn Engine,
    index: u64,
    voters: &[u64],
    chunk_bytes: usize,
) {
    use atoll_replication::snapshot::SnapshotFiles;
    use atoll_replication::StateMachine as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let files = SnapshotFiles::open(dir.path().join("snapshots"), engine.cipher()).expect("snapshot dir");
    let mut writer = files.create().expect("snapshot file");
    let mut check = SnapshotCheck::new(target.range_id());
    while let Some(chunk) = reader.next_chunk(chunk_bytes).expect("chunk") {
        check.chunk(&chunk).expect("a snapshot the reader cut passes the receiver's check");
        writer.write_chunk(&chunk).expect("write chunk");
    }
    check.finish(index).expect("a snapshot the reader cut passes the receiver's check");
    let path = files.path(writer.finish().expect("finish"));
    let mut batch = WriteBatch::new();
    target.begin_restore(index, voters, &path, &mut batch).expect("begin restore");
    engine.write(batch, true).expect("write marker");
    let (marker_index, job) = target.pending_restore().expect("marker").expect("a pending restore");
    assert_eq!(marker_index, index);
    job.run(&|_| {}).expect("install");
    target.finish_restore().expect("finish restore");
}
