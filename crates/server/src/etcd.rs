//! The etcd v3 API (gRPC services KV, Auth, Cluster, Maintenance, Watch, Lease) on the KV layer.
//!
//! Requests reach their ranges through the node's router (`atoll_router`). Writes (Put,
//! DeleteRange, Txn, Compact) become one Raft command each and are answered when applied.
//! Range is linearizable by default (ReadIndex, then a local read at the applied revision);
//! with `serializable` it reads local state without a Raft round, as etcd does.
//! Errors carry the gRPC codes and messages etcd uses, so etcd clients react as they would
//! to etcd (for example, retry on Unavailable).

use crate::etcd_auth::{EtcdAuth, Need};
use crate::node::NodeContext;
use atoll_kv::Error as KvError;
use atoll_proto::atoll::{command, command_result};
use atoll_proto::etcdserverpb::*;
use atoll_sql::kv_auth::KvAccess;
use atoll_types::limits::REQUEST_BYTES_MAX;
use atoll_types::FIRST_RANGE_ID;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

/// Converts a KV error into the status etcd would answer.
pub fn kv_status(error: KvError) -> Status {
    match error {
        KvError::InvalidArgument(m) => Status::invalid_argument(m),
        KvError::NotFound(m) => Status::not_found(m),
        KvError::OutOfRange(m) => Status::out_of_range(m),
        KvError::Conflict | KvError::Deadlock | KvError::LockTimeout => Status::aborted(error.to_string()),
        KvError::Unavailable(m) => Status::unavailable(m),
        KvError::Overloaded(m) => Status::resource_exhausted(m),
        // A router retries these; an etcd client that meets one may retry too.
        KvError::RangeKeyMismatch(_) => Status::unavailable(error.to_string()),
        KvError::Corrupt(_) | KvError::Storage(_) => Status::internal(error.to_string()),
    }
}

/// Converts a routing error into the status etcd would answer.
pub fn route_status(error: atoll_router::Error) -> Status {
    match error {
        atoll_router::Error::Kv(error) => kv_status(error),
        atoll_router::Error::Store(error) => store_status(error),
        atoll_router::Error::NoReplica(_) => Status::unavailable(error.to_string()),
    }
}

/// Converts a store error into the status etcd would answer.
pub fn store_status(error: atoll_replication::Error) -> Status {
    use atoll_replication::Error as E;
    match error {
        E::Overloaded => Status::resource_exhausted(error.to_string()),
        E::ConfChangeRejected(_) => Status::failed_precondition(error.to_string()),
        _ => Status::unavailable(error.to_string()),
    }
}

fn check_size<T: prost::Message>(request: &T) -> Result<(), Status> {
    if request.encoded_len() > REQUEST_BYTES_MAX {
        return Err(Status::invalid_argument(atoll_kv::error::messages::REQUEST_TOO_LARGE));
    }
    Ok(())
}

/// The etcd API services of one node.
#[derive(Clone)]
pub struct EtcdApi {
    context: Arc<NodeContext>,
    /// Who may do what (see [`crate::etcd_auth`]).
    auth: Arc<EtcdAuth>,
}

impl EtcdApi {
    pub fn new(context: Arc<NodeContext>, auth: Arc<EtcdAuth>) -> Self {
        EtcdApi { context, auth }
    }

