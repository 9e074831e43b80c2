//! The transaction API: begin / get / put / delete / scan / commit / rollback.
//!
//! A [`Transaction`] reads a consistent snapshot (the revision current when it began) and
//! buffers its writes. `commit` sends one etcd Txn whose compares say "nothing I read or am
//! about to overwrite changed after my snapshot" and whose success branch holds the writes. The
//! state machine evaluates the compares and applies the writes atomically in Raft log order,
//! so committed transactions are serializable in commit order (optimistic concurrency control
//! with backward validation); a failed validation is [`Error::Conflict`], which the caller
//! retries with a new transaction. Including written keys in the validation also makes
//! concurrent writers of the same key conflict (first committer wins).
//!
//! The client is anything that can run a Txn and a Range ([`KvClient`]): the node itself for
//! SQL, or a remote etcd endpoint.

use crate::error::messages;
use crate::locks::Locks;
use crate::{Error, Result};
use atoll_proto::atoll::{AbortStaged, CommitStaged, StagedPart};
use atoll_proto::etcdserverpb::{
    compare, request_op, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest,
    TxnResponse,
};
use atoll_types::keys::Span;
use atoll_types::limits::{STAGED_TXN_BYTES_MAX, STAGED_TXN_OPS_MAX, STAGED_TXN_TTL_MS, TXN_OPS_MAX};
use prost::Message;
use std::collections::BTreeMap;
use std::future::Future;

/// Up to this many scanned spans, a write inside one of them is left to the span's compare
/// (checking each write against more spans would cost more than the compares it saves).
const SCANS_CHECKED_MAX: usize = 16;

/// What a transaction needs from the KV service.
pub trait KvClient: Send + Sync {
    /// Runs an etcd Txn through consensus.
    fn txn(&self, request: TxnRequest) -> impl Future<Output = Result<TxnResponse>> + Send;
    /// Runs an etcd Range (linearizable unless `serializable` is set).
    fn range(&self, request: RangeRequest) -> impl Future<Output = Result<RangeResponse>> + Send;
    /// Runs one step of a commit staged in parts (see [`crate::staged`]). A client that cannot
    /// (a remote etcd endpoint) keeps this default, which refuses, and never gets asked: only
    /// transactions opened [`Transaction::with_staging`] stage.
    fn staged(&self, step: Staged) -> impl Future<Output = Result<TxnResponse>> + Send {
        async move {
            let _ = step;
            Err(Error::InvalidArgument("transaction too large: this client cannot stage commits".into()))
        }
    }
}

/// One step of a commit staged in parts.
#[derive(Debug, Clone)]
pub enum Staged {
    Part(StagedPart),
    Commit(CommitStaged),
    Abort(AbortStaged),
}

impl<T: KvClient> KvClient for &T {
    fn txn(&self, request: TxnRequest) -> impl Future<Output = Result<TxnResponse>> + Send {
        (**self).txn(request)
    }
    fn range(&self, request: RangeRequest) -> impl Future<Output = Result<RangeResponse>> + Send {
        (**self).range(request)
    }
    fn staged(&self, step: Staged) -> impl Future<Output = Result<TxnResponse>> + Send {
        (**self).staged(step)
    }
}

impl<T: KvClient> KvClient for std::sync::Arc<T> {
    fn txn(&self, request: TxnRequest) -> impl Future<Output = Result<TxnResponse>> + Send {
        (**self).txn(request)
    }
    fn range(&self, request: RangeRequest) -> impl Future<Output = Result<RangeResponse>> + Send {
        (**self).range(request)
    }
    fn staged(&self, step: Staged) -> impl Future<Output = Result<TxnResponse>> + Send {
        (**self).staged(step)
    }
}

/// An open transaction. Dropping it without `commit` rolls it back (nothing was written).
/// The writes of a transaction at one point, see [`Transaction::savepoint`].
#[derive(Debug, Clone)]
pub struct Savepoint {
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
}

