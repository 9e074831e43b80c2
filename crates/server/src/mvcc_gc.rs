//! Automatic MVCC garbage collection on a node: etcd's periodic compactor, then each node's
//! physical collector (see `atoll_kv::gc` for why the two halves are safe).
//!
//! * **Compactor** (a task on every node; only the range's leader proposes): every
//!   `retention / 10` (between 100 ms and 60 s) it samples the range's revision. Once a sample
//!   is older than the retention, it proposes a `Compact` to that sample's revision: history
//!   younger than the retention stays readable, older history becomes garbage. SQL
//!   transactions read at their snapshot's revision, so one that stays open longer than the
//!   retention fails with 40001 and is retried at a new snapshot. etcd clients see the
//!   behaviour of etcd's `--auto-compaction-mode=periodic`.
//! * **Collector** (a thread on every node, `mvcc-gc-<node>`, one collector per range replica
//!   taking turns): whenever a range's compaction revision has moved past its last pass, it
//!   follows the garbage index in chunks of
//!   [`GC_CHUNK_ENTRIES_MAX`] entries, deletes the garbage they name, and sleeps
//!   [`CHUNK_PAUSE`] between chunks, so a pass uses a fraction of one core, costs what the
//!   garbage costs (not what the data costs), and never blocks the store loop.

use crate::node::NodeContext;
use atoll_kv::gc::{Collector, GC_CHUNK_ENTRIES_MAX};
use atoll_proto::atoll::command;
use atoll_proto::etcdserverpb::CompactionRequest;
use atoll_types::{RangeId, FIRST_RANGE_ID};
use prometheus::{IntCounter, IntGauge, Registry};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

/// The pause between two chunks of a pass: a chunk takes a few milliseconds of CPU, so a
/// pass uses at most about a third of one core.
const CHUNK_PAUSE: Duration = Duration::from_millis(10);

/// How often an idle collector looks for a new compaction revision.
const IDLE_POLL: Duration = Duration::from_millis(500);

/// Bounds on the compactor's sampling interval (a tenth of the retention).
const SAMPLE_INTERVAL_MIN: Duration = Duration::from_millis(100);
const SAMPLE_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// The garbage collector's metrics.
#[derive(Clone)]
pub struct GcMetrics {
    compact_revision: IntGauge,
    versions_removed: IntCounter,
    passes: IntCounter,
    compactions_proposed: IntCounter,
}

impl GcMetrics {
    pub fn new(registry: &Registry) -> Self {
        let gauge = |name: &str, help: &str| {
            let metric = IntGauge::new(name, help).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("metric registered once");
            metric
        };
        let counter = |name: &str, help: &str| {
            let metric = IntCounter::new(name, help).expect("valid metric");
            registry.register(Box::new(metric.clone())).expect("metric registered once");
            metric
        };
        GcMetrics {
            compact_revision: gauge(
                "atoll_mvcc_compact_revision",
                "Revision below which the first range's history (the etcd keyspace) is compacted.",
            ),
            versions_removed: counter(
                "atoll_mvcc_gc_versions_removed_total",
                "MVCC versions deleted by this node's garbage collector.",
            ),
            passes: counter("atoll_mvcc_gc_passes_total", "Completed garbage collection passes over the keyspace."),
            compactions_proposed: counter(
                "atoll_mvcc_compactions_proposed_total",
                "Compactions this node proposed as the range leader (periodic, by retention).",
            ),
        }
    }
}

/// Starts the collector thread; it ends when the node's context is dropped.
pub fn spawn_collector(context: &Arc<NodeContext>, metrics: GcMetrics) -> std::io::Result<()> {
    let weak = Arc::downgrade(context);
    std::thread::Builder::new().name(format!("mvcc-gc-{}", context.node_id)).spawn(move || collect(weak, metrics))?;
    Ok(())
}

/// One collector per range replica, keyed by the replica's shared state (a replica created
/// anew gets a new collector).
type Collectors = HashMap<RangeId, (usize, Collector)>;

fn collect(context: Weak<NodeContext>, metrics: GcMetrics) {
    let mut collectors = Collectors::new();
    let mut last: Option<RangeId> = None;
    loop {
        let pause = match context.upgrade() {
            None => return,
            Some(context) => collect_step(&context, &mut collectors, &mut last, &metrics),
        };
        std::thread::sleep(pause);
    }
}

