//! The audit log: one JSON object per line, per node, of who logged in (or failed to), of every
//! statement that changes the schema, privileges or roles, and of the statements that touch
//! audited tables, with their outcome:
//!
//! ```text
//! {"time":"2026-12-06T19:20:01.123456Z","event":"login","user":"alice","database":"postgres",
//!  "client":"127.0.0.1:50412","ok":true}
//! {"time":"...","event":"grant","user":"root","database":"postgres",
//!  "statement":"GRANT SELECT ON accounts TO alice","ok":true}
//! {"time":"...","event":"role","user":"root","database":"postgres",
//!  "statement":"CREATE ROLE alice LOGIN PASSWORD '********'","ok":false,"sqlstate":"42710",
//!  "error":"role \"alice\" already exists"}
//! {"time":"...","event":"table","user":"bob","database":"postgres",
//!  "statement":"UPDATE ledger SET amount = 0","tables":["ledger"],"access":"write","ok":true}
//! ```
//!
//! The etcd API writes to the same file: its Auth API's changes as `role` events (with the gRPC
//! code of a refusal in `grpc_code`) and `Authenticate` as `login` (`atoll_server::etcd_auth`).
//!
//! Tables are audited when asked for (`ALTER TABLE t SET (audit = 'write' | 'all' | 'off')`):
//! `write` records every statement that writes the table, `all` every one that reads it as well
//! (the check of privileges, which every access passes, notes it; refused accesses too).
//!
//! Passwords never reach the log (role statements are written with them masked). The file is
//! bounded: past [`AUDIT_FILE_BYTES_MAX`] it is renamed to `<name>.1` (replacing the previous one)
//! and a new one begun, so a node keeps at most twice that. Lines are written whole with one
//! `write` each; they are not synced (a crash may lose the last lines, never corrupt earlier ones).

use datafusion::sql::sqlparser::ast::{self, ObjectType, Statement};
use serde::Serialize;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// Bytes one audit file grows to before it is rotated.
pub const AUDIT_FILE_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// The longest statement text written (longer ones are cut, with `...`).
const STATEMENT_BYTES_MAX: usize = 4096;

/// One line of the audit log.
#[derive(Debug, Serialize)]
pub struct Event<'a> {
    pub time: String,
    /// `login`, `ddl`, `grant` (GRANT / REVOKE), `role` (role statements and SET ROLE), or
    /// `table` (an audited table's access).
    pub event: &'a str,
    pub user: &'a str,
    pub database: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    /// The audited tables the statement touched (`ALTER TABLE t SET (audit = ...)`), and
    /// whether it wrote any (`write`) or only read (`read`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tables: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access: Option<&'a str>,
    pub ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<&'a str>,
    /// The gRPC status code of a refused etcd API request (whose `sqlstate` is empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grpc_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl<'a> Event<'a> {
    /// An event that succeeded (`failure` `None`), or failed with a SQLSTATE and message.
    pub fn new(event: &'a str, user: &'a str, database: &'a str, failure: Option<(&'a str, String)>) -> Event<'a> {
        let ok = failure.is_none();
        let (sqlstate, error) = failure.unzip();
        Event {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            event,
            user,
            database,
            client: None,
            statement: None,
            tables: None,
            access: None,
            ok,
            sqlstate,
            grpc_code: None,
            error,
        }
    }
}

/// The node's audit file.
pub struct AuditLog {
    path: PathBuf,
    /// The open file and its size; `None` after a failed open (retried at the next event).
    file: Mutex<Option<(File, u64)>>,
    bytes_max: u64,
}

impl AuditLog {
    pub fn new(path: &Path) -> AuditLog {
        AuditLog { path: path.to_path_buf(), file: Mutex::new(None), bytes_max: AUDIT_FILE_BYTES_MAX }
    }

    /// Appends `event` as one line. A failure to write is logged and does not fail the
    /// statement or login it records (the database stays available when its disk for logs is
    /// full; the node's log says so).
    pub fn record(&self, event: &Event<'_>) {
        let mut line = match serde_json::to_vec(event) {
            Ok(line) => line,
            Err(error) => {
                tracing::error!(%error, "audit event not serializable");
                return;
            }
        };
        line.push(b'\n');
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(error) = self.append(&mut guard, &line) {
            tracing::error!(path = %self.path.display(), %error, "audit log write failed");
            *guard = None;
        }
    }