pub struct Transaction<C: KvClient> {
    client: C,
    /// Bound on the commit's compares and writes (the client's Txn limit).
    ops_max: usize,
    read_revision: i64,
    /// Keys read, with the mod revision seen (0: absent).
    reads: BTreeMap<Vec<u8>, i64>,
    /// Spans scanned.
    scans: Vec<Span>,
    /// Buffered writes: `Some(value)` puts, `None` deletes.
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Largest encoded part when the commit is too large for one Txn; `None`: never stage.
    part_bytes_max: Option<usize>,
    /// Write locks held on this node (see [`crate::locks`]); released when the transaction is
    /// dropped, which `commit` does only after the commit is applied here.
    locks: Option<Locks>,
}

impl<C: KvClient> Transaction<C> {
    /// Starts a transaction at the latest committed revision (a linearizable read) of the
    /// range that owns the key `\0` (the etcd keyspace's).
    pub async fn begin(client: C) -> Result<Self> {
        Self::begin_in(client, vec![0]).await
    }

    /// Starts a transaction at the latest committed revision of the range that owns
    /// `probe_key`. Revisions are counted per range until the cluster timestamp oracle
    /// (issue 16): a transaction must read and write only keys of that range.
    pub async fn begin_in(client: C, probe_key: Vec<u8>) -> Result<Self> {
        let probe = RangeRequest { key: probe_key, count_only: true, ..Default::default() };
        let response = client.range(probe).await?;
        let read_revision = response.header.map(|h| h.revision).unwrap_or(0);
        Ok(Transaction {
            client,
            ops_max: TXN_OPS_MAX,
            read_revision,
            reads: BTreeMap::new(),
            scans: Vec::new(),
            writes: BTreeMap::new(),
            locks: None,
            part_bytes_max: None,
        })
    }

    /// Lets a commit too large for one Txn (over `part_bytes_max` encoded, or over the
    /// client's operation limit) go to the range in parts of at most `part_bytes_max`, which a
    /// final small command applies atomically (see [`crate::staged`]). The client must
    /// implement [`KvClient::staged`].
    pub fn with_staging(mut self, part_bytes_max: usize) -> Self {
        self.part_bytes_max = Some(part_bytes_max);
        self
    }

    /// Lets the transaction take write locks in the node's lock table, so that
    /// [`Self::get_for_update`] waits for other writers instead of conflicting with them.
    pub fn with_locks(mut self, locks: Locks) -> Self {
        self.locks = Some(locks);
        self
    }

    /// Takes the write lock on `key` (waiting while another transaction holds it), if the
    /// transaction has a lock table. Validation at commit still checks the key as before.
    pub async fn lock(&mut self, key: &[u8]) -> Result<()> {
        if let Some(locks) = self.locks.as_mut() {
            locks.acquire(key).await?;
        }
        Ok(())
    }

    /// Reads a key the transaction is about to write: locks it, then reads its latest
    /// committed version instead of the snapshot's, so that the commit builds on the last
    /// writer's value rather than conflicting with it. Validation at commit checks that the
    /// version read is still the latest, so mixing this read with snapshot reads is still
    /// serializable (at the commit's revision). Without a lock table, or past
    /// its per-transaction limit, this is [`Self::get`].
    pub async fn get_for_update(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if key.is_empty() {
            return Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
        }
        let Some(locks) = self.locks.as_mut() else { return self.get(key).await };
        if !locks.acquire(key).await? {
            return self.get(key).await;
        }
        if let Some(written) = self.writes.get(key) {
            return Ok(written.clone());
        }
        // Revision 0 on this node's replica: the latest applied, which includes the commit of
        // the lock's previous holder (its commit returned only after it was applied here).
        let latest = RangeRequest { key: key.to_vec(), serializable: true, ..Default::default() };
        let response = self.client.range(latest).await?;
        let kv = response.kvs.into_iter().next();
        let latest = kv.as_ref().map_or(0, |kv| kv.mod_revision);
        // An earlier read of the same key saw another version: what the transaction did with
        // that value cannot be squared with this one.
        if self.reads.get(key).is_some_and(|seen| *seen != latest) {
            return Err(Error::Conflict);
        }
        self.reads.insert(key.to_vec(), latest);
        Ok(kv.map(|kv| kv.value))
    }

    /// Raises the bound on the commit's compares and writes, for clients whose Txn allows more
    /// than etcd's 128 operations (the node's own, for SQL).
    pub fn with_ops_max(mut self, ops_max: usize) -> Self {
        self.ops_max = ops_max;
        self
    }

    /// Whether the transaction has buffered writes.
    pub fn has_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    /// The revision this transaction reads at.
    pub fn read_revision(&self) -> i64 {
        self.read_revision
    }

