//! Casts that raise a wide decimal's scale a long way, split into steps Arrow checks.
//!
//! arrow-cast 59.3 treats a cast that raises a decimal's scale as one that cannot overflow when
//! `input precision + (output scale - input scale) <= output precision`, summing in `i8`
//! (`make_upscaler`, arrow-rs#10978). Between `Decimal256` types the sum reaches 152. A build
//! with overflow checks panics there; the build we ship wraps the sum negative, takes the cast
//! for one that cannot overflow and multiplies without a check, so a value too large for the
//! new scale would come out as another number instead of an error. DataFusion's type coercion
//! makes such casts whenever a `Decimal256` of a large scale (from `*` and `/`, which add
//! scales, or a cast) meets a decimal of many integer digits, as in
//! `CAST(1 AS DECIMAL(76,0)) < CAST(2 AS DECIMAL(76,52))` (the fuzzer's find,
//! `fuzz/regressions/sql_input-decimal-precision-overflow`).
//!
//! This analyzer rule runs after the coercion and rewrites each such cast into a chain of
//! casts, each raising the scale no further than the sum can hold (precision 76 + 51 = 127):
//! each step is checked, and a value that fits the final type comes out as before.

use datafusion::arrow::datatypes::{DataType, DECIMAL256_MAX_PRECISION};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::{DFSchema, Result};
use datafusion::logical_expr::expr::{Cast, TryCast};
use datafusion::logical_expr::utils::merge_schema;
use datafusion::logical_expr::{Expr, ExprSchemable, LogicalPlan};
use datafusion::optimizer::AnalyzerRule;

/// The largest `precision + scale increase` that arrow-cast's `i8` sum holds.
const UPSCALE_SUM_MAX: i16 = i8::MAX as i16;

/// The analyzer rule; registered after DataFusion's own (see `bounded::register`).
#[derive(Debug)]
pub struct SplitWideDecimalCasts;

impl AnalyzerRule for SplitWideDecimalCasts {
    fn name(&self) -> &str {
        "atoll_split_wide_decimal_casts"
    }

    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        plan.transform_up_with_subqueries(|plan| {
            let mut schema = merge_schema(&plan.inputs());
            if let LogicalPlan::TableScan(scan) = &plan {
                schema.merge(scan.projected_schema.as_ref());
            }
            plan.map_expressions(|expr| expr.transform_up(|expr| split(expr, &schema)))
        })
        .map(|transformed| transformed.data)
    }
}

/// `expr` as a chain of casts if it is a cast that Arrow would not check; as it is otherwise.
fn split(expr: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let (inner, target, checked) = match &expr {
        Expr::Cast(Cast { expr: inner, field }) => (inner, field.data_type(), true),
        Expr::TryCast(TryCast { expr: inner, field }) => (inner, field.data_type(), false),
        _ => return Ok(Transformed::no(expr)),
    };
    let DataType::Decimal256(_, scale_out) = *target else { return Ok(Transformed::no(expr)) };
    // A type that cannot be read here (an outer reference, say) is left as it is.
    let Ok(DataType::Decimal256(mut precision, mut scale)) = inner.get_type(schema) else {
        return Ok(Transformed::no(expr));
    };
    if !unchecked_by_arrow(precision, scale, scale_out) {
        return Ok(Transformed::no(expr));
    }
    let cast = |expr: Expr, to: DataType| {
        if checked {
            Expr::Cast(Cast::new(Box::new(expr), to))
        } else {
            Expr::TryCast(TryCast::new(Box::new(expr), to))
        }
    };
    let mut chain = inner.as_ref().clone();
    while unchecked_by_arrow(precision, scale, scale_out) {
        // Precision is at most 76, so each step raises the scale by at least 51.
        let step = i16::from(scale) + UPSCALE_SUM_MAX - i16::from(precision);
        let step = i8::try_from(step).expect("a step's scale is below the target's, which is an i8");
        chain = cast(chain, DataType::Decimal256(DECIMAL256_MAX_PRECISION, step));
        (precision, scale) = (DECIMAL256_MAX_PRECISION, step);
    }
    Ok(Transformed::yes(cast(chain, target.clone())))
}

/// Whether raising a decimal of `precision` and `scale` to `scale_out` overflows arrow-cast's
/// `i8` sum (and would take its unchecked path in the build we ship).
fn unchecked_by_arrow(precision: u8, scale: i8, scale_out: i8) -> bool {
    let raise = i16::from(scale_out) - i16::from(scale);
    raise > 0 && i16::from(precision) + raise > UPSCALE_SUM_MAX
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::common::ScalarValue;
    use datafusion::logical_expr::lit;

    fn wide(precision: u8, scale: i8) -> Expr {
        lit(ScalarValue::Decimal256(Some(1.into()), precision, scale))
    }

    /// The casts of a chain, innermost first.
    fn steps(mut expr: &Expr) -> Vec<DataType> {
        let mut out = Vec::new();
        while let Expr::Cast(Cast { expr: inner, field }) | Expr::TryCast(TryCast { expr: inner, field }) = expr {
            out.push(field.data_type().clone());
            expr = inner;
        }
        out.reverse();
        out
    }

    #[test]
    fn casts_past_the_sum_become_checked_steps_and_others_stay() {
        let schema = DFSchema::empty();
        let raised = Expr::Cast(Cast::new(Box::new(wide(76, 0)), DataType::Decimal256(76, 52)));
        let split_up = split(raised, &schema).unwrap();
        assert!(split_up.transformed);
        assert_eq!(steps(&split_up.data), vec![DataType::Decimal256(76, 51), DataType::Decimal256(76, 52)]);
        // Every step is within the sum.
        let mut from = (76u8, 0i8);
        for step in steps(&split_up.data) {
            let DataType::Decimal256(p, s) = step else { unreachable!() };
            assert!(!unchecked_by_arrow(from.0, from.1, s), "{from:?} -> {s}");
            from = (p, s);
        }
        // TRY_CAST stays a TRY_CAST at every step (an overflow is NULL, not an error).
        let tried = Expr::TryCast(TryCast::new(Box::new(wide(60, 0)), DataType::Decimal256(76, 76)));
        let tried = split(tried, &schema).unwrap().data;
        assert!(matches!(&tried, Expr::TryCast(TryCast { expr, .. }) if matches!(expr.as_ref(), Expr::TryCast(_))));
        assert_eq!(steps(&tried), vec![DataType::Decimal256(76, 67), DataType::Decimal256(76, 76)]);
        // Within the sum, or lowering the scale, or not a Decimal256: left alone.
        for (from, to) in [((76, 0), (76, 51)), ((76, 60), (76, 0)), ((40, 10), (76, 76))] {
            let cast = Expr::Cast(Cast::new(Box::new(wide(from.0, from.1)), DataType::Decimal256(to.0, to.1)));
            assert!(!split(cast, &schema).unwrap().transformed, "{from:?} -> {to:?}");
        }
        let narrow = Expr::Cast(Cast::new(Box::new(lit(1i64)), DataType::Decimal256(76, 76)));
        assert!(!split(narrow, &schema).unwrap().transformed);
    }
}
