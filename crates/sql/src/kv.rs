//! The KV a SQL node runs on: the node's own replicated store, behind a small object-safe
//! trait so the SQL layer does not depend on the server crate.

use atoll_kv::transaction::{KvClient, Staged, Transaction};
use atoll_proto::etcdserverpb::{RangeRequest, RangeResponse, TxnRequest, TxnResponse};
use atoll_types::limits::{INTERNAL_TXN_OPS_MAX, STAGED_PART_BYTES_MAX};
use std::future::Future;
use std::sync::Arc;

/// What SQL needs from the node.
#[async_trait::async_trait]
pub trait KvBackend: Send + Sync + 'static {
    /// Runs a Txn through consensus with the internal operation limit.
    async fn txn(&self, request: TxnRequest) -> atoll_kv::Result<TxnResponse>;
    /// A Range: linearizable unless `serializable` is set, in which case it is served from
    /// this node's replica at the requested revision.
    async fn range(&self, request: RangeRequest) -> atoll_kv::Result<RangeResponse>;
    /// Runs one step of a commit staged in parts (`atoll_kv::staged`) through consensus.
    async fn staged(&self, step: Staged) -> atoll_kv::Result<TxnResponse>;
    /// The ranges of this node's replicas, ordered by start key (`SHOW RANGES`).
    async fn ranges(&self) -> atoll_kv::Result<Vec<RangeInfo>>;
}

/// One range as `SHOW RANGES` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeInfo {
    pub range_id: u64,
    /// `[start_key, end_key)`; an empty end is the end of the key space.
    pub start_key: Vec<u8>,
    pub end_key: Vec<u8>,
    pub replicas: Vec<u64>,
    /// 0 when no leader is known.
    pub leader: u64,
    /// Bytes of the live keys and values in the range.
    pub live_bytes: u64,
}

/// A cheap, cloneable handle on the backend; what SQL transactions are opened on.
#[derive(Clone)]
pub struct NodeKv(pub Arc<dyn KvBackend>);

impl KvClient for NodeKv {
    fn txn(&self, request: TxnRequest) -> impl Future<Output = atoll_kv::Result<TxnResponse>> + Send {
        self.0.txn(request)
    }
    fn range(&self, request: RangeRequest) -> impl Future<Output = atoll_kv::Result<RangeResponse>> + Send {
        self.0.range(request)
    }
    fn staged(&self, step: Staged) -> impl Future<Output = atoll_kv::Result<TxnResponse>> + Send {
        self.0.staged(step)
    }
}

/// A SQL transaction on the node's KV.
pub type Txn = Transaction<NodeKv>;

impl NodeKv {
    /// Opens a transaction at the latest committed revision; a commit too large for one
    /// Raft entry is staged in parts.
    pub async fn begin(&self) -> atoll_kv::Result<Txn> {
        // Every SQL key is in the range that owns the SQL keyspace's first key.
        Ok(Transaction::begin_in(self.clone(), vec![crate::encoding::SQL_PREFIX])
            .await?
            .with_ops_max(INTERNAL_TXN_OPS_MAX)
            .with_staging(STAGED_PART_BYTES_MAX))
    }

    /// Deletes every key in `[start, end)` outside any transaction (the data of a dropped or
    /// truncated table, whose id is never used again).
    pub async fn delete_range(&self, start: Vec<u8>, end: Vec<u8>) -> atoll_kv::Result<()> {
        use atoll_proto::etcdserverpb::{request_op, DeleteRangeRequest, RequestOp};
        let op = request_op::Request::RequestDeleteRange(DeleteRangeRequest {
            key: start,
            range_end: end,
            ..Default::default()
        });
        let request = TxnRequest { compare: vec![], success: vec![RequestOp { request: Some(op) }], failure: vec![] };
        self.0.txn(request).await.map(|_| ())
    }
}
