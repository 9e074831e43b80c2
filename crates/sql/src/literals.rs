//! Numeric literals and types checked before planning.
//!
//! Numeric literals in exponent form are written out.
//! DataFusion reads `1e37` as a decimal of scale -37, and its expression simplifier scales such
//! a literal by `10^scale` with the scale taken as unsigned: in a release build the power wraps
//! to 0 and the division by it panics (`SELECT 1/0 - 1e37` ended its session with FATAL XX000;
//! the fuzzer found it, `fuzz/regressions/sql_input-negative-scale`). Written out as digits
//! (`10000000000000000000000000000000000000`), the literal has scale 0 and the same value, as
//! PostgreSQL's numeric has. A literal too large for Atoll's widest decimal (76 digits) gets
//! 22003 instead of a plan.
//!
//! A bare number given as an interval (`'6'::interval`, `INTERVAL '1.5'`) is seconds in
//! PostgreSQL; DataFusion read `'6'` as 6 months. It is written out as `'6 seconds'`.
//!
//! The numeric types that casts name are checked against what Arrow's decimals hold (precision
//! 1..=76, scale 0..=precision; 22023 otherwise, as PostgreSQL answers a precision it does not
//! take). DataFusion would truncate them to `u8`/`i8` and go on: `numeric(300, 2)` became a
//! precision of 44 and `numeric(76, 200)` a scale of -56, and negative scales make its decimal
//! coercion compute wrong precisions.

use crate::error::{code, Result, SqlError};
use datafusion::sql::sqlparser::ast::{DataType, ExactNumberInfo, Expr, Statement, Value, VisitMut, VisitorMut};
use std::ops::ControlFlow;

/// Most digits of a decimal (Arrow's Decimal256).
pub const DECIMAL_DIGITS_MAX: usize = 76;

/// Writes out every numeric literal of `statement` whose exponent would give it a negative
/// scale; 22003 for one that cannot be held, 22023 for a cast to a numeric type no decimal
/// holds.
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
        let checked = match expr {
            Expr::Value(value) => match &mut value.value {
                Value::Number(text, _) => match plain(text) {
                    Some(Ok(digits)) => {
                        *text = digits;
                        Ok(())
                    }
                    Some(Err(error)) => Err(error),
                    None => Ok(()),
                },
                _ => Ok(()),
            },
            Expr::Cast { data_type: DataType::Interval { fields: None, .. }, expr, .. } => {
                seconds_if_bare(expr);
                Ok(())
            }
            Expr::Interval(interval) if interval.leading_field.is_none() && interval.last_field.is_none() => {
                seconds_if_bare(&mut interval.value);
                Ok(())
            }
            Expr::Cast { data_type, .. } => check_numeric_type(data_type, DECIMAL_DIGITS_MAX as u64),
            Expr::TypedString(typed) => check_numeric_type(&typed.data_type, DECIMAL_DIGITS_MAX as u64),
            _ => Ok(()),
        };
        match checked {
            Ok(()) => ControlFlow::Continue(()),
            Err(error) => ControlFlow::Break(error),
        }
    }
}

/// Writes a string literal that is a bare number (`'6'`, `' -1.5 '`) out as that many seconds.
fn seconds_if_bare(expr: &mut Expr) {
    if let Expr::Value(value) = expr {
        if let Value::SingleQuotedString(text) = &mut value.value {
            let number = text.trim();
            let bare = !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+'))
                && number.parse::<f64>().is_ok();
            if bare {
                *text = format!("{number} seconds");
            }
        }
    }
}

/// Checks that every numeric type in `data_type` (arrays of it included) has a precision of
/// 1..=`precision_max` and a scale of 0..=precision: 22023 otherwise.
pub fn check_numeric_type(data_type: &DataType, precision_max: u64) -> Result<()> {
    match data_type {
        DataType::Numeric(info) | DataType::Decimal(info) | DataType::Dec(info) => {
            let (precision, scale) = match info {
                ExactNumberInfo::None => return Ok(()),
                ExactNumberInfo::Precision(p) => (*p, 0),
                ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s),
            };
            if precision == 0 || precision > precision_max {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!("NUMERIC precision {precision} must be between 1 and {precision_max}"),
                ));
            }
            if scale < 0 || scale.unsigned_abs() > precision {
                return Err(SqlError::new(
                    code::INVALID_PARAMETER_VALUE,
                    format!("NUMERIC scale {scale} must be between 0 and precision {precision}"),
                ));
            }
            Ok(())
        }
        DataType::Array(
            datafusion::sql::sqlparser::ast::ArrayElemTypeDef::AngleBracket(inner)
            | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::SquareBracket(inner, _)
            | datafusion::sql::sqlparser::ast::ArrayElemTypeDef::Parenthesis(inner),
        ) => check_numeric_type(inner, precision_max),
        _ => Ok(()),
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

    /// `sql`'s first statement, written out: the statement, or the error's code and message.
    fn written_out(sql: &str) -> std::result::Result<String, (&'static str, String)> {
        let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
        let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).unwrap();
        write_out(&mut statements[0]).map_err(|e| (e.code, e.message))?;
        Ok(statements[0].to_string())
    }

    #[test]
    fn a_bare_number_as_an_interval_is_seconds() {
        let rewritten = |sql: &str| written_out(sql).unwrap();
        assert_eq!(rewritten("SELECT '6'::INTERVAL"), "SELECT '6 seconds'::INTERVAL");
        assert_eq!(rewritten("SELECT INTERVAL ' -1.5 '"), "SELECT INTERVAL '-1.5 seconds'");
        // Units, clock forms and fields are PostgreSQL's and DataFusion's to read.
        for kept in
            ["SELECT '6 days'::INTERVAL", "SELECT '1:30'::INTERVAL", "SELECT INTERVAL '6' HOUR", "SELECT '6'::TEXT"]
        {
            assert_eq!(rewritten(kept), kept);
        }
    }

    #[test]
    fn numeric_types_beyond_a_decimal_are_refused_before_datafusion_truncates_them() {
        let parse = |sql: &str| written_out(sql).err();
        assert_eq!(parse("SELECT 1::numeric(76, 76), CAST(1 AS decimal(10)), '1'::numeric"), None);
        let refused = [
            ("SELECT 1::numeric(300, 2)", "NUMERIC precision 300 must be between 1 and 76"),
            ("SELECT 1::numeric(0)", "NUMERIC precision 0 must be between 1 and 76"),
            ("SELECT CAST(1 AS decimal(76, 200))", "NUMERIC scale 200 must be between 0 and precision 76"),
            ("SELECT 1::numeric(10, -2)", "NUMERIC scale -2 must be between 0 and precision 10"),
            ("SELECT ARRAY[1]::numeric(99, 1)[]", "NUMERIC precision 99 must be between 1 and 76"),
            ("SELECT numeric(5, -1) '1.5'", "NUMERIC scale -1 must be between 0 and precision 5"),
        ];
        for (sql, message) in refused {
            assert_eq!(parse(sql), Some(("22023", message.to_string())), "{sql}");
        }
    }
}
