//! Drops the staged parts of large commits whose gateway never committed or aborted them
//! (it died mid-commit; see `atoll_kv::staged`).
//!
//! Runs on every node and acts only where the node leads the range: once the earliest expiry
//! among the parts on its replica has passed, it proposes one `AbortStaged` that drops every
//! part expired by now. The expiry was set by the gateway's clock and is compared with the
//! leader's, so the time-to-live (10 minutes) must be far above any clock difference between
//! nodes; a part dropped early only makes its commit fail with a retryable conflict.

use crate::node::NodeContext;
use atoll_proto::atoll::command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::{debug, info};

/// How often the leader looks for expired parts; garbage lives at most this much past its
/// time-to-live.
const INTERVAL: Duration = Duration::from_secs(30);

/// Runs until the node stops.
pub async fn run(context: Arc<NodeContext>) {
    let router = &context.router;
    let mut interval = tokio::time::interval(INTERVAL);
    loop {
        interval.tick().await;
        let Ok(leading) = router.leading().await else { continue };
        for range_id in leading {
            let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0);
            match atoll_kv::staged::earliest_expiry(context.engine.as_ref(), range_id) {
                Ok(Some(expiry)) if expiry < now_ms => {
                    let abort = atoll_kv::staged::expired_before(now_ms);
                    match router.propose(range_id, command::Kind::AbortStaged(abort)).await {
                        Ok(_) => info!(range_id = range_id.0, "dropped expired staged commit parts"),
                        Err(error) => debug!(%error, "could not drop expired staged parts; will retry"),
                    }
                }
                Ok(_) => {}
                Err(error) => debug!(%error, "could not read staged parts"),
            }
        }
    }
}
