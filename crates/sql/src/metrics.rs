//! Prometheus metrics of the SQL layer: which path statements take and how often prepared
//! statements reuse their plans.

use prometheus::{register_int_counter_with_registry, IntCounter, Registry};

/// The SQL layer's counters, registered in the node's registry.
pub struct SqlMetrics {
    /// Statements served by the point fast path (no DataFusion).
    pub fast_path: IntCounter,
    /// Logical plans DataFusion made (every query not on the fast path and not a plan reuse).
    pub planned: IntCounter,
    /// Executes of a prepared statement that reused its plan.
    pub plan_cache_hits: IntCounter,
    /// Executes of a prepared statement that planned it: the first, and after a schema change.
    pub plan_cache_misses: IntCounter,
}

impl SqlMetrics {
    pub fn new(registry: &Registry) -> Self {
        let counter = |name: &str, help: &str| {
            register_int_counter_with_registry!(name, help, registry).expect("metric registered once")
        };
        SqlMetrics {
            fast_path: counter("atoll_sql_fast_path_statements_total", "Statements served by the point fast path."),
            planned: counter("atoll_sql_planned_statements_total", "Statements planned by DataFusion."),
            plan_cache_hits: counter(
                "atoll_sql_plan_cache_hits_total",
                "Executes of prepared statements that reused their plan.",
            ),
            plan_cache_misses: counter(
                "atoll_sql_plan_cache_misses_total",
                "Executes of prepared statements that had to plan them.",
            ),
        }
    }
}
