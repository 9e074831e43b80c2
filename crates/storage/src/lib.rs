//! The node-local storage engine.
//!
//! Everything a node keeps on disk goes through the [`Engine`] trait: the Raft log and hard
//! state of every range, each range's applied state, and the MVCC data. The trait is narrow on
//! purpose (point get, ordered scan, atomic multi-keyspace write batch, fsync) so that another
//! engine (RocksDB behind a cargo feature, say) can be added without touching the layers above.
//!
//! Two implementations:
//! * [`FjallEngine`]: `fjall`, a pure-Rust LSM tree. One fjall keyspace per [`Keyspace`]; a
//!   [`WriteBatch`] is one fjall batch, atomic across keyspaces; `sync = true` persists the
//!   journal with fsync before returning, which is what "durable" means everywhere in Atoll.
//! * [`MemoryEngine`]: ordered maps in memory, for unit tests and, later, simulation.
//!
//! What fjall lacks compared with RocksDB, and how we design around it: there is no range
//! delete, so truncating a Raft log or clearing a range on snapshot deletes keys one by one in
//! one batch (bounded by the log retention limit); there is no ingestion of prebuilt files, so a
//! snapshot is applied as a sequence of ordinary write batches (the replication layer keeps a
//! durable "restoring" marker so that a crash midway redoes the whole install).
//!
//! [`EncryptedEngine`] wraps either to seal every value with AES-256-GCM (encryption at rest,
//! see [`encryption`]).
//!
//! [`Engine::snapshot`] gives a consistent point-in-time view of every keyspace (fjall's
//! cross-keyspace snapshot: a sequence number, no copy), which a range snapshot is streamed
//! from on another thread while the store loop goes on writing.

pub mod encryption;
mod fjall_engine;
mod memory;

pub use encryption::{Cipher, EncryptedEngine};
pub use fjall_engine::FjallEngine;
pub use memory::MemoryEngine;

use std::ops::Bound;

/// The separate key spaces a node stores. Each maps to its own LSM tree (or map), so that a
/// scan of one never walks over another's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Keyspace {
    /// Node identity: node id, cluster id.
    Meta,
    /// Raft log entries: range id (8 bytes BE) + log index (8 bytes BE).
    RaftLog,
    /// Raft hard state, conf state and truncated state, per range.
    RaftState,
    /// Each range's applied state: applied index, revision, descriptor, membership table.
    RangeState,
    /// Versioned user data (see `atoll-kv`'s `mvcc` module for the key layout).
    Mvcc,
    /// The newest version of each user key, under the plain key, so that a read at the
    /// latest revision is one point lookup (bloom filters) instead of a range seek.
    MvccLatest,
    /// Where MVCC garbage may be: `revision ++ user_key` for every version that superseded an
    /// older one, and every tombstone, so that garbage collection visits only those keys.
    MvccGarbage,
}

impl Keyspace {
    /// Every keyspace, in a fixed order.
    pub const ALL: [Keyspace; 7] = [
        Keyspace::Meta,
        Keyspace::RaftLog,
        Keyspace::RaftState,
        Keyspace::RangeState,
        Keyspace::Mvcc,
        Keyspace::MvccLatest,
        Keyspace::MvccGarbage,
    ];

    /// The on-disk name of the keyspace.
    pub fn name(self) -> &'static str {
        match self {
            Keyspace::Meta => "meta",
            Keyspace::RaftLog => "raft_log",
            Keyspace::RaftState => "raft_state",
            Keyspace::RangeState => "range_state",
            Keyspace::Mvcc => "mvcc",
            Keyspace::MvccLatest => "mvcc_latest",
            Keyspace::MvccGarbage => "mvcc_garbage",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Errors from the engine. All of them are operating errors (disk, corruption): the caller
/// decides whether the node can go on.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("storage I/O error: {0}")]
    Io(String),
    #[error("storage corruption: {0}")]
    Corrupt(String),
}

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// One write: a put (`Some(value)`) or a delete (`None`).
#[derive(Clone, Debug)]
pub struct WriteOp {
    pub keyspace: Keyspace,
    pub key: Vec<u8>,
    pub value: Option<Vec<u8>>,
}

/// A set of writes applied atomically: after a crash either all of them are visible or none.
#[derive(Clone, Debug, Default)]
pub struct WriteBatch {
    ops: Vec<WriteOp>,
    bytes: usize,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty batch with room for `ops` writes.
    pub fn with_capacity(ops: usize) -> Self {
        WriteBatch { ops: Vec::with_capacity(ops), bytes: 0 }
    }

