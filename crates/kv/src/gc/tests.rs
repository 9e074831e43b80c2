//! Garbage collection keeps every read at or after the compaction revision unchanged, at the
//! end of a pass and after every chunk of it, and never writes a chunk computed from data a
//! snapshot has since replaced.

use super::*;
use crate::mvcc::{self, Record};
use atoll_storage::MemoryEngine;
use atoll_types::keys::Span;
use std::collections::BTreeMap;
use std::sync::Mutex;

fn put(engine: &dyn Engine, key: &[u8], revision: i64, value: &[u8]) {
    let mut batch = WriteBatch::new();
    let record = Record::Put { create_revision: revision, version: 1, lease: 0, value: value.to_vec() };
    mvcc::write(&mut batch, key, revision, &record, mvcc::latest(engine, key).expect("latest").is_some());
    engine.write(batch, false).expect("write");
}

fn delete(engine: &dyn Engine, key: &[u8], revision: i64) {
    let mut batch = WriteBatch::new();
    mvcc::write(&mut batch, key, revision, &Record::Tombstone, true);
    engine.write(batch, false).expect("write");
}

fn read_all(engine: &dyn Engine, revision: i64) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let span = Span { start: vec![], end: None };
    mvcc::scan(engine, &span, revision, false, &mut |kv| {
        out.push((kv.key, kv.value));
        true
    })
    .expect("scan");
    out
}

fn versions(engine: &dyn Engine) -> usize {
    engine.scan(Keyspace::Mvcc, Bound::Unbounded, Bound::Unbounded, false).count()
}

/// Keys a..e written in turn for 300 revisions, each key deleted for a stretch, so that some
/// keys' newest version at a compaction revision is a tombstone. Returns the engine and the
/// state after each revision.
/// The live keys and values after each revision.
type Model = Vec<BTreeMap<Vec<u8>, Vec<u8>>>;

fn history() -> (MemoryEngine, Model) {
    let engine = MemoryEngine::new();
    let keys: [&[u8]; 5] = [b"a", b"b", b"c", b"d", b"e"];
    let mut model = vec![BTreeMap::new()];
    for revision in 1..=300i64 {
        let index = revision as usize % keys.len();
        let key = keys[index];
        let mut state: BTreeMap<Vec<u8>, Vec<u8>> = model.last().cloned().unwrap_or_default();
        // Key i is deleted during revisions [40i + 50, 40i + 90).
        let deleted = (40 * index as i64 + 50..40 * index as i64 + 90).contains(&revision);
        if deleted {
            delete(&engine, key, revision);
            state.remove(key);
        } else {
            let value = revision.to_string().into_bytes();
            put(&engine, key, revision, &value);
            state.insert(key.to_vec(), value);
        }
        model.push(state);
    }
    (engine, model)
}

fn assert_reads_from(engine: &dyn Engine, model: &Model, compact_revision: i64, when: &str) {
    for revision in compact_revision..model.len() as i64 {
        let expected: Vec<_> = model[revision as usize].clone().into_iter().collect();
        assert_eq!(read_all(engine, revision), expected, "read at {revision} {when}");
    }
}

#[test]
fn a_pass_keeps_what_reads_at_or_after_the_compaction_revision_see() {
    for compact_revision in [1, 60, 77, 130, 211, 299, 300] {
        let (engine, model) = history();
        let before = versions(&engine);
        let removed = collect_all(&engine, compact_revision).expect("collect");
        assert_eq!(versions(&engine), before - removed);
        assert!(compact_revision < 10 || removed > 0, "garbage at {compact_revision} found");
        assert_reads_from(&engine, &model, compact_revision, &format!("after compacting at {compact_revision}"));
        // Nothing older than the compaction revision is left but one visible version per key.
        let kept = engine
            .scan(Keyspace::Mvcc, Bound::Unbounded, Bound::Unbounded, false)
            .filter(|item| decode_version(&item.as_ref().expect("item").0).expect("key").1 <= compact_revision)
            .count();
        assert_eq!(kept, model[compact_revision as usize].len(), "one version per live key at {compact_revision}");
        assert_eq!(collect_all(&engine, compact_revision).expect("collect again"), 0, "a second pass finds nothing");
    }
}

