//! INSERT, UPDATE and DELETE.
//!
//! Rows to write are computed with DataFusion where expressions are involved (UPDATE runs
//! `SELECT <old row>, <new values> FROM t WHERE ...` over the same snapshot), or directly for
//! the common `INSERT ... VALUES` of literals and parameters. Writes go into the statement's
//! KV transaction: the row under its primary key, and an entry per secondary index. Unique
//! checks read the key first, so a concurrent insert of the same key is a write-write
//! conflict at commit (40001) and a committed one is a 23505.

use crate::catalog::{self, ColumnDesc, IndexDesc, TableDesc};
use crate::encoding::{self, PRIMARY_INDEX};
use crate::error::{code, Result, SqlError};
use crate::kv::Txn;
use crate::privileges::Privileges;
use crate::session::{ident_name, ordered_parameter_types, parse, table_name, Output, Session};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::common::ScalarValue;
use datafusion::logical_expr::LogicalPlan;
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, AssignmentTarget, Expr, FromTable, OnConflictAction, OnInsert, SelectItem, SetExpr, Statement, TableFactor,
    TableObject, UnaryOperator, Value,
};

/// A row being written: one value per live column of the table, in descriptor order.
type Row = Vec<ScalarValue>;

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The live columns of a table (hidden row id included), in descriptor order.
pub(crate) fn live(desc: &TableDesc) -> Vec<ColumnDesc> {
    desc.live_columns().cloned().collect()
}

fn position(live: &[ColumnDesc], id: u32) -> usize {
    live.iter().position(|c| c.id == id).expect("key column is live")
}

/// The encoded primary key columns of a row (the key without the index prefix).
fn primary_suffix(desc: &TableDesc, live: &[ColumnDesc], row: &Row) -> Result<Vec<u8>> {
    let mut key = Vec::new();
    for id in &desc.primary_key {
        encoding::encode_key_value(&mut key, &row[position(live, *id)])?;
    }
    Ok(key)
}

fn primary_key(desc: &TableDesc, suffix: &[u8]) -> Vec<u8> {
    let mut key = encoding::index_prefix(desc.id, PRIMARY_INDEX);
    key.extend_from_slice(suffix);
    key
}

/// An index entry for a row: (key, value). Unique entries without NULLs are keyed by the
/// index columns alone and hold the primary key suffix; all others append it to the key.
fn index_entry(
    desc: &TableDesc,
    index: &IndexDesc,
    live: &[ColumnDesc],
    row: &Row,
    suffix: &[u8],
) -> Result<(Vec<u8>, Vec<u8>, bool)> {
    let mut key = encoding::index_prefix(desc.id, index.id);
    let mut has_null = false;
    for id in &index.columns {
        let value = &row[position(live, *id)];
        has_null |= value.is_null();
        encoding::encode_key_value(&mut key, value)?;
    }
    if index.unique && !has_null {
        Ok((key, suffix.to_vec(), true))
    } else {
        key.extend_from_slice(suffix);
        Ok((key, Vec::new(), false))
    }
}

fn unique_violation(constraint: &str, desc: &TableDesc, columns: &[u32], live: &[ColumnDesc], row: &Row) -> SqlError {
    let names: Vec<&str> = columns.iter().map(|id| desc.column_name(*id)).collect();
    let values: Vec<String> = columns.iter().map(|id| row[position(live, *id)].to_string()).collect();
    SqlError::new(
        code::UNIQUE_VIOLATION,
        format!(
            "duplicate key value violates unique constraint \"{constraint}\": Key ({})=({}) already exists.",
            names.join(", "),
            values.join(", ")
        ),
    )
}

/// Writes a new row and its index entries, failing with 23505 on a duplicate key.
async fn insert_row(txn: &mut Txn, desc: &TableDesc, live: &[ColumnDesc], row: &Row) -> Result<()> {
    let suffix = primary_suffix(desc, live, row)?;
    let key = primary_key(desc, &suffix);
    // Locked: a concurrent insert of the same key on this node waits, then sees the row and
    // fails with 23505, as in PostgreSQL, rather than 40001 at commit.
    if txn.get_for_update(&key).await?.is_some() {
        return Err(unique_violation(&desc.primary_key_name, desc, &desc.primary_key, live, row));
    }
    write_indexes(txn, desc, live, row, &suffix, None).await?;
    let storage: Vec<_> = live.iter().map(|c| (c.id, c.ty)).collect();
    txn.put(&key, &encoding::encode_row(&storage, row)?)?;
    Ok(())
}