    fn header(&self, revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: self.context.cluster_id,
            member_id: self.context.node_id.0,
            revision,
            raft_term: self.context.raft_term(),
        })
    }

    async fn txn_inner(&self, request: TxnRequest) -> Result<TxnResponse, Status> {
        match self.context.router.txn(request, false).await.map_err(route_status)? {
            command_result::Kind::Txn(mut response) => {
                let revision = response.header.map_or(0, |h| h.revision);
                response.header = self.header(revision);
                Ok(response)
            }
            _ => Err(Status::internal("unexpected command result")),
        }
    }

    /// Runs a one-operation Txn and returns its single response, picked out by `pick`, with the
    /// header this node answers with.
    async fn single<T>(
        &self,
        op: request_op::Request,
        pick: impl FnOnce(response_op::Response) -> Option<T>,
    ) -> Result<(T, Option<ResponseHeader>), Status> {
        let request = TxnRequest { compare: vec![], success: vec![RequestOp { request: Some(op) }], failure: vec![] };
        let response = self.txn_inner(request).await?;
        let header = response.header;
        let op = response.responses.into_iter().next().and_then(|r| r.response).and_then(pick);
        op.map(|op| (op, header)).ok_or_else(|| Status::internal("unexpected response"))
    }

    /// Linearizable or serializable Range.
    async fn range_inner(&self, request: RangeRequest) -> Result<RangeResponse, Status> {
        let mut response = self.context.router.read(&request).await.map_err(route_status)?;
        response.header = self.header(response.header.map_or(0, |h| h.revision));
        Ok(response)
    }

    fn observe(&self, method: &str, started: Instant) {
        self.context.metrics.rpc_seconds.with_label_values(&[method]).observe(started.elapsed().as_secs_f64());
    }
}

#[tonic::async_trait]
impl kv_server::Kv for EtcdApi {
    #[tracing::instrument(name = "etcd.range", skip_all, fields(node_id = self.context.node_id.0))]
    async fn range(&self, request: Request<RangeRequest>) -> Result<Response<RangeResponse>, Status> {
        let started = Instant::now();
        let caller = self.auth.caller(&request);
        let mut request = request.into_inner();
        check_size(&request)?;
        crate::etcd_keyspace::range(&mut request);
        self.auth.check(caller, Need::Keys(vec![(&request.key, &request.range_end, KvAccess::Read)])).await?;
        let result = self.range_inner(request).await;
        self.observe("Range", started);
        result.map(Response::new)
    }

    #[tracing::instrument(name = "etcd.put", skip_all, fields(node_id = self.context.node_id.0))]
    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let started = Instant::now();
        let caller = self.auth.caller(&request);
        let request = request.into_inner();
        check_size(&request)?;
        crate::etcd_keyspace::put(&request.key)?;
        let mut need = vec![(request.key.as_slice(), &[][..], KvAccess::Write)];
        if request.prev_kv {
            need.push((request.key.as_slice(), &[][..], KvAccess::Read));
        }
        self.auth.check(caller, Need::Keys(need)).await?;
        let result = self
            .single(request_op::Request::RequestPut(request), |response| match response {
                response_op::Response::ResponsePut(put) => Some(put),
                _ => None,
            })
            .await
            .map(|(mut put, header)| {
                put.header = header;
                put
            });
        self.observe("Put", started);
        result.map(Response::new)
    }

    #[tracing::instrument(name = "etcd.delete_range", skip_all, fields(node_id = self.context.node_id.0))]
    async fn delete_range(
        &self,
        request: Request<DeleteRangeRequest>,
    ) -> Result<Response<DeleteRangeResponse>, Status> {
        let started = Instant::now();
        let caller = self.auth.caller(&request);
        let mut request = request.into_inner();
        check_size(&request)?;
        crate::etcd_keyspace::delete_range(&mut request);
        let mut need = vec![(request.key.as_slice(), request.range_end.as_slice(), KvAccess::Write)];
        if request.prev_kv {
            need.push((request.key.as_slice(), request.range_end.as_slice(), KvAccess::Read));
        }
        self.auth.check(caller, Need::Keys(need)).await?;
        let result = self
            .single(request_op::Request::RequestDeleteRange(request), |response| match response {
                response_op::Response::ResponseDeleteRange(delete) => Some(delete),
                _ => None,
            })
            .await
            .map(|(mut delete, header)| {
                delete.header = header;
                delete
            });
        self.observe("DeleteRange", started);
        result.map(Response::new)
    }

    #[tracing::instrument(name = "etcd.txn", skip_all, fields(node_id = self.context.node_id.0))]
    async fn txn(&self, request: Request<TxnRequest>) -> Result<Response<TxnResponse>, Status> {
        let started = Instant::now();
        let caller = self.auth.caller(&request);
        let mut request = request.into_inner();
        check_size(&request)?;
        crate::etcd_keyspace::txn(&mut request)?;
        self.auth.check(caller, Need::Keys(crate::etcd_auth::txn_spans(&request))).await?;
        let result = self.txn_inner(request).await;
        self.observe("Txn", started);
        result.map(Response::new)
    }

    #[tracing::instrument(name = "etcd.compact", skip_all, fields(node_id = self.context.node_id.0))]
    async fn compact(&self, request: Request<CompactionRequest>) -> Result<Response<CompactionResponse>, Status> {
        self.auth.authorize(&request, Need::Admin).await?;
        let request = request.into_inner();
        check_size(&request)?;
        // The etcd keyspace's range compacts (the one that owns the first key); SQL's range
        // keeps its own history, compacted by the retention (see `crate::keyspaces`).
        let revision =
            match self.context.router.propose_at(&[], command::Kind::Compact(request)).await.map_err(route_status)? {
                command_result::Kind::Compact(response) => response.header.map_or(0, |h| h.revision),
                _ => return Err(Status::internal("unexpected command result")),
            };
        Ok(Response::new(CompactionResponse { header: self.header(revision) }))
    }
}

