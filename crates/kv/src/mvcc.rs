//! Versioned keys on the storage engine, with etcd's revision semantics.
//!
//! Every write transaction applied by a range gets the next *revision*, a counter that only
//! grows. A key's versions are stored under
//!
//! ```text
//! escape(user_key) ++ 0x00 0x01 ++ (u64::MAX - revision) as 8 bytes big-endian
//! ```
//!
//! `escape` turns each 0x00 byte into 0x00 0xff, so the encoded keys sort exactly as the user
//! keys do and no key's versions interleave with another key's. Inverting the revision puts the
//! newest version of a key first, so "the value of `k` at revision `r`" is one seek to
//! `encode(k, r)` and one step. The value is a [`Record`]: a put (with the key's create revision,
//! version and value) or a tombstone left by a delete, so that reads at older revisions still
//! see the old value until compaction removes it.

use crate::{Error, Result};
use atoll_proto::mvccpb::KeyValue;
use atoll_storage::{Engine, Keyspace, WriteBatch};
use atoll_types::keys::Span;
use std::ops::Bound;

const ESCAPE: u8 = 0x00;
const ESCAPED_ZERO: u8 = 0xff;
const TERMINATOR: u8 = 0x01;

/// Encodes the user key part: order-preserving, prefix-free.
pub fn encode_user_key(key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 10);
    for &byte in key {
        out.push(byte);
        if byte == ESCAPE {
            out.push(ESCAPED_ZERO);
        }
    }
    out.extend_from_slice(&[ESCAPE, TERMINATOR]);
    out
}

/// The bounds, in the `Mvcc` keyspace, of every version of every key in the range span
/// `[start, end)` (an empty `end`: to the end of the key space). A key's escaped bytes without
/// the terminator sort before all its versions and after every version of a smaller key
/// (the terminator `00 01` is below any escaped byte that could follow), so they bound spans
/// exactly.
pub fn span_bounds(start: &[u8], end: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let escaped = |key: &[u8]| {
        let mut out = encode_user_key(key);
        out.truncate(out.len() - 2);
        out
    };
    let upper = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(escaped(end)) };
    (Bound::Included(escaped(start)), upper)
}

/// The bounds, in the `MvccLatest` keyspace (raw user keys), of the range span `[start, end)`.
pub fn latest_span_bounds(start: &[u8], end: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let upper = if end.is_empty() { Bound::Unbounded } else { Bound::Excluded(end.to_vec()) };
    (Bound::Included(start.to_vec()), upper)
}

/// The live keys in the range span `[start, end)` and their bytes (keys and values), read from
/// each key's newest version: one pass over the span's `MvccLatest` entries.
pub fn live_keys(engine: &dyn Engine, start: &[u8], end: &[u8]) -> Result<(u64, u64)> {
    let (lower, upper) = latest_span_bounds(start, end);
    let (mut count, mut bytes) = (0u64, 0u64);
    for item in engine.scan(Keyspace::MvccLatest, lower, upper, false) {
        let (key, value) = item?;
        if matches!(decode_latest(&value)?, (_, Record::Put { .. })) {
            count += 1;
            bytes += (key.len() + value.len()) as u64;
        }
    }
    Ok((count, bytes))
}

/// Encodes one version of a key.
pub fn encode_version(key: &[u8], revision: i64) -> Vec<u8> {
    let mut out = encode_user_key(key);
    out.extend_from_slice(&(u64::MAX - revision as u64).to_be_bytes());
    out
}

/// Splits an encoded version key into the user key and revision.
pub fn decode_version(encoded: &[u8]) -> Result<(Vec<u8>, i64)> {
    let corrupt = || Error::Corrupt(format!("bad MVCC key {encoded:x?}"));
    let mut key = Vec::with_capacity(encoded.len());
    let mut i = 0;
    while i < encoded.len() {
        let byte = encoded[i];
        if byte != ESCAPE {
            key.push(byte);
            i += 1;
            continue;
        }
        match encoded.get(i + 1) {
            Some(&ESCAPED_ZERO) => key.push(ESCAPE),
            Some(&TERMINATOR) => {
                let tail: [u8; 8] = encoded.get(i + 2..).and_then(|t| t.try_into().ok()).ok_or_else(corrupt)?;
                return Ok((key, (u64::MAX - u64::from_be_bytes(tail)) as i64));
            }
            _ => return Err(corrupt()),
        }
        i += 2;
    }
    Err(corrupt())
}

