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
use crate::privileges;
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

mod functions;
mod rewrite;
mod tables;

pub use functions::register_functions;
use functions::*;
pub use rewrite::rewrite;
use tables::*;

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
    /// The cluster's roles (`CREATE ROLE`), for `pg_roles` and psql's `\du`.
    roles: Vec<catalog::RoleDesc>,
    /// The `public` schema's access list, if a GRANT or REVOKE changed it.
    schema_acl: Option<Vec<crate::privileges::AclItem>>,
    /// The settings of `ALTER ROLE ALL SET`.
    all_roles_settings: Vec<(String, String)>,
    /// The access lists GRANT or REVOKE changed, by database id.
    database_acls: HashMap<u64, Vec<crate::privileges::AclItem>>,
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
        let roles = catalog::list_roles(txn).await?;
        let all_roles_settings = catalog::role_defaults(txn).await?;
        let (mut schema_acl, mut database_acls) = (None, HashMap::new());
        for (object, acl) in catalog::object_acls(txn).await? {
            match object {
                catalog::AclObject::Database(id) => {
                    database_acls.insert(id, acl);
                }
                catalog::AclObject::Schema(id) if id == database => schema_acl = Some(acl),
                catalog::AclObject::Schema(_) => {}
            }
        }
        let mut snapshot = Snapshot {
            database: database_name.to_string(),
            databases,
            tables,
            settings,
            roles,
            schema_acl,
            database_acls,
            all_roles_settings,
            ..Default::default()
        };
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
            "pg_roles" | "pg_authid" => pg_roles(&self.roles),
            "pg_user" => pg_user(&self.roles),
            "pg_auth_members" => self.pg_auth_members(),
            "pg_db_role_setting" => self.pg_db_role_setting(),
            "pg_tablespace" => pg_tablespace(),
            "pg_collation" => pg_collation(),
            "pg_opclass" => pg_opclass(),
            "schemata" => self.schemata(),
            "tables" => self.info_tables(),
            "columns" => self.info_columns(),
            "table_constraints" => self.table_constraints(),
            "key_column_usage" => self.key_column_usage(),
            "table_privileges" => self.table_privileges(),
            _ => return empty_table(name).map(|columns| (columns, Vec::new())),
        };
        Some(rows)
    }
}

fn mem_table(columns: Vec<(&str, DataType)>, rows: Vec<Vec<ScalarValue>>) -> DfResult<Arc<dyn TableProvider>> {
    let field = |name: &str, ty: &DataType| match (ty, catalog_text_type(name)) {
        (DataType::Utf8, Some(pg_type)) => crate::types::text_field_of_type(name, &pg_type),
        _ => Field::new(name, ty.clone(), true),
    };
    let schema: SchemaRef = Arc::new(Schema::new(columns.iter().map(|(name, ty)| field(name, ty)).collect::<Vec<_>>()));
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
    /// The session's login, the role it acts as (`SET ROLE`, else the login) and whether that
    /// is a superuser (`session_user`, `current_user`, `has_*_privilege`).
    login: Mutex<(String, String, bool)>,
}

impl PgState {
    pub fn new(txn: Arc<TxnCell>, database: u64, database_name: &str) -> Arc<PgState> {
        Arc::new(PgState {
            txn,
            database,
            database_name: database_name.to_string(),
            snapshot: Mutex::new(Arc::new(Snapshot::default())),
            login: Mutex::new((OWNER.to_string(), OWNER.to_string(), true)),
        })
    }

    /// Who the session runs as (see `Session::log_in` and `Session::act_as`).
    pub fn log_in(&self, session_user: &str, current_user: &str, superuser: bool) {
        *self.login.lock().unwrap_or_else(|e| e.into_inner()) =
            (session_user.to_string(), current_user.to_string(), superuser);
    }

    /// The role whose privileges the session has, and whether it is a superuser.
    fn current_user(&self) -> (String, bool) {
        let login = self.login.lock().unwrap_or_else(|e| e.into_inner());
        (login.1.clone(), login.2)
    }

    fn session_user(&self) -> String {
        self.login.lock().unwrap_or_else(|e| e.into_inner()).0.clone()
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

/// The PostgreSQL type of a catalog column Atoll holds as text, when it is not `text`: `name`
/// for identifiers (information_schema's `sql_identifier` is a domain over `name`, and
/// PostgreSQL sends a domain's base type), `"char"` for one-letter codes, `varchar` for
/// information_schema's `character_data` and `yes_or_no`. Catalog column names say which.
fn catalog_text_type(column: &str) -> Option<pgwire::api::Type> {
    use pgwire::api::Type;
    match column {
        "relname" | "nspname" | "attname" | "typname" | "datname" | "rolname" | "usename" | "proname" | "conname"
        | "amname" | "spcname" | "collname" | "opcname" | "polname" | "extname" | "lanname" | "table_catalog"
        | "table_schema" | "table_name" | "column_name" | "constraint_catalog" | "constraint_schema"
        | "constraint_name" | "udt_catalog" | "udt_schema" | "udt_name" | "catalog_name" | "schema_name"
        | "schema_owner" | "grantor" | "grantee" => Some(Type::NAME),
        "relkind" | "relpersistence" | "relreplident" | "typtype" | "typcategory" | "typdelim" | "typalign"
        | "typstorage" | "attalign" | "attstorage" | "attidentity" | "attgenerated" | "attcompression" | "contype"
        | "confupdtype" | "confdeltype" | "confmatchtype" | "prokind" | "provolatile" | "proparallel" | "amtype"
        | "collprovider" | "datlocprovider" | "polcmd" => Some(Type::CHAR),
        "is_nullable" | "data_type" | "is_identity" | "is_generated" | "is_updatable" | "is_insertable_into"
        | "is_typed" | "table_type" | "constraint_type" | "is_deferrable" | "initially_deferred" | "column_default"
        | "privilege_type" | "is_grantable" | "with_hierarchy" => Some(Type::VARCHAR),
        _ => None,
    }
}
