//! The KV state machine of one range: applies committed commands to MVCC data.

use crate::executor::{execute_txn, View};
use crate::state::{self, AppliedState};
use crate::{descriptor, mvcc, staged, Error, Result};
use atoll_proto::atoll::{
    command, command_result, Command, CommandError, CommandResult, NodeInfo, RangeDescriptor, SplitResult,
};
use atoll_proto::etcdserverpb::{CompactionRequest, CompactionResponse, RangeRequest, RangeResponse, ResponseHeader};
use atoll_proto::Message;
use atoll_replication::snapshot::SnapshotReader;
use atoll_replication::{Fatal, StateMachine};
use atoll_storage::{Engine, Keyspace, WriteBatch};
use atoll_types::limits::{INTERNAL_TXN_OPS_MAX, STAGED_TXN_OPS_MAX, TXN_OPS_MAX};
use atoll_types::RangeId;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tracing::info;

/// What other threads may read about a range without going through the store loop. Updated
/// by the state machine after each applied batch is written.
#[derive(Debug, Default)]
pub struct RangeShared {
    revision: AtomicI64,
    compact_revision: AtomicI64,
    applied_index: AtomicU64,
    descriptor: RwLock<RangeDescriptor>,
    members: RwLock<Vec<NodeInfo>>,
    /// Bumped when a snapshot replaces the range's data; a garbage collector's chunk checks it
    /// and writes under this lock (see [`crate::gc`]).
    pub(crate) gc_epoch: Mutex<u64>,
    /// Whether a snapshot is being installed: the data on disk is not the range's state.
    restoring: AtomicBool,
}

impl RangeShared {
    /// The latest applied revision.
    pub fn revision(&self) -> i64 {
        self.revision.load(Ordering::Acquire)
    }

    /// The compaction revision.
    pub fn compact_revision(&self) -> i64 {
        self.compact_revision.load(Ordering::Acquire)
    }

    /// The applied Raft index.
    pub fn applied_index(&self) -> u64 {
        self.applied_index.load(Ordering::Acquire)
    }

    /// The range descriptor.
    pub fn descriptor(&self) -> RangeDescriptor {
        self.descriptor.read().map(|d| d.clone()).unwrap_or_default()
    }

    /// Whether the range owns `key` (see [`crate::descriptor`]). A replica with no state yet (a
    /// new one waiting for its first snapshot: no replicas in its descriptor) owns nothing.
    pub fn owns_key(&self, key: &[u8]) -> bool {
        let descriptor = self.descriptor.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        !descriptor.replicas.is_empty() && descriptor::owns(&descriptor, key, &[])
    }

    /// The membership table (kept by the first range).
    pub fn members(&self) -> Vec<NodeInfo> {
        self.members.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Whether a snapshot is being installed (reads are refused meanwhile).
    pub fn restoring(&self) -> bool {
        self.restoring.load(Ordering::Acquire)
    }

    /// A read view at the latest applied revision.
    pub fn view<'a>(&self, engine: &'a dyn Engine) -> View<'a> {
        View::new(engine, self.revision(), self.compact_revision())
    }

    /// Answers a Range at the latest applied revision or the one requested. The compaction
    /// revision is checked again after the read: garbage collection runs concurrently (see
    /// [`crate::gc`]), and a read that a compaction overtook may have missed versions. A span
    /// outside the range's gets [`Error::RangeKeyMismatch`].
    pub fn read(&self, engine: &dyn Engine, request: &RangeRequest) -> Result<RangeResponse> {
        if self.restoring() {
            return Err(Error::Unavailable("etcdserver: this replica is installing a snapshot; retry".into()));
        }
        // Only `publish` writes the descriptor, and it cannot panic holding the lock.
        let descriptor = self.descriptor.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        descriptor::check_span(&descriptor, &request.key, &request.range_end)?;
        drop(descriptor);
        let view = self.view(engine);
        let revision = if request.revision > 0 { request.revision } else { view.current_revision };
        let response = view.range(request)?;
        if revision < self.compact_revision() {
            return Err(Error::OutOfRange(crate::error::messages::COMPACTED.into()));
        }
        Ok(response)
    }

    /// The current GC epoch (see [`crate::gc`]).
    pub(crate) fn gc_epoch(&self) -> u64 {
        *self.gc_epoch.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(test)]
    pub(crate) fn set_compact_revision_for_test(&self, revision: i64) {
        self.compact_revision.store(revision, Ordering::Release);
    }

    fn publish(&self, state: &AppliedState, members: Option<Vec<NodeInfo>>) {
        self.revision.store(state.revision, Ordering::Release);
        self.compact_revision.store(state.compact_revision, Ordering::Release);
        self.applied_index.store(state.applied_index, Ordering::Release);
        if let Ok(mut descriptor) = self.descriptor.write() {
            *descriptor = state.descriptor.clone();
        }
        if let (Some(members), Ok(mut current)) = (members, self.members.write()) {
            *current = members;
        }
    }
}

