//! Integer arithmetic that fails on overflow, as PostgreSQL's does.
//!
//! DataFusion adds, subtracts, multiplies and negates integers with Arrow's wrapping kernels:
//! `SELECT 10::int4 * 1000000000::int4` answered 1410065408 and `bigint_column * 2` a negative
//! number, where PostgreSQL answers 22003 (`integer out of range`). An UPDATE wrote such a
//! wrapped value. This analyzer rule runs after DataFusion's type coercion, when both operands of
//! an operator have one type, and replaces `+`, `-`, `*` and unary `-` on `smallint`, `integer`
//! and `bigint` with functions that call Arrow's checked kernels and answer 22003 with
//! PostgreSQL's message. Expression names are kept (aliases), so the plan's output schema does
//! not change. Decimals and floats keep DataFusion's operators (decimals are checked already).
//! The point-statement fast path checks its `column ± constant` itself (`fastpath`).
//!
//! Two more of PostgreSQL's integer rules are kept here, where the analyzed types are known:
//! a cast of a numeric or a float to an integer rounds (`2.5::int` is 3, `2.5::float8::int` is
//! 2, half to even as `rint`), where Arrow's cast truncates (it gave 2 and 2); and `sum` of a
//! `bigint` is `numeric` (Arrow's sum wrapped: two `9223372036854775807` summed to -2).

use crate::error::{code, SqlError};
use datafusion::arrow::array::Datum;
use datafusion::arrow::compute::kernels::numeric;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::error::ArrowError;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TransformedResult, TreeNode};
use datafusion::common::{DFSchema, ScalarValue};
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr_rewriter::NamePreserver;
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{
    BinaryExpr, ColumnarValue, Expr, ExprSchemable, LogicalPlan, Operator, ScalarFunctionArgs, ScalarUDF,
    ScalarUDFImpl, Signature, Volatility,
};
use datafusion::optimizer::AnalyzerRule;
use datafusion::prelude::SessionContext;
use std::sync::{Arc, OnceLock};

/// Adds the rule to a session (after DataFusion's own analyzer rules, so after type coercion).
pub fn register(ctx: &SessionContext) {
    ctx.add_analyzer_rule(Arc::new(CheckedIntegers));
}

#[derive(Debug)]
struct CheckedIntegers;

impl AnalyzerRule for CheckedIntegers {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(rewrite_node).data()
    }

    fn name(&self) -> &str {
        "atoll_checked_integers"
    }
}

fn rewrite_node(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let schema = merge_schema(&plan.inputs());
    let names = NamePreserver::new(&plan);
    let rewritten = plan.map_expressions(|expr| {
        let name = names.save(&expr);
        let rewritten = expr.transform_up(|expr| Ok(rewrite_expr(expr, &schema)))?;
        Ok(if rewritten.transformed { rewritten.update_data(|expr| name.restore(expr)) } else { rewritten })
    })?;
    // A `sum` made numeric changes the type of a column its parents read: every node's schema
    // is computed again from its inputs.
    rewritten.map_data(|plan| plan.recompute_schema())
}

/// The checked function for an integer operator, PostgreSQL's rounding before a cast to an
/// integer, a numeric `sum` of `bigint`; or the expression as it was.
fn rewrite_expr(expr: Expr, schema: &DFSchema) -> Transformed<Expr> {
    match expr {
        Expr::Cast(cast) if integer_name(cast.field.data_type()).is_some() => {
            let rounds = matches!(
                cast.expr.get_type(schema),
                Ok(DataType::Decimal128(..) | DataType::Decimal256(..) | DataType::Float32 | DataType::Float64)
            );
            if !rounds {
                return Transformed::no(Expr::Cast(cast));
            }
            let rounded = Expr::ScalarFunction(ScalarFunction::new_udf(crate::pg_functions::round(), vec![*cast.expr]));
            Transformed::yes(Expr::Cast(datafusion::logical_expr::Cast::new_from_field(Box::new(rounded), cast.field)))
        }
        Expr::AggregateFunction(mut aggregate)
            if aggregate.func.name() == "sum"
                && aggregate.params.args.len() == 1
                && matches!(aggregate.params.args[0].get_type(schema), Ok(DataType::Int64))
                && !widened(&aggregate.params.args[0], schema) =>
        {
            let arg = aggregate.params.args.remove(0);
            aggregate
                .params
                .args
                .push(Expr::Cast(datafusion::logical_expr::Cast::new(Box::new(arg), DataType::Decimal128(38, 0))));
            Transformed::yes(Expr::AggregateFunction(aggregate))
        }
        expr => rewrite_operator(expr, schema),
    }
}

