//! The store loop: one thread that drives every range replica on the node (see the crate docs).

mod snapshots;

use snapshots::begin_restore;

use crate::lease::{lease_duration, PublishedLease};
use crate::load::{read_context, read_context_id, read_context_reads};
use crate::metrics::StoreMetrics;
use crate::peer::{Peer, ReadRound, ReadWaiter};
use crate::proposal::ProposalContext;
use crate::raft_storage::RaftStorage;
use crate::snapshot::{RestoreJob, SnapshotEvent, SnapshotFiles, SnapshotProgress, SnapshotSlots};
use crate::{Envelope, Error, Fatal, RangeRaftStatus, ReplicaChange, StateMachine, StateMachineFactory, Transport};
use atoll_storage::{Engine, WriteBatch};
use atoll_types::limits::{
    RAFT_INFLIGHT_MESSAGES_MAX, RAFT_LOG_CATCH_UP_BYTES_MAX, RAFT_LOG_ENTRIES_KEPT, RAFT_LOG_LAG_BYTES_MAX,
    RAFT_LOG_LAG_ENTRIES_MAX, RAFT_MESSAGE_ENTRIES_BYTES_MAX, STORE_INBOX_MAX, STORE_ITERATION_REQUESTS_MAX,
};
use atoll_types::{NodeId, RangeId};
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeType, ConfChangeV2, Entry, EntryType, Message, MessageType};
use raft::{RawNode, ReadOnlyOption};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

/// Timing of the store loop.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub node_id: NodeId,
    /// One Raft tick.
    pub tick_interval: Duration,
    /// Ticks without a heartbeat before a follower starts an election (randomised up to 2x).
    pub election_ticks: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// How long a proposal or read may wait for its answer.
    pub request_timeout: Duration,
    /// Whether a leader serves linearizable reads under a lease (see [`crate::lease`]) instead
    /// of a heartbeat round per read.
    pub leader_lease: bool,
    /// BROKEN ON PURPOSE, for tests of the checkers: the lease holds for the whole term, as
    /// raft-rs's `LeaseBased` reads do, whatever the clock says.
    pub unsafe_timeless_lease: bool,
    /// Whether a leader hands leadership to the follower that sends most requests (see
    /// [`crate::load`]).
    pub leader_follows_load: bool,
    /// Where received snapshots wait to be installed (see [`crate::snapshot`]).
    pub snapshot_dir: PathBuf,
    /// Applied entries kept before the log is truncated (see [`maybe_truncate`]).
    pub log_entries_kept: u64,
    /// How much more log a leader keeps for a lagging follower, in entries and in bytes.
    pub log_lag_entries_max: u64,
    pub log_lag_bytes_max: u64,
}

impl StoreConfig {
    /// Defaults: 100 ms ticks, 300 ms heartbeats, 1-2 s election timeout, 5 s request timeout,
    /// the log limits of `atoll_types::limits`; received snapshots go to `snapshot_dir`.
    pub fn new(node_id: NodeId, snapshot_dir: PathBuf) -> Self {
        StoreConfig {
            node_id,
            tick_interval: Duration::from_millis(100),
            election_ticks: 10,
            heartbeat_ticks: 3,
            request_timeout: Duration::from_secs(5),
            leader_lease: true,
            unsafe_timeless_lease: false,
            leader_follows_load: true,
            snapshot_dir,
            log_entries_kept: RAFT_LOG_ENTRIES_KEPT,
            log_lag_entries_max: RAFT_LOG_LAG_ENTRIES_MAX,
            log_lag_bytes_max: RAFT_LOG_LAG_BYTES_MAX,
        }
    }

    /// How long a leader's lease lasts from the send of the round that confirmed it.
    pub fn lease_duration(&self) -> Duration {
        lease_duration(self.tick_interval, self.election_ticks)
    }

    /// A loop iteration or fsync longer than half an election timeout is logged: that long
    /// without heartbeats, followers may start electing.
    fn slow_step(&self) -> Duration {
        self.tick_interval * (self.election_ticks as u32 / 2)
    }
}