/// Applies commands of one range to its MVCC data.
pub struct KvStateMachine {
    engine: Arc<dyn Engine>,
    state: AppliedState,
    shared: Arc<RangeShared>,
    /// Ranges created by splits applied since the store last asked.
    created: Vec<RangeId>,
}

fn fatal(e: Error) -> Fatal {
    Fatal(e.to_string())
}

impl KvStateMachine {
    /// Loads the state machine of `range_id` (empty if the range has no state here yet: a new
    /// replica waiting for its first snapshot).
    pub fn open(engine: Arc<dyn Engine>, range_id: RangeId, shared: Arc<RangeShared>) -> Result<Self> {
        mvcc::ensure_derived(engine.as_ref())?;
        let state = AppliedState::load(engine.as_ref(), range_id)?.unwrap_or_else(|| AppliedState {
            revision: 1,
            next_node_id: 2,
            next_range_id: 2,
            descriptor: RangeDescriptor { range_id: range_id.0, ..Default::default() },
            ..Default::default()
        });
        let members = state::load_members(engine.as_ref(), range_id)?;
        shared.publish(&state, Some(members));
        let restoring = crate::snapshot::load_marker(engine.as_ref(), range_id)?.is_some();
        shared.restoring.store(restoring, Ordering::Release);
        Ok(KvStateMachine { engine, state, shared, created: Vec::new() })
    }

    /// Adds to `batch` the initial state of the first range of a new cluster: the whole key
    /// space, one replica on the bootstrapping node, and that node as the only member.
    pub fn bootstrap(batch: &mut WriteBatch, range_id: RangeId, first_node: &NodeInfo) {
        let state = AppliedState {
            applied_index: atoll_replication::raft_storage::BOOTSTRAP_INDEX,
            revision: 1,
            compact_revision: 0,
            next_node_id: first_node.node_id + 1,
            next_range_id: range_id.0 + 1,
            descriptor: RangeDescriptor {
                range_id: range_id.0,
                start_key: vec![],
                end_key: vec![],
                replicas: vec![first_node.node_id],
                generation: 1,
            },
        };
        state.save(batch);
        state::save_member(batch, range_id, first_node);
    }

    pub(crate) fn range_id(&self) -> RangeId {
        RangeId(self.state.descriptor.range_id)
    }

    /// Writes `batch` plus the new applied state, then publishes the state to readers.
    fn commit(
        &mut self,
        mut batch: WriteBatch,
        state: AppliedState,
        members_changed: bool,
    ) -> std::result::Result<(), Fatal> {
        state.save(&mut batch);
        {
            // A garbage collector's chunk checks the newest versions it deletes under this lock.
            let _writing = self.shared.gc_epoch.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.engine.write(batch, false)?;
        }
        self.state = state;
        let members = if members_changed {
            Some(state::load_members(self.engine.as_ref(), self.range_id()).map_err(fatal)?)
        } else {
            None
        };
        self.shared.publish(&self.state, members);
        Ok(())
    }

