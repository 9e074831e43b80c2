//! The system catalogs clients read to learn what a database holds: `pg_catalog` (psql's `\d`
//! family, drivers, ORMs) and `information_schema` (the SQL standard's view of the same).
//!
//! Nothing here is stored: every table is built, when a statement names it, from the table
//! descriptors the statement's transaction sees, so it is exactly as current and as isolated
//! as the user's own tables. Object ids are derived from descriptor ids and stay stable across
//! statements: a table's oid is `descriptor id * 1000`, its indexes and constraints take the
//! oids just above it. Catalogs Atoll has nothing for (triggers, policies, publications,
//! inheritance, comments) are present and empty, so client queries that join them still run.
//!
//! [`rewrite`] translates the PostgreSQL-only syntax these queries use (`OPERATOR(pg_catalog.~)`,
//! `COLLATE`, casts to `regclass`/`oid`, `pg_catalog.`-qualified functions) into what the
//! query engine plans, and [`register_functions`] adds the catalog functions (`format_type`,
//! `pg_get_indexdef`, `pg_table_is_visible`, ...).

use crate::catalog::{self, ColumnDesc, DatabaseDesc, TableDesc, PUBLIC_SCHEMA};
use crate::error::SqlError;
use crate::provider::TxnCell;
use crate::types::SqlType;
use async_trait::async_trait;
use datafusion::arrow::array::{new_empty_array, ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::catalog::{SchemaProvider, TableFunctionImpl, TableProvider};
use datafusion::common::ScalarValue;
use datafusion::datasource::MemTable;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, Expr as DfExpr, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use datafusion::prelude::SessionContext;
use datafusion::sql::sqlparser::ast::{
    self, visit_expressions_mut, visit_relations_mut, BinaryOperator, Expr, Ident, ObjectName, ObjectNamePart,
    Statement, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

pub const PG_CATALOG: &str = "pg_catalog";
pub const INFORMATION_SCHEMA: &str = "information_schema";

/// The owner every object reports (Atoll has one role until authentication lands).
const OWNER: &str = "atoll";
const OWNER_OID: i64 = 10;
const PG_CATALOG_OID: i64 = 11;
const PUBLIC_OID: i64 = 2200;
const INFORMATION_SCHEMA_OID: i64 = 13000;
const HEAP_AM: i64 = 2;
const BTREE_AM: i64 = 403;
const DEFAULT_COLLATION: i64 = 100;
const DEFAULT_TABLESPACE: i64 = 1663;
/// The catalogs' own oids (`'pg_catalog.pg_class'::regclass`), in `PG_TABLES` order.
const CATALOG_OIDS: i64 = 1000;
/// PostgreSQL's code for UTF8 in `pg_database.encoding`.
const UTF8_ENCODING: i32 = 6;

fn table_oid(table: &TableDesc) -> i64 {
    table.id as i64 * 1000
}

fn index_oid(table: &TableDesc, index: u32) -> i64 {
    table_oid(table) + index as i64
}

fn check_oid(table: &TableDesc, n: usize) -> i64 {
    table_oid(table) + 500 + n as i64
}

/// `(oid, name, length, category)` of every type a column can have, plus the few the catalogs
/// themselves use.
const TYPES: &[(i64, &str, i16, &str)] = &[
    (16, "bool", 1, "B"),
    (17, "bytea", -1, "U"),
    (18, "char", 1, "Z"),
    (19, "name", 64, "S"),
    (20, "int8", 8, "N"),
    (21, "int2", 2, "N"),
    (23, "int4", 4, "N"),
    (25, "text", -1, "S"),
    (26, "oid", 4, "N"),
    (700, "float4", 4, "N"),
    (701, "float8", 8, "N"),
    (1042, "bpchar", -1, "S"),
    (1043, "varchar", -1, "S"),
    (1082, "date", 4, "D"),
    (1114, "timestamp", 8, "D"),
    (1184, "timestamptz", 8, "D"),
    (1186, "interval", 16, "T"),
    (1700, "numeric", -1, "N"),
    (2950, "uuid", 16, "U"),
    (3802, "jsonb", -1, "U"),
];

fn type_oid(ty: SqlType) -> i64 {
    match ty {
        SqlType::Int2 => 21,
        SqlType::Int4 => 23,
        SqlType::Int8 => 20,
        SqlType::Bool => 16,
        SqlType::Float4 => 700,
        SqlType::Float8 => 701,
        SqlType::Numeric { .. } => 1700,
        SqlType::Text => 25,
        SqlType::Varchar(_) => 1043,
        SqlType::Char(_) => 1042,
        SqlType::Bytea => 17,
        SqlType::Date => 1082,
        SqlType::Timestamp => 1114,
        SqlType::TimestampTz => 1184,
        SqlType::Interval => 1186,
        SqlType::Uuid => 2950,
        SqlType::Jsonb => 3802,
    }
}

/// PostgreSQL's type modifier: declared length + 4 for character types, `(precision << 16 |
/// scale) + 4` for numeric, -1 for none.
fn typmod(ty: SqlType) -> i32 {
    match ty {
        SqlType::Varchar(Some(n)) | SqlType::Char(n) => n as i32 + 4,
        SqlType::Numeric { precision, scale } => ((i32::from(precision) << 16) | i32::from(scale as u8)) + 4,
        _ => -1,
    }
}

fn is_text(ty: SqlType) -> bool {
    matches!(ty, SqlType::Text | SqlType::Varchar(_) | SqlType::Char(_))
}

/// `format_type(type oid, typmod)`.
fn format_type(oid: i64, typmod: i32) -> String {
    let with = |base: &str| {
        if typmod >= 4 {
            format!("{base}({})", typmod - 4)
        } else {
            base.to_string()
        }
    };
    match oid {
        16 => "boolean".into(),
        17 => "bytea".into(),
        18 => "\"char\"".into(),
        19 => "name".into(),
        20 => "bigint".into(),
        21 => "smallint".into(),
        23 => "integer".into(),
        25 => "text".into(),
        26 => "oid".into(),
        700 => "real".into(),
        701 => "double precision".into(),
        1042 => with("character"),
        1043 => with("character varying"),
        1082 => "date".into(),
        1114 => "timestamp without time zone".into(),
        1184 => "timestamp with time zone".into(),
        1186 => "interval".into(),
        1700 if typmod >= 4 => format!("numeric({},{})", (typmod - 4) >> 16, (typmod - 4) & 0xffff),
        1700 => "numeric".into(),
        2950 => "uuid".into(),
        3802 => "jsonb".into(),
        _ => "???".into(),
    }
}

/// A column's DEFAULT as PostgreSQL prints it (serial columns default to their sequence).
fn default_expr(table: &TableDesc, column: &ColumnDesc) -> Option<String> {
    if column.serial {
        return Some(format!("nextval('{}_{}_seq'::regclass)", table.name, column.name));
    }
    column.default.clone()
}

fn quote(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// One index of a table as the catalogs show it (the primary key is one too).
struct IndexView {
    oid: i64,
    name: String,
    columns: Vec<u32>,
    unique: bool,
    primary: bool,
}

fn index_views(table: &TableDesc) -> Vec<IndexView> {
    let mut out = Vec::new();
    let hidden_key = table.primary_key.iter().any(|id| table.column_by_id(*id).is_some_and(|c| c.hidden));
    if !hidden_key {
        out.push(IndexView {
            oid: index_oid(table, crate::encoding::PRIMARY_INDEX),
            name: table.primary_key_name.clone(),
            columns: table.primary_key.clone(),
            unique: true,
            primary: true,
        });
    }
    for index in &table.indexes {
        out.push(IndexView {
            oid: index_oid(table, index.id),
            name: index.name.clone(),
            columns: index.columns.clone(),
            unique: index.unique,
            primary: false,
        });
    }
    out
}

fn column_list(table: &TableDesc, columns: &[u32]) -> String {
    columns.iter().map(|id| quote(table.column_name(*id))).collect::<Vec<_>>().join(", ")
}

/// What the statement's transaction sees of the catalog, and the object definitions the
/// catalog functions print.
#[derive(Default)]
pub struct Snapshot {
    database: String,
    databases: Vec<DatabaseDesc>,
    tables: Vec<TableDesc>,
    /// `pg_get_indexdef` and `pg_get_constraintdef` by oid.
    definitions: HashMap<i64, String>,
    /// Relation oids by name, for `'name'::regclass`.
    relations: HashMap<String, i64>,
    /// The session's settings, for `current_setting`.
    settings: BTreeMap<String, String>,
}

/// `x::regtype`: a type oid from a number or a type name.
fn regtype(value: &ScalarValue) -> DfResult<Option<i64>> {
    let Some(name) = text_arg(value) else { return Ok(None) };
    if let Ok(oid) = name.trim().parse::<i64>() {
        return Ok(Some(oid));
    }
    let name = name.trim().trim_start_matches("pg_catalog.").to_lowercase();
    TYPES
        .iter()
        .find(|(oid, typname, _, _)| *typname == name || format_type(*oid, -1) == name)
        .map(|t| Some(t.0))
        .ok_or_else(|| {
            SqlError::new(crate::error::code::UNDEFINED_OBJECT, format!("type \"{name}\" does not exist")).into()
        })
}

impl Snapshot {
    /// `x::regclass`: a relation oid from a number or a relation name.
    fn regclass(&self, value: &ScalarValue) -> DfResult<Option<i64>> {
        let Some(name) = text_arg(value) else { return Ok(None) };
        if let Ok(oid) = name.trim().parse::<i64>() {
            return Ok(Some(oid));
        }
        let name = name.trim().trim_start_matches("public.").trim_matches('"').to_string();
        if let Some(position) = name.strip_prefix("pg_catalog.").and_then(|t| PG_TABLES.iter().position(|n| *n == t)) {
            return Ok(Some(CATALOG_OIDS + position as i64));
        }
        match self.relations.get(&name) {
            Some(oid) => Ok(Some(*oid)),
            None => {
                Err(SqlError::new(crate::error::code::UNDEFINED_TABLE, format!("relation \"{name}\" does not exist"))
                    .into())
            }
        }
    }

    async fn load(
        txn: &mut crate::kv::Txn,
        database: u64,
        database_name: &str,
        settings: BTreeMap<String, String>,
    ) -> crate::error::Result<Snapshot> {
        let databases = catalog::list_databases(txn).await?;
        let tables = catalog::list_tables(txn, database).await?;
        let mut snapshot =
            Snapshot { database: database_name.to_string(), databases, tables, settings, ..Default::default() };
        for table in &snapshot.tables {
            snapshot.relations.insert(table.name.clone(), table_oid(table));
            for index in index_views(table) {
                let kind = if index.unique { "UNIQUE INDEX" } else { "INDEX" };
                let columns = column_list(table, &index.columns);
                snapshot.definitions.insert(
                    index.oid,
                    format!(
                        "CREATE {kind} {} ON public.{} USING btree ({columns})",
                        quote(&index.name),
                        quote(&table.name)
                    ),
                );
                if index.primary {
                    snapshot.definitions.insert(index.oid + 250, format!("PRIMARY KEY ({columns})"));
                }
                snapshot.relations.insert(index.name.clone(), index.oid);
            }
            for (n, check) in table.checks.iter().enumerate() {
                snapshot.definitions.insert(check_oid(table, n), format!("CHECK ({})", check.expr));
            }
        }
        Ok(snapshot)
    }

    fn table(&self, name: &str) -> Option<Rows> {
        let rows = match name {
            "pg_namespace" => self.pg_namespace(),
            "pg_class" => self.pg_class(),
            "pg_attribute" => self.pg_attribute(),
            "pg_attrdef" => self.pg_attrdef(),
            "pg_index" => self.pg_index(),
            "pg_constraint" => self.pg_constraint(),
            "pg_type" => pg_type(),
            "pg_database" => self.pg_database(),
            "pg_am" => pg_am(),
            "pg_roles" | "pg_authid" => pg_roles(),
            "pg_user" => pg_user(),
            "pg_tablespace" => pg_tablespace(),
            "pg_collation" => pg_collation(),
            "pg_opclass" => pg_opclass(),
            "schemata" => self.schemata(),
            "tables" => self.info_tables(),
            "columns" => self.info_columns(),
            "table_constraints" => self.table_constraints(),
            "key_column_usage" => self.key_column_usage(),
            _ => return empty_table(name).map(|columns| (columns, Vec::new())),
        };
        Some(rows)
    }

    fn pg_namespace(&self) -> Rows {
        let columns = vec![("oid", oid()), ("nspname", text()), ("nspowner", oid()), ("nspacl", text())];
        let rows =
            [(PG_CATALOG_OID, PG_CATALOG), (PUBLIC_OID, PUBLIC_SCHEMA), (INFORMATION_SCHEMA_OID, INFORMATION_SCHEMA)]
                .iter()
                .map(|(oid, name)| vec![int(*oid), s(name), int(OWNER_OID), null_text()])
                .collect();
        (columns, rows)
    }

    fn pg_class(&self) -> Rows {
        let columns = vec![
            ("oid", oid()),
            ("relname", text()),
            ("relnamespace", oid()),
            ("reltype", oid()),
            ("reloftype", oid()),
            ("relowner", oid()),
            ("relam", oid()),
            ("relfilenode", oid()),
            ("reltablespace", oid()),
            ("relpages", DataType::Int32),
            ("reltuples", DataType::Float32),
            ("relallvisible", DataType::Int32),
            ("reltoastrelid", oid()),
            ("relhasindex", DataType::Boolean),
            ("relisshared", DataType::Boolean),
            ("relpersistence", text()),
            ("relkind", text()),
            ("relnatts", DataType::Int16),
            ("relchecks", DataType::Int16),
            ("relhasrules", DataType::Boolean),
            ("relhastriggers", DataType::Boolean),
            ("relhassubclass", DataType::Boolean),
            ("relrowsecurity", DataType::Boolean),
            ("relforcerowsecurity", DataType::Boolean),
            ("relispopulated", DataType::Boolean),
            ("relreplident", text()),
            ("relispartition", DataType::Boolean),
            ("relrewrite", oid()),
            ("relacl", text()),
            ("reloptions", text()),
            ("relpartbound", text()),
        ];
        let mut rows = Vec::new();
        let row = |oid: i64, name: &str, kind: &str, am: i64, natts: usize, checks: usize, has_index: bool| {
            vec![
                int(oid),
                s(name),
                int(PUBLIC_OID),
                int(0),
                int(0),
                int(OWNER_OID),
                int(am),
                int(oid),
                int(0),
                ScalarValue::Int32(Some(0)),
                ScalarValue::Float32(Some(-1.0)),
                ScalarValue::Int32(Some(0)),
                int(0),
                b(has_index),
                b(false),
                s("p"),
                s(kind),
                ScalarValue::Int16(Some(natts as i16)),
                ScalarValue::Int16(Some(checks as i16)),
                b(false),
                b(false),
                b(false),
                b(false),
                b(false),
                b(true),
                s(if kind == "r" { "d" } else { "n" }),
                b(false),
                int(0),
                null_text(),
                null_text(),
                null_text(),
            ]
        };
        for table in &self.tables {
            let indexes = index_views(table);
            let natts = table.visible_columns().count();
            rows.push(row(table_oid(table), &table.name, "r", HEAP_AM, natts, table.checks.len(), !indexes.is_empty()));
            for index in indexes {
                rows.push(row(index.oid, &index.name, "i", BTREE_AM, index.columns.len(), 0, false));
            }
        }
        (columns, rows)
    }

    fn pg_attribute(&self) -> Rows {
        let columns = vec![
            ("attrelid", oid()),
            ("attname", text()),
            ("atttypid", oid()),
            ("attstattarget", DataType::Int32),
            ("attlen", DataType::Int16),
            ("attnum", DataType::Int16),
            ("attndims", DataType::Int32),
            ("attcacheoff", DataType::Int32),
            ("atttypmod", DataType::Int32),
            ("attbyval", DataType::Boolean),
            ("attalign", text()),
            ("attstorage", text()),
            ("attcompression", text()),
            ("attnotnull", DataType::Boolean),
            ("atthasdef", DataType::Boolean),
            ("atthasmissing", DataType::Boolean),
            ("attidentity", text()),
            ("attgenerated", text()),
            ("attisdropped", DataType::Boolean),
            ("attislocal", DataType::Boolean),
            ("attinhcount", DataType::Int32),
            ("attcollation", oid()),
            ("attacl", text()),
            ("attoptions", text()),
            ("attfdwoptions", text()),
        ];
        let mut rows = Vec::new();
        let row = |relid: i64, name: String, column: &ColumnDesc, attnum: i64, has_default: bool| {
            let length = TYPES.iter().find(|t| t.0 == type_oid(column.ty)).map_or(-1, |t| t.2);
            vec![
                int(relid),
                ScalarValue::Utf8(Some(name)),
                int(type_oid(column.ty)),
                ScalarValue::Int32(Some(-1)),
                ScalarValue::Int16(Some(length)),
                ScalarValue::Int16(Some(attnum as i16)),
                ScalarValue::Int32(Some(0)),
                ScalarValue::Int32(Some(-1)),
                ScalarValue::Int32(Some(typmod(column.ty))),
                b(length > 0 && length <= 8),
                s("i"),
                s(if length > 0 { "p" } else { "x" }),
                s(""),
                b(!column.nullable),
                b(has_default),
                b(false),
                s(""),
                s(""),
                b(column.dropped),
                b(true),
                ScalarValue::Int32(Some(0)),
                int(if is_text(column.ty) { DEFAULT_COLLATION } else { 0 }),
                null_text(),
                null_text(),
                null_text(),
            ]
        };
        for table in &self.tables {
            for column in table.columns.iter().filter(|c| !c.hidden) {
                let name = if column.dropped {
                    format!("........pg.dropped.{}........", column.id)
                } else {
                    column.name.clone()
                };
                let has_default = !column.dropped && default_expr(table, column).is_some();
                rows.push(row(table_oid(table), name, column, column.id as i64, has_default));
            }
            for index in index_views(table) {
                for (n, id) in index.columns.iter().enumerate() {
                    if let Some(column) = table.column_by_id(*id) {
                        rows.push(row(index.oid, column.name.clone(), column, n as i64 + 1, false));
                    }
                }
            }
        }
        (columns, rows)
    }

    fn pg_attrdef(&self) -> Rows {
        let columns = vec![("oid", oid()), ("adrelid", oid()), ("adnum", DataType::Int16), ("adbin", text())];
        let mut rows = Vec::new();
        for table in &self.tables {
            for column in table.columns.iter().filter(|c| !c.dropped && !c.hidden) {
                if let Some(expr) = default_expr(table, column) {
                    rows.push(vec![
                        int(table_oid(table) + 750 + column.id as i64),
                        int(table_oid(table)),
                        ScalarValue::Int16(Some(column.id as i16)),
                        ScalarValue::Utf8(Some(expr)),
                    ]);
                }
            }
        }
        (columns, rows)
    }

    fn pg_index(&self) -> Rows {
        let columns = vec![
            ("indexrelid", oid()),
            ("indrelid", oid()),
            ("indnatts", DataType::Int16),
            ("indnkeyatts", DataType::Int16),
            ("indisunique", DataType::Boolean),
            ("indnullsnotdistinct", DataType::Boolean),
            ("indisprimary", DataType::Boolean),
            ("indisexclusion", DataType::Boolean),
            ("indimmediate", DataType::Boolean),
            ("indisclustered", DataType::Boolean),
            ("indisvalid", DataType::Boolean),
            ("indcheckxmin", DataType::Boolean),
            ("indisready", DataType::Boolean),
            ("indislive", DataType::Boolean),
            ("indisreplident", DataType::Boolean),
            ("indkey", text()),
            ("indcollation", text()),
            ("indclass", text()),
            ("indoption", text()),
            ("indexprs", text()),
            ("indpred", text()),
        ];
        let mut rows = Vec::new();
        for table in &self.tables {
            for index in index_views(table) {
                let n = ScalarValue::Int16(Some(index.columns.len() as i16));
                let column_types: Vec<SqlType> =
                    index.columns.iter().filter_map(|id| table.column_by_id(*id)).map(|c| c.ty).collect();
                let collations: Vec<i64> =
                    column_types.iter().map(|ty| if is_text(*ty) { DEFAULT_COLLATION } else { 0 }).collect();
                let classes: Vec<i64> = column_types.iter().map(|ty| 10000 + type_oid(*ty)).collect();
                rows.push(vec![
                    int(index.oid),
                    int(table_oid(table)),
                    n.clone(),
                    n,
                    b(index.unique),
                    b(false),
                    b(index.primary),
                    b(false),
                    b(true),
                    b(false),
                    b(true),
                    b(false),
                    b(true),
                    b(true),
                    b(false),
                    vector(index.columns.iter().map(|c| i64::from(*c))),
                    vector(collations),
                    vector(classes),
                    vector(vec![0; index.columns.len()]),
                    null_text(),
                    null_text(),
                ]);
            }
        }
        (columns, rows)
    }

    fn pg_constraint(&self) -> Rows {
        let columns = vec![
            ("oid", oid()),
            ("conname", text()),
            ("connamespace", oid()),
            ("contype", text()),
            ("condeferrable", DataType::Boolean),
            ("condeferred", DataType::Boolean),
            ("convalidated", DataType::Boolean),
            ("conrelid", oid()),
            ("contypid", oid()),
            ("conindid", oid()),
            ("conparentid", oid()),
            ("confrelid", oid()),
            ("confupdtype", text()),
            ("confdeltype", text()),
            ("confmatchtype", text()),
            ("conislocal", DataType::Boolean),
            ("coninhcount", DataType::Int32),
            ("connoinherit", DataType::Boolean),
            ("conkey", int2_list()),
            ("confkey", int2_list()),
            ("conbin", text()),
        ];
        let mut rows = Vec::new();
        let row = |oid: i64, name: &str, kind: &str, table: &TableDesc, index: i64, key: &[u32]| {
            vec![
                int(oid),
                s(name),
                int(PUBLIC_OID),
                s(kind),
                b(false),
                b(false),
                b(true),
                int(table_oid(table)),
                int(0),
                int(index),
                int(0),
                int(0),
                s(" "),
                s(" "),
                s(" "),
                b(true),
                ScalarValue::Int32(Some(0)),
                b(false),
                int2_array(key),
                ScalarValue::List(ScalarValue::new_list_nullable(&[], &DataType::Int16)),
                null_text(),
            ]
        };
        for table in &self.tables {
            for index in index_views(table).into_iter().filter(|i| i.primary) {
                rows.push(row(index.oid + 250, &index.name, "p", table, index.oid, &index.columns));
            }
            for (n, check) in table.checks.iter().enumerate() {
                rows.push(row(check_oid(table, n), &check.name, "c", table, 0, &[]));
            }
        }
        (columns, rows)
    }

    fn pg_database(&self) -> Rows {
        let columns = vec![
            ("oid", oid()),
            ("datname", text()),
            ("datdba", oid()),
            ("encoding", DataType::Int32),
            ("datlocprovider", text()),
            ("datistemplate", DataType::Boolean),
            ("datallowconn", DataType::Boolean),
            ("datconnlimit", DataType::Int32),
            ("dattablespace", oid()),
            ("datcollate", text()),
            ("datctype", text()),
            ("daticulocale", text()),
            ("datcollversion", text()),
            ("datacl", text()),
        ];
        let rows = self
            .databases
            .iter()
            .map(|d| {
                vec![
                    int(d.id as i64),
                    s(&d.name),
                    int(OWNER_OID),
                    ScalarValue::Int32(Some(UTF8_ENCODING)),
                    s("c"),
                    b(false),
                    b(true),
                    ScalarValue::Int32(Some(-1)),
                    int(DEFAULT_TABLESPACE),
                    s("C.UTF-8"),
                    s("C.UTF-8"),
                    null_text(),
                    null_text(),
                    null_text(),
                ]
            })
            .collect();
        (columns, rows)
    }

    fn schemata(&self) -> Rows {
        let columns = vec![("catalog_name", text()), ("schema_name", text()), ("schema_owner", text())];
        let rows = [PG_CATALOG, PUBLIC_SCHEMA, INFORMATION_SCHEMA]
            .iter()
            .map(|name| vec![s(&self.database), s(name), s(OWNER)])
            .collect();
        (columns, rows)
    }

    fn info_tables(&self) -> Rows {
        let columns = vec![
            ("table_catalog", text()),
            ("table_schema", text()),
            ("table_name", text()),
            ("table_type", text()),
            ("is_insertable_into", text()),
            ("is_typed", text()),
        ];
        let rows = self
            .tables
            .iter()
            .map(|t| vec![s(&self.database), s(PUBLIC_SCHEMA), s(&t.name), s("BASE TABLE"), s("YES"), s("NO")])
            .collect();
        (columns, rows)
    }

    fn info_columns(&self) -> Rows {
        let columns = vec![
            ("table_catalog", text()),
            ("table_schema", text()),
            ("table_name", text()),
            ("column_name", text()),
            ("ordinal_position", DataType::Int32),
            ("column_default", text()),
            ("is_nullable", text()),
            ("data_type", text()),
            ("character_maximum_length", DataType::Int32),
            ("numeric_precision", DataType::Int32),
            ("numeric_scale", DataType::Int32),
            ("datetime_precision", DataType::Int32),
            ("udt_name", text()),
            ("is_identity", text()),
            ("is_generated", text()),
            ("is_updatable", text()),
        ];
        let mut rows = Vec::new();
        for table in &self.tables {
            for (position, column) in table.visible_columns().enumerate() {
                let data_type = match column.ty {
                    SqlType::Varchar(_) => "character varying".to_string(),
                    SqlType::Char(_) => "character".to_string(),
                    SqlType::Numeric { .. } => "numeric".to_string(),
                    other => other.pg_name(),
                };
                let length = match column.ty {
                    SqlType::Varchar(Some(n)) | SqlType::Char(n) => Some(n as i32),
                    _ => None,
                };
                let (precision, scale) = match column.ty {
                    SqlType::Int2 => (Some(16), Some(0)),
                    SqlType::Int4 => (Some(32), Some(0)),
                    SqlType::Int8 => (Some(64), Some(0)),
                    SqlType::Float4 => (Some(24), None),
                    SqlType::Float8 => (Some(53), None),
                    SqlType::Numeric { precision, scale } => (Some(i32::from(precision)), Some(i32::from(scale))),
                    _ => (None, None),
                };
                let datetime = matches!(column.ty, SqlType::Date | SqlType::Timestamp | SqlType::TimestampTz)
                    .then_some(if column.ty == SqlType::Date { 0 } else { 6 });
                let udt = TYPES.iter().find(|t| t.0 == type_oid(column.ty)).map_or("", |t| t.1);
                rows.push(vec![
                    s(&self.database),
                    s(PUBLIC_SCHEMA),
                    s(&table.name),
                    s(&column.name),
                    ScalarValue::Int32(Some(position as i32 + 1)),
                    ScalarValue::Utf8(default_expr(table, column)),
                    s(if column.nullable { "YES" } else { "NO" }),
                    ScalarValue::Utf8(Some(data_type)),
                    ScalarValue::Int32(length),
                    ScalarValue::Int32(precision),
                    ScalarValue::Int32(scale),
                    ScalarValue::Int32(datetime),
                    s(udt),
                    s("NO"),
                    s("NEVER"),
                    s("YES"),
                ]);
            }
        }
        (columns, rows)
    }

    fn table_constraints(&self) -> Rows {
        let columns = vec![
            ("constraint_catalog", text()),
            ("constraint_schema", text()),
            ("constraint_name", text()),
            ("table_catalog", text()),
            ("table_schema", text()),
            ("table_name", text()),
            ("constraint_type", text()),
            ("is_deferrable", text()),
            ("initially_deferred", text()),
        ];
        let mut rows = Vec::new();
        let mut row = |name: &str, table: &str, kind: &str| {
            rows.push(vec![
                s(&self.database),
                s(PUBLIC_SCHEMA),
                s(name),
                s(&self.database),
                s(PUBLIC_SCHEMA),
                s(table),
                s(kind),
                s("NO"),
                s("NO"),
            ])
        };
        for table in &self.tables {
            for index in index_views(table).into_iter().filter(|i| i.primary || i.unique) {
                row(&index.name, &table.name, if index.primary { "PRIMARY KEY" } else { "UNIQUE" });
            }
            for check in &table.checks {
                row(&check.name, &table.name, "CHECK");
            }
        }
        (columns, rows)
    }

    fn key_column_usage(&self) -> Rows {
        let columns = vec![
            ("constraint_catalog", text()),
            ("constraint_schema", text()),
            ("constraint_name", text()),
            ("table_catalog", text()),
            ("table_schema", text()),
            ("table_name", text()),
            ("column_name", text()),
            ("ordinal_position", DataType::Int32),
        ];
        let mut rows = Vec::new();
        for table in &self.tables {
            for index in index_views(table).into_iter().filter(|i| i.primary || i.unique) {
                for (n, id) in index.columns.iter().enumerate() {
                    rows.push(vec![
                        s(&self.database),
                        s(PUBLIC_SCHEMA),
                        s(&index.name),
                        s(&self.database),
                        s(PUBLIC_SCHEMA),
                        s(&table.name),
                        s(table.column_name(*id)),
                        ScalarValue::Int32(Some(n as i32 + 1)),
                    ]);
                }
            }
        }
        (columns, rows)
    }
}

type Rows = (Vec<(&'static str, DataType)>, Vec<Vec<ScalarValue>>);

fn oid() -> DataType {
    DataType::Int64
}
fn text() -> DataType {
    DataType::Utf8
}
fn int2_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int16, true)))
}
/// An `int2vector`/`oidvector` as PostgreSQL prints it: `1 2`.
fn vector(values: impl IntoIterator<Item = i64>) -> ScalarValue {
    ScalarValue::Utf8(Some(values.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")))
}
fn int(v: i64) -> ScalarValue {
    ScalarValue::Int64(Some(v))
}
fn s(v: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(v.to_string()))
}
fn b(v: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(v))
}
fn null_text() -> ScalarValue {
    ScalarValue::Utf8(None)
}
fn int2_array(values: &[u32]) -> ScalarValue {
    let values: Vec<ScalarValue> = values.iter().map(|v| ScalarValue::Int16(Some(*v as i16))).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int16))
}

