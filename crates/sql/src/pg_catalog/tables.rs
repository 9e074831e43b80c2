//! The catalog tables: their columns, and their rows built from a [`Snapshot`].

use super::*;

impl Snapshot {
    pub(super) fn pg_namespace(&self) -> Rows {
        let columns = vec![("oid", oid()), ("nspname", text()), ("nspowner", oid()), ("nspacl", text_list())];
        let rows =
            [(PG_CATALOG_OID, PG_CATALOG), (PUBLIC_OID, PUBLIC_SCHEMA), (INFORMATION_SCHEMA_OID, INFORMATION_SCHEMA)]
                .iter()
                .map(|(oid, name)| {
                    let acl = match (*name == PUBLIC_SCHEMA, &self.schema_acl) {
                        (true, Some(acl)) => acl_list(acl),
                        _ => null_text_list(),
                    };
                    // `public` belongs to the databases' owner, whose its access list names.
                    let owner =
                        if *name == PUBLIC_SCHEMA { self.role_oid(privileges::DATABASE_OWNER) } else { OWNER_OID };
                    vec![int(*oid), s(name), int(owner), acl]
                })
                .collect();
        (columns, rows)
    }

    pub(super) fn pg_class(&self) -> Rows {
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
            ("relacl", text_list()),
            ("reloptions", text_list()),
            ("relpartbound", text()),
        ];
        let mut rows = Vec::new();
        let row = |oid: i64, name: &str, kind: &str, am: i64, natts: usize, checks: usize, owner: &TableDesc| {
            let has_index = kind == "r" && !index_views(owner).is_empty();
            vec![
                int(oid),
                s(name),
                int(PUBLIC_OID),
                int(0),
                int(0),
                int(self.role_oid(&owner.owner)),
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
                match (&owner.acl, kind) {
                    (Some(acl), "r") => acl_list(acl),
                    _ => null_text_list(),
                },
                match owner.audit {
                    catalog::TableAudit::Off => null_text_list(),
                    _ if kind != "r" => null_text_list(),
                    audit => text_items(std::iter::once(format!("audit={}", audit.name()))),
                },
                null_text(),
            ]
        };
        for table in &self.tables {
            let natts = table.visible_columns().count();
            rows.push(row(table_oid(table), &table.name, "r", HEAP_AM, natts, table.checks.len(), table));
            for index in index_views(table) {
                rows.push(row(index.oid, &index.name, "i", BTREE_AM, index.columns.len(), 0, table));
            }
        }
        (columns, rows)
    }

    pub(super) fn pg_attribute(&self) -> Rows {
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

    pub(super) fn pg_attrdef(&self) -> Rows {
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

    pub(super) fn pg_index(&self) -> Rows {
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

    pub(super) fn pg_constraint(&self) -> Rows {
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

    pub(super) fn pg_database(&self) -> Rows {
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
            ("datacl", text_list()),
        ];
        let rows = self
            .databases
            .iter()
            .map(|d| {
                vec![
                    int(d.id as i64),
                    s(&d.name),
                    int(self.role_oid(privileges::DATABASE_OWNER)),
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
                    match self.database_acls.get(&d.id) {
                        Some(acl) => acl_list(acl),
                        None => null_text_list(),
                    },
                ]
            })
            .collect();
        (columns, rows)
    }

    pub(super) fn schemata(&self) -> Rows {
        let columns = vec![("catalog_name", text()), ("schema_name", text()), ("schema_owner", text())];
        let rows = [PG_CATALOG, PUBLIC_SCHEMA, INFORMATION_SCHEMA]
            .iter()
            .map(|name| vec![s(&self.database), s(name), s(OWNER)])
            .collect();
        (columns, rows)
    }

    pub(super) fn info_tables(&self) -> Rows {
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

    /// Who may do what to each table: one row per privilege of each access list item, the
    /// default list's for tables that have none of their own (as PostgreSQL's view shows them).
    pub(super) fn table_privileges(&self) -> Rows {
        let columns = vec![
            ("grantor", text()),
            ("grantee", text()),
            ("table_catalog", text()),
            ("table_schema", text()),
            ("table_name", text()),
            ("privilege_type", text()),
            ("is_grantable", text()),
            ("with_hierarchy", text()),
        ];
        let yes_no = |yes: bool| s(if yes { "YES" } else { "NO" });
        let mut rows = Vec::new();
        for table in &self.tables {
            for item in privileges::table_acl(table).iter() {
                let grantee = if item.grantee == privileges::PUBLIC { "PUBLIC" } else { item.grantee.as_str() };
                for (privilege, _, name) in item.privileges.each() {
                    rows.push(vec![
                        s(&item.grantor),
                        s(grantee),
                        s(&self.database),
                        s(PUBLIC_SCHEMA),
                        s(&table.name),
                        s(name),
                        yes_no(item.grantable.contains(privilege) || item.grantee == table.owner),
                        yes_no(privilege == privileges::Privileges::SELECT),
                    ]);
                }
            }
        }
        (columns, rows)
    }

    pub(super) fn info_columns(&self) -> Rows {
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

    pub(super) fn table_constraints(&self) -> Rows {
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

    pub(super) fn key_column_usage(&self) -> Rows {
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

pub(super) type Rows = (Vec<(&'static str, DataType)>, Vec<Vec<ScalarValue>>);

pub(super) fn oid() -> DataType {
    DataType::Int64
}
pub(super) fn text() -> DataType {
    DataType::Utf8
}
pub(super) fn text_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true)))
}
pub(super) fn int2_list() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Int16, true)))
}
/// An `int2vector`/`oidvector` as PostgreSQL prints it: `1 2`.
pub(super) fn vector(values: impl IntoIterator<Item = i64>) -> ScalarValue {
    ScalarValue::Utf8(Some(values.into_iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ")))
}
pub(super) fn int(v: i64) -> ScalarValue {
    ScalarValue::Int64(Some(v))
}
pub(super) fn s(v: &str) -> ScalarValue {
    ScalarValue::Utf8(Some(v.to_string()))
}
pub(super) fn b(v: bool) -> ScalarValue {
    ScalarValue::Boolean(Some(v))
}
/// A `text[]` of `items`.
fn text_items(items: impl Iterator<Item = String>) -> ScalarValue {
    let items: Vec<ScalarValue> = items.map(|item| ScalarValue::Utf8(Some(item))).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&items, &DataType::Utf8))
}

/// A NULL `text[]`.
fn null_text_list() -> ScalarValue {
    ScalarValue::try_from(&text_list()).unwrap_or(ScalarValue::Null)
}

/// An access list as a `text[]` of its items (`aclitem[]` in PostgreSQL).
fn acl_list(acl: &[privileges::AclItem]) -> ScalarValue {
    text_items(acl.iter().map(|item| item.to_string()))
}

/// Settings as PostgreSQL lists them (`rolconfig`, `setconfig`): `name=value` items.
fn settings_list<'a>(settings: impl Iterator<Item = (&'a String, &'a String)>) -> ScalarValue {
    text_items(settings.map(|(name, value)| format!("{name}={value}")))
}

