//! Point statements without the query engine (TiDB's point-get plan): a SELECT of plain
//! columns, or an UPDATE of columns to constants or `column ± constant`, of the one row whose
//! whole primary key the WHERE clause fixes by equality. Planning such a statement with
//! DataFusion costs several times more than reading the row; here it costs a descriptor read
//! and a point get. Anything else returns `None` and takes the general path, which gives the
//! same answer.

use crate::catalog::{ColumnDesc, TableDesc};
use crate::dml::{self, live};
use crate::encoding::{self, PRIMARY_INDEX};
use crate::error::{Result, SqlError};
use crate::privileges::Privileges;
use crate::session::{ident_name, table_name, Output, Session};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::common::ScalarValue;
use datafusion::sql::sqlparser::ast::{
    self, BinaryOperator, Expr, GroupByExpr, SelectItem, SetExpr, Statement, TableFactor,
};
use std::sync::Arc;

/// `column = constant` conjuncts of a WHERE clause, or `None` if it has anything else.
fn equalities(expr: &Expr, params: &[ScalarValue], out: &mut Vec<(String, ScalarValue)>) -> Option<()> {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            equalities(left, params, out)?;
            equalities(right, params, out)
        }
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            let (column, value) = match (left.as_ref(), right.as_ref()) {
                (Expr::Identifier(column), value) | (value, Expr::Identifier(column)) => (column, value),
                _ => return None,
            };
            let value = dml::simple_value(value, params)??;
            out.push((ident_name(column), value));
            Some(())
        }
        Expr::Nested(inner) => equalities(inner, params, out),
        _ => None,
    }
}

/// The primary key of the one row a WHERE clause selects, if it selects it by equality on
/// every key column and nothing else.
fn point_key(desc: &TableDesc, selection: &Option<Expr>, params: &[ScalarValue]) -> Option<Vec<u8>> {
    let mut found = Vec::new();
    equalities(selection.as_ref()?, params, &mut found)?;
    if found.len() != desc.primary_key.len() {
        return None;
    }
    let mut key = encoding::index_prefix(desc.id, PRIMARY_INDEX);
    for id in &desc.primary_key {
        let column = desc.column_by_id(*id)?;
        let (_, value) = found.iter().find(|(name, _)| *name == column.name)?;
        let value = column.ty.coerce(value, &column.name).ok()?;
        if value.is_null() {
            return None;
        }
        encoding::encode_key_value(&mut key, &value).ok()?;
    }
    Some(key)
}

/// The single table of a FROM clause without joins.
fn single_table(from: &[ast::TableWithJoins]) -> Option<&ast::ObjectName> {
    match from {
        [table] if table.joins.is_empty() => match &table.relation {
            TableFactor::Table { name, alias: None, args: None, .. } => Some(name),
            _ => None,
        },
        _ => None,
    }
}

/// A value of a SET assignment: a constant, or `column + constant` / `column - constant`.
enum Assigned {
    Constant(ScalarValue),
    Offset { column: String, delta: ScalarValue, negate: bool },
}

fn assigned(expr: &Expr, params: &[ScalarValue]) -> Option<Assigned> {
    if let Some(Some(value)) = dml::simple_value(expr, params) {
        return Some(Assigned::Constant(value));
    }
    let Expr::BinaryOp { left, op, right } = expr else { return None };
    let negate = match op {
        BinaryOperator::Plus => false,
        BinaryOperator::Minus => true,
        _ => return None,
    };
    let (Expr::Identifier(column), Some(Some(delta))) = (left.as_ref(), dml::simple_value(right, params)) else {
        return None;
    };
    Some(Assigned::Offset { column: ident_name(column), delta, negate })
}

/// Whether a WHERE clause is only `column = constant` conjuncts: checked before the descriptor
/// is read, so a statement that cannot be a point statement does not pay that read twice (the
/// general path reads it again while planning).
fn only_equalities(selection: &Option<Expr>, params: &[ScalarValue]) -> bool {
    selection.as_ref().is_some_and(|expr| equalities(expr, params, &mut Vec::new()).is_some())
}