fn pg_type() -> Rows {
    let columns = vec![
        ("oid", oid()),
        ("typname", text()),
        ("typnamespace", oid()),
        ("typowner", oid()),
        ("typlen", DataType::Int16),
        ("typbyval", DataType::Boolean),
        ("typtype", text()),
        ("typcategory", text()),
        ("typispreferred", DataType::Boolean),
        ("typisdefined", DataType::Boolean),
        ("typdelim", text()),
        ("typrelid", oid()),
        ("typelem", oid()),
        ("typarray", oid()),
        ("typnotnull", DataType::Boolean),
        ("typbasetype", oid()),
        ("typtypmod", DataType::Int32),
        ("typndims", DataType::Int32),
        ("typcollation", oid()),
        ("typdefault", text()),
    ];
    let rows = TYPES
        .iter()
        .map(|(oid, name, length, category)| {
            let text_like = matches!(*oid, 25 | 1042 | 1043 | 19);
            vec![
                int(*oid),
                s(name),
                int(PG_CATALOG_OID),
                int(OWNER_OID),
                ScalarValue::Int16(Some(*length)),
                b(*length > 0 && *length <= 8),
                s("b"),
                s(category),
                b(false),
                b(true),
                s(","),
                int(0),
                int(0),
                int(0),
                b(false),
                int(0),
                ScalarValue::Int32(Some(-1)),
                ScalarValue::Int32(Some(0)),
                int(if text_like { DEFAULT_COLLATION } else { 0 }),
                null_text(),
            ]
        })
        .collect();
    (columns, rows)
}