    fn append(&self, slot: &mut Option<(File, u64)>, line: &[u8]) -> std::io::Result<()> {
        if slot.as_ref().is_some_and(|(_, size)| size + line.len() as u64 > self.bytes_max) {
            *slot = None;
            let mut rotated = self.path.clone().into_os_string();
            rotated.push(".1");
            std::fs::rename(&self.path, rotated)?;
        }
        if slot.is_none() {
            let file = OpenOptions::new().create(true).append(true).open(&self.path)?;
            let size = file.metadata()?.len();
            *slot = Some((file, size));
        }
        let (file, size) = slot.as_mut().expect("opened above");
        file.write_all(line)?;
        *size += line.len() as u64;
        Ok(())
    }
}

/// The audit event a statement is recorded as, if it is one that is audited.
pub fn kind(statement: &Statement) -> Option<&'static str> {
    match statement {
        Statement::CreateRole(_)
        | Statement::AlterRole { .. }
        | Statement::Drop { object_type: ObjectType::Role | ObjectType::User, .. }
        | Statement::Set(ast::Set::SetRole { .. }) => Some("role"),
        Statement::Grant(_) | Statement::Revoke(_) => Some("grant"),
        Statement::CreateTable(_)
        | Statement::CreateIndex(_)
        | Statement::Drop { .. }
        | Statement::AlterTable(_)
        | Statement::Truncate(_)
        | Statement::CreateDatabase { .. } => Some("ddl"),
        _ => None,
    }
}

/// A statement's text for the log: passwords masked, cut at [`STATEMENT_BYTES_MAX`].
pub fn statement_text(statement: &Statement) -> String {
    let masked = ast::Password::Password(ast::Expr::value(ast::Value::SingleQuotedString("********".into())));
    let text = match statement {
        Statement::CreateRole(create) if create.password.is_some() => {
            let mut create = create.clone();
            create.password = Some(masked);
            Statement::CreateRole(create).to_string()
        }
        Statement::AlterRole { name, operation: ast::AlterRoleOperation::WithOptions { options } } => {
            let options = options
                .iter()
                .map(|option| match option {
                    ast::RoleOption::Password(_) => ast::RoleOption::Password(masked.clone()),
                    other => other.clone(),
                })
                .collect();
            Statement::AlterRole { name: name.clone(), operation: ast::AlterRoleOperation::WithOptions { options } }
                .to_string()
        }
        other => other.to_string(),
    };
    if text.len() <= STATEMENT_BYTES_MAX {
        return text;
    }
    let mut end = STATEMENT_BYTES_MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{code, SqlError};
    use crate::session::parse;

    #[test]
    fn passwords_never_reach_the_log() {
        for sql in ["CREATE USER alice WITH PASSWORD 'secret-1'", "ALTER ROLE alice WITH LOGIN PASSWORD 'secret-1'"] {
            let statement = parse(sql).expect("parses").remove(0);
            assert_eq!(kind(&statement), Some("role"));
            let text = statement_text(&statement);
            assert!(!text.contains("secret-1") && text.contains("'********'"), "{text}");
        }
        assert_eq!(kind(&parse("SET ROLE readers").expect("parses")[0]), Some("role"));
        let grant = parse("GRANT SELECT ON t TO alice").expect("parses").remove(0);
        assert_eq!((kind(&grant), statement_text(&grant).as_str()), (Some("grant"), "GRANT SELECT ON t TO alice"));
        assert_eq!(kind(&parse("SELECT 1").expect("parses")[0]), None);
    }

    #[test]
    fn events_are_json_lines_and_the_file_is_rotated_at_its_bound() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.jsonl");
        let mut log = AuditLog::new(&path);
        log.bytes_max = 600;
        let denied = SqlError::new(code::INSUFFICIENT_PRIVILEGE, "permission denied for table t");
        for n in 0..10 {
            let failure = (n % 2 == 1).then(|| (denied.code, denied.message.clone()));
            let mut event = Event::new("ddl", "alice", "postgres", failure);
            event.statement = Some(format!("DROP TABLE t{n}"));
            log.record(&event);
        }
        let current = std::fs::read_to_string(&path).expect("current file");
        let previous = std::fs::read_to_string(dir.path().join("audit.jsonl.1")).expect("rotated file");
        assert!(current.len() <= 600 && previous.len() <= 600);
        let lines: Vec<serde_json::Value> =
            previous.lines().chain(current.lines()).map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        let last = lines.last().expect("a line");
        assert_eq!(last["statement"], "DROP TABLE t9");
        assert_eq!((last["ok"].as_bool(), last["sqlstate"].as_str()), (Some(false), Some("42501")));
        assert!(lines.iter().any(|l| l["ok"] == true && l.get("sqlstate").is_none()));
    }
}
