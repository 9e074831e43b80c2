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
//! PostgreSQL; DataFusion read `'6'` as 6 months. It is written out as `'6 seconds'`. A
//! timestamp written to the minute (`timestamp '2024-01-02 10:00'`) gets `:00` seconds, which
//! Arrow's parser needs (it answered XX000).
//!
//! The numeric types that casts name are checked against what Arrow's decimals hold (precision
//! 1..=76, scale 0..=precision; 22023 otherwise, as PostgreSQL answers a precision it does not
//! take). DataFusion would truncate them to `u8`/`i8` and go on: `numeric(300, 2)` became a
//! precision of 44 and `numeric(76, 200)` a scale of -56, and negative scales make its decimal
//! coercion compute wrong precisions.
//!
//! Integer literals are `integer` where they fit, as PostgreSQL types them (`SELECT 1` is an
//! `int4` column; `2147483647 + 1` overflows; larger ones stay `bigint`, and past `bigint` they
//! are `numeric`, not DataFusion's unsigned): [`type_integers`],
//! applied to the statement DataFusion plans only (column names come from the statement as
//! written), makes each one a cast to `INT`. Ordinals (`ORDER BY 1`, `GROUP BY 1`), `LIMIT`,
//! `OFFSET` and `FETCH` counts, window frame offsets and table functions' arguments keep their
//! plain literal, which DataFusion reads as it is.