fn pg_am() -> Rows {
    let columns = vec![("oid", oid()), ("amname", text()), ("amhandler", text()), ("amtype", text())];
    let rows = vec![
        vec![int(HEAP_AM), s("heap"), s("heap_tableam_handler"), s("t")],
        vec![int(BTREE_AM), s("btree"), s("bthandler"), s("i")],
    ];
    (columns, rows)
}

fn pg_roles() -> Rows {
    let columns = vec![
        ("oid", oid()),
        ("rolname", text()),
        ("rolsuper", DataType::Boolean),
        ("rolinherit", DataType::Boolean),
        ("rolcreaterole", DataType::Boolean),
        ("rolcreatedb", DataType::Boolean),
        ("rolcanlogin", DataType::Boolean),
        ("rolreplication", DataType::Boolean),
        ("rolconnlimit", DataType::Int32),
        ("rolpassword", text()),
        ("rolvaliduntil", text()),
        ("rolbypassrls", DataType::Boolean),
        ("rolconfig", text()),
    ];
    let rows = vec![vec![
        int(OWNER_OID),
        s(OWNER),
        b(true),
        b(true),
        b(true),
        b(true),
        b(true),
        b(false),
        ScalarValue::Int32(Some(-1)),
        s("********"),
        null_text(),
        b(true),
        null_text(),
    ]];
    (columns, rows)
}

