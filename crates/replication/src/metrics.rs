//! Prometheus metrics of the store loop.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntGauge, Registry};

/// The store loop's counters, gauges and histograms.
#[derive(Clone)]
pub struct StoreMetrics {
    pub proposals: IntCounter,
    pub proposals_dropped: IntCounter,
    pub applied_entries: IntCounter,
    pub read_index_requests: IntCounter,
    pub lease_reads: IntCounter,
    pub lease_read_index_answers: IntCounter,
    pub load_leader_transfers: IntCounter,
    pub apply_seconds: Histogram,
    pub fsync_seconds: Histogram,
    pub fsync_batch_entries: Histogram,
    pub leader_ranges: IntGauge,
    pub ranges: IntGauge,
    pub raft_log_bytes: IntGauge,
    pub snapshots_sent: IntCounter,
    pub snapshots_applied: IntCounter,
    pub snapshot_bytes_sent: IntCounter,
    pub snapshot_bytes_received: IntCounter,
    pub snapshot_bytes_applied: IntCounter,
    pub snapshot_send_failures: IntCounter,
    pub snapshot_send_seconds: Histogram,
    pub snapshot_apply_seconds: Histogram,
}

fn counter(registry: &Registry, name: &str, help: &str) -> IntCounter {
    let metric = IntCounter::new(name, help).expect("valid metric name");
    registry.register(Box::new(metric.clone())).expect("metric registered once");
    metric
}

fn gauge(registry: &Registry, name: &str, help: &str) -> IntGauge {
    let metric = IntGauge::new(name, help).expect("valid metric name");
    registry.register(Box::new(metric.clone())).expect("metric registered once");
    metric
}

fn histogram(registry: &Registry, name: &str, help: &str, buckets: Vec<f64>) -> Histogram {
    let metric = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets)).expect("valid metric");
    registry.register(Box::new(metric.clone())).expect("metric registered once");
    metric
}

impl StoreMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let seconds = prometheus::exponential_buckets(0.00005, 2.0, 16).expect("valid buckets");
        let sizes = prometheus::exponential_buckets(1.0, 2.0, 14).expect("valid buckets");
        StoreMetrics {
            proposals: counter(registry, "atoll_raft_proposals_total", "Commands proposed to Raft on this node."),
            proposals_dropped: counter(
                registry,
                "atoll_raft_proposals_dropped_total",
                "Proposals Raft dropped (no leader) or that timed out.",
            ),
            applied_entries: counter(
                registry,
                "atoll_raft_applied_entries_total",
                "Committed log entries applied to state machines.",
            ),
            read_index_requests: counter(
                registry,
                "atoll_raft_read_index_total",
                "Linearizable read requests, by ReadIndex round or under the leader's lease.",
            ),
            lease_reads: counter(
                registry,
                "atoll_raft_lease_reads_total",
                "Linearizable reads the leader served under its lease, without a ReadIndex round.",
            ),
            lease_read_index_answers: counter(
                registry,
                "atoll_raft_lease_read_index_answers_total",
                "Followers' ReadIndex requests the leader answered under its lease, without a heartbeat round.",
            ),
            load_leader_transfers: counter(
                registry,
                "atoll_raft_load_leader_transfers_total",
                "Leadership transfers this node started as leader because a follower sent most requests.",
            ),
            apply_seconds: histogram(
                registry,
                "atoll_raft_apply_seconds",
                "Time to apply one committed entry.",
                seconds.clone(),
            ),
            fsync_seconds: histogram(
                registry,
                "atoll_storage_fsync_seconds",
                "Time of one group-commit write with fsync.",
                seconds,
            ),
            fsync_batch_entries: histogram(
                registry,
                "atoll_storage_fsync_batch_entries",
                "Log entries made durable by one fsync.",
                sizes,
            ),
            leader_ranges: gauge(registry, "atoll_ranges_leader", "Ranges whose Raft leader is this node."),
            ranges: gauge(registry, "atoll_ranges", "Range replicas on this node."),
            raft_log_bytes: gauge(
                registry,
                "atoll_raft_log_bytes",
                "Bytes of Raft log entries held in memory for this node's ranges.",
            ),
            snapshots_sent: counter(
                registry,
                "atoll_raft_snapshots_sent_total",
                "Raft snapshots generated for lagging replicas.",
            ),
            snapshots_applied: counter(
                registry,
                "atoll_raft_snapshots_applied_total",
                "Raft snapshots applied on this node.",
            ),
            snapshot_bytes_sent: counter(
                registry,
                "atoll_snapshot_bytes_sent_total",
                "Bytes of range snapshots streamed to other nodes.",
            ),
            snapshot_bytes_received: counter(
                registry,
                "atoll_snapshot_bytes_received_total",
                "Bytes of range snapshots received from other nodes.",
            ),
            snapshot_bytes_applied: counter(
                registry,
                "atoll_snapshot_bytes_applied_total",
                "Bytes of received range snapshots installed into the engine.",
            ),
            snapshot_send_failures: counter(
                registry,
                "atoll_snapshot_send_failures_total",
                "Snapshot streams that failed or were refused (the leader prepares another).",
            ),
            snapshot_send_seconds: histogram(
                registry,
                "atoll_snapshot_send_seconds",
                "Duration of successful snapshot streams, from first chunk to the receiver's acknowledgement.",
                prometheus::exponential_buckets(0.01, 2.0, 16).expect("valid buckets"),
            ),
            snapshot_apply_seconds: histogram(
                registry,
                "atoll_snapshot_apply_seconds",
                "Duration of snapshot installs, off the store loop.",
                prometheus::exponential_buckets(0.01, 2.0, 16).expect("valid buckets"),
            ),
        }
    }
}
