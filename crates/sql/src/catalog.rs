//! The catalog: databases and tables as JSON descriptors in the KV, read and written through
//! the statement's transaction, so DDL is replicated and transactional like any row.
//!
//! ```text
//! 0xFF 'c' "db" 0x00 <name>                      DatabaseDesc
//! 0xFF 'c' "tb" 0x00 <database id: u64 BE> <name> TableDesc
//! 0xFF 'c' "id"                                   the last allocated descriptor id
//! 0xFF 'c' "sq" 0x00 <table id> <column id>       a serial column's last value
//! 0xFF 'c' "ro" 0x00 <name>                      RoleDesc
//! 0xFF 'c' "rs" 0x00 <setting>                   a setting's default for every role
//! 0xFF 'c' "pv" 0x00 ('d' | 's') <database id>   a database's or its schema's access list
//! ```

use crate::encoding::{self, CATALOG_TAG, SQL_PREFIX};
use crate::error::{code, Result, SqlError};
use crate::kv::{NodeKv, Txn};
use crate::privileges::AclItem;
use crate::types::SqlType;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// The database every cluster has; clients that name none connect to it.
pub const DEFAULT_DATABASE: &str = "postgres";
/// Its id; ids of created objects start above it.
const DEFAULT_DATABASE_ID: u64 = 1;
/// The only schema tables live in.
pub const PUBLIC_SCHEMA: &str = "public";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DatabaseDesc {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnDesc {
    pub id: u32,
    pub name: String,
    pub ty: SqlType,
    pub nullable: bool,
    /// The DEFAULT expression as SQL text.
    pub default: Option<String>,
    /// Takes its default from the column's sequence (serial / identity).
    pub serial: bool,
    /// The hidden row id of a table declared without a primary key.
    pub hidden: bool,
    /// Dropped by ALTER TABLE; kept so old rows still decode.
    pub dropped: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexDesc {
    pub id: u32,
    pub name: String,
    pub columns: Vec<u32>,
    pub unique: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDesc {
    pub name: String,
    pub expr: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableDesc {
    pub id: u64,
    pub database: u64,
    pub name: String,
    pub columns: Vec<ColumnDesc>,
    /// Column ids of the primary key, in key order.
    pub primary_key: Vec<u32>,
    pub primary_key_name: String,
    pub indexes: Vec<IndexDesc>,
    pub checks: Vec<CheckDesc>,
    pub next_column_id: u32,
    pub next_index_id: u32,
    /// The role that created the table (tables from before owners existed belong to root).
    #[serde(default = "root_owner")]
    pub owner: String,
    /// Who may do what (`GRANT` / `REVOKE`); `None` until the first of them, meaning the
    /// default: the owner may do everything, nobody else anything.
    #[serde(default)]
    pub acl: Option<Vec<AclItem>>,
    /// Which accesses to the table go to the audit log (`ALTER TABLE t SET (audit = ...)`).
    #[serde(default)]
    pub audit: TableAudit,
}

/// Which accesses of a table the audit log records, besides DDL (see `crate::audit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableAudit {
    #[default]
    Off,
    /// INSERT, UPDATE, DELETE, TRUNCATE and COPY FROM.
    Write,
    /// Every read as well.
    All,
}

impl TableAudit {
    pub fn parse(value: &str) -> Option<TableAudit> {
        match value.to_lowercase().as_str() {
            "off" => Some(TableAudit::Off),
            "write" => Some(TableAudit::Write),
            "all" => Some(TableAudit::All),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            TableAudit::Off => "off",
            TableAudit::Write => "write",
            TableAudit::All => "all",
        }
    }
}

fn root_owner() -> String {
    ROOT_ROLE.to_string()
}

impl TableDesc {
    /// Columns a query sees, in declaration order.
    pub fn visible_columns(&self) -> impl Iterator<Item = &ColumnDesc> {
        self.columns.iter().filter(|c| !c.dropped && !c.hidden)
    }

    /// Columns stored in rows now (visible and hidden).
    pub fn live_columns(&self) -> impl Iterator<Item = &ColumnDesc> {
        self.columns.iter().filter(|c| !c.dropped)
    }

    /// Every column ever stored, for decoding rows (id and type).
    pub fn storage_columns(&self) -> Vec<(u32, SqlType)> {
        self.columns.iter().map(|c| (c.id, c.ty)).collect()
    }

    pub fn column(&self, name: &str) -> Option<&ColumnDesc> {
        self.columns.iter().find(|c| !c.dropped && c.name == name)
    }

    pub fn column_by_id(&self, id: u32) -> Option<&ColumnDesc> {
        self.columns.iter().find(|c| c.id == id)
    }

    pub fn column_name(&self, id: u32) -> &str {
        self.column_by_id(id).map_or("?", |c| c.name.as_str())
    }

    pub fn index(&self, name: &str) -> Option<&IndexDesc> {
        self.indexes.iter().find(|i| i.name == name)
    }
}

pub(crate) fn catalog_key(parts: &[&[u8]]) -> Vec<u8> {
    let mut key = vec![SQL_PREFIX, CATALOG_TAG];
    for part in parts {
        key.extend_from_slice(part);
    }
    key
}

fn database_key(name: &str) -> Vec<u8> {
    catalog_key(&[b"db\0", name.as_bytes()])
}

fn tables_prefix(database: u64) -> Vec<u8> {
    catalog_key(&[b"tb\0", &database.to_be_bytes()])
}

fn table_key(database: u64, name: &str) -> Vec<u8> {
    catalog_key(&[b"tb\0", &database.to_be_bytes(), name.as_bytes()])
}

fn sequence_key(table: u64, column: u32) -> Vec<u8> {
    catalog_key(&[b"sq\0", &table.to_be_bytes(), &column.to_be_bytes()])
}

fn role_default_prefix() -> Vec<u8> {
    catalog_key(&[b"rs\0"])
}

/// The session defaults set for every role (`ALTER ROLE ALL SET name = value`), by name: what
/// every new session on any node starts with, where PostgreSQL keeps `pg_db_role_setting`.
pub async fn role_defaults(txn: &mut Txn) -> Result<Vec<(String, String)>> {
    let prefix = role_default_prefix();
    let mut out = Vec::new();
    for (key, value) in txn.scan(&prefix, &encoding::prefix_end(&prefix), 0).await? {
        let name = String::from_utf8(key[prefix.len()..].to_vec())
            .map_err(|_| SqlError::internal("corrupt role default: its name is not UTF-8"))?;
        out.push((name, decode(&value)?));
    }
    Ok(out)
}

/// Sets (`Some`) or removes (`None`) the default of one setting for every role.
pub fn set_role_default(txn: &mut Txn, name: &str, value: Option<&str>) -> Result<()> {
    let key = [role_default_prefix(), name.as_bytes().to_vec()].concat();
    match value {
        Some(value) => txn.put(&key, &encode(&value)?)?,
        None => txn.delete(&key)?,
    }
    Ok(())
}

/// The superuser every cluster has from its start (PostgreSQL's bootstrap superuser, CockroachDB's
/// `root`): it logs in with `client.root.crt` and may be given a password.
pub const ROOT_ROLE: &str = "root";

/// A role: who may log in and how (PostgreSQL's `pg_authid`, the parts Atoll uses).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDesc {
    pub name: String,
    pub login: bool,
    pub superuser: bool,
    /// The SCRAM-SHA-256 verifier (`crate::scram::Verifier`'s text), never the password.
    pub password: Option<String>,
    /// The roles this role was granted (`GRANT role TO this`), whose privileges it has.
    #[serde(default)]
    pub member_of: Vec<String>,
    /// Most connections the role may have open on one node (`CONNECTION LIMIT`); superusers
    /// are not limited.
    #[serde(default)]
    pub connection_limit: Option<u32>,
    /// The role's session defaults (`ALTER ROLE name SET setting = value`), over the ones set
    /// for every role.
    #[serde(default)]
    pub settings: std::collections::BTreeMap<String, String>,
    /// The etcd key ranges the role may read or write (`etcdctl role grant-permission`), see
    /// [`crate::kv_auth`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub kv_permissions: Vec<crate::kv_auth::KvPermission>,
}

impl RoleDesc {
    pub fn new(name: String) -> RoleDesc {
        RoleDesc {
            name,
            login: false,
            superuser: false,
            password: None,
            member_of: Vec::new(),
            connection_limit: None,
            settings: Default::default(),
            kv_permissions: Vec::new(),
        }
    }

    fn root() -> RoleDesc {
        RoleDesc { login: true, superuser: true, ..RoleDesc::new(ROOT_ROLE.into()) }
    }
}

fn role_key(name: &str) -> Vec<u8> {
    catalog_key(&[b"ro\0", name.as_bytes()])
}

/// The role `name`, if it exists (`root` always does).
pub async fn role(txn: &mut Txn, name: &str) -> Result<Option<RoleDesc>> {
    match txn.get(&role_key(name)).await? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None if name == ROOT_ROLE => Ok(Some(RoleDesc::root())),
        None => Ok(None),
    }
}

/// Every role, by name.
pub async fn list_roles(txn: &mut Txn) -> Result<Vec<RoleDesc>> {
    let prefix = catalog_key(&[b"ro\0"]);
    let mut roles: Vec<RoleDesc> = Vec::new();
    for (_, value) in txn.scan(&prefix, &encoding::prefix_end(&prefix), 0).await? {
        roles.push(decode(&value)?);
    }
    if !roles.iter().any(|r| r.name == ROOT_ROLE) {
        roles.push(RoleDesc::root());
    }
    roles.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(roles)
}

pub fn put_role(txn: &mut Txn, role: &RoleDesc) -> Result<()> {
    txn.put(&role_key(&role.name), &encode(role)?)?;
    Ok(())
}

pub fn delete_role(txn: &mut Txn, name: &str) -> Result<()> {
    txn.delete(&role_key(name))?;
    Ok(())
}

/// An object other than a table that has an access list: a database, or the `public` schema of
/// one (tables keep theirs in their descriptor).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclObject {
    Database(u64),
    Schema(u64),
}