    fn snapshot_range(&self, key: Vec<u8>, range_end: Vec<u8>, limit: i64) -> RangeRequest {
        RangeRequest { key, range_end, limit, revision: self.read_revision, serializable: true, ..Default::default() }
    }

    /// Reads one key: the transaction's own write if it made one, else the snapshot.
    pub async fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        if key.is_empty() {
            return Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
        }
        if let Some(written) = self.writes.get(key) {
            return Ok(written.clone());
        }
        let response = self.client.range(self.snapshot_range(key.to_vec(), vec![], 0)).await?;
        let kv = response.kvs.into_iter().next();
        self.reads.insert(key.to_vec(), kv.as_ref().map_or(0, |kv| kv.mod_revision));
        Ok(kv.map(|kv| kv.value))
    }

    /// Reads the keys in `[start, end)` (`end` empty: to the end of the key space), merged
    /// with the transaction's own writes, in key order, at most `limit` (0: no limit).
    pub async fn scan(&mut self, start: &[u8], end: &[u8], limit: usize) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let range_end = if end.is_empty() { vec![0] } else { end.to_vec() };
        let start = if start.is_empty() { vec![0] } else { start.to_vec() };
        let span = Span::from_etcd(&start, &range_end);
        let response = self.client.range(self.snapshot_range(start.clone(), range_end, 0)).await?;
        let mut merged: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for kv in response.kvs {
            self.reads.insert(kv.key.clone(), kv.mod_revision);
            merged.insert(kv.key, kv.value);
        }
        for (key, write) in self.writes.range::<[u8], _>(span.bounds()) {
            match write {
                Some(value) => merged.insert(key.clone(), value.clone()),
                None => merged.remove(key),
            };
        }
        self.scans.push(span);
        let limit = if limit == 0 { usize::MAX } else { limit };
        Ok(merged.into_iter().take(limit).collect())
    }

    /// Buffers a put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
        }
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    /// Buffers a delete.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        if key.is_empty() {
            return Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
        }
        self.writes.insert(key.to_vec(), None);
        Ok(())
    }

    /// The buffered writes as they are now, to return to with [`Self::rollback_to`] (a SQL
    /// SAVEPOINT).
    pub fn savepoint(&self) -> Savepoint {
        Savepoint { writes: self.writes.clone() }
    }

    /// Undoes every write buffered since `savepoint`. Reads made since stay in the read set:
    /// the commit still validates them, which can only add conflicts, never miss one.
    pub fn rollback_to(&mut self, savepoint: &Savepoint) {
        self.writes = savepoint.writes.clone();
    }

    /// Discards the transaction.
    pub fn rollback(self) {}

    /// Commits the writes if nothing read or written changed since the snapshot. Returns the
    /// revision at which the transaction's effects are visible.
    pub async fn commit(self) -> Result<i64> {
        if self.writes.is_empty() {
            return Ok(self.read_revision);
        }
        let ops_max = if self.part_bytes_max.is_some() { STAGED_TXN_OPS_MAX } else { self.ops_max };
        let request = self.commit_request(ops_max)?;
        let fits_one_txn = request.compare.len() <= self.ops_max && request.success.len() <= self.ops_max;
        let response = match self.part_bytes_max {
            Some(part_bytes) if !fits_one_txn || request.encoded_len() > part_bytes => {
                commit_in_parts(&self.client, request, part_bytes).await?
            }
            _ => self.client.txn(request).await?,
        };
        if !response.succeeded {
            return Err(Error::Conflict);
        }
        Ok(response.header.map(|h| h.revision).unwrap_or(0))
    }

    fn commit_request(&self, ops_max: usize) -> Result<TxnRequest> {
        let unchanged_since_snapshot = |key: &[u8], range_end: Vec<u8>| Compare {
            result: compare::CompareResult::Less as i32,
            target: compare::CompareTarget::Mod as i32,
            key: key.to_vec(),
            range_end,
            target_union: Some(compare::TargetUnion::ModRevision(self.read_revision + 1)),
        };
        let mut compares: Vec<Compare> = self
            .reads
            .iter()
            .map(|(key, seen)| Compare {
                result: compare::CompareResult::Equal as i32,
                target: compare::CompareTarget::Mod as i32,
                key: key.clone(),
                range_end: vec![],
                target_union: Some(compare::TargetUnion::ModRevision(*seen)),
            })
            .collect();
        for span in &self.scans {
            compares.push(unchanged_since_snapshot(&span.start, span.end.clone().unwrap_or_else(|| vec![0])));
        }
        // A key written inside a scanned span needs no compare of its own: the span's compare
        // already fails if any live key in it changed. (A bulk rewrite of a table scans it once
        // and would otherwise send a compare per new row.)
        let spans: &[Span] = if self.scans.len() <= SCANS_CHECKED_MAX { &self.scans } else { &[] };
        let covered = |key: &[u8]| spans.iter().any(|s| s.contains(key));
        for key in self.writes.keys().filter(|key| !self.reads.contains_key(*key) && !covered(key)) {
            compares.push(unchanged_since_snapshot(key, vec![]));
        }
        let success: Vec<RequestOp> = self
            .writes
            .iter()
            .map(|(key, write)| RequestOp {
                request: Some(match write {
                    Some(value) => request_op::Request::RequestPut(PutRequest {
                        key: key.clone(),
                        value: value.clone(),
                        ..Default::default()
                    }),
                    None => request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                        key: key.clone(),
                        ..Default::default()
                    }),
                }),
            })
            .collect();
        if compares.len() > ops_max || success.len() > ops_max {
            let max = ops_max;
            return Err(Error::InvalidArgument(format!(
                "transaction too large: at most {max} keys read and {max} written"
            )));
        }
        Ok(TxnRequest { compare: compares, success, failure: vec![] })
    }
}