/// Whether `expr` is a smaller integer that type coercion widened to `bigint` (the argument of
/// `sum` of an `integer`, whose sum stays `bigint`).
fn widened(expr: &Expr, schema: &DFSchema) -> bool {
    matches!(expr, Expr::Cast(cast) if matches!(cast.expr.get_type(schema), Ok(DataType::Int8 | DataType::Int16 | DataType::Int32)))
}

/// The checked function for an integer operator, or the expression as it was.
fn rewrite_operator(expr: Expr, schema: &DFSchema) -> Transformed<Expr> {
    let (op, operands): (Op, Vec<&Expr>) = match &expr {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::Plus => (Op::Add, vec![left.as_ref(), right.as_ref()]),
            Operator::Minus => (Op::Sub, vec![left.as_ref(), right.as_ref()]),
            Operator::Multiply => (Op::Mul, vec![left.as_ref(), right.as_ref()]),
            _ => return Transformed::no(expr),
        },
        Expr::Negative(inner) => (Op::Neg, vec![inner.as_ref()]),
        _ => return Transformed::no(expr),
    };
    let mut types = operands.iter().map(|operand| operand.get_type(schema).ok());
    let Some(Some(first)) = types.next() else { return Transformed::no(expr) };
    if integer_name(&first).is_none() || !types.all(|t| t.as_ref() == Some(&first)) {
        return Transformed::no(expr);
    }
    let args = match expr {
        Expr::BinaryExpr(BinaryExpr { left, right, .. }) => vec![*left, *right],
        Expr::Negative(inner) => vec![*inner],
        _ => unreachable!("an operator, matched above"),
    };
    Transformed::yes(Expr::ScalarFunction(ScalarFunction::new_udf(op.udf(), args)))
}