impl Session {
    /// Runs a point statement, or returns `None` for the general path.
    pub(crate) async fn fast_path(&mut self, statement: &Statement, params: &[ScalarValue]) -> Result<Option<Output>> {
        let selection = match statement {
            Statement::Query(query) => match query.body.as_ref() {
                SetExpr::Select(select) => &select.selection,
                _ => return Ok(None),
            },
            Statement::Update(update) => &update.selection,
            _ => return Ok(None),
        };
        if !only_equalities(selection, params) {
            return Ok(None);
        }
        match statement {
            Statement::Query(query) => self.point_select(query, params).await,
            Statement::Update(update) => self.point_update(update, params).await,
            _ => Ok(None),
        }
    }

    async fn point_select(&mut self, query: &ast::Query, params: &[ScalarValue]) -> Result<Option<Output>> {
        if query.with.is_some() || query.order_by.is_some() || query.limit_clause.is_some() || query.fetch.is_some() {
            return Ok(None);
        }
        // `FOR UPDATE` (waiting for other writers, then reading the latest row) is served here;
        // other locking clauses take the general path.
        let for_update = match query.locks.as_slice() {
            [] => false,
            [lock] if lock.lock_type == ast::LockType::Update && lock.of.is_none() && lock.nonblock.is_none() => true,
            _ => return Ok(None),
        };
        let SetExpr::Select(select) = query.body.as_ref() else { return Ok(None) };
        let plain = select.distinct.is_none()
            && select.having.is_none()
            && select.into.is_none()
            && select.prewhere.is_none()
            && matches!(&select.group_by, GroupByExpr::Expressions(e, m) if e.is_empty() && m.is_empty());
        let Some(name) = single_table(&select.from).filter(|_| plain) else { return Ok(None) };
        let Ok(name) = table_name(name) else { return Ok(None) };
        let desc = {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no transaction"))?;
            let desc = match crate::catalog::table(txn, self.database, &name).await? {
                Some(desc) => desc,
                None => return Ok(None),
            };
            crate::privileges::check_table(txn, &self.scope, &desc, Privileges::SELECT).await?;
            desc
        };
        // The output columns: plain column names (optionally aliased) or `*`.
        let mut outputs: Vec<(String, ColumnDesc)> = Vec::new();
        for item in &select.projection {
            match item {
                SelectItem::Wildcard(options) if options.opt_exclude.is_none() && options.opt_except.is_none() => {
                    outputs.extend(desc.visible_columns().map(|c| (c.name.clone(), c.clone())));
                }
                SelectItem::UnnamedExpr(Expr::Identifier(column)) => {
                    let Some(c) = desc.column(&ident_name(column)).filter(|c| !c.hidden) else { return Ok(None) };
                    outputs.push((c.name.clone(), c.clone()));
                }
                SelectItem::ExprWithAlias { expr: Expr::Identifier(column), alias } => {
                    let Some(c) = desc.column(&ident_name(column)).filter(|c| !c.hidden) else { return Ok(None) };
                    outputs.push((ident_name(alias), c.clone()));
                }
                _ => return Ok(None),
            }
        }
        let Some(key) = point_key(&desc, &select.selection, params) else { return Ok(None) };
        let row = {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no transaction"))?;
            if for_update {
                txn.get_for_update(&key).await?
            } else {
                txn.get(&key).await?
            }
        };
        let storage = desc.storage_columns();
        let values = match row {
            Some(bytes) => Some(encoding::decode_row(&storage, &bytes)?),
            None => None,
        };
        let fields: Vec<Field> = outputs.iter().map(|(name, c)| Field::new(name, c.ty.arrow_type(), true)).collect();
        let schema = Arc::new(Schema::new(fields));
        let arrays = outputs
            .iter()
            .map(|(_, c)| {
                let value = match &values {
                    Some(values) => values[storage.iter().position(|(id, _)| *id == c.id).unwrap_or(0)].clone(),
                    None => return Ok(datafusion::arrow::array::new_empty_array(&c.ty.arrow_type())),
                };
                value.to_array()
            })
            .collect::<datafusion::error::Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(schema.clone(), arrays)?;
        Ok(Some(Output::Rows { schema, batches: vec![batch], tag: "SELECT" }))
    }

