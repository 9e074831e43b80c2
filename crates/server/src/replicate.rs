//! The replication queue: brings each range to [`REPLICATION_FACTOR`] voters by itself.
//!
//! Runs on every node, acts on every range this node leads. While the range has fewer
//! voters than the target it first promotes a learner whose log has caught up with the
//! leader's commit index, and otherwise adds a registered member that holds no replica as a
//! *learner*. A voter whose node has not been heard from for `--dead-after-secs` is replaced
//! the same way: a learner on a live node, promoted once caught up, then the dead voter
//! removed. A learner receives the log (a snapshot first) without counting in quorums, so a
//! new node that is slow, or dies before it catches up, never makes the range unavailable;
//! only a caught-up learner becomes a voter, and a learner that does not catch up within
//! [`CATCH_UP_TIMEOUT`] is removed and its node passed over for a while. One change at a
//! time: the next round sees its result.

use crate::node::NodeContext;
use atoll_proto::atoll::peer_client::PeerClient;
use atoll_proto::atoll::{CreateReplicaRequest, RangeDescriptor};
use atoll_replication::{RangeRaftStatus, ReplicaChange};
use atoll_types::{RangeId, FIRST_RANGE_ID};
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

/// A replica the leader has heard nothing from this long is asked for (see
/// [`ask_for_replica`]): replicas that exist answer the first append within milliseconds.
const SILENT_REPLICA_GRACE: Duration = Duration::from_secs(1);

/// How long a new leader waits before it judges a follower dead by its silence: enough
/// heartbeat rounds (300 ms each) for every live follower to have answered.
const LIVENESS_GRACE: Duration = Duration::from_secs(2);

/// How often the same node is asked to create the same replica.
const ASK_INTERVAL: Duration = Duration::from_secs(2);

/// What the queue remembers about one range between rounds.
#[derive(Default)]
struct QueueState {
    /// When each current learner was first seen.
    learner_since: HashMap<u64, Instant>,
    /// Nodes not to add again before the given time.
    skip_until: HashMap<u64, Instant>,
    /// Replicas (voters or learners) that never answered, since when.
    silent_since: HashMap<u64, Instant>,
    /// When each silent replica's node was last asked to create it.
    asked_at: HashMap<u64, Instant>,
    /// Since when this node leads the range (the first round that saw it lead).
    leading_since: Option<Instant>,
}

/// Runs the queue until the node stops.
pub async fn run(context: Arc<NodeContext>) {
    let mut interval = tokio::time::interval(INTERVAL);
    let mut states: HashMap<RangeId, QueueState> = HashMap::new();
    let mut leaderless: HashMap<RangeId, Leaderless> = HashMap::new();
    loop {
        interval.tick().await;
        let Ok(status) = context.store.status().await else { continue };
        let now = Instant::now();
        leaderless.retain(|id, _| status.iter().any(|r| r.range_id == *id && r.leader_id == 0));
        for range in status.iter().filter(|r| r.leader_id == 0) {
            ask_for_leaderless_range(&context, range.range_id, leaderless.entry(range.range_id).or_default(), now);
        }
        let led: Vec<RangeRaftStatus> = status.into_iter().filter(|r| r.is_leader).collect();
        states.retain(|id, _| led.iter().any(|r| r.range_id == *id));
        for range in led {
            let now = Instant::now();
            let state = states.entry(range.range_id).or_default();
            state.leading_since.get_or_insert(now);
            state.learner_since.retain(|node, _| range.learners.contains(node));
            for learner in &range.learners {
                state.learner_since.entry(*learner).or_insert(now);
            }
            state.skip_until.retain(|_, until| *until > now);
            ask_for_silent_replicas(&context, &range, state, now);
            if let Some((node_id, change)) = next_change(&context, &range, state, now) {
                if change == ReplicaChange::Remove {
                    state.skip_until.insert(node_id, now + RETRY_AFTER);
                }
                match context.store.change_replica(range.range_id, node_id, change).await {
                    Ok(()) => info!(range_id = range.range_id.0, node_id, ?change, "replica change applied"),
                    Err(e) => {
                        debug!(range_id = range.range_id.0, node_id, ?change, error = %e, "replica change failed; will retry")
                    }
                }
            }
        }
    }
}

/// A range this node holds a replica of and knows no leader for.
struct Leaderless {
    since: Instant,
    asked_at: Option<Instant>,
}

impl Default for Leaderless {
    fn default() -> Self {
        Leaderless { since: Instant::now(), asked_at: None }
    }
}

