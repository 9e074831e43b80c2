//! Routing: the one way the etcd API, SQL and the node's background jobs reach a range.
//!
//! Requests name keys, not ranges. The router finds the range that owns a key among this
//! node's replicas (each replica's descriptor says which keys it owns, see
//! `atoll_kv::descriptor`), proposes or reads there, and answers with a typed [`Error`] up to
//! the edge, where the etcd API makes a gRPC status of it and SQL a SQLSTATE. Retries are
//! decided on those types, never on message text: [`Error::not_applied`] says when sending a
//! request again cannot apply it twice.
//!
//! Not built yet (issue 16): forwarding to a range with no replica on this node (the answer is
//! [`Error::NoReplica`]), splitting a request over several ranges and merging the answers, and
//! a cache of other nodes' descriptors healed from `RangeKeyMismatch`. With every range on
//! every node, as today, these do not arise; the first split needs them.

use atoll_kv::state_machine::command_error;
use atoll_kv::RangeShared;
use atoll_proto::atoll::{command, command_result, CommandResult};
use atoll_proto::etcdserverpb::{request_op, RangeRequest, RangeResponse, TxnRequest};
use atoll_replication::StoreHandle;
use atoll_storage::Engine;
use atoll_types::RangeId;
use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

/// This node's replicas, by range (the node adds one when it creates a replica).
pub type Replicas = Arc<RwLock<HashMap<RangeId, Arc<RangeShared>>>>;

/// Why a routed request failed, typed until the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The range's state machine refused the request (every replica answers the same), or a
    /// replica refused a read.
    #[error(transparent)]
    Kv(#[from] atoll_kv::Error),
    /// The request did not get through consensus here.
    #[error(transparent)]
    Store(#[from] atoll_replication::Error),
    /// No replica on this node owns the key.
    #[error("no range replica on this node owns key {}", .0.escape_ascii())]
    NoReplica(Vec<u8>),
}

/// The result of a routed request.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Whether the request certainly was not applied, so that sending it again cannot apply
    /// it twice: it never reached a Raft log (no leader, a full inbox, no such range or
    /// replica), a leader change dropped it before it could be applied, or every replica
    /// refused it for a key outside the range. A timeout or a leader change during the wait is
    /// ambiguous and not among these.
    pub fn not_applied(&self) -> bool {
        use atoll_replication::Error as Store;
        matches!(
            self,
            Error::Store(Store::NoLeader | Store::Dropped | Store::Overloaded | Store::RangeNotFound(_))
                | Error::Kv(atoll_kv::Error::RangeKeyMismatch(_))
                | Error::NoReplica(_)
        )
    }

    /// Whether the range has no leader right now (or lost it before the request was applied):
    /// callers that ride out elections wait and send it again.
    pub fn awaits_leader(&self) -> bool {
        matches!(self, Error::Store(atoll_replication::Error::NoLeader | atoll_replication::Error::Dropped))
    }
}

/// How often a request refused for a key outside its range is routed again before the
/// refusal reaches the caller (each split of the range in between costs one).
pub const ROUTE_ATTEMPTS: usize = 3;

/// The router of one node.
#[derive(Clone)]
pub struct Router {
    store: StoreHandle<CommandResult>,
    engine: Arc<dyn Engine>,
    replicas: Replicas,
    /// Serve linearizable reads from the local replica without confirming leadership (a test
    /// switch that the fault harness's checkers must catch).
    unsafe_stale_reads: bool,
}

impl Router {
    pub fn new(
        store: StoreHandle<CommandResult>,
        engine: Arc<dyn Engine>,
        replicas: Replicas,
        unsafe_stale_reads: bool,
    ) -> Self {
        Router { store, engine, replicas, unsafe_stale_reads }
    }