/// One chunk of work for one range (taking turns after `last`), or a look for work; returns
/// how long to pause before the next. The garbage index is the node's, and each range's
/// collector takes the entries of its own span at its own compaction revision.
fn collect_step(
    context: &NodeContext,
    collectors: &mut Collectors,
    last: &mut Option<RangeId>,
    metrics: &GcMetrics,
) -> Duration {
    if let Some(first) = context.range(FIRST_RANGE_ID) {
        metrics.compact_revision.set(first.compact_revision());
    }
    let replicas = context.router.replicas();
    collectors.retain(|id, _| replicas.iter().any(|(replica, _)| replica == id));
    for (range_id, shared) in &replicas {
        let identity = Arc::as_ptr(shared) as usize;
        if collectors.get(range_id).is_none_or(|(id, _)| *id != identity) {
            collectors.insert(*range_id, (identity, Collector::new(context.engine.clone(), shared.clone())));
        }
    }
    // The next range with work, in turn after the last one served.
    let mut order: Vec<RangeId> = collectors.keys().copied().collect();
    order.sort();
    let split = last.map_or(0, |last| order.partition_point(|id| *id <= last));
    order.rotate_left(split);
    let Some(range_id) = order.into_iter().find(|id| collectors.get(id).is_some_and(|(_, c)| c.has_work())) else {
        return IDLE_POLL;
    };
    *last = Some(range_id);
    let Some((_, collector)) = collectors.get_mut(&range_id) else { return IDLE_POLL };
    match collector.step(GC_CHUNK_ENTRIES_MAX) {
        Ok(step) => {
            metrics.versions_removed.inc_by(step.removed as u64);
            if step.finished_pass {
                metrics.passes.inc();
                debug!(range_id = range_id.0, "garbage collection pass finished");
            }
            if step.more || collectors.values().any(|(_, c)| c.has_work()) {
                CHUNK_PAUSE
            } else {
                IDLE_POLL
            }
        }
        Err(error) => {
            warn!(range_id = range_id.0, %error, "garbage collection failed; will retry");
            IDLE_POLL
        }
    }
}

/// Revisions seen at known times, oldest first, to find the revision of `retention` ago.
#[derive(Default)]
struct Samples {
    samples: VecDeque<(Instant, i64)>,
}

impl Samples {
    /// Records `revision` at `now` and returns the newest sampled revision at least
    /// `retention` old, dropping the samples older than it.
    fn record(&mut self, now: Instant, revision: i64, retention: Duration) -> Option<i64> {
        self.samples.push_back((now, revision));
        let old_enough = |at: &Instant| now.saturating_duration_since(*at) >= retention;
        let newest_old = self.samples.iter().rposition(|(at, _)| old_enough(at))?;
        self.samples.drain(..newest_old);
        self.samples.front().map(|(_, revision)| *revision)
    }
}

/// Runs the periodic compactor until the node stops.
pub async fn run_compactor(context: Arc<NodeContext>, retention: Duration, metrics: GcMetrics) {
    let interval = (retention / 10).clamp(SAMPLE_INTERVAL_MIN, SAMPLE_INTERVAL_MAX);
    let router = &context.router;
    let mut ticker = tokio::time::interval(interval);
    let mut samples: HashMap<RangeId, Samples> = HashMap::new();
    loop {
        ticker.tick().await;
        // Which ranges this node leads: asked of the store loop once a tick, when one is due.
        let mut leading: Option<Vec<RangeId>> = None;
        for (range_id, shared) in router.replicas() {
            let sampled = samples.entry(range_id).or_default().record(Instant::now(), shared.revision(), retention);
            let Some(revision) = sampled else { continue };
            if revision <= shared.compact_revision() {
                continue;
            }
            if leading.is_none() {
                leading = router.leading().await.ok();
            }
            if !leading.as_ref().is_some_and(|leading| leading.contains(&range_id)) {
                continue;
            }
            let request = CompactionRequest { revision, physical: false };
            match router.propose(range_id, command::Kind::Compact(request)).await {
                Ok(_) => {
                    metrics.compactions_proposed.inc();
                    info!(range_id = range_id.0, revision, "compacted history older than the retention");
                }
                Err(error) => debug!(%error, revision, "periodic compaction not applied; will retry"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compaction_revision_is_the_newest_sample_at_least_the_retention_old() {
        let start = Instant::now();
        let retention = Duration::from_secs(10);
        let mut samples = Samples::default();
        let at = |secs: u64| start + Duration::from_secs(secs);
        assert_eq!(samples.record(at(0), 5, retention), None, "nothing is old enough yet");
        assert_eq!(samples.record(at(4), 9, retention), None);
        assert_eq!(samples.record(at(8), 20, retention), None);
        assert_eq!(samples.record(at(10), 25, retention), Some(5), "the sample of 10 s ago");
        assert_eq!(samples.record(at(15), 30, retention), Some(9), "of 11 s ago, not 15");
        assert_eq!(samples.record(at(19), 31, retention), Some(20));
        assert_eq!(samples.samples.len(), 4, "older samples are dropped");
    }
}