fn acl_prefix() -> Vec<u8> {
    catalog_key(&[b"pv\0"])
}

fn acl_key(object: AclObject) -> Vec<u8> {
    let (kind, id) = match object {
        AclObject::Database(id) => (b'd', id),
        AclObject::Schema(id) => (b's', id),
    };
    [acl_prefix(), vec![kind], id.to_be_bytes().to_vec()].concat()
}

/// Every access list a GRANT or REVOKE gave a database or schema, in one scan.
pub async fn object_acls(txn: &mut Txn) -> Result<Vec<(AclObject, Vec<AclItem>)>> {
    let prefix = acl_prefix();
    let mut out = Vec::new();
    for (key, value) in txn.scan(&prefix, &encoding::prefix_end(&prefix), 0).await? {
        let corrupt = || SqlError::internal("corrupt access list key");
        let (kind, id) = key[prefix.len()..].split_first().ok_or_else(corrupt)?;
        let id = u64::from_be_bytes(id.try_into().map_err(|_| corrupt())?);
        let object = match kind {
            b'd' => AclObject::Database(id),
            b's' => AclObject::Schema(id),
            _ => return Err(corrupt()),
        };
        out.push((object, decode(&value)?));
    }
    Ok(out)
}

/// The access list of a database or schema; `None` while it has its default.
pub async fn object_acl(txn: &mut Txn, object: AclObject) -> Result<Option<Vec<AclItem>>> {
    match txn.get(&acl_key(object)).await? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None => Ok(None),
    }
}

