//! Splitting a range: one Raft command, and no data moves.
//!
//! MVCC keys carry no range id (see `crate::mvcc`), so a range is only its descriptor's span
//! over the node's one MVCC keyspace. A split applied on a range `[start, end)` at key `k`:
//!
//! - narrows the range's descriptor to `[start, k)` and raises its generation, so a request
//!   routed with the old view gets `RangeKeyMismatch` and routes again;
//! - writes, in the same batch, the whole initial state of the new range `[k, end)`: its Raft
//!   state as a bootstrapped range has it (the same voters, a log that starts truncated at
//!   `BOOTSTRAP_INDEX`), and its applied state (that index, the parent's revision and
//!   compaction revision, the new descriptor with the same generation).
//!
//! Every replica applies the split at the same log index and so creates its replica of the
//! new range there (the store loop loads it after the apply, see
//! `atoll_replication::StateMachine::take_created_ranges`); the new range's history is the
//! parent's history below the split, already on every replica's disk. Applying is
//! deterministic: a split whose generation is stale, whose key is not strictly inside the
//! span, or of a range that holds staged parts of a large commit (they would have to move with
//! their keys) is refused alike on every replica. TiKV's region split and CockroachDB's
//! `AdminSplit` are the anchors.
//!
//! A replica of the new range never exists on a node before the split is applied there: a node
//! creates an empty replica on a leader's request only when none of its replicas owns a key of
//! the new range (`atoll_server`'s `CreateReplica`), and a replica that still owns them either
//! applies the split itself or has been replaced by a snapshot taken after it (and then never
//! applies the split). The apply checks that, and stops the node if it does not hold.
//!
//! Revisions: the new range starts from its parent's revision and counts on by itself. Until
//! the cluster timestamp oracle (issue 16), ranges split only where no request spans both
//! sides: between the etcd and SQL keyspaces.

use crate::state::AppliedState;
use crate::{staged, Error, Result};
use atoll_proto::atoll::{RangeDescriptor, SplitRange};
use atoll_replication::raft_storage::{RaftStorage, BOOTSTRAP_INDEX};
use atoll_replication::Fatal;
use atoll_storage::{Engine, WriteBatch};
use atoll_types::RangeId;

/// The outcome of an applied split: both sides' new applied states.
pub struct Split {
    pub left: AppliedState,
    pub right: AppliedState,
}

/// Checks `split` against the range's state and adds the new range's state to `batch`.
/// Deterministic refusals are errors; a broken invariant of this node's disk is `Corrupt`,
/// which stops the node.
pub fn apply(engine: &dyn Engine, state: &AppliedState, split: &SplitRange, batch: &mut WriteBatch) -> Result<Split> {
    let descriptor = &state.descriptor;
    if split.expected_generation != descriptor.generation {
        return Err(Error::RangeKeyMismatch(Box::new(descriptor.clone())));
    }
    let key = split.split_key.as_slice();
    let inside =
        key > descriptor.start_key.as_slice() && (descriptor.end_key.is_empty() || key < descriptor.end_key.as_slice());
    if !inside {
        return Err(Error::InvalidArgument(format!(
            "split key {} is not strictly inside range {}'s span",
            key.escape_ascii(),
            descriptor.range_id
        )));
    }
    let new_id = RangeId(split.new_range_id);
    if new_id.0 == 0 || new_id.0 == descriptor.range_id {
        return Err(Error::InvalidArgument(format!("a split needs a new range id, not {}", new_id.0)));
    }
    let own_id = RangeId(descriptor.range_id);
    if staged::earliest_expiry(engine, own_id)?.is_some() {
        return Err(Error::Unavailable(format!(
            "range {own_id} holds parts of a large commit in progress; split again once it ends"
        )));
    }
    let exists = AppliedState::load(engine, new_id)?.is_some()
        || RaftStorage::<crate::KvStateMachine>::list_ranges(engine)
            .map_err(|Fatal(message)| Error::Storage(message))?
            .contains(&new_id);
    if exists {
        return Err(Error::Corrupt(format!(
            "range {own_id}: a replica of range {new_id} exists before the split that creates it was applied"
        )));
    }
    let generation = descriptor.generation + 1;
    let mut left = state.clone();
    left.descriptor.end_key = key.to_vec();
    left.descriptor.generation = generation;
    let right = AppliedState {
        applied_index: BOOTSTRAP_INDEX,
        revision: state.revision,
        compact_revision: state.compact_revision,
        next_node_id: 0,
        next_range_id: 0,
        descriptor: RangeDescriptor {
            range_id: new_id.0,
            start_key: key.to_vec(),
            end_key: descriptor.end_key.clone(),
            replicas: descriptor.replicas.clone(),
            generation,
        },
    };
    RaftStorage::<crate::KvStateMachine>::bootstrap(batch, new_id, descriptor.replicas.clone());
    right.save(batch);
    Ok(Split { left, right })
}

/// Whether two ranges' spans share a key (an empty end is the end of the key space).
pub fn overlaps(a: &RangeDescriptor, b: &RangeDescriptor) -> bool {
    let before = |end: &[u8], start: &[u8]| !end.is_empty() && end <= start;
    !before(&a.end_key, &b.start_key) && !before(&b.end_key, &a.start_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(start: &[u8], end: &[u8]) -> RangeDescriptor {
        RangeDescriptor { range_id: 1, start_key: start.to_vec(), end_key: end.to_vec(), ..Default::default() }
    }

    #[test]
    fn spans_overlap_when_they_share_a_key() {
        assert!(overlaps(&span(b"", b""), &span(b"m", b"")));
        assert!(overlaps(&span(b"a", b"n"), &span(b"m", b"z")));
        assert!(!overlaps(&span(b"a", b"m"), &span(b"m", b"z")), "the end is exclusive");
        assert!(!overlaps(&span(b"m", b""), &span(b"a", b"m")));
        assert!(overlaps(&span(b"m", b""), &span(b"a", b"")));
    }
}
