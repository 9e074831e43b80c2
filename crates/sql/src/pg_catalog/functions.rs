//! The catalog functions (`format_type`, `pg_get_indexdef`, `current_setting`, ...): UDFs
//! that read the statement's [`Snapshot`].

use super::*;

/// The catalog functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Function {
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
    SessionUser,
    Version,
    HasPrivilege,
    PartitionAncestors,
    Regclass,
    RegclassName,
    Regtype,
    RegtypeName,
    ToRegtype,
    ToRegclass,
    JsonBuildObject,
    IntVector,
    MemberOf,
    BackendPid,
    InRecovery,
    SerialSequence,
    CurrentSetting,
}

pub(super) const FUNCTIONS: &[(&str, Function)] = &[
    ("pg_get_userbyid", Function::GetUserById),
    ("pg_table_is_visible", Function::Visible),
    ("pg_type_is_visible", Function::Visible),
    ("pg_function_is_visible", Function::Visible),
    ("pg_collation_is_visible", Function::Visible),
    ("json_build_object", Function::JsonBuildObject),
    ("atoll_int_vector", Function::IntVector),
    ("atoll_member_of", Function::MemberOf),
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
    ("session_user", Function::SessionUser),
    ("user", Function::CurrentUser),
    ("version", Function::Version),
    ("has_table_privilege", Function::HasPrivilege),
    ("has_schema_privilege", Function::HasPrivilege),
    ("has_database_privilege", Function::HasPrivilege),
    ("has_column_privilege", Function::HasPrivilege),
    ("pg_partition_ancestors", Function::PartitionAncestors),
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

pub(super) struct PgFunction {
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

pub(super) fn int_arg(value: &ScalarValue) -> Option<i64> {
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

pub(super) fn text_arg(value: &ScalarValue) -> Option<String> {
    match value {
        v if v.is_null() => None,
        ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) | ScalarValue::Utf8View(Some(s)) => {
            Some(s.clone())
        }
        other => Some(other.to_string()),
    }
}

pub(super) fn json_value(value: &ScalarValue) -> serde_json::Value {
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
            Function::MemberOf => DataType::List(Arc::new(Field::new_list_field(DataType::Utf8, true))),
            _ => DataType::Utf8,
        }
    }

    /// One row: the arguments' values to the result.
    fn call(&self, args: &[ScalarValue], snapshot: &Snapshot) -> DfResult<ScalarValue> {
        let arg = |i: usize| args.get(i).cloned().unwrap_or(ScalarValue::Null);
        let any_null = args.iter().any(|a| a.is_null());
        let text = |v: Option<String>| ScalarValue::Utf8(v);
        Ok(match self.function {
            Function::GetUserById => text(int_arg(&arg(0)).map(|oid| snapshot.role_name(oid))),
            Function::Visible => ScalarValue::Boolean((!any_null).then_some(true)),
            Function::HasPrivilege if any_null => ScalarValue::Boolean(None),
            Function::HasPrivilege => ScalarValue::Boolean(Some(self.has_privilege(args, snapshot)?)),
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
            Function::CurrentUser => text(Some(self.state.current_user().0)),
            Function::SessionUser => text(Some(self.state.session_user())),
            Function::Version => text(Some(format!(
                "PostgreSQL {} (Atoll {}) on x86_64-pc-linux-gnu, compiled by rustc, 64-bit",
                crate::SERVER_VERSION,
                env!("CARGO_PKG_VERSION")
            ))),
            Function::PartitionAncestors => ScalarValue::Int64(int_arg(&arg(0))),
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
            Function::MemberOf => {
                let names = int_arg(&arg(0)).map(|oid| snapshot.member_of(oid)).unwrap_or_default();
                let names: Vec<ScalarValue> = names.iter().map(|n| ScalarValue::Utf8(Some(n.clone()))).collect();
                ScalarValue::List(ScalarValue::new_list_nullable(&names, &DataType::Utf8))
            }
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

impl PgFunction {
    /// `has_table_privilege([user,] table, privileges)` and its schema, database and column
    /// forms: whether the user (the session's if not given) holds every privilege named in the
    /// comma-separated list (each optionally `WITH GRANT OPTION`), from the statement's catalog.
    fn has_privilege(&self, args: &[ScalarValue], snapshot: &Snapshot) -> DfResult<bool> {
        use crate::privileges::{closure, Actor, Kind, Privileges, DATABASE_OWNER};
        let (kind, arity) = match self.name {
            "has_table_privilege" => (Kind::Table, 2),
            "has_column_privilege" => (Kind::Table, 3),
            "has_schema_privilege" => (Kind::Schema, 2),
            _ => (Kind::Database, 2),
        };
        let (user, superuser, object_args) = match args.len() {
            n if n == arity => {
                let (user, superuser) = self.state.current_user();
                (user, superuser, args)
            }
            n if n == arity + 1 => {
                let user = match int_arg(&args[0]).filter(|_| matches!(args[0], ScalarValue::Int64(_))) {
                    Some(oid) => snapshot.role_name(oid),
                    None => text_arg(&args[0]).unwrap_or_default(),
                };
                let superuser = match snapshot.roles.iter().find(|r| r.name == user) {
                    Some(role) => role.superuser,
                    None if user == OWNER => true,
                    None => {
                        return Err(SqlError::new(
                            crate::error::code::UNDEFINED_OBJECT,
                            format!("role \"{user}\" does not exist"),
                        )
                        .into())
                    }
                };
                (user.clone(), superuser, &args[1..])
            }
            _ => {
                return Err(SqlError::new(
                    crate::error::code::UNDEFINED_FUNCTION,
                    format!("function {}() does not take {} arguments", self.name, args.len()),
                )
                .into())
            }
        };
        let named = text_arg(&object_args[object_args.len() - 1]).unwrap_or_default();
        let mut wanted = Privileges::NONE;
        let mut with_grant_option = false;
        for part in named.split(',') {
            let part = part.trim().to_uppercase();
            let (name, option) = match part.strip_suffix("WITH GRANT OPTION") {
                Some(name) => (name.trim().to_string(), true),
                None => (part.clone(), false),
            };
            with_grant_option |= option;
            let privilege = Privileges::each(kind.all())
                .find(|(_, _, n)| *n == name || (name == "TEMP" && *n == "TEMPORARY"))
                .map(|(p, _, _)| p)
                .ok_or_else(|| {
                    SqlError::new(
                        crate::error::code::INVALID_PARAMETER_VALUE,
                        format!("unrecognized privilege type: \"{}\"", part.to_lowercase()),
                    )
                })?;
            wanted = wanted.union(privilege);
        }
        if superuser {
            return Ok(true);
        }
        let actor = Actor::User { name: user.clone(), roles: Arc::new(closure(&snapshot.roles, &user)) };
        let object = &object_args[0];
        let (owner, acl): (String, Vec<crate::privileges::AclItem>) = match kind {
            Kind::Table => {
                let oid = match object {
                    ScalarValue::Int64(Some(oid)) => Some(*oid),
                    other => snapshot.regclass(other)?,
                };
                let table = snapshot.tables.iter().find(|t| Some(table_oid(t)) == oid).ok_or_else(|| {
                    SqlError::new(
                        crate::error::code::UNDEFINED_TABLE,
                        format!("relation \"{}\" does not exist", text_arg(object).unwrap_or_default()),
                    )
                })?;
                (table.owner.clone(), crate::privileges::table_acl(table).into_owned())
            }
            Kind::Schema => {
                let name = text_arg(object).unwrap_or_default();
                match name.as_str() {
                    PUBLIC_SCHEMA => (
                        DATABASE_OWNER.to_string(),
                        Kind::Schema.acl_or_default(snapshot.schema_acl.clone(), DATABASE_OWNER),
                    ),
                    // The system schemas are everyone's to use.
                    PG_CATALOG | INFORMATION_SCHEMA => return Ok(wanted == Privileges::USAGE),
                    _ => {
                        return Err(SqlError::new(
                            crate::error::code::INVALID_SCHEMA_NAME,
                            format!("schema \"{name}\" does not exist"),
                        )
                        .into())
                    }
                }
            }
            Kind::Database => {
                let name = text_arg(object).unwrap_or_default();
                let database = snapshot.databases.iter().find(|d| d.name == name).ok_or_else(|| {
                    SqlError::new(crate::error::code::INVALID_DATABASE, format!("database \"{name}\" does not exist"))
                })?;
                let acl = snapshot.database_acls.get(&database.id).cloned();
                (DATABASE_OWNER.to_string(), Kind::Database.acl_or_default(acl, DATABASE_OWNER))
            }
        };
        Ok(actor.holds(kind, &owner, &acl, wanted, with_grant_option))
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
pub(super) struct PartitionAncestors;

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
            | Function::SessionUser
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

pub(super) fn is_pg_function(name: &str) -> bool {
    FUNCTIONS.iter().any(|(n, _)| *n == name)
}