pub fn put_object_acl(txn: &mut Txn, object: AclObject, acl: &[AclItem]) -> Result<()> {
    txn.put(&acl_key(object), &encode(&acl)?)?;
    Ok(())
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| SqlError::internal(format!("corrupt descriptor: {e}")))
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(SqlError::internal)
}

pub async fn database(txn: &mut Txn, name: &str) -> Result<Option<DatabaseDesc>> {
    if name == DEFAULT_DATABASE {
        return Ok(Some(DatabaseDesc { id: DEFAULT_DATABASE_ID, name: name.into() }));
    }
    match txn.get(&database_key(name)).await? {
        Some(bytes) => Ok(Some(decode(&bytes)?)),
        None => Ok(None),
    }
}

pub async fn require_database(txn: &mut Txn, name: &str) -> Result<DatabaseDesc> {
    database(txn, name)
        .await?
        .ok_or_else(|| SqlError::new(code::INVALID_DATABASE, format!("database \"{name}\" does not exist")))
}

pub async fn list_databases(txn: &mut Txn) -> Result<Vec<DatabaseDesc>> {
    let prefix = catalog_key(&[b"db\0"]);
    let mut out = vec![DatabaseDesc { id: DEFAULT_DATABASE_ID, name: DEFAULT_DATABASE.into() }];
    for (_, value) in txn.scan(&prefix, &encoding::prefix_end(&prefix), 0).await? {
        out.push(decode(&value)?);
    }
    Ok(out)
}

