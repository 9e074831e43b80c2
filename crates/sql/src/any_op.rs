//! `x <op> ANY(array)` with PostgreSQL's NULLs.
//!
//! DataFusion plans `x < ANY(arr)` as a comparison with the array's largest element and
//! `x = ANY(arr)` as `array_has`, so an array of NULLs, or one with NULLs where no element
//! matches, gives false; PostgreSQL gives NULL, as `x op e1 OR x op e2 OR ...` does
//! (`2 < ANY(ARRAY[NULL::int])`). Before planning, and in the plan only (column names come from
//! the statement as written), such a comparison becomes
//!
//! ```text
//! CASE WHEN arr IS NULL THEN NULL
//!      WHEN cardinality(arr) = 0 THEN false
//!      WHEN x IS NULL THEN NULL
//!      WHEN <some element compares true> THEN true
//!      WHEN array_position(arr, NULL) IS NOT NULL THEN NULL
//!      ELSE false END
//! ```
//!
//! where "some element compares true" is `array_has(arr, x)` for `=`, `x < array_max(arr)` for
//! `<` and so on (those functions skip NULLs). `x` and `arr` appear several times, so the
//! rewrite is left out when either holds a function call or a subquery, which could be volatile
//! or costly; columns, literals, parameters, casts and `ARRAY[...]` are what clients write here.

use datafusion::sql::sqlparser::ast::{
    helpers::attached_token::AttachedToken, visit_expressions, visit_expressions_mut, BinaryOperator, CaseWhen, Expr,
    Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName, Statement,
    Value,
};
use std::ops::ControlFlow;

/// Rewrites every `x <op> ANY(array)` of `statement` it can (see the module's documentation).
pub fn rewrite(statement: &mut Statement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::AnyOp { left, compare_op, right, .. } = expr {
            if let Some(case) = with_nulls(left, compare_op, right) {
                *expr = case;
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

fn with_nulls(x: &Expr, op: &BinaryOperator, arr: &Expr) -> Option<Expr> {
    if !plain(x) || !plain(arr) {
        return None;
    }
    let call = |name: &str, args: Vec<Expr>| {
        Expr::Function(Function {
            name: ObjectName::from(vec![Ident::new(name)]),
            uses_odbc_syntax: false,
            parameters: FunctionArguments::None,
            args: FunctionArguments::List(FunctionArgumentList {
                duplicate_treatment: None,
                args: args.into_iter().map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))).collect(),
                clauses: vec![],
            }),
            filter: None,
            null_treatment: None,
            over: None,
            within_group: vec![],
        })
    };
    let binary = |left: Expr, op: BinaryOperator, right: Expr| Expr::BinaryOp {
        left: Box::new(left),
        op,
        right: Box::new(right),
    };
    let (x, arr) = (|| x.clone(), || arr.clone());
    let some_true = match op {
        BinaryOperator::Eq => call("array_has", vec![arr(), x()]),
        BinaryOperator::NotEq => binary(
            binary(x(), BinaryOperator::NotEq, call("array_min", vec![arr()])),
            BinaryOperator::Or,
            binary(x(), BinaryOperator::NotEq, call("array_max", vec![arr()])),
        ),
        BinaryOperator::Lt | BinaryOperator::LtEq => binary(x(), op.clone(), call("array_max", vec![arr()])),
        BinaryOperator::Gt | BinaryOperator::GtEq => binary(x(), op.clone(), call("array_min", vec![arr()])),
        _ => return None,
    };
    let null = || Expr::value(Value::Null);
    let boolean = |value| Expr::value(Value::Boolean(value));
    let when = |condition, result| CaseWhen { condition, result };
    let empty =
        binary(call("cardinality", vec![arr()]), BinaryOperator::Eq, Expr::value(Value::Number("0".into(), false)));
    let has_null = Expr::IsNotNull(Box::new(call("array_position", vec![arr(), null()])));
    Some(Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![
            when(Expr::IsNull(Box::new(arr())), null()),
            when(empty, boolean(false)),
            when(Expr::IsNull(Box::new(x())), null()),
            when(some_true, boolean(true)),
            when(has_null, null()),
        ],
        else_result: Some(Box::new(boolean(false))),
    })
}

/// Whether `expr` holds no function call and no subquery.
fn plain(expr: &Expr) -> bool {
    let found = visit_expressions(expr, |inner| match inner {
        Expr::Function(_) | Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => ControlFlow::Break(()),
        _ => ControlFlow::Continue(()),
    });
    found.is_continue()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::prelude::SessionContext;

    /// Each expected answer was read off PostgreSQL 15 for the same expression.
    #[tokio::test]
    async fn any_answers_null_where_postgresql_does() {
        let cases = [
            ("2 < ANY(ARRAY[CAST(NULL AS INT)])", None),
            ("2 < ANY(ARRAY[1, NULL])", None),
            ("2 < ANY(ARRAY[3, NULL])", Some(true)),
            ("2 = ANY(ARRAY[1, NULL])", None),
            ("2 = ANY(ARRAY[2, NULL])", Some(true)),
            ("2 <> ANY(ARRAY[2, NULL])", None),
            ("2 <> ANY(ARRAY[2, 2])", Some(false)),
            ("CAST(NULL AS INT) = ANY(ARRAY[1])", None),
            ("2 = ANY(CAST(NULL AS INT[]))", None),
            ("2 >= ANY(ARRAY[3, 2])", Some(true)),
            ("2 > ANY(ARRAY[3, 2])", Some(false)),
        ];
        let ctx = SessionContext::new();
        for (expression, expected) in cases {
            let sql = format!("SELECT {expression}");
            let mut statement = crate::session::parse(&sql).expect("parses").remove(0);
            rewrite(&mut statement);
            let state = ctx.state();
            let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement)));
            let plan = plan.await.unwrap_or_else(|e| panic!("{sql}: {e}"));
            let batches = ctx.execute_logical_plan(plan).await.unwrap().collect().await.unwrap();
            let column = batches[0].column(0).as_boolean();
            let answer = (!column.is_null(0)).then(|| column.value(0));
            assert_eq!(answer, expected, "{sql}");
        }
        // A side holding a function call is left to DataFusion.
        let mut statement = crate::session::parse("SELECT random() < ANY(ARRAY[1.0])").expect("parses").remove(0);
        let before = statement.to_string();
        rewrite(&mut statement);
        assert_eq!(statement.to_string(), before);
    }
}
