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
use crate::{Error, Result};
use atoll_proto::etcdserverpb::{
    compare, request_op, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest,
    TxnResponse,
};
use atoll_types::keys::Span;
use atoll_types::limits::TXN_OPS_MAX;
use std::collections::BTreeMap;
use std::future::Future;

/// What a transaction needs from the KV service.
pub trait KvClient: Send + Sync {
    /// Runs an etcd Txn through consensus.
    fn txn(&self, request: TxnRequest) -> impl Future<Output = Result<TxnResponse>> + Send;
    /// Runs an etcd Range (linearizable unless `serializable` is set).
    fn range(&self, request: RangeRequest) -> impl Future<Output = Result<RangeResponse>> + Send;
}

impl<T: KvClient> KvClient for &T {
    fn txn(&self, request: TxnRequest) -> impl Future<Output = Result<TxnResponse>> + Send {
        (**self).txn(request)
    }
    fn range(&self, request: RangeRequest) -> impl Future<Output = Result<RangeResponse>> + Send {
        (**self).range(request)
    }
}

impl<T: KvClient> KvClient for std::sync::Arc<T> {
    fn txn(&self, request: TxnRequest) -> impl Future<Output = Result<TxnResponse>> + Send {
        (**self).txn(request)
    }
    fn range(&self, request: RangeRequest) -> impl Future<Output = Result<RangeResponse>> + Send {
        (**self).range(request)
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
}

impl<C: KvClient> Transaction<C> {
    /// Starts a transaction at the latest committed revision (a linearizable read).
    pub async fn begin(client: C) -> Result<Self> {
        let probe = RangeRequest { key: vec![0], count_only: true, ..Default::default() };
        let response = client.range(probe).await?;
        let read_revision = response.header.map(|h| h.revision).unwrap_or(0);
        Ok(Transaction {
            client,
            ops_max: TXN_OPS_MAX,
            read_revision,
            reads: BTreeMap::new(),
            scans: Vec::new(),
            writes: BTreeMap::new(),
        })
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
        let request = self.commit_request()?;
        let response = self.client.txn(request).await?;
        if !response.succeeded {
            return Err(Error::Conflict);
        }
        Ok(response.header.map(|h| h.revision).unwrap_or(0))
    }

    fn commit_request(&self) -> Result<TxnRequest> {
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
        for key in self.writes.keys().filter(|key| !self.reads.contains_key(*key)) {
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
        if compares.len() > self.ops_max || success.len() > self.ops_max {
            let max = self.ops_max;
            return Err(Error::InvalidArgument(format!(
                "transaction too large: at most {max} keys read and {max} written"
            )));
        }
        Ok(TxnRequest { compare: compares, success, failure: vec![] })
    }
}

#[cfg(test)]
mod tests;