fn pg_user() -> Rows {
    let columns = vec![
        ("usename", text()),
        ("usesysid", oid()),
        ("usecreatedb", DataType::Boolean),
        ("usesuper", DataType::Boolean),
        ("userepl", DataType::Boolean),
        ("usebypassrls", DataType::Boolean),
        ("passwd", text()),
        ("valuntil", text()),
        ("useconfig", text()),
    ];
    let rows = vec![vec![
        s(OWNER),
        int(OWNER_OID),
        b(true),
        b(true),
        b(false),
        b(true),
        s("********"),
        null_text(),
        null_text(),
    ]];
    (columns, rows)
}

fn pg_tablespace() -> Rows {
    let columns =
        vec![("oid", oid()), ("spcname", text()), ("spcowner", oid()), ("spcacl", text()), ("spcoptions", text())];
    let rows = vec![vec![int(DEFAULT_TABLESPACE), s("pg_default"), int(OWNER_OID), null_text(), null_text()]];
    (columns, rows)
}

/// The default btree operator class of every type (the only kind of index Atoll has).
fn pg_opclass() -> Rows {
    let columns = vec![
        ("oid", oid()),
        ("opcmethod", oid()),
        ("opcname", text()),
        ("opcnamespace", oid()),
        ("opcowner", oid()),
        ("opcdefault", DataType::Boolean),
        ("opcintype", oid()),
    ];
    let rows = TYPES
        .iter()
        .map(|(type_oid, name, _, _)| {
            vec![
                int(10000 + type_oid),
                int(BTREE_AM),
                ScalarValue::Utf8(Some(format!("{name}_ops"))),
                int(PG_CATALOG_OID),
                int(OWNER_OID),
                b(true),
                int(*type_oid),
            ]
        })
        .collect();
    (columns, rows)
}

