//! SQL errors: every error a client sees carries a PostgreSQL SQLSTATE.

use datafusion::error::DataFusionError;
use pgwire::error::{ErrorInfo, PgWireError};

/// SQLSTATE codes Atoll answers with (PostgreSQL's appendix A).
pub mod code {
    pub const SUCCESSFUL_COMPLETION: &str = "00000";
    pub const SYNTAX_ERROR: &str = "42601";
    pub const UNDEFINED_TABLE: &str = "42P01";
    pub const UNDEFINED_COLUMN: &str = "42703";
    pub const UNDEFINED_OBJECT: &str = "42704";
    pub const UNDEFINED_FUNCTION: &str = "42883";
    pub const DUPLICATE_TABLE: &str = "42P07";
    pub const DUPLICATE_DATABASE: &str = "42P04";
    pub const DUPLICATE_COLUMN: &str = "42701";
    pub const DUPLICATE_OBJECT: &str = "42710";
    pub const INVALID_DATABASE: &str = "3D000";
    pub const DATATYPE_MISMATCH: &str = "42804";
    pub const INVALID_TABLE_DEFINITION: &str = "42P16";
    pub const INVALID_COLUMN_REFERENCE: &str = "42P10";
    pub const AMBIGUOUS_COLUMN: &str = "42702";
    pub const UNIQUE_VIOLATION: &str = "23505";
    pub const NOT_NULL_VIOLATION: &str = "23502";
    pub const CHECK_VIOLATION: &str = "23514";
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    pub const INVALID_BINARY_REPRESENTATION: &str = "22P03";
    pub const NUMERIC_OUT_OF_RANGE: &str = "22003";
    pub const DIVISION_BY_ZERO: &str = "22012";
    pub const STRING_DATA_RIGHT_TRUNCATION: &str = "22001";
    pub const INVALID_DATETIME_FORMAT: &str = "22007";
    pub const CARDINALITY_VIOLATION: &str = "21000";
    pub const INVALID_REGULAR_EXPRESSION: &str = "2201B";
    pub const INVALID_ARGUMENT_FOR_POWER_FUNCTION: &str = "2201F";
    pub const SUBSTRING_ERROR: &str = "22011";
    pub const DATA_EXCEPTION: &str = "22000";
    pub const SERIALIZATION_FAILURE: &str = "40001";
    pub const DEADLOCK_DETECTED: &str = "40P01";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const IDLE_IN_TRANSACTION_TIMEOUT: &str = "25P03";
    pub const IN_FAILED_TRANSACTION: &str = "25P02";
    pub const ACTIVE_TRANSACTION: &str = "25001";
    pub const NO_ACTIVE_TRANSACTION: &str = "25P01";
    pub const INVALID_SAVEPOINT: &str = "3B001";
    pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
    pub const OUT_OF_MEMORY: &str = "53200";
    pub const TOO_MANY_CONNECTIONS: &str = "53300";
    pub const CONFIGURATION_LIMIT_EXCEEDED: &str = "53400";
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    pub const STATEMENT_TOO_COMPLEX: &str = "54001";
    pub const CONNECTION_FAILURE: &str = "08006";
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    pub const UNDEFINED_PARAMETER: &str = "42704";
    pub const INTERNAL_ERROR: &str = "XX000";
    pub const QUERY_CANCELED: &str = "57014";
    pub const WARNING: &str = "01000";
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    pub const INVALID_AUTHORIZATION_SPECIFICATION: &str = "28000";
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
    pub const INVALID_NAME: &str = "42602";
    pub const RESERVED_NAME: &str = "42939";
    pub const DEPENDENT_OBJECTS_STILL_EXIST: &str = "2BP01";
    pub const INVALID_GRANT_OPERATION: &str = "0LP01";
    pub const INVALID_SCHEMA_NAME: &str = "3F000";
    pub const BAD_COPY_FILE_FORMAT: &str = "22P04";
    pub const OBJECT_IN_USE: &str = "55006";
}

/// A SQL error: a SQLSTATE, a message, and for syntax errors the 1-based character position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SqlError {
    pub code: &'static str,
    pub message: String,
    pub position: Option<usize>,
}

pub type Result<T, E = SqlError> = std::result::Result<T, E>;

