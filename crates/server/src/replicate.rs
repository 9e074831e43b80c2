//! The replication queue: brings each range to [`REPLICATION_FACTOR`] voters by itself.
//!
//! Runs on every node, acts only where this node leads the range. While the range has fewer
//! voters than the target it first promotes a learner whose log has caught up with the
//! leader's commit index, and otherwise adds a registered member that holds no replica as a
//! *learner*. A learner receives the log (a snapshot first) without counting in quorums, so a
//! new node that is slow, or dies before it catches up, never makes the range unavailable;
//! only a caught-up learner becomes a voter, and a learner that does not catch up within
//! [`CATCH_UP_TIMEOUT`] is removed and its node passed over for a while. One change at a
//! time: the next round sees its result.

use crate::node::NodeContext;
use atoll_replication::{RangeRaftStatus, ReplicaChange};
use atoll_types::FIRST_RANGE_ID;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// Voters each range aims for.
pub const REPLICATION_FACTOR: usize = 3;

/// How far (in log entries) a learner may trail the commit index and still be promoted: the
/// rest arrives within a heartbeat or two.
const PROMOTION_LAG_MAX: u64 = 64;

/// How often the queue looks at the range.
const INTERVAL: Duration = Duration::from_millis(250);

/// A learner that has not caught up after this long is removed (its node is probably dead or
/// unreachable), so that another member can take its place.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a removed learner's node is passed over before it is tried again.
const RETRY_AFTER: Duration = Duration::from_secs(300);

/// What the queue remembers between rounds.
#[derive(Default)]
struct QueueState {
    /// When each current learner was first seen.
    learner_since: HashMap<u64, Instant>,
    /// Nodes not to add again before the given time.
    skip_until: HashMap<u64, Instant>,
}

/// Runs the queue until the node stops.
pub async fn run(context: Arc<NodeContext>) {
    let mut interval = tokio::time::interval(INTERVAL);
    let mut state = QueueState::default();
    loop {
        interval.tick().await;
        let Ok(status) = context.store.status().await else { continue };
        let Some(range) = status.into_iter().find(|r| r.range_id == FIRST_RANGE_ID && r.is_leader) else { continue };
        let now = Instant::now();
        state.learner_since.retain(|node, _| range.learners.contains(node));
        for learner in &range.learners {
            state.learner_since.entry(*learner).or_insert(now);
        }
        state.skip_until.retain(|_, until| *until > now);
        if let Some((node_id, change)) = next_change(&context, &range, &state, now) {
            if change == ReplicaChange::Remove {
                state.skip_until.insert(node_id, now + RETRY_AFTER);
            }
            match context.store.change_replica(FIRST_RANGE_ID, node_id, change).await {
                Ok(()) => info!(node_id, ?change, "replica change applied"),
                Err(e) => debug!(node_id, ?change, error = %e, "replica change failed; will retry"),
            }
        }
    }
}

/// The one change that brings the range closer to its target, if any.
fn next_change(
    context: &NodeContext,
    range: &RangeRaftStatus,
    state: &QueueState,
    now: Instant,
) -> Option<(u64, ReplicaChange)> {
    let matched = |node: u64| range.matched.iter().find(|(id, _)| *id == node).map_or(0, |(_, m)| *m);
    let caught_up = |node: u64| matched(node) + PROMOTION_LAG_MAX >= range.commit_index;
    let stuck = range.learners.iter().find(|l| {
        !caught_up(**l)
            && state.learner_since.get(*l).is_some_and(|since| now.duration_since(*since) > CATCH_UP_TIMEOUT)
    });
    if let Some(&learner) = stuck {
        return Some((learner, ReplicaChange::Remove));
    }
    if range.voters.len() >= REPLICATION_FACTOR {
        return None;
    }
    if let Some(&learner) = range.learners.iter().find(|l| caught_up(**l)) {
        return Some((learner, ReplicaChange::AddVoter));
    }
    if !range.learners.is_empty() {
        return None;
    }
    let members = context.range(FIRST_RANGE_ID)?.members();
    members
        .iter()
        .map(|m| m.node_id)
        .filter(|id| !range.voters.contains(id) && !state.skip_until.contains_key(id))
        .min()
        .map(|candidate| (candidate, ReplicaChange::AddLearner))
}