fn pg_collation() -> Rows {
    let columns = vec![
        ("oid", oid()),
        ("collname", text()),
        ("collnamespace", oid()),
        ("collowner", oid()),
        ("collprovider", text()),
        ("collisdeterministic", DataType::Boolean),
        ("collencoding", DataType::Int32),
        ("collcollate", text()),
        ("collctype", text()),
    ];
    let rows = [(DEFAULT_COLLATION, "default", "d"), (950, "C", "c"), (951, "POSIX", "c")]
        .iter()
        .map(|(oid, name, provider)| {
            vec![
                int(*oid),
                s(name),
                int(PG_CATALOG_OID),
                int(OWNER_OID),
                s(provider),
                b(true),
                ScalarValue::Int32(Some(-1)),
                s("C"),
                s("C"),
            ]
        })
        .collect();
    (columns, rows)
}

/// Catalogs Atoll has no objects for: their columns, so queries over them plan and return
/// no rows.
fn empty_table(name: &str) -> Option<Vec<(&'static str, DataType)>> {
    let o = oid;
    let t = text;
    let bool = || DataType::Boolean;
    let i32 = || DataType::Int32;
    let columns = match name {
        "pg_description" => vec![("objoid", o()), ("classoid", o()), ("objsubid", i32()), ("description", t())],
        "pg_shdescription" => vec![("objoid", o()), ("classoid", o()), ("description", t())],
        "pg_inherits" => {
            vec![("inhrelid", o()), ("inhparent", o()), ("inhseqno", i32()), ("inhdetachpending", bool())]
        }
        "pg_policy" => vec![
            ("oid", o()),
            ("polname", t()),
            ("polrelid", o()),
            ("polcmd", t()),
            ("polpermissive", bool()),
            ("polroles", DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true)))),
            ("polqual", t()),
            ("polwithcheck", t()),
        ],
        "pg_trigger" => vec![
            ("oid", o()),
            ("tgrelid", o()),
            ("tgparentid", o()),
            ("tgname", t()),
            ("tgfoid", o()),
            ("tgtype", DataType::Int16),
            ("tgenabled", t()),
            ("tgisinternal", bool()),
            ("tgconstrrelid", o()),
            ("tgconstrindid", o()),
            ("tgconstraint", o()),
            ("tgdeferrable", bool()),
            ("tginitdeferred", bool()),
            ("tgnargs", DataType::Int16),
            ("tgattr", t()),
            ("tgargs", t()),
            ("tgqual", t()),
            ("tgoldtable", t()),
            ("tgnewtable", t()),
        ],
        "pg_statistic_ext" => vec![
            ("oid", o()),
            ("stxrelid", o()),
            ("stxname", t()),
            ("stxnamespace", o()),
            ("stxowner", o()),
            ("stxstattarget", i32()),
            ("stxkeys", t()),
            ("stxkind", t()),
            ("stxexprs", t()),
        ],
        "pg_publication" => vec![
            ("oid", o()),
            ("pubname", t()),
            ("pubowner", o()),
            ("puballtables", bool()),
            ("pubinsert", bool()),
            ("pubupdate", bool()),
            ("pubdelete", bool()),
            ("pubtruncate", bool()),
            ("pubviaroot", bool()),
        ],
        "pg_publication_rel" => {
            vec![("oid", o()), ("prpubid", o()), ("prrelid", o()), ("prqual", t()), ("prattrs", t())]
        }
        "pg_publication_namespace" => vec![("oid", o()), ("pnpubid", o()), ("pnnspid", o())],
        "pg_foreign_table" => vec![("ftrelid", o()), ("ftserver", o()), ("ftoptions", t())],
        "pg_partitioned_table" => vec![
            ("partrelid", o()),
            ("partstrat", t()),
            ("partnatts", DataType::Int16),
            ("partdefid", o()),
            ("partattrs", t()),
        ],
        "pg_enum" => vec![("oid", o()), ("enumtypid", o()), ("enumsortorder", DataType::Float32), ("enumlabel", t())],
        "pg_sequence" => vec![
            ("seqrelid", o()),
            ("seqtypid", o()),
            ("seqstart", DataType::Int64),
            ("seqincrement", DataType::Int64),
            ("seqmax", DataType::Int64),
            ("seqmin", DataType::Int64),
            ("seqcache", DataType::Int64),
            ("seqcycle", bool()),
        ],
        "pg_extension" => vec![
            ("oid", o()),
            ("extname", t()),
            ("extowner", o()),
            ("extnamespace", o()),
            ("extrelocatable", bool()),
            ("extversion", t()),
        ],
        "pg_proc" => vec![
            ("oid", o()),
            ("proname", t()),
            ("pronamespace", o()),
            ("proowner", o()),
            ("prokind", t()),
            ("prorettype", o()),
            ("proargtypes", t()),
        ],
        "pg_views" => vec![("schemaname", t()), ("viewname", t()), ("viewowner", t()), ("definition", t())],
        "pg_matviews" => vec![("schemaname", t()), ("matviewname", t()), ("matviewowner", t()), ("definition", t())],
        "views" => vec![("table_catalog", t()), ("table_schema", t()), ("table_name", t()), ("view_definition", t())],
        "referential_constraints" => vec![
            ("constraint_catalog", t()),
            ("constraint_schema", t()),
            ("constraint_name", t()),
            ("unique_constraint_schema", t()),
            ("unique_constraint_name", t()),
            ("update_rule", t()),
            ("delete_rule", t()),
        ],
        _ => return None,
    };
    Some(columns)
}

