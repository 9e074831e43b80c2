//! CREATE/DROP/ALTER of databases, tables and indexes, and TRUNCATE. Descriptors change in
//! the statement's transaction; data of dropped and truncated tables is deleted once it
//! commits (table ids are never reused, so nothing can see that data in between).

use crate::catalog::{self, CheckDesc, ColumnDesc, IndexDesc, TableDesc};
use crate::encoding::{self, PRIMARY_INDEX};
use crate::error::{code, Result, SqlError};
use crate::privileges::{self, Privileges};
use crate::provider::{self, AccessPath};
use crate::session::{ident_name, table_name, Notice, Output, Session};
use crate::types::SqlType;
use datafusion::sql::sqlparser::ast::{self, ColumnOption, ObjectType, TableConstraint};

/// The name of the hidden primary key column of tables declared without one.
pub const ROW_ID_COLUMN: &str = "rowid";

fn index_column_ids(desc: &TableDesc, columns: &[ast::IndexColumn]) -> Result<Vec<u32>> {
    let mut ids = Vec::with_capacity(columns.len());
    for column in columns {
        let ast::Expr::Identifier(ident) = &column.column.expr else {
            return Err(SqlError::unsupported("an index on an expression"));
        };
        let name = ident_name(ident);
        let column = desc
            .column(&name)
            .filter(|c| !c.hidden)
            .ok_or_else(|| SqlError::new(code::UNDEFINED_COLUMN, format!("column \"{name}\" does not exist")))?;
        if ids.contains(&column.id) {
            return Err(SqlError::new(code::DUPLICATE_COLUMN, format!("column \"{name}\" appears twice in the key")));
        }
        ids.push(column.id);
    }
    Ok(ids)
}

impl Session {
    pub(crate) fn txn_error() -> SqlError {
        SqlError::internal("no transaction")
    }

    pub(crate) async fn create_database(&mut self, name: &ast::ObjectName, if_not_exists: bool) -> Result<Output> {
        if !self.acts_as_superuser() {
            return Err(SqlError::new(code::INSUFFICIENT_PRIVILEGE, "permission denied to create database"));
        }
        let name = table_name(name)?;
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        if if_not_exists && catalog::database(txn, &name).await?.is_some() {
            return Ok(Output::command("CREATE DATABASE"));
        }
        catalog::create_database(txn, &name).await?;
        Ok(Output::command("CREATE DATABASE"))
    }