enum Request<R> {
    Propose {
        range_id: RangeId,
        data: Vec<u8>,
        reply: oneshot::Sender<Result<R, Error>>,
    },
    ReadIndex {
        range_id: RangeId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    ChangeReplica {
        range_id: RangeId,
        node_id: u64,
        change: ReplicaChange,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Step {
        range_id: RangeId,
        message: Message,
    },
    /// A `MsgSnapshot` whose state is in the received snapshot file `file_id`.
    StepSnapshot {
        range_id: RangeId,
        message: Message,
        file_id: u64,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    CreateReplica {
        range_id: RangeId,
        reply: oneshot::Sender<Result<(), Error>>,
    },
    Status {
        reply: oneshot::Sender<Vec<RangeRaftStatus>>,
    },
}

enum Pending<R> {
    Command(oneshot::Sender<Result<R, Error>>),
    ConfChange(oneshot::Sender<Result<(), Error>>),
}

/// A proposal of this node waiting for its entry to be applied.
struct PendingProposal<R> {
    kind: Pending<R>,
    deadline: Instant,
    range_id: RangeId,
    /// The term this node was in when it proposed; also in the entry's context.
    term: u64,
}

impl<R> PendingProposal<R> {
    fn fail(self, error: Error) {
        match self.kind {
            Pending::Command(reply) => drop(reply.send(Err(error))),
            Pending::ConfChange(reply) => drop(reply.send(Err(error))),
        }
    }
}

/// How long a lease read waits on its own task for the entries committed before it to be
/// applied, before it asks the loop instead: applying takes microseconds to milliseconds; a
/// loop stalled longer (a large commit) answers through its own path and deadline.
const APPLIED_WAIT_MAX: Duration = Duration::from_secs(1);

/// Every range's published lease, by range.
type Leases = Arc<RwLock<HashMap<RangeId, Arc<PublishedLease>>>>;

/// The async face of the store loop, cheap to clone, used by every server task.
pub struct StoreHandle<R> {
    inbox: SyncSender<Request<R>>,
    node_id: NodeId,
    leases: Leases,
    metrics: StoreMetrics,
    files: Arc<SnapshotFiles>,
    progress: SnapshotProgress,
}

impl<R> Clone for StoreHandle<R> {
    fn clone(&self) -> Self {
        StoreHandle {
            inbox: self.inbox.clone(),
            node_id: self.node_id,
            leases: self.leases.clone(),
            metrics: self.metrics.clone(),
            files: self.files.clone(),
            progress: self.progress.clone(),
        }
    }
}

impl<R: Send + 'static> StoreHandle<R> {
    fn submit(&self, request: Request<R>) -> Result<(), Error> {
        self.inbox.try_send(request).map_err(|e| match e {
            TrySendError::Full(_) => Error::Overloaded,
            TrySendError::Disconnected(_) => Error::Stopped,
        })
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// Proposes a command and waits until it is committed and applied here.
    pub async fn propose(&self, range_id: RangeId, data: Vec<u8>) -> Result<R, Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Propose { range_id, data, reply })?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Waits until this replica has applied everything committed before the call: after it
    /// returns, a local read is linearizable.
    pub async fn read_index(&self, range_id: RangeId) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::ReadIndex { range_id, reply })?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Like [`Self::read_index`], but answered on the caller's thread when this node leads the
    /// range under a lease and `applied` (the replica's applied index) already reaches the
    /// commit index the loop published: no trip through the store loop (see
    /// [`PublishedLease`]). Otherwise it takes the loop's path.
    pub async fn linearizable_read(&self, range_id: RangeId, applied: impl Fn() -> u64) -> Result<(), Error> {
        let published = self.leases.read().ok().and_then(|leases| leases.get(&range_id).cloned());
        if let Some(lease) = published {
            if let Some(index) = lease.read_index(Instant::now()) {
                if lease.wait_applied(index, &applied, APPLIED_WAIT_MAX).await {
                    self.metrics.read_index_requests.inc();
                    self.metrics.lease_reads.inc();
                    lease.count_local_read();
                    return Ok(());
                }
            }
        }
        self.read_index(range_id).await
    }

    /// Changes the replica of a range on `node_id`; answers once the change is applied here.
    pub async fn change_replica(&self, range_id: RangeId, node_id: u64, change: ReplicaChange) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::ChangeReplica { range_id, node_id, change, reply })?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Creates an empty replica that will be filled by a snapshot from the range's leader.
    pub async fn create_replica(&self, range_id: RangeId) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::CreateReplica { range_id, reply })?;
        answer.await.map_err(|_| Error::Stopped)?
    }

    /// Hands a Raft message from a peer to its range. Dropped when the inbox is full.
    pub fn step(&self, range_id: RangeId, message: Message) -> Result<(), Error> {
        self.submit(Request::Step { range_id, message })
    }

    /// Hands a received `MsgSnapshot` to its range, with the complete snapshot file that holds
    /// its state (see [`crate::snapshot`]). The store owns the file from here on. The answer
    /// says whether the replica took it: a sender must not report a snapshot the receiver
    /// dropped as delivered, or its leader would append after a state the follower lacks.
    pub fn step_snapshot(
        &self,
        range_id: RangeId,
        message: Message,
        file_id: u64,
    ) -> Result<oneshot::Receiver<Result<(), Error>>, Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::StepSnapshot { range_id, message, file_id, reply })?;
        Ok(answer)
    }

    /// Where received snapshots are written.
    pub fn snapshot_files(&self) -> &Arc<SnapshotFiles> {
        &self.files
    }

    /// The snapshots this node is sending, receiving and installing.
    pub fn snapshot_progress(&self) -> &SnapshotProgress {
        &self.progress
    }

    /// The store loop's metrics (snapshot counters are kept by the transport too).
    pub fn metrics(&self) -> &StoreMetrics {
        &self.metrics
    }

    /// The Raft status of every range on this node.
    pub async fn status(&self) -> Result<Vec<RangeRaftStatus>, Error> {
        let (reply, answer) = oneshot::channel();
        self.submit(Request::Status { reply })?;
        answer.await.map_err(|_| Error::Stopped)
    }
}

/// The store: all range replicas of a node and the loop that drives them.
pub struct Store<S: StateMachine, T: Transport> {
    config: StoreConfig,
    engine: Arc<dyn Engine>,
    transport: T,
    factory: StateMachineFactory<S>,
    metrics: StoreMetrics,
    ranges: BTreeMap<RangeId, Peer<S>>,
    leases: Leases,
    inbox: Receiver<Request<S::Response>>,
    pending: HashMap<u64, PendingProposal<S::Response>>,
    next_proposal_id: u64,
    next_read_id: u64,
    /// When this store started: it casts no vote within one lease duration of it (see
    /// [`crate::lease`]).
    started: Instant,
    logger: slog::Logger,
    /// Snapshots prepared for and being sent (see [`crate::snapshot`]).
    slots: Arc<SnapshotSlots>,
    files: Arc<SnapshotFiles>,
    progress: SnapshotProgress,
    /// Ends of snapshot work done on other threads.
    events: Receiver<SnapshotEvent>,
    events_sender: Sender<SnapshotEvent>,
}