/// Tables of `pg_catalog`, for unqualified names and `table_names()`.
const PG_TABLES: &[&str] = &[
    "pg_namespace",
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_index",
    "pg_constraint",
    "pg_type",
    "pg_database",
    "pg_am",
    "pg_roles",
    "pg_authid",
    "pg_user",
    "pg_tablespace",
    "pg_collation",
    "pg_opclass",
    "pg_description",
    "pg_shdescription",
    "pg_inherits",
    "pg_policy",
    "pg_trigger",
    "pg_statistic_ext",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_foreign_table",
    "pg_partitioned_table",
    "pg_enum",
    "pg_sequence",
    "pg_extension",
    "pg_proc",
    "pg_views",
    "pg_matviews",
];

const INFO_TABLES: &[&str] =
    &["schemata", "tables", "columns", "table_constraints", "key_column_usage", "views", "referential_constraints"];

fn mem_table(columns: Vec<(&str, DataType)>, rows: Vec<Vec<ScalarValue>>) -> DfResult<Arc<dyn TableProvider>> {
    let schema: SchemaRef =
        Arc::new(Schema::new(columns.iter().map(|(name, ty)| Field::new(*name, ty.clone(), true)).collect::<Vec<_>>()));
    let mut arrays: Vec<ArrayRef> = Vec::with_capacity(columns.len());
    for (i, (_, ty)) in columns.iter().enumerate() {
        arrays.push(if rows.is_empty() {
            new_empty_array(ty)
        } else {
            ScalarValue::iter_to_array(rows.iter().map(|row| row[i].clone()))?
        });
    }
    let batch = RecordBatch::try_new(schema.clone(), arrays)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}

/// What the catalog schemas and functions of one session share: how to read the catalog,
/// and the definitions of the snapshot the current statement read.
pub struct PgState {
    pub txn: Arc<TxnCell>,
    pub database: u64,
    pub database_name: String,
    snapshot: Mutex<Arc<Snapshot>>,
}

impl PgState {
    pub fn new(txn: Arc<TxnCell>, database: u64, database_name: &str) -> Arc<PgState> {
        Arc::new(PgState {
            txn,
            database,
            database_name: database_name.to_string(),
            snapshot: Mutex::new(Arc::new(Snapshot::default())),
        })
    }

    /// Reads the catalog through the statement's transaction, with the session's settings
    /// (once per statement that names a catalog table or function).
    pub async fn refresh(&self, settings: &BTreeMap<String, String>) -> crate::error::Result<()> {
        let snapshot = {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no open transaction"))?;
            Snapshot::load(txn, self.database, &self.database_name, settings.clone()).await?
        };
        *self.snapshot.lock().unwrap_or_else(|e| e.into_inner()) = Arc::new(snapshot);
        Ok(())
    }

    fn current(&self) -> Arc<Snapshot> {
        self.snapshot.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `pg_catalog` or `information_schema`.
pub struct PgSchema {
    pub state: Arc<PgState>,
    pub name: &'static str,
}

impl fmt::Debug for PgSchema {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgSchema({})", self.name)
    }
}

impl PgSchema {
    fn names(&self) -> &'static [&'static str] {
        if self.name == PG_CATALOG {
            PG_TABLES
        } else {
            INFO_TABLES
        }
    }
}

#[async_trait]
impl SchemaProvider for PgSchema {
    fn table_names(&self) -> Vec<String> {
        self.names().iter().map(|n| n.to_string()).collect()
    }

    async fn table(&self, name: &str) -> DfResult<Option<Arc<dyn TableProvider>>> {
        if !self.names().contains(&name) {
            return Ok(None);
        }
        let snapshot = self.state.current();
        match snapshot.table(name) {
            Some((columns, rows)) => Ok(Some(mem_table(columns, rows)?)),
            None => Ok(None),
        }
    }

    fn table_exist(&self, name: &str) -> bool {
        self.names().contains(&name)
    }
}

/// The catalog functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Function {
    GetUserById,
    Visible,
    FormatType,
    GetExpr,
    GetIndexdef,
    GetConstraintdef,
    EncodingToChar,
    NoDescription,
    CurrentSchema,
    CurrentDatabase,
    CurrentUser,
    Version,
    HasPrivilege,
    PartitionAncestors,
    ArrayToString,
    Regclass,
    RegclassName,
    Regtype,
    RegtypeName,
    ToRegtype,
    ToRegclass,
    JsonBuildObject,
    IntVector,
    BackendPid,
    InRecovery,
    SerialSequence,
    CurrentSetting,
}

const FUNCTIONS: &[(&str, Function)] = &[
    ("pg_get_userbyid", Function::GetUserById),
    ("pg_table_is_visible", Function::Visible),
    ("pg_type_is_visible", Function::Visible),
    ("pg_function_is_visible", Function::Visible),
    ("pg_collation_is_visible", Function::Visible),
    ("json_build_object", Function::JsonBuildObject),
    ("atoll_int_vector", Function::IntVector),
    ("current_setting", Function::CurrentSetting),
    ("format_type", Function::FormatType),
    ("pg_get_expr", Function::GetExpr),
    ("pg_get_indexdef", Function::GetIndexdef),
    ("pg_get_constraintdef", Function::GetConstraintdef),
    ("pg_encoding_to_char", Function::EncodingToChar),
    ("obj_description", Function::NoDescription),
    ("col_description", Function::NoDescription),
    ("shobj_description", Function::NoDescription),
    ("current_schema", Function::CurrentSchema),
    ("current_database", Function::CurrentDatabase),
    ("current_user", Function::CurrentUser),
    ("session_user", Function::CurrentUser),
    ("user", Function::CurrentUser),
    ("version", Function::Version),
    ("has_table_privilege", Function::HasPrivilege),
    ("has_schema_privilege", Function::HasPrivilege),
    ("has_database_privilege", Function::HasPrivilege),
    ("has_column_privilege", Function::HasPrivilege),
    ("pg_partition_ancestors", Function::PartitionAncestors),
    ("array_to_string", Function::ArrayToString),
    ("atoll_regclass", Function::Regclass),
    ("atoll_regclass_name", Function::RegclassName),
    ("atoll_regtype", Function::Regtype),
    ("to_regtype", Function::ToRegtype),
    ("to_regclass", Function::ToRegclass),
    ("atoll_regtype_name", Function::RegtypeName),
    ("pg_backend_pid", Function::BackendPid),
    ("pg_is_in_recovery", Function::InRecovery),
    ("pg_get_serial_sequence", Function::SerialSequence),
];

