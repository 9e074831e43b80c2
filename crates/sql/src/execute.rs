//! Running a query's physical plan so that it can always be stopped and never takes more than
//! its share of the node's memory.
//!
//! - **Every operator yields.** A statement is stopped (cancel request, `statement_timeout`,
//!   client gone: see `interruptible` in server.rs) by dropping its future, which only works
//!   at a point where the future returns. DataFusion makes its leaves cooperative, but an
//!   operator that produces many batches from one input batch (a cross join emits 8 192 x
//!   1 000 000 rows from one batch of `generate_series`) never polls a leaf and ran for
//!   minutes in one poll. [`cooperative`] wraps every operator in DataFusion's
//!   `CooperativeExec`, so each spends the task's tokio budget and yields when it runs out.
//!   The wrapping happens just before execution, so EXPLAIN shows the plan as optimized.
//! - **Memory per query.** Each statement gets its own [`QueryPool`]: what its joins, sorts
//!   and aggregates reserve counts against the query's limit first and the node's
//!   (`Engine::new`) second; past either the statement fails with 53200 and other sessions go
//!   on. The collected result counts too, batch by batch, so a `SELECT` of a huge result fails
//!   with 53200 instead of growing the node without bound.

use crate::error::Result;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::error::DataFusionError;
use datafusion::execution::memory_pool::{MemoryConsumer, MemoryLimit, MemoryPool, MemoryReservation};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::session_state::SessionState;
use datafusion::execution::TaskContext;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::ExecutionPlan;
use futures::StreamExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Runs `plan` to its end and collects what it returns, under a memory pool of its own that
/// holds at most `limit_bytes`, inside the node's pool of `runtime`.
pub async fn collect(
    plan: Arc<dyn ExecutionPlan>,
    state: &SessionState,
    runtime: &Arc<RuntimeEnv>,
    limit_bytes: usize,
) -> Result<Vec<RecordBatch>> {
    let pool: Arc<dyn MemoryPool> = Arc::new(QueryPool::new(runtime, limit_bytes));
    let runtime = RuntimeEnvBuilder::from_runtime_env(runtime).with_memory_pool(pool.clone()).build_arc()?;
    let context = Arc::new(TaskContext::from(state).with_runtime(runtime));
    let result = MemoryConsumer::new("query result").register(&pool);
    let mut stream = datafusion::physical_plan::execute_stream(cooperative(plan)?, context)?;
    let mut batches = Vec::new();
    while let Some(batch) = stream.next().await {
        let batch = batch?;
        result.try_grow(batch.get_array_memory_size())?;
        batches.push(batch);
    }
    Ok(batches)
}

/// `plan` with every operator wrapped in a `CooperativeExec` (see the module comment).
pub fn cooperative(plan: Arc<dyn ExecutionPlan>) -> Result<Arc<dyn ExecutionPlan>> {
    let wrapped = plan.transform_up(|node| {
        if node.is::<CooperativeExec>() {
            return Ok(Transformed::no(node));
        }
        Ok(Transformed::yes(Arc::new(CooperativeExec::new(node)) as Arc<dyn ExecutionPlan>))
    })?;
    Ok(wrapped.data)
}

/// One statement's memory: bounded by its own limit, and drawn from the node's pool.
#[derive(Debug)]
pub struct QueryPool {
    limit_bytes: usize,
    used_bytes: AtomicUsize,
    /// What this query holds in the node's pool; released when the statement's plan drops.
    node: MemoryReservation,
}

impl QueryPool {
    fn new(runtime: &Arc<RuntimeEnv>, limit_bytes: usize) -> Self {
        let node = MemoryConsumer::new("query").register(&runtime.memory_pool);
        QueryPool { limit_bytes, used_bytes: AtomicUsize::new(0), node }
    }
}

impl std::fmt::Display for QueryPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "query pool ({} of {} bytes)", self.reserved(), self.limit_bytes)
    }
}

impl MemoryPool for QueryPool {
    fn name(&self) -> &str {
        "query"
    }

    fn grow(&self, _reservation: &MemoryReservation, additional: usize) {
        self.used_bytes.fetch_add(additional, Ordering::Relaxed);
        self.node.grow(additional);
    }

    fn shrink(&self, _reservation: &MemoryReservation, shrink: usize) {
        let before = self.used_bytes.fetch_sub(shrink, Ordering::Relaxed);
        assert!(before >= shrink, "query pool: released {shrink} bytes of {before} held");
        self.node.shrink(shrink);
    }

    fn try_grow(&self, reservation: &MemoryReservation, additional: usize) -> datafusion::error::Result<()> {
        let limit = self.limit_bytes;
        self.used_bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(additional).filter(|total| *total <= limit)
            })
            .map_err(|used| {
                DataFusionError::ResourcesExhausted(format!(
                    "out of memory: the query needs more than its {limit}-byte limit ({used} bytes held, {} \
                     asked for {additional} more)",
                    reservation.consumer().name()
                ))
            })?;
        if let Err(error) = self.node.try_grow(additional) {
            self.used_bytes.fetch_sub(additional, Ordering::Relaxed);
            return Err(DataFusionError::ResourcesExhausted(format!(
                "out of memory: the node's SQL memory is in use by other queries ({})",
                error.message()
            )));
        }
        Ok(())
    }

    fn reserved(&self) -> usize {
        self.used_bytes.load(Ordering::Relaxed)
    }

    fn memory_limit(&self) -> MemoryLimit {
        MemoryLimit::Finite(self.limit_bytes)
    }
}