/// Puts the index entries of `row`, removing those of `old` that change.
async fn write_indexes(
    txn: &mut Txn,
    desc: &TableDesc,
    live: &[ColumnDesc],
    row: &Row,
    suffix: &[u8],
    old: Option<(&Row, &[u8])>,
) -> Result<()> {
    for index in &desc.indexes {
        let (key, value, unique) = index_entry(desc, index, live, row, suffix)?;
        if let Some((old_row, old_suffix)) = old {
            let (old_key, _, _) = index_entry(desc, index, live, old_row, old_suffix)?;
            if old_key == key && old_suffix == suffix {
                continue;
            }
            txn.delete(&old_key)?;
        }
        if unique {
            if let Some(existing) = txn.get_for_update(&key).await? {
                if existing != suffix {
                    return Err(unique_violation(&index.name, desc, &index.columns, live, row));
                }
            }
        }
        txn.put(&key, &value)?;
    }
    Ok(())
}

/// Deletes a row and its index entries.
fn delete_row(txn: &mut Txn, desc: &TableDesc, live: &[ColumnDesc], row: &Row) -> Result<()> {
    let suffix = primary_suffix(desc, live, row)?;
    for index in &desc.indexes {
        let (key, _, _) = index_entry(desc, index, live, row, &suffix)?;
        txn.delete(&key)?;
    }
    txn.delete(&primary_key(desc, &suffix))?;
    Ok(())
}

/// Replaces `old` by `new` (same table), moving the row if its primary key changed.
async fn update_row(txn: &mut Txn, desc: &TableDesc, live: &[ColumnDesc], old: &Row, new: &Row) -> Result<()> {
    let old_suffix = primary_suffix(desc, live, old)?;
    let suffix = primary_suffix(desc, live, new)?;
    if suffix != old_suffix {
        delete_row(txn, desc, live, old)?;
        return insert_row(txn, desc, live, new).await;
    }
    write_indexes(txn, desc, live, new, &suffix, Some((old, &old_suffix))).await?;
    let storage: Vec<_> = live.iter().map(|c| (c.id, c.ty)).collect();
    txn.put(&primary_key(desc, &suffix), &encoding::encode_row(&storage, new)?)?;
    Ok(())
}

pub(crate) fn check_not_null(desc: &TableDesc, live: &[ColumnDesc], row: &Row) -> Result<()> {
    for (column, value) in live.iter().zip(row) {
        if !column.nullable && value.is_null() {
            return Err(SqlError::new(
                code::NOT_NULL_VIOLATION,
                format!(
                    "null value in column \"{}\" of relation \"{}\" violates not-null constraint",
                    column.name, desc.name
                ),
            ));
        }
    }
    Ok(())
}

/// A batch of rows with the table's visible columns (what RETURNING and CHECK see).
fn visible_batch(live: &[ColumnDesc], rows: &[Row]) -> Result<RecordBatch> {
    let visible: Vec<usize> = (0..live.len()).filter(|i| !live[*i].hidden).collect();
    let schema: SchemaRef =
        std::sync::Arc::new(Schema::new(visible.iter().map(|i| live[*i].ty.field(&live[*i].name)).collect::<Vec<_>>()));
    let arrays = visible
        .iter()
        .map(|i| {
            if rows.is_empty() {
                Ok(datafusion::arrow::array::new_empty_array(&live[*i].ty.arrow_type()))
            } else {
                ScalarValue::iter_to_array(rows.iter().map(|r| r[*i].clone()))
            }
        })
        .collect::<datafusion::error::Result<Vec<_>>>()?;
    let options = datafusion::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(schema, arrays, &options)?)
}

/// Runs `sql` over in-memory tables (for CHECK, RETURNING and ON CONFLICT DO UPDATE).
async fn scratch_query(
    tables: Vec<(String, RecordBatch)>,
    sql: &str,
    params: &[ScalarValue],
) -> Result<(SchemaRef, Vec<RecordBatch>)> {
    let ctx = SessionContext::new();
    for (name, batch) in tables {
        ctx.register_batch(&name, batch)?;
    }
    let (named, plan) = scratch_plan(&ctx, sql).await?;
    let plan = if params.is_empty() { plan } else { plan.with_param_values(params.to_vec())? };
    let frame = ctx.execute_logical_plan(plan).await?;
    let names = frame.schema().as_arrow().clone();
    let physical = frame.create_physical_plan().await?;
    let schema = crate::column_names::apply(&named, &crate::result_types::merged(&names, &physical.schema()));
    let batches = datafusion::physical_plan::collect(physical, ctx.task_ctx()).await?;
    Ok((schema.clone(), crate::result_types::conform(&schema, batches)?))
}

/// Plans `sql` over `ctx`'s in-memory tables as a session plans a query (PostgreSQL's integer
/// literals and checked arithmetic); also the statement as parsed, which names the columns.
async fn scratch_plan(ctx: &SessionContext, sql: &str) -> Result<(Statement, LogicalPlan)> {
    crate::checked::register(ctx);
    let named = parse(sql)?.into_iter().next().ok_or_else(|| SqlError::internal("empty scratch query"))?;
    let mut statement = named.clone();
    crate::standard_forms::for_planning(&mut statement);
    let plan =
        ctx.state().statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(statement))).await?;
    Ok((named, plan))
}

