//! Plans of prepared SELECTs, kept from one execute to the next.
//!
//! A statement prepared through the extended protocol (Parse) that DataFusion plans is planned
//! once: on its first execute the SQL becomes a logical plan, which the analyzer and the
//! optimizer rewrite with its parameters still as placeholders, and that plan is kept in the
//! prepared statement. Every execute then only substitutes the parameter values and builds the
//! physical plan. The physical plan cannot be kept: the table scans pick their key spans from
//! the pushed-down filters' values (see `provider::access_path`), and those are the parameters.
//!
//! A kept plan names the table descriptors it was planned against. Before each reuse the
//! descriptors are read again through the statement's transaction, at the snapshot the
//! statement reads, as planning would read them; if any changed (ALTER TABLE, CREATE or DROP
//! INDEX, a table dropped and created again) the statement is planned again. If the new plan
//! returns other columns than the client was told at Describe, the execute fails with 0A000,
//! as PostgreSQL's "cached plan must not change result type".
//!
//! Not kept: statements that call a function that is not immutable (`now()` is folded to a
//! constant by the optimizer, `random()` must not be), and catalog queries (`pg_catalog`,
//! `information_schema`), which read a snapshot taken per statement.

use crate::catalog::TableDesc;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::{Expr, LogicalPlan, Volatility};
use std::fmt;
use std::sync::{Arc, Mutex};

/// A plan ready to take parameter values.
pub struct CachedPlan {
    /// Analyzed and optimized, parameters still placeholders.
    pub plan: LogicalPlan,
    /// The descriptors of the tables it reads, as they were when it was planned.
    pub tables: Vec<TableDesc>,
    /// The type the plan gave each placeholder (`$1` first), when it inferred one.
    pub param_types: Vec<Option<DataType>>,
}

impl CachedPlan {
    /// The parameter values as the plan's placeholders take them, or `None` if one cannot be
    /// converted without changing it. The plan was analyzed with the inferred placeholder
    /// types, so a value of another type (psycopg sends a small integer as int2) must be
    /// converted here, where the analyzer would have inserted a cast; a value that does not fit
    /// (an int8 beyond int4's range compared with an int4 column) needs a plan of its own.
    pub fn bind(&self, params: &[ScalarValue]) -> Option<Vec<ScalarValue>> {
        params
            .iter()
            .enumerate()
            .map(|(i, value)| match self.param_types.get(i).cloned().flatten() {
                Some(wanted) if wanted != value.data_type() => {
                    let converted = value.cast_to(&wanted).ok()?;
                    let back = converted.cast_to(&value.data_type()).ok()?;
                    (back == *value).then_some(converted)
                }
                _ => Some(value.clone()),
            })
            .collect()
    }
}

/// One prepared statement's plan, if it has one yet, and the columns its Describe announced.
pub struct PlanCache {
    described: Option<SchemaRef>,
    plan: Mutex<Option<Arc<CachedPlan>>>,
}

impl fmt::Debug for PlanCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PlanCache(planned: {})", self.get().is_some())
    }
}

impl PlanCache {
    /// An empty cache for a statement whose Describe announced `described` (`None`: no rows).
    pub fn new(described: Option<SchemaRef>) -> Self {
        PlanCache { described, plan: Mutex::new(None) }
    }

    /// The result columns Describe announced (`None`: the statement returns no rows).
    pub fn described(&self) -> Option<&SchemaRef> {
        self.described.as_ref()
    }

    /// Whether a plan returning `schema` returns what the client was told: the same column
    /// names and types, in order.
    pub fn matches_described(&self, schema: &Schema) -> bool {
        let Some(described) = &self.described else { return true };
        described.fields().len() == schema.fields().len()
            && described
                .fields()
                .iter()
                .zip(schema.fields())
                .all(|(a, b)| a.name() == b.name() && a.data_type() == b.data_type())
    }

    pub fn get(&self) -> Option<Arc<CachedPlan>> {
        self.lock().clone()
    }

    pub fn set(&self, plan: Option<Arc<CachedPlan>>) {
        *self.lock() = plan;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Arc<CachedPlan>>> {
        // Every update replaces the whole value, so a poisoned lock still holds a consistent one.
        self.plan.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Whether a plan may be kept: it calls only immutable functions, so planning it earlier gives
/// the plan planning it now would.
pub fn cacheable(plan: &LogicalPlan) -> bool {
    let mut immutable = true;
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::ScalarFunction(function) = e {
                    if function.func.signature().volatility != Volatility::Immutable {
                        immutable = false;
                        return Ok(TreeNodeRecursion::Stop);
                    }
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    immutable
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::SessionContext;

    #[test]
    fn parameters_are_converted_to_the_placeholder_types_only_when_lossless() {
        let cached = CachedPlan {
            plan: LogicalPlan::EmptyRelation(datafusion::logical_expr::EmptyRelation {
                produce_one_row: false,
                schema: Arc::new(datafusion::common::DFSchema::empty()),
            }),
            tables: vec![],
            param_types: vec![Some(DataType::Int32), None, Some(DataType::Int32)],
        };
        let bound = cached.bind(&[ScalarValue::Int16(Some(3)), ScalarValue::from("x"), ScalarValue::Int32(None)]);
        assert_eq!(bound, Some(vec![ScalarValue::Int32(Some(3)), ScalarValue::from("x"), ScalarValue::Int32(None)]));
        assert_eq!(cached.bind(&[ScalarValue::Int64(Some(10_000_000_000))]), None, "does not fit an int4");
        assert_eq!(cached.bind(&[ScalarValue::Float64(Some(2.5))]), None, "would be rounded");
        assert_eq!(cached.bind(&[ScalarValue::Int64(Some(-7))]), Some(vec![ScalarValue::Int32(Some(-7))]));
    }

    async fn plan(sql: &str) -> LogicalPlan {
        let ctx = SessionContext::new();
        ctx.sql("CREATE TABLE t (k INT, v TEXT) AS VALUES (1, 'a')").await.expect("table");
        ctx.state().create_logical_plan(sql).await.expect("plan")
    }

    #[tokio::test]
    async fn plans_that_call_only_immutable_functions_are_kept() {
        assert!(cacheable(&plan("SELECT upper(v) FROM t WHERE k = $1").await));
        assert!(cacheable(&plan("SELECT k FROM t WHERE k IN (SELECT abs(k) FROM t)").await));
        assert!(!cacheable(&plan("SELECT now(), k FROM t").await), "now() is folded when optimized");
        assert!(!cacheable(&plan("SELECT k FROM t WHERE k < random() * 10").await));
        assert!(!cacheable(&plan("SELECT k FROM t WHERE k IN (SELECT k FROM t WHERE now() > now())").await));
    }
}
