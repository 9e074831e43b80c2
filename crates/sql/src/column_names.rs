//! The names PostgreSQL gives result columns, put on what DataFusion returns.
//!
//! DataFusion names an unaliased column after its expression (`count(*)`, `Int64(1)`,
//! `upper(t.name)`); PostgreSQL after what the expression is (`count`, `?column?`, `upper`),
//! and clients read rows by those names (`row["count"]`). The rule is PostgreSQL's
//! `FigureColname`: a column reference is named after the column, a function call after the
//! function, a cast after what it casts or else after its type (`'1'::int` is `int4`), `CASE`,
//! `EXISTS` and `ARRAY[...]` after their keyword, a scalar subquery after its own column, and
//! anything else (operators, literals) is `?column?`. An alias is kept as DataFusion has it.
//!
//! Only the names change, after planning: DataFusion needs unique names inside the plan, where
//! PostgreSQL's repeat (`SELECT 1, 2` has two `?column?`). Where DataFusion's own names of two
//! select items would be equal (`SELECT 1, 1`, `round(x::float8), round(x)`: its names leave
//! casts out), it refused the query; [`disambiguate`] gives every unnamed item of a select
//! list of two or more an internal alias before planning (a column only when its name repeats),
//! which [`apply`] replaces with PostgreSQL's name.

use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::sql::sqlparser::ast::{
    CastKind, DataType as SqlType, Expr, Ident, Query, SelectItem, SetExpr, Statement, TableAlias, TableAliasColumnDef,
    TableFactor, TimezoneInfo, VisitMut, VisitorMut,
};
use std::ops::ControlFlow;
use std::sync::Arc;

/// Set-returning functions of one column that may stand in FROM.
const ONE_COLUMN_FUNCTIONS: &[&str] = &["generate_series"];

/// Names the column of a one-column function in FROM as PostgreSQL does: after the function's
/// table alias if it has one (`SELECT i FROM generate_series(1, 3) i`), else after the function
/// (`generate_series`). DataFusion named it `value`, so `i` was no column. Written into the
/// statement as a column alias (`AS i(i)`), which DataFusion reads.
pub fn name_function_columns(statement: &mut Statement) {
    let _ = statement.visit(&mut FunctionColumns);
}

struct FunctionColumns;

impl VisitorMut for FunctionColumns {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, args: Some(_), .. } = factor {
            let function = name.0.last().and_then(|part| part.as_ident()).map(|ident| ident.value.to_lowercase());
            if let Some(function) = function.filter(|f| ONE_COLUMN_FUNCTIONS.contains(&f.as_str())) {
                let alias = alias.get_or_insert_with(|| TableAlias {
                    explicit: true,
                    name: Ident::new(function.clone()),
                    columns: vec![],
                    at: None,
                });
                if alias.columns.is_empty() {
                    alias.columns.push(TableAliasColumnDef { name: alias.name.clone(), data_type: None });
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// What PostgreSQL names a column it cannot name otherwise.
const UNNAMED: &str = "?column?";

/// The start of the aliases [`disambiguate`] gives (a space and a word no client writes).
const INTERNAL_ALIAS: &str = "atoll unnamed ";

/// The start of the alias [`disambiguate`] gives an item whose own alias repeats an earlier
/// one's (`SELECT 1 AS a, 2 AS a`, which PostgreSQL answers and DataFusion refuses); the
/// client's alias follows it, after the item's position and a colon.
const REPEATED_ALIAS: &str = "atoll repeated ";

/// Gives each unaliased item of the statement's select lists whose DataFusion name would equal
/// an earlier item's an internal alias (see the module's documentation).
pub fn disambiguate(statement: &mut Statement) {
    if let Statement::Query(query) = statement {
        disambiguate_body(&mut query.body);
    }
}

fn disambiguate_body(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            if select
                .projection
                .iter()
                .filter(|item| !matches!(item, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)))
                .count()
                < 2
            {
                return;
            }
            let mut seen = std::collections::HashSet::new();
            let mut aliases = std::collections::HashSet::new();
            for (position, item) in select.projection.iter_mut().enumerate() {
                if let SelectItem::ExprWithAlias { expr, alias } = item {
                    if column_name(expr) != Some(&alias.value) {
                        // DataFusion folds an unquoted alias to lower case, as PostgreSQL does.
                        let folded =
                            if alias.quote_style.is_none() { alias.value.to_lowercase() } else { alias.value.clone() };
                        if !aliases.insert(folded.clone()) {
                            let renamed = format!("{REPEATED_ALIAS}{}:{folded}", position + 1);
                            *alias = Ident::with_quote('"', renamed);
                        }
                        continue;
                    }
                }
                let expr = match item {
                    SelectItem::UnnamedExpr(expr) => expr,
                    // DataFusion drops an alias that repeats the column's name (`a AS a`).
                    SelectItem::ExprWithAlias { expr, alias } if column_name(expr) == Some(&alias.value) => expr,
                    _ => continue,
                };
                // DataFusion's name of an expression is hard to foresee (`1 IN (SELECT 1)` and
                // `2 IN (SELECT 1)` collided): every expression but a column gets an alias.
                let column = column_name(expr).is_some();
                if !seen.insert(datafusion_key(expr)) || !column {
                    let alias = Ident::with_quote('"', format!("{INTERNAL_ALIAS}{}", position + 1));
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
                }
            }
        }
        SetExpr::Query(query) => disambiguate_body(&mut query.body),
        SetExpr::SetOperation { left, right, .. } => {
            disambiguate_body(left);
            disambiguate_body(right);
        }
        _ => {}
    }
}