    fn run(&self, command: Command) -> Result<(WriteBatch, AppliedState, CommandResult, bool)> {
        let mut next = self.state.clone();
        let mut batch = WriteBatch::new();
        let result = match command.kind {
            None => return Err(Error::InvalidArgument("empty command".into())),
            Some(command::Kind::Txn(txn)) => {
                descriptor::check_txn(&next.descriptor, &txn)?;
                let view = View::new(self.engine.as_ref(), next.revision, next.compact_revision);
                let outcome = execute_txn(view, &txn, TXN_OPS_MAX)?;
                next.revision = outcome.revision;
                batch = outcome.batch;
                command_result::Kind::Txn(outcome.response)
            }
            Some(command::Kind::InternalTxn(txn)) => {
                descriptor::check_txn(&next.descriptor, &txn)?;
                let view = View::new(self.engine.as_ref(), next.revision, next.compact_revision);
                let outcome = execute_txn(view, &txn, INTERNAL_TXN_OPS_MAX)?;
                next.revision = outcome.revision;
                batch = outcome.batch;
                command_result::Kind::Txn(outcome.response)
            }
            Some(command::Kind::Stage(part)) => {
                if let Some(txn) = &part.part {
                    descriptor::check_txn(&next.descriptor, txn)?;
                }
                staged::stage(self.range_id(), &part, &mut batch)?;
                command_result::Kind::Txn(unchanged(next.revision))
            }
            Some(command::Kind::CommitStaged(commit)) => {
                let taken = staged::take(self.engine.as_ref(), self.range_id(), &commit)?;
                let view = View::new(self.engine.as_ref(), next.revision, next.compact_revision);
                let mut drops = taken.drops;
                let checked = taken.txn.and_then(|txn| descriptor::check_txn(&next.descriptor, &txn).map(|()| txn));
                match checked.and_then(|txn| execute_txn(view, &txn, STAGED_TXN_OPS_MAX)) {
                    Ok(outcome) => {
                        next.revision = outcome.revision;
                        batch = outcome.batch;
                        batch.append(&mut drops);
                        command_result::Kind::Txn(outcome.response)
                    }
                    Err(e @ (Error::Corrupt(_) | Error::Storage(_))) => return Err(e),
                    // A deterministic failure still drops the parts.
                    Err(e) => return Ok((drops, next, error_result(&e), false)),
                }
            }
            Some(command::Kind::AbortStaged(abort)) => {
                staged::abort(self.engine.as_ref(), self.range_id(), &abort, &mut batch)?;
                command_result::Kind::Txn(unchanged(next.revision))
            }
            Some(command::Kind::Compact(request)) => {
                self.compact(&request, &mut next)?;
                command_result::Kind::Compact(CompactionResponse {
                    header: Some(ResponseHeader { revision: next.revision, ..Default::default() }),
                })
            }
            Some(command::Kind::AllocateRangeId(_)) => {
                if self.range_id() != atoll_types::FIRST_RANGE_ID {
                    return Err(Error::InvalidArgument(format!(
                        "range ids are handed out by range {}, not {}",
                        atoll_types::FIRST_RANGE_ID,
                        self.range_id()
                    )));
                }
                let allocated = next.next_range_id;
                next.next_range_id += 1;
                command_result::Kind::AllocatedRangeId(allocated)
            }
            Some(command::Kind::Split(split)) => {
                let outcome = crate::split::apply(self.engine.as_ref(), &next, &split, &mut batch)?;
                next = outcome.left;
                command_result::Kind::Split(SplitResult {
                    left: Some(next.descriptor.clone()),
                    right: Some(outcome.right.descriptor),
                })
            }
            Some(command::Kind::RegisterNode(node)) => {
                let registered = self.register(node, &mut next, &mut batch)?;
                return Ok((
                    batch,
                    next,
                    CommandResult { kind: Some(command_result::Kind::Registered(registered)) },
                    true,
                ));
            }
        };
        Ok((batch, next, CommandResult { kind: Some(result) }, false))
    }

    /// Logical compaction: raises the compaction revision, after which reads below it fail.
    /// Each node's collector then deletes the garbage in the background (see [`crate::gc`]).
    fn compact(&self, request: &CompactionRequest, next: &mut AppliedState) -> Result<()> {
        use crate::error::messages;
        if request.revision > next.revision {
            return Err(Error::OutOfRange(messages::FUTURE_REV.into()));
        }
        if request.revision <= next.compact_revision {
            return Err(Error::OutOfRange(messages::COMPACTED.into()));
        }
        next.compact_revision = request.revision;
        Ok(())
    }

    /// Allocates a node id for a joining node, or returns the earlier registration of the same
    /// peer address (a node that crashed while joining asks again).
    fn register(&self, mut node: NodeInfo, next: &mut AppliedState, batch: &mut WriteBatch) -> Result<NodeInfo> {
        let members = state::load_members(self.engine.as_ref(), self.range_id())?;
        if let Some(existing) = members.iter().find(|m| m.peer_addr == node.peer_addr) {
            node.node_id = existing.node_id;
        } else {
            node.node_id = next.next_node_id;
            next.next_node_id += 1;
        }
        state::save_member(batch, self.range_id(), &node);
        Ok(node)
    }
}

/// The answer to a command that changes no data.
fn unchanged(revision: i64) -> atoll_proto::etcdserverpb::TxnResponse {
    atoll_proto::etcdserverpb::TxnResponse {
        header: Some(ResponseHeader { revision, ..Default::default() }),
        succeeded: true,
        responses: vec![],
    }
}

/// The answer to a command the state machine refused; [`command_error`] reads it back.
fn error_result(e: &Error) -> CommandResult {
    let code = match e {
        Error::InvalidArgument(_) => 3,
        Error::NotFound(_) => 5,
        Error::OutOfRange(_) => 11,
        Error::Conflict | Error::Deadlock | Error::LockTimeout => 10,
        Error::Unavailable(_) => 14,
        Error::Overloaded(_) => 8,
        Error::RangeKeyMismatch(_) => 9,
        Error::Corrupt(_) | Error::Storage(_) => 13,
    };
    let range_key_mismatch = match e {
        Error::RangeKeyMismatch(descriptor) => Some(descriptor.as_ref().clone()),
        _ => None,
    };
    let error = CommandError { code, message: e.to_string(), range_key_mismatch };
    CommandResult { kind: Some(command_result::Kind::Error(error)) }
}