#[test]
fn every_chunk_of_a_pass_leaves_reads_unchanged() {
    for entries_max in 1..=3 {
        let compact_revision = 211;
        let (engine, model) = history();
        let mut after: Option<Vec<u8>> = None;
        let mut chunks = 0;
        loop {
            let chunk =
                collect_chunk(&engine, compact_revision, (&[], &[]), after.as_deref(), entries_max).expect("chunk");
            assert!(chunk.examined <= entries_max);
            after = chunk.last_entry.clone().or(after);
            let done = chunk.done;
            engine.write(finish(&engine, chunk).expect("finish"), false).expect("write");
            chunks += 1;
            assert_reads_from(&engine, &model, compact_revision, &format!("after chunk {chunks} of {entries_max}"));
            if done {
                break;
            }
        }
        assert_eq!(versions(&engine), 5 + (300 - compact_revision as usize) - 1, "one tombstone-only key is gone");
        let left = engine
            .scan(Keyspace::MvccGarbage, Bound::Unbounded, Bound::Unbounded, false)
            .map(|item| mvcc::decode_garbage(&item.expect("item").0).expect("entry").0)
            .collect::<Vec<_>>();
        assert!(left.iter().all(|revision| *revision > compact_revision), "every entry at or below it was taken");
        assert!(!left.is_empty(), "entries above it stay for later passes");
    }
}

#[test]
fn a_key_loaded_once_costs_the_collector_nothing() {
    // A bulk load writes each key once: nothing is garbage, and the index stays empty, so a
    // pass over it reads nothing of the data.
    let engine = MemoryEngine::new();
    for i in 0..1000i64 {
        put(&engine, format!("row{i:04}").as_bytes(), i + 2, b"v");
    }
    assert_eq!(engine.scan(Keyspace::MvccGarbage, Bound::Unbounded, Bound::Unbounded, false).count(), 0);
    let chunk = collect_chunk(&engine, 2000, (&[], &[]), None, GC_CHUNK_ENTRIES_MAX).expect("chunk");
    assert_eq!((chunk.examined, chunk.removed, chunk.done), (0, 0, true));
    // One update makes exactly one entry, and one version of garbage once compacted past it.
    put(&engine, b"row0007", 3000, b"w");
    assert_eq!(collect_all(&engine, 2999).expect("collect below the update"), 0, "the update is above it");
    assert_eq!(collect_all(&engine, 3000).expect("collect"), 1);
    assert_eq!(mvcc::get(&engine, b"row0007", 3000).expect("get").map(|kv| kv.value), Some(b"w".to_vec()));
}

#[test]
fn a_collector_runs_a_pass_when_the_compaction_revision_moves() {
    let (engine, model) = history();
    let engine: Arc<dyn Engine> = Arc::new(engine);
    let shared = Arc::new(RangeShared::default());
    let mut collector = Collector::new(engine.clone(), shared.clone());
    assert_eq!(collector.step(100).expect("step"), Step::default(), "no compaction, nothing to do");
    shared.set_compact_revision_for_test(150);
    let mut removed = 0;
    loop {
        let step = collector.step(100).expect("step");
        removed += step.removed;
        if step.finished_pass {
            assert!(!step.more);
            break;
        }
        assert!(step.more);
    }
    assert!(removed > 100, "{removed} versions removed");
    assert_reads_from(engine.as_ref(), &model, 150, "after the collector's pass");
    assert!(!collector.has_work());
}

type Interference = Box<dyn FnOnce(&MemoryEngine) + Send>;

/// An engine that runs `interfere` once, right after the first scan of the history (the
/// versions of a key a chunk collects; the memory engine has read them all by then).
struct Interfering {
    inner: MemoryEngine,
    interfere: Mutex<Option<Interference>>,
}

impl Engine for Interfering {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> atoll_storage::Result<Option<Vec<u8>>> {
        self.inner.get(keyspace, key)
    }
    fn scan(
        &self,
        keyspace: Keyspace,
        start: Bound<Vec<u8>>,
        end: Bound<Vec<u8>>,
        reverse: bool,
    ) -> atoll_storage::ScanIter<'_> {
        let items = self.inner.scan(keyspace, start, end, reverse);
        if keyspace == Keyspace::Mvcc {
            if let Some(interfere) = self.interfere.lock().expect("lock").take() {
                interfere(&self.inner);
            }
        }
        items
    }
    fn write(&self, batch: WriteBatch, sync: bool) -> atoll_storage::Result<()> {
        self.inner.write(batch, sync)
    }
    fn size_bytes(&self) -> u64 {
        self.inner.size_bytes()
    }
    fn snapshot(&self) -> Box<dyn atoll_storage::EngineSnapshot> {
        self.inner.snapshot()
    }
}

