//! The node's KV as the SQL layer sees it: Txns proposed through this node's Raft group with
//! the internal operation limit, and Ranges served like the etcd API's.

use crate::etcd::EtcdApi;
use crate::node::NodeContext;
use atoll_kv::transaction::Staged;
use atoll_proto::atoll::{command, command_result};
use atoll_proto::etcdserverpb::{RangeRequest, RangeResponse, TxnRequest, TxnResponse};
use atoll_types::limits::INTERNAL_TXN_BYTES_MAX;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tonic::Code;

pub struct LocalKv {
    api: EtcdApi,
}

impl LocalKv {
    pub fn new(context: Arc<NodeContext>) -> Self {
        LocalKv { api: EtcdApi::new(context) }
    }
}

/// How long a SQL request waits for a leader before failing: an election (a leader that lost
/// its lease while applying a large commit, or one that was killed) takes a few election
/// timeouts.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// Whether the request was refused because the range has no leader right now, or was dropped
/// by a leader change. Such a request never reached the Raft log (the store answers "no
/// leader" before proposing) or never will be applied (`atoll_replication::Error::Dropped`), so
/// sending it again cannot apply it twice.
fn no_leader(status: &tonic::Status) -> bool {
    use atoll_replication::Error;
    status.code() == Code::Unavailable
        && [Error::NoLeader.to_string(), Error::Dropped.to_string()].iter().any(|m| status.message() == m)
}

/// Runs `request` until it gets an answer other than "no leader", or [`LEADER_WAIT`] passed.
/// SQL clients expect a statement to ride out an election, as they do with PostgreSQL's
/// failover; the etcd API answers "no leader" at once, as etcd does.
async fn through_elections<T, F>(mut request: impl FnMut() -> F) -> Result<T, tonic::Status>
where
    F: std::future::Future<Output = Result<T, tonic::Status>>,
{
    let deadline = Instant::now() + LEADER_WAIT;
    let mut pause = Duration::from_millis(10);
    loop {
        match request().await {
            Err(status) if no_leader(&status) && Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            outcome => return outcome,
        }
    }
}

/// The KV error an etcd status stands for.
pub fn kv_error(status: tonic::Status) -> atoll_kv::Error {
    let message = status.message().to_string();
    match status.code() {
        Code::InvalidArgument => atoll_kv::Error::InvalidArgument(message),
        Code::NotFound => atoll_kv::Error::NotFound(message),
        Code::OutOfRange => atoll_kv::Error::OutOfRange(message),
        Code::ResourceExhausted => atoll_kv::Error::Overloaded(message),
        Code::Aborted => atoll_kv::Error::Conflict,
        _ => atoll_kv::Error::Unavailable(message),
    }
}

#[tonic::async_trait]
impl atoll_sql::KvBackend for LocalKv {
    async fn txn(&self, request: TxnRequest) -> atoll_kv::Result<TxnResponse> {
        if request.encoded_len() > INTERNAL_TXN_BYTES_MAX {
            return Err(atoll_kv::Error::InvalidArgument(format!(
                "transaction too large: its writes exceed {} MiB",
                INTERNAL_TXN_BYTES_MAX >> 20
            )));
        }
        let proposed = through_elections(|| self.api.propose(command::Kind::InternalTxn(request.clone())));
        match proposed.await.map_err(kv_error)? {
            command_result::Kind::Txn(response) => Ok(response),
            _ => Err(atoll_kv::Error::Unavailable("unexpected command result".into())),
        }
    }

    async fn range(&self, request: RangeRequest) -> atoll_kv::Result<RangeResponse> {
        through_elections(|| self.api.range_inner(request.clone())).await.map_err(kv_error)
    }

    async fn staged(&self, step: Staged) -> atoll_kv::Result<TxnResponse> {
        let kind = match step {
            Staged::Part(part) => command::Kind::Stage(part),
            Staged::Commit(commit) => command::Kind::CommitStaged(commit),
            Staged::Abort(abort) => command::Kind::AbortStaged(abort),
        };
        match through_elections(|| self.api.propose(kind.clone())).await.map_err(kv_error)? {
            command_result::Kind::Txn(response) => Ok(response),
            _ => Err(atoll_kv::Error::Unavailable("unexpected command result".into())),
        }
    }
}
