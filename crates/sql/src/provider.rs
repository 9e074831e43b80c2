//! DataFusion sees Atoll tables through this module: a schema provider that looks tables up
//! in the catalog through the statement's transaction, and a table provider whose scans read
//! the transaction's snapshot (plus its own writes) from the KV.
//!
//! Filters are pushed down as key spans: equality on the whole primary key is a point read,
//! equality on a prefix of it or a range on its first column is a span of the primary index,
//! and equality on every column of a secondary index is an index lookup. DataFusion still
//! applies every filter itself (pushdown is `Inexact`), so the choice of span only decides
//! how much is read, never what is returned.

use crate::catalog::{self, IndexDesc, TableDesc};
use crate::encoding::{self, PRIMARY_INDEX};
use crate::error::{code, SqlError};
use crate::kv::Txn;
use crate::pg_catalog::{PgSchema, INFORMATION_SCHEMA, PG_CATALOG};
use async_trait::async_trait;
use datafusion::arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::catalog::{CatalogProvider, SchemaProvider, Session, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{BinaryExpr, Expr, Operator, TableProviderFilterPushDown};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::streaming::{PartitionStream, StreamingTableExec};
use datafusion::physical_plan::{ExecutionPlan, SendableRecordBatchStream};
use std::fmt;
use std::sync::{Arc, Mutex};

/// The transaction a statement runs in, shared by the session and the scans it plans.
pub type TxnCell = tokio::sync::Mutex<Option<Txn>>;

/// Most bytes one scan may read into memory before failing the statement with 53200.
pub const SCAN_BYTES_MAX: usize = 512 * 1024 * 1024;

/// What the statement being planned is allowed to see and where it logs its access paths.
#[derive(Debug, Default)]
pub struct StatementScope {
    /// A table that should expose its hidden columns (the target of an UPDATE or DELETE).
    pub dml_target: Option<String>,
    /// One line per table scan: which spans it reads (for EXPLAIN).
    pub access_paths: Vec<String>,
    /// The descriptors of the tables the statement's plan resolved (a kept plan is checked
    /// against them before reuse, see `plan_cache`).
    pub resolved: Vec<TableDesc>,
    /// The session's user when its privileges are checked (it is no superuser); `None` for
    /// superusers, whom nothing is checked for (see [`crate::privileges`]).
    pub checked_user: Option<String>,
    /// The roles whose privileges `checked_user` has, read once per statement.
    pub roles: Option<Arc<std::collections::BTreeSet<String>>>,
    /// The audited tables the statement touched (see `TableDesc::audit`), and whether it wrote.
    pub audited: Vec<(String, bool)>,
}

/// The `public` schema of the session's database.
pub struct AtollSchema {
    pub txn: Arc<TxnCell>,
    pub database: u64,
    pub scope: Arc<Mutex<StatementScope>>,
}

impl fmt::Debug for AtollSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AtollSchema(database {})", self.database)
    }
}

fn no_transaction() -> DataFusionError {
    SqlError::internal("no open transaction").into()
}

#[async_trait]
impl SchemaProvider for AtollSchema {
    fn table_names(&self) -> Vec<String> {
        Vec::new()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        let desc = {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(no_transaction)?;
            catalog::table(txn, self.database, name).await?
        };
        let Some(desc) = desc else { return Ok(None) };
        let include_hidden = {
            let mut scope = self.scope.lock().expect("scope lock");
            if !scope.resolved.iter().any(|seen| seen.name == desc.name) {
                scope.resolved.push(desc.clone());
            }
            scope.dml_target.as_deref() == Some(name)
        };
        Ok(Some(Arc::new(AtollTable::new(desc, include_hidden, self.txn.clone(), self.scope.clone()))))
    }

    fn table_exist(&self, _name: &str) -> bool {
        false
    }
}

/// The session's database as a DataFusion catalog: the `public` schema of user tables and the
/// system catalogs.
#[derive(Debug)]
pub struct AtollCatalog {
    pub public: Arc<AtollSchema>,
    pub pg_catalog: Arc<PgSchema>,
    pub information_schema: Arc<PgSchema>,
}

impl CatalogProvider for AtollCatalog {
    fn schema_names(&self) -> Vec<String> {
        vec![catalog::PUBLIC_SCHEMA.to_string(), PG_CATALOG.to_string(), INFORMATION_SCHEMA.to_string()]
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        match name {
            catalog::PUBLIC_SCHEMA => Some(self.public.clone()),
            PG_CATALOG => Some(self.pg_catalog.clone()),
            INFORMATION_SCHEMA => Some(self.information_schema.clone()),
            _ => None,
        }
    }
}

