//! Leadership follows the load: a range's leader hands leadership to the follower whose node
//! sends most of the range's requests.
//!
//! # Why
//! A request that arrives on a follower costs a round trip to the leader: a write is forwarded
//! to it, and a linearizable read asks it for its commit index. When one node's clients send
//! most of a range's requests (one SQL gateway, as in pgbench against one node), the range runs
//! fastest with its leader on that node. CockroachDB calls this "follow the workload" and moves
//! its leases the same way.
//!
//! # How
//! The leader counts the requests of each window of [`LOAD_WINDOW`]: its own node's reads and
//! proposals, and each follower's forwarded proposals and reads (a follower's ReadIndex carries
//! how many reads it stands for). At the end of a window it picks the voter follower with the
//! most requests, and transfers leadership to it if that follower sent at least
//! [`LOAD_REQUESTS_MIN`] and at least [`LOAD_RATIO_MIN`] times what this node did. The window
//! restarts with every new leader, and the ratio keeps two equally loaded nodes from handing
//! leadership back and forth. raft-rs then makes the transfer: it brings the follower's log up
//! to date and tells it to campaign at once; during the transfer the leader takes no proposals
//! and holds no lease, and the requests it refuses or drops are retried by their gateways.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long the requests of one decision are counted: long enough that a burst does not move
/// leadership, short enough that a new workload gets its leader within seconds.
pub const LOAD_WINDOW: Duration = Duration::from_secs(10);

/// Requests a follower must send in one window before leadership moves to it (50 a second):
/// an idle range stays where it is.
pub const LOAD_REQUESTS_MIN: u64 = 500;

/// How many times the leader's own requests a follower must send: a transfer costs an election
/// round and a lease, so it must pay for itself, and two nodes with equal load must not trade
/// leadership back and forth.
pub const LOAD_RATIO_MIN: u64 = 2;

/// One leader's request counts for the current window.
#[derive(Debug)]
pub(crate) struct LoadTracker {
    window_start: Instant,
    local: u64,
    followers: HashMap<u64, u64>,
}

impl LoadTracker {
    pub fn new(now: Instant) -> Self {
        LoadTracker { window_start: now, local: 0, followers: HashMap::new() }
    }

    /// Forgets the counts and starts a new window (a new leader, or a decision taken).
    pub fn reset(&mut self, now: Instant) {
        *self = LoadTracker::new(now);
    }

    /// Counts `requests` made on this node.
    pub fn record_local(&mut self, requests: u64) {
        self.local = self.local.saturating_add(requests);
    }

    /// Counts `requests` forwarded by the follower on `node_id`.
    pub fn record_follower(&mut self, node_id: u64, requests: u64) {
        let count = self.followers.entry(node_id).or_default();
        *count = count.saturating_add(requests);
    }

    /// Whether the window has ended at `now`.
    pub fn window_ended(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.window_start) >= LOAD_WINDOW
    }

    /// At the end of a window: the follower among `voters` that leadership should move to, if
    /// any. Starts the next window.
    pub fn decide(&mut self, now: Instant, voters: &[u64]) -> Option<u64> {
        let busiest = self
            .followers
            .iter()
            .filter(|(node_id, _)| voters.contains(node_id))
            .max_by_key(|(node_id, count)| (**count, std::cmp::Reverse(**node_id)))
            .map(|(node_id, count)| (*node_id, *count));
        let local = self.local;
        self.reset(now);
        let (node_id, count) = busiest?;
        (count >= LOAD_REQUESTS_MIN && count >= local.saturating_mul(LOAD_RATIO_MIN)).then_some(node_id)
    }
}

/// The read-request context a follower sends with its ReadIndex: the round's id, then how many
/// reads it stands for (so the leader can count them, see [`LoadTracker`]).
pub(crate) fn read_context(round_id: u64, reads: usize) -> Vec<u8> {
    let reads = u32::try_from(reads).unwrap_or(u32::MAX);
    [round_id.to_be_bytes().as_slice(), reads.to_be_bytes().as_slice()].concat()
}

/// The round id of a read-request context (contexts of older nodes carry only the id).
pub(crate) fn read_context_id(context: &[u8]) -> Option<u64> {
    context.get(..8).and_then(|id| id.try_into().ok()).map(u64::from_be_bytes)
}

/// How many reads a read-request context stands for (at least one).
pub(crate) fn read_context_reads(context: &[u8]) -> u64 {
    let reads = context.get(8..12).and_then(|n| n.try_into().ok()).map_or(1, u32::from_be_bytes);
    u64::from(reads.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leadership_moves_to_a_follower_that_sends_most_requests() {
        let start = Instant::now();
        let mut load = LoadTracker::new(start);
        load.record_local(100);
        load.record_follower(2, 900);
        load.record_follower(3, 50);
        assert!(!load.window_ended(start + LOAD_WINDOW / 2));
        assert!(load.window_ended(start + LOAD_WINDOW));
        assert_eq!(load.decide(start + LOAD_WINDOW, &[1, 2, 3]), Some(2));
        assert_eq!(load.decide(start + LOAD_WINDOW * 2, &[1, 2, 3]), None, "a decision starts a new window");
    }

    #[test]
    fn leadership_stays_when_the_load_is_small_even_or_from_a_learner() {
        let now = Instant::now();
        let decide = |local: u64, follower: u64, voters: &[u64]| {
            let mut load = LoadTracker::new(now);
            load.record_local(local);
            load.record_follower(2, follower);
            load.decide(now + LOAD_WINDOW, voters)
        };
        assert_eq!(decide(0, LOAD_REQUESTS_MIN - 1, &[1, 2, 3]), None, "too few requests to matter");
        assert_eq!(decide(0, LOAD_REQUESTS_MIN, &[1, 2, 3]), Some(2));
        assert_eq!(decide(1000, 1999, &[1, 2, 3]), None, "not twice the leader's own load");
        assert_eq!(decide(1000, 2000, &[1, 2, 3]), Some(2));
        assert_eq!(decide(0, 5000, &[1, 3]), None, "node 2 is a learner");
    }

    #[test]
    fn a_read_context_carries_its_id_and_how_many_reads() {
        let context = read_context(7, 12);
        assert_eq!(read_context_id(&context), Some(7));
        assert_eq!(read_context_reads(&context), 12);
        let old = 7u64.to_be_bytes();
        assert_eq!((read_context_id(&old), read_context_reads(&old)), (Some(7), 1), "an older node's context");
        assert_eq!(read_context_id(b"short"), None);
        assert_eq!(read_context_reads(&read_context(7, 0)), 1, "a renewal round counts as one");
    }
}
