//! The fjall-backed [`Engine`].

use super::{Engine, EngineSnapshot, Error, Keyspace, Result, ScanIter, WriteBatch};
use fjall::Readable as _;
use std::collections::HashSet;
use std::ops::Bound;
use std::path::Path;

/// An [`Engine`] on fjall. The journal is persisted only when a write asks for `sync`, so that
/// the store loop can group many ranges' Raft writes under one fsync.
pub struct FjallEngine {
    db: fjall::Database,
    keyspaces: Vec<fjall::Keyspace>,
}

impl FjallEngine {
    /// Opens (or creates) the engine in `dir`, with a block cache of `cache_bytes`.
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<Self> {
        let db = fjall::Database::builder(dir)
            .manual_journal_persist(true)
            .cache_size(cache_bytes)
            .open()
            .map_err(|e| Error::Io(format!("opening {}: {e}", dir.display())))?;
        let keyspaces = Keyspace::ALL
            .iter()
            .map(|ks| db.keyspace(ks.name(), fjall::KeyspaceCreateOptions::default))
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(io_error)?;
        Ok(Self { db, keyspaces })
    }

    fn handle(&self, keyspace: Keyspace) -> &fjall::Keyspace {
        &self.keyspaces[keyspace.index()]
    }
}

fn io_error(e: fjall::Error) -> Error {
    Error::Io(e.to_string())
}

impl Engine for FjallEngine {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = self.handle(keyspace).get(key).map_err(io_error)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> ScanIter<'_> {
        if let (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) = (&start, &end) {
            if s > e {
                return Box::new(std::iter::empty());
            }
        }
        let iter = self.handle(keyspace).range::<Vec<u8>, _>((start, end));
        let convert = |guard: fjall::Guard| guard.into_inner().map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io_error);
        if reverse {
            Box::new(iter.rev().map(convert))
        } else {
            Box::new(iter.map(convert))
        }
    }

    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()> {
        if !batch.is_empty() {
            // All writes of a fjall batch share one sequence number, so two writes of the same
            // key in one batch would race; keep only the last one, as the batch's order says.
            // The keys are borrowed, not cloned: a large SQL commit writes millions of them.
            let ops = batch.ops;
            let mut keep = vec![true; ops.len()];
            if ops.len() > 1 {
                let mut seen = HashSet::with_capacity(ops.len());
                for (i, op) in ops.iter().enumerate().rev() {
                    keep[i] = seen.insert((op.keyspace, op.key.as_slice()));
                }
            }
            let mut fjall_batch = self.db.batch();
            for (op, keep) in ops.into_iter().zip(keep) {
                if !keep {
                    continue;
                }
                let handle = self.handle(op.keyspace);
                match op.value {
                    Some(value) => fjall_batch.insert(handle, op.key, value),
                    None => fjall_batch.remove(handle, op.key),
                }
            }
            fjall_batch.commit().map_err(io_error)?;
        }
        if sync {
            self.db.persist(fjall::PersistMode::SyncAll).map_err(io_error)?;
        }
        Ok(())
    }

    fn size_bytes(&self) -> u64 {
        self.db.disk_space().unwrap_or(0)
    }

    fn snapshot(&self) -> Box<dyn EngineSnapshot> {
        Box::new(FjallSnapshot { snapshot: self.db.snapshot(), keyspaces: self.keyspaces.clone() })
    }
}

/// fjall's cross-keyspace snapshot (a sequence number) with handles to the keyspaces.
struct FjallSnapshot {
    snapshot: fjall::Snapshot,
    keyspaces: Vec<fjall::Keyspace>,
}

impl EngineSnapshot for FjallSnapshot {
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let value = self.snapshot.get(&self.keyspaces[keyspace.index()], key).map_err(io_error)?;
        Ok(value.map(|v| v.to_vec()))
    }

    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> ScanIter<'_> {
        if let (Bound::Included(s) | Bound::Excluded(s), Bound::Included(e) | Bound::Excluded(e)) = (&start, &end) {
            if s > e {
                return Box::new(std::iter::empty());
            }
        }
        let iter = self.snapshot.range::<Vec<u8>, _>(&self.keyspaces[keyspace.index()], (start, end));
        Box::new(iter.map(|guard| guard.into_inner().map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io_error)))
    }
}