/// The error a refused command's answer stands for (the inverse of the state machine's
/// encoding; `Conflict`, `Deadlock` and `LockTimeout` are decided by gateways, never applied).
pub fn command_error(error: CommandError) -> Error {
    match (error.code, error.range_key_mismatch) {
        (9, Some(descriptor)) => Error::RangeKeyMismatch(Box::new(descriptor)),
        (3, _) => Error::InvalidArgument(error.message),
        (5, _) => Error::NotFound(error.message),
        (11, _) => Error::OutOfRange(error.message),
        (8, _) => Error::Overloaded(error.message),
        (14, _) => Error::Unavailable(error.message),
        (10, _) => Error::Conflict,
        (13, _) => Error::Corrupt(error.message),
        // A code this build does not know (a newer node's, during an upgrade).
        (code, _) => Error::Unavailable(format!("answer code {code}: {}", error.message)),
    }
}

impl StateMachine for KvStateMachine {
    type Response = CommandResult;

    fn applied_index(&self) -> u64 {
        self.state.applied_index
    }

    fn apply(&mut self, index: u64, command: &[u8]) -> std::result::Result<CommandResult, Fatal> {
        assert!(index > self.state.applied_index, "entry {index} applied twice (applied {})", self.state.applied_index);
        let outcome = Command::decode(command)
            .map_err(|e| Error::InvalidArgument(format!("undecodable command: {e}")))
            .and_then(|command| self.run(command));
        match outcome {
            Ok((batch, mut next, result, members_changed)) => {
                next.applied_index = index;
                self.commit(batch, next, members_changed)?;
                if let Some(command_result::Kind::Split(SplitResult { right: Some(right), .. })) = &result.kind {
                    info!(range_id = %self.range_id(), new_range_id = right.range_id, split_key = %right.start_key.escape_ascii(), "range split");
                    self.created.push(RangeId(right.range_id));
                }
                Ok(result)
            }
            Err(Error::Corrupt(m)) | Err(Error::Storage(m)) => Err(Fatal(m)),
            Err(e) => {
                let mut next = self.state.clone();
                next.applied_index = index;
                self.commit(WriteBatch::new(), next, false)?;
                Ok(error_result(&e))
            }
        }
    }

    fn apply_other(&mut self, index: u64, voters: Option<&[u64]>) -> std::result::Result<(), Fatal> {
        let mut next = self.state.clone();
        next.applied_index = index;
        if let Some(voters) = voters {
            if next.descriptor.replicas != voters {
                next.descriptor.replicas = voters.to_vec();
                next.descriptor.generation += 1;
            }
        }
        self.commit(WriteBatch::new(), next, false)
    }

    fn take_created_ranges(&mut self) -> Vec<RangeId> {
        std::mem::take(&mut self.created)
    }

    fn snapshot(&self) -> std::result::Result<Box<dyn SnapshotReader>, Fatal> {
        Ok(Box::new(crate::snapshot::KvSnapshotReader::new(self.engine.snapshot(), &self.state.descriptor)))
    }

    fn begin_restore(
        &mut self,
        index: u64,
        voters: &[u64],
        file: &std::path::Path,
        batch: &mut WriteBatch,
    ) -> std::result::Result<(), Fatal> {
        assert!(
            index > self.state.applied_index,
            "range {}: a snapshot at {index} behind the applied {}",
            self.range_id(),
            self.state.applied_index
        );
        self.shared.restoring.store(true, Ordering::Release);
        let marker = crate::snapshot::encode_marker(index, voters, file);
        batch.put(Keyspace::RangeState, state::restore_marker_key(self.range_id()), marker);
        Ok(())
    }

    fn pending_restore(&self) -> std::result::Result<Option<atoll_replication::snapshot::PendingRestore>, Fatal> {
        let Some(marker) = crate::snapshot::load_marker(self.engine.as_ref(), self.range_id()).map_err(fatal)? else {
            return Ok(None);
        };
        let job = crate::snapshot::KvRestoreJob {
            engine: self.engine.clone(),
            shared: self.shared.clone(),
            range_id: self.range_id(),
            index: marker.index,
            voters: marker.voters,
            file: marker.file.into(),
        };
        Ok(Some((marker.index, Box::new(job))))
    }

    fn finish_restore(&mut self) -> std::result::Result<(), Fatal> {
        let range_id = self.range_id();
        let state = AppliedState::load(self.engine.as_ref(), range_id)
            .map_err(fatal)?
            .ok_or_else(|| Fatal(format!("range {range_id}: no state after a snapshot install")))?;
        let members = state::load_members(self.engine.as_ref(), range_id).map_err(fatal)?;
        self.state = state;
        self.shared.publish(&self.state, Some(members));
        self.shared.restoring.store(false, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
