//! The same operations against both engines must give the same answers.

use super::*;

fn exercise(engine: &dyn Engine) -> Vec<KvPair> {
    let mut batch = WriteBatch::new();
    for key in [b"b".as_slice(), b"a", b"c", b"d"] {
        batch.put(Keyspace::Mvcc, key, [key, b"-v"].concat());
    }
    batch.put(Keyspace::Meta, b"a", b"meta");
    engine.write(batch, true).expect("write");
    let mut batch = WriteBatch::new();
    batch.delete(Keyspace::Mvcc, b"c");
    engine.write(batch, false).expect("write");
    assert_eq!(engine.get(Keyspace::Meta, b"a").expect("get"), Some(b"meta".to_vec()));
    assert_eq!(engine.get(Keyspace::Mvcc, b"c").expect("get"), None);
    let forward: Vec<_> = engine
        .scan(Keyspace::Mvcc, Bound::Included(b"a".to_vec()), Bound::Excluded(b"d".to_vec()), false)
        .collect::<Result<_>>()
        .expect("scan");
    let reverse: Vec<_> =
        engine.scan(Keyspace::Mvcc, Bound::Unbounded, Bound::Unbounded, true).collect::<Result<_>>().expect("scan");
    assert_eq!(reverse.len(), 3);
    assert_eq!(reverse[0].0, b"d");
    forward
}

#[test]
fn fjall_and_memory_agree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fjall = FjallEngine::open(dir.path(), 8 << 20).expect("open");
    let memory = MemoryEngine::new();
    let a = exercise(&fjall);
    let b = exercise(&memory);
    assert_eq!(a, b);
    assert_eq!(a.iter().map(|(k, _)| k.clone()).collect::<Vec<_>>(), vec![b"a".to_vec(), b"b".to_vec()]);
}

#[test]
fn fjall_data_survives_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let engine = FjallEngine::open(dir.path(), 8 << 20).expect("open");
        let mut batch = WriteBatch::new();
        batch.put(Keyspace::RaftLog, b"k", b"v");
        engine.write(batch, true).expect("write");
    }
    let engine = FjallEngine::open(dir.path(), 8 << 20).expect("reopen");
    assert_eq!(engine.get(Keyspace::RaftLog, b"k").expect("get"), Some(b"v".to_vec()));
}

#[test]
fn last_write_of_a_key_in_a_batch_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fjall = FjallEngine::open(dir.path(), 8 << 20).expect("open");
    let memory = MemoryEngine::new();
    for engine in [&fjall as &dyn Engine, &memory] {
        let mut batch = WriteBatch::new();
        batch.put(Keyspace::Mvcc, b"k", b"v1");
        engine.write(batch, false).expect("write");
        let mut batch = WriteBatch::new();
        batch.delete(Keyspace::Mvcc, b"k");
        batch.put(Keyspace::Mvcc, b"k", b"v2");
        batch.put(Keyspace::Mvcc, b"j", b"v1");
        batch.delete(Keyspace::Mvcc, b"j");
        engine.write(batch, false).expect("write");
        assert_eq!(engine.get(Keyspace::Mvcc, b"k").expect("get"), Some(b"v2".to_vec()));
        assert_eq!(engine.get(Keyspace::Mvcc, b"j").expect("get"), None);
    }
}

#[test]
fn a_snapshot_sees_neither_later_writes_nor_later_deletes_and_reads_from_another_thread() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fjall = FjallEngine::open(dir.path(), 8 << 20).expect("open");
    let memory = MemoryEngine::new();
    for engine in [&fjall as &dyn Engine, &memory] {
        let mut batch = WriteBatch::new();
        batch.put(Keyspace::Mvcc, b"a", b"1");
        batch.put(Keyspace::RangeState, b"applied", b"7");
        engine.write(batch, false).expect("write");
        let snapshot = engine.snapshot();
        let mut batch = WriteBatch::new();
        batch.put(Keyspace::Mvcc, b"b", b"2");
        batch.delete(Keyspace::Mvcc, b"a");
        batch.put(Keyspace::RangeState, b"applied", b"8");
        engine.write(batch, false).expect("write");
        let seen = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let pairs: Vec<_> = snapshot
                        .scan(Keyspace::Mvcc, Bound::Unbounded, Bound::Unbounded)
                        .collect::<Result<_>>()
                        .expect("scan");
                    (pairs, snapshot.get(Keyspace::RangeState, b"applied").expect("get"))
                })
                .join()
                .expect("reader thread")
        });
        assert_eq!(seen.0, vec![(b"a".to_vec(), b"1".to_vec())]);
        assert_eq!(seen.1, Some(b"7".to_vec()), "every keyspace as of the same moment");
        assert_eq!(engine.get(Keyspace::RangeState, b"applied").expect("get"), Some(b"8".to_vec()));
    }
}