/// PostgreSQL's name of an integer type, as its overflow message says it.
fn integer_name(data_type: &DataType) -> Option<&'static str> {
    match data_type {
        DataType::Int16 => Some("smallint"),
        DataType::Int32 => Some("integer"),
        DataType::Int64 => Some("bigint"),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Op {
    Add,
    Sub,
    Mul,
    Neg,
}

impl Op {
    /// The function, made once per operator.
    fn udf(self) -> Arc<ScalarUDF> {
        static UDFS: OnceLock<[Arc<ScalarUDF>; 4]> = OnceLock::new();
        let udfs = UDFS.get_or_init(|| {
            [Op::Add, Op::Sub, Op::Mul, Op::Neg].map(|op| {
                let arity = if op == Op::Neg { 1 } else { 2 };
                Arc::new(ScalarUDF::new_from_impl(Checked {
                    op,
                    signature: Signature::any(arity, Volatility::Immutable),
                }))
            })
        });
        udfs[self as usize].clone()
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct Checked {
    op: Op,
    signature: Signature,
}

impl ScalarUDFImpl for Checked {
    fn name(&self) -> &str {
        match self.op {
            Op::Add => "checked_add",
            Op::Sub => "checked_sub",
            Op::Mul => "checked_mul",
            Op::Neg => "checked_neg",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        Ok(arg_types[0].clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let all_scalars = args.args.iter().all(|arg| matches!(arg, ColumnarValue::Scalar(_)));
        let data_type = args.return_field.data_type().clone();
        let result = match (self.op, args.args.as_slice()) {
            (Op::Neg, [value]) => numeric::neg(value.to_array(args.number_rows)?.as_ref()),
            (op, [left, right]) => {
                let (left, right) = (datum(left)?, datum(right)?);
                match op {
                    Op::Add => numeric::add(left.as_ref(), right.as_ref()),
                    Op::Sub => numeric::sub(left.as_ref(), right.as_ref()),
                    _ => numeric::mul(left.as_ref(), right.as_ref()),
                }
            }
            _ => return Err(DataFusionError::Internal(format!("{} takes its operands", self.name()))),
        };
        let array = result.map_err(|error| match error {
            ArrowError::ArithmeticOverflow(_) => DataFusionError::from(SqlError::new(
                code::NUMERIC_OUT_OF_RANGE,
                format!("{} out of range", integer_name(&data_type).unwrap_or("integer")),
            )),
            other => DataFusionError::from(other),
        })?;
        if all_scalars {
            return Ok(ColumnarValue::Scalar(ScalarValue::try_from_array(&array, 0)?));
        }
        Ok(ColumnarValue::Array(array))
    }
}

/// An operand as Arrow's kernels take it: a scalar stays a scalar (one value, broadcast).
fn datum(value: &ColumnarValue) -> Result<Box<dyn Datum>> {
    Ok(match value {
        ColumnarValue::Array(array) => Box::new(array.clone()) as Box<dyn Datum>,
        ColumnarValue::Scalar(scalar) => Box::new(scalar.to_scalar()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn answer(sql: &str) -> std::result::Result<String, SqlError> {
        let ctx = SessionContext::new();
        register(&ctx);
        let frame = ctx.sql(sql).await.map_err(SqlError::from)?;
        let batches = frame.collect().await.map_err(SqlError::from)?;
        Ok(datafusion::arrow::util::pretty::pretty_format_batches(&batches).expect("format").to_string())
    }

    #[tokio::test]
    async fn integer_overflow_is_22003_with_the_type_in_the_message() {
        for (sql, message) in [
            ("SELECT CAST(10 AS INT) * CAST(1000000000 AS INT)", "integer out of range"),
            ("SELECT CAST(2147483647 AS INT) + CAST(1 AS INT)", "integer out of range"),
            ("SELECT CAST(-2147483648 AS INT) - CAST(1 AS INT)", "integer out of range"),
            ("SELECT 9223372036854775807 + 1", "bigint out of range"),
            ("SELECT -CAST(-9223372036854775808 AS BIGINT)", "bigint out of range"),
            ("SELECT CAST(32767 AS SMALLINT) + CAST(1 AS SMALLINT)", "smallint out of range"),
            ("SELECT x * 2 FROM (VALUES (CAST(5000000000000000000 AS BIGINT))) AS v(x)", "bigint out of range"),
        ] {
            let error = answer(sql).await.expect_err(sql);
            assert_eq!((error.code, error.message.as_str()), (code::NUMERIC_OUT_OF_RANGE, message), "{sql}");
        }
    }

    #[tokio::test]
    async fn casts_to_integers_round_and_bigint_sums_are_numeric() {
        let ctx = SessionContext::new();
        register(&ctx);
        crate::pg_functions::register(&ctx);
        let sql =
            "SELECT CAST(CAST(2.5 AS DECIMAL(3, 1)) AS INT) AS a, CAST(CAST(-2.5 AS DECIMAL(3, 1)) AS INT) AS b, \
                   CAST(CAST(3.7 AS DECIMAL(3, 1)) AS BIGINT) AS c, CAST(CAST(2.5 AS DOUBLE) AS INT) AS d, \
                   CAST(CAST(3.5 AS DOUBLE) AS SMALLINT) AS e, CAST(7 AS INT) AS f";
        let batches = ctx.sql(sql).await.expect("plan").collect().await.expect("run");
        let row: Vec<String> = batches[0]
            .columns()
            .iter()
            .map(|c| datafusion::arrow::util::display::array_value_to_string(c, 0).expect("display"))
            .collect();
        assert_eq!(row, ["3", "-3", "4", "2", "4", "7"]);
        let frame = ctx
            .sql("SELECT sum(x) AS s FROM (VALUES (CAST(9223372036854775807 AS BIGINT)), (CAST(9223372036854775807 AS BIGINT))) AS v(x)")
            .await
            .expect("plan");
        let batches = frame.collect().await.expect("run");
        let sum = datafusion::arrow::util::display::array_value_to_string(batches[0].column(0), 0).expect("display");
        assert_eq!(sum, "18446744073709551614");
        let error = answer("SELECT CAST(CAST(3000000000.5 AS DECIMAL(11, 1)) AS INT)").await.expect_err("out of range");
        assert_eq!(error.code, code::NUMERIC_OUT_OF_RANGE);
    }

    #[tokio::test]
    async fn arithmetic_in_range_keeps_its_values_types_and_names() {
        let out = answer("SELECT x + 1 AS a, -x, x * y, x - y FROM (VALUES (CAST(3 AS INT), CAST(4 AS INT)), (NULL, 2)) AS v(x, y) ORDER BY 1").await.expect("answer");
        assert!(out.contains("| 4 | -3") && out.contains("| 12") && out.contains("| -1"), "{out}");
        assert!(out.contains("(- v.x)") || out.contains("-v.x"), "the column keeps its name: {out}");
        let ctx = SessionContext::new();
        register(&ctx);
        let frame = ctx.sql("SELECT CAST(1 AS INT) + CAST(2 AS INT) AS s").await.expect("plan");
        assert_eq!(frame.schema().field(0).data_type(), &DataType::Int32);
    }
}
