//! Prometheus metrics of the SQL layer: which path statements take, how often prepared
//! statements reuse their plans, and how many statements run or were stopped.

use prometheus::{
    register_int_counter_vec_with_registry, register_int_counter_with_registry, register_int_gauge_with_registry,
    IntCounter, IntCounterVec, IntGauge, Registry,
};

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
    /// Statements running now.
    pub running: IntGauge,
    /// Statements stopped before their end, by `reason`: `cancel_request`,
    /// `statement_timeout`, `client_disconnect`.
    pub interrupted: IntCounterVec,
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
            running: register_int_gauge_with_registry!(
                "atoll_sql_statements_running",
                "Statements running now.",
                registry
            )
            .expect("metric registered once"),
            interrupted: register_int_counter_vec_with_registry!(
                "atoll_sql_statements_interrupted_total",
                "Statements stopped before their end, by reason.",
                &["reason"],
                registry
            )
            .expect("metric registered once"),
        }
    }
}
