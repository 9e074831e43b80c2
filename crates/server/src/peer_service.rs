//! The `Peer` gRPC service: Raft traffic in, cluster join, node status.

use crate::etcd::store_status;
use crate::node::NodeContext;
use crate::peer_tls::Caller;
use atoll_proto::atoll::peer_server::Peer;
use atoll_proto::atoll::*;
use atoll_replication::raft::eraftpb::Message as RaftMessage;
use atoll_types::{RangeId, FIRST_RANGE_ID};
use protobuf::Message as _;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_stream::StreamExt;
use tonic::{Request, Response, Status, Streaming};
use tracing::{debug, info};

/// Serves peer RPC for one node.
pub struct PeerService {
    context: Arc<NodeContext>,
    /// A key count (a full scan) is running: a status call starts no second one.
    counting: Arc<AtomicBool>,
}

/// How long a status call waits for its key counts before answering without them.
const KEY_COUNT_WAIT: Duration = Duration::from_secs(1);

impl PeerService {
    pub fn new(context: Arc<NodeContext>) -> Self {
        PeerService { context, counting: Arc::new(AtomicBool::new(false)) }
    }

    /// Live keys and their bytes per range, counted on a blocking thread, one count at a time
    /// on this node. A count is a full scan (a million keys under load take seconds), so a status call
    /// answers without counts it did not get within [`KEY_COUNT_WAIT`]; `atoll range ls`
    /// shows them as unknown.
    /// Checks the caller's certificate (secure nodes).
    fn authorize<T>(&self, request: &Request<T>, caller: Caller) -> Result<(), Status> {
        crate::peer_tls::authorize(self.context.peer_check, request, caller)
    }

    async fn live_key_counts(&self, ranges: Vec<RangeId>) -> HashMap<RangeId, (u64, u64)> {
        if self.counting.swap(true, Ordering::AcqRel) {
            return HashMap::new();
        }
        let context = self.context.clone();
        let counting = self.counting.clone();
        let count = tokio::task::spawn_blocking(move || {
            let counts = ranges
                .into_iter()
                .filter_map(|id| context.range(id).map(|shared| (id, live_keys(&shared, context.engine.as_ref()))))
                .collect();
            counting.store(false, Ordering::Release);
            counts
        });
        match tokio::time::timeout(KEY_COUNT_WAIT, count).await {
            Ok(Ok(counts)) => counts,
            _ => HashMap::new(),
        }
    }

    /// Registers a joining node. Making it a replica is the replication queue's job
    /// ([`crate::replicate`]), which adds it as a learner and promotes it once caught up.
    async fn join(&self, node: NodeInfo) -> Result<JoinResponse, Status> {
        // The membership table lives in the first range.
        let registered = self.context.router.propose(FIRST_RANGE_ID, command::Kind::RegisterNode(node));
        let registered = match registered.await.map_err(crate::etcd::route_status)? {
            command_result::Kind::Registered(info) => info,
            _ => return Err(Status::internal("unexpected command result")),
        };
        info!(node_id = registered.node_id, peer_addr = %registered.peer_addr, "node registered");
        self.context.learn_address(&registered);
        let shared = self.context.range(FIRST_RANGE_ID).ok_or_else(|| Status::unavailable("no range replica here"))?;
        Ok(JoinResponse { node_id: registered.node_id, cluster_id: self.context.cluster_id, members: shared.members() })
    }
}

impl PeerService {
    /// Creates an empty replica of `descriptor`'s range, which its leader then fills with a
    /// snapshot. Refused while a replica here might still own keys of that range: one with no
    /// state yet or installing a snapshot (its span is about to change), or one whose span
    /// overlaps. Such a replica either applies the split that creates the range here itself
    /// or is replaced by a snapshot taken after it; a replica created beside it could
    /// otherwise install data that the older replica then writes over (see `atoll_kv::split`).
    async fn create_replica(&self, descriptor: RangeDescriptor, from_node_id: u64) -> Result<(), Status> {
        let range_id = RangeId(descriptor.range_id);
        let empty_span = !descriptor.end_key.is_empty() && descriptor.end_key <= descriptor.start_key;
        if range_id.0 == 0 || descriptor.replicas.is_empty() || empty_span {
            return Err(Status::invalid_argument(
                "replica request for no range, a range without replicas or an empty span",
            ));
        }
        // (The descriptor lists voters; a learner being added is not among them yet.)
        if self.context.range(range_id).is_some() {
            return Ok(());
        }
        for (other_id, other) in self.context.router.replicas() {
            let other_descriptor = other.descriptor();
            if other_descriptor.replicas.is_empty() || other.restoring() {
                return Err(Status::failed_precondition(format!(
                    "range {other_id} here has no state yet; range {range_id} waits for it"
                )));
            }
            if atoll_kv::split::overlaps(&other_descriptor, &descriptor) {
                return Err(Status::failed_precondition(format!(
                    "range {other_id} here still owns keys of range {range_id} (it has not applied the split yet)"
                )));
            }
        }
        self.context.store.create_replica(range_id).await.map_err(store_status)?;
        info!(%range_id, from = from_node_id, "empty replica created at a replica's request");
        Ok(())
    }
}