/// Sends a commit too large for one Txn as staged parts and a final `CommitStaged`. If any
/// step fails, the parts are dropped with an `AbortStaged`: that is safe even when the commit
/// itself did apply (it already dropped them), and a commit applied after the abort finds its
/// parts gone and fails without writing.
async fn commit_in_parts<C: KvClient>(client: &C, request: TxnRequest, part_bytes: usize) -> Result<TxnResponse> {
    let bytes = request.encoded_len();
    if bytes > STAGED_TXN_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "transaction too large: its commit is {} MiB, at most {} MiB",
            bytes >> 20,
            STAGED_TXN_BYTES_MAX >> 20
        )));
    }
    let txn_id = rand::random::<u64>() | 1;
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
    let mut parts = split_parts(request, part_bytes);
    let last = parts.pop().unwrap_or_default();
    let count = parts.len() as u32;
    let abort = Staged::Abort(AbortStaged { txn_id, expired_before_unix_ms: 0 });
    for (seq, part) in parts.into_iter().enumerate() {
        let part =
            StagedPart { txn_id, seq: seq as u32, part: Some(part), expires_unix_ms: now_ms + STAGED_TXN_TTL_MS };
        if let Err(error) = client.staged(Staged::Part(part)).await {
            let _ = client.staged(abort).await;
            return Err(error);
        }
    }
    let commit = CommitStaged { txn_id, parts: count, last: Some(last) };
    match client.staged(Staged::Commit(commit)).await {
        Ok(response) => Ok(response),
        Err(error) => {
            let _ = client.staged(abort).await;
            Err(error)
        }
    }
}

/// Cuts a commit into Txn parts of at most about `part_bytes` each (a single operation larger
/// than that gets a part of its own), compares first, keeping the order of both lists.
fn split_parts(request: TxnRequest, part_bytes: usize) -> Vec<TxnRequest> {
    // Each element also costs a tag and a length prefix in its part.
    const FRAMING_BYTES: usize = 6;
    let mut parts = vec![TxnRequest::default()];
    let mut size = 0;
    let mut room = |len: usize, parts: &mut Vec<TxnRequest>| {
        if size > 0 && size + len + FRAMING_BYTES > part_bytes {
            parts.push(TxnRequest::default());
            size = 0;
        }
        size += len + FRAMING_BYTES;
    };
    for compare in request.compare {
        room(compare.encoded_len(), &mut parts);
        parts.last_mut().expect("a part").compare.push(compare);
    }
    for op in request.success {
        room(op.encoded_len(), &mut parts);
        parts.last_mut().expect("a part").success.push(op);
    }
    parts
}

#[cfg(test)]
mod tests;