    async fn point_update(&mut self, update: &ast::Update, params: &[ScalarValue]) -> Result<Option<Output>> {
        if update.from.is_some() || update.returning.is_some() || update.limit.is_some() || !update.order_by.is_empty()
        {
            return Ok(None);
        }
        let Some(name) = single_table(std::slice::from_ref(&update.table)) else { return Ok(None) };
        let Ok(name) = table_name(name) else { return Ok(None) };
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no transaction"))?;
        let Some(desc) = crate::catalog::table(txn, self.database, &name).await? else { return Ok(None) };
        // The WHERE reads the row, so SELECT as well (as PostgreSQL asks).
        crate::privileges::check_table(txn, &self.scope, &desc, Privileges::UPDATE.union(Privileges::SELECT)).await?;
        if !desc.checks.is_empty() {
            return Ok(None);
        }
        let live = live(&desc);
        let mut changes: Vec<(usize, Assigned)> = Vec::new();
        for assignment in &update.assignments {
            let ast::AssignmentTarget::ColumnName(column) = &assignment.target else { return Ok(None) };
            let Some(column) = column.0.last().and_then(|p| p.as_ident()).map(ident_name) else { return Ok(None) };
            let Some(position) = live.iter().position(|c| c.name == column && !c.hidden) else { return Ok(None) };
            // Changing the key or an indexed column moves entries: the general path does that.
            let id = live[position].id;
            if desc.primary_key.contains(&id) || desc.indexes.iter().any(|i| i.columns.contains(&id)) {
                return Ok(None);
            }
            let Some(value) = assigned(&assignment.value, params) else { return Ok(None) };
            changes.push((position, value));
        }
        let Some(key) = point_key(&desc, &update.selection, params) else { return Ok(None) };
        let Some(bytes) = txn.get_for_update(&key).await? else { return Ok(Some(Output::count("UPDATE", 0))) };
        let storage = desc.storage_columns();
        let all = encoding::decode_row(&storage, &bytes)?;
        let old: Vec<ScalarValue> =
            live.iter().map(|c| all[storage.iter().position(|(id, _)| *id == c.id).unwrap_or(0)].clone()).collect();
        let mut new = old.clone();
        for (position, value) in changes {
            let column = &live[position];
            let value = match value {
                Assigned::Constant(value) => value,
                Assigned::Offset { column: source, delta, negate } => {
                    let Some(source) = live.iter().position(|c| c.name == source && !c.hidden) else { return Ok(None) };
                    let base = &old[source];
                    let delta = live[source].ty.coerce(&delta, &live[source].name)?;
                    if base.is_null() {
                        base.clone()
                    } else if negate {
                        base.sub_checked(&delta).map_err(|_| overflow(column))?
                    } else {
                        base.add_checked(&delta).map_err(|_| overflow(column))?
                    }
                }
            };
            new[position] = column.ty.coerce(&value, &column.name)?;
        }
        dml::check_not_null(&desc, &live, &new)?;
        let columns: Vec<_> = live.iter().map(|c| (c.id, c.ty)).collect();
        txn.put(&key, &encoding::encode_row(&columns, &new)?)?;
        Ok(Some(Output::count("UPDATE", 1)))
    }
}

fn overflow(column: &ColumnDesc) -> SqlError {
    SqlError::new(crate::error::code::NUMERIC_OUT_OF_RANGE, format!("{} out of range", column.ty.pg_name()))
}
