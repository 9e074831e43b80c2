//! Multi-Raft replication: every range is one raft-rs group, and one *store loop* per node
//! drives all of them.
//!
//! # Why one loop
//! raft-rs is sans-I/O: a [`raft::RawNode`] only changes state when it is told to tick, step a
//! message or propose, and it hands back a `Ready` with what must be persisted, sent and
//! applied. The store loop ([`store::Store::run`]) does that for every range on the node:
//!
//! 1. take requests from the bounded inbox (client proposals, ReadIndex requests, Raft messages
//!    from peers, conf changes), at most [`STORE_ITERATION_REQUESTS_MAX`] per iteration;
//! 2. tick every range when the tick interval has passed;
//! 3. collect the `Ready` of every range that has one; send the leader's messages at once (a
//!    leader may send appends before its own write is durable), apply committed entries, and
//!    gather all new log entries and hard states into **one write batch with one fsync**: group
//!    commit across ranges, the reason for this design;
//! 4. after the fsync, send the messages that had to wait for durability (votes, append
//!    responses), advance each node and apply what became committed.
//!
//! A write is acknowledged to its client only when its entry is applied, which happens after
//! a quorum has it durably in its log: kill -9 of a minority loses no acknowledged write.
//!
//! # Reads
//! Linearizable reads use ReadIndex ([`raft::ReadOnlyOption::Safe`]): the leader confirms with
//! a heartbeat round to a quorum that it is still leader, then the read waits until the local
//! replica has applied that index. All ReadIndex requests that arrive in one loop iteration
//! share one heartbeat round. Followers can serve linearizable reads the same way (raft-rs
//! forwards the ReadIndex to the leader).
//!
//! A confirmed round also gives the leader a *lease* ([`lease`]): for a little less than an
//! election timeout from the round's send, reads on the leader skip the round and wait only
//! for the leader's commit index to be applied. The lease is measured on the monotonic clock
//! and needs the nodes' clocks to run at nearly the same rate (one tick of margin per election
//! timeout), not to agree on the time.
//!
//! # The state machine
//! What a committed entry means is not this crate's business: each range has a
//! [`StateMachine`] (the MVCC store of `atoll-kv`) that applies entries, produces snapshots and
//! restores them. This crate knows ranges only by [`RangeId`].

pub mod lease;
pub mod load;
pub mod metrics;
mod peer;
mod proposal;
pub mod raft_storage;
pub mod snapshot;
mod store;

pub use store::{Store, StoreConfig, StoreHandle};

use atoll_types::{NodeId, RangeId};
use raft::eraftpb::Message;

pub use atoll_types::limits::STORE_ITERATION_REQUESTS_MAX;
pub use raft;

/// Errors a client of the store sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No leader is known, or the request was dropped on the way to it: retry.
    #[error("etcdserver: no leader")]
    NoLeader,
    /// The leader changed while the request waited; it may or may not have taken effect.
    #[error("etcdserver: leader changed")]
    LeaderChanged,
    /// A leader change dropped the proposal: an entry of a later term was applied before it,
    /// so it was not and never will be applied. Safe to send again.
    #[error("etcdserver: leader changed; the request was dropped and not applied")]
    Dropped,
    /// The request was not answered in time; a write may or may not have taken effect.
    #[error("etcdserver: request timed out")]
    Timeout,
    /// The store's inbox is full.
    #[error("etcdserver: too many requests")]
    Overloaded,
    /// The range does not exist on this node.
    #[error("range {0} not found on this node")]
    RangeNotFound(RangeId),
    /// The node is shutting down.
    #[error("etcdserver: server stopped")]
    Stopped,
    /// A membership change was refused (another one is in progress); retry.
    #[error("membership change rejected: {0}")]
    ConfChangeRejected(String),
    /// A received snapshot was not taken (the replica is installing an earlier one, or took
    /// another this iteration): the sender reports the send failed and tries again later.
    #[error("snapshot not taken: {0}")]
    SnapshotNotTaken(&'static str),
}

/// A failure that must stop the node: the disk failed or returned garbage, so continuing could
/// make this replica diverge from the others.
#[derive(Debug, thiserror::Error)]
#[error("fatal: {0}")]
pub struct Fatal(pub String);