fn batches_to_rows(batches: &[RecordBatch]) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for batch in batches {
        for i in 0..batch.num_rows() {
            rows.push(
                batch
                    .columns()
                    .iter()
                    .map(|c| ScalarValue::try_from_array(c, i))
                    .collect::<datafusion::error::Result<Row>>()?,
            );
        }
    }
    Ok(rows)
}

/// Fails with 23514 if a row makes a CHECK constraint false.
async fn check_constraints(desc: &TableDesc, live: &[ColumnDesc], rows: &[Row], params: &[ScalarValue]) -> Result<()> {
    if desc.checks.is_empty() || rows.is_empty() {
        return Ok(());
    }
    let batch = visible_batch(live, rows)?;
    let tests: Vec<String> = desc.checks.iter().map(|c| format!("bool_or(NOT COALESCE(({}), true))", c.expr)).collect();
    let sql = format!("SELECT {} FROM {}", tests.join(", "), quote(&desc.name));
    let (_, batches) = scratch_query(vec![(desc.name.clone(), batch)], &sql, params).await?;
    let result = batches_to_rows(&batches)?;
    for (check, violated) in desc.checks.iter().zip(result.first().into_iter().flatten()) {
        if violated == &ScalarValue::Boolean(Some(true)) {
            return Err(SqlError::new(
                code::CHECK_VIOLATION,
                format!("new row for relation \"{}\" violates check constraint \"{}\"", desc.name, check.name),
            ));
        }
    }
    Ok(())
}

/// A row id for a table without a primary key: random, so inserts spread over the key space
/// instead of all landing at its end.
fn random_row_id() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    (hasher.finish() >> 1) as i64
}

/// A value of a VALUES list that needs no query engine: a literal, a parameter, a negated
/// number or DEFAULT (`None`).
pub(crate) fn simple_value(expr: &Expr, params: &[ScalarValue]) -> Option<Option<ScalarValue>> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Number(text, _) => Some(Some(match text.parse::<i64>() {
                Ok(int) => ScalarValue::Int64(Some(int)),
                Err(_) => ScalarValue::Utf8(Some(text.clone())),
            })),
            Value::SingleQuotedString(text) => Some(Some(ScalarValue::Utf8(Some(text.clone())))),
            Value::Boolean(b) => Some(Some(ScalarValue::Boolean(Some(*b)))),
            Value::Null => Some(Some(ScalarValue::Null)),
            Value::Placeholder(name) => {
                let index: usize = name.trim_start_matches('$').parse().ok()?;
                params.get(index.checked_sub(1)?).cloned().map(Some)
            }
            _ => None,
        },
        Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match simple_value(expr, params)?? {
            ScalarValue::Int64(Some(v)) => Some(Some(ScalarValue::Int64(Some(v.checked_neg()?)))),
            ScalarValue::Utf8(Some(text)) if text.parse::<f64>().is_ok() => {
                Some(Some(ScalarValue::Utf8(Some(format!("-{text}")))))
            }
            _ => None,
        },
        Expr::Identifier(ident) if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") => {
            Some(None)
        }
        Expr::Function(function) => {
            let name = function.name.to_string().to_lowercase();
            let no_args = match &function.args {
                ast::FunctionArguments::None => true,
                ast::FunctionArguments::List(list) => list.args.is_empty(),
                _ => false,
            };
            if !no_args || !matches!(name.as_str(), "now" | "current_timestamp" | "localtimestamp") {
                return None;
            }
            let micros = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_micros() as i64;
            let zone = (name != "localtimestamp").then(|| "+00:00".into());
            Some(Some(ScalarValue::TimestampMicrosecond(Some(micros), zone)))
        }
        _ => None,
    }
}

impl Session {
    fn txn_guard_error() -> SqlError {
        SqlError::internal("no transaction")
    }

    /// Evaluates the DEFAULT expressions of a table's columns (once per statement).
    async fn defaults(&self, live: &[ColumnDesc], targets: &[usize]) -> Result<Vec<Option<ScalarValue>>> {
        let mut out = Vec::with_capacity(live.len());
        for (i, column) in live.iter().enumerate() {
            match &column.default {
                Some(expr) if !column.serial && !targets.contains(&i) => {
                    let (_, batches) = scratch_query(vec![], &format!("SELECT {expr}"), &[]).await?;
                    let value = batches_to_rows(&batches)?.into_iter().next().and_then(|r| r.into_iter().next());
                    out.push(Some(column.ty.coerce(&value.unwrap_or(ScalarValue::Null), &column.name)?));
                }
                _ => out.push(None),
            }
        }
        Ok(out)
    }