/// A range with no leader for [`SILENT_REPLICA_GRACE`] may have lost its quorum to replicas
/// that were never created (a split applied while the other replicas' nodes were behind, and
/// they caught up by a later snapshot of the parent): the replica here asks every node its
/// descriptor lists to create theirs, which they do once they own none of its keys.
fn ask_for_leaderless_range(context: &Arc<NodeContext>, range_id: RangeId, state: &mut Leaderless, now: Instant) {
    let asked_recently = state.asked_at.is_some_and(|at| now.duration_since(at) < ASK_INTERVAL);
    if now.duration_since(state.since) < SILENT_REPLICA_GRACE || asked_recently {
        return;
    }
    let Some(descriptor) = context.range(range_id).map(|shared| shared.descriptor()) else { return };
    if descriptor.replicas.is_empty() {
        return; // No state here yet: the leader fills it.
    }
    state.asked_at = Some(now);
    for node in descriptor.replicas.iter().copied().filter(|node| *node != context.node_id.0) {
        ask(context, node, &descriptor);
    }
}
/// Asks the node of every replica that has not answered since [`SILENT_REPLICA_GRACE`] to
/// create it: a node learns of a range by applying the split that made it, by joining (the
/// first range), or by this request (a replica added to a range it never had, or a range
/// split while the node was behind and caught up by a later snapshot of the parent).
fn ask_for_silent_replicas(context: &Arc<NodeContext>, range: &RangeRaftStatus, state: &mut QueueState, now: Instant) {
    let matched = |node: u64| range.matched.iter().find(|(id, _)| *id == node).map_or(0, |(_, m)| *m);
    let silent: Vec<u64> = range
        .voters
        .iter()
        .chain(&range.learners)
        .copied()
        .filter(|node| *node != context.node_id.0 && matched(*node) == 0)
        .collect();
    state.silent_since.retain(|node, _| silent.contains(node));
    state.asked_at.retain(|node, _| silent.contains(node));
    let Some(descriptor) = context.range(range.range_id).map(|shared| shared.descriptor()) else { return };
    for node in silent {
        let since = *state.silent_since.entry(node).or_insert(now);
        let asked_recently = state.asked_at.get(&node).is_some_and(|at| now.duration_since(*at) < ASK_INTERVAL);
        if now.duration_since(since) < SILENT_REPLICA_GRACE || asked_recently {
            continue;
        }
        state.asked_at.insert(node, now);
        ask(context, node, &descriptor);
    }
}

/// Asks `node`, in the background, to create its replica of `descriptor`'s range.
fn ask(context: &NodeContext, node: u64, descriptor: &RangeDescriptor) {
    let address = context.addresses.read().ok().and_then(|book| book.get(&node).cloned());
    let Some(address) = address else { return };
    let range_id = descriptor.range_id;
    let request = CreateReplicaRequest { from_node_id: context.node_id.0, descriptor: Some(descriptor.clone()) };
    let tls = context.peer_tls.clone();
    tokio::spawn(async move {
        match ask_for_replica(&tls, &address, request).await {
            Ok(()) => debug!(range_id, node, %address, "asked for a replica"),
            Err(e) => debug!(range_id, node, %address, error = %e, "replica not created yet"),
        }
    });
}

async fn ask_for_replica(
    tls: &crate::peer_tls::PeerTls,
    address: &str,
    request: CreateReplicaRequest,
) -> Result<(), String> {
    let endpoint = tls.endpoint(address, Duration::from_secs(2))?.timeout(Duration::from_secs(5));
    let channel = endpoint.connect().await.map_err(|e| format!("cannot connect ({e})"))?;
    PeerClient::new(channel).create_replica(request).await.map_err(|s| s.message().to_string())?;
    Ok(())
}

/// The one change that brings the range closer to its target, if any.
fn next_change(
    context: &NodeContext,
    range: &RangeRaftStatus,
    state: &QueueState,
    now: Instant,
) -> Option<(u64, ReplicaChange)> {
    let matched = |node: u64| range.matched.iter().find(|(id, _)| *id == node).map_or(0, |(_, m)| *m);
    // A learner that has matched nothing has not even been created (a range's log can be
    // shorter than the allowed lag).
    let caught_up = |node: u64| matched(node) > 0 && matched(node) + PROMOTION_LAG_MAX >= range.commit_index;
    let stuck = range.learners.iter().find(|l| {
        !caught_up(**l)
            && state.learner_since.get(*l).is_some_and(|since| now.duration_since(*since) > CATCH_UP_TIMEOUT)
    });
    if let Some(&learner) = stuck {
        return Some((learner, ReplicaChange::Remove));
    }
    // A voter whose node has been unheard for `--dead-after-secs` is replaced: a learner on a
    // live node first, promoted once caught up, and only then the dead voter removed, so the
    // range never has fewer live voters than it had.
    // Followers talk to the leader only: a node that just became leader may not have heard
    // from a follower for long, so it judges only after leading for a few heartbeat rounds.
    let judged = state.leading_since.is_some_and(|since| now.duration_since(since) > LIVENESS_GRACE);
    let dead = |node: u64| judged && node != context.node_id.0 && context.unheard_for(node) > context.dead_after;
    let dead_voter = range.voters.iter().copied().find(|voter| dead(*voter));
    if let Some(voter) = dead_voter.filter(|_| range.voters.len() > REPLICATION_FACTOR) {
        return Some((voter, ReplicaChange::Remove));
    }
    if range.voters.len() >= REPLICATION_FACTOR && dead_voter.is_none() {
        return None;
    }
    // A node that holds no replica sends this one nothing, so silence proves nothing about a
    // candidate: only one heard from and then silent too long is passed over. A dead candidate
    // never catches up, and its learner is removed after `CATCH_UP_TIMEOUT` as above.
    let silent_since_heard = |node: u64| {
        let heard = context.last_heard_ms_ago(node);
        heard >= 0 && Duration::from_millis(heard as u64) > context.dead_after
    };
    if let Some(&learner) = range.learners.iter().find(|l| caught_up(**l) && !silent_since_heard(**l)) {
        return Some((learner, ReplicaChange::AddVoter));
    }
    if !range.learners.is_empty() {
        return None;
    }
    let members = context.range(FIRST_RANGE_ID)?.members();
    members
        .iter()
        .map(|m| m.node_id)
        .filter(|id| !range.voters.contains(id) && !state.skip_until.contains_key(id) && !silent_since_heard(*id))
        .min()
        .map(|candidate| (candidate, ReplicaChange::AddLearner))
}