pub(super) fn null_text() -> ScalarValue {
    ScalarValue::Utf8(None)
}
pub(super) fn int2_array(values: &[u32]) -> ScalarValue {
    let values: Vec<ScalarValue> = values.iter().map(|v| ScalarValue::Int16(Some(*v as i16))).collect();
    ScalarValue::List(ScalarValue::new_list_nullable(&values, &DataType::Int16))
}

pub(super) fn pg_type() -> Rows {
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

pub(super) fn pg_am() -> Rows {
    let columns = vec![("oid", oid()), ("amname", text()), ("amhandler", text()), ("amtype", text())];
    let rows = vec![
        vec![int(HEAP_AM), s("heap"), s("heap_tableam_handler"), s("t")],
        vec![int(BTREE_AM), s("btree"), s("bthandler"), s("i")],
    ];
    (columns, rows)
}

impl Snapshot {
    /// Role memberships (`GRANT role TO member`), all granted by root, none with ADMIN OPTION.
    pub(super) fn pg_auth_members(&self) -> Rows {
        let columns = vec![
            ("oid", oid()),
            ("roleid", oid()),
            ("member", oid()),
            ("grantor", oid()),
            ("admin_option", DataType::Boolean),
            ("inherit_option", DataType::Boolean),
            ("set_option", DataType::Boolean),
        ];
        let mut rows = Vec::new();
        for member in &self.roles {
            for role in &member.member_of {
                let (role, member) = (self.role_oid(role), self.role_oid(&member.name));
                // PostgreSQL gives memberships oids of their own; these are unique per pair.
                let id = 1_000_000 + role * 100_000 + member;
                rows.push(vec![
                    int(id),
                    int(role),
                    int(member),
                    int(self.role_oid(catalog::ROOT_ROLE)),
                    b(false),
                    b(true),
                    b(true),
                ]);
            }
        }
        (columns, rows)
    }

    /// Session defaults (`ALTER ROLE ALL SET`, `ALTER ROLE name SET`), as psql's `\drds` reads
    /// them: per role (`setrole` 0 for every role), never per database.
    pub(super) fn pg_db_role_setting(&self) -> Rows {
        let columns = vec![("setdatabase", oid()), ("setrole", oid()), ("setconfig", text_list())];
        let mut rows = Vec::new();
        if !self.all_roles_settings.is_empty() {
            rows.push(vec![int(0), int(0), settings_list(self.all_roles_settings.iter().map(|(k, v)| (k, v)))]);
        }
        for role in self.roles.iter().filter(|r| !r.settings.is_empty()) {
            rows.push(vec![int(0), int(self.role_oid(&role.name)), settings_list(role.settings.iter())]);
        }
        (columns, rows)
    }

    /// The roles the role with `oid` is a member of, by name (`atoll_member_of`, for `\du`).
    pub(super) fn member_of(&self, oid: i64) -> Vec<String> {
        let name = self.role_name(oid);
        let mut names = self.roles.iter().find(|r| r.name == name).map(|r| r.member_of.clone()).unwrap_or_default();
        names.sort();
        names
    }

    /// The oid `pg_roles` gives the role `name` (the built-in owner's for a role not listed).
    pub(super) fn role_oid(&self, name: &str) -> i64 {
        self.roles.iter().position(|r| r.name == name).map_or(OWNER_OID, role_oid)
    }

    /// The role of an oid `pg_roles` gives, as `pg_get_userbyid` names it (PostgreSQL's
    /// `unknown (OID=n)` for none).
    pub(super) fn role_name(&self, oid: i64) -> String {
        if oid == OWNER_OID {
            return OWNER.to_string();
        }
        let n = usize::try_from(oid - FIRST_ROLE_OID).ok();
        match n.and_then(|n| self.roles.get(n)) {
            Some(role) => role.name.clone(),
            None => format!("unknown (OID={oid})"),
        }
    }
}

/// The oid of the `n`th role of the catalog's (sorted) list; the owner of every object keeps
/// its own oid.
fn role_oid(n: usize) -> i64 {
    FIRST_ROLE_OID + n as i64
}

/// Roles' oids start where PostgreSQL's user-made objects do.
const FIRST_ROLE_OID: i64 = 16384;

/// The owner of every object (`atoll`), then the cluster's roles. Passwords show as
/// `********`, as in PostgreSQL's `pg_roles` (verifiers are not shown anywhere).
pub(super) fn pg_roles(roles: &[catalog::RoleDesc]) -> Rows {
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
        ("rolconfig", text_list()),
    ];
    let row = |oid: i64, name: &str, superuser: bool, login: bool, password: bool, role: Option<&catalog::RoleDesc>| {
        let limit = role.and_then(|r| r.connection_limit);
        let config = match role.filter(|r| !r.settings.is_empty()) {
            Some(role) => settings_list(role.settings.iter()),
            None => null_text_list(),
        };
        vec![
            int(oid),
            s(name),
            b(superuser),
            b(true),
            b(superuser),
            b(superuser),
            b(login),
            b(false),
            ScalarValue::Int32(Some(limit.map_or(-1, |n| i32::try_from(n).unwrap_or(i32::MAX)))),
            if password { s("********") } else { null_text() },
            null_text(),
            b(superuser),
            config,
        ]
    };
    let mut rows = vec![row(OWNER_OID, OWNER, true, true, true, None)];
    for (n, role) in roles.iter().enumerate() {
        rows.push(row(role_oid(n), &role.name, role.superuser, role.login, role.password.is_some(), Some(role)));
    }
    (columns, rows)
}