struct PgFunction {
    name: &'static str,
    function: Function,
    signature: Signature,
    state: Arc<PgState>,
}

impl fmt::Debug for PgFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgFunction({})", self.name)
    }
}

impl PartialEq for PgFunction {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for PgFunction {}
impl Hash for PgFunction {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.name.hash(state)
    }
}

fn int_arg(value: &ScalarValue) -> Option<i64> {
    match value {
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            s.trim().parse().ok()
        }
        other if other.is_null() => None,
        other => other.cast_to(&DataType::Int64).ok().and_then(|v| match v {
            ScalarValue::Int64(v) => v,
            _ => None,
        }),
    }
}

fn text_arg(value: &ScalarValue) -> Option<String> {
    match value {
        v if v.is_null() => None,
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Some(s.clone())
        }
        other => Some(other.to_string()),
    }
}

fn json_value(value: &ScalarValue) -> serde_json::Value {
    use serde_json::Value;
    match value {
        v if v.is_null() => Value::Null,
        ScalarValue::Boolean(Some(b)) => Value::Bool(*b),
        ScalarValue::Int8(Some(_))
        | ScalarValue::Int16(Some(_))
        | ScalarValue::Int32(Some(_))
        | ScalarValue::Int64(Some(_))
        | ScalarValue::UInt8(Some(_))
        | ScalarValue::UInt16(Some(_))
        | ScalarValue::UInt32(Some(_))
        | ScalarValue::UInt64(Some(_))
        | ScalarValue::Float32(Some(_))
        | ScalarValue::Float64(Some(_))
        | ScalarValue::Decimal128(Some(_), _, _) => {
            serde_json::from_str(&value.to_string()).unwrap_or_else(|_| Value::String(value.to_string()))
        }
        other => Value::String(text_arg(other).unwrap_or_default()),
    }
}

impl PgFunction {
    fn returns(&self) -> DataType {
        match self.function {
            Function::Visible | Function::HasPrivilege | Function::InRecovery => DataType::Boolean,
            Function::PartitionAncestors
            | Function::Regclass
            | Function::Regtype
            | Function::ToRegtype
            | Function::ToRegclass => DataType::Int64,
            Function::BackendPid => DataType::Int32,
            Function::IntVector => DataType::List(Arc::new(Field::new_list_field(DataType::Int64, true))),
            _ => DataType::Utf8,
        }
    }

    /// One row: the arguments' values to the result.
    fn call(&self, args: &[ScalarValue], snapshot: &Snapshot) -> DfResult<ScalarValue> {
        let arg = |i: usize| args.get(i).cloned().unwrap_or(ScalarValue::Null);
        let any_null = args.iter().any(|a| a.is_null());
        let text = |v: Option<String>| ScalarValue::Utf8(v);
        Ok(match self.function {
            Function::GetUserById => text((!any_null).then(|| OWNER.to_string())),
            Function::Visible | Function::HasPrivilege => ScalarValue::Boolean((!any_null).then_some(true)),
            Function::InRecovery => ScalarValue::Boolean(Some(false)),
            Function::FormatType => {
                let oid = int_arg(&arg(0));
                let typmod = int_arg(&arg(1)).unwrap_or(-1) as i32;
                text(oid.map(|oid| format_type(oid, typmod)))
            }
            Function::GetExpr => text(text_arg(&arg(0))),
            Function::GetIndexdef => {
                let oid = int_arg(&arg(0));
                let column = int_arg(&arg(1)).unwrap_or(0);
                let definition = oid.and_then(|oid| snapshot.definitions.get(&oid));
                if column > 0 {
                    // The name of the index's nth column.
                    let name = definition.and_then(|d| {
                        let inside = d.rsplit_once('(')?.1.trim_end_matches(')');
                        inside.split(", ").nth(column as usize - 1).map(str::to_string)
                    });
                    text(name)
                } else {
                    text(definition.cloned())
                }
            }
            Function::GetConstraintdef => {
                text(int_arg(&arg(0)).and_then(|oid| snapshot.definitions.get(&oid).cloned()))
            }
            Function::EncodingToChar => text(int_arg(&arg(0)).map(|e| {
                if e == i64::from(UTF8_ENCODING) {
                    "UTF8".to_string()
                } else {
                    String::new()
                }
            })),
            Function::NoDescription | Function::SerialSequence => text(None),
            Function::CurrentSchema => text(Some(PUBLIC_SCHEMA.to_string())),
            Function::CurrentDatabase => text(Some(self.state.database_name.clone())),
            Function::CurrentUser => text(Some(OWNER.to_string())),
            Function::Version => text(Some(format!(
                "PostgreSQL {} (Atoll {}) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit",
                crate::SERVER_VERSION,
                env!("CARGO_PKG_VERSION")
            ))),
            Function::PartitionAncestors => ScalarValue::Int64(int_arg(&arg(0))),
            Function::ArrayToString => {
                let separator = text_arg(&arg(1)).unwrap_or_default();
                match arg(0) {
                    v if v.is_null() => text(None),
                    ScalarValue::List(list) => {
                        let mut items = Vec::new();
                        if !datafusion::arrow::array::Array::is_empty(&*list) {
                            let elements = list.value(0);
                            for i in 0..elements.len() {
                                if let Some(item) = text_arg(&ScalarValue::try_from_array(&elements, i)?) {
                                    items.push(item);
                                }
                            }
                        }
                        text(Some(items.join(&separator)))
                    }
                    other => text(text_arg(&other)),
                }
            }
            Function::Regclass => ScalarValue::Int64(snapshot.regclass(&arg(0))?),
            Function::RegclassName => {
                let oid = snapshot.regclass(&arg(0))?;
                text(oid.map(|oid| {
                    let name = snapshot.relations.iter().find(|(_, o)| **o == oid).map(|(n, _)| quote(n));
                    name.unwrap_or_else(|| oid.to_string())
                }))
            }
            Function::Regtype => ScalarValue::Int64(regtype(&arg(0))?),
            // The to_reg* forms answer NULL where the casts fail.
            Function::ToRegtype => ScalarValue::Int64(regtype(&arg(0)).ok().flatten()),
            Function::ToRegclass => ScalarValue::Int64(snapshot.regclass(&arg(0)).ok().flatten()),
            Function::RegtypeName => text(regtype(&arg(0))?.map(|oid| format_type(oid, -1))),
            Function::BackendPid => ScalarValue::Int32(Some(std::process::id() as i32)),
            Function::CurrentSetting => match text_arg(&arg(0)) {
                None => text(None),
                Some(name) => match snapshot.settings.get(&name.to_lowercase()) {
                    Some(value) => text(Some(value.clone())),
                    // current_setting(name, missing_ok)
                    None if args.get(1).is_some_and(|v| v == &ScalarValue::Boolean(Some(true))) => text(None),
                    None => {
                        return Err(SqlError::new(
                            crate::error::code::UNDEFINED_OBJECT,
                            format!("unrecognized configuration parameter \"{name}\""),
                        )
                        .into())
                    }
                },
            },
            Function::IntVector => match text_arg(&arg(0)) {
                None => {
                    ScalarValue::List(ScalarValue::new_list_nullable(&[], &DataType::Int64)).cast_to(&self.returns())?
                }
                Some(text) => {
                    let values: Vec<ScalarValue> =
                        text.split_whitespace().map(|v| ScalarValue::Int64(v.parse().ok())).collect();
                    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int64))
                }
            },
            Function::JsonBuildObject => {
                if !args.len().is_multiple_of(2) {
                    return Err(SqlError::new(
                        crate::error::code::INVALID_PARAMETER_VALUE,
                        "argument list must have even number of elements",
                    )
                    .into());
                }
                let mut object = serde_json::Map::new();
                for pair in args.chunks(2) {
                    let key = text_arg(&pair[0]).ok_or_else(|| {
                        SqlError::new(
                            crate::error::code::INVALID_PARAMETER_VALUE,
                            "null value not allowed for object key",
                        )
                    })?;
                    object.insert(key, json_value(&pair[1]));
                }
                text(Some(serde_json::Value::Object(object).to_string()))
            }
        })
    }
}