impl<S: StateMachine, T: Transport> Store<S, T> {
    /// Loads every range replica found in the engine. Returns the store (to be run on its own
    /// thread with [`Store::run`]) and the handle to talk to it.
    pub fn open(
        config: StoreConfig,
        engine: Arc<dyn Engine>,
        transport: T,
        factory: StateMachineFactory<S>,
        metrics: StoreMetrics,
    ) -> Result<(Self, StoreHandle<S::Response>), Fatal> {
        let (sender, inbox) = std::sync::mpsc::sync_channel(STORE_INBOX_MAX);
        let (events_sender, events) = std::sync::mpsc::channel();
        let files = Arc::new(SnapshotFiles::open(config.snapshot_dir.clone(), engine.cipher())?);
        // Proposal ids start from the clock so that entries proposed by an earlier run of this
        // node, still being applied after a restart, cannot answer a new proposal.
        let seed = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
        let mut store = Store {
            config,
            engine,
            transport,
            factory,
            metrics,
            ranges: BTreeMap::new(),
            leases: Leases::default(),
            inbox,
            pending: HashMap::new(),
            next_proposal_id: seed,
            next_read_id: seed,
            started: Instant::now(),
            logger: slog::Logger::root(slog::Discard, slog::o!()),
            slots: Arc::default(),
            files,
            progress: SnapshotProgress::default(),
            events,
            events_sender,
        };
        let mut restores = Vec::new();
        for range_id in RaftStorage::<S>::list_ranges(store.engine.as_ref())? {
            if let Some(job) = store.load_replica(range_id)? {
                restores.push((range_id, job));
            }
        }
        // Every snapshot file but those an interrupted install still needs is garbage.
        let keep: Vec<PathBuf> = restores.iter().map(|(_, job)| job.file().to_path_buf()).collect();
        store.files.clean(&keep);
        for (range_id, job) in restores {
            store.start_restore_job(range_id, job)?;
        }
        let handle = StoreHandle {
            inbox: sender,
            node_id: store.config.node_id,
            leases: store.leases.clone(),
            metrics: store.metrics.clone(),
            files: store.files.clone(),
            progress: store.progress.clone(),
        };
        Ok((store, handle))
    }

    fn raft_config(&self, applied: u64) -> raft::Config {
        raft::Config {
            id: self.config.node_id.0,
            election_tick: self.config.election_ticks,
            heartbeat_tick: self.config.heartbeat_ticks,
            applied,
            max_size_per_msg: RAFT_MESSAGE_ENTRIES_BYTES_MAX,
            max_inflight_msgs: RAFT_INFLIGHT_MESSAGES_MAX,
            check_quorum: true,
            pre_vote: true,
            read_only_option: ReadOnlyOption::Safe,
            ..Default::default()
        }
    }

    /// Loads one replica; returns the job of a snapshot install that a crash interrupted,
    /// which must run before the replica does anything else.
    fn load_replica(&mut self, range_id: RangeId) -> Result<Option<Box<dyn RestoreJob>>, Fatal> {
        let state_machine = Arc::new(Mutex::new((self.factory)(range_id)?));
        let storage = RaftStorage::load(self.engine.as_ref(), range_id, state_machine.clone(), self.slots.clone())?;
        let (applied, pending) = {
            let machine = state_machine.lock().map_err(|_| Fatal("poisoned".into()))?;
            match machine.pending_restore()? {
                // Raft's log already starts after the snapshot: that is where it resumes.
                Some((index, job)) => (index, Some(job)),
                None => (machine.applied_index(), None),
            }
        };
        self.add_replica(range_id, storage, state_machine, applied)?;
        Ok(pending)
    }

    fn add_replica(
        &mut self,
        range_id: RangeId,
        storage: RaftStorage<S>,
        state_machine: Arc<Mutex<S>>,
        applied: u64,
    ) -> Result<(), Fatal> {
        let config = self.raft_config(applied);
        config.validate().map_err(|e| Fatal(format!("raft config: {e}")))?;
        let raw =
            RawNode::new(&config, storage, &self.logger).map_err(|e| Fatal(format!("raft node {range_id}: {e}")))?;
        info!(node_id = %self.config.node_id, %range_id, applied, "range replica loaded");
        let published = Arc::new(PublishedLease::new(self.config.lease_duration()));
        if let Ok(mut leases) = self.leases.write() {
            leases.insert(range_id, published.clone());
        }
        self.ranges.insert(range_id, Peer::new(range_id, raw, state_machine, published));
        self.metrics.ranges.set(self.ranges.len() as i64);
        Ok(())
    }

    /// Runs the loop until every handle is dropped. Returns an error only for a fatal failure,
    /// after which the node must stop.
    pub fn run(mut self) -> Result<(), Fatal> {
        let mut next_tick = Instant::now() + self.config.tick_interval;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            let request = self.inbox.recv_timeout(wait);
            let began = Instant::now();
            match request {
                Ok(request) => self.handle(request)?,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return Ok(()),
            }
            for _ in 0..STORE_ITERATION_REQUESTS_MAX {
                match self.inbox.try_recv() {
                    Ok(request) => self.handle(request)?,
                    Err(_) => break,
                }
            }
            self.handle_snapshot_events()?;
            self.issue_reads();
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + self.config.tick_interval;
                self.tick(now);
            }
            self.process_ready()?;
            let took = began.elapsed();
            if took > self.config.slow_step() {
                warn!(node_id = %self.config.node_id, ms = took.as_millis() as u64, "store loop iteration was slow");
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        let mut leaders = 0;
        self.slots.expire(now);
        for peer in self.ranges.values_mut() {
            if peer.restoring.is_some() {
                // Installing a snapshot: no election timer, no heartbeats (see `crate::snapshot`).
                peer.expire_reads(now);
                peer.answer_reads(now);
                continue;
            }
            peer.raw.tick();
            peer.retry_reads(now, self.config.tick_interval * self.config.heartbeat_ticks as u32 * 2);
            peer.expire_reads(now);
            peer.answer_reads(now);
            leaders += i64::from(peer.raw.raft.state == raft::StateRole::Leader);
            if self.config.leader_follows_load {
                follow_load(peer, now, &self.metrics);
            }
        }
        self.metrics.leader_ranges.set(leaders);
        let log_bytes: u64 = self.ranges.values().map(|peer| peer.storage().log_bytes()).sum();
        self.metrics.raft_log_bytes.set(i64::try_from(log_bytes).unwrap_or(i64::MAX));
        let expired: Vec<u64> =
            self.pending.iter().filter(|(_, pending)| pending.deadline <= now).map(|(id, _)| *id).collect();
        for id in expired {
            self.metrics.proposals_dropped.inc();
            if let Some(pending) = self.pending.remove(&id) {
                pending.fail(Error::Timeout);
            }
        }
    }