/// Answers an Auth call with this node's response header.
macro_rules! auth_call {
    ($self:ident, $call:expr) => {{
        let revision = $self.context.range(FIRST_RANGE_ID).map_or(0, |r| r.revision());
        let mut response = $call.await?;
        response.header = $self.header(revision);
        Ok(Response::new(response))
    }};
}

#[tonic::async_trait]
impl auth_server::Auth for EtcdApi {
    async fn auth_enable(&self, request: Request<AuthEnableRequest>) -> Result<Response<AuthEnableResponse>, Status> {
        auth_call!(self, self.auth.auth_enable(&request))
    }
    async fn auth_disable(
        &self,
        request: Request<AuthDisableRequest>,
    ) -> Result<Response<AuthDisableResponse>, Status> {
        auth_call!(self, self.auth.auth_disable(&request))
    }
    async fn auth_status(&self, request: Request<AuthStatusRequest>) -> Result<Response<AuthStatusResponse>, Status> {
        auth_call!(self, self.auth.auth_status(&request))
    }
    async fn authenticate(
        &self,
        request: Request<AuthenticateRequest>,
    ) -> Result<Response<AuthenticateResponse>, Status> {
        check_size(request.get_ref())?;
        auth_call!(self, self.auth.authenticate(request))
    }
    async fn user_add(&self, request: Request<AuthUserAddRequest>) -> Result<Response<AuthUserAddResponse>, Status> {
        check_size(request.get_ref())?;
        auth_call!(self, self.auth.user_add(request))
    }
    async fn user_get(&self, request: Request<AuthUserGetRequest>) -> Result<Response<AuthUserGetResponse>, Status> {
        auth_call!(self, self.auth.user_get(request))
    }
    async fn user_list(&self, request: Request<AuthUserListRequest>) -> Result<Response<AuthUserListResponse>, Status> {
        auth_call!(self, self.auth.user_list(request))
    }
    async fn user_delete(
        &self,
        request: Request<AuthUserDeleteRequest>,
    ) -> Result<Response<AuthUserDeleteResponse>, Status> {
        auth_call!(self, self.auth.user_delete(request))
    }
    async fn user_change_password(
        &self,
        request: Request<AuthUserChangePasswordRequest>,
    ) -> Result<Response<AuthUserChangePasswordResponse>, Status> {
        check_size(request.get_ref())?;
        auth_call!(self, self.auth.user_change_password(request))
    }
    async fn user_grant_role(
        &self,
        request: Request<AuthUserGrantRoleRequest>,
    ) -> Result<Response<AuthUserGrantRoleResponse>, Status> {
        auth_call!(self, self.auth.user_grant_role(request))
    }
    async fn user_revoke_role(
        &self,
        request: Request<AuthUserRevokeRoleRequest>,
    ) -> Result<Response<AuthUserRevokeRoleResponse>, Status> {
        auth_call!(self, self.auth.user_revoke_role(request))
    }
    async fn role_add(&self, request: Request<AuthRoleAddRequest>) -> Result<Response<AuthRoleAddResponse>, Status> {
        auth_call!(self, self.auth.role_add(request))
    }
    async fn role_get(&self, request: Request<AuthRoleGetRequest>) -> Result<Response<AuthRoleGetResponse>, Status> {
        auth_call!(self, self.auth.role_get(request))
    }
    async fn role_list(&self, request: Request<AuthRoleListRequest>) -> Result<Response<AuthRoleListResponse>, Status> {
        auth_call!(self, self.auth.role_list(request))
    }
    async fn role_delete(
        &self,
        request: Request<AuthRoleDeleteRequest>,
    ) -> Result<Response<AuthRoleDeleteResponse>, Status> {
        auth_call!(self, self.auth.role_delete(request))
    }
    async fn role_grant_permission(
        &self,
        request: Request<AuthRoleGrantPermissionRequest>,
    ) -> Result<Response<AuthRoleGrantPermissionResponse>, Status> {
        check_size(request.get_ref())?;
        auth_call!(self, self.auth.role_grant_permission(request))
    }
    async fn role_revoke_permission(
        &self,
        request: Request<AuthRoleRevokePermissionRequest>,
    ) -> Result<Response<AuthRoleRevokePermissionResponse>, Status> {
        check_size(request.get_ref())?;
        auth_call!(self, self.auth.role_revoke_permission(request))
    }
}