    /// This node's replicas, by range id.
    pub fn replicas(&self) -> Vec<(RangeId, Arc<RangeShared>)> {
        let replicas = self.replicas.read().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = replicas.iter().map(|(id, shared)| (*id, shared.clone())).collect();
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// The replica on this node whose range owns `key`. A replica that has no state yet (a new
    /// one waiting for its first snapshot, with no replicas in its descriptor) owns nothing.
    /// Runs for every request: looks under the lock, allocating nothing but the answer.
    pub fn replica_for(&self, key: &[u8]) -> Result<(RangeId, Arc<RangeShared>)> {
        let replicas = self.replicas.read().unwrap_or_else(PoisonError::into_inner);
        let found = replicas.iter().find(|(_, shared)| shared.owns_key(key));
        found.map(|(id, shared)| (*id, shared.clone())).ok_or_else(|| Error::NoReplica(key.to_vec()))
    }

    /// The Raft status of every replica on this node (leader, term, indexes).
    pub async fn status(&self) -> Result<Vec<atoll_replication::RangeRaftStatus>> {
        Ok(self.store.status().await?)
    }

    /// The ranges this node's replicas lead right now.
    pub async fn leading(&self) -> Result<Vec<RangeId>> {
        let status = self.store.status().await?;
        Ok(status.into_iter().filter(|range| range.is_leader).map(|range| range.range_id).collect())
    }

    /// Proposes a command to `range_id` and answers what its state machine answered.
    pub async fn propose(&self, range_id: RangeId, kind: command::Kind) -> Result<command_result::Kind> {
        self.propose_encoded(range_id, encode(&kind)).await
    }

    async fn propose_encoded(&self, range_id: RangeId, data: Vec<u8>) -> Result<command_result::Kind> {
        let result = self.store.propose(range_id, data).await?;
        match result.kind {
            Some(command_result::Kind::Error(error)) => Err(Error::Kv(command_error(error))),
            Some(kind) => Ok(kind),
            None => Err(Error::Kv(atoll_kv::Error::Corrupt(format!("range {range_id} answered nothing")))),
        }
    }

    /// Proposes a command to the range that owns `key`. A refusal for a key outside the range
    /// (the range split since it was chosen) was applied here too, so the local descriptors
    /// already show the new boundaries: the command is routed again, up to
    /// [`ROUTE_ATTEMPTS`] times. Each attempt encodes the command from `kind` (one copy, as a
    /// single proposal makes); `kind` is never cloned.
    pub async fn propose_at(&self, key: &[u8], kind: command::Kind) -> Result<command_result::Kind> {
        let mut attempt = 1;
        loop {
            let (range_id, _) = self.replica_for(key)?;
            match self.propose_encoded(range_id, encode(&kind)).await {
                Err(Error::Kv(atoll_kv::Error::RangeKeyMismatch(_))) if attempt < ROUTE_ATTEMPTS => attempt += 1,
                outcome => return outcome,
            }
        }
    }

    /// Proposes a Txn (or SQL's internal Txn) to the range that owns its first key. A Txn with
    /// keys of several ranges is refused by the first one with `RangeKeyMismatch` (transactions
    /// across ranges are issue 21).
    pub async fn txn(&self, txn: TxnRequest, internal: bool) -> Result<command_result::Kind> {
        let key = first_key(&txn).to_vec();
        let kind = if internal { command::Kind::InternalTxn(txn) } else { command::Kind::Txn(txn) };
        self.propose_at(&key, kind).await
    }

    /// Answers a Range from the replica that owns its first key: linearizable (confirmed with
    /// the range's leader, or under its lease) unless `serializable` is set.
    pub async fn read(&self, request: &RangeRequest) -> Result<RangeResponse> {
        let mut attempt = 1;
        loop {
            let (range_id, shared) = self.replica_for(&request.key)?;
            if !request.serializable && !self.unsafe_stale_reads {
                self.store.linearizable_read(range_id, || shared.applied_index()).await?;
            }
            match shared.read(self.engine.as_ref(), request) {
                // The range split after it was chosen: route again.
                Err(atoll_kv::Error::RangeKeyMismatch(_)) if attempt < ROUTE_ATTEMPTS => attempt += 1,
                outcome => return Ok(outcome?),
            }
        }
    }
}

/// A `Command` holding `kind`, encoded from a reference: the command's only field is the
/// oneof, so its encoding is the oneof's.
fn encode(kind: &command::Kind) -> Vec<u8> {
    let mut data = Vec::with_capacity(kind.encoded_len());
    kind.encode(&mut data);
    data
}

/// The first key a Txn compares, reads or writes (the empty key for a Txn with none, which
/// the range owning the start of the key space takes).
fn first_key(txn: &TxnRequest) -> &[u8] {
    if let Some(compare) = txn.compare.first() {
        return &compare.key;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(range)) => return &range.key,
            Some(request_op::Request::RequestPut(put)) => return &put.key,
            Some(request_op::Request::RequestDeleteRange(delete)) => return &delete.key,
            // An empty nested Txn has no key (etcd refuses empty keys, so none is empty).
            Some(request_op::Request::RequestTxn(nested)) if !first_key(nested).is_empty() => return first_key(nested),
            Some(request_op::Request::RequestTxn(_)) => {}
            None => {}
        }
    }
    &[]
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_proto::atoll::Command;
    use atoll_proto::etcdserverpb::{Compare, PutRequest, RequestOp};
    use prost::Message;

    #[test]
    fn a_command_encoded_from_its_kind_is_the_command_encoded() {
        let kind = command::Kind::Txn(TxnRequest {
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: b"k".to_vec(),
                    value: b"v".to_vec(),
                    ..Default::default()
                })),
            }],
            ..Default::default()
        });
        assert_eq!(encode(&kind), Command { kind: Some(kind.clone()) }.encode_to_vec());
        let empty = command::Kind::AllocateRangeId(Default::default());
        assert_eq!(encode(&empty), Command { kind: Some(empty.clone()) }.encode_to_vec());
    }

    #[test]
    fn a_txn_goes_where_its_first_key_is() {
        let put = |key: &[u8]| RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest { key: key.to_vec(), ..Default::default() })),
        };
        let nested = |ops| RequestOp {
            request: Some(request_op::Request::RequestTxn(TxnRequest { success: ops, ..Default::default() })),
        };
        assert_eq!(first_key(&TxnRequest::default()), b"");
        assert_eq!(first_key(&TxnRequest { failure: vec![put(b"f")], ..Default::default() }), b"f");
        let compared = TxnRequest {
            compare: vec![Compare { key: b"c".to_vec(), ..Default::default() }],
            success: vec![put(b"s")],
            ..Default::default()
        };
        assert_eq!(first_key(&compared), b"c");
        let deep =
            TxnRequest { success: vec![nested(vec![]), nested(vec![put(b"n")]), put(b"s")], ..Default::default() };
        assert_eq!(first_key(&deep), b"n");
    }

    #[test]
    fn only_requests_that_never_applied_count_as_safe_to_send_again() {
        use atoll_replication::Error as Store;
        let safe = [
            Error::Store(Store::NoLeader),
            Error::Store(Store::Dropped),
            Error::Store(Store::Overloaded),
            Error::Store(Store::RangeNotFound(RangeId(3))),
            Error::Kv(atoll_kv::Error::RangeKeyMismatch(Box::default())),
            Error::NoReplica(b"k".to_vec()),
        ];
        assert!(safe.iter().all(Error::not_applied));
        let ambiguous = [
            Error::Store(Store::Timeout),
            Error::Store(Store::LeaderChanged),
            Error::Store(Store::Stopped),
            Error::Kv(atoll_kv::Error::Unavailable("snapshot".into())),
        ];
        assert!(!ambiguous.iter().any(Error::not_applied));
        assert!(Error::Store(Store::Dropped).awaits_leader() && !Error::Store(Store::Timeout).awaits_leader());
    }
}