use crate::error::{code, Result, SqlError};
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType, ExactNumberInfo, Expr, FunctionArg, FunctionArgExpr, GroupByExpr, LimitClause, OrderByKind,
    Query, Select, Statement, TableFactor, Value, VisitMut, VisitorMut, WindowFrame, WindowFrameBound, WindowType,
};
use std::collections::HashSet;
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
            Expr::Cast { data_type: DataType::Timestamp(..), expr, .. } => {
                if let Expr::Value(value) = expr.as_mut() {
                    seconds_in_timestamp(&mut value.value);
                }
                Ok(())
            }
            Expr::TypedString(typed) if matches!(typed.data_type, DataType::Timestamp(..)) => {
                seconds_in_timestamp(&mut typed.value.value);
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

/// Makes every integer literal of `statement` that fits in 32 bits a cast to `INT`, except
/// where DataFusion needs the plain literal (see the module's documentation).
pub fn type_integers(statement: &mut Statement) {
    let _ = statement.visit(&mut IntegerTyper { kept: HashSet::new() });
}

/// Marks the literals to keep (by address: the tree is changed in place, so an expression's
/// slot stays where it is while the visit runs) before the visit reaches them.
struct IntegerTyper {
    kept: HashSet<*const Expr>,
}

impl IntegerTyper {
    fn keep(&mut self, expr: &Expr) {
        self.kept.insert(expr as *const Expr);
    }

    fn keep_frame(&mut self, frame: &Option<WindowFrame>) {
        let Some(frame) = frame else { return };
        for bound in std::iter::once(&frame.start_bound).chain(frame.end_bound.as_ref()) {
            if let WindowFrameBound::Preceding(Some(expr)) | WindowFrameBound::Following(Some(expr)) = bound {
                self.keep(expr);
            }
        }
    }

    fn keep_args(&mut self, args: &[FunctionArg]) {
        for arg in args {
            if let FunctionArg::Unnamed(FunctionArgExpr::Expr(expr))
            | FunctionArg::Named { arg: FunctionArgExpr::Expr(expr), .. } = arg
            {
                self.keep(expr);
            }
        }
    }
}

impl VisitorMut for IntegerTyper {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(OrderByKind::Expressions(items)) = query.order_by.as_ref().map(|o| &o.kind) {
            for item in items {
                self.keep(&item.expr);
            }
        }
        match &query.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, .. }) => {
                if let Some(limit) = limit {
                    self.keep(limit);
                }
                if let Some(offset) = offset {
                    self.keep(&offset.value);
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                self.keep(offset);
                self.keep(limit);
            }
            None => {}
        }
        if let Some(quantity) = query.fetch.as_ref().and_then(|f| f.quantity.as_ref()) {
            self.keep(quantity);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_select(&mut self, select: &mut Select) -> ControlFlow<()> {
        if let GroupByExpr::Expressions(items, _) = &select.group_by {
            for item in items {
                self.keep(item);
            }
        }
        for window in &select.named_window {
            if let datafusion::sql::sqlparser::ast::NamedWindowExpr::WindowSpec(spec) = &window.1 {
                self.keep_frame(&spec.window_frame);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        match factor {
            TableFactor::Table { args: Some(args), .. } => self.keep_args(&args.args),
            TableFactor::Function { args, .. } => self.keep_args(args),
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(function) = expr {
            if let Some(WindowType::WindowSpec(spec)) = &function.over {
                self.keep_frame(&spec.window_frame);
            }
        }
        if self.kept.contains(&(expr as *const Expr)) {
            return ControlFlow::Continue(());
        }
        if let Expr::Value(value) = expr {
            if let Value::Number(text, _) = &value.value {
                // DataFusion reads an integer past `bigint` and within `u64` as unsigned;
                // PostgreSQL's is numeric.
                let data_type = if text.parse::<i32>().is_ok() {
                    DataType::Int(None)
                } else if text.parse::<i64>().is_err() && text.parse::<u64>().is_ok() {
                    DataType::Numeric(ExactNumberInfo::PrecisionAndScale(20, 0))
                } else {
                    return ControlFlow::Continue(());
                };
                let literal = std::mem::replace(expr, Expr::value(Value::Null));
                *expr =
                    Expr::Cast { kind: CastKind::Cast, expr: Box::new(literal), data_type, array: false, format: None };
                // The visit goes on into the cast, to the literal: keep it as it is now.
                if let Expr::Cast { expr: inner, .. } = expr {
                    self.keep(inner);
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Adds `:00` seconds to a string literal that is a timestamp written to the minute.
fn seconds_in_timestamp(value: &mut Value) {
    if let Value::SingleQuotedString(text) = value {
        if let Some(with_seconds) = crate::types::timestamp_with_seconds(text) {
            *text = with_seconds;
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
    fn integer_literals_are_int_except_where_datafusion_reads_the_literal() {
        let typed = |sql: &str| {
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).unwrap();
            type_integers(&mut statements[0]);
            statements[0].to_string()
        };
        assert_eq!(
            typed("SELECT 1, 2147483648, 1.5, 9223372036854775808"),
            "SELECT CAST(1 AS INT), 2147483648, 1.5, CAST(9223372036854775808 AS NUMERIC(20,0))"
        );
        assert_eq!(
            typed("SELECT a + 1 FROM t GROUP BY 1 ORDER BY 1 LIMIT 2 OFFSET 3"),
            "SELECT a + CAST(1 AS INT) FROM t GROUP BY 1 ORDER BY 1 LIMIT 2 OFFSET 3"
        );
        assert_eq!(
            typed("SELECT sum(a) OVER (ROWS BETWEEN 1 PRECEDING AND 2 FOLLOWING) FROM generate_series(1, 3)"),
            "SELECT sum(a) OVER (ROWS BETWEEN 1 PRECEDING AND 2 FOLLOWING) FROM generate_series(1, 3)"
        );
        assert_eq!(
            typed("SELECT * FROM t WHERE a IN (SELECT 7)"),
            "SELECT * FROM t WHERE a IN (SELECT CAST(7 AS INT))"
        );
    }

    #[test]
    fn timestamps_written_to_the_minute_get_seconds() {
        let rewritten = |sql: &str| written_out(sql).unwrap();
        assert_eq!(rewritten("SELECT TIMESTAMP '2024-01-02 10:00'"), "SELECT TIMESTAMP '2024-01-02 10:00:00'");
        assert_eq!(
            rewritten("SELECT '2024-01-02 9:05+02'::TIMESTAMPTZ"),
            "SELECT '2024-01-02 9:05:00+02'::TIMESTAMPTZ"
        );
        for kept in
            ["SELECT TIMESTAMP '2024-01-02 10:00:01'", "SELECT '2024-01-02 10:00'::TEXT", "SELECT DATE '2024-01-02'"]
        {
            assert_eq!(rewritten(kept), kept);
        }
        assert_eq!(crate::types::timestamp_with_seconds("2024-01-02T10:00Z").as_deref(), Some("2024-01-02T10:00:00Z"));
        assert_eq!(crate::types::timestamp_with_seconds("2024-01-02 10:0"), None);
        assert_eq!(crate::types::timestamp_with_seconds("2024-01-02 10:00:00"), None);
        assert_eq!(crate::types::timestamp_with_seconds("2024-01-02"), None);
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