fn member(info: &atoll_proto::atoll::NodeInfo) -> Member {
    Member {
        id: info.node_id,
        name: info.name.clone(),
        peer_ur_ls: vec![format!("http://{}", info.peer_addr)],
        client_ur_ls: vec![format!("http://{}", info.etcd_addr)],
        is_learner: false,
    }
}

fn not_served(what: &str) -> Status {
    Status::unimplemented(format!("{what} is not supported by Atoll yet"))
}

#[tonic::async_trait]
impl cluster_server::Cluster for EtcdApi {
    async fn member_add(&self, _: Request<MemberAddRequest>) -> Result<Response<MemberAddResponse>, Status> {
        Err(Status::unimplemented("add a member by starting it with `atoll start --join <address>`"))
    }
    async fn member_remove(&self, _: Request<MemberRemoveRequest>) -> Result<Response<MemberRemoveResponse>, Status> {
        Err(not_served("MemberRemove (node decommission)"))
    }
    async fn member_update(&self, _: Request<MemberUpdateRequest>) -> Result<Response<MemberUpdateResponse>, Status> {
        Err(not_served("MemberUpdate"))
    }
    async fn member_list(&self, request: Request<MemberListRequest>) -> Result<Response<MemberListResponse>, Status> {
        self.auth.authorize(&request, Need::User).await?;
        if request.into_inner().linearizable {
            self.context.store.read_index(FIRST_RANGE_ID).await.map_err(store_status)?;
        }
        let shared =
            self.context.range(FIRST_RANGE_ID).ok_or_else(|| Status::unavailable("no range replica on this node"))?;
        let members = shared.members().iter().map(member).collect();
        Ok(Response::new(MemberListResponse { header: self.header(shared.revision()), members }))
    }
    async fn member_promote(
        &self,
        _: Request<MemberPromoteRequest>,
    ) -> Result<Response<MemberPromoteResponse>, Status> {
        Err(not_served("MemberPromote"))
    }
}

type SnapshotStream = Pin<Box<dyn Stream<Item = Result<SnapshotResponse, Status>> + Send>>;

#[tonic::async_trait]
impl maintenance_server::Maintenance for EtcdApi {
    type SnapshotStream = SnapshotStream;