    fn handle(&mut self, request: Request<S::Response>) -> Result<(), Fatal> {
        match request {
            Request::Propose { range_id, data, reply } => self.propose(range_id, data, reply),
            Request::ReadIndex { range_id, reply } => self.read(range_id, reply),
            Request::ChangeReplica { range_id, node_id, change, reply } => {
                self.change_replica(range_id, node_id, change, reply)
            }
            Request::Step { range_id, message } => {
                if message.get_msg_type() == MessageType::MsgSnapshot {
                    // Only the snapshot stream, which stores the state first, delivers these.
                    debug!(%range_id, from = message.from, "snapshot message outside a snapshot stream dropped");
                } else {
                    self.step(range_id, message)
                }
            }
            Request::StepSnapshot { range_id, message, file_id, reply } => {
                let _ = reply.send(self.step_snapshot(range_id, message, file_id));
            }
            Request::CreateReplica { range_id, reply } => {
                if !self.ranges.contains_key(&range_id) {
                    let state_machine = Arc::new(Mutex::new((self.factory)(range_id)?));
                    let storage = RaftStorage::new_empty(range_id, state_machine.clone(), self.slots.clone());
                    self.add_replica(range_id, storage, state_machine, 0)?;
                }
                let _ = reply.send(Ok(()));
            }
            Request::Status { reply } => {
                let _ = reply.send(self.status());
            }
        }
        Ok(())
    }

    fn status(&self) -> Vec<RangeRaftStatus> {
        self.ranges
            .values()
            .map(|peer| RangeRaftStatus {
                range_id: peer.range_id,
                leader_id: peer.leader_id(),
                term: peer.raw.raft.term,
                commit_index: peer.raw.raft.raft_log.committed,
                applied_index: peer.applied_index(),
                voters: peer.raw.raft.prs().conf().voters().ids().iter().collect(),
                learners: peer.raw.raft.prs().conf().learners().iter().copied().collect(),
                is_leader: peer.raw.raft.state == raft::StateRole::Leader,
                matched: if peer.raw.raft.state == raft::StateRole::Leader {
                    peer.raw.raft.prs().iter().map(|(id, progress)| (*id, progress.matched)).collect()
                } else {
                    Vec::new()
                },
                restoring: peer.restoring.is_some(),
            })
            .collect()
    }

    /// A new proposal id and the entry context that carries it: `node_id ++ proposal_id ++
    /// term`, each 8 bytes BE (see [`ProposalContext`]).
    fn proposal_context(&mut self, term: u64) -> (u64, Vec<u8>) {
        self.next_proposal_id = self.next_proposal_id.wrapping_add(1);
        let id = self.next_proposal_id;
        (id, crate::proposal::encode(self.config.node_id.0, id, term))
    }

    fn propose(&mut self, range_id: RangeId, data: Vec<u8>, reply: oneshot::Sender<Result<S::Response, Error>>) {
        let Some(term) = self.ranges.get(&range_id).map(|peer| peer.raw.raft.term) else {
            let _ = reply.send(Err(Error::RangeNotFound(range_id)));
            return;
        };
        let (id, context) = self.proposal_context(term);
        let Some(peer) = self.ranges.get_mut(&range_id) else { return };
        if peer.leader_id() == 0 {
            let _ = reply.send(Err(Error::NoLeader));
            return;
        }
        self.metrics.proposals.inc();
        if peer.leader_state().is_leader {
            peer.load.record_local(1);
        }
        match peer.raw.propose(context, data) {
            Ok(()) => {
                let deadline = Instant::now() + self.config.request_timeout;
                self.pending.insert(id, PendingProposal { kind: Pending::Command(reply), deadline, range_id, term });
            }
            Err(e) => {
                debug!(%range_id, error = %e, "proposal dropped");
                self.metrics.proposals_dropped.inc();
                let _ = reply.send(Err(Error::NoLeader));
            }
        }
    }

    fn change_replica(
        &mut self,
        range_id: RangeId,
        node_id: u64,
        replica_change: ReplicaChange,
        reply: oneshot::Sender<Result<(), Error>>,
    ) {
        let Some(term) = self.ranges.get(&range_id).map(|peer| peer.raw.raft.term) else {
            let _ = reply.send(Err(Error::RangeNotFound(range_id)));
            return;
        };
        let (id, context) = self.proposal_context(term);
        let Some(peer) = self.ranges.get_mut(&range_id) else { return };
        let mut change = ConfChange { node_id, ..Default::default() };
        change.set_change_type(match replica_change {
            ReplicaChange::AddLearner => ConfChangeType::AddLearnerNode,
            ReplicaChange::AddVoter => ConfChangeType::AddNode,
            ReplicaChange::Remove => ConfChangeType::RemoveNode,
        });
        match peer.raw.propose_conf_change(context, change) {
            Ok(()) => {
                let deadline = Instant::now() + self.config.request_timeout;
                let kind = Pending::ConfChange(reply);
                self.pending.insert(id, PendingProposal { kind, deadline, range_id, term });
            }
            Err(e) => drop(reply.send(Err(Error::ConfChangeRejected(e.to_string())))),
        }
    }

