//! What DataFusion plans, written from what PostgreSQL clients send: the rewrites a statement
//! goes through just before DataFusion plans it, on the planned copy only (column names come
//! from the statement as the client wrote it, see `column_names`).
//!
//! - `x <op> ANY(array)` with PostgreSQL's NULLs (`any_op`).
//! - `FETCH FIRST n ROWS ONLY` (the SQL standard's form of LIMIT, which PostgreSQL takes) is
//!   `LIMIT n`; DataFusion refused it with 0A000. `WITH TIES` and `PERCENT`
//!   are left to DataFusion, which refuses them.
//! - `mod(a, b)` is `a % b`, PostgreSQL's function for the operator (DataFusion has no `mod`).
//! - Integer literals typed as PostgreSQL types them (`literals::type_integers`), last, so that
//!   the literals the other rewrites move are typed where they land.

use datafusion::sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, LimitClause, Query, Statement, VisitMut,
    VisitorMut,
};
use std::ops::ControlFlow;

/// Rewrites `statement`, the copy DataFusion is about to plan (see the module's documentation).
pub fn for_planning(statement: &mut Statement) {
    crate::any_op::rewrite(statement);
    let _ = statement.visit(&mut StandardForms);
    crate::literals::type_integers(statement);
}

struct StandardForms;

impl VisitorMut for StandardForms {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        let plain_fetch = query.fetch.as_ref().is_some_and(|fetch| !fetch.with_ties && !fetch.percent);
        let no_limit = matches!(query.limit_clause, None | Some(LimitClause::LimitOffset { limit: None, .. }));
        if plain_fetch && no_limit {
            let fetch = query.fetch.take().expect("checked above");
            // `FETCH FIRST ROW ONLY` is one row.
            let count = fetch
                .quantity
                .unwrap_or_else(|| Expr::value(datafusion::sql::sqlparser::ast::Value::Number("1".into(), false)));
            let offset = match query.limit_clause.take() {
                Some(LimitClause::LimitOffset { offset, .. }) => offset,
                _ => None,
            };
            query.limit_clause = Some(LimitClause::LimitOffset { limit: Some(count), offset, limit_by: vec![] });
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Some((left, right)) = mod_call(expr) {
            *expr = Expr::Nested(Box::new(Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(left))),
                op: BinaryOperator::Modulo,
                right: Box::new(Expr::Nested(Box::new(right))),
            }));
        }
        ControlFlow::Continue(())
    }
}

/// The two arguments of a plain call `mod(a, b)` (or `pg_catalog.mod`).
fn mod_call(expr: &Expr) -> Option<(Expr, Expr)> {
    let Expr::Function(function) = expr else { return None };
    let name: Vec<String> = function.name.0.iter().map(|part| part.to_string().to_lowercase()).collect();
    let plain = function.filter.is_none() && function.over.is_none() && function.within_group.is_empty();
    if !plain || !(name == ["mod"] || name == ["pg_catalog", "mod"]) {
        return None;
    }
    let FunctionArguments::List(list) = &function.args else { return None };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    match list.args.as_slice() {
        [FunctionArg::Unnamed(FunctionArgExpr::Expr(a)), FunctionArg::Unnamed(FunctionArgExpr::Expr(b))] => {
            Some((a.clone(), b.clone()))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(sql: &str) -> String {
        let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
        let mut statements = datafusion::sql::sqlparser::parser::Parser::parse_sql(&dialect, sql).unwrap();
        for_planning(&mut statements[0]);
        statements[0].to_string()
    }

    #[test]
    fn fetch_first_is_limit_and_mod_is_the_operator() {
        assert_eq!(
            planned("SELECT a FROM t ORDER BY a OFFSET 2 ROWS FETCH FIRST 3 ROWS ONLY"),
            "SELECT a FROM t ORDER BY a LIMIT 3 OFFSET 2 ROWS"
        );
        assert_eq!(planned("SELECT a FROM t FETCH NEXT ROW ONLY"), "SELECT a FROM t LIMIT 1");
        // What DataFusion refuses stays as written, so that it is refused.
        assert!(planned("SELECT a FROM t ORDER BY a FETCH FIRST 3 ROWS WITH TIES").contains("WITH TIES"));
        assert_eq!(
            planned("SELECT mod(a, 3), pg_catalog.mod(a + 1, b) FROM t"),
            "SELECT ((a) % (CAST(3 AS INT))), ((a + CAST(1 AS INT)) % (b)) FROM t"
        );
        // A function of another name, or mod with other arguments, is left alone.
        assert_eq!(planned("SELECT modulo(a, b), mod(a) FROM t"), "SELECT modulo(a, b), mod(a) FROM t");
    }
}