    /// Fills in a row's missing columns and converts every value to its column's type.
    async fn complete_row(
        &self,
        desc: &TableDesc,
        live: &[ColumnDesc],
        targets: &[usize],
        values: Vec<Option<ScalarValue>>,
        defaults: &[Option<ScalarValue>],
    ) -> Result<Row> {
        let mut row: Vec<Option<ScalarValue>> = vec![None; live.len()];
        for (target, value) in targets.iter().zip(values) {
            row[*target] = value;
        }
        let mut out = Vec::with_capacity(live.len());
        for (i, column) in live.iter().enumerate() {
            let value = match row[i].take() {
                Some(value) => column.ty.coerce(&value, &column.name)?,
                None if column.serial => {
                    let next = catalog::next_serial(&self.engine.kv, desc.id, column.id).await?;
                    column.ty.coerce(&ScalarValue::Int64(Some(next)), &column.name)?
                }
                None if column.hidden => ScalarValue::Int64(Some(random_row_id())),
                None => match &defaults[i] {
                    Some(value) => value.clone(),
                    None => column.ty.coerce(&ScalarValue::Null, &column.name)?,
                },
            };
            out.push(value);
        }
        check_not_null(desc, live, &out)?;
        Ok(out)
    }

    fn insert_targets(desc: &TableDesc, live: &[ColumnDesc], columns: &[ast::ObjectName]) -> Result<Vec<usize>> {
        if columns.is_empty() {
            return Ok((0..live.len()).filter(|i| !live[*i].hidden).collect());
        }
        let mut targets = Vec::with_capacity(columns.len());
        for column in columns {
            let (name, position) = target_column(desc, live, column)?;
            if targets.contains(&position) {
                return Err(SqlError::new(
                    code::DUPLICATE_COLUMN,
                    format!("column \"{name}\" specified more than once"),
                ));
            }
            targets.push(position);
        }
        Ok(targets)
    }

    /// The rows an INSERT's source produces, one optional value per target (`None`: DEFAULT).
    async fn insert_source(
        &self,
        source: &Option<Box<ast::Query>>,
        params: &[ScalarValue],
    ) -> Result<Vec<Vec<Option<ScalarValue>>>> {
        let Some(query) = source else { return Ok(vec![vec![]]) };
        if let (SetExpr::Values(values), None, None) = (query.body.as_ref(), &query.order_by, &query.limit_clause) {
            let direct: Option<Vec<Vec<Option<ScalarValue>>>> =
                values.rows.iter().map(|row| row.iter().map(|e| simple_value(e, params)).collect()).collect();
            if let Some(rows) = direct {
                return Ok(rows);
            }
        }
        let (_, batches) = self.query(Statement::Query(query.clone()), params).await?;
        Ok(batches_to_rows(&batches)?.into_iter().map(|row| row.into_iter().map(Some).collect()).collect())
    }