    fn read(&mut self, range_id: RangeId, reply: oneshot::Sender<Result<(), Error>>) {
        self.metrics.read_index_requests.inc();
        let Some(peer) = self.ranges.get_mut(&range_id) else {
            let _ = reply.send(Err(Error::RangeNotFound(range_id)));
            return;
        };
        if peer.leader_id() == 0 {
            let _ = reply.send(Err(Error::NoLeader));
            return;
        }
        if peer.leader_state().is_leader {
            peer.load.record_local(1);
        }
        let now = Instant::now();
        let deadline = now + self.config.request_timeout;
        if lease_covers(&self.config, peer, now) {
            // Under the lease no other leader can have committed anything: the read needs
            // only what this leader has committed so far to be applied here.
            self.metrics.lease_reads.inc();
            let duration = self.config.lease_duration();
            peer.renew_lease |= peer.lease.wants_renewal(now, duration);
            let index = peer.raw.raft.raft_log.committed;
            if index <= peer.applied_index() {
                let _ = reply.send(Ok(()));
            } else {
                peer.reads_waiting_apply.push((index, (reply, deadline)));
            }
            return;
        }
        peer.reads_to_issue.push((reply, deadline));
    }

    /// One ReadIndex round per range for all reads that arrived in this iteration, and for a
    /// lease due for renewal.
    fn issue_reads(&mut self) {
        let now = Instant::now();
        for peer in self.ranges.values_mut() {
            // Both flags are cleared, whichever asked.
            let asked = std::mem::take(&mut peer.renew_lease) | peer.published.take_renewal();
            let renew = asked && peer.reads_in_flight.is_empty();
            if peer.reads_to_issue.is_empty() && !renew {
                continue;
            }
            self.next_read_id = self.next_read_id.wrapping_add(1);
            let waiters: Vec<ReadWaiter> = std::mem::take(&mut peer.reads_to_issue);
            let deadline = waiters.first().map_or(now + self.config.request_timeout, |(_, deadline)| *deadline);
            let round = ReadRound { waiters, first_sent: now, last_sent: now, term: peer.raw.raft.term, deadline };
            let context = read_context(self.next_read_id, round.waiters.len());
            peer.reads_in_flight.insert(self.next_read_id, round);
            peer.raw.read_index(context);
        }
    }

    fn step(&mut self, range_id: RangeId, message: Message) {
        let Some(peer) = self.ranges.get_mut(&range_id) else {
            debug!(%range_id, from = message.from, "message for a range not on this node");
            return;
        };
        if peer.restoring.is_some() {
            // Raft retransmits; the replica takes messages again once its snapshot is in.
            return;
        }
        tracing::trace!(%range_id, from = message.from, kind = ?message.get_msg_type(), index = message.index, reject = message.reject, hint = message.reject_hint, "step");
        let vote = matches!(message.get_msg_type(), MessageType::MsgRequestVote | MessageType::MsgRequestPreVote);
        if vote && self.config.leader_lease && self.started.elapsed() < self.config.lease_duration() {
            // This node may have acknowledged a leader's lease just before it restarted, and
            // raft-rs does not remember when: no vote until any such lease has ended.
            debug!(%range_id, from = message.from, "vote request ignored: lease wait after start");
            return;
        }
        count_follower_requests(peer, &message);
        if message.get_msg_type() == MessageType::MsgReadIndex && message.from != peer.raw.raft.id {
            let now = Instant::now();
            if lease_covers(&self.config, peer, now) {
                // A follower's read: under the lease this leader's commit index covers every
                // write acknowledged before the request was sent, so it is the answer, with no
                // heartbeat round. The follower waits until it has applied that index.
                self.metrics.lease_read_index_answers.inc();
                peer.renew_lease |= peer.lease.wants_renewal(now, self.config.lease_duration());
                let response = lease_read_index_response(peer, message);
                self.send(range_id, vec![response]);
                return;
            }
            if self.config.leader_lease && peer.leader_state().is_leader {
                // No lease to answer under: raft-rs answers this one after a heartbeat round,
                // and a round of our own gets the lease for the reads that follow. Without it
                // a leader whose reads all come from followers would never hold a lease.
                peer.renew_lease = true;
            }
        }
        if let Err(e) = peer.raw.step(message) {
            debug!(%range_id, error = %e, "raft step failed");
        }
    }

    fn send(&mut self, range_id: RangeId, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        // Before any message can tell another node of a new commit index, a transfer or a
        // conf change, readers on other threads must see it (see `PublishedLease`).
        if let Some(peer) = self.ranges.get(&range_id) {
            publish_lease(&self.config, peer);
        }
        let mut by_node: HashMap<u64, Vec<Envelope>> = HashMap::new();
        for message in messages {
            tracing::trace!(%range_id, to = message.to, kind = ?message.get_msg_type(), index = message.index, reject = message.reject, "send");
            if message.get_msg_type() == MessageType::MsgSnapshot {
                self.send_snapshot(range_id, message);
                continue;
            }
            by_node.entry(message.to).or_default().push(Envelope { range_id, message });
        }
        for (to, envelopes) in by_node {
            self.transport.send(NodeId(to), envelopes);
        }
    }