/// The range's live keys and their bytes (0 and 0 if the engine fails; the count is advice).
fn live_keys(shared: &atoll_kv::RangeShared, engine: &dyn atoll_storage::Engine) -> (u64, u64) {
    let descriptor = shared.descriptor();
    atoll_kv::mvcc::live_keys(engine, &descriptor.start_key, &descriptor.end_key).unwrap_or_default()
}

#[tonic::async_trait]
impl Peer for PeerService {
    async fn raft(&self, request: Request<Streaming<RaftBatch>>) -> Result<Response<RaftAck>, Status> {
        self.authorize(&request, Caller::Node)?;
        let mut stream = request.into_inner();
        while let Some(batch) = stream.next().await {
            let batch = batch?;
            if batch.to_node_id != self.context.node_id.0 {
                return Err(Status::failed_precondition(format!(
                    "raft batch for node {} reached node {}",
                    batch.to_node_id, self.context.node_id.0
                )));
            }
            if self.context.faults.is_blocked(batch.from_node_id) {
                continue;
            }
            self.context.heard_from(batch.from_node_id);
            for envelope in batch.messages {
                let Ok(message) = RaftMessage::parse_from_bytes(&envelope.message) else {
                    debug!(from = batch.from_node_id, "undecodable raft message dropped");
                    continue;
                };
                // A full inbox drops the message; Raft retransmits.
                let _ = self.context.store.step(RangeId(envelope.range_id), message);
            }
        }
        Ok(Response::new(RaftAck {}))
    }

    async fn snapshot(&self, request: Request<Streaming<SnapshotChunk>>) -> Result<Response<SnapshotAck>, Status> {
        self.authorize(&request, Caller::Node)?;
        crate::snapshot_stream::receive(&self.context, request.into_inner()).await.map(Response::new)
    }

    async fn join(&self, request: Request<JoinRequest>) -> Result<Response<JoinResponse>, Status> {
        self.authorize(&request, Caller::Node)?;
        let node =
            request.into_inner().node.ok_or_else(|| Status::invalid_argument("join request without node info"))?;
        if node.peer_addr.is_empty() {
            return Err(Status::invalid_argument("join request without a peer address"));
        }
        self.join(node).await.map(Response::new)
    }

    async fn create_replica(
        &self,
        request: Request<CreateReplicaRequest>,
    ) -> Result<Response<CreateReplicaResponse>, Status> {
        self.authorize(&request, Caller::Node)?;
        let request = request.into_inner();
        let descriptor =
            request.descriptor.ok_or_else(|| Status::invalid_argument("replica request without a descriptor"))?;
        self.create_replica(descriptor, request.from_node_id).await.map(|()| Response::new(CreateReplicaResponse {}))
    }

    async fn status(&self, request: Request<NodeStatusRequest>) -> Result<Response<NodeStatusResponse>, Status> {
        self.authorize(&request, Caller::NodeOrRoot)?;
        let raft = self.context.store.status().await.map_err(store_status)?;
        let shared = self.context.range(FIRST_RANGE_ID);
        let nodes = shared
            .as_ref()
            .map(|s| s.members())
            .unwrap_or_default()
            .into_iter()
            .map(|info| NodeLiveness {
                last_heard_ms_ago: self.context.last_heard_ms_ago(info.node_id),
                info: Some(info),
            })
            .collect();
        let counts = self.live_key_counts(raft.iter().map(|r| r.range_id).collect()).await;
        let ranges = raft
            .into_iter()
            .map(|r| {
                let shared = self.context.range(r.range_id);
                let mut descriptor = shared.as_ref().map(|s| s.descriptor()).unwrap_or_default();
                descriptor.replicas = r.voters.clone();
                RangeStatus {
                    descriptor: Some(descriptor),
                    leader_node_id: r.leader_id,
                    term: r.term,
                    commit_index: r.commit_index,
                    applied_index: r.applied_index,
                    revision: shared.as_ref().map_or(0, |s| s.revision()),
                    approximate_size_bytes: counts.get(&r.range_id).map_or(0, |(_, bytes)| *bytes),
                    key_count: counts.get(&r.range_id).map(|(count, _)| *count),
                    learners: r.learners.clone(),
                    restoring: r.restoring,
                }
            })
            .collect();
        let snapshots = self
            .context
            .store
            .snapshot_progress()
            .list()
            .into_iter()
            .map(|entry| SnapshotInProgress {
                range_id: entry.range_id.0,
                peer_node_id: entry.peer,
                direction: entry.direction.name().into(),
                bytes: entry.bytes,
                elapsed_ms: entry.elapsed.as_millis() as u64,
            })
            .collect();
        Ok(Response::new(NodeStatusResponse {
            node_id: self.context.node_id.0,
            cluster_id: self.context.cluster_id,
            nodes,
            ranges,
            started_at_unix_ms: self.context.started_at_unix_ms,
            version: atoll_types::VERSION.into(),
            snapshots,
        }))
    }
}
