//! The shared vocabulary of Atoll: identifiers, key spans and the limits every layer obeys.
//!
//! Ids are newtypes so a `RangeId` can never be passed where a `NodeId` is expected. Limits are
//! named constants with the reason for their value next to them; a layer that needs a bound
//! takes it from here rather than inventing its own.

pub mod keys;
pub mod limits;

use std::fmt;

/// Identifies one node (one `atoll start` process with its data directory) in a cluster.
/// Node ids are allocated by the replicated membership table and never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub u64);

/// Identifies one range: a contiguous span of keys replicated by one Raft group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct RangeId(pub u64);

/// The range that exists from bootstrap on and holds the whole key space until splits exist.
pub const FIRST_RANGE_ID: RangeId = RangeId(1);

/// The node that bootstraps a new cluster.
pub const FIRST_NODE_ID: NodeId = NodeId(1);

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n{}", self.0)
    }
}

impl fmt::Display for RangeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// The version string every node reports.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