    fn process_ready(&mut self) -> Result<(), Fatal> {
        let mut batch = WriteBatch::new();
        let mut readies = Vec::new();
        let mut entries = 0usize;
        // Whether the batch must be fsynced: raft-rs's `must_sync` (new entries, a vote or term
        // change, a snapshot). A hard state whose commit index alone moved need not be: the
        // commit index can be learned again, so it rides without an fsync, as in the second
        // batch below. Fsyncing it too made every commit cost two fsyncs on every node.
        let mut sync = false;
        let range_ids: Vec<RangeId> = self.ranges.keys().copied().collect();
        let mut restores = Vec::new();
        for range_id in range_ids {
            let Some(peer) = self.ranges.get_mut(&range_id) else { continue };
            if peer.restoring.is_some() || !peer.raw.has_ready() {
                continue;
            }
            let mut ready = peer.raw.ready();
            let leader_changed = ready.ss().is_some_and(|ss| ss.leader_id != peer.last_leader_id);
            if let Some(ss) = ready.ss() {
                peer.last_leader_id = ss.leader_id;
            }
            let messages = ready.take_messages();
            if !ready.snapshot().is_empty() {
                let snapshot = ready.snapshot().clone();
                begin_restore(peer, &self.files, &snapshot, &mut batch)?;
                restores.push(range_id);
            }
            for read_state in ready.take_read_states() {
                resolve_read(peer, read_state.index, &read_state.request_ctx, self.config.lease_duration());
            }
            let committed = ready.take_committed_entries();
            entries += ready.entries().len();
            sync |= ready.must_sync();
            peer.storage().append(ready.entries(), &mut batch)?;
            if let Some(hard_state) = ready.hs() {
                peer.storage().set_hard_state(hard_state, &mut batch);
            }
            self.send(range_id, messages);
            self.apply_entries(range_id, committed)?;
            if leader_changed {
                self.fail_pending_conf_changes(range_id);
            }
            readies.push((range_id, ready));
        }
        if readies.is_empty() {
            return Ok(());
        }
        let started = Instant::now();
        self.engine.write(batch, sync)?;
        if sync {
            let took = started.elapsed();
            if took > self.config.slow_step() {
                warn!(node_id = %self.config.node_id, ms = took.as_millis() as u64, entries, "slow fsync of the Raft state");
            }
            self.metrics.fsync_seconds.observe(took.as_secs_f64());
            self.metrics.fsync_batch_entries.observe(entries as f64);
        }
        for range_id in restores {
            // The marker is durable with the Raft state: the install may start.
            self.start_pending_restore(range_id)?;
        }
        let mut batch = WriteBatch::new();
        for (range_id, mut ready) in readies {
            let persisted = ready.take_persisted_messages();
            self.send(range_id, persisted);
            let Some(peer) = self.ranges.get_mut(&range_id) else { continue };
            let mut light = peer.raw.advance(ready);
            if let Some(commit) = light.commit_index() {
                peer.storage().set_commit(commit, &mut batch);
            }
            let messages = light.take_messages();
            let mut committed = light.take_committed_entries();
            self.send(range_id, messages);
            if let Some(peer) = self.ranges.get_mut(&range_id).filter(|peer| peer.restoring.is_some()) {
                // Entries after a snapshot being installed wait for it (see `crate::snapshot`).
                peer.deferred.append(&mut committed);
            }
            self.apply_entries(range_id, committed)?;
            if let Some(peer) = self.ranges.get_mut(&range_id) {
                peer.raw.advance_apply();
                if peer.restoring.is_none() {
                    maybe_truncate(&self.config, peer, &mut batch)?;
                }
            }
        }
        self.engine.write(batch, false)?;
        let now = Instant::now();
        for peer in self.ranges.values_mut() {
            peer.answer_reads(now);
            publish_lease(&self.config, peer);
        }
        Ok(())
    }

    /// Answers the membership changes still waiting on `range_id` with "leader changed": the
    /// replication queue that proposed them checks the membership again and retries, so it
    /// need not wait for the outcome. Commands wait for theirs (see [`Self::drop_superseded`]).
    fn fail_pending_conf_changes(&mut self, range_id: RangeId) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.range_id == range_id && matches!(p.kind, Pending::ConfChange(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(pending) = self.pending.remove(&id) {
                pending.fail(Error::LeaderChanged);
            }
        }
    }