/// One stored version of a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Put { create_revision: i64, version: i64, lease: i64, value: Vec<u8> },
    Tombstone,
}

impl Record {
    /// Serialises the record: a tag byte, then for a put three i64s and the value.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Record::Tombstone => vec![0],
            Record::Put { create_revision, version, lease, value } => {
                let mut out = Vec::with_capacity(25 + value.len());
                out.push(1);
                out.extend_from_slice(&create_revision.to_be_bytes());
                out.extend_from_slice(&version.to_be_bytes());
                out.extend_from_slice(&lease.to_be_bytes());
                out.extend_from_slice(value);
                out
            }
        }
    }

    /// Parses a record written by [`Record::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Record> {
        let int = |at: usize| -> Result<i64> {
            bytes
                .get(at..at + 8)
                .and_then(|b| b.try_into().ok())
                .map(i64::from_be_bytes)
                .ok_or_else(|| Error::Corrupt("truncated MVCC record".into()))
        };
        match bytes.first() {
            Some(0) => Ok(Record::Tombstone),
            Some(1) => Ok(Record::Put {
                create_revision: int(1)?,
                version: int(9)?,
                lease: int(17)?,
                value: bytes.get(25..).unwrap_or_default().to_vec(),
            }),
            _ => Err(Error::Corrupt("unknown MVCC record tag".into())),
        }
    }

    fn into_key_value(self, key: Vec<u8>, mod_revision: i64) -> Option<KeyValue> {
        match self {
            Record::Tombstone => None,
            Record::Put { create_revision, version, lease, value } => {
                Some(KeyValue { key, create_revision, mod_revision, version, value, lease })
            }
        }
    }
}

/// Encodes the newest version of a key as `Keyspace::MvccLatest` holds it: its revision
/// (8 bytes BE), then the record.
pub fn encode_latest(revision: i64, record: &Record) -> Vec<u8> {
    let mut out = revision.to_be_bytes().to_vec();
    out.extend_from_slice(&record.encode());
    out
}

/// Parses a value written by [`encode_latest`].
pub fn decode_latest(bytes: &[u8]) -> Result<(i64, Record)> {
    let (revision, record) =
        bytes.split_first_chunk::<8>().ok_or_else(|| Error::Corrupt("truncated latest MVCC version".into()))?;
    Ok((i64::from_be_bytes(*revision), Record::decode(record)?))
}

/// The newest version of `key` and its revision, if the key has one.
pub fn latest(engine: &dyn Engine, key: &[u8]) -> Result<Option<(i64, Record)>> {
    engine.get(Keyspace::MvccLatest, key)?.map(|bytes| decode_latest(&bytes)).transpose()
}

/// Reads the live value of `key` as of `revision`. Most reads are at or after the key's
/// newest version: one point lookup in `MvccLatest`. Older reads seek its history.
pub fn get(engine: &dyn Engine, key: &[u8], revision: i64) -> Result<Option<KeyValue>> {
    match latest(engine, key)? {
        // No newest version: the key never existed, or all of it was collected as garbage,
        // which happens only to versions no permitted read can see.
        None => Ok(None),
        Some((newest, record)) if newest <= revision => Ok(record.into_key_value(key.to_vec(), newest)),
        Some(_) => get_in_history(engine, key, revision),
    }
}

/// [`get`] through the history: one seek to the key's version at `revision`.
fn get_in_history(engine: &dyn Engine, key: &[u8], revision: i64) -> Result<Option<KeyValue>> {
    let start = Bound::Included(encode_version(key, revision));
    let end = Bound::Included(encode_version(key, 0));
    let Some(item) = engine.scan(Keyspace::Mvcc, start, end, false).next() else {
        return Ok(None);
    };
    let (encoded, value) = item?;
    let (_, mod_revision) = decode_version(&encoded)?;
    Ok(Record::decode(&value)?.into_key_value(key.to_vec(), mod_revision))
}