impl ScalarUDFImpl for PgFunction {
    fn name(&self) -> &str {
        self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.returns())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays: Vec<ArrayRef> = args.args.iter().map(|a| a.to_array(rows)).collect::<DfResult<_>>()?;
        let snapshot = self.state.current();
        let mut out = Vec::with_capacity(rows);
        for row in 0..rows {
            let values: Vec<ScalarValue> =
                arrays.iter().map(|a| ScalarValue::try_from_array(a, row)).collect::<DfResult<_>>()?;
            out.push(self.call(&values, &snapshot)?);
        }
        if out.is_empty() {
            return Ok(ColumnarValue::Array(new_empty_array(&self.returns())));
        }
        Ok(ColumnarValue::Array(ScalarValue::iter_to_array(out)?))
    }
}

/// `pg_partition_ancestors(oid)` in FROM: a table that is not a partition is its own only
/// ancestor.
#[derive(Debug)]
struct PartitionAncestors;

impl TableFunctionImpl for PartitionAncestors {
    fn call(&self, args: &[DfExpr]) -> DfResult<Arc<dyn TableProvider>> {
        let relid = match args.first() {
            Some(DfExpr::Literal(value, _)) => int_arg(value),
            _ => None,
        };
        mem_table(vec![("relid", oid())], vec![vec![ScalarValue::Int64(relid)]])
    }
}

/// Adds the catalog functions to a session's context.
pub fn register_functions(ctx: &SessionContext, state: &Arc<PgState>) {
    for (name, function) in FUNCTIONS {
        let signature = match function {
            Function::CurrentSchema
            | Function::CurrentDatabase
            | Function::CurrentUser
            | Function::Version
            | Function::BackendPid
            | Function::InRecovery => Signature::nullary(Volatility::Stable),
            _ => Signature::variadic_any(Volatility::Stable),
        };
        ctx.register_udf(ScalarUDF::new_from_impl(PgFunction {
            name,
            function: *function,
            signature,
            state: state.clone(),
        }));
    }
    ctx.register_udtf("pg_partition_ancestors", Arc::new(PartitionAncestors));
}

fn is_pg_function(name: &str) -> bool {
    FUNCTIONS.iter().any(|(n, _)| *n == name)
}

fn ident_value(part: &ObjectNamePart) -> Option<String> {
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
    let _ = statement.visit(&mut RowlessCatalogs);
    let _ = visit_expressions_mut(statement, |expr: &mut Expr| {
        match expr {
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
fn rowless(name: &ObjectName) -> bool {
    let parts: Vec<String> = name.0.iter().filter_map(ident_value).collect();
    matches!(parts.as_slice(), [schema, table] if schema == PG_CATALOG && empty_table(table).is_some())
}

/// A SELECT that inner-joins a rowless catalog (and is not aggregated) returns no rows, so
/// its projected expressions and its WHERE are never evaluated: they become NULL (under the
/// same column names) and FALSE, which changes no answer and spares planning what the engine
/// does not have (psql's `array(select rolname ... where oid = any (pol.polroles))` over
/// `pg_policy`, `pg_get_statisticsobjdef_columns(oid)` over `pg_statistic_ext`).
struct RowlessCatalogs;

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
fn empty_rowless_selects(body: &mut ast::SetExpr) -> bool {
    match body {
        ast::SetExpr::Select(select) => empty_rowless_select(select),
        ast::SetExpr::SetOperation { left, right, .. } => {
            let left = empty_rowless_selects(left);
            empty_rowless_selects(right) && left
        }
        _ => false,
    }
}

fn empty_rowless_select(select: &mut ast::Select) -> bool {
    {
        let grouped = match &select.group_by {
            ast::GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
            ast::GroupByExpr::All(_) => true,
        };
        let inner_only = select.from.iter().all(|from| {
            from.joins
                .iter()
                .all(|j| matches!(j.join_operator, ast::JoinOperator::Inner(_) | ast::JoinOperator::Join(_)))
        });
        let joins_rowless = select.from.iter().any(|from| {
            std::iter::once(&from.relation)
                .chain(from.joins.iter().map(|j| &j.relation))
                .any(|r| matches!(r, ast::TableFactor::Table { name, args: None, .. } if rowless(name)))
        });
        if grouped || select.having.is_some() || !inner_only || !joins_rowless {
            return false;
        }
        for item in &mut select.projection {
            let expr = match item {
                ast::SelectItem::UnnamedExpr(expr) | ast::SelectItem::ExprWithAlias { expr, .. } => expr,
                _ => continue,
            };
            // An aggregate makes one row of none (`SELECT count(*) ..`); one inside a
            // subquery does not.
            let mut outer = expr.clone();
            let _ = visit_expressions_mut(&mut outer, |e: &mut Expr| {
                if matches!(e, Expr::Subquery(_)) {
                    *e = Expr::value(ast::Value::Null);
                }
                ControlFlow::<()>::Continue(())
            });
            let text = outer.to_string().to_lowercase();
            if ["count(", "max(", "min(", "sum(", "avg(", "_agg("].iter().any(|f| text.contains(f)) {
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
                            Expr::CompoundIdentifier(parts) => {
                                parts.last().map(|p| p.value.clone()).unwrap_or_default()
                            }
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
    }
    true
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
fn aggregate_catalog_lookup(query: &mut ast::Query) -> Option<String> {
    let ast::SetExpr::Select(select) = query.body.as_mut() else { return None };
    let grouped = match &select.group_by {
        ast::GroupByExpr::Expressions(exprs, _) => !exprs.is_empty(),
        ast::GroupByExpr::All(_) => true,
    };
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
    if grouped || local.is_empty() || select.projection.len() != 1 {
        return None;
    }
    let projected = match &mut select.projection[0] {
        ast::SelectItem::UnnamedExpr(expr) | ast::SelectItem::ExprWithAlias { expr, .. } => expr,
        _ => return None,
    };
    let text = projected.to_string().to_lowercase();
    let aggregated_already =
        ["count(", "max(", "min(", "sum(", "avg(", "array_agg(", "string_agg(", "bool_and(", "bool_or("]
            .iter()
            .any(|f| text.contains(f));
    if aggregated_already {
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

fn conjuncts(expr: Expr, out: &mut Vec<Expr>) {
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
fn qualifiers(expr: &Expr) -> Vec<String> {
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

enum CatalogType {
    Regclass,
    Regtype,
    Oid,
    Text,
}

/// Types that exist only in PostgreSQL's catalogs, and `pg_catalog.`-qualified spellings of
/// common ones.
fn catalog_type(data_type: &ast::DataType) -> Option<CatalogType> {
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

fn parse_expr(sql: &str) -> Option<Expr> {
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
    fn format_type_prints_modifiers() {
        assert_eq!(format_type(1043, 14), "character varying(10)");
        assert_eq!(format_type(1700, typmod(SqlType::Numeric { precision: 12, scale: 2 })), "numeric(12,2)");
        assert_eq!(format_type(23, -1), "integer");
        assert_eq!(format_type(1042, typmod(SqlType::Char(3))), "character(3)");
    }
}