impl SqlError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        SqlError { code, message: message.into(), position: None }
    }

    pub fn unsupported(what: impl std::fmt::Display) -> Self {
        SqlError::new(code::FEATURE_NOT_SUPPORTED, format!("{what} is not supported"))
    }

    pub fn internal(what: impl std::fmt::Display) -> Self {
        SqlError::new(code::INTERNAL_ERROR, format!("internal error: {what}"))
    }

    /// Whether a client should retry the whole transaction.
    pub fn is_retryable(&self) -> bool {
        self.code == code::SERIALIZATION_FAILURE || self.code == code::DEADLOCK_DETECTED
    }

    /// Builds a syntax error from sqlparser's message, which ends "at Line: L, Column: C".
    pub fn syntax(message: &str, sql: &str) -> Self {
        let position = parse_line_column(message).and_then(|(line, column)| char_position(sql, line, column));
        let message = message.trim_start_matches("sql parser error: ");
        SqlError { code: code::SYNTAX_ERROR, message: format!("syntax error: {message}"), position }
    }
}

fn parse_line_column(message: &str) -> Option<(usize, usize)> {
    let at = message.rfind("at Line: ")?;
    let rest = &message[at + "at Line: ".len()..];
    let (line, rest) = rest.split_once(", Column: ")?;
    let column: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// The 1-based character offset of (line, column) in `sql`, as PostgreSQL reports positions.
fn char_position(sql: &str, line: usize, column: usize) -> Option<usize> {
    let mut offset = 0;
    for (index, text) in sql.split('\n').enumerate() {
        if index + 1 == line {
            return Some(offset + column.min(text.chars().count() + 1));
        }
        offset += text.chars().count() + 1;
    }
    None
}

impl From<atoll_kv::Error> for SqlError {
    fn from(error: atoll_kv::Error) -> Self {
        match error {
            atoll_kv::Error::Conflict => SqlError::new(
                code::SERIALIZATION_FAILURE,
                "restart transaction: a concurrent transaction changed data this transaction read or wrote \
                 (serialization failure, retry the transaction)",
            ),
            atoll_kv::Error::OutOfRange(message) if message == atoll_kv::error::messages::COMPACTED => SqlError::new(
                code::SERIALIZATION_FAILURE,
                "restart transaction: its snapshot is older than the MVCC history kept (--mvcc-retention-secs); \
                 retry the transaction",
            ),
            atoll_kv::Error::Deadlock => SqlError::new(code::DEADLOCK_DETECTED, error.to_string()),
            atoll_kv::Error::LockTimeout => {
                SqlError::new(code::LOCK_NOT_AVAILABLE, "canceling statement due to lock timeout")
            }
            // The store's inbox is full (admission control): a class 53 error the client may
            // retry, not a connection failure.
            atoll_kv::Error::Overloaded(message) => SqlError::new(
                code::CONFIGURATION_LIMIT_EXCEEDED,
                format!("the node is overloaded, retry later: {message}"),
            ),
            atoll_kv::Error::InvalidArgument(message) if message.starts_with("transaction too large") => {
                SqlError::new(code::PROGRAM_LIMIT_EXCEEDED, message)
            }
            other => SqlError::new(code::CONNECTION_FAILURE, format!("storage unavailable: {other}")),
        }
    }
}

impl From<DataFusionError> for SqlError {
    fn from(error: DataFusionError) -> Self {
        let error = error.find_root();
        if let DataFusionError::External(inner) = &error {
            if let Some(sql) = inner.downcast_ref::<SqlError>() {
                return sql.clone();
            }
        }
        let message = error.message().to_string();
        let lower = message.to_lowercase();
        let code = match &error {
            DataFusionError::SQL(..) => code::SYNTAX_ERROR,
            DataFusionError::NotImplemented(_) => code::FEATURE_NOT_SUPPORTED,
            DataFusionError::ResourcesExhausted(_) => code::OUT_OF_MEMORY,
            DataFusionError::SchemaError(..) if lower.contains("no field named") => code::UNDEFINED_COLUMN,
            DataFusionError::SchemaError(..) if lower.contains("ambiguous") => code::AMBIGUOUS_COLUMN,
            _ if lower.contains("divide by zero") || lower.contains("division by zero") => code::DIVISION_BY_ZERO,
            _ if lower.contains("scalar subquery returned more than one row") => code::CARDINALITY_VIOLATION,
            _ if lower.contains("regex parse error") => code::INVALID_REGULAR_EXPRESSION,
            _ if lower.contains("cannot take square root of a negative") => code::INVALID_ARGUMENT_FOR_POWER_FUNCTION,
            _ if lower.contains("negative count not allowed") || lower.contains("negative substring length") => {
                code::SUBSTRING_ERROR
            }
            _ if lower.contains("overflow")
                || lower.contains("can't cast value")
                || lower.contains("out of range")
                || lower.contains("too large to store") =>
            {
                code::NUMERIC_OUT_OF_RANGE
            }
            _ if lower.contains("table") && lower.contains("not found") => code::UNDEFINED_TABLE,
            _ if lower.contains("invalid function") || lower.contains("no function matches") => {
                code::UNDEFINED_FUNCTION
            }
            _ if lower.contains("cannot cast") || lower.contains("cast error") || lower.contains("can't parse") => {
                code::INVALID_TEXT_REPRESENTATION
            }
            _ if lower.contains("unsupported") || lower.contains("not supported") => code::FEATURE_NOT_SUPPORTED,
            DataFusionError::Plan(_) | DataFusionError::SchemaError(..) => code::DATATYPE_MISMATCH,
            _ => code::INTERNAL_ERROR,
        };
        let message = match &error {
            DataFusionError::SQL(parser, _) => return SqlError::syntax(&parser.to_string(), ""),
            _ => message.trim_start_matches("Error during planning: ").to_string(),
        };
        SqlError::new(code, message)
    }
}

impl From<SqlError> for DataFusionError {
    fn from(error: SqlError) -> Self {
        DataFusionError::External(Box::new(error))
    }
}

impl From<datafusion::arrow::error::ArrowError> for SqlError {
    fn from(error: datafusion::arrow::error::ArrowError) -> Self {
        SqlError::from(DataFusionError::ArrowError(Box::new(error), None))
    }
}

impl From<SqlError> for ErrorInfo {
    fn from(error: SqlError) -> Self {
        let mut info = ErrorInfo::new("ERROR".to_string(), error.code.to_string(), error.message);
        if let Some(position) = error.position {
            info.position = Some(position.to_string());
        }
        info
    }
}

impl From<SqlError> for PgWireError {
    fn from(error: SqlError) -> Self {
        PgWireError::UserError(Box::new(error.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_error_position_is_a_character_offset() {
        let sql = "SELECT 1;\nSELEC x";
        let error =
            SqlError::syntax("sql parser error: Expected: an SQL statement, found: SELEC at Line: 2, Column: 1", sql);
        assert_eq!(error.code, code::SYNTAX_ERROR);
        assert_eq!(error.position, Some(11));
    }

    #[test]
    fn conflict_is_a_retryable_serialization_failure() {
        let error = SqlError::from(atoll_kv::Error::Conflict);
        assert_eq!(error.code, "40001");
        assert!(error.is_retryable());
    }

    #[test]
    fn datafusion_errors_get_postgresql_sqlstates() {
        for (message, expected) in [
            ("Scalar subquery returned more than one row", code::CARDINALITY_VIOLATION),
            ("regex parse error:\n    (\n    ^\nerror: unclosed group", code::INVALID_REGULAR_EXPRESSION),
            ("Compute error: cannot take square root of a negative number", code::INVALID_ARGUMENT_FOR_POWER_FUNCTION),
            ("negative substring length not allowed", code::SUBSTRING_ERROR),
            ("Cast error: Can't cast value 99999 to type Int16", code::NUMERIC_OUT_OF_RANGE),
        ] {
            let error = SqlError::from(DataFusionError::Execution(message.to_string()));
            assert_eq!(error.code, expected, "{message}");
        }
    }

    #[test]
    fn an_overloaded_store_is_insufficient_resources_not_a_lost_connection() {
        let error = SqlError::from(atoll_kv::Error::Overloaded("store inbox full".into()));
        assert_eq!(error.code, "53400");
        assert!(error.message.contains("store inbox full"), "{}", error.message);
    }
}