/// One table, as DataFusion scans it.
pub struct AtollTable {
    desc: Arc<TableDesc>,
    /// Column ids, in schema order.
    columns: Vec<u32>,
    schema: SchemaRef,
    txn: Arc<TxnCell>,
    scope: Arc<Mutex<StatementScope>>,
}

impl fmt::Debug for AtollTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AtollTable({})", self.desc.name)
    }
}

impl AtollTable {
    pub fn new(desc: TableDesc, include_hidden: bool, txn: Arc<TxnCell>, scope: Arc<Mutex<StatementScope>>) -> Self {
        let shown: Vec<_> = desc.live_columns().filter(|c| include_hidden || !c.hidden).cloned().collect();
        let fields: Vec<Field> = shown.iter().map(|c| c.ty.field(&c.name)).collect();
        AtollTable {
            columns: shown.iter().map(|c| c.id).collect(),
            schema: Arc::new(Schema::new(fields)),
            desc: Arc::new(desc),
            txn,
            scope,
        }
    }
}

/// Where a scan reads.
#[derive(Debug, Clone)]
pub enum AccessPath {
    /// The whole primary index.
    Full,
    /// `[start, end)` of the primary index.
    Span { start: Vec<u8>, end: Vec<u8>, description: String },
    /// One row by its whole primary key.
    Point { key: Vec<u8>, description: String },
    /// Rows whose secondary index columns equal the given key.
    Index { index: IndexDesc, prefix: Vec<u8>, description: String },
}

impl AccessPath {
    fn describe(&self, table: &TableDesc) -> String {
        match self {
            AccessPath::Full => format!("{}: full scan of /{}/primary", table.name, table.name),
            AccessPath::Span { description, .. } => format!("{}: span {description}", table.name),
            AccessPath::Point { description, .. } => format!("{}: point get {description}", table.name),
            AccessPath::Index { description, .. } => format!("{}: index lookup {description}", table.name),
        }
    }
}

/// The literal a filter compares a column with, converted to the column's type.
fn column_literal<'a>(desc: &'a TableDesc, expr: &BinaryExpr) -> Option<(&'a str, Operator, ScalarValue)> {
    let strip = |e: &Expr| -> Expr {
        match e {
            Expr::Cast(cast) => (*cast.expr).clone(),
            Expr::TryCast(cast) => (*cast.expr).clone(),
            other => other.clone(),
        }
    };
    let (column, op, literal) = match (strip(&expr.left), strip(&expr.right)) {
        (Expr::Column(c), Expr::Literal(v, _)) => (c, expr.op, v),
        (Expr::Literal(v, _), Expr::Column(c)) => (c, expr.op.swap()?, v),
        _ => return None,
    };
    let desc_column = desc.column(&column.name)?;
    let value = desc_column.ty.coerce(&literal, &desc_column.name).ok()?;
    if value.is_null() {
        return None;
    }
    // A literal that had to be rounded to fit the column would change the comparison.
    if literal.data_type() != value.data_type() && !(literal.data_type().is_integer() && desc_column.ty.is_integer()) {
        return None;
    }
    Some((&desc_column.name, op, value))
}

fn conjuncts<'a>(filters: &'a [Expr], out: &mut Vec<&'a BinaryExpr>) {
    fn walk<'a>(expr: &'a Expr, out: &mut Vec<&'a BinaryExpr>) {
        if let Expr::BinaryExpr(binary) = expr {
            if binary.op == Operator::And {
                walk(&binary.left, out);
                walk(&binary.right, out);
            } else {
                out.push(binary);
            }
        }
    }
    for filter in filters {
        walk(filter, out);
    }
}

fn render(values: &[ScalarValue]) -> String {
    values.iter().map(|v| v.to_string()).collect::<Vec<_>>().join("/")
}