/// The roles that may log in, as `pg_user` shows them.
pub(super) fn pg_user(roles: &[catalog::RoleDesc]) -> Rows {
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
    let row = |oid: i64, name: &str, superuser: bool| {
        vec![
            s(name),
            int(oid),
            b(superuser),
            b(superuser),
            b(false),
            b(superuser),
            s("********"),
            null_text(),
            null_text(),
        ]
    };
    let mut rows = vec![row(OWNER_OID, OWNER, true)];
    for (n, role) in roles.iter().enumerate().filter(|(_, r)| r.login) {
        rows.push(row(role_oid(n), &role.name, role.superuser));
    }
    (columns, rows)
}

pub(super) fn pg_tablespace() -> Rows {
    let columns =
        vec![("oid", oid()), ("spcname", text()), ("spcowner", oid()), ("spcacl", text()), ("spcoptions", text())];
    let rows = vec![vec![int(DEFAULT_TABLESPACE), s("pg_default"), int(OWNER_OID), null_text(), null_text()]];
    (columns, rows)
}

/// The default btree operator class of every type (the only kind of index Atoll has).
pub(super) fn pg_opclass() -> Rows {
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

pub(super) fn pg_collation() -> Rows {
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
pub(super) fn empty_table(name: &str) -> Option<Vec<(&'static str, DataType)>> {
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
pub(super) const PG_TABLES: &[&str] = &[
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
    "pg_auth_members",
    "pg_db_role_setting",
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

pub(super) const INFO_TABLES: &[&str] = &[
    "schemata",
    "tables",
    "columns",
    "table_constraints",
    "key_column_usage",
    "views",
    "referential_constraints",
    "table_privileges",
];