    pub(crate) async fn create_table(&mut self, create: &ast::CreateTable) -> Result<Output> {
        if create.query.is_some() {
            return Err(SqlError::unsupported("CREATE TABLE ... AS"));
        }
        if create.temporary {
            return Err(SqlError::unsupported("temporary tables"));
        }
        // Storage options such as WITH (fillfactor = ...) have no meaning here and are accepted;
        // anything that would change what the table holds is refused rather than ignored.
        if create.partition_by.is_some() || create.partition_of.is_some() {
            return Err(SqlError::unsupported("PARTITION BY (Atoll splits tables into ranges by itself)"));
        }
        if create.inherits.is_some() || create.like.is_some() || create.clone.is_some() {
            return Err(SqlError::unsupported("INHERITS / LIKE in CREATE TABLE"));
        }
        if create.on_commit.is_some() || create.or_replace {
            return Err(SqlError::unsupported("this form of CREATE TABLE"));
        }
        let name = table_name(&create.name)?;
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        if catalog::table(txn, self.database, &name).await?.is_some() {
            if create.if_not_exists {
                self.notices
                    .push(Notice::info(code::DUPLICATE_TABLE, format!("relation \"{name}\" already exists, skipping")));
                return Ok(Output::command("CREATE TABLE"));
            }
            return Err(SqlError::new(code::DUPLICATE_TABLE, format!("relation \"{name}\" already exists")));
        }
        let owner = self.new_table_owner(txn).await?;
        let mut desc = TableDesc {
            id: catalog::allocate_id(txn).await?,
            database: self.database,
            name: name.clone(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            primary_key_name: format!("{name}_pkey"),
            indexes: Vec::new(),
            checks: Vec::new(),
            next_column_id: 1,
            next_index_id: PRIMARY_INDEX + 1,
            owner,
            acl: None,
            audit: catalog::TableAudit::Off,
        };
        let mut uniques: Vec<(Option<String>, Vec<u32>)> = Vec::new();
        for def in &create.columns {
            let column_name = ident_name(&def.name);
            if desc.column(&column_name).is_some() {
                return Err(SqlError::new(
                    code::DUPLICATE_COLUMN,
                    format!("column \"{column_name}\" specified more than once"),
                ));
            }
            let declared = SqlType::from_ast(&def.data_type)?;
            let id = desc.next_column_id;
            desc.next_column_id += 1;
            let mut column = ColumnDesc {
                id,
                name: column_name.clone(),
                ty: declared.ty,
                nullable: !declared.serial,
                default: None,
                serial: declared.serial,
                hidden: false,
                dropped: false,
            };
            for option in &def.options {
                match &option.option {
                    ColumnOption::Null => column.nullable = true,
                    ColumnOption::NotNull => column.nullable = false,
                    ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
                    ColumnOption::PrimaryKey(_) => {
                        if !desc.primary_key.is_empty() {
                            return Err(SqlError::new(
                                code::INVALID_TABLE_DEFINITION,
                                format!("multiple primary keys for table \"{name}\" are not allowed"),
                            ));
                        }
                        desc.primary_key = vec![id];
                        column.nullable = false;
                    }
                    ColumnOption::Unique(_) => uniques.push((option.name.as_ref().map(ident_name), vec![id])),
                    ColumnOption::Check(check) => desc.checks.push(CheckDesc {
                        name: option
                            .name
                            .as_ref()
                            .map(ident_name)
                            .unwrap_or_else(|| format!("{name}_{column_name}_check")),
                        expr: check.expr.to_string(),
                    }),
                    ColumnOption::Generated { generation_expr: None, .. } => {
                        if !declared.ty.is_integer() {
                            return Err(SqlError::new(
                                code::INVALID_PARAMETER_VALUE,
                                "identity column type must be smallint, integer, or bigint",
                            ));
                        }
                        column.serial = true;
                        column.nullable = false;
                    }
                    other => return Err(SqlError::unsupported(format!("column option {other}"))),
                }
            }
            desc.columns.push(column);
        }
        for constraint in &create.constraints {
            match constraint {
                TableConstraint::PrimaryKey(pk) => {
                    if !desc.primary_key.is_empty() {
                        return Err(SqlError::new(
                            code::INVALID_TABLE_DEFINITION,
                            format!("multiple primary keys for table \"{name}\" are not allowed"),
                        ));
                    }
                    desc.primary_key = index_column_ids(&desc, &pk.columns)?;
                    if let Some(constraint_name) = &pk.name {
                        desc.primary_key_name = ident_name(constraint_name);
                    }
                    for id in desc.primary_key.clone() {
                        if let Some(column) = desc.columns.iter_mut().find(|c| c.id == id) {
                            column.nullable = false;
                        }
                    }
                }
                TableConstraint::Unique(unique) => {
                    uniques.push((unique.name.as_ref().map(ident_name), index_column_ids(&desc, &unique.columns)?));
                }
                TableConstraint::Check(check) => desc.checks.push(CheckDesc {
                    name: check
                        .name
                        .as_ref()
                        .map(ident_name)
                        .unwrap_or_else(|| format!("{name}_check{}", desc.checks.len() + 1)),
                    expr: check.expr.to_string(),
                }),
                other => return Err(SqlError::unsupported(format!("constraint {other}"))),
            }
        }
        if desc.columns.is_empty() {
            return Err(SqlError::unsupported("a table without columns"));
        }
        if desc.primary_key.is_empty() {
            let id = desc.next_column_id;
            desc.next_column_id += 1;
            desc.columns.push(ColumnDesc {
                id,
                name: ROW_ID_COLUMN.into(),
                ty: SqlType::Int8,
                nullable: false,
                default: None,
                serial: false,
                hidden: true,
                dropped: false,
            });
            desc.primary_key = vec![id];
        }
        for (constraint_name, columns) in uniques {
            if columns == desc.primary_key {
                continue;
            }
            let index_name = constraint_name.unwrap_or_else(|| {
                let names: Vec<&str> = columns.iter().map(|id| desc.column_name(*id)).collect();
                format!("{name}_{}_key", names.join("_"))
            });
            let id = desc.next_index_id;
            desc.next_index_id += 1;
            desc.indexes.push(IndexDesc { id, name: index_name, columns, unique: true });
        }
        // Checks and defaults must at least plan: catch typos now rather than at the first insert.
        for check in &desc.checks {
            crate::session::parse(&format!("SELECT {}", check.expr))?;
        }
        catalog::put_table(txn, &desc)?;
        Ok(Output::command("CREATE TABLE"))
    }

    pub(crate) async fn create_index(&mut self, create: &ast::CreateIndex) -> Result<Output> {
        if create.predicate.is_some() {
            return Err(SqlError::unsupported("partial indexes"));
        }
        let mut desc = self.table(&create.table_name).await?;
        let columns = index_column_ids(&desc, &create.columns)?;
        let index_name = match &create.name {
            Some(name) => table_name(name)?,
            None => {
                let names: Vec<&str> = columns.iter().map(|id| desc.column_name(*id)).collect();
                format!("{}_{}_idx", desc.name, names.join("_"))
            }
        };
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        privileges::check_table_owner(txn, &self.scope, &desc).await?;
        if index_owner(txn, self.database, &index_name).await?.is_some() || index_name == desc.primary_key_name {
            if create.if_not_exists {
                return Ok(Output::command("CREATE INDEX"));
            }
            return Err(SqlError::new(code::DUPLICATE_TABLE, format!("relation \"{index_name}\" already exists")));
        }
        let index = IndexDesc { id: desc.next_index_id, name: index_name, columns, unique: create.unique };
        desc.next_index_id += 1;
        // Backfill from the primary index, in this transaction.
        let live: Vec<ColumnDesc> = desc.live_columns().cloned().collect();
        let storage = desc.storage_columns();
        let rows = provider::read_rows(txn, &desc, &AccessPath::Full, None).await?;
        for bytes in rows {
            let all = encoding::decode_row(&storage, &bytes)?;
            let row: Vec<_> =
                live.iter().map(|c| all[storage.iter().position(|(id, _)| *id == c.id).unwrap_or(0)].clone()).collect();
            let mut suffix = Vec::new();
            for id in &desc.primary_key {
                encoding::encode_key_value(&mut suffix, &row[live.iter().position(|c| c.id == *id).unwrap_or(0)])?;
            }
            let mut key = encoding::index_prefix(desc.id, index.id);
            let mut has_null = false;
            for id in &index.columns {
                let value = &row[live.iter().position(|c| c.id == *id).unwrap_or(0)];
                has_null |= value.is_null();
                encoding::encode_key_value(&mut key, value)?;
            }
            if index.unique && !has_null {
                if txn.get(&key).await?.is_some() {
                    return Err(SqlError::new(
                        code::UNIQUE_VIOLATION,
                        format!("could not create unique index \"{}\": key is duplicated", index.name),
                    ));
                }
                txn.put(&key, &suffix)?;
            } else {
                key.extend_from_slice(&suffix);
                txn.put(&key, &[])?;
            }
        }
        desc.indexes.push(index);
        catalog::put_table(txn, &desc)?;
        Ok(Output::command("CREATE INDEX"))
    }

    pub(crate) async fn drop(
        &mut self,
        object_type: ObjectType,
        if_exists: bool,
        names: &[ast::ObjectName],
    ) -> Result<Output> {
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        match object_type {
            ObjectType::Table => {
                for name in names {
                    let name = table_name(name)?;
                    match catalog::table(txn, self.database, &name).await? {
                        Some(desc) => {
                            privileges::check_table_owner(txn, &self.scope, &desc).await?;
                            catalog::delete_table(txn, &desc)?;
                            self.cleanup.push(encoding::prefix_span(encoding::table_prefix(desc.id)));
                        }
                        None if if_exists => self.notices.push(Notice::info(
                            code::SUCCESSFUL_COMPLETION,
                            format!("table \"{name}\" does not exist, skipping"),
                        )),
                        None => {
                            return Err(SqlError::new(
                                code::UNDEFINED_TABLE,
                                format!("table \"{name}\" does not exist"),
                            ))
                        }
                    }
                }
                Ok(Output::command("DROP TABLE"))
            }
            ObjectType::Index => {
                for name in names {
                    let name = table_name(name)?;
                    match index_owner(txn, self.database, &name).await? {
                        Some(mut desc) => {
                            privileges::check_table_owner(txn, &self.scope, &desc).await?;
                            let index = desc.indexes.iter().position(|i| i.name == name).expect("owner has the index");
                            let index = desc.indexes.remove(index);
                            self.cleanup.push(encoding::prefix_span(encoding::index_prefix(desc.id, index.id)));
                            catalog::put_table(txn, &desc)?;
                        }
                        None if if_exists => self.notices.push(Notice::info(
                            code::SUCCESSFUL_COMPLETION,
                            format!("index \"{name}\" does not exist, skipping"),
                        )),
                        None => {
                            return Err(SqlError::new(
                                code::UNDEFINED_OBJECT,
                                format!("index \"{name}\" does not exist"),
                            ))
                        }
                    }
                }
                Ok(Output::command("DROP INDEX"))
            }
            ObjectType::Database => {
                for name in names {
                    let name = table_name(name)?;
                    if !self.acts_as_superuser() {
                        return Err(SqlError::new(
                            code::INSUFFICIENT_PRIVILEGE,
                            format!("must be owner of database {name}"),
                        ));
                    }
                    if name == self.database_name {
                        return Err(SqlError::new(code::OBJECT_IN_USE, "cannot drop the currently open database"));
                    }
                    if if_exists && catalog::database(txn, &name).await?.is_none() {
                        self.notices.push(Notice::info(
                            code::SUCCESSFUL_COMPLETION,
                            format!("database \"{name}\" does not exist, skipping"),
                        ));
                        continue;
                    }
                    for desc in catalog::drop_database(txn, &name).await? {
                        self.cleanup.push(encoding::prefix_span(encoding::table_prefix(desc.id)));
                    }
                }
                Ok(Output::command("DROP DATABASE"))
            }
            other => Err(SqlError::unsupported(format!("DROP {other}"))),
        }
    }

    pub(crate) async fn truncate(&mut self, truncate: &ast::Truncate) -> Result<Output> {
        for target in &truncate.table_names {
            let mut desc = self.table(&target.name).await?;
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
            privileges::check_table(txn, &self.scope, &desc, Privileges::TRUNCATE).await?;
            // A truncated table gets a new id: the old rows become unreachable at commit and
            // are deleted after it, without one delete per row in the transaction.
            self.cleanup.push(encoding::prefix_span(encoding::table_prefix(desc.id)));
            desc.id = catalog::allocate_id(txn).await?;
            catalog::put_table(txn, &desc)?;
        }
        Ok(Output::command("TRUNCATE TABLE"))
    }

    pub(crate) async fn alter_table(&mut self, alter: &ast::AlterTable) -> Result<Output> {
        let name = table_name(&alter.name)?;
        let mut desc = {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
            let desc = match catalog::table(txn, self.database, &name).await? {
                Some(desc) => desc,
                None if alter.if_exists => return Ok(Output::command("ALTER TABLE")),
                None => {
                    return Err(SqlError::new(code::UNDEFINED_TABLE, format!("relation \"{name}\" does not exist")))
                }
            };
            privileges::check_table_owner(txn, &self.scope, &desc).await?;
            desc
        };
        let mut backfill: Option<(u32, String)> = None;
        let mut rekey: Option<Vec<u32>> = None;
        for operation in &alter.operations {
            match operation {
                ast::AlterTableOperation::AddConstraint { constraint: TableConstraint::PrimaryKey(pk), .. } => {
                    let hidden = desc.columns.iter().find(|c| c.hidden && !c.dropped).map(|c| c.id);
                    if hidden.is_none() || desc.primary_key != vec![hidden.unwrap_or(0)] {
                        return Err(SqlError::new(
                            code::INVALID_TABLE_DEFINITION,
                            format!("multiple primary keys for table \"{name}\" are not allowed"),
                        ));
                    }
                    let columns = index_column_ids(&desc, &pk.columns)?;
                    if let Some(constraint_name) = &pk.name {
                        desc.primary_key_name = ident_name(constraint_name);
                    }
                    rekey = Some(columns);
                }
                ast::AlterTableOperation::AddConstraint { constraint: TableConstraint::Check(check), .. } => {
                    desc.checks.push(CheckDesc {
                        name: check
                            .name
                            .as_ref()
                            .map(ident_name)
                            .unwrap_or_else(|| format!("{name}_check{}", desc.checks.len() + 1)),
                        expr: check.expr.to_string(),
                    });
                }
                ast::AlterTableOperation::AddColumn { column_def, if_not_exists, .. } => {
                    let column_name = ident_name(&column_def.name);
                    if desc.column(&column_name).is_some() {
                        if *if_not_exists {
                            continue;
                        }
                        return Err(SqlError::new(
                            code::DUPLICATE_COLUMN,
                            format!("column \"{column_name}\" of relation \"{name}\" already exists"),
                        ));
                    }
                    let declared = SqlType::from_ast(&column_def.data_type)?;
                    let mut column = ColumnDesc {
                        id: desc.next_column_id,
                        name: column_name,
                        ty: declared.ty,
                        nullable: true,
                        default: None,
                        serial: false,
                        hidden: false,
                        dropped: false,
                    };
                    desc.next_column_id += 1;
                    for option in &column_def.options {
                        match &option.option {
                            ColumnOption::Null => column.nullable = true,
                            ColumnOption::NotNull => column.nullable = false,
                            ColumnOption::Default(expr) => column.default = Some(expr.to_string()),
                            other => return Err(SqlError::unsupported(format!("ADD COLUMN with {other}"))),
                        }
                    }
                    if declared.serial {
                        return Err(SqlError::unsupported("ADD COLUMN of a serial column"));
                    }
                    match &column.default {
                        Some(default) => backfill = Some((column.id, default.clone())),
                        None if !column.nullable => {
                            // Only an empty table can take a NOT NULL column without a default.
                            backfill = Some((column.id, "NULL".into()));
                        }
                        None => {}
                    }
                    desc.columns.push(column);
                }
                ast::AlterTableOperation::DropColumn { column_names, if_exists, .. } => {
                    for column_name in column_names {
                        let column_name = ident_name(column_name);
                        let Some(column) = desc.column(&column_name).filter(|c| !c.hidden).cloned() else {
                            if *if_exists {
                                continue;
                            }
                            return Err(SqlError::new(
                                code::UNDEFINED_COLUMN,
                                format!("column \"{column_name}\" of relation \"{name}\" does not exist"),
                            ));
                        };
                        if desc.primary_key.contains(&column.id) {
                            return Err(SqlError::unsupported("dropping a primary key column"));
                        }
                        let dropped_indexes: Vec<IndexDesc> =
                            desc.indexes.iter().filter(|i| i.columns.contains(&column.id)).cloned().collect();
                        for index in dropped_indexes {
                            self.cleanup.push(encoding::prefix_span(encoding::index_prefix(desc.id, index.id)));
                            desc.indexes.retain(|i| i.id != index.id);
                        }
                        if let Some(c) = desc.columns.iter_mut().find(|c| c.id == column.id) {
                            c.dropped = true;
                        }
                        if desc.visible_columns().next().is_none() {
                            return Err(SqlError::unsupported("dropping the last column of a table"));
                        }
                    }
                }
                ast::AlterTableOperation::SetOptionsParens { options } => {
                    for option in options {
                        let ast::SqlOption::KeyValue { key, value } = option else {
                            return Err(SqlError::unsupported(format!("ALTER TABLE SET ({option})")));
                        };
                        let key = ident_name(key);
                        // PostgreSQL's storage parameters mean nothing here and are accepted,
                        // as in CREATE TABLE ... WITH (...).
                        let storage = ["fillfactor", "parallel_workers", "toast_tuple_target", "user_catalog_table"];
                        if storage.contains(&key.as_str())
                            || key.starts_with("autovacuum_")
                            || key.starts_with("vacuum_")
                            || key.starts_with("toast.")
                        {
                            continue;
                        }
                        if key != "audit" {
                            return Err(SqlError::new(
                                code::INVALID_PARAMETER_VALUE,
                                format!("unrecognized parameter \"{key}\""),
                            ));
                        }
                        // 'write' or write, as PostgreSQL takes a storage parameter's value.
                        let text = value.to_string();
                        desc.audit = catalog::TableAudit::parse(text.trim_matches('\'')).ok_or_else(|| {
                            SqlError::new(
                                code::INVALID_PARAMETER_VALUE,
                                format!("invalid value for parameter \"audit\": \"{value}\" (off, write or all)"),
                            )
                        })?;
                    }
                }
                ast::AlterTableOperation::OwnerTo { new_owner } => {
                    let mut guard = self.txn.lock().await;
                    self.change_owner(guard.as_mut().ok_or_else(Self::txn_error)?, &mut desc, new_owner).await?;
                }
                other => return Err(SqlError::unsupported(format!("ALTER TABLE {other}"))),
            }
        }
        if let Some((column_id, default)) = backfill {
            self.backfill(&desc, column_id, &default).await?;
        }
        if let Some(columns) = rekey {
            desc = self.rekey(desc, columns).await?;
        }
        let mut guard = self.txn.lock().await;
        catalog::put_table(guard.as_mut().ok_or_else(Self::txn_error)?, &desc)?;
        Ok(Output::command("ALTER TABLE"))
    }

    /// ALTER TABLE ADD PRIMARY KEY on a table keyed by its hidden row id: every row moves
    /// under its new key (in this transaction), checked for NULLs and duplicates.
    async fn rekey(&mut self, mut desc: TableDesc, columns: Vec<u32>) -> Result<TableDesc> {
        let old = desc.clone();
        let hidden = desc.primary_key[0];
        if let Some(c) = desc.columns.iter_mut().find(|c| c.id == hidden) {
            c.dropped = true;
        }
        for c in desc.columns.iter_mut().filter(|c| columns.contains(&c.id)) {
            c.nullable = false;
        }
        desc.primary_key = columns;
        let old_storage = old.storage_columns();
        let new_live: Vec<ColumnDesc> = desc.live_columns().cloned().collect();
        let new_storage: Vec<_> = new_live.iter().map(|c| (c.id, c.ty)).collect();
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        let start = encoding::index_prefix(old.id, PRIMARY_INDEX);
        let rows = txn.scan(&start, &encoding::prefix_end(&start), 0).await?;
        // Delete every old key first: a new key may equal an old one of another row.
        for (key, _) in &rows {
            txn.delete(key)?;
        }
        let mut new_keys = std::collections::HashSet::with_capacity(rows.len());
        for (_, bytes) in rows {
            let all = encoding::decode_row(&old_storage, &bytes)?;
            let row: Vec<_> = new_live
                .iter()
                .map(|c| all[old_storage.iter().position(|(id, _)| *id == c.id).unwrap_or(0)].clone())
                .collect();
            let mut new_key = encoding::index_prefix(desc.id, PRIMARY_INDEX);
            for id in &desc.primary_key {
                let value = &row[new_live.iter().position(|c| c.id == *id).unwrap_or(0)];
                if value.is_null() {
                    return Err(SqlError::new(
                        code::NOT_NULL_VIOLATION,
                        format!(
                            "column \"{}\" of relation \"{}\" contains null values",
                            desc.column_name(*id),
                            desc.name
                        ),
                    ));
                }
                encoding::encode_key_value(&mut new_key, value)?;
            }
            // Every old key is deleted above, so a new key can only collide with another new
            // one; the scan's span compare catches a row inserted meanwhile.
            if !new_keys.insert(new_key.clone()) {
                return Err(SqlError::new(
                    code::UNIQUE_VIOLATION,
                    format!("could not create unique index \"{}\": key is duplicated", desc.primary_key_name),
                ));
            }
            txn.put(&new_key, &encoding::encode_row(&new_storage, &row)?)?;
        }
        if !desc.indexes.is_empty() {
            return Err(SqlError::unsupported("ADD PRIMARY KEY on a table with secondary indexes"));
        }
        Ok(desc)
    }

    /// Writes a new column's default into every existing row.
    async fn backfill(&mut self, desc: &TableDesc, column_id: u32, default: &str) -> Result<()> {
        let column = desc.column_by_id(column_id).cloned().ok_or_else(|| SqlError::internal("column missing"))?;
        let (_, batches) = self.query(crate::session::parse(&format!("SELECT {default}"))?.remove(0), &[]).await?;
        let value = batches
            .first()
            .filter(|b| b.num_rows() > 0)
            .map(|b| datafusion::common::ScalarValue::try_from_array(b.column(0), 0))
            .transpose()?
            .unwrap_or(datafusion::common::ScalarValue::Null);
        let value = column.ty.coerce(&value, &column.name)?;
        let storage = desc.storage_columns();
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        let start = encoding::index_prefix(desc.id, PRIMARY_INDEX);
        for (key, bytes) in txn.scan(&start, &encoding::prefix_end(&start), 0).await? {
            if value.is_null() && !column.nullable {
                return Err(SqlError::new(
                    code::NOT_NULL_VIOLATION,
                    format!("column \"{}\" of relation \"{}\" contains null values", column.name, desc.name),
                ));
            }
            let mut row = encoding::decode_row(&storage, &bytes)?;
            let position = storage.iter().position(|(id, _)| *id == column_id).unwrap_or(0);
            row[position] = value.clone();
            let live: Vec<_> =
                desc.columns.iter().zip(row).filter(|(c, _)| !c.dropped).map(|(c, v)| ((c.id, c.ty), v)).collect();
            let (columns, values): (Vec<_>, Vec<_>) = live.into_iter().unzip();
            txn.put(&key, &encoding::encode_row(&columns, &values)?)?;
        }
        Ok(())
    }
}

/// The table that has a secondary index of this name.
async fn index_owner(txn: &mut crate::kv::Txn, database: u64, name: &str) -> Result<Option<TableDesc>> {
    Ok(catalog::list_tables(txn, database).await?.into_iter().find(|t| t.index(name).is_some()))
}
