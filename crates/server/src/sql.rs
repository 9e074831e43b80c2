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
use tonic::Code;

pub struct LocalKv {
    api: EtcdApi,
}

impl LocalKv {
    pub fn new(context: Arc<NodeContext>) -> Self {
        LocalKv { api: EtcdApi::new(context) }
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
        match self.api.propose(command::Kind::InternalTxn(request)).await.map_err(kv_error)? {
            command_result::Kind::Txn(response) => Ok(response),
            _ => Err(atoll_kv::Error::Unavailable("unexpected command result".into())),
        }
    }

    async fn range(&self, request: RangeRequest) -> atoll_kv::Result<RangeResponse> {
        self.api.range_inner(request).await.map_err(kv_error)
    }

    async fn staged(&self, step: Staged) -> atoll_kv::Result<TxnResponse> {
        let kind = match step {
            Staged::Part(part) => command::Kind::Stage(part),
            Staged::Commit(commit) => command::Kind::CommitStaged(commit),
            Staged::Abort(abort) => command::Kind::AbortStaged(abort),
        };
        match self.api.propose(kind).await.map_err(kv_error)? {
            command_result::Kind::Txn(response) => Ok(response),
            _ => Err(atoll_kv::Error::Unavailable("unexpected command result".into())),
        }
    }
}