/// Allocates a new descriptor id (databases and tables share the space; never reused).
pub async fn allocate_id(txn: &mut Txn) -> Result<u64> {
    let key = catalog_key(&[b"id"]);
    let last = match txn.get(&key).await? {
        Some(bytes) => decode::<u64>(&bytes)?,
        None => 100,
    };
    let next = last + 1;
    txn.put(&key, &encode(&next)?)?;
    Ok(next)
}

pub async fn create_database(txn: &mut Txn, name: &str) -> Result<DatabaseDesc> {
    if database(txn, name).await?.is_some() {
        return Err(SqlError::new(code::DUPLICATE_DATABASE, format!("database \"{name}\" already exists")));
    }
    let desc = DatabaseDesc { id: allocate_id(txn).await?, name: name.into() };
    txn.put(&database_key(name), &encode(&desc)?)?;
    Ok(desc)
}

/// Drops a database's descriptor and tables; returns the dropped tables, whose data the
/// caller deletes once the transaction committed.
pub async fn drop_database(txn: &mut Txn, name: &str) -> Result<Vec<TableDesc>> {
    if name == DEFAULT_DATABASE {
        return Err(SqlError::new(code::OBJECT_IN_USE, format!("database \"{name}\" cannot be dropped")));
    }
    let desc = require_database(txn, name).await?;
    let tables = list_tables(txn, desc.id).await?;
    for table in &tables {
        txn.delete(&table_key(desc.id, &table.name))?;
    }
    txn.delete(&database_key(name))?;
    txn.delete(&acl_key(AclObject::Database(desc.id)))?;
    txn.delete(&acl_key(AclObject::Schema(desc.id)))?;
    Ok(tables)
}

pub async fn table(txn: &mut Txn, database: u64, name: &str) -> Result<Option<TableDesc>> {
    match txn.get(&table_key(database, name)).await? {
        Some(bytes) => decode_table(bytes).map(Some),
        None => Ok(None),
    }
}

/// Descriptors decoded recently, by their encoded bytes. Every statement reads its tables'
/// descriptors through its transaction (so a concurrent schema change is a conflict); the
/// JSON decode of an unchanged descriptor is done once. Keyed by the bytes, so it can never
/// answer with a descriptor other than the one read.
static DECODED_TABLES: std::sync::LazyLock<std::sync::Mutex<HashMap<Vec<u8>, TableDesc>>> =
    std::sync::LazyLock::new(Default::default);
