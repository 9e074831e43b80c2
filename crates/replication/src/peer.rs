//! One range's replica on this node: its raft-rs node, log storage and state machine, and the
//! linearizable reads waiting on it.

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

/// One range replica.
pub(crate) struct Peer<S: StateMachine> {
    pub range_id: RangeId,
    pub raw: RawNode<RaftStorage<S>>,
    pub state_machine: Arc<Mutex<S>>,
    /// Reads that arrived this iteration and still need a ReadIndex request.
    pub reads_to_issue: Vec<ReadWaiter>,
    /// Reads whose ReadIndex request is in flight, by request context, with when it was
    /// (last) sent.
    pub reads_in_flight: HashMap<u64, (Vec<ReadWaiter>, Instant)>,
    /// Reads that know their index and wait until it is applied.
    pub reads_waiting_apply: Vec<(u64, ReadWaiter)>,
    /// The leader as of the last Ready, to notice leader changes.
    pub last_leader_id: u64,
}

impl<S: StateMachine> Peer<S> {
    pub fn new(range_id: RangeId, raw: RawNode<RaftStorage<S>>, state_machine: Arc<Mutex<S>>) -> Self {
        Peer {
            range_id,
            raw,
            state_machine,
            reads_to_issue: Vec::new(),
            reads_in_flight: HashMap::new(),
            reads_waiting_apply: Vec::new(),
            last_leader_id: 0,
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
        if self.leader_id() == 0 {
            return;
        }
        for (id, (_, sent)) in self.reads_in_flight.iter_mut() {
            if now.duration_since(*sent) >= patience {
                *sent = now;
                self.raw.read_index(id.to_be_bytes().to_vec());
            }
        }
    }

    /// Fails reads whose ReadIndex round never came back (lost messages, leader change).
    pub fn expire_reads(&mut self, now: Instant) {
        self.reads_in_flight.retain(|_, (waiters, _)| {
            let expired = waiters.first().is_some_and(|(_, deadline)| *deadline <= now);
            if expired {
                for (reply, _) in waiters.drain(..) {
                    let _ = reply.send(Err(Error::Timeout));
                }
            }
            !expired
        });
    }
}
