//! An in-memory [`Engine`] for tests: one ordered map per keyspace behind a lock.

use super::{Engine, EngineSnapshot, Keyspace, KvPair, Result, ScanIter, WriteBatch};
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::RwLock;

/// An [`Engine`] that keeps everything in memory. `sync` is a no-op: nothing survives the
/// process, which is exactly what unit tests and simulations want.
#[derive(Default)]
pub struct MemoryEngine {
    maps: RwLock<[BTreeMap<Vec<u8>, Vec<u8>>; 7]>,
}

impl MemoryEngine {
    /// An empty engine.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Engine for MemoryEngine {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let maps = self.maps.read().unwrap_or_else(|poison| poison.into_inner());
        Ok(maps[keyspace.index()].get(key).cloned())
    }

    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> ScanIter<'_> {
        let maps = self.maps.read().unwrap_or_else(|poison| poison.into_inner());
        if let (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) = (&start, &end) {
            if s > e {
                return Box::new(std::iter::empty());
            }
        }
        let range = maps[keyspace.index()].range((start, end));
        let items: Vec<Result<KvPair>> = if reverse {
            range.rev().map(|(k, v)| Ok((k.clone(), v.clone()))).collect()
        } else {
            range.map(|(k, v)| Ok((k.clone(), v.clone()))).collect()
        };
        Box::new(items.into_iter())
    }

    fn write(&self, batch: WriteBatch, _sync: bool) -> Result<()> {
        let mut maps = self.maps.write().unwrap_or_else(|poison| poison.into_inner());
        for op in batch.ops {
            let map = &mut maps[op.keyspace.index()];
            match op.value {
                Some(value) => map.insert(op.key, value),
                None => map.remove(&op.key),
            };
        }
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        let maps = self.maps.read().unwrap_or_else(|poison| poison.into_inner());
        maps.iter().flat_map(|m| m.iter()).map(|(k, v)| (k.len() + v.len()) as u64).sum()
    }

    fn snapshot(&self) -> Box<dyn EngineSnapshot> {
        // A copy: fine for the small data sets of unit tests.
        let maps = self.maps.read().unwrap_or_else(|poison| poison.into_inner()).clone();
        Box::new(MemoryEngine { maps: RwLock::new(maps) })
    }
}

impl EngineSnapshot for MemoryEngine {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Engine::get(self, keyspace, key)
    }

    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> ScanIter<'_> {
        Engine::scan(self, keyspace, start, end, false)
    }
}