/// Picks the narrowest access path the filters allow.
pub fn access_path(desc: &TableDesc, filters: &[Expr]) -> AccessPath {
    let mut binaries = Vec::new();
    conjuncts(filters, &mut binaries);
    let comparisons: Vec<(&str, Operator, ScalarValue)> =
        binaries.iter().filter_map(|b| column_literal(desc, b)).collect();
    let equal = |name: &str| comparisons.iter().find(|(c, op, _)| *c == name && *op == Operator::Eq).map(|(_, _, v)| v);

    // Equality on a prefix of the primary key.
    let mut prefix_values = Vec::new();
    for id in &desc.primary_key {
        match equal(desc.column_name(*id)) {
            Some(value) => prefix_values.push(value.clone()),
            None => break,
        }
    }
    let primary = format!("/{}/primary", desc.name);
    if !prefix_values.is_empty() {
        let mut key = encoding::index_prefix(desc.id, PRIMARY_INDEX);
        for value in &prefix_values {
            if encoding::encode_key_value(&mut key, value).is_err() {
                return AccessPath::Full;
            }
        }
        let description = format!("{primary}/{}", render(&prefix_values));
        if prefix_values.len() == desc.primary_key.len() {
            return AccessPath::Point { key, description };
        }
        return AccessPath::Span { end: encoding::prefix_end(&key), start: key, description };
    }

    // Equality on every column of a secondary index.
    for index in &desc.indexes {
        let values: Option<Vec<ScalarValue>> =
            index.columns.iter().map(|id| equal(desc.column_name(*id)).cloned()).collect();
        if let Some(values) = values {
            let mut prefix = encoding::index_prefix(desc.id, index.id);
            if values.iter().try_for_each(|v| encoding::encode_key_value(&mut prefix, v)).is_err() {
                continue;
            }
            let description = format!("/{}/{}/{}", desc.name, index.name, render(&values));
            return AccessPath::Index { index: index.clone(), prefix, description };
        }
    }

    // A range on the first primary key column.
    let Some(first) = desc.primary_key.first().map(|id| desc.column_name(*id)) else { return AccessPath::Full };
    let base = encoding::index_prefix(desc.id, PRIMARY_INDEX);
    let (mut start, mut end) = (base.clone(), encoding::prefix_end(&base));
    let (mut low, mut high) = (String::from("-"), String::from("+"));
    let mut narrowed = false;
    for (column, op, value) in &comparisons {
        if *column != first {
            continue;
        }
        let mut key = base.clone();
        if encoding::encode_key_value(&mut key, value).is_err() {
            continue;
        }
        match op {
            Operator::Gt | Operator::GtEq => {
                let bound = if *op == Operator::Gt { encoding::prefix_end(&key) } else { key };
                if bound > start {
                    start = bound;
                    low = format!("{}{value}", if *op == Operator::Gt { "(" } else { "[" });
                    narrowed = true;
                }
            }
            Operator::Lt | Operator::LtEq => {
                let bound = if *op == Operator::Lt { key } else { encoding::prefix_end(&key) };
                if bound < end {
                    end = bound;
                    high = format!("{value}{}", if *op == Operator::Lt { ")" } else { "]" });
                    narrowed = true;
                }
            }
            _ => {}
        }
    }
    if narrowed {
        return AccessPath::Span { start, end, description: format!("{primary}/{low} .. {high}") };
    }
    AccessPath::Full
}

#[async_trait]
impl TableProvider for AtollTable {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        _state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        // Every read of a table's rows through a plan passes here, on each execution (a kept
        // plan is planned into an execution plan anew each time). The target of an UPDATE or
        // DELETE is checked by the statement itself, which knows whether it reads.
        let checked = {
            let scope = self.scope.lock().expect("scope lock");
            (scope.checked_user.is_some() && scope.dml_target.as_deref() != Some(self.desc.name.as_str()))
                || self.desc.audit == crate::catalog::TableAudit::All
        };
        if checked {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(no_transaction)?;
            crate::privileges::check_table(txn, &self.scope, &self.desc, crate::privileges::Privileges::SELECT).await?;
        }
        let path = access_path(&self.desc, filters);
        self.scope.lock().expect("scope lock").access_paths.push(path.describe(&self.desc));
        let limit = if filters.is_empty() { limit } else { None };
        let stream = KvScan {
            desc: self.desc.clone(),
            columns: self.columns.clone(),
            schema: self.schema.clone(),
            txn: self.txn.clone(),
            path,
            limit,
        };
        Ok(Arc::new(StreamingTableExec::try_new(
            self.schema.clone(),
            vec![Arc::new(stream)],
            projection,
            [],
            false,
            limit,
        )?))
    }
}

/// One scan's read of the KV, done when the plan runs.
struct KvScan {
    desc: Arc<TableDesc>,
    columns: Vec<u32>,
    schema: SchemaRef,
    txn: Arc<TxnCell>,
    path: AccessPath,
    limit: Option<usize>,
}

