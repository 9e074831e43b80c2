//! Rewrites of the PostgreSQL-only syntax in client catalog queries into what DataFusion
//! plans; see the module documentation of `pg_catalog`.

use super::*;

pub(super) fn ident_value(part: &ObjectNamePart) -> Option<String> {
    part.as_ident().map(|i| i.value.to_lowercase())
}

/// Translates the PostgreSQL-only syntax of catalog queries into what DataFusion plans.
/// Returns whether the statement reads the catalog (and so needs a fresh [`Snapshot`]).
pub fn rewrite(statement: &mut Statement) -> bool {
    let mut uses_catalog = false;
    let _ = visit_relations_mut(statement, |name: &mut ObjectName| {
        let parts: Vec<String> = name.0.iter().filter_map(ident_value).collect();
        match parts.as_slice() {
            [table] if PG_TABLES.contains(&table.as_str()) => {
                name.0.insert(0, ObjectNamePart::Identifier(Ident::new(PG_CATALOG)));
                uses_catalog = true;
            }
            [schema, function] if schema == PG_CATALOG && is_pg_function(function) => {
                name.0.remove(0);
                uses_catalog = true;
            }
            [schema, _] if schema == PG_CATALOG || schema == INFORMATION_SCHEMA => uses_catalog = true,
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    // psql's `\du`: ARRAY(SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON
    // (m.roleid = b.oid) WHERE m.member = r.oid) is `atoll_member_of(r.oid)`: the engine has
    // no ARRAY(subquery).
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        if let Some(member) = memberships_of(expr) {
            if let Some(call) = parse_expr(&format!("atoll_member_of({member})")) {
                *expr = call;
                uses_catalog = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let _ = statement.visit(&mut RowlessCatalogs);
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        match expr {
            // ARRAY(subquery) over a rowless catalog (psql's `\du` lists role memberships
            // from pg_auth_members) is the empty array: the engine has no ARRAY(subquery).
            Expr::Function(function)
                if function.name.0.last().and_then(ident_value).as_deref() == Some("array")
                    && matches!(&function.args, ast::FunctionArguments::Subquery(query) if emptied(query)) =>
            {
                if let Some(empty) = parse_expr("CAST(make_array() AS VARCHAR[])") {
                    *expr = empty;
                }
            }
            Expr::Function(function) => {
                let parts: Vec<String> = function.name.0.iter().filter_map(ident_value).collect();
                if parts.len() == 2 && parts[0] == PG_CATALOG {
                    function.name.0.remove(0);
                }
                // The vectors of pg_index are text as clients read them (`1 2`), and arrays
                // to the functions that take them apart.
                let vector_functions = ["unnest", "generate_subscripts", "cardinality", "array_length"];
                if parts.last().is_some_and(|f| vector_functions.contains(&f.as_str())) {
                    if let ast::FunctionArguments::List(list) = &mut function.args {
                        if let Some(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(arg))) = list.args.first_mut()
                        {
                            let column = match arg {
                                Expr::Identifier(i) => Some(i.value.to_lowercase()),
                                Expr::CompoundIdentifier(p) => p.last().map(|i| i.value.to_lowercase()),
                                _ => None,
                            };
                            let vectors = ["indkey", "indclass", "indoption", "indcollation"];
                            if column.is_some_and(|c| vectors.contains(&c.as_str())) {
                                if let Some(wrapped) = parse_expr(&format!("atoll_int_vector({arg})")) {
                                    *arg = wrapped;
                                }
                            }
                        }
                    }
                }
                // generate_subscripts(array, 1): the engine's unnest over the subscripts, which
                // runs in step with an unnest of the array in the same select list.
                if parts.last().map(String::as_str) == Some("generate_subscripts") {
                    if let ast::FunctionArguments::List(list) = &function.args {
                        if let Some(ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(array))) = list.args.first() {
                            let sql = format!("unnest(range(1, CAST(cardinality({array}) AS BIGINT) + 1))");
                            if let Some(replaced) = parse_expr(&sql) {
                                *expr = replaced;
                                return ControlFlow::Continue(());
                            }
                        }
                    }
                }
                if parts.last().is_some_and(|f| is_pg_function(f)) {
                    uses_catalog = true;
                }
            }
            Expr::BinaryOp { op, .. } => {
                if let BinaryOperator::PGCustomBinaryOperator(parts) = op {
                    let replacement = match parts.last().map(String::as_str) {
                        Some("~") => Some(BinaryOperator::PGRegexMatch),
                        Some("~*") => Some(BinaryOperator::PGRegexIMatch),
                        Some("!~") => Some(BinaryOperator::PGRegexNotMatch),
                        Some("!~*") => Some(BinaryOperator::PGRegexNotIMatch),
                        Some("=") => Some(BinaryOperator::Eq),
                        Some("<>") => Some(BinaryOperator::NotEq),
                        Some("<") => Some(BinaryOperator::Lt),
                        Some(">") => Some(BinaryOperator::Gt),
                        Some("<=") => Some(BinaryOperator::LtEq),
                        Some(">=") => Some(BinaryOperator::GtEq),
                        _ => None,
                    };
                    if let Some(replacement) = replacement {
                        *op = replacement;
                    }
                }
            }
            Expr::Subquery(query) => {
                if let Some(guard) = aggregate_catalog_lookup(query) {
                    if let Some(guarded) = parse_expr(&format!("CASE WHEN {guard} THEN {expr} END")) {
                        *expr = guarded;
                    }
                }
            }
            Expr::Collate { expr: inner, .. } => {
                *expr = std::mem::replace(inner.as_mut(), Expr::value(ast::Value::Null));
            }
            Expr::Cast { expr: inner, data_type, .. } => {
                if let Some(kind) = catalog_type(data_type) {
                    uses_catalog = true;
                    let inner = std::mem::replace(inner.as_mut(), Expr::value(ast::Value::Null));
                    // `x::regclass::text` prints the name: PostgreSQL's reg* types are oids
                    // that print as names, which here are two functions.
                    let named = match &inner {
                        Expr::Function(f) => match f.name.to_string().as_str() {
                            "atoll_regclass" | "atoll_regtype" => Some((f.name.to_string(), f.args.to_string())),
                            _ => None,
                        },
                        _ => None,
                    };
                    let replaced = match (kind, named) {
                        (CatalogType::Text, Some((name, args))) => parse_expr(&format!("{name}_name{args}")),
                        (CatalogType::Regclass, _) => parse_expr(&format!("atoll_regclass({inner})")),
                        (CatalogType::Regtype, _) => parse_expr(&format!("atoll_regtype({inner})")),
                        (CatalogType::Oid, _) => parse_expr(&format!("CAST({inner} AS BIGINT)")),
                        (CatalogType::Text, None) => parse_expr(&format!("CAST({inner} AS TEXT)")),
                    };
                    if let Some(replaced) = replaced {
                        *expr = replaced;
                    }
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    uses_catalog
}

/// Catalogs that have no rows in Atoll (no policies, triggers, inheritance, publications...).
pub(super) fn rowless(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().filter_map(ident_value).collect();
    matches!(parts.as_slice(), [schema, table] if schema == PG_CATALOG && empty_table(table).is_some())
}

/// A SELECT that inner-joins a rowless catalog (and is not aggregated) returns no rows, so
/// its projected expressions and its WHERE are never evaluated: they become NULL (under the
/// same column names) and FALSE, which changes no answer and spares planning what the engine
/// does not have (psql's `array(select rolname ... where oid = any (pol.polroles))` over
/// `pg_policy`, `pg_get_statisticsobjdef_columns(oid)` over `pg_statistic_ext`).
pub(super) struct RowlessCatalogs;

impl VisitorMut for RowlessCatalogs {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut ast::Query) -> ControlFlow<()> {
        if empty_rowless_selects(&mut query.body) && matches!(query.body.as_ref(), ast::SetExpr::Select(_)) {
            // No rows to order (and the ORDER BY may name what became NULL).
            query.order_by = None;
        }
        ControlFlow::Continue(())
    }
}

/// Whether every SELECT of `body` was found rowless and emptied.
pub(super) fn empty_rowless_selects(body: &mut ast::SetExpr) -> bool {
    match body {
        ast::SetExpr::Select(select) => empty_rowless_select(select),
        ast::SetExpr::SetOperation { left, right, .. } => {
            let left = empty_rowless_selects(left);
            empty_rowless_selects(right) && left
        }
        _ => false,
    }
}

/// Whether a WHERE asks for a column's access list (`attacl IS NOT NULL`, psql's `\dp`): Atoll
/// has no column privileges, so `attacl` is always NULL and no row passes.
fn requires_column_privileges(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            requires_column_privileges(left) || requires_column_privileges(right)
        }
        Expr::Nested(inner) => requires_column_privileges(inner),
        Expr::IsNotNull(column) => match column.as_ref() {
            Expr::Identifier(i) => i.value.eq_ignore_ascii_case("attacl"),
            Expr::CompoundIdentifier(parts) => parts.last().is_some_and(|p| p.value.eq_ignore_ascii_case("attacl")),
            _ => false,
        },
        _ => false,
    }
}

pub(super) fn empty_rowless_select(select: &mut ast::Select) -> bool {
    let inner_only = select.from.iter().all(|from| {
        from.joins.iter().all(|j| matches!(j.join_operator, ast::JoinOperator::Inner(_) | ast::JoinOperator::Join(_)))
    });
    let joins_rowless = select.from.iter().any(|from| {
        std::iter::once(&from.relation)
            .chain(from.joins.iter().map(|j| &j.relation))
            .any(|r| matches!(r, ast::TableFactor::Table { name, args: None, .. } if rowless(name)))
    });
    let never_true = select.selection.as_ref().is_some_and(requires_column_privileges);
    if grouped(select) || select.having.is_some() || !inner_only || !(joins_rowless || never_true) {
        return false;
    }
    for item in &mut select.projection {
        let expr = match item {
            ast::SelectItem::UnnamedExpr(expr) | ast::SelectItem::ExprWithAlias { expr, .. } => expr,
            _ => continue,
        };
        // An aggregate makes one row of none (`SELECT count(*) ..`).
        if aggregates(expr) {
            return false;
        }
    }
    let mut used: Vec<String> = Vec::new();
    for item in &mut select.projection {
        let replaced = match item {
            ast::SelectItem::UnnamedExpr(Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => continue,
            ast::SelectItem::UnnamedExpr(expr) => {
                let name = match expr {
                    Expr::Function(f) => f.name.0.last().and_then(ident_value).unwrap_or_default(),
                    Expr::Cast { expr, .. } => match expr.as_ref() {
                        Expr::Identifier(i) => i.value.clone(),
                        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()).unwrap_or_default(),
                        _ => "?column?".into(),
                    },
                    _ => "?column?".into(),
                };
                // The engine wants distinct names; PostgreSQL does not, and clients read
                // these by position.
                let mut unique = name.clone();
                let mut n = 1;
                while used.contains(&unique) {
                    n += 1;
                    unique = format!("{name}_{n}");
                }
                used.push(unique.clone());
                ast::SelectItem::ExprWithAlias { expr: Expr::value(ast::Value::Null), alias: Ident::new(unique) }
            }
            ast::SelectItem::ExprWithAlias { alias, .. } => {
                ast::SelectItem::ExprWithAlias { expr: Expr::value(ast::Value::Null), alias: alias.clone() }
            }
            _ => continue,
        };
        *item = replaced;
    }
    select.selection = Some(Expr::value(ast::Value::Boolean(false)));
    true
}

/// The member in `ARRAY(SELECT .. FROM pg_auth_members m .. WHERE m.member = <member>)`, the
/// form in which psql lists the roles a role is a member of.
fn memberships_of(expr: &Expr) -> Option<Expr> {
    let Expr::Function(function) = expr else { return None };
    if function.name.0.last().and_then(ident_value).as_deref() != Some("array") {
        return None;
    }
    let ast::FunctionArguments::Subquery(query) = &function.args else { return None };
    let ast::SetExpr::Select(select) = query.body.as_ref() else { return None };
    let alias = select
        .from
        .iter()
        .flat_map(|f| std::iter::once(&f.relation).chain(f.joins.iter().map(|j| &j.relation)))
        .find_map(|relation| match relation {
            ast::TableFactor::Table { name, alias, .. }
                if name.0.last().and_then(ident_value).as_deref() == Some("pg_auth_members") =>
            {
                Some(alias.as_ref().map_or_else(|| "pg_auth_members".to_string(), |a| a.name.value.to_lowercase()))
            }
            _ => None,
        })?;
    let Some(Expr::BinaryOp { left, op: BinaryOperator::Eq, right }) = &select.selection else { return None };
    let is_member = |e: &Expr| {
        matches!(e, Expr::CompoundIdentifier(parts) if parts.len() == 2
            && parts[0].value.to_lowercase() == alias && parts[1].value.eq_ignore_ascii_case("member"))
    };
    match (is_member(left), is_member(right)) {
        (true, false) => Some(right.as_ref().clone()),
        (false, true) => Some(left.as_ref().clone()),
        _ => None,
    }
}

/// Whether [`RowlessCatalogs`] found this query to return no rows (its WHERE is now FALSE).
pub(super) fn emptied(query: &ast::Query) -> bool {
    matches!(query.body.as_ref(), ast::SetExpr::Select(select)
        if select.selection == Some(Expr::value(ast::Value::Boolean(false))))
}

/// A scalar subquery over catalog tables that looks one object up by key, such as psql's
/// `(SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d WHERE d.adrelid = a.attrelid
/// AND d.adnum = a.attnum AND a.atthasdef)`. The engine decorrelates a scalar subquery only
/// when it is aggregated and its correlated predicates are equalities, so:
/// - its one column becomes `max(..)` (the catalogs' keys make that the same answer);
/// - a predicate on outer columns only is returned, for the caller to guard the subquery
///   with (`CASE WHEN a.atthasdef THEN (..) END`: no row when false, either way);
/// - an outer column that an equality binds to an inner one is replaced by the inner one in
///   the other predicates (`c.oid = a.attcollation AND a.attcollation <> t.typcollation`
///   becomes `.. AND c.oid <> t.typcollation`).
///
/// User tables are never touched (there a second row must stay an error).
pub(super) fn aggregate_catalog_lookup(query: &mut ast::Query) -> Option<String> {
    let ast::SetExpr::Select(select) = query.body.as_mut() else { return None };
    let mut local = Vec::new();
    for from in &select.from {
        for relation in std::iter::once(&from.relation).chain(from.joins.iter().map(|j| &j.relation)) {
            let ast::TableFactor::Table { name, alias, .. } = relation else { return None };
            if name.0.first().and_then(ident_value).as_deref() != Some(PG_CATALOG) {
                return None;
            }
            local.push(match alias {
                Some(alias) => alias.name.value.to_lowercase(),
                None => name.0.last().and_then(ident_value).unwrap_or_default(),
            });
        }
    }
    if grouped(select) || local.is_empty() || select.projection.len() != 1 {
        return None;
    }
    let projected = match &mut select.projection[0] {
        ast::SelectItem::UnnamedExpr(expr) | ast::SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return None,
    };
    if aggregates(projected) {
        return None;
    }
    *projected = parse_expr(&format!("max({projected})"))?;

    let selection = select.selection.take()?;
    let mut parts = Vec::new();
    conjuncts(selection, &mut parts);
    let is_outer = |qualifier: &String| !local.contains(qualifier);
    // Outer column (as text) -> the inner expression an equality binds it to.
    let mut bound: HashMap<String, Expr> = HashMap::new();
    for part in &parts {
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = part {
            let (l, r) = (qualifiers(left), qualifiers(right));
            if l.len() == 1 && r.len() == 1 && !is_outer(&l[0]) && is_outer(&r[0]) {
                bound.insert(right.to_string(), (**left).clone());
            } else if l.len() == 1 && r.len() == 1 && is_outer(&l[0]) && !is_outer(&r[0]) {
                bound.insert(left.to_string(), (**right).clone());
            }
        }
    }
    let mut guards = Vec::new();
    let mut kept = Vec::new();
    for mut part in parts {
        let names = qualifiers(&part);
        if !names.is_empty() && names.iter().all(is_outer) {
            guards.push(format!("({part})"));
            continue;
        }
        let binds = matches!(&part, Expr::BinaryOp { op: BinaryOperator::Eq, left, right }
            if bound.contains_key(&left.to_string()) || bound.contains_key(&right.to_string()));
        if !binds {
            let _ = visit_expressions_mut(&mut part, |e: &mut Expr| {
                if let Some(inner) = bound.get(&e.to_string()).filter(|_| matches!(e, Expr::CompoundIdentifier(_))) {
                    *e = inner.clone();
                }
                ControlFlow::<()>::Continue(())
            });
        }
        kept.push(part);
    }
    select.selection = kept.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    });
    (!guards.is_empty()).then(|| guards.join(" AND "))
}

pub(super) fn grouped(select: &ast::Select) -> bool {
    match &select.group_by {
        ast::GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
        ast::GroupByExpr::All(_) => true,
    }
}

/// Whether an expression aggregates (outside any subquery of its own).
pub(super) fn aggregates(expr: &Expr) -> bool {
    struct Finder {
        /// Subqueries entered: their aggregates are their own.
        depth: usize,
    }
    impl ast::Visitor for Finder {
        type Break = ();
        fn pre_visit_query(&mut self, _query: &ast::Query) -> ControlFlow<()> {
            self.depth += 1;
            ControlFlow::Continue(())
        }
        fn post_visit_query(&mut self, _query: &ast::Query) -> ControlFlow<()> {
            self.depth -= 1;
            ControlFlow::Continue(())
        }
        fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
            const AGGREGATES: &[&str] =
                &["count", "max", "min", "sum", "avg", "array_agg", "string_agg", "bool_and", "bool_or"];
            match expr {
                Expr::Function(f)
                    if self.depth == 0
                        && f.name.0.last().and_then(ident_value).is_some_and(|n| AGGREGATES.contains(&n.as_str())) =>
                {
                    ControlFlow::Break(())
                }
                _ => ControlFlow::Continue(()),
            }
        }
    }
    ast::Visit::visit(expr, &mut Finder { depth: 0 }).is_break()
}