/// How many versions a forward scan steps over, within one key, before it seeks past them
/// instead: a hot key has thousands of versions until compaction, and stepping through them
/// all made every read of it cost that much (the branch rows of pgbench's TPC-B).
const VERSION_STEPS_BEFORE_SEEK: usize = 4;

/// Visits the live keys of `span` as of `revision` in key order (descending when `reverse`),
/// until `visit` returns false.
pub fn scan(
    engine: &dyn Engine,
    span: &Span,
    revision: i64,
    reverse: bool,
    visit: &mut dyn FnMut(KeyValue) -> bool,
) -> Result<()> {
    let single_key = span.end.as_deref().is_some_and(|end| end.split_last() == Some((&0, span.start.as_slice())));
    if single_key {
        // One key (etcd's Range without range_end): one seek to its version at `revision`.
        if let Some(kv) = get(engine, &span.start, revision)? {
            visit(kv);
        }
        return Ok(());
    }
    let start = Bound::Included(encode_user_key(&span.start));
    let end = span.end.as_ref().map_or(Bound::Unbounded, |end| Bound::Excluded(encode_user_key(end)));
    if !reverse {
        return scan_forward(engine, start, end, revision, visit);
    }
    let mut current: Option<Vec<u8>> = None;
    // Reverse iteration meets a key's oldest version first: remember the newest visible one
    // so far and emit it when the key changes.
    let mut pending: Option<KeyValue> = None;
    for item in engine.scan(Keyspace::Mvcc, start, end, reverse) {
        let (encoded, value) = item?;
        let (key, mod_revision) = decode_version(&encoded)?;
        if reverse {
            if current.as_ref() != Some(&key) {
                if let Some(kv) = pending.take() {
                    if !visit(kv) {
                        return Ok(());
                    }
                }
                current = Some(key.clone());
            }
            if mod_revision <= revision {
                pending = Record::decode(&value)?.into_key_value(key, mod_revision);
            }
        }
    }
    if let Some(kv) = pending {
        visit(kv);
    }
    Ok(())
}

