//! One range's replica on this node: its raft-rs node, log storage and state machine, and the
//! linearizable reads waiting on it.

use crate::lease::{LeaderState, Lease, PublishedLease};
use crate::load::LoadTracker;
use crate::raft_storage::RaftStorage;
use crate::{Error, StateMachine};
use atoll_types::RangeId;
use raft::RawNode;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::oneshot;

/// A reply channel for a read and the time it gives up.
pub(crate) type ReadWaiter = (oneshot::Sender<Result<(), Error>>, Instant);

/// One ReadIndex request in flight and the reads that wait for it. A round without waiters
/// only renews the leader's lease.
pub(crate) struct ReadRound {
    pub waiters: Vec<ReadWaiter>,
    /// When it was first sent: a lease confirmed by this round starts here.
    pub first_sent: Instant,
    /// When it was last (re)sent.
    pub last_sent: Instant,
    /// The term at the first send; a lease is granted only if it is still the term.
    pub term: u64,
    /// When the round is given up.
    pub deadline: Instant,
}

/// One range replica.
pub(crate) struct Peer<S: StateMachine> {
    pub range_id: RangeId,
    pub raw: RawNode<RaftStorage<S>>,
    pub state_machine: Arc<Mutex<S>>,
    /// Reads that arrived this iteration and still need a ReadIndex request.
    pub reads_to_issue: Vec<ReadWaiter>,
    /// Reads whose ReadIndex request is in flight, by request context.
    pub reads_in_flight: HashMap<u64, ReadRound>,
    /// Reads that know their index and wait until it is applied.
    pub reads_waiting_apply: Vec<(u64, ReadWaiter)>,
    /// The leader as of the last Ready, to notice leader changes.
    pub last_leader_id: u64,
    /// The term of the newest entry applied (see `Store::drop_superseded`).
    pub applied_term: u64,
    /// This node's lease as the range's leader (see [`crate::lease`]).
    pub lease: Lease,
    /// A lease read found the lease in its second half: the next iteration sends a round.
    pub renew_lease: bool,
    /// The lease and commit index as readers on other threads see them.
    pub published: Arc<PublishedLease>,
    /// Requests by node, for moving leadership to the busiest one (see [`crate::load`]).
    pub load: LoadTracker,
    /// The snapshot file being installed: while set, the replica neither ticks, steps
    /// messages nor handles readies (see [`crate::snapshot`]).
    pub restoring: Option<std::path::PathBuf>,
    /// Committed entries handed out while the snapshot before them was being installed.
    pub deferred: Vec<raft::eraftpb::Entry>,
    /// The received snapshot file last stepped into raft-rs, not yet accepted in a Ready.
    pub incoming_snapshot: Option<u64>,
    /// Bytes of the last snapshot of this range sent in full: what another would cost, so the
    /// log is worth keeping up to this size for a follower catching up (see `maybe_truncate`).
    pub snapshot_bytes_sent: u64,
    /// Followers sent a snapshot in full, by node, with its index, until they report having
    /// it: raft-rs then probes them from after the snapshot while their `matched` is still
    /// the old index, and only this says the log they need starts at the snapshot.
    pub snapshots_delivered: HashMap<u64, u64>,
}

impl<S: StateMachine> Peer<S> {
    pub fn new(
        range_id: RangeId,
        raw: RawNode<RaftStorage<S>>,
        state_machine: Arc<Mutex<S>>,
        published: Arc<PublishedLease>,
    ) -> Self {
        Peer {
            range_id,
            raw,
            state_machine,
            reads_to_issue: Vec::new(),
            reads_in_flight: HashMap::new(),
            reads_waiting_apply: Vec::new(),
            last_leader_id: 0,
            applied_term: 0,
            lease: Lease::default(),
            renew_lease: false,
            published,
            load: LoadTracker::new(Instant::now()),
            restoring: None,
            deferred: Vec::new(),
            incoming_snapshot: None,
            snapshot_bytes_sent: 0,
            snapshots_delivered: HashMap::new(),
        }
    }

    pub fn storage(&self) -> &RaftStorage<S> {
        self.raw.store()
    }

    pub fn applied_index(&self) -> u64 {
        self.state_machine.lock().map(|sm| sm.applied_index()).unwrap_or(0)
    }

    pub fn leader_id(&self) -> u64 {
        self.raw.raft.leader_id
    }

    /// The raft state a lease depends on.
    pub fn leader_state(&self) -> LeaderState {
        let raft = &self.raw.raft;
        LeaderState {
            term: raft.term,
            is_leader: raft.state == raft::StateRole::Leader,
            transferring: raft.lead_transferee.is_some(),
            conf_change_pending: raft.has_pending_conf(),
        }
    }

    /// Answers every waiting read whose index is applied, and times out old ones.
    pub fn answer_reads(&mut self, now: Instant) {
        let applied = self.applied_index();
        let waiting = std::mem::take(&mut self.reads_waiting_apply);
        for (index, (reply, deadline)) in waiting {
            if index <= applied {
                let _ = reply.send(Ok(()));
            } else if deadline <= now {
                let _ = reply.send(Err(Error::Timeout));
            } else {
                self.reads_waiting_apply.push((index, (reply, deadline)));
            }
        }
    }

    /// Sends again the ReadIndex requests that got no answer within `patience`. raft-rs drops
    /// a ReadIndex silently when there is no leader, when the message to the leader is lost,
    /// or when a new leader has not yet committed an entry of its term; without a retry those
    /// reads would wait for their full timeout after every election.
    pub fn retry_reads(&mut self, now: Instant, patience: std::time::Duration) {
        if self.leader_id() == 0 || self.restoring.is_some() {
            return;
        }
        for (id, round) in self.reads_in_flight.iter_mut() {
            if now.duration_since(round.last_sent) >= patience {
                round.last_sent = now;
                self.raw.read_index(crate::load::read_context(*id, round.waiters.len()));
            }
        }
    }

    /// Fails reads whose ReadIndex round never came back (lost messages, leader change).
    pub fn expire_reads(&mut self, now: Instant) {
        self.reads_in_flight.retain(|_, round| {
            let expired = round.deadline <= now;
            if expired {
                for (reply, _) in round.waiters.drain(..) {
                    let _ = reply.send(Err(Error::Timeout));
                }
            }
            !expired
        });
    }
}