pub(super) fn conjuncts(expr: Expr, out: &mut Vec<Expr>) {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. }) => {
            conjuncts(*inner, out)
        }
        other => out.push(other),
    }
}

/// The table qualifiers of the columns an expression names (`a` for `a.attnum`, `pg_attrdef`
/// for `pg_catalog.pg_attrdef.adnum`).
pub(super) fn qualifiers(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    let _ = ast::visit_expressions(expr, |e: &Expr| {
        if let Expr::CompoundIdentifier(parts) = e {
            if parts.len() >= 2 {
                out.push(parts[parts.len() - 2].value.to_lowercase());
            }
        }
        ControlFlow::<()>::Continue(())
    });
    out
}

pub(super) enum CatalogType {
    Regclass,
    Regtype,
    Oid,
    Text,
}

/// Types that exist only in PostgreSQL's catalogs, and `pg_catalog.`-qualified spellings of
/// common ones.
pub(super) fn catalog_type(data_type: &ast::DataType) -> Option<CatalogType> {
    match data_type {
        ast::DataType::Regclass => Some(CatalogType::Regclass),
        ast::DataType::Custom(name, modifiers) if modifiers.is_empty() => {
            let last = name.0.last().and_then(ident_value)?;
            match last.as_str() {
                "regclass" => Some(CatalogType::Regclass),
                "regtype" => Some(CatalogType::Regtype),
                "oid" | "regproc" | "regprocedure" | "regnamespace" | "regrole" | "regoper" | "xid" => {
                    Some(CatalogType::Oid)
                }
                "name" | "text" | "bpchar" | "varchar" => Some(CatalogType::Text),
                _ => None,
            }
        }
        _ => None,
    }
}