    /// Called after an entry of `term` is applied on `range_id`: every command this node
    /// proposed in an earlier term and not yet applied never will be, so its client hears
    /// [`Error::Dropped`], which is safe to retry.
    ///
    /// Why: terms never decrease along the log, so every entry of an earlier term that will
    /// ever be applied comes before this one, and this node applies in log order. An entry
    /// appended in a *later* term than its proposal's (a forwarded proposal that reached a
    /// new leader late) is not applied as a command at all (see [`Self::apply_entry`]).
    fn drop_superseded(&mut self, range_id: RangeId, term: u64) {
        let Some(peer) = self.ranges.get_mut(&range_id) else { return };
        if term <= peer.applied_term {
            return;
        }
        peer.applied_term = term;
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.range_id == range_id && p.term < term && matches!(p.kind, Pending::Command(_)))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(pending) = self.pending.remove(&id) {
                self.metrics.proposals_dropped.inc();
                pending.fail(Error::Dropped);
            }
        }
    }

    fn apply_entries(&mut self, range_id: RangeId, entries: Vec<Entry>) -> Result<(), Fatal> {
        let any = !entries.is_empty();
        for entry in entries {
            let started = Instant::now();
            self.apply_entry(range_id, &entry)?;
            self.load_created_ranges(range_id)?;
            self.drop_superseded(range_id, entry.term);
            self.metrics.applied_entries.inc();
            self.metrics.apply_seconds.observe(started.elapsed().as_secs_f64());
        }
        if let Some(peer) = self.ranges.get(&range_id).filter(|_| any) {
            peer.published.notify_applied();
        }
        Ok(())
    }

    /// Loads the replicas of the ranges that `range_id`'s last applied entry created (a split,
    /// see `atoll_kv::split`). The replica that led the parent campaigns at once in the new
    /// range, so that it has a leader without waiting for an election timeout.
    fn load_created_ranges(&mut self, range_id: RangeId) -> Result<(), Fatal> {
        let Some(peer) = self.ranges.get(&range_id) else { return Ok(()) };
        let created = peer.state_machine.lock().map_err(|_| Fatal("poisoned".into()))?.take_created_ranges();
        if created.is_empty() {
            return Ok(());
        }
        let parent_leads = peer.raw.raft.state == raft::StateRole::Leader;
        for new_id in created {
            assert!(
                !self.ranges.contains_key(&new_id),
                "range {new_id} created by a split of {range_id} already has a replica here"
            );
            if let Some(job) = self.load_replica(new_id)? {
                return Err(Fatal(format!(
                    "range {new_id}: created by a split with a snapshot install pending ({})",
                    job.file().display()
                )));
            }
            if parent_leads {
                if let Some(new_peer) = self.ranges.get_mut(&new_id) {
                    if let Err(e) = new_peer.raw.campaign() {
                        debug!(%new_id, error = %e, "campaign after split failed");
                    }
                }
            }
        }
        Ok(())
    }

    fn apply_entry(&mut self, range_id: RangeId, entry: &Entry) -> Result<(), Fatal> {
        let context = ProposalContext::parse(&entry.context);
        let own = context.filter(|context| context.node_id == self.config.node_id.0);
        let proposal = own.and_then(|context| self.pending.remove(&context.proposal_id)).map(|p| p.kind);
        let Some(peer) = self.ranges.get_mut(&range_id) else { return Ok(()) };
        // The lock is taken per call, never across a raft-rs call: raft-rs may ask the storage
        // for a snapshot (which locks the state machine) from inside `apply_conf_change`.
        let machine = peer.state_machine.clone();
        let lock = || machine.lock().map_err(|_| Fatal("poisoned".into()));
        match entry.get_entry_type() {
            EntryType::EntryNormal if entry.data.is_empty() => {
                lock()?.apply_other(entry.index, None)?;
                if let Some(Pending::ConfChange(reply)) = proposal {
                    // raft-rs turns a conf change proposed while another is pending into an
                    // empty entry.
                    let _ = reply.send(Err(Error::ConfChangeRejected("another change is in progress".into())));
                }
            }
            EntryType::EntryNormal if context.is_some_and(|context| context.appended_late(entry.term)) => {
                // Appended by a leader of a later term than its proposer knew: the proposer
                // has been told (or will be, at the first entry of that term) that it was
                // dropped, and may have sent it again. Every replica skips it alike.
                lock()?.apply_other(entry.index, None)?;
                if let Some(Pending::Command(reply)) = proposal {
                    let _ = reply.send(Err(Error::Dropped));
                }
            }
            EntryType::EntryNormal => {
                let response = lock()?.apply(entry.index, &entry.data)?;
                if let Some(Pending::Command(reply)) = proposal {
                    let _ = reply.send(Ok(response));
                }
            }
            EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                let result = if entry.get_entry_type() == EntryType::EntryConfChange {
                    let change =
                        ConfChange::parse_from_bytes(&entry.data).map_err(|e| Fatal(format!("conf change: {e}")))?;
                    peer.raw.apply_conf_change(&change)
                } else {
                    let change =
                        ConfChangeV2::parse_from_bytes(&entry.data).map_err(|e| Fatal(format!("conf change: {e}")))?;
                    peer.raw.apply_conf_change(&change)
                };
                let outcome = match result {
                    Ok(conf_state) => {
                        let mut batch = WriteBatch::new();
                        peer.raw.store().set_conf_state(&conf_state, &mut batch);
                        self.engine.write(batch, false)?;
                        lock()?.apply_other(entry.index, Some(&conf_state.voters))?;
                        info!(node_id = %self.config.node_id, %range_id, voters = ?conf_state.voters, "replicas changed");
                        Ok(())
                    }
                    Err(e) => {
                        // Deterministic on every replica: the change is invalid, the log goes on.
                        warn!(%range_id, error = %e, "conf change rejected");
                        lock()?.apply_other(entry.index, None)?;
                        Err(Error::ConfChangeRejected(e.to_string()))
                    }
                };
                if let Some(Pending::ConfChange(reply)) = proposal {
                    let _ = reply.send(outcome);
                }
            }
        }
        Ok(())
    }
}

/// Whether this node, as leader, may answer a linearizable read at its commit index now.
fn lease_covers<S: StateMachine>(config: &StoreConfig, peer: &Peer<S>, now: Instant) -> bool {
    if !config.leader_lease {
        return false;
    }
    let state = peer.leader_state();
    if config.unsafe_timeless_lease {
        state.is_leader && peer.lease.term() == state.term
    } else {
        peer.lease.covers(now, &state)
    }
}

/// Publishes the leader's lease and commit index for readers on other threads: the same
/// conditions as [`lease_covers`] but the clock, which each reader checks.
fn publish_lease<S: StateMachine>(config: &StoreConfig, peer: &Peer<S>) {
    let state = peer.leader_state();
    let until = if !config.leader_lease {
        None
    } else if config.unsafe_timeless_lease {
        // BROKEN ON PURPOSE (tests of the checkers): valid for the whole term.
        let far = Instant::now().checked_add(Duration::from_secs(86_400));
        far.filter(|_| state.is_leader && peer.lease.term() == state.term)
    } else {
        peer.lease.publishable_until(&state)
    };
    peer.published.publish(until, peer.raw.raft.raft_log.committed);
}

/// The answer raft-rs's leader would give a follower's `MsgReadIndex` after a heartbeat round:
/// the commit index, in this term, with the request's context. A lease exists only after a
/// round that raft-rs answered, so an entry of this term is committed and the follower may
/// also advance its commit index to it.
fn lease_read_index_response<S: StateMachine>(peer: &Peer<S>, request: Message) -> Message {
    let raft = &peer.raw.raft;
    let mut response = Message::default();
    response.set_msg_type(MessageType::MsgReadIndexResp);
    response.to = request.from;
    response.from = raft.id;
    response.term = raft.term;
    response.index = raft.raft_log.committed;
    response.entries = request.entries;
    response
}