#[test]
fn a_chunk_computed_before_a_snapshot_was_installed_is_not_written() {
    // Before: k@2, k@3 (k@2 is garbage at 3). The snapshot installed while the chunk is being
    // computed holds only k@2, which is all a read at 3 can see there.
    let inner = MemoryEngine::new();
    put(&inner, b"k", 2, b"old");
    put(&inner, b"k", 3, b"new");
    let shared = Arc::new(RangeShared::default());
    shared.set_compact_revision_for_test(3);
    let restore_shared = shared.clone();
    let interfere = move |engine: &MemoryEngine| {
        *restore_shared.gc_epoch.lock().expect("epoch") += 1;
        let mut batch = WriteBatch::new();
        batch.delete(Keyspace::Mvcc, mvcc::encode_version(b"k", 3));
        let old = Record::Put { create_revision: 2, version: 1, lease: 0, value: b"old".to_vec() };
        batch.put(Keyspace::MvccLatest, b"k".to_vec(), mvcc::encode_latest(2, &old));
        engine.write(batch, false).expect("replace");
    };
    let engine: Arc<dyn Engine> = Arc::new(Interfering { inner, interfere: Mutex::new(Some(Box::new(interfere))) });
    let mut collector = Collector::new(engine.clone(), shared);
    let step = collector.step(100).expect("step");
    assert_eq!((step.removed, step.more), (0, true), "the stale chunk is dropped and the pass restarts");
    assert_eq!(read_all(engine.as_ref(), 3), vec![(b"k".to_vec(), b"old".to_vec())], "k@2 survived");
    let step = collector.step(100).expect("step");
    assert!(step.finished_pass);
    assert_eq!(read_all(engine.as_ref(), 3), vec![(b"k".to_vec(), b"old".to_vec())]);
}

#[test]
fn a_key_deleted_before_the_compaction_revision_loses_its_newest_version_too_unless_written_again() {
    let engine = MemoryEngine::new();
    put(&engine, b"gone", 2, b"x");
    delete(&engine, b"gone", 3);
    put(&engine, b"back", 2, b"x");
    delete(&engine, b"back", 3);
    // `back` is written again after the chunk was computed, before it is written.
    let chunk = collect_chunk(&engine, 4, (&[], &[]), None, 100).expect("chunk");
    assert!(chunk.done);
    put(&engine, b"back", 5, b"again");
    let batch = finish(&engine, chunk).expect("finish");
    engine.write(batch, false).expect("write");
    assert_eq!(mvcc::latest(&engine, b"gone").expect("latest"), None, "nothing is left of `gone`");
    assert_eq!(versions(&engine), 1, "only back@5 is left in the history");
    assert_eq!(mvcc::get(&engine, b"back", 5).expect("get").map(|kv| kv.value), Some(b"again".to_vec()));
    assert_eq!(mvcc::get(&engine, b"gone", 5).expect("get"), None);
}

#[test]
fn a_collector_takes_only_its_ranges_keys_and_steps_over_the_others() {
    // Two ranges split at "m" share the node's garbage index; each range's collector takes
    // the garbage of its own span at its own compaction revision (after a split the two count
    // revisions apart, so one range's compaction revision means nothing to the other's keys).
    let engine = MemoryEngine::new();
    for (key, revisions) in [(&b"left"[..], [2, 3, 4]), (&b"right"[..], [2, 5, 6])] {
        for revision in revisions {
            put(&engine, key, revision, revision.to_string().as_bytes());
        }
    }
    let entries =
        |engine: &MemoryEngine| engine.scan(Keyspace::MvccGarbage, Bound::Unbounded, Bound::Unbounded, false).count();
    assert_eq!(entries(&engine), 4, "two superseded versions of each key");

    let left = collect_chunk(&engine, 6, (b"", b"m"), None, GC_CHUNK_ENTRIES_MAX).expect("chunk");
    assert_eq!((left.examined, left.removed, left.done), (4, 2, true), "all four looked at, the left's two taken");
    engine.write(finish(&engine, left).expect("finish"), false).expect("write");
    assert_eq!(entries(&engine), 2, "the right-hand range's entries stay for its own collector");
    assert_eq!(mvcc::get(&engine, b"left", 3).expect("get"), None, "compacted: older versions are gone");
    let right_old = mvcc::get(&engine, b"right", 5).expect("get").map(|kv| kv.value);
    assert_eq!(right_old, Some(b"5".to_vec()), "the right-hand range's history is untouched");

    let right = collect_chunk(&engine, 6, (b"m", b""), None, GC_CHUNK_ENTRIES_MAX).expect("chunk");
    assert_eq!((right.examined, right.removed), (2, 2));
    engine.write(finish(&engine, right).expect("finish"), false).expect("write");
    assert_eq!(entries(&engine), 0);
    assert_eq!(mvcc::get(&engine, b"right", 6).expect("get").map(|kv| kv.value), Some(b"6".to_vec()));
}