/// The name of a column reference (its last part).
fn column_name(expr: &Expr) -> Option<&String> {
    match expr {
        Expr::Identifier(ident) => Some(&ident.value),
        Expr::CompoundIdentifier(parts) => parts.last().map(|part| &part.value),
        _ => None,
    }
}

/// What DataFusion's name of a select item depends on, about: the expression without its
/// casts, a column by its last name. Items that differ only in what this leaves out would get
/// the same name; an item aliased without need only gets a name of ours that [`apply`] replaces.
fn datafusion_key(expr: &Expr) -> String {
    let mut stripped = expr.clone();
    let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut stripped, |expr| {
        loop {
            match expr {
                Expr::Cast { expr: inner, .. } | Expr::Nested(inner) => *expr = inner.as_ref().clone(),
                Expr::CompoundIdentifier(parts) if !parts.is_empty() => {
                    *expr = Expr::Identifier(parts.last().cloned().expect("not empty"))
                }
                _ => break,
            }
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    stripped.to_string()
}

/// `schema` (the result of `statement`) with PostgreSQL's column names.
pub fn apply(statement: &Statement, schema: &Schema) -> SchemaRef {
    let names = match statement {
        Statement::Query(query) => query_names(query, schema.fields().len()),
        _ => None,
    };
    let Some(names) = names else { return Arc::new(schema.clone()) };
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .zip(names)
        .map(|(field, name)| match name {
            Some(name) => field.as_ref().clone().with_name(name),
            None => field.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// For each of a query's `count` result columns, the name to give it (`None`: keep).
fn query_names(query: &Query, count: usize) -> Option<Vec<Option<String>>> {
    let items = select_items(&query.body)?;
    let wildcard = |item: &SelectItem| matches!(item, SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..));
    let named = |item: &SelectItem| match item {
        SelectItem::UnnamedExpr(expr) => Some(expr_name(expr).0),
        SelectItem::ExprWithAlias { expr, alias } if alias.value.starts_with(INTERNAL_ALIAS) => Some(expr_name(expr).0),
        SelectItem::ExprWithAlias { alias, .. } if alias.value.starts_with(REPEATED_ALIAS) => {
            alias.value.split_once(':').map(|(_, name)| name.to_string())
        }
        _ => None,
    };
    let mut names = Vec::with_capacity(count);
    match items.iter().filter(|item| wildcard(item)).count() {
        0 if items.len() == count => names.extend(items.iter().map(named)),
        // One wildcard stands for whatever columns the others leave.
        1 if items.len() <= count + 1 => {
            for item in items {
                if wildcard(item) {
                    names.extend(std::iter::repeat_n(None, count + 1 - items.len()));
                } else {
                    names.push(named(item));
                }
            }
        }
        _ => return None,
    }
    assert_eq!(names.len(), count, "a name for each result column");
    Some(names)
}

/// The select list that names a query's columns: the first SELECT of a set operation.
fn select_items(body: &SetExpr) -> Option<&[SelectItem]> {
    match body {
        SetExpr::Select(select) => Some(&select.projection),
        SetExpr::Query(query) => select_items(&query.body),
        SetExpr::SetOperation { left, .. } => select_items(left),
        _ => None,
    }
}

/// PostgreSQL's name for an expression, and how sure it is: 2 for a name from the expression
/// itself, 1 for a type name (a cast of something unnamed), 0 for `?column?`.
fn expr_name(expr: &Expr) -> (String, u8) {
    match expr {
        Expr::Identifier(ident) => (ident.value.clone(), 2),
        Expr::CompoundIdentifier(parts) => parts.last().map_or((UNNAMED.into(), 0), |p| (p.value.clone(), 2)),
        Expr::Nested(inner) | Expr::Collate { expr: inner, .. } => expr_name(inner),
        Expr::Function(function) => {
            let name = function.name.0.last().map(|part| part.to_string());
            (name.map_or(UNNAMED.into(), |n| n.trim_matches('"').to_string()), 2)
        }
        Expr::Cast { kind: CastKind::Cast | CastKind::DoubleColon, expr, data_type, .. } => {
            let (name, strength) = expr_name(expr);
            if strength == 2 {
                (name, 2)
            } else {
                (type_name(data_type), 1)
            }
        }
        Expr::TypedString(typed) => (type_name(&typed.data_type), 1),
        // PostgreSQL names a CASE after its ELSE result when that has a name of its own.
        Expr::Case { else_result, .. } => match else_result.as_deref().map(expr_name) {
            Some((name, 2)) => (name, 2),
            _ => ("case".into(), 1),
        },
        Expr::Interval(_) => ("interval".into(), 1),
        Expr::Trim { trim_where, .. } => {
            use datafusion::sql::sqlparser::ast::TrimWhereField;
            let name = match trim_where {
                Some(TrimWhereField::Leading) => "ltrim",
                Some(TrimWhereField::Trailing) => "rtrim",
                _ => "btrim",
            };
            (name.into(), 2)
        }
        Expr::Substring { shorthand: true, .. } => ("substr".into(), 2),
        Expr::Exists { .. } => ("exists".into(), 2),
        Expr::Array(_) => ("array".into(), 2),
        Expr::Tuple(_) => ("row".into(), 2),
        Expr::Subquery(query) => match select_items(&query.body) {
            Some([SelectItem::UnnamedExpr(inner)]) => match expr_name(inner) {
                (name, 2) => (name, 2),
                _ => (UNNAMED.into(), 0),
            },
            Some([SelectItem::ExprWithAlias { alias, .. }]) => (alias.value.clone(), 2),
            _ => (UNNAMED.into(), 0),
        },
        Expr::Extract { .. } => ("extract".into(), 2),
        Expr::Substring { .. } => ("substring".into(), 2),
        Expr::Position { .. } => ("position".into(), 2),
        Expr::Overlay { .. } => ("overlay".into(), 2),
        Expr::Ceil { .. } => ("ceil".into(), 2),
        Expr::Floor { .. } => ("floor".into(), 2),
        _ => (UNNAMED.into(), 0),
    }
}

/// PostgreSQL's internal name of a type, as it names a cast column (`int4`, `float8`, ...).
fn type_name(data_type: &SqlType) -> String {
    let name = match data_type {
        SqlType::Int(_) | SqlType::Integer(_) | SqlType::Int4(_) => "int4",
        SqlType::BigInt(_) | SqlType::Int8(_) => "int8",
        SqlType::SmallInt(_) | SqlType::Int2(_) => "int2",
        SqlType::Real | SqlType::Float4 => "float4",
        SqlType::DoublePrecision | SqlType::Float8 | SqlType::Double(_) | SqlType::Float(_) => "float8",
        SqlType::Numeric(_) | SqlType::Decimal(_) | SqlType::Dec(_) => "numeric",
        SqlType::Boolean | SqlType::Bool => "bool",
        SqlType::Char(_) | SqlType::Character(_) => "bpchar",
        SqlType::Varchar(_) | SqlType::CharacterVarying(_) | SqlType::CharVarying(_) => "varchar",
        SqlType::Text => "text",
        SqlType::Bytea => "bytea",
        SqlType::Date => "date",
        SqlType::Timestamp(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timestamptz",
        SqlType::Timestamp(..) => "timestamp",
        SqlType::Time(_, TimezoneInfo::Tz | TimezoneInfo::WithTimeZone) => "timetz",
        SqlType::Time(..) => "time",
        SqlType::Interval { .. } => "interval",
        SqlType::Uuid => "uuid",
        SqlType::JSON => "json",
        SqlType::JSONB => "jsonb",
        other => return other.to_string().split(['(', ' ']).next().unwrap_or(UNNAMED).to_lowercase(),
    };
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::DataType;

    /// The names for `sql`'s columns, as if DataFusion had returned one column per select item.
    fn names(sql: &str, columns: usize) -> Vec<String> {
        let statement = crate::session::parse(sql).expect("parses").remove(0);
        let fields: Vec<Field> = (0..columns).map(|i| Field::new(format!("df{i}"), DataType::Int64, true)).collect();
        apply(&statement, &Schema::new(fields)).fields().iter().map(|f| f.name().clone()).collect()
    }

    /// Select items DataFusion would name alike are planned (it refused them) and named as
    /// PostgreSQL 15 names them.
    #[tokio::test]
    async fn items_datafusion_would_name_alike_plan_and_keep_postgresql_names() {
        let sql = "SELECT round(4.5::float8), round(4.5), 1, 1, a, t.a, a AS a, (a), count(*) FROM t GROUP BY a";
        let mut subqueries =
            crate::session::parse("SELECT 1 IN (SELECT 1), 2 IN (SELECT 1)").expect("parses").remove(0);
        let mut statement = crate::session::parse(sql).expect("parses").remove(0);
        let aliased: Vec<String> = match &statement {
            Statement::Query(query) => match query.body.as_ref() {
                SetExpr::Select(select) => select.projection.iter().map(|item| item.to_string()).collect(),
                _ => unreachable!(),
            },
            _ => unreachable!(),
        };
        assert_eq!(aliased[1], "round(4.5) AS \"atoll unnamed 2\"", "{aliased:?}");
        assert_eq!(aliased[3], "1 AS \"atoll unnamed 4\"");
        assert_eq!(aliased[5], "t.a AS \"atoll unnamed 6\"");
        assert_eq!(aliased[6], "a AS \"atoll unnamed 7\"");
        assert_eq!(aliased[7], "(a) AS \"atoll unnamed 8\"");
        // Expressions get an alias even when unique; the first use of a column does not.
        assert_eq!(aliased[0], "round(4.5::FLOAT8) AS \"atoll unnamed 1\"");
        assert_eq!(aliased[8], "count(*) AS \"atoll unnamed 9\"");
        assert_eq!(aliased[4], "a");
        disambiguate(&mut statement);
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.sql("CREATE TABLE t (a BIGINT) AS VALUES (1)").await.expect("table");
        let state = ctx.state();
        let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement.clone())));
        let plan = plan.await.expect("DataFusion plans it now");
        let named: Vec<String> =
            apply(&statement, plan.schema().as_arrow()).fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(named, ["round", "round", "?column?", "?column?", "a", "a", "a", "a", "count"]);
        disambiguate(&mut subqueries);
        let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(subqueries.clone())));
        let plan = plan.await.expect("two IN subqueries plan");
        let named: Vec<String> =
            apply(&subqueries, plan.schema().as_arrow()).fields().iter().map(|f| f.name().clone()).collect();
        assert_eq!(named, ["?column?", "?column?"]);
        // Aliased select items still match the expressions GROUP BY, HAVING and ORDER BY name.
        for sql in [
            "SELECT a + 1, count(*) FROM t GROUP BY a + 1 HAVING count(*) > 0 ORDER BY a + 1 DESC",
            "SELECT a % 2, sum(a) FROM t GROUP BY 1 ORDER BY 2",
            "SELECT a + 1, a * 2 FROM t WHERE a > 0 ORDER BY a * 2",
            "SELECT row_number() OVER (ORDER BY a), a + 1 FROM t",
        ] {
            let mut statement = crate::session::parse(sql).expect("parses").remove(0);
            disambiguate(&mut statement);
            let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement)));
            plan.await.unwrap_or_else(|e| panic!("{sql}: {e}"));
        }
    }

    /// PostgreSQL 15 names a one-column function's column after its alias, else after itself.
    #[tokio::test]
    async fn a_function_in_from_names_its_column_after_its_alias_or_itself() {
        let ctx = datafusion::prelude::SessionContext::new();
        let run = |sql: &str| {
            let mut statement = crate::session::parse(sql).expect("parses").remove(0);
            name_function_columns(&mut statement);
            let ctx = ctx.clone();
            async move {
                let state = ctx.state();
                let plan = state.statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement)));
                let plan = plan.await.unwrap_or_else(|e| panic!("{e}"));
                let batches = ctx.execute_logical_plan(plan).await.unwrap().collect().await.unwrap();
                let schema = batches[0].schema();
                (schema.field(0).name().clone(), batches.iter().map(|b| b.num_rows()).sum::<usize>())
            }
        };
        assert_eq!(run("SELECT i FROM generate_series(1, 3) i").await, ("i".to_string(), 3));
        assert_eq!(run("SELECT * FROM generate_series(1, 4)").await, ("generate_series".to_string(), 4));
        assert_eq!(run("SELECT g.x FROM generate_series(1, 2) AS g(x)").await, ("x".to_string(), 2));
        assert_eq!(run("SELECT sum(generate_series) FROM generate_series(1, 4)").await.1, 1);
    }

    /// Each expected name was read off PostgreSQL 15 for the same select list.
    #[test]
    fn columns_are_named_as_postgresql_names_them() {
        let sql = "SELECT count(*), sum(a), upper(b), a, t.b, 1, 'x', 1+2, a::text, '1'::int, 1::bigint, \
                   b || 'x', -a, (a), coalesce(a, 1), CASE WHEN a > 1 THEN 1 END, now() IS NULL, \
                   EXISTS (SELECT 1), (SELECT 1), ARRAY[1], cast(a as bigint), 2.5::float8, true::boolean, \
                   current_date, a IS NULL, 'x'::varchar, count(*) AS n, max(c)::text, greatest(1,2), \
                   nullif(a,1), row_number() over () FROM t";
        let expected = [
            "count",
            "sum",
            "upper",
            "a",
            "b",
            "?column?",
            "?column?",
            "?column?",
            "a",
            "int4",
            "int8",
            "?column?",
            "?column?",
            "a",
            "coalesce",
            "case",
            "?column?",
            "exists",
            "?column?",
            "array",
            "a",
            "float8",
            "bool",
            "current_date",
            "?column?",
            "varchar",
            "df26",
            "max",
            "greatest",
            "nullif",
            "row_number",
        ];
        assert_eq!(names(sql, expected.len()), expected);
        let casts = "SELECT 'a'::text, 1::int2, 1.5::real, 1::numeric, 'now'::timestamp, 'now'::date, \
                     1::double precision, 'x'::char(3), lower('A')";
        let expected = ["text", "int2", "float4", "numeric", "timestamp", "date", "float8", "bpchar", "lower"];
        assert_eq!(names(casts, expected.len()), expected);
        let special = "SELECT CASE WHEN a > 1 THEN 1 ELSE a END, (CASE WHEN a > 1 THEN 1 END)::int, \
                       trim(b), trim(leading 'x' from b), substr(b, 1), substring(b from 1), INTERVAL '1 day'";
        let expected = ["a", "int4", "btrim", "ltrim", "substr", "substring", "interval"];
        assert_eq!(names(special, expected.len()), expected);
        // Repeated aliases are PostgreSQL's to give, not DataFusion's to refuse: a repeat gets
        // an internal alias that names it back (the first keeps its own, DataFusion's `dfN`
        // here); a quoted alias differs from an unquoted one in another case.
        let repeated = "SELECT max(a) AS m, min(a) AS m, 1 AS X, 2 AS x, 3 AS \"X\"";
        assert_eq!(names(repeated, 5), ["df0", "m", "df2", "x", "df4"]);
    }

    #[test]
    fn set_operations_subqueries_and_wildcards() {
        assert_eq!(names("SELECT 1 UNION SELECT 2", 1), ["?column?"]);
        assert_eq!(names("SELECT (SELECT x FROM s)", 1), ["x"]);
        // A wildcard's columns keep their names; the items around it are named.
        assert_eq!(names("SELECT lower('A'), *, 1 FROM t", 5), ["lower", "df1", "df2", "df3", "?column?"]);
        // What cannot be matched to the columns is left as it is.
        assert_eq!(names("SELECT *, * FROM t", 4), ["df0", "df1", "df2", "df3"]);
        assert_eq!(names("VALUES (1, 2)", 2), ["df0", "df1"]);
    }
}
