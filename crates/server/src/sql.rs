//! The node's KV as the SQL layer sees it: Txns proposed through the node's router with the
//! internal operation limit, and Ranges read through it, as the etcd API's are.

use crate::node::NodeContext;
use atoll_kv::transaction::Staged;
use atoll_proto::atoll::{command, command_result};
use atoll_proto::etcdserverpb::{RangeRequest, RangeResponse, TxnRequest, TxnResponse};
use atoll_router::Router;
use atoll_types::limits::INTERNAL_TXN_BYTES_MAX;
use prost::Message;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct LocalKv {
    router: Router,
    engine: Arc<dyn atoll_storage::Engine>,
}

impl LocalKv {
    pub fn new(context: Arc<NodeContext>) -> Self {
        LocalKv { router: context.router.clone(), engine: context.engine.clone() }
    }
}

/// How long a SQL request waits for a leader before failing: an election (a leader that lost
/// its lease while applying a large commit, or one that was killed) takes a few election
/// timeouts.
const LEADER_WAIT: Duration = Duration::from_secs(10);

/// The range SQL's staged commits go to: the one that owns the start of SQL's keys. (A commit
/// staged in parts is one range's until transactions span ranges, issue 21.)
const STAGED_KEY: &[u8] = &[atoll_sql::encoding::SQL_PREFIX];

/// Runs `request` until it gets an answer other than "no leader", or [`LEADER_WAIT`] passed.
/// SQL clients expect a statement to ride out an election, as they do with PostgreSQL's
/// failover; the etcd API answers "no leader" at once, as etcd does. Such a request never
/// reached the Raft log or never will be applied (`atoll_router::Error::awaits_leader`), so
/// sending it again cannot apply it twice.
async fn through_elections<T, F>(mut request: impl FnMut() -> F) -> atoll_kv::Result<T>
where
    F: std::future::Future<Output = atoll_router::Result<T>>,
{
    let deadline = Instant::now() + LEADER_WAIT;
    let mut pause = Duration::from_millis(10);
    loop {
        match request().await {
            Err(error) if retry_later(&error) && Instant::now() + pause < deadline => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            outcome => return outcome.map_err(kv_error),
        }
    }
}

/// Whether a request that failed with `error` can be sent again after a pause: the range has
/// no leader, or this node has no replica of it yet (a node that just joined, or a range just
/// split off, until its leader has created and filled the replica here). Neither reached a
/// Raft log.
fn retry_later(error: &atoll_router::Error) -> bool {
    error.awaits_leader() || matches!(error, atoll_router::Error::NoReplica(_))
}

/// The KV error a routing error stands for.
pub fn kv_error(error: atoll_router::Error) -> atoll_kv::Error {
    match error {
        atoll_router::Error::Kv(error) => error,
        atoll_router::Error::Store(atoll_replication::Error::Overloaded) => {
            atoll_kv::Error::Overloaded(atoll_replication::Error::Overloaded.to_string())
        }
        other => atoll_kv::Error::Unavailable(other.to_string()),
    }
}

fn txn_response(kind: command_result::Kind) -> atoll_kv::Result<TxnResponse> {
    match kind {
        command_result::Kind::Txn(response) => Ok(response),
        _ => Err(atoll_kv::Error::Unavailable("unexpected command result".into())),
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
        txn_response(through_elections(|| self.router.txn(request.clone(), true)).await?)
    }

    async fn range(&self, request: RangeRequest) -> atoll_kv::Result<RangeResponse> {
        through_elections(|| self.router.read(&request)).await
    }

    async fn staged(&self, step: Staged) -> atoll_kv::Result<TxnResponse> {
        let kind = match step {
            Staged::Part(part) => command::Kind::Stage(part),
            Staged::Commit(commit) => command::Kind::CommitStaged(commit),
            Staged::Abort(abort) => command::Kind::AbortStaged(abort),
        };
        txn_response(through_elections(|| self.router.propose_at(STAGED_KEY, kind.clone())).await?)
    }

    async fn ranges(&self) -> atoll_kv::Result<Vec<atoll_sql::RangeInfo>> {
        let status = self.router.status().await.map_err(kv_error)?;
        let replicas = self.router.replicas();
        let engine = self.engine.clone();
        // A pass over each range's newest versions: off the async threads.
        let sizes = tokio::task::spawn_blocking(move || {
            replicas
                .into_iter()
                .map(|(range_id, shared)| {
                    let descriptor = shared.descriptor();
                    let (_, bytes) =
                        atoll_kv::mvcc::live_keys(engine.as_ref(), &descriptor.start_key, &descriptor.end_key)?;
                    Ok((range_id, descriptor, bytes))
                })
                .collect::<atoll_kv::Result<Vec<_>>>()
        })
        .await
        .map_err(|e| atoll_kv::Error::Unavailable(format!("range sizes: {e}")))??;
        let mut ranges: Vec<atoll_sql::RangeInfo> = sizes
            .into_iter()
            .filter(|(_, descriptor, _)| !descriptor.replicas.is_empty())
            .map(|(range_id, descriptor, live_bytes)| atoll_sql::RangeInfo {
                range_id: range_id.0,
                leader: status.iter().find(|r| r.range_id == range_id).map_or(0, |r| r.leader_id),
                start_key: descriptor.start_key,
                end_key: descriptor.end_key,
                replicas: descriptor.replicas,
                live_bytes,
            })
            .collect();
        ranges.sort_by(|a, b| a.start_key.cmp(&b.start_key));
        Ok(ranges)
    }
}
