//! The first split: etcd keys and SQL data in ranges of their own.
//!
//! A cluster starts as one range over the whole key space (`node::bootstrap`). As soon as a
//! node leads it, this task splits it at 0xFF (`atoll_sql::encoding::SQL_PREFIX`): range 1
//! keeps the etcd keyspace and the cluster's bookkeeping (membership, range ids), and a new
//! range owns every SQL row and the catalog. Each has its own Raft log, leader, revision
//! counter, compaction and snapshots: an etcd client no longer sees SQL writes advance its
//! revision, an etcd Compact no longer compacts SQL's history, and a follower that needs one
//! side's snapshot is not sent the other's. Data directories of earlier versions, with one
//! range, are split the same way when they start.
//!
//! No request spans both keyspaces (the etcd API cannot reach 0xFF, see
//! [`crate::etcd_keyspace`]; SQL never leaves it), so no transaction needs to cross this
//! boundary. Splits anywhere else wait for the cluster timestamp oracle and transactions
//! across ranges (issues 16 and 21).

use crate::node::NodeContext;
use atoll_proto::atoll::{command, command_result, SplitRange};
use atoll_types::FIRST_RANGE_ID;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, info};

/// Where the etcd keyspace ends and SQL's begins.
pub const SQL_KEYSPACE_START: [u8; 1] = [atoll_sql::encoding::SQL_PREFIX];

/// How often a node that does not lead the first range looks again.
const INTERVAL: Duration = Duration::from_millis(500);

/// Splits the first range at [`SQL_KEYSPACE_START`] once, from whichever node leads it; ends
/// when this node's replica of the first range shows the split. Starts after `delay` (zero
/// but in tests of a node that misses the split).
pub async fn run(context: Arc<NodeContext>, delay: Duration) {
    tokio::time::sleep(delay).await;
    let mut interval = tokio::time::interval(INTERVAL);
    loop {
        interval.tick().await;
        let Some(first) = context.range(FIRST_RANGE_ID) else { continue };
        let descriptor = first.descriptor();
        if descriptor.replicas.is_empty() {
            continue; // No state yet: waiting for the first snapshot.
        }
        if !descriptor.end_key.is_empty() {
            return; // Split already (the boundary never moves back).
        }
        let leading = context.router.leading().await.unwrap_or_default();
        if !leading.contains(&FIRST_RANGE_ID) {
            continue;
        }
        match split(&context, descriptor.generation).await {
            Ok(new_range_id) => {
                info!(new_range_id, "SQL data split off into its own range");
            }
            Err(error) => debug!(%error, "keyspace split not done; will retry"),
        }
    }
}

async fn split(context: &NodeContext, generation: u64) -> Result<u64, atoll_router::Error> {
    let router = &context.router;
    let new_range_id = match router.propose(FIRST_RANGE_ID, command::Kind::AllocateRangeId(Default::default())).await? {
        command_result::Kind::AllocatedRangeId(id) => id,
        other => {
            return Err(atoll_router::Error::Kv(atoll_kv::Error::Corrupt(format!(
                "range id allocation answered {other:?}"
            ))))
        }
    };
    let request = SplitRange { split_key: SQL_KEYSPACE_START.to_vec(), new_range_id, expected_generation: generation };
    router.propose(FIRST_RANGE_ID, command::Kind::Split(request)).await?;
    Ok(new_range_id)
}