fn resolve_read<S: StateMachine>(peer: &mut Peer<S>, index: u64, context: &[u8], lease: Duration) {
    let Some(id) = read_context_id(context) else { return };
    if let Some(round) = peer.reads_in_flight.remove(&id) {
        // On the leader, a read state means a quorum answered a heartbeat sent after the
        // round's first send (raft-rs's Safe ReadIndex): that confirms the lease.
        let state = peer.leader_state();
        if state.is_leader && state.term == round.term {
            peer.lease.extend(round.term, round.first_sent, lease);
        }
        peer.reads_waiting_apply.extend(round.waiters.into_iter().map(|waiter| (index, waiter)));
    }
}

/// Counts, on the leader, the requests a follower's message forwards: its proposals, or the
/// reads its ReadIndex stands for (see [`crate::load`]).
fn count_follower_requests<S: StateMachine>(peer: &mut Peer<S>, message: &Message) {
    if message.from == peer.raw.raft.id || !peer.leader_state().is_leader {
        return;
    }
    let requests = match message.get_msg_type() {
        MessageType::MsgPropose => message.entries.len() as u64,
        MessageType::MsgReadIndex => message.entries.first().map_or(1, |entry| read_context_reads(&entry.data)),
        _ => return,
    };
    peer.load.record_follower(message.from, requests);
}

/// At the end of each load window, hands leadership to the follower that sent most of the
/// range's requests, if it sent enough more than this node (see [`crate::load`]).
fn follow_load<S: StateMachine>(peer: &mut Peer<S>, now: Instant, metrics: &StoreMetrics) {
    let state = peer.leader_state();
    if !state.is_leader || state.transferring || state.conf_change_pending {
        peer.load.reset(now);
        peer.published.take_local_reads();
        return;
    }
    if !peer.load.window_ended(now) {
        return;
    }
    peer.load.record_local(peer.published.take_local_reads());
    let voters: Vec<u64> = peer.raw.raft.prs().conf().voters().ids().iter().collect();
    if let Some(node_id) = peer.load.decide(now, &voters) {
        info!(range_id = %peer.range_id, to = node_id, "moving leadership to the node that sends most requests");
        metrics.load_leader_transfers.inc();
        peer.raw.transfer_leader(node_id);
    }
}

/// Drops applied log entries beyond the retention limit. A leader keeps what its slowest
/// follower still needs, within `log_lag_entries_max` and `log_lag_bytes_max`: entries are the
/// cheapest way to catch up a follower that is a little behind. A follower further behind
/// gets a snapshot, and then the log from that snapshot on, up to the snapshot's size (another
/// snapshot would cost as much) within [`RAFT_LOG_CATCH_UP_BYTES_MAX`].
fn maybe_truncate<S: StateMachine>(
    config: &StoreConfig,
    peer: &mut Peer<S>,
    batch: &mut WriteBatch,
) -> Result<(), Fatal> {
    let applied = peer.applied_index();
    let first = peer.storage().first_index_now();
    if applied <= first + config.log_entries_kept {
        return Ok(());
    }
    let mut index = applied - config.log_entries_kept / 2;
    if peer.leader_state().is_leader {
        let delivered = &mut peer.snapshots_delivered;
        delivered.retain(|node, index| peer.raw.raft.prs().get(*node).is_some_and(|p| p.matched < *index));
        let slowest = peer
            .raw
            .raft
            .prs()
            .iter()
            .map(|(node, progress)| entries_needed_after(progress, delivered.get(node).copied()))
            .min()
            .unwrap_or(applied);
        let bytes_max = config.log_lag_bytes_max.max(peer.snapshot_bytes_sent.min(RAFT_LOG_CATCH_UP_BYTES_MAX));
        let within_bounds =
            applied.saturating_sub(slowest) <= config.log_lag_entries_max && peer.storage().log_bytes() <= bytes_max;
        if within_bounds && slowest < index {
            index = slowest + 1;
        } else if slowest < index && slowest + 1 >= first {
            info!(range_id = %peer.range_id, follower_at = slowest, applied, log_bytes = peer.storage().log_bytes(), bytes_max, "log cut past what a lagging follower needs: it will need a snapshot");
        }
    }
    if index > first {
        assert!(index <= applied, "truncating the log of range {} past its applied index {applied}", peer.range_id);
        peer.storage().truncate(index, batch)?;
    }
    Ok(())
}

/// The index after which a follower still needs the leader's log: from its snapshot on while
/// one is being sent or was `delivered` and not yet acknowledged (raft-rs then probes it while
/// its `matched` is still the old index), else from what it has.
fn entries_needed_after(progress: &raft::Progress, delivered: Option<u64>) -> u64 {
    match progress.state {
        raft::ProgressState::Snapshot => progress.pending_snapshot,
        _ => progress.matched.max(delivered.unwrap_or(0)),
    }
}

#[cfg(test)]
mod tests {
    use super::entries_needed_after;
    use raft::Progress;

    #[test]
    fn a_follower_is_owed_the_log_from_its_snapshot_while_sent_and_after_it_lands() {
        let mut progress = Progress::new(11, 256);
        progress.matched = 10;
        assert_eq!(entries_needed_after(&progress, None), 10, "a probed follower from where it is");
        progress.become_snapshot(5_000);
        assert_eq!(entries_needed_after(&progress, None), 5_000, "while the snapshot is sent");
        // raft-rs on a finished send: probe from after the snapshot, `matched` still old.
        progress.become_probe();
        assert_eq!(progress.matched, 10);
        assert_eq!(entries_needed_after(&progress, Some(5_000)), 5_000, "after the snapshot was delivered");
        assert_eq!(entries_needed_after(&progress, None), 10, "a new leader knows only what was acknowledged");
        progress.become_replicate();
        progress.maybe_update(6_000);
        assert_eq!(entries_needed_after(&progress, Some(5_000)), 6_000, "a replicating follower from what it has");
    }
}