    pub(crate) async fn insert(&mut self, insert: &ast::Insert, params: &[ScalarValue]) -> Result<Output> {
        let TableObject::TableName(name) = &insert.table else {
            return Err(SqlError::unsupported("INSERT into a table function"));
        };
        let desc = self.table(name).await?;
        let mut wanted = Privileges::INSERT;
        if insert.returning.is_some() {
            wanted = wanted.union(Privileges::SELECT);
        }
        if let Some(OnInsert::OnConflict(ast::OnConflict { action: OnConflictAction::DoUpdate(_), .. })) = &insert.on {
            wanted = wanted.union(Privileges::UPDATE).union(Privileges::SELECT);
        }
        self.require(&desc, wanted).await?;
        let live = live(&desc);
        let mut targets = Self::insert_targets(&desc, &live, &insert.columns)?;
        let source = self.insert_source(&insert.source, params).await?;
        if insert.columns.is_empty() {
            // Without a column list the values go to the first columns and the rest take their
            // defaults, as in PostgreSQL (`VALUES (1)` into three columns fills two defaults).
            let width = source.iter().map(Vec::len).max().unwrap_or(0);
            if source.iter().any(|row| row.len() != width) {
                return Err(SqlError::new(code::SYNTAX_ERROR, "VALUES lists must all be the same length"));
            }
            targets.truncate(width);
        }
        // Defaults are needed for the columns not given, and for all if a value says DEFAULT.
        let any_default = source.iter().any(|row| row.iter().any(Option::is_none));
        let defaults = self.defaults(&live, if any_default { &[] } else { &targets }).await?;
        let mut rows = Vec::with_capacity(source.len());
        for values in source {
            if values.len() > targets.len() {
                return Err(SqlError::new(code::SYNTAX_ERROR, "INSERT has more expressions than target columns"));
            }
            rows.push(self.complete_row(&desc, &live, &targets, values, &defaults).await?);
        }
        check_constraints(&desc, &live, &rows, params).await?;
        let on_conflict = match &insert.on {
            None => None,
            Some(OnInsert::OnConflict(on_conflict)) => Some(on_conflict),
            Some(_) => return Err(SqlError::unsupported("ON DUPLICATE KEY")),
        };
        let mut written = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(on_conflict) = on_conflict else {
                let mut guard = self.txn.lock().await;
                insert_row(guard.as_mut().ok_or_else(Self::txn_guard_error)?, &desc, &live, &row).await?;
                written.push(row);
                continue;
            };
            let existing = self.conflicting_row(&desc, &live, &row, on_conflict).await?;
            match (existing, &on_conflict.action) {
                (None, _) => {
                    let mut guard = self.txn.lock().await;
                    insert_row(guard.as_mut().ok_or_else(Self::txn_guard_error)?, &desc, &live, &row).await?;
                    written.push(row);
                }
                (Some(_), OnConflictAction::DoNothing) => {}
                (Some(existing), OnConflictAction::DoUpdate(update)) => {
                    if let Some(new) = self.conflict_update(&desc, &live, &existing, &row, update, params).await? {
                        check_constraints(&desc, &live, std::slice::from_ref(&new), params).await?;
                        let mut guard = self.txn.lock().await;
                        update_row(guard.as_mut().ok_or_else(Self::txn_guard_error)?, &desc, &live, &existing, &new)
                            .await?;
                        written.push(new);
                    }
                }
            }
        }
        match &insert.returning {
            Some(items) => self.returning(&desc, &live, &written, items, None, params, "INSERT 0").await,
            None => Ok(Output::count("INSERT 0", written.len())),
        }
    }

    /// Inserts rows of values given per target column (COPY).
    pub(crate) async fn insert_values(
        &mut self,
        table: &ast::ObjectName,
        columns: &[ast::ObjectName],
        source: Vec<Vec<Option<ScalarValue>>>,
    ) -> Result<usize> {
        let desc = self.table(table).await?;
        self.require(&desc, Privileges::INSERT).await?;
        let live = live(&desc);
        let targets = Self::insert_targets(&desc, &live, columns)?;
        let defaults = self.defaults(&live, &targets).await?;
        let mut rows = Vec::with_capacity(source.len());
        for values in source {
            if values.len() != targets.len() {
                return Err(SqlError::new(
                    code::BAD_COPY_FILE_FORMAT,
                    format!("row has {} columns, expected {}", values.len(), targets.len()),
                ));
            }
            rows.push(self.complete_row(&desc, &live, &targets, values, &defaults).await?);
        }
        check_constraints(&desc, &live, &rows, &[]).await?;
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_guard_error)?;
        for row in &rows {
            insert_row(txn, &desc, &live, row).await?;
        }
        Ok(rows.len())
    }

    /// The existing row a new row conflicts with under ON CONFLICT's target, if any.
    async fn conflicting_row(
        &self,
        desc: &TableDesc,
        live: &[ColumnDesc],
        row: &Row,
        on_conflict: &ast::OnConflict,
    ) -> Result<Option<Row>> {
        let arbiter_columns: Option<Vec<u32>> = match &on_conflict.conflict_target {
            None => None,
            Some(ast::ConflictTarget::Columns(columns)) => {
                let mut ids = Vec::new();
                for column in columns {
                    let name = ident_name(column);
                    let column = desc.column(&name).ok_or_else(|| {
                        SqlError::new(code::UNDEFINED_COLUMN, format!("column \"{name}\" does not exist"))
                    })?;
                    ids.push(column.id);
                }
                Some(ids)
            }
            Some(ast::ConflictTarget::OnConstraint(name)) => {
                let name = table_name(name)?;
                if name == desc.primary_key_name {
                    Some(desc.primary_key.clone())
                } else {
                    Some(
                        desc.index(&name)
                            .ok_or_else(|| {
                                SqlError::new(code::UNDEFINED_OBJECT, format!("constraint \"{name}\" does not exist"))
                            })?
                            .columns
                            .clone(),
                    )
                }
            }
        };
        let same_set = |a: &[u32], b: &[u32]| a.len() == b.len() && a.iter().all(|x| b.contains(x));
        let storage: Vec<_> = live.iter().map(|c| (c.id, c.ty)).collect();
        let decode = |bytes: Vec<u8>| -> Result<Row> {
            let all = encoding::decode_row(&desc.storage_columns(), &bytes)?;
            let columns = desc.storage_columns();
            Ok(storage
                .iter()
                .map(|(id, _)| all[columns.iter().position(|(c, _)| c == id).unwrap_or(0)].clone())
                .collect())
        };
        let mut matched_arbiter = arbiter_columns.is_none();
        let suffix = primary_suffix(desc, live, row)?;
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_guard_error)?;
        if arbiter_columns.as_deref().is_none_or(|a| same_set(a, &desc.primary_key)) {
            matched_arbiter = true;
            if let Some(bytes) = txn.get(&primary_key(desc, &suffix)).await? {
                return Ok(Some(decode(bytes)?));
            }
        }
        for index in desc.indexes.iter().filter(|i| i.unique) {
            if arbiter_columns.as_deref().is_some_and(|a| !same_set(a, &index.columns)) {
                continue;
            }
            matched_arbiter = true;
            let (key, _, unique) = index_entry(desc, index, live, row, &suffix)?;
            if !unique {
                continue;
            }
            if let Some(existing) = txn.get(&key).await? {
                if let Some(bytes) = txn.get(&primary_key(desc, &existing)).await? {
                    return Ok(Some(decode(bytes)?));
                }
            }
        }
        if !matched_arbiter {
            return Err(SqlError::new(
                code::INVALID_COLUMN_REFERENCE,
                "there is no unique or exclusion constraint matching the ON CONFLICT specification",
            ));
        }
        Ok(None)
    }

    /// ON CONFLICT DO UPDATE: the updated row, or `None` if its WHERE is not true.
    async fn conflict_update(
        &self,
        desc: &TableDesc,
        live: &[ColumnDesc],
        existing: &Row,
        excluded: &Row,
        update: &ast::DoUpdate,
        params: &[ScalarValue],
    ) -> Result<Option<Row>> {
        let (targets, exprs) = assignments(desc, live, &update.assignments)?;
        let select: Vec<String> = std::iter::once("true".to_string())
            .chain(exprs.iter().enumerate().map(|(i, e)| format!("({e}) AS \"atoll extra {i}\"")))
            .collect();
        let filter = update.selection.as_ref().map(|e| format!(" WHERE {e}")).unwrap_or_default();
        let sql = format!("SELECT {} FROM {}, excluded{filter}", select.join(", "), quote(&desc.name));
        let tables = vec![
            (desc.name.clone(), visible_batch(live, std::slice::from_ref(existing))?),
            ("excluded".to_string(), visible_batch(live, std::slice::from_ref(excluded))?),
        ];
        let (_, batches) = scratch_query(tables, &sql, params).await?;
        let Some(values) = batches_to_rows(&batches)?.into_iter().next() else { return Ok(None) };
        let mut new = existing.clone();
        for (target, value) in targets.iter().zip(values.into_iter().skip(1)) {
            new[*target] = live[*target].ty.coerce(&value, &live[*target].name)?;
        }
        check_not_null(desc, live, &new)?;
        Ok(Some(new))
    }

    /// Reads the rows an UPDATE or DELETE touches: the old row (all live columns) followed by
    /// `extra` expressions, for rows of `table` matching `selection`.
    async fn matching_rows(
        &self,
        table: &ast::TableWithJoins,
        live: &[ColumnDesc],
        extra: &[String],
        selection: &Option<Expr>,
        params: &[ScalarValue],
    ) -> Result<(TableDesc, Vec<Row>)> {
        let TableFactor::Table { name, alias, .. } = &table.relation else {
            return Err(SqlError::unsupported("UPDATE or DELETE of something other than a table"));
        };
        if !table.joins.is_empty() {
            return Err(SqlError::unsupported("joins in UPDATE or DELETE"));
        }
        let desc = self.table(name).await?;
        let sql = self.matching_sql(name, alias, live, extra, selection);
        let statement = parse(&sql)?.into_iter().next().ok_or_else(|| SqlError::internal("empty query"))?;
        self.scope.lock().expect("scope lock").dml_target = Some(table_name(name)?);
        let result = self.query(statement, params).await;
        self.scope.lock().expect("scope lock").dml_target = None;
        let (_, batches) = result?;
        Ok((desc, batches_to_rows(&batches)?))
    }

    /// Plans [`Self::matching_sql`]'s query for Describe, with the DML target's hidden columns
    /// in view as when it runs (a table without a primary key is keyed by its hidden `rowid`).
    async fn plan_matching(&self, name: &ast::ObjectName, sql: &str) -> Result<LogicalPlan> {
        let statement = parse(sql)?.into_iter().next().ok_or_else(|| SqlError::internal("empty query"))?;
        self.scope.lock().expect("scope lock").dml_target = Some(table_name(name)?);
        let plan = self.plan(statement, &[]).await;
        self.scope.lock().expect("scope lock").dml_target = None;
        plan
    }

    fn matching_sql(
        &self,
        name: &ast::ObjectName,
        alias: &Option<ast::TableAlias>,
        live: &[ColumnDesc],
        extra: &[String],
        selection: &Option<Expr>,
    ) -> String {
        let reference = alias.as_ref().map_or_else(|| name.to_string(), |a| quote(&a.name.value));
        // Each extra expression is named apart: `SET n = n` selected `t.n` and `n`, one name
        // twice, which DataFusion refuses ("Projections require unique expression names").
        let columns: Vec<String> = live
            .iter()
            .map(|c| format!("{reference}.{}", quote(&c.name)))
            .chain(extra.iter().enumerate().map(|(i, e)| format!("({e}) AS \"atoll extra {i}\"")))
            .collect();
        let alias = alias.as_ref().map(|a| format!(" AS {}", a.name)).unwrap_or_default();
        let filter = selection.as_ref().map(|e| format!(" WHERE {e}")).unwrap_or_default();
        format!("SELECT {} FROM {name}{alias}{filter}", columns.join(", "))
    }

    pub(crate) async fn update(&mut self, update: &ast::Update, params: &[ScalarValue]) -> Result<Output> {
        if update.from.is_some() {
            return Err(SqlError::unsupported("UPDATE ... FROM"));
        }
        let TableFactor::Table { name, alias, .. } = &update.table.relation else {
            return Err(SqlError::unsupported("UPDATE of something other than a table"));
        };
        let desc = self.table(name).await?;
        let reads = update.selection.is_some()
            || update.returning.is_some()
            || update.assignments.iter().any(|a| crate::privileges::reads_columns(&a.value));
        let wanted = if reads { Privileges::UPDATE.union(Privileges::SELECT) } else { Privileges::UPDATE };
        self.require(&desc, wanted).await?;
        let live = live(&desc);
        let (targets, exprs) = assignments(&desc, &live, &update.assignments)?;
        let (desc, matched) = self.matching_rows(&update.table, &live, &exprs, &update.selection, params).await?;
        let mut new_rows = Vec::with_capacity(matched.len());
        let mut old_rows = Vec::with_capacity(matched.len());
        for mut row in matched {
            let values = row.split_off(live.len());
            let mut new = row.clone();
            for (target, value) in targets.iter().zip(values) {
                new[*target] = live[*target].ty.coerce(&value, &live[*target].name)?;
            }
            check_not_null(&desc, &live, &new)?;
            old_rows.push(row);
            new_rows.push(new);
        }
        check_constraints(&desc, &live, &new_rows, params).await?;
        {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(Self::txn_guard_error)?;
            // Delete every moved row first, so rows that swap keys do not collide.
            for (old, new) in old_rows.iter().zip(&new_rows) {
                if primary_suffix(&desc, &live, old)? != primary_suffix(&desc, &live, new)? {
                    delete_row(txn, &desc, &live, old)?;
                }
            }
            for (old, new) in old_rows.iter().zip(&new_rows) {
                if primary_suffix(&desc, &live, old)? != primary_suffix(&desc, &live, new)? {
                    insert_row(txn, &desc, &live, new).await?;
                } else {
                    update_row(txn, &desc, &live, old, new).await?;
                }
            }
        }
        match &update.returning {
            Some(items) => self.returning(&desc, &live, &new_rows, items, alias.as_ref(), params, "UPDATE").await,
            None => Ok(Output::count("UPDATE", new_rows.len())),
        }
    }

    pub(crate) async fn delete(&mut self, delete: &ast::Delete, params: &[ScalarValue]) -> Result<Output> {
        if delete.using.is_some() || !delete.tables.is_empty() {
            return Err(SqlError::unsupported("DELETE ... USING"));
        }
        let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) = &delete.from;
        let [table] = tables.as_slice() else { return Err(SqlError::unsupported("DELETE from several tables")) };
        let TableFactor::Table { name, alias, .. } = &table.relation else {
            return Err(SqlError::unsupported("DELETE of something other than a table"));
        };
        let desc = self.table(name).await?;
        let reads = delete.selection.is_some() || delete.returning.is_some();
        self.require(&desc, if reads { Privileges::DELETE.union(Privileges::SELECT) } else { Privileges::DELETE })
            .await?;
        let live = live(&desc);
        let (desc, rows) = self.matching_rows(table, &live, &[], &delete.selection, params).await?;
        {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(Self::txn_guard_error)?;
            for row in &rows {
                delete_row(txn, &desc, &live, row)?;
            }
        }
        match &delete.returning {
            Some(items) => self.returning(&desc, &live, &rows, items, alias.as_ref(), params, "DELETE").await,
            None => Ok(Output::count("DELETE", rows.len())),
        }
    }

    /// Evaluates RETURNING over the written (or deleted) rows.
    #[allow(clippy::too_many_arguments)]
    async fn returning(
        &self,
        desc: &TableDesc,
        live: &[ColumnDesc],
        rows: &[Row],
        items: &[SelectItem],
        alias: Option<&ast::TableAlias>,
        params: &[ScalarValue],
        tag: &'static str,
    ) -> Result<Output> {
        let name = alias.map_or_else(|| desc.name.clone(), |a| a.name.value.clone());
        let list: Vec<String> = items.iter().map(|i| i.to_string()).collect();
        let sql = format!("SELECT {} FROM {}", list.join(", "), quote(&name));
        let (schema, batches) = scratch_query(vec![(name, visible_batch(live, rows)?)], &sql, params).await?;
        Ok(Output::Rows { schema, batches, tag })
    }

    /// Parameter types and result columns of a DML statement.
    pub(crate) async fn describe_dml(
        &mut self,
        statement: &Statement,
    ) -> Result<(Vec<Option<DataType>>, Option<SchemaRef>)> {
        let (name, returning, mut types) = match statement {
            Statement::Insert(insert) => {
                let TableObject::TableName(name) = &insert.table else { return Ok((vec![], None)) };
                let desc = self.table(name).await?;
                let live = live(&desc);
                let targets = Self::insert_targets(&desc, &live, &insert.columns)?;
                let mut types: Vec<Option<DataType>> = Vec::new();
                if let Some(query) = &insert.source {
                    if let SetExpr::Values(values) = query.body.as_ref() {
                        for row in &values.rows {
                            for (expr, target) in row.iter().zip(&targets) {
                                if let Some(index) = placeholder_index(expr) {
                                    if types.len() < index {
                                        types.resize(index, None);
                                    }
                                    types[index - 1] = Some(live[*target].ty.arrow_type());
                                }
                            }
                        }
                    } else {
                        let plan = self.plan(Statement::Query(query.clone()), &[]).await?;
                        types = ordered_parameter_types(&plan)?;
                    }
                }
                (name.clone(), insert.returning.clone(), types)
            }
            Statement::Update(update) => {
                let TableFactor::Table { name, alias, .. } = &update.table.relation else { return Ok((vec![], None)) };
                let desc = self.table(name).await?;
                let live = live(&desc);
                let (_, exprs) = assignments(&desc, &live, &update.assignments)?;
                let sql = self.matching_sql(name, alias, &live, &exprs, &update.selection);
                let plan = self.plan_matching(name, &sql).await?;
                let mut types = ordered_parameter_types(&plan)?;
                // `SET column = $n`: the parameter has the column's type.
                let (targets, _) = assignments(&desc, &live, &update.assignments)?;
                for (assignment, target) in update.assignments.iter().zip(targets) {
                    if let Some(index) = placeholder_index(&assignment.value) {
                        if types.len() < index {
                            types.resize(index, None);
                        }
                        types[index - 1] = Some(live[target].ty.arrow_type());
                    }
                }
                (name.clone(), update.returning.clone(), types)
            }
            Statement::Delete(delete) => {
                let (FromTable::WithFromKeyword(tables) | FromTable::WithoutKeyword(tables)) = &delete.from;
                let Some(TableFactor::Table { name, alias, .. }) = tables.first().map(|t| &t.relation) else {
                    return Ok((vec![], None));
                };
                let desc = self.table(name).await?;
                let sql = self.matching_sql(name, alias, &live(&desc), &[], &delete.selection);
                let plan = self.plan_matching(name, &sql).await?;
                (name.clone(), delete.returning.clone(), ordered_parameter_types(&plan)?)
            }
            _ => return Ok((vec![], None)),
        };
        let Some(items) = returning else { return Ok((types, None)) };
        let desc = self.table(&name).await?;
        let live = live(&desc);
        let list: Vec<String> = items.iter().map(|i| i.to_string()).collect();
        let sql = format!("SELECT {} FROM {}", list.join(", "), quote(&desc.name));
        let ctx = SessionContext::new();
        ctx.register_batch(&desc.name, visible_batch(&live, &[])?)?;
        let (named, plan) = scratch_plan(&ctx, &sql).await?;
        let returning_types = ordered_parameter_types(&plan)?;
        if types.len() < returning_types.len() {
            types.resize(returning_types.len(), None);
        }
        // The columns as execution announces them: analyzed types, PostgreSQL's names.
        let schema = crate::result_types::analyzed(&ctx.state(), &plan)?;
        Ok((types, Some(crate::column_names::apply(&named, &schema))))
    }
}

