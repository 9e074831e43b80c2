//! Drops the staged parts of large commits whose gateway never committed or aborted them
//! (it died mid-commit; see `atoll_kv::staged`).
//!
//! Runs on every node and acts only where the node leads the range: once the earliest expiry
//! among the parts on its replica has passed, it proposes one `AbortStaged` that drops every
//! part expired by now. The expiry was set by the gateway's clock and is compared with the
//! leader's, so the time-to-live (10 minutes) must be far above any clock difference between
//! nodes; a part dropped early only makes its commit fail with a retryable conflict.

use crate::etcd::EtcdApi;
use crate::node::NodeContext;
use atoll_proto::atoll::command;
use atoll_types::FIRST_RANGE_ID;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{debug, info};

/// How often the leader looks for expired parts; garbage lives at most this much past its
/// time-to-live.
const INTERVAL: Duration = Duration::from_secs(30);

/// Runs until the node stops.
pub async fn run(context: Arc<NodeContext>) {
    let api = EtcdApi::new(context.clone());
    let mut interval = tokio::time::interval(INTERVAL);
    loop {
        interval.tick().await;
        let Ok(status) = context.store.status().await else { continue };
        if !status.iter().any(|r| r.range_id == FIRST_RANGE_ID && r.is_leader) {
            continue;
        }
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
        match atoll_kv::staged::earliest_expiry(context.engine.as_ref(), FIRST_RANGE_ID) {
            Ok(Some(expiry)) if expiry < now_ms => {
                let abort = atoll_kv::staged::expired_before(now_ms);
                match api.propose(command::Kind::AbortStaged(abort)).await {
                    Ok(_) => info!(range_id = FIRST_RANGE_ID.0, "dropped expired staged commit parts"),
                    Err(status) => debug!(error = %status, "could not drop expired staged parts; will retry"),
                }
            }
            Ok(_) => {}
            Err(error) => debug!(%error, "could not read staged parts"),
        }
    }
}