const DECODED_TABLES_MAX: usize = 1024;

fn decode_table(bytes: Vec<u8>) -> Result<TableDesc> {
    if let Some(desc) = DECODED_TABLES.lock().ok().and_then(|cache| cache.get(&bytes).cloned()) {
        return Ok(desc);
    }
    let desc: TableDesc = decode(&bytes)?;
    if let Ok(mut cache) = DECODED_TABLES.lock() {
        if cache.len() >= DECODED_TABLES_MAX {
            cache.clear();
        }
        cache.insert(bytes, desc.clone());
    }
    Ok(desc)
}

pub async fn require_table(txn: &mut Txn, database: u64, name: &str) -> Result<TableDesc> {
    table(txn, database, name)
        .await?
        .ok_or_else(|| SqlError::new(code::UNDEFINED_TABLE, format!("relation \"{name}\" does not exist")))
}

pub async fn list_tables(txn: &mut Txn, database: u64) -> Result<Vec<TableDesc>> {
    let prefix = tables_prefix(database);
    let mut out = Vec::new();
    for (_, value) in txn.scan(&prefix, &encoding::prefix_end(&prefix), 0).await? {
        out.push(decode(&value)?);
    }
    Ok(out)
}

/// Writes a table descriptor (create or alter).
pub fn put_table(txn: &mut Txn, desc: &TableDesc) -> Result<()> {
    txn.put(&table_key(desc.database, &desc.name), &encode(desc)?)?;
    Ok(())
}

pub fn delete_table(txn: &mut Txn, desc: &TableDesc) -> Result<()> {
    txn.delete(&table_key(desc.database, &desc.name))?;
    Ok(())
}

/// Takes the next value of a serial column. Like PostgreSQL's `nextval`, this is not part of
/// the statement's transaction: it commits at once, so concurrent inserts do not conflict on
/// the counter and a rolled-back insert leaves a gap.
pub async fn next_serial(kv: &NodeKv, table: u64, column: u32) -> Result<i64> {
    let key = sequence_key(table, column);
    for attempt in 0..100u32 {
        let mut txn = kv.begin().await?;
        let last = match txn.get(&key).await? {
            Some(bytes) => decode::<i64>(&bytes)?,
            None => 0,
        };
        let next = last
            .checked_add(1)
            .ok_or_else(|| SqlError::new(code::NUMERIC_OUT_OF_RANGE, "nextval: reached maximum value of sequence"))?;
        txn.put(&key, &encode(&next)?)?;
        match txn.commit().await {
            Ok(_) => return Ok(next),
            Err(atoll_kv::Error::Conflict) => {
                tokio::time::sleep(std::time::Duration::from_micros(100 * u64::from(attempt.min(20)))).await;
            }
            Err(other) => return Err(other.into()),
        }
    }
    Err(SqlError::new(code::SERIALIZATION_FAILURE, "nextval: too much contention on the sequence"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_named(name: &str) -> TableDesc {
        TableDesc {
            id: 7,
            database: 1,
            name: name.into(),
            columns: vec![],
            primary_key: vec![],
            primary_key_name: format!("{name}_pkey"),
            indexes: vec![],
            checks: vec![],
            next_column_id: 1,
            next_index_id: 1,
            owner: ROOT_ROLE.into(),
            acl: None,
            audit: TableAudit::Off,
        }
    }

    #[test]
    fn a_changed_descriptor_is_decoded_anew_and_garbage_is_still_an_error() {
        let before = table_named("t");
        let mut after = before.clone();
        after.next_column_id = 2;
        for desc in [&before, &after, &before] {
            let bytes = encode(desc).expect("encode");
            assert_eq!(&decode_table(bytes.clone()).expect("first decode"), desc);
            assert_eq!(&decode_table(bytes).expect("memoized decode"), desc);
        }
        assert!(decode_table(b"{not json".to_vec()).is_err());
    }
}