/// The name and live position of a visible column an INSERT or SET names.
fn target_column(desc: &TableDesc, live: &[ColumnDesc], column: &ast::ObjectName) -> Result<(String, usize)> {
    let name = column.0.last().and_then(|p| p.as_ident()).map(ident_name).unwrap_or_default();
    let position = live.iter().position(|c| c.name == name && !c.hidden).ok_or_else(|| {
        SqlError::new(code::UNDEFINED_COLUMN, format!("column \"{name}\" of relation \"{}\" does not exist", desc.name))
    })?;
    Ok((name, position))
}

/// `n` if the expression is the placeholder `$n`.
fn placeholder_index(expr: &Expr) -> Option<usize> {
    match expr {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.trim_start_matches('$').parse::<usize>().ok().filter(|i| *i > 0),
            _ => None,
        },
        _ => None,
    }
}

/// The target positions and value expressions (as SQL) of SET assignments.
fn assignments(
    desc: &TableDesc,
    live: &[ColumnDesc],
    assignments: &[ast::Assignment],
) -> Result<(Vec<usize>, Vec<String>)> {
    let mut targets = Vec::new();
    let mut exprs = Vec::new();
    for assignment in assignments {
        let AssignmentTarget::ColumnName(column) = &assignment.target else {
            return Err(SqlError::unsupported("assigning a tuple of columns"));
        };
        let (name, position) = target_column(desc, live, column)?;
        if targets.contains(&position) {
            return Err(SqlError::new(code::SYNTAX_ERROR, format!("multiple assignments to same column \"{name}\"")));
        }
        let expr = match &assignment.value {
            Expr::Identifier(ident) if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") => {
                live[position].default.clone().unwrap_or_else(|| "NULL".into())
            }
            other => other.to_string(),
        };
        targets.push(position);
        exprs.push(format!("({expr})"));
    }
    Ok((targets, exprs))
}