impl fmt::Debug for KvScan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.describe(&self.desc))
    }
}

impl PartitionStream for KvScan {
    fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    fn execute(&self, _ctx: Arc<TaskContext>) -> SendableRecordBatchStream {
        let (desc, columns, schema, txn, path, limit) = (
            self.desc.clone(),
            self.columns.clone(),
            self.schema.clone(),
            self.txn.clone(),
            self.path.clone(),
            self.limit,
        );
        let batch_schema = schema.clone();
        let read = async move {
            let mut guard = txn.lock().await;
            let txn = guard.as_mut().ok_or_else(no_transaction)?;
            let rows = read_rows(txn, &desc, &path, limit).await?;
            rows_to_batch(&desc, &columns, &batch_schema, rows).map_err(DataFusionError::from)
        };
        Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::once(read)))
    }
}

/// Reads the encoded rows an access path selects.
pub async fn read_rows(
    txn: &mut Txn,
    desc: &TableDesc,
    path: &AccessPath,
    limit: Option<usize>,
) -> Result<Vec<Vec<u8>>, SqlError> {
    let limit = limit.unwrap_or(0);
    let too_big = || {
        SqlError::new(
            code::OUT_OF_MEMORY,
            format!("scan of \"{}\" exceeds the {SCAN_BYTES_MAX}-byte memory limit", desc.name),
        )
    };
    let check = |rows: &[(Vec<u8>, Vec<u8>)]| {
        let bytes: usize = rows.iter().map(|(k, v)| k.len() + v.len()).sum();
        if bytes > SCAN_BYTES_MAX {
            Err(too_big())
        } else {
            Ok(())
        }
    };
    match path {
        AccessPath::Point { key, .. } => Ok(txn.get(key).await?.into_iter().collect()),
        AccessPath::Full => {
            let start = encoding::index_prefix(desc.id, PRIMARY_INDEX);
            let rows = txn.scan(&start, &encoding::prefix_end(&start), limit).await?;
            check(&rows)?;
            Ok(rows.into_iter().map(|(_, v)| v).collect())
        }
        AccessPath::Span { start, end, .. } => {
            let rows = txn.scan(start, end, limit).await?;
            check(&rows)?;
            Ok(rows.into_iter().map(|(_, v)| v).collect())
        }
        AccessPath::Index { index, prefix, .. } => {
            let entries = txn.scan(prefix, &encoding::prefix_end(prefix), 0).await?;
            check(&entries)?;
            let mut rows = Vec::with_capacity(entries.len());
            for (key, value) in entries {
                // Unique entries store the primary key suffix as their value; non-unique ones
                // carry it at the end of their key.
                let suffix = if index.unique && !value.is_empty() { value } else { key[prefix.len()..].to_vec() };
                let mut primary = encoding::index_prefix(desc.id, PRIMARY_INDEX);
                primary.extend_from_slice(&suffix);
                if let Some(row) = txn.get(&primary).await? {
                    rows.push(row);
                }
            }
            Ok(rows)
        }
    }
}

/// Decodes rows into one Arrow batch with the given columns.
pub fn rows_to_batch(
    desc: &TableDesc,
    columns: &[u32],
    schema: &SchemaRef,
    rows: Vec<Vec<u8>>,
) -> Result<RecordBatch, SqlError> {
    let storage = desc.storage_columns();
    let positions: Vec<usize> = columns
        .iter()
        .map(|id| storage.iter().position(|(c, _)| c == id).ok_or_else(|| SqlError::internal("column missing")))
        .collect::<Result<_, _>>()?;
    let mut per_column: Vec<Vec<ScalarValue>> = vec![Vec::with_capacity(rows.len()); columns.len()];
    for row in &rows {
        let mut values = encoding::decode_row(&storage, row)?;
        for (out, position) in per_column.iter_mut().zip(&positions) {
            out.push(std::mem::replace(&mut values[*position], ScalarValue::Null));
        }
    }
    let arrays: Vec<ArrayRef> = per_column
        .into_iter()
        .zip(schema.fields())
        .map(|(values, field)| {
            if values.is_empty() {
                Ok(datafusion::arrow::array::new_empty_array(field.data_type()))
            } else {
                ScalarValue::iter_to_array(values)
            }
        })
        .collect::<DfResult<_>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(rows.len()));
    Ok(RecordBatch::try_new_with_options(schema.clone(), arrays, &options)?)
}