pub(super) fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&PostgreSqlDialect {}).try_with_sql(sql).ok()?.parse_expr().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(sql: &str) -> (String, bool) {
        let mut statement = crate::session::parse(sql).expect("parse").remove(0);
        let uses = rewrite(&mut statement);
        (statement.to_string(), uses)
    }

    #[test]
    fn psql_syntax_becomes_plannable() {
        let (sql, uses) = rewritten(
            "SELECT c.oid FROM pg_catalog.pg_class c WHERE c.relname OPERATOR(pg_catalog.~) '^(t)$' \
             COLLATE pg_catalog.default AND pg_catalog.pg_table_is_visible(c.oid)",
        );
        assert!(uses);
        assert!(sql.contains("c.relname ~ '^(t)$'"), "{sql}");
        assert!(sql.contains(" pg_table_is_visible(c.oid)"), "{sql}");
        assert!(!sql.contains("COLLATE"), "{sql}");
    }

    #[test]
    fn catalog_casts_and_unqualified_tables() {
        let (sql, uses) = rewritten("SELECT conrelid::pg_catalog.regclass, x::oid, n::name FROM pg_constraint");
        assert!(uses);
        assert!(sql.contains("atoll_regclass(conrelid)"), "{sql}");
        assert!(sql.contains("CAST(x AS BIGINT)"), "{sql}");
        assert!(sql.contains("CAST(n AS TEXT)"), "{sql}");
        assert!(sql.contains("FROM pg_catalog.pg_constraint"), "{sql}");
        let (_, uses) = rewritten("SELECT * FROM accounts WHERE id = 1");
        assert!(!uses);
    }

    #[test]
    fn catalog_lookups_are_aggregated_and_guarded() {
        let (sql, _) = rewritten(
            "SELECT (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true) FROM pg_catalog.pg_attrdef d \
             WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef), \
             (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t \
             WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) \
             FROM pg_catalog.pg_attribute a",
        );
        assert!(
            sql.contains("CASE WHEN (a.atthasdef) THEN (SELECT max(pg_get_expr(d.adbin, d.adrelid, true))"),
            "{sql}"
        );
        assert!(sql.contains("WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum) END"), "{sql}");
        assert!(sql.contains("c.oid <> t.typcollation"), "{sql}");
        // A user table's scalar subquery keeps PostgreSQL's error for a second row.
        let (sql, _) = rewritten("SELECT (SELECT v FROM t WHERE t.k = a.attnum) FROM pg_catalog.pg_attribute a");
        assert!(sql.contains("(SELECT v FROM t WHERE t.k = a.attnum)"), "{sql}");
    }

    #[test]
    fn psql_role_memberships_become_a_catalog_call() {
        let (sql, _) = rewritten(
            "SELECT r.rolname, ARRAY(SELECT b.rolname FROM pg_catalog.pg_auth_members m \
             JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid) WHERE m.member = r.oid) AS memberof \
             FROM pg_catalog.pg_roles r",
        );
        assert!(sql.contains("atoll_member_of(r.oid) AS memberof"), "{sql}");
    }

    #[test]
    fn array_of_a_rowless_catalog_is_empty() {
        let (sql, _) = rewritten(
            "SELECT c.relname, ARRAY(SELECT polname FROM pg_catalog.pg_policy pol WHERE polrelid = c.oid) AS p \
             FROM pg_catalog.pg_class c",
        );
        assert!(sql.contains("CAST(make_array() AS VARCHAR[]) AS p"), "{sql}");
    }

    #[test]
    fn column_privileges_of_psql_dp_are_none() {
        let (sql, _) = rewritten(
            "SELECT c.relname, pg_catalog.array_to_string(ARRAY(SELECT attname || ':' || \
             pg_catalog.array_to_string(attacl, ',') FROM pg_catalog.pg_attribute a \
             WHERE attrelid = c.oid AND NOT attisdropped AND attacl IS NOT NULL), ',') AS cp \
             FROM pg_catalog.pg_class c",
        );
        assert!(sql.contains("array_to_string(CAST(make_array() AS VARCHAR[]), ',') AS cp"), "{sql}");
        let (sql, _) = rewritten("SELECT attname FROM pg_catalog.pg_attribute WHERE attnum > 0");
        assert!(!sql.contains("false"), "{sql}");
    }

    #[test]
    fn aggregates_are_found_outside_subqueries_only() {
        let expr = |sql: &str| parse_expr(sql).expect("expression");
        assert!(aggregates(&expr("count(*) + 1")));
        assert!(aggregates(&expr("pg_catalog.max(x)")));
        assert!(!aggregates(&expr("CASE WHEN a THEN (SELECT string_agg(n, ',') FROM t) END")));
        assert!(!aggregates(&expr("lower(x)")));
    }

    #[test]
    fn format_type_prints_modifiers() {
        assert_eq!(format_type(1043, 14), "character varying(10)");
        assert_eq!(format_type(1700, typmod(SqlType::Numeric { precision: 12, scale: 2 })), "numeric(12,2)");
        assert_eq!(format_type(23, -1), "integer");
        assert_eq!(format_type(1042, typmod(SqlType::Char(3))), "character(3)");
    }
}