impl From<atoll_storage::Error> for Fatal {
    fn from(e: atoll_storage::Error) -> Self {
        Fatal(e.to_string())
    }
}

/// The replicated state of one range, driven by its Raft log.
pub trait StateMachine: Send + 'static {
    /// What applying a command answers to the client that proposed it.
    type Response: Send + 'static;

    /// The index of the last applied entry (durable with the data it produced).
    fn applied_index(&self) -> u64;

    /// Applies one committed normal entry with a command in it.
    fn apply(&mut self, index: u64, command: &[u8]) -> Result<Self::Response, Fatal>;

    /// Records that an entry without a command (an empty entry after an election, or a
    /// membership change) was applied. `voters` is the new replica set after a conf change.
    fn apply_other(&mut self, index: u64, voters: Option<&[u64]>) -> Result<(), Fatal>;

    /// The ranges that entries applied since the last call created (a split creates one, with
    /// its initial Raft and applied state already written): the store loads a replica of each.
    fn take_created_ranges(&mut self) -> Vec<RangeId> {
        Vec::new()
    }

    /// A reader of the whole applied state as of now, to send to a replica that is too far
    /// behind. Called on the store thread, so it must be cheap (take an engine snapshot); the
    /// reading happens on another thread (see [`snapshot`]).
    fn snapshot(&self) -> Result<Box<dyn snapshot::SnapshotReader>, Fatal>;

    /// Starts replacing the whole state with the snapshot in `file`, taken at `index`: adds to
    /// `batch` a durable marker naming the file. The store commits `batch` atomically with the
    /// Raft log's own snapshot state and then runs [`Self::pending_restore`]'s job off the
    /// loop. Until that job ends, the replica's old state must not be read as current.
    fn begin_restore(
        &mut self,
        index: u64,
        voters: &[u64],
        file: &std::path::Path,
        batch: &mut atoll_storage::WriteBatch,
    ) -> Result<(), Fatal>;

    /// The restore recorded by [`Self::begin_restore`] and not finished (also after a crash):
    /// its snapshot index and the job that installs it.
    fn pending_restore(&self) -> Result<Option<snapshot::PendingRestore>, Fatal>;

    /// Called on the store thread once the restore job succeeded: load the new state.
    fn finish_restore(&mut self) -> Result<(), Fatal>;
}

/// Builds the state machine of a range when the store creates or loads a replica.
pub type StateMachineFactory<S> = Box<dyn Fn(RangeId) -> Result<S, Fatal> + Send>;

/// One Raft message addressed to a range on another node.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub range_id: RangeId,
    pub message: Message,
}

/// Sends Raft messages to other nodes. Implementations must not block: queue and return.
/// Delivery is best effort; Raft retransmits what is lost.
pub trait Transport: Send + 'static {
    fn send(&self, to: NodeId, messages: Vec<Envelope>);

    /// Streams a snapshot to `to` (see [`snapshot`]) and reports the outcome through
    /// `snapshot.done`. Must not block: the work happens on other threads.
    fn send_snapshot(&self, snapshot: snapshot::OutgoingSnapshot);
}

/// What one range looks like from this node, for status and admin tools.
#[derive(Debug, Clone, Default)]
pub struct RangeRaftStatus {
    pub range_id: RangeId,
    pub leader_id: u64,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    pub voters: Vec<u64>,
    /// Non-voting replicas catching up before promotion.
    pub learners: Vec<u64>,
    pub is_leader: bool,
    /// On the leader: how far each replica's log matches the leader's, `(node, index)`.
    pub matched: Vec<(u64, u64)>,
    /// Whether this replica is installing a snapshot (it serves nothing meanwhile).
    pub restoring: bool,
}

/// A change of a range's replica set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplicaChange {
    /// Add a non-voting replica: it receives the log (and a snapshot) without counting in
    /// quorums, so adding it cannot make the range unavailable.
    AddLearner,
    /// Add a voter, or promote a learner to voter.
    AddVoter,
    /// Remove a replica.
    Remove,
}