/// The forward half of [`scan`]. Versions of a key come newest first: the scan skips those
/// newer than `revision`, takes the first one at or below it, and skips the older ones; after
/// a few skipped versions in a row it seeks to where the next useful one must be.
fn scan_forward(
    engine: &dyn Engine,
    start: Bound<Vec<u8>>,
    end: Bound<Vec<u8>>,
    revision: i64,
    visit: &mut dyn FnMut(KeyValue) -> bool,
) -> Result<()> {
    let mut items = engine.scan(Keyspace::Mvcc, start, end.clone(), false);
    let mut current: Option<Vec<u8>> = None;
    let mut skipped = 0;
    while let Some(item) = items.next() {
        let (encoded, value) = item?;
        let (key, mod_revision) = decode_version(&encoded)?;
        let seen = current.as_ref() == Some(&key);
        if seen || mod_revision > revision {
            skipped += 1;
            if skipped >= VERSION_STEPS_BEFORE_SEEK {
                skipped = 0;
                // Past every version of a key already visited (revision 0 sorts last), or to
                // this key's newest version at `revision`.
                let from = if seen {
                    Bound::Excluded(encode_version(&key, 0))
                } else {
                    Bound::Included(encode_version(&key, revision))
                };
                items = engine.scan(Keyspace::Mvcc, from, end.clone(), false);
            }
            continue;
        }
        skipped = 0;
        current = Some(key.clone());
        if let Some(kv) = Record::decode(&value)?.into_key_value(key, mod_revision) {
            if !visit(kv) {
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Adds a new version of `key` to `batch`: to its history, as its newest version, and, when
/// it makes an older version garbage-to-be (`supersedes`: the key had a live version) or is a
/// tombstone (garbage itself once compacted), to the garbage index that the collector follows
/// (see [`crate::gc`]).
pub fn write(batch: &mut WriteBatch, key: &[u8], revision: i64, record: &Record, supersedes: bool) {
    batch.put(Keyspace::Mvcc, encode_version(key, revision), record.encode());
    batch.put(Keyspace::MvccLatest, key.to_vec(), encode_latest(revision, record));
    if supersedes || *record == Record::Tombstone {
        batch.put(Keyspace::MvccGarbage, encode_garbage(revision, key), Vec::new());
    }
}

/// Encodes an entry of the garbage index: the revision (8 bytes BE, so entries sort by
/// revision), then the user key.
pub fn encode_garbage(revision: i64, key: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + key.len());
    out.extend_from_slice(&revision.to_be_bytes());
    out.extend_from_slice(key);
    out
}

/// Parses an entry written by [`encode_garbage`].
pub fn decode_garbage(bytes: &[u8]) -> Result<(i64, Vec<u8>)> {
    let (revision, key) =
        bytes.split_first_chunk::<8>().ok_or_else(|| Error::Corrupt("truncated MVCC garbage entry".into()))?;
    Ok((i64::from_be_bytes(*revision), key.to_vec()))
}

/// Builds the state that follows from the history alone (`MvccLatest` and `MvccGarbage`)
/// from versions fed in key order, newest first within a key, as a scan or a snapshot holds
/// them: what [`write`] would have added had the history been written through it.
#[derive(Default)]
pub struct Derived {
    /// The last version fed: (user key, revision, is a tombstone).
    last: Option<(Vec<u8>, i64, bool)>,
}

impl Derived {
    /// Feeds the next version, adding what it implies to `batch`.
    pub fn feed(&mut self, encoded: &[u8], value: &[u8], batch: &mut WriteBatch) -> Result<()> {
        let (key, revision) = decode_version(encoded)?;
        let record = Record::decode(value)?;
        let tombstone = record == Record::Tombstone;
        let same_key = self.last.as_ref().is_some_and(|(last, _, _)| *last == key);
        if same_key {
            // The version fed before, of this key, superseded this one.
            if let Some((last, last_revision, _)) = &self.last {
                batch.put(Keyspace::MvccGarbage, encode_garbage(*last_revision, last), Vec::new());
            }
        } else {
            self.end_key(batch);
            batch.put(Keyspace::MvccLatest, key.clone(), encode_latest(revision, &record));
        }
        self.last = Some((key, revision, tombstone));
        Ok(())
    }

    /// Ends the input: the oldest version of the last key is in the index only if a tombstone.
    pub fn finish(mut self, batch: &mut WriteBatch) {
        self.end_key(batch);
    }

    fn end_key(&mut self, batch: &mut WriteBatch) {
        if let Some((key, revision, true)) = self.last.take() {
            batch.put(Keyspace::MvccGarbage, encode_garbage(revision, &key), Vec::new());
        }
    }
}

/// Marks a node's data as having `MvccLatest` and `MvccGarbage` filled (a `Meta` key).
const DERIVED_BUILT: &[u8] = b"mvcc_derived_built";

/// Data written before `MvccLatest` and `MvccGarbage` existed has only history: fills them
/// once, from the history (a node's first start on such data; a no-op after that).
pub fn ensure_derived(engine: &dyn Engine) -> Result<()> {
    // Entries per write batch while filling.
    const BATCH_KEYS: usize = 10_000;
    if engine.get(Keyspace::Meta, DERIVED_BUILT)?.is_some() {
        return Ok(());
    }
    let mut batch = WriteBatch::new();
    let mut derived = Derived::default();
    for item in engine.scan(Keyspace::Mvcc, Bound::Unbounded, Bound::Unbounded, false) {
        let (encoded, value) = item?;
        derived.feed(&encoded, &value, &mut batch)?;
        if batch.len() >= BATCH_KEYS {
            engine.write(std::mem::take(&mut batch), false)?;
        }
    }
    derived.finish(&mut batch);
    batch.put(Keyspace::Meta, DERIVED_BUILT.to_vec(), vec![1]);
    Ok(engine.write(batch, true)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_storage::MemoryEngine;

    fn put(engine: &MemoryEngine, key: &[u8], revision: i64, value: &[u8]) {
        let mut batch = WriteBatch::new();
        let record = Record::Put { create_revision: revision, version: 1, lease: 0, value: value.to_vec() };
        write(&mut batch, key, revision, &record, true);
        engine.write(batch, false).expect("write");
    }

    fn delete(engine: &MemoryEngine, key: &[u8], revision: i64) {
        let mut batch = WriteBatch::new();
        write(&mut batch, key, revision, &Record::Tombstone, true);
        engine.write(batch, false).expect("write");
    }

    fn keys_at(engine: &MemoryEngine, revision: i64, reverse: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mut out = Vec::new();
        let span = Span { start: vec![], end: None };
        scan(engine, &span, revision, reverse, &mut |kv| {
            out.push((kv.key, kv.value));
            true
        })
        .expect("scan");
        out
    }

    #[test]
    fn encoding_preserves_order_and_roundtrips() {
        let keys: [&[u8]; 5] = [b"", b"\0", b"\0\0", b"a", b"a\0b"];
        for pair in keys.windows(2) {
            assert!(encode_version(pair[0], 1) < encode_version(pair[1], 1), "{pair:?}");
        }
        for key in keys {
            assert_eq!(decode_version(&encode_version(key, 42)).expect("decode"), (key.to_vec(), 42));
        }
        assert!(encode_version(b"k", 9) < encode_version(b"k", 3), "newest version sorts first");
        assert!(decode_version(b"abc").is_err());
    }

    #[test]
    fn reads_see_the_version_at_their_revision() {
        let engine = MemoryEngine::new();
        put(&engine, b"a", 2, b"a2");
        put(&engine, b"b", 3, b"b3");
        put(&engine, b"a", 4, b"a4");
        delete(&engine, b"b", 5);
        assert_eq!(get(&engine, b"a", 1).expect("get"), None);
        assert_eq!(get(&engine, b"a", 3).expect("get").map(|kv| kv.value), Some(b"a2".to_vec()));
        assert_eq!(get(&engine, b"a", 9).expect("get").map(|kv| kv.mod_revision), Some(4));
        assert_eq!(get(&engine, b"b", 4).expect("get").map(|kv| kv.value), Some(b"b3".to_vec()));
        assert_eq!(get(&engine, b"b", 5).expect("get"), None);
        assert_eq!(keys_at(&engine, 3, false), vec![(b"a".to_vec(), b"a2".to_vec()), (b"b".to_vec(), b"b3".to_vec())]);
        assert_eq!(keys_at(&engine, 3, true), vec![(b"b".to_vec(), b"b3".to_vec()), (b"a".to_vec(), b"a2".to_vec())]);
        assert_eq!(keys_at(&engine, 5, true), vec![(b"a".to_vec(), b"a4".to_vec())]);
    }

    /// An engine that counts the items its scans yield.
    struct Counting {
        inner: MemoryEngine,
        items: std::sync::atomic::AtomicUsize,
    }

    impl Engine for Counting {
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
            let items = &self.items;
            Box::new(self.inner.scan(keyspace, start, end, reverse).inspect(move |_| {
                items.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }))
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
    fn scans_of_keys_with_many_versions_seek_past_them_and_still_see_their_revision() {
        // Keys a, b, c, d updated in turn for 400 revisions; b deleted at 200 and put again at 300.
        let engine = Counting { inner: MemoryEngine::new(), items: Default::default() };
        let keys: [&[u8]; 4] = [b"a", b"b", b"c", b"d"];
        let mut model: Vec<std::collections::BTreeMap<Vec<u8>, Vec<u8>>> = vec![Default::default()];
        for revision in 1..=400i64 {
            let key = keys[revision as usize % keys.len()];
            let mut state = model.last().cloned().unwrap_or_default();
            if key == b"b" && (200..300).contains(&revision) {
                delete(&engine.inner, key, revision);
                state.remove(key);
            } else {
                let value = format!("{revision}").into_bytes();
                put(&engine.inner, key, revision, &value);
                state.insert(key.to_vec(), value);
            }
            model.push(state);
        }
        let all = Span { start: vec![], end: None };
        for revision in [1, 2, 5, 150, 201, 250, 299, 333, 400, 9999] {
            let expected: Vec<(Vec<u8>, Vec<u8>)> = model[revision.min(400) as usize].clone().into_iter().collect();
            for reverse in [false, true] {
                let mut seen = Vec::new();
                scan(&engine, &all, revision, reverse, &mut |kv| {
                    seen.push((kv.key, kv.value));
                    true
                })
                .expect("scan");
                let mut expected = expected.clone();
                if reverse {
                    expected.reverse();
                }
                assert_eq!(seen, expected, "revision {revision}, reverse {reverse}");
            }
            for key in keys {
                let span = Span::from_etcd(key, b"");
                let mut seen = None;
                scan(&engine, &span, revision, false, &mut |kv| {
                    seen = Some(kv.value);
                    true
                })
                .expect("point scan");
                assert_eq!(seen.as_ref(), model[revision.min(400) as usize].get(key), "{key:?} at {revision}");
            }
        }
        // Forward, the 400 versions cost a few steps per key, not one per version.
        engine.items.store(0, std::sync::atomic::Ordering::Relaxed);
        scan(&engine, &all, 250, false, &mut |_| true).expect("scan");
        let stepped = engine.items.load(std::sync::atomic::Ordering::Relaxed);
        assert!(stepped <= 4 * (2 * VERSION_STEPS_BEFORE_SEEK + 1), "{stepped} versions stepped over");
        engine.items.store(0, std::sync::atomic::Ordering::Relaxed);
        scan(&engine, &Span::from_etcd(b"c", b""), 250, false, &mut |_| true).expect("scan");
        assert_eq!(engine.items.load(std::sync::atomic::Ordering::Relaxed), 1, "a point read is one step");
    }

    #[test]
    fn data_with_history_only_gets_its_derived_state_once() {
        let engine = MemoryEngine::new();
        let mut batch = WriteBatch::new();
        let record = |v: &[u8]| Record::Put { create_revision: 2, version: 1, lease: 0, value: v.to_vec() };
        batch.put(Keyspace::Mvcc, encode_version(b"a", 2), record(b"a2").encode());
        batch.put(Keyspace::Mvcc, encode_version(b"a", 4), record(b"a4").encode());
        batch.put(Keyspace::Mvcc, encode_version(b"b", 3), Record::Tombstone.encode());
        batch.put(Keyspace::Mvcc, encode_version(b"c", 5), record(b"c5").encode());
        engine.write(batch, false).expect("write");
        assert_eq!(get(&engine, b"a", 9).expect("get"), None, "without the index nothing is found");
        ensure_derived(&engine).expect("fill");
        assert_eq!(
            get(&engine, b"a", 9).expect("get").map(|kv| (kv.value, kv.mod_revision)),
            Some((b"a4".to_vec(), 4))
        );
        assert_eq!(get(&engine, b"a", 3).expect("get").map(|kv| kv.value), Some(b"a2".to_vec()));
        assert_eq!(latest(&engine, b"b").expect("latest"), Some((3, Record::Tombstone)));
        // The garbage index names a@4 (it superseded a@2) and the tombstone b@3; c has one put.
        let garbage: Vec<(i64, Vec<u8>)> = engine
            .scan(Keyspace::MvccGarbage, Bound::Unbounded, Bound::Unbounded, false)
            .map(|item| decode_garbage(&item.expect("item").0).expect("entry"))
            .collect();
        assert_eq!(garbage, vec![(3, b"b".to_vec()), (4, b"a".to_vec())]);
        // Once filled, it is never filled again (writes keep it current from then on).
        let mut batch = WriteBatch::new();
        batch.delete(Keyspace::MvccLatest, b"a".to_vec());
        engine.write(batch, false).expect("write");
        ensure_derived(&engine).expect("no-op");
        assert_eq!(latest(&engine, b"a").expect("latest"), None);
    }

    #[test]
    fn writes_index_what_they_supersede_and_every_tombstone() {
        let record = Record::Put { create_revision: 2, version: 1, lease: 0, value: b"v".to_vec() };
        let entries = |supersedes: bool, record: &Record| {
            let mut batch = WriteBatch::new();
            write(&mut batch, b"k", 7, record, supersedes);
            let engine = MemoryEngine::new();
            engine.write(batch, false).expect("write");
            engine.scan(Keyspace::MvccGarbage, Bound::Unbounded, Bound::Unbounded, false).count()
        };
        assert_eq!(entries(false, &record), 0, "a new key leaves no garbage");
        assert_eq!(entries(true, &record), 1);
        assert_eq!(entries(false, &Record::Tombstone), 1);
        assert_eq!(decode_garbage(&encode_garbage(7, b"k")).expect("decode"), (7, b"k".to_vec()));
        assert!(decode_garbage(b"short").is_err());
    }
}
