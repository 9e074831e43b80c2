//! Numeric literals in exponent form, written out before planning.
//!
//! DataFusion reads `1e37` as a decimal of scale -37, and its expression simplifier scales such
//! a literal by `10^scale` with the scale taken as unsigned: in a release build the power wraps
//! to 0 and the division by it panics (`SELECT 1/0 - 1e37` ended its session with FATAL XX000;
//! the fuzzer found it, `fuzz/regressions/sql_input-negative-scale`). Written out as digits
//! (`10000000000000000000000000000000000000`), the literal has scale 0 and the same value, as
//! PostgreSQL's numeric has. A literal too large for Atoll's widest decimal (76 digits) gets
//! 22003 instead of a plan.

use crate::error::{code, Result, SqlError};
use datafusion::sql::sqlparser::ast::{Expr, Statement, Value, VisitMut, VisitorMut};
use std::ops::ControlFlow;

/// Most digits of a decimal (Arrow's Decimal256).
const DECIMAL_DIGITS_MAX: usize = 76;

/// Writes out every numeric literal of `statement` whose exponent would give it a negative
/// scale; 22003 for one that cannot be held.
pub fn write_out(statement: &mut Statement) -> Result<()> {
    match statement.visit(&mut Writer) {
        ControlFlow::Break(error) => Err(error),
        ControlFlow::Continue(()) => Ok(()),
    }
}

struct Writer;

impl VisitorMut for Writer {
    type Break = SqlError;

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<SqlError> {
        if let Expr::Value(value) = expr {
            if let Value::Number(text, _) = &mut value.value {
                match plain(text) {
                    Some(Ok(digits)) => *text = digits,
                    Some(Err(error)) => return ControlFlow::Break(error),
                    None => {}
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// `text` written out without its exponent, if the exponent leaves it a negative scale.
fn plain(text: &str) -> Option<Result<String>> {
    let (mantissa, exponent) = text.split_once(['e', 'E'])?;
    let exponent: i64 = exponent.parse().ok()?;
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let shift = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    if shift <= 0 {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Some(Ok("0".into()));
    }
    if shift > (DECIMAL_DIGITS_MAX - digits.len().min(DECIMAL_DIGITS_MAX)) as i64 {
        let message =
            format!("numeric literal {text} out of range: a numeric holds at most {DECIMAL_DIGITS_MAX} digits");
        return Some(Err(SqlError::new(code::NUMERIC_OUT_OF_RANGE, message)));
    }
    Some(Ok(format!("{digits}{}", "0".repeat(shift as usize))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_that_would_give_a_negative_scale_are_written_out() {
        assert_eq!(plain("1e37").and_then(Result::ok).as_deref(), Some("10000000000000000000000000000000000000"));
        assert_eq!(plain("1.5E+3").and_then(Result::ok).as_deref(), Some("1500"));
        assert_eq!(plain("00.0e5").and_then(Result::ok).as_deref(), Some("0"));
        // A scale of zero or more is DataFusion's to read as it is.
        assert!(plain("1.25e2").is_none() && plain("1.5e-3").is_none() && plain("42").is_none());
        assert_eq!(plain("1e76").and_then(Result::err).map(|e| e.code), Some("22003"));
        assert_eq!(plain("9e75").and_then(Result::ok).map(|d| d.len()), Some(76));
        assert_eq!(plain("1e99999999999999").and_then(Result::err).map(|e| e.code), Some("22003"));
    }
}