    /// Adds a put.
    pub fn put(&mut self, keyspace: Keyspace, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        let (key, value) = (key.into(), value.into());
        self.bytes += key.len() + value.len();
        self.ops.push(WriteOp { keyspace, key, value: Some(value) });
    }

    /// Adds a delete.
    pub fn delete(&mut self, keyspace: Keyspace, key: impl Into<Vec<u8>>) {
        let key = key.into();
        self.bytes += key.len();
        self.ops.push(WriteOp { keyspace, key, value: None });
    }

    /// Moves every write of `other` to the end of this batch.
    pub fn append(&mut self, other: &mut WriteBatch) {
        self.bytes += other.bytes;
        self.ops.append(&mut other.ops);
        other.bytes = 0;
    }

    /// Number of writes.
    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// Whether the batch has no writes.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// Sum of key and value sizes.
    pub fn size_bytes(&self) -> usize {
        self.bytes
    }

    /// The writes, in order.
    pub fn ops(&self) -> &[WriteOp] {
        &self.ops
    }
}

/// A key-value pair read from the engine.
pub type KvPair = (Vec<u8>, Vec<u8>);

/// An ordered iterator over a key span of one keyspace.
pub type ScanIter<'a> = Box<dyn Iterator<Item = Result<KvPair>> + Send + 'a>;

/// A node's durable, ordered key-value store with atomic multi-keyspace batches.
pub trait Engine: Send + Sync + 'static {
    /// Reads one key.
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Iterates `[start, end)` in key order (or reverse order when `reverse`).
    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>, reverse: bool) -> ScanIter<'_>;

    /// Applies a batch atomically. With `sync`, the batch (and everything written before it)
    /// is on disk (fsync) when this returns.
    fn write(&self, batch: WriteBatch, sync: bool) -> Result<()>;

    /// Approximate bytes on disk (or in memory), for metrics and status.
    fn size_bytes(&self) -> u64;

    /// A consistent view of every keyspace as of now: later writes are not visible through it.
    /// Cheap to take; old versions are kept on disk while it lives, so drop it soon.
    fn snapshot(&self) -> Box<dyn EngineSnapshot>;

    /// The cipher values are sealed with, on an encrypted store ([`encryption`]): what other
    /// files of the node's data (received snapshots) are sealed with too.
    fn cipher(&self) -> Option<std::sync::Arc<Cipher>> {
        None
    }
}

/// A read-only, point-in-time view of an [`Engine`] (see [`Engine::snapshot`]). It owns what
/// it needs, so it can be read on another thread than the one that took it.
pub trait EngineSnapshot: Send + Sync + 'static {
    /// Reads one key as of the snapshot.
    fn get(&self, keyspace: Keyspace, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Iterates `[start, end)` in key order as of the snapshot.
    fn scan(&self, keyspace: Keyspace, start: Bound<Vec<u8>>, end: Bound<Vec<u8>>) -> ScanIter<'_>;
}

/// Iterates all keys starting with `prefix`.
pub fn scan_prefix<'a>(engine: &'a dyn Engine, keyspace: Keyspace, prefix: &[u8]) -> ScanIter<'a> {
    let start = Bound::Included(prefix.to_vec());
    let end = match atoll_types::keys::prefix_end(prefix) {
        end if end == [0] => Bound::Unbounded,
        end => Bound::Excluded(end),
    };
    engine.scan(keyspace, start, end, false)
}

#[cfg(test)]
mod tests;