    async fn alarm(&self, request: Request<AlarmRequest>) -> Result<Response<AlarmResponse>, Status> {
        // Atoll raises no alarms: a GET lists none, and there is none to (de)activate.
        self.auth.authorize(&request, Need::User).await?;
        let revision = self.context.range(FIRST_RANGE_ID).map_or(0, |r| r.revision());
        Ok(Response::new(AlarmResponse { header: self.header(revision), alarms: vec![] }))
    }

    async fn status(&self, request: Request<StatusRequest>) -> Result<Response<StatusResponse>, Status> {
        self.auth.authorize(&request, Need::User).await?;
        let status = self.context.store.status().await.map_err(store_status)?;
        let range = status.iter().find(|r| r.range_id == FIRST_RANGE_ID).cloned().unwrap_or_default();
        let revision = self.context.range(FIRST_RANGE_ID).map_or(0, |r| r.revision());
        let db_size = self.context.engine.size_bytes() as i64;
        Ok(Response::new(StatusResponse {
            header: self.header(revision),
            // The etcd API level Atoll implements; Atoll's own version is in the errors-free
            // `atoll node status` output and /health.
            version: "3.5.0".into(),
            db_size,
            leader: range.leader_id,
            raft_index: range.commit_index,
            raft_term: range.term,
            raft_applied_index: range.applied_index,
            errors: vec![],
            db_size_in_use: db_size,
            is_learner: false,
        }))
    }

    async fn defragment(&self, _: Request<DefragmentRequest>) -> Result<Response<DefragmentResponse>, Status> {
        Err(not_served("Defragment (the LSM engine compacts by itself)"))
    }
    async fn hash(&self, _: Request<HashRequest>) -> Result<Response<HashResponse>, Status> {
        Err(not_served("Hash"))
    }
    async fn hash_kv(&self, _: Request<HashKvRequest>) -> Result<Response<HashKvResponse>, Status> {
        Err(not_served("HashKV"))
    }
    async fn snapshot(&self, _: Request<SnapshotRequest>) -> Result<Response<SnapshotStream>, Status> {
        Err(not_served("Snapshot (use atoll backup, coming later)"))
    }
    async fn move_leader(&self, _: Request<MoveLeaderRequest>) -> Result<Response<MoveLeaderResponse>, Status> {
        Err(not_served("MoveLeader"))
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;
type KeepAliveStream = Pin<Box<dyn Stream<Item = Result<LeaseKeepAliveResponse, Status>> + Send>>;

#[tonic::async_trait]
impl watch_server::Watch for EtcdApi {
    type WatchStream = WatchStream;
    async fn watch(&self, _: Request<tonic::Streaming<WatchRequest>>) -> Result<Response<WatchStream>, Status> {
        Err(not_served("Watch"))
    }
}

#[tonic::async_trait]
impl lease_server::Lease for EtcdApi {
    type LeaseKeepAliveStream = KeepAliveStream;
    async fn lease_grant(&self, _: Request<LeaseGrantRequest>) -> Result<Response<LeaseGrantResponse>, Status> {
        Err(not_served("Lease"))
    }
    async fn lease_revoke(&self, _: Request<LeaseRevokeRequest>) -> Result<Response<LeaseRevokeResponse>, Status> {
        Err(not_served("Lease"))
    }
    async fn lease_keep_alive(
        &self,
        _: Request<tonic::Streaming<LeaseKeepAliveRequest>>,
    ) -> Result<Response<KeepAliveStream>, Status> {
        Err(not_served("Lease"))
    }
    async fn lease_time_to_live(
        &self,
        _: Request<LeaseTimeToLiveRequest>,
    ) -> Result<Response<LeaseTimeToLiveResponse>, Status> {
        Err(not_served("Lease"))
    }
    async fn lease_leases(&self, _: Request<LeaseLeasesRequest>) -> Result<Response<LeaseLeasesResponse>, Status> {
        Err(not_served("Lease"))
    }
}
