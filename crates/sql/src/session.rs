//! A SQL session: one client connection's transaction state, session variables and query
//! engine context, and the statement dispatcher.
//!
//! Transactions: outside BEGIN each statement runs in its own (implicit) transaction, which
//! is retried automatically on a serialization failure since nothing was sent to the client
//! yet. Inside BEGIN the statements share one KV transaction; an error aborts it as in
//! PostgreSQL (25P02 until ROLLBACK), so a failed statement leaves no partial writes.

use crate::catalog::{self, TableDesc};
use crate::error::{code, Result, SqlError};
use crate::execute;
use crate::kv::NodeKv;
use crate::metrics::SqlMetrics;
use crate::pg_catalog::{self, PgSchema, PgState};
use crate::plan_cache::{self, CachedPlan, PlanCache};
use crate::provider::{AtollCatalog, AtollSchema, StatementScope, TxnCell};
use atoll_kv::locks::LockTable;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::memory_pool::GreedyMemoryPool;
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::Statement as DfStatement;
use datafusion::sql::sqlparser::ast::{self, ObjectType, Statement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Tokenizer;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// Times an implicit transaction is retried after a serialization failure.
const IMPLICIT_RETRIES: u32 = 16;

/// What every session of a node shares.
pub struct Engine {
    pub kv: NodeKv,
    runtime: Arc<RuntimeEnv>,
    /// Most bytes one statement may hold (see [`execute`]).
    query_memory_bytes: usize,
    /// Most client connections served at once (see `server::serve`).
    pub(crate) connections_max: usize,
    /// See [`SqlLimits::unsafe_ignore_interrupts`].
    pub(crate) unsafe_ignore_interrupts: bool,
    /// See [`SqlLimits::unsafe_skip_privilege_checks`].
    pub(crate) unsafe_skip_privilege_checks: bool,
    /// Where logins and schema, privilege and role changes are recorded (see [`crate::audit`]).
    pub(crate) audit: Option<Arc<crate::audit::AuditLog>>,
    /// The connections each role has open here (`CONNECTION LIMIT`).
    pub(crate) role_connections: crate::privileges::RoleConnections,
    /// Write locks of every session on this node: writers of one row queue instead of
    /// failing each other at commit (see `atoll_kv::locks`).
    pub locks: Arc<LockTable>,
    pub metrics: SqlMetrics,
}

impl Engine {
    /// A statement that needs more memory than `limits` allow fails with 53200 (see
    /// [`execute`]). The SQL metrics are registered in `registry`.
    pub fn new(
        kv: NodeKv,
        limits: SqlLimits,
        registry: &prometheus::Registry,
        audit: Option<Arc<crate::audit::AuditLog>>,
    ) -> Arc<Self> {
        assert!(limits.query_memory_bytes <= limits.memory_bytes, "a query's memory limit exceeds the node's");
        let runtime = RuntimeEnvBuilder::new()
            .with_memory_pool(Arc::new(GreedyMemoryPool::new(limits.memory_bytes)))
            .build_arc()
            .expect("runtime environment");
        Arc::new(Engine {
            kv,
            runtime,
            query_memory_bytes: limits.query_memory_bytes,
            connections_max: limits.connections_max,
            unsafe_ignore_interrupts: limits.unsafe_ignore_interrupts,
            unsafe_skip_privilege_checks: limits.unsafe_skip_privilege_checks,
            audit,
            role_connections: Default::default(),
            locks: LockTable::new(),
            metrics: SqlMetrics::new(registry),
        })
    }
}

/// What SQL may take on one node.
#[derive(Debug, Clone, Copy)]
pub struct SqlLimits {
    /// Bytes all running statements of the node may hold together in joins, sorts, aggregates
    /// and collected results.
    pub memory_bytes: usize,
    /// Bytes one statement may hold; below `memory_bytes` so that one query cannot starve the
    /// others.
    pub query_memory_bytes: usize,
    /// Client connections served at once; one more is refused with 53300, as PostgreSQL past
    /// `max_connections`.
    pub connections_max: usize,
    /// BROKEN ON PURPOSE, for tests of the checkers: statements ignore `statement_timeout`,
    /// cancel requests and their client's disconnect.
    pub unsafe_ignore_interrupts: bool,
    /// BROKEN ON PURPOSE, for tests of the checkers: every session may do what a superuser may
    /// (no privilege is checked), and so may every etcd user on its keys.
    pub unsafe_skip_privilege_checks: bool,
}

/// What a statement produced.
pub enum Output {
    Rows {
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
        tag: &'static str,
    },
    Command {
        tag: String,
        rows: Option<usize>,
    },
    Begin,
    /// COPY FROM STDIN started: the client sends data next (with this many columns).
    CopyIn(usize),
    /// COMMIT or ROLLBACK, with the tag to answer (a failed transaction's COMMIT answers ROLLBACK).
    End(&'static str),
    Empty,
}

impl Output {
    pub fn command(tag: impl Into<String>) -> Output {
        Output::Command { tag: tag.into(), rows: None }
    }
    pub fn count(tag: impl Into<String>, rows: usize) -> Output {
        Output::Command { tag: tag.into(), rows: Some(rows) }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// No BEGIN: every statement is its own transaction.
    Implicit,
    /// Inside BEGIN.
    Explicit,
    /// Inside BEGIN after an error: everything but COMMIT/ROLLBACK fails with 25P02.
    Failed,
}

pub struct Session {
    pub(crate) engine: Arc<Engine>,
    pub(crate) database: u64,
    pub(crate) database_name: String,
    pub(crate) txn: Arc<TxnCell>,
    pub(crate) scope: Arc<Mutex<StatementScope>>,
    pub(crate) ctx: SessionContext,
    /// The system catalogs' view of this session's database.
    pg: Arc<PgState>,
    mode: Mode,
    /// Key spans to delete once the transaction commits (dropped and truncated tables).
    pub(crate) cleanup: Vec<(Vec<u8>, Vec<u8>)>,
    /// The block's savepoints, oldest first: name, the writes then, and `cleanup`'s length then.
    savepoints: Vec<(String, atoll_kv::transaction::Savepoint, usize)>,
    vars: BTreeMap<String, String>,
    /// What `vars` started as, and `RESET` returns to: the built-in defaults with the
    /// cluster's `ALTER ROLE ALL SET` defaults over them.
    defaults: BTreeMap<String, String>,
    /// A COPY FROM STDIN waiting for its data.
    copy: Option<crate::copy::CopyIn>,
    /// Notices and warnings of the current statement, sent to the client before its result.
    pub(crate) notices: Vec<Notice>,
    /// The plan cache of the prepared statement being executed, if it is one.
    prepared: Option<Arc<PlanCache>>,
    /// Who the session runs as, and whether that role is a superuser (see [`Session::log_in`]).
    pub(crate) user: String,
    pub(crate) superuser: bool,
    /// The role taken with `SET ROLE` (its name and whether it is a superuser), whose
    /// privileges the session then has instead of its user's.
    pub(crate) role: Option<(String, bool)>,
}

/// A NOTICE or WARNING for the client, as PostgreSQL sends them (`IF EXISTS` that found
/// nothing, BEGIN inside a block, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
}

impl Notice {
    pub(crate) fn info(code: &'static str, message: String) -> Notice {
        Notice { severity: "NOTICE", code, message }
    }

    pub(crate) fn warning(code: &'static str, message: &str) -> Notice {
        Notice { severity: "WARNING", code, message: message.to_string() }
    }
}

/// What runs inside a transaction.
enum Work<'a> {
    Statement(&'a Statement),
    Copy(&'a crate::copy::CopyIn),
}

/// Parses SQL text into statements, with PostgreSQL's syntax error position.
pub fn parse(sql: &str) -> Result<Vec<Statement>> {
    // PostgreSQL's VACUUM options (`VACUUM ANALYZE t`, `VACUUM (FULL) t`) are not the parser's;
    // MVCC garbage is Atoll's own business, so any single VACUUM is accepted as a no-op.
    let single = sql.trim().trim_end_matches(';');
    if single.get(..6).is_some_and(|w| w.eq_ignore_ascii_case("vacuum")) && !single.contains(';') {
        return Parser::parse_sql(&PostgreSqlDialect {}, "VACUUM").map_err(|e| SqlError::syntax(&e.to_string(), sql));
    }
    let normalized;
    let sql = if sql.trim_start().get(..4).is_some_and(|w| w.eq_ignore_ascii_case("copy")) {
        normalized = copy_booleans(sql);
        normalized.as_str()
    } else {
        sql
    };
    let error = |e: ParserError| match e {
        ParserError::RecursionLimitExceeded => SqlError::new(
            crate::error::code::STATEMENT_TOO_COMPLEX,
            "stack depth limit exceeded: the statement nests too deep",
        ),
        e => SqlError::syntax(&e.to_string(), sql),
    };
    // Tokenized once: the depth bound reads the tokens, then the parser takes them.
    let dialect = PostgreSqlDialect {};
    let mut tokens = Tokenizer::new(&dialect, sql).tokenize_with_location().map_err(|e| error(e.into()))?;
    let created_users = crate::roles::user_as_role(&mut tokens);
    let tokens = crate::privileges::membership_as_roles(tokens);
    crate::depth::check(&tokens)?;
    crate::depth::check_bracket_runs(&tokens)?;
    // The parser's own nesting limit (50 by default) would refuse what PostgreSQL takes; the
    // depth check above already bounds every statement's depth, and the dialect bounds the
    // parser's backtracking.
    let budgeted = crate::dialect::AtollDialect::for_tokens(tokens.len());
    let parsed = Parser::new(&budgeted)
        .with_recursion_limit(atoll_types::limits::STATEMENT_DEPTH_MAX)
        .with_tokens_with_locations(tokens)
        .parse_statements();
    if budgeted.exhausted() {
        return Err(SqlError::new(
            crate::error::code::STATEMENT_TOO_COMPLEX,
            "statement too complex: the parser gave up after too many attempts at its nested \
             brackets and calls",
        ));
    }
    let mut statements = parsed.map_err(error)?;
    for statement in &mut statements {
        if let Statement::CreateRole(create) = statement {
            if create.names.iter().any(|n| table_name(n).is_ok_and(|n| created_users.contains(&n))) {
                create.login.get_or_insert(true);
            }
        }
    }
    statements.iter_mut().for_each(crate::depth::rebalance);
    statements.iter_mut().try_for_each(crate::literals::write_out)?;
    statements.iter_mut().for_each(crate::column_names::disambiguate);
    statements.iter_mut().for_each(crate::column_names::name_function_columns);
    statements.iter().try_for_each(crate::depth::check_plan_cost)?;
    Ok(statements)
}

/// PostgreSQL takes `on`/`off` for COPY's boolean options (pgbench sends `freeze on`); the
/// parser takes `true`/`false`.
fn copy_booleans(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let words: Vec<&str> =
        sql.split_inclusive(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')').collect();
    let mut previous_option = false;
    for word in words {
        let bare = word.trim_end_matches(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')');
        let rest = &word[bare.len()..];
        let replaced = match bare.to_lowercase().as_str() {
            "on" if previous_option => "true",
            "off" if previous_option => "false",
            _ => bare,
        };
        out.push_str(replaced);
        out.push_str(rest);
        if !bare.is_empty() {
            previous_option = matches!(bare.to_lowercase().as_str(), "freeze" | "header");
        }
    }
    out
}

/// The DataFusion configuration of every session.
fn session_config() -> SessionConfig {
    let mut config = SessionConfig::new()
        .with_target_partitions(1)
        .with_default_catalog_and_schema("atoll", catalog::PUBLIC_SCHEMA)
        .with_create_default_catalog_and_schema(false)
        .with_information_schema(false);
    // `1.5` is a numeric in PostgreSQL, exact to its last digit; as a float, a 28-digit
    // literal came back changed.
    config.options_mut().sql_parser.parse_float_as_decimal = true;
    config
}

/// Plans a query (other statements are left alone) as a session does (its configuration, Atoll's bounded functions) over one
/// empty in-memory table `t (a bigint, b text, c decimal(20, 4))`, down to the physical plan,
/// without running it. For fuzzing: whatever [`parse`] lets through must plan without a panic
/// and in bounded time, since planning is one step nothing interrupts.
pub async fn plan_detached(statement: &Statement) -> Result<()> {
    use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, MemorySchemaProvider, SchemaProvider};
    if !matches!(statement, Statement::Query(_)) {
        return Ok(());
    }
    static CONTEXT: std::sync::OnceLock<SessionContext> = std::sync::OnceLock::new();
    let ctx = CONTEXT.get_or_init(|| {
        let ctx = SessionContext::new_with_config(session_config());
        crate::bounded::register(&ctx);
        crate::pg_functions::register(&ctx);
        crate::checked::register(&ctx);
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Utf8, true),
            Field::new("c", DataType::Decimal128(20, 4), true),
        ]));
        let table = datafusion::datasource::MemTable::try_new(schema, vec![vec![]]).expect("an empty table");
        let public = MemorySchemaProvider::new();
        public.register_table("t".into(), Arc::new(table)).expect("register t");
        let atoll = MemoryCatalogProvider::new();
        atoll.register_schema(catalog::PUBLIC_SCHEMA, Arc::new(public)).expect("register public");
        ctx.register_catalog("atoll", Arc::new(atoll));
        ctx
    });
    let state = ctx.state();
    let mut statement = statement.clone();
    crate::standard_forms::for_planning(&mut statement);
    let plan = state.statement_to_plan(DfStatement::Statement(Box::new(statement))).await?;
    state.create_physical_plan(&plan).await?;
    Ok(())
}

fn default_vars() -> BTreeMap<String, String> {
    [
        ("application_name", ""),
        ("client_encoding", "UTF8"),
        ("datestyle", "ISO, MDY"),
        ("default_table_access_method", "heap"),
        ("default_transaction_isolation", "serializable"),
        ("extra_float_digits", "1"),
        ("integer_datetimes", "on"),
        ("intervalstyle", "postgres"),
        ("search_path", "\"$user\", public"),
        ("server_encoding", "UTF8"),
        ("server_version", crate::SERVER_VERSION),
        ("server_version_num", crate::SERVER_VERSION_NUM),
        ("standard_conforming_strings", "on"),
        ("statement_timeout", "0"),
        ("lock_timeout", "0"),
        ("idle_in_transaction_session_timeout", "0"),
        ("timezone", "UTC"),
        ("transaction_isolation", "serializable"),
        ("transaction_read_only", "off"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

impl Session {
    /// Opens a session of `user` on `database`, which must exist, with the settings set for
    /// every role and then those set for `user`'s role.
    pub async fn open(engine: Arc<Engine>, database_name: &str, user: &str) -> Result<Session> {
        let mut txn = engine.kv.begin().await?;
        let database = catalog::require_database(&mut txn, database_name).await?.id;
        let mut defaults = default_vars();
        for (name, value) in catalog::role_defaults(&mut txn).await? {
            defaults.insert(name, value);
        }
        if let Some(role) = catalog::role(&mut txn, user).await? {
            defaults.extend(role.settings);
        }
        txn.rollback();
        let txn: Arc<TxnCell> = Arc::new(tokio::sync::Mutex::new(None));
        let scope = Arc::new(Mutex::new(StatementScope::default()));
        let ctx = SessionContext::new_with_config_rt(session_config(), engine.runtime.clone());
        let public = Arc::new(AtollSchema { txn: txn.clone(), database, scope: scope.clone() });
        let pg = PgState::new(txn.clone(), database, database_name);
        pg_catalog::register_functions(&ctx, &pg);
        crate::bounded::register(&ctx);
        crate::pg_functions::register(&ctx);
        crate::checked::register(&ctx);
        let pg_catalog = Arc::new(PgSchema { state: pg.clone(), name: pg_catalog::PG_CATALOG });
        let information_schema = Arc::new(PgSchema { state: pg.clone(), name: pg_catalog::INFORMATION_SCHEMA });
        ctx.register_catalog("atoll", Arc::new(AtollCatalog { public, pg_catalog, information_schema }));
        Ok(Session {
            engine,
            database,
            database_name: database_name.to_string(),
            txn,
            scope,
            ctx,
            pg,
            mode: Mode::Implicit,
            cleanup: Vec::new(),
            savepoints: Vec::new(),
            vars: defaults.clone(),
            defaults,
            copy: None,
            notices: Vec::new(),
            prepared: None,
            // Nobody until [`Session::log_in`]: no superuser rights by default.
            user: String::new(),
            superuser: false,
            role: None,
        })
    }

    /// Sets who the session runs as: the connection's login (`crate::login::Authenticated`;
    /// the server opens no session without one).
    pub fn log_in(&mut self, user: &str, superuser: bool) {
        self.user = user.to_string();
        self.superuser = superuser;
        self.act_as(None);
    }

    /// Takes on `role` (`SET ROLE`), or the login's own rights again (`None`).
    pub(crate) fn act_as(&mut self, role: Option<(String, bool)>) {
        self.role = role;
        let (current, superuser) = match &self.role {
            Some((name, superuser)) => (name.clone(), *superuser),
            None => (self.user.clone(), self.superuser),
        };
        self.scope.lock().expect("scope lock").checked_user = (!superuser).then(|| current.clone());
        self.pg.log_in(&self.user, &current, superuser);
    }

    /// Whether the role whose privileges the session has is a superuser.
    pub(crate) fn acts_as_superuser(&self) -> bool {
        self.role.as_ref().map_or(self.superuser, |(_, superuser)| *superuser)
    }

    /// The role whose privileges the session has (PostgreSQL's `current_user`).
    pub(crate) fn current_user(&self) -> &str {
        self.role.as_ref().map_or(self.user.as_str(), |(name, _)| name.as_str())
    }

    /// Whether a transaction block is open (for ReadyForQuery's status).
    pub fn in_transaction_block(&self) -> bool {
        self.mode != Mode::Implicit
    }

    pub fn failed(&self) -> bool {
        self.mode == Mode::Failed
    }

    pub fn set_var(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_lowercase(), value.to_string());
    }

    /// `statement_timeout` as a duration; `None` when 0 (no limit), as in PostgreSQL.
    pub fn statement_timeout(&self) -> Option<std::time::Duration> {
        self.timeout_setting("statement_timeout")
    }

    /// `idle_in_transaction_session_timeout`: how long the session may sit in an open
    /// transaction between statements before it is ended (25P03); `None` when 0.
    pub fn idle_in_transaction_timeout(&self) -> Option<std::time::Duration> {
        self.timeout_setting("idle_in_transaction_session_timeout")
    }

    /// A timeout setting as a duration; `None` when 0 (no limit), as in PostgreSQL.
    fn timeout_setting(&self, name: &str) -> Option<std::time::Duration> {
        self.vars.get(name).and_then(|value| parse_timeout(name, value).ok()).filter(|d| !d.is_zero())
    }

    /// Runs one statement with bound parameters.
    pub async fn execute(&mut self, statement: &Statement, params: &[ScalarValue]) -> Result<Output> {
        let outcome = self.execute_statement(statement, params).await;
        self.audit(crate::audit::kind(statement), || crate::audit::statement_text(statement), &outcome);
        outcome
    }

    /// Writes the audit event of a statement that ended with `outcome`: as `kind` if the
    /// statement is audited as such, as `table` if it touched an audited table.
    fn audit(&mut self, kind: Option<&'static str>, text: impl FnOnce() -> String, outcome: &Result<Output>) {
        let audited = std::mem::take(&mut self.scope.lock().expect("scope lock").audited);
        let kind = match kind {
            Some(kind) => kind,
            None if !audited.is_empty() => "table",
            None => return,
        };
        let Some(audit) = &self.engine.audit else { return };
        let failure = outcome.as_ref().err().map(|e| (e.code, e.message.clone()));
        let mut event = crate::audit::Event::new(kind, &self.user, &self.database_name, failure);
        event.statement = Some(text());
        if !audited.is_empty() {
            event.access = Some(if audited.iter().any(|(_, write)| *write) { "write" } else { "read" });
            event.tables = Some(audited.into_iter().map(|(name, _)| name).collect());
        }
        audit.record(&event);
    }

    async fn execute_statement(&mut self, statement: &Statement, params: &[ScalarValue]) -> Result<Output> {
        match statement {
            Statement::StartTransaction { .. } => {
                if self.mode != Mode::Implicit {
                    // PostgreSQL warns and stays in the block.
                    self.notices
                        .push(Notice::warning(code::ACTIVE_TRANSACTION, "there is already a transaction in progress"));
                    return Ok(Output::Begin);
                }
                self.begin().await?;
                self.mode = Mode::Explicit;
                Ok(Output::Begin)
            }
            Statement::Commit { .. } => match self.mode {
                Mode::Implicit => {
                    self.notices
                        .push(Notice::warning(code::NO_ACTIVE_TRANSACTION, "there is no transaction in progress"));
                    Ok(Output::End("COMMIT"))
                }
                Mode::Failed => {
                    self.abort().await;
                    self.mode = Mode::Implicit;
                    Ok(Output::End("ROLLBACK"))
                }
                Mode::Explicit => {
                    self.mode = Mode::Implicit;
                    self.commit().await?;
                    Ok(Output::End("COMMIT"))
                }
            },
            Statement::Rollback { savepoint: None, .. } => {
                if self.mode == Mode::Implicit {
                    self.notices
                        .push(Notice::warning(code::NO_ACTIVE_TRANSACTION, "there is no transaction in progress"));
                }
                self.abort().await;
                self.mode = Mode::Implicit;
                Ok(Output::End("ROLLBACK"))
            }
            Statement::Rollback { savepoint: Some(name), .. } => self.rollback_to(&ident_name(name)).await,
            Statement::Savepoint { name } if self.mode == Mode::Explicit => {
                let savepoint = match self.txn.lock().await.as_ref() {
                    Some(txn) => txn.savepoint(),
                    None => return Err(SqlError::internal("no open transaction")),
                };
                self.savepoints.push((ident_name(name), savepoint, self.cleanup.len()));
                Ok(Output::command("SAVEPOINT"))
            }
            Statement::ReleaseSavepoint { name } if self.mode == Mode::Explicit => {
                match self.savepoint_index(&ident_name(name)) {
                    Ok(at) => {
                        self.savepoints.truncate(at);
                        Ok(Output::command("RELEASE"))
                    }
                    Err(error) => {
                        // An error inside a block fails the block, as in PostgreSQL.
                        self.fail().await;
                        Err(error)
                    }
                }
            }
            Statement::Savepoint { .. } | Statement::ReleaseSavepoint { .. } if self.mode == Mode::Implicit => {
                Err(SqlError::new(code::NO_ACTIVE_TRANSACTION, "SAVEPOINT can only be used in transaction blocks"))
            }
            _ if self.mode == Mode::Failed => Err(SqlError::new(
                code::IN_FAILED_TRANSACTION,
                "current transaction is aborted, commands ignored until end of transaction block",
            )),
            Statement::Set(ast::Set::SetRole { context_modifier: Some(ast::ContextModifier::Local), .. }) => {
                Err(SqlError::unsupported("SET LOCAL ROLE (use SET ROLE)"))
            }
            // Reads the catalog (does the role exist, is the user a member), so in a transaction.
            Statement::Set(ast::Set::SetRole { .. }) => self.in_transaction(Work::Statement(statement), params).await,
            Statement::Set(set) => self.set(set),
            Statement::ShowVariable { variable } if crate::show_ranges::parse(variable).is_none() => {
                self.show(variable)
            }
            Statement::Reset(reset) => self.reset(&reset.reset),
            Statement::Vacuum(_) => Ok(Output::command("VACUUM")),
            Statement::Analyze(_) => Ok(Output::command("ANALYZE")),
            Statement::Discard { .. } => Ok(Output::command("DISCARD ALL")),
            Statement::Copy { .. } => {
                let copy = crate::copy::CopyIn::from_statement(statement)?;
                let columns = copy.columns.len();
                self.copy = Some(copy);
                Ok(Output::CopyIn(columns))
            }
            _ => self.in_transaction(Work::Statement(statement), params).await,
        }
    }

    /// The notices of the statements run since the last call, oldest first.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        std::mem::take(&mut self.notices)
    }

    /// Data of the COPY in progress.
    pub fn copy_data(&mut self, data: &[u8]) -> Result<()> {
        let copy = self.copy.as_mut().ok_or_else(|| SqlError::new(code::PROTOCOL_VIOLATION, "no COPY in progress"))?;
        copy.data.extend_from_slice(data);
        Ok(())
    }

    /// Ends the COPY in progress: inserts its rows (`fail`: the client aborted it).
    pub async fn copy_done(&mut self, fail: bool) -> Result<Output> {
        let copy = self.copy.take().ok_or_else(|| SqlError::new(code::PROTOCOL_VIOLATION, "no COPY in progress"))?;
        if fail {
            if self.mode == Mode::Explicit {
                self.fail().await;
            }
            return Err(SqlError::new(code::QUERY_CANCELED, "COPY from stdin failed"));
        }
        let outcome = self.in_transaction(Work::Copy(&copy), &[]).await;
        self.audit(None, || format!("COPY {} FROM STDIN", copy.table), &outcome);
        outcome
    }

    /// Runs a statement that reads or writes data in the current or an implicit transaction.
    async fn in_transaction(&mut self, work: Work<'_>, params: &[ScalarValue]) -> Result<Output> {
        if self.mode == Mode::Explicit {
            return match self.run(&work, params).await {
                Ok(output) => Ok(output),
                Err(error) => {
                    self.fail().await;
                    Err(error)
                }
            };
        }
        let mut attempt = 0;
        loop {
            self.begin().await?;
            let result = match self.run(&work, params).await {
                Ok(output) => self.commit().await.map(|_| output),
                Err(error) => {
                    self.abort().await;
                    Err(error)
                }
            };
            match result {
                Err(error) if error.is_retryable() && attempt < IMPLICIT_RETRIES => {
                    attempt += 1;
                    let backoff = 200u64 << attempt.min(6);
                    tokio::time::sleep(std::time::Duration::from_micros(backoff + rand_jitter(backoff))).await;
                }
                other => return other,
            }
        }
    }

    async fn begin(&mut self) -> Result<()> {
        let mut locks = self.engine.locks.owner();
        if let Some(wait_max) = self.timeout_setting("lock_timeout") {
            locks = locks.with_wait_max(wait_max);
        }
        let txn = self.engine.kv.begin().await?.with_locks(locks);
        *self.txn.lock().await = Some(txn);
        if self.mode == Mode::Implicit {
            // A retried statement says again what it has to say.
            self.notices.clear();
        }
        self.cleanup.clear();
        self.savepoints.clear();
        Ok(())
    }

    async fn commit(&mut self) -> Result<()> {
        let txn = self.txn.lock().await.take();
        let cleanup = std::mem::take(&mut self.cleanup);
        self.savepoints.clear();
        if let Some(txn) = txn {
            txn.commit().await?;
        }
        for (start, end) in cleanup {
            if let Err(error) = self.engine.kv.delete_range(start, end).await {
                tracing::warn!(%error, "could not delete the data of a dropped table; it stays as garbage");
            }
        }
        Ok(())
    }

    async fn abort(&mut self) {
        self.txn.lock().await.take();
        self.cleanup.clear();
        self.savepoints.clear();
    }

    /// A statement was cancelled where it stood (a cancel request) or did not parse: its
    /// transaction ends as if it had failed, so nothing it buffered is committed. Inside a block
    /// the block fails (25P02 until ROLLBACK, or ROLLBACK TO a savepoint); an implicit
    /// transaction is dropped.
    pub async fn interrupted(&mut self) {
        self.copy = None;
        match self.mode {
            Mode::Explicit => self.fail().await,
            Mode::Implicit => self.abort().await,
            Mode::Failed => {}
        }
    }

    /// A statement of a transaction block failed: the block only takes COMMIT or ROLLBACK (or
    /// ROLLBACK TO a savepoint, for which the transaction is kept; what the failed statement
    /// wrote stays buffered, uncommitted, until that rollback drops it).
    async fn fail(&mut self) {
        if self.savepoints.is_empty() {
            self.abort().await;
        }
        self.mode = Mode::Failed;
    }

    fn savepoint_index(&self, name: &str) -> Result<usize> {
        self.savepoints
            .iter()
            .rposition(|(n, _, _)| n == name)
            .ok_or_else(|| SqlError::new(code::INVALID_SAVEPOINT, format!("savepoint \"{name}\" does not exist")))
    }

    /// ROLLBACK TO SAVEPOINT: undoes what the block wrote since the savepoint (which stays)
    /// and leaves a failed block usable again.
    async fn rollback_to(&mut self, name: &str) -> Result<Output> {
        if self.mode == Mode::Implicit {
            return Err(SqlError::new(
                code::NO_ACTIVE_TRANSACTION,
                "ROLLBACK TO SAVEPOINT can only be used in transaction blocks",
            ));
        }
        let at = match self.savepoint_index(name) {
            Ok(at) => at,
            Err(error) => {
                self.fail().await;
                return Err(error);
            }
        };
        self.savepoints.truncate(at + 1);
        let (_, savepoint, cleanup) = &self.savepoints[at];
        match self.txn.lock().await.as_mut() {
            Some(txn) => txn.rollback_to(savepoint),
            None => return Err(SqlError::internal("no open transaction")),
        }
        self.cleanup.truncate(*cleanup);
        self.mode = Mode::Explicit;
        Ok(Output::command("ROLLBACK"))
    }

    /// Runs a statement inside the open transaction.
    async fn run(&mut self, work: &Work<'_>, params: &[ScalarValue]) -> Result<Output> {
        {
            let mut scope = self.scope.lock().expect("scope lock");
            scope.access_paths.clear();
            scope.resolved.clear();
            scope.roles = None;
        }
        let statement = match work {
            Work::Statement(statement) => *statement,
            Work::Copy(copy) => return self.copy_rows(copy).await,
        };
        if let Some(output) = self.fast_path(statement, params).await? {
            self.engine.metrics.fast_path.inc();
            return Ok(output);
        }
        match statement {
            Statement::Query(_) => {
                let (schema, batches) = match self.prepared.clone() {
                    Some(cache) => self.query_prepared(statement, params, &cache).await?,
                    None => self.query(statement.clone(), params).await?,
                };
                Ok(Output::Rows { schema: crate::column_names::apply(statement, &schema), batches, tag: "SELECT" })
            }
            Statement::Explain { .. } => self.explain(statement, params).await,
            Statement::Insert(insert) => self.insert(insert, params).await,
            Statement::Update(update) => self.update(update, params).await,
            Statement::Delete(delete) => self.delete(delete, params).await,
            Statement::CreateTable(create) => self.create_table(create).await,
            Statement::CreateIndex(create) => self.create_index(create).await,
            Statement::Drop { object_type: ObjectType::Role | ObjectType::User, if_exists, names, .. } => {
                self.drop_roles(*if_exists, names).await
            }
            Statement::Drop { object_type, if_exists, names, .. } => self.drop(*object_type, *if_exists, names).await,
            Statement::AlterTable(alter) => self.alter_table(alter).await,
            Statement::Truncate(truncate) => self.truncate(truncate).await,
            Statement::AlterRole { name, operation: ast::AlterRoleOperation::WithOptions { options } } => {
                self.alter_role_options(name, options).await
            }
            Statement::AlterRole { name, operation } => self.alter_role(name, operation).await,
            Statement::CreateRole(create) => self.create_role(create).await,
            Statement::Set(ast::Set::SetRole { role_name, .. }) => self.set_role(role_name.as_ref()).await,
            Statement::Grant(grant) => self.grant(grant).await,
            Statement::Revoke(revoke) => self.revoke(revoke).await,
            Statement::CreateDatabase { db_name, if_not_exists, .. } => {
                self.create_database(db_name, *if_not_exists).await
            }
            Statement::ShowTables { .. } => self.show_tables().await,
            Statement::ShowVariable { variable } => match crate::show_ranges::parse(variable) {
                Some(target) => self.show_ranges(target?).await,
                None => self.show(variable),
            },
            Statement::ShowColumns { show_options, .. } => {
                let name = show_options
                    .show_in
                    .as_ref()
                    .and_then(|s| s.parent_name.as_ref())
                    .ok_or_else(|| SqlError::new(code::SYNTAX_ERROR, "SHOW COLUMNS FROM <table>"))?;
                self.show_columns(name).await
            }
            other => Err(SqlError::unsupported(format!("statement \"{}\"", first_words(&other.to_string())))),
        }
    }

    /// Plans a query with DataFusion (tables resolve through the open transaction).
    pub(crate) async fn plan(&self, mut statement: Statement, params: &[ScalarValue]) -> Result<LogicalPlan> {
        if pg_catalog::rewrite(&mut statement) {
            self.pg.refresh(&self.vars).await?;
        }
        crate::standard_forms::for_planning(&mut statement);
        self.engine.metrics.planned.inc();
        let plan = self.ctx.state().statement_to_plan(DfStatement::Statement(Box::new(statement))).await?;
        if params.is_empty() {
            return Ok(plan);
        }
        Ok(plan.with_param_values(ParamValues::from(params.to_vec()))?)
    }

    /// Plans and runs a query, collecting its result.
    pub(crate) async fn query(
        &self,
        statement: Statement,
        params: &[ScalarValue],
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let plan = self.plan(statement, params).await?;
        self.collect(plan).await
    }

    /// Runs a prepared SELECT on its kept plan, planning it first if it has none or if a table
    /// it reads changed since (see [`plan_cache`]).
    async fn query_prepared(
        &self,
        statement: &Statement,
        params: &[ScalarValue],
        cache: &PlanCache,
    ) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        if let Some(cached) = cache.get() {
            if self.still_valid(&cached).await? {
                let Some(values) = cached.bind(params) else {
                    // A value the kept plan cannot take as it is: plan this execute with it.
                    return self.query(statement.clone(), params).await;
                };
                self.engine.metrics.plan_cache_hits.inc();
                return self.run_planned(&cached.plan, &values).await;
            }
        }
        let mut rewritten = statement.clone();
        if pg_catalog::rewrite(&mut rewritten) {
            return self.query(statement.clone(), params).await;
        }
        crate::standard_forms::for_planning(&mut rewritten);
        self.engine.metrics.plan_cache_misses.inc();
        self.engine.metrics.planned.inc();
        let state = self.ctx.state();
        let plan = state.statement_to_plan(DfStatement::Statement(Box::new(rewritten))).await?;
        if !cache.matches_described(&crate::column_names::apply(statement, &*self.result_schema(&plan)?)) {
            // The client was told other columns at Describe (a table changed since); PostgreSQL
            // refuses the same way, and the client prepares the statement again.
            return Err(SqlError::new(code::FEATURE_NOT_SUPPORTED, "cached plan must not change result type"));
        }
        let param_types = ordered_parameter_types(&plan)?;
        // A placeholder the plan could not type (`SELECT $1`) takes its type from the value,
        // which only planning with the value gives it.
        let typed = param_types.len() == params.len() && param_types.iter().all(Option::is_some);
        if !typed || !plan_cache::cacheable(&plan) {
            cache.set(None);
            let plan =
                if params.is_empty() { plan } else { plan.with_param_values(ParamValues::from(params.to_vec()))? };
            return self.collect(plan).await;
        }
        let optimized = state.optimize(&plan)?;
        let tables = std::mem::take(&mut self.scope.lock().expect("scope lock").resolved);
        let cached = Arc::new(CachedPlan { plan: optimized, tables, param_types });
        cache.set(Some(cached.clone()));
        match cached.bind(params) {
            Some(values) => self.run_planned(&cached.plan, &values).await,
            None => self.query(statement.clone(), params).await,
        }
    }

    /// Whether the tables a kept plan reads are still as they were when it was planned. The
    /// descriptors are read through the statement's transaction, as planning reads them.
    async fn still_valid(&self, cached: &CachedPlan) -> Result<bool> {
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no open transaction"))?;
        for desc in &cached.tables {
            if catalog::table(txn, self.database, &desc.name).await?.as_ref() != Some(desc) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The columns `plan` answers with: its names, the types its analysis gives them (see
    /// [`crate::result_types`]), as execution announces them.
    fn result_schema(&self, plan: &LogicalPlan) -> Result<SchemaRef> {
        if matches!(plan, LogicalPlan::Explain(_)) {
            return Ok(Arc::new(plan.schema().as_arrow().clone()));
        }
        crate::result_types::analyzed(&self.ctx.state(), plan)
    }

    /// Binds the parameters into an optimized plan and runs it without optimizing it again.
    async fn run_planned(&self, plan: &LogicalPlan, params: &[ScalarValue]) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let plan = if params.is_empty() {
            plan.clone()
        } else {
            plan.clone().with_param_values(ParamValues::from(params.to_vec()))?
        };
        // An optimized plan's schema has the analyzed types already.
        let schema = crate::result_types::merged(plan.schema().as_arrow(), plan.schema().as_arrow());
        let state = self.ctx.state();
        let physical = state.query_planner().create_physical_plan(&plan, &state).await?;
        let batches = self.run_physical(physical).await?;
        Ok((schema.clone(), crate::result_types::conform(&schema, batches)?))
    }

    /// Runs a logical plan (optimizing it), collecting its result.
    async fn collect(&self, plan: LogicalPlan) -> Result<(SchemaRef, Vec<RecordBatch>)> {
        let frame = self.ctx.execute_logical_plan(plan).await?;
        let names = frame.schema().as_arrow().clone();
        let physical = frame.create_physical_plan().await?;
        let schema = crate::result_types::merged(&names, &physical.schema());
        let batches = self.run_physical(physical).await?;
        Ok((schema.clone(), crate::result_types::conform(&schema, batches)?))
    }

    /// Runs a physical plan under the statement's memory limit (see [`execute`]).
    async fn run_physical(&self, physical: Arc<dyn ExecutionPlan>) -> Result<Vec<RecordBatch>> {
        let state = self.ctx.state();
        execute::collect(physical, &state, &self.engine.runtime, self.engine.query_memory_bytes).await
    }

    /// Runs a statement prepared through the extended protocol, whose plan `cache` keeps.
    pub async fn execute_prepared(
        &mut self,
        statement: &Statement,
        params: &[ScalarValue],
        cache: Arc<PlanCache>,
    ) -> Result<Output> {
        self.prepared = Some(cache);
        let output = self.execute(statement, params).await;
        self.prepared = None;
        output
    }

    /// The parameter types and result columns of a statement, for Describe.
    pub async fn describe(&mut self, statement: &Statement) -> Result<(Vec<Option<DataType>>, Option<SchemaRef>)> {
        let opened = self.txn.lock().await.is_none();
        if opened {
            self.begin().await?;
        }
        let result = self.describe_inner(statement).await;
        if opened {
            self.abort().await;
        }
        result
    }

    async fn describe_inner(&mut self, statement: &Statement) -> Result<(Vec<Option<DataType>>, Option<SchemaRef>)> {
        match statement {
            Statement::Query(_) | Statement::Explain { .. } => {
                let plan = self.plan(statement.clone(), &[]).await?;
                let types = ordered_parameter_types(&plan)?;
                Ok((types, Some(crate::column_names::apply(statement, &*self.result_schema(&plan)?))))
            }
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => self.describe_dml(statement).await,
            Statement::ShowVariable { variable } if crate::show_ranges::parse(variable).is_some() => {
                Ok((vec![], Some(crate::show_ranges::schema())))
            }
            Statement::ShowVariable { variable } => {
                let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(" ");
                Ok((vec![], Some(Arc::new(Schema::new(vec![Field::new(name, DataType::Utf8, true)])))))
            }
            _ => Ok((vec![], None)),
        }
    }

    fn set(&mut self, set: &ast::Set) -> Result<Output> {
        match set {
            ast::Set::SingleAssignment { variable, values, .. } => {
                let name = variable.to_string().to_lowercase();
                let value = setting_value(values);
                // `DEFAULT` unquoted (a quoted 'default' is a value).
                if matches!(values.as_slice(), [ast::Expr::Identifier(word)] if word.quote_style.is_none() && value.eq_ignore_ascii_case("default"))
                {
                    return self.reset(&ast::Reset::ConfigurationParameter(variable.clone()));
                }
                check_setting(&name, &value)?;
                self.vars.insert(name, value);
                Ok(Output::command("SET"))
            }
            ast::Set::SetTransaction { modes, .. } => {
                for mode in modes {
                    if let ast::TransactionMode::IsolationLevel(level) = mode {
                        check_isolation(&level.to_string())?;
                    }
                }
                Ok(Output::command("SET"))
            }
            ast::Set::SetTimeZone { value, .. } => {
                self.vars.insert("timezone".into(), value.to_string().trim_matches('\'').to_string());
                Ok(Output::command("SET"))
            }
            ast::Set::SetNames { .. } | ast::Set::SetNamesDefault {} => Ok(Output::command("SET")),
            other => Err(SqlError::unsupported(format!("\"{other}\""))),
        }
    }

    /// `RESET name` / `RESET ALL` (and `SET name TO DEFAULT`): back to the session's defaults.
    fn reset(&mut self, reset: &ast::Reset) -> Result<Output> {
        match reset {
            ast::Reset::ALL => self.vars = self.defaults.clone(),
            ast::Reset::ConfigurationParameter(name) if name.to_string().eq_ignore_ascii_case("role") => {
                self.act_as(None);
            }
            ast::Reset::ConfigurationParameter(name) => {
                let name = name.to_string().to_lowercase();
                if let Some(value) = self.defaults.get(&name) {
                    self.vars.insert(name, value.clone());
                } else {
                    self.vars.remove(&name);
                }
            }
        }
        Ok(Output::command("RESET"))
    }

    /// `ALTER ROLE ALL SET name = value` / `RESET name` / `RESET ALL`: session defaults for the
    /// whole cluster, kept in the catalog, taken by every session that starts afterwards on any
    /// node (as PostgreSQL's, which also apply from the next session on); superusers only.
    /// `ALTER ROLE name SET ...` keeps one role's defaults (over those of ALL) in its
    /// descriptor: superusers for any role, a user for its own, as in PostgreSQL.
    /// `ALTER ROLE name WITH ...` is `crate::roles`.
    async fn alter_role(&mut self, role: &ast::Ident, operation: &ast::AlterRoleOperation) -> Result<Output> {
        let one = (role.quote_style.is_some() || !role.value.eq_ignore_ascii_case("all")).then(|| ident_name(role));
        let allowed = match &one {
            Some(name) => self.acts_as_superuser() || name == self.current_user(),
            None => self.acts_as_superuser(),
        };
        if !allowed {
            return Err(SqlError::new(code::INSUFFICIENT_PRIVILEGE, "permission denied to alter role"));
        }
        let (name, value) = match operation {
            ast::AlterRoleOperation::Set { config_name, config_value, in_database: None } => {
                let name = config_name.to_string().to_lowercase();
                match config_value {
                    ast::SetConfigValue::Default => (Some(name), None),
                    ast::SetConfigValue::Value(expr) => {
                        let value = setting_value(std::slice::from_ref(expr));
                        (Some(name), Some(value))
                    }
                    ast::SetConfigValue::FromCurrent => {
                        let value = self.vars.get(&name).cloned();
                        (Some(name), value)
                    }
                }
            }
            ast::AlterRoleOperation::Reset { config_name, in_database: None } => match config_name {
                ast::ResetConfig::ALL => (None, None),
                ast::ResetConfig::ConfigName(name) => (Some(name.to_string().to_lowercase()), None),
            },
            other => return Err(SqlError::unsupported(format!("ALTER ROLE {other}"))),
        };
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(Self::txn_error)?;
        if let Some(role_name) = one {
            let mut role = catalog::role(txn, &role_name)
                .await?
                .ok_or_else(|| SqlError::new(code::UNDEFINED_OBJECT, format!("role \"{role_name}\" does not exist")))?;
            match name {
                Some(name) => {
                    check_role_setting(&name, value.as_deref())?;
                    match value {
                        Some(value) => role.settings.insert(name, value),
                        None => role.settings.remove(&name),
                    };
                }
                None => role.settings.clear(),
            }
            catalog::put_role(txn, &role)?;
            return Ok(Output::command("ALTER ROLE"));
        }
        match name {
            Some(name) => {
                check_role_setting(&name, value.as_deref())?;
                catalog::set_role_default(txn, &name, value.as_deref())?;
            }
            None => {
                for (name, _) in catalog::role_defaults(txn).await? {
                    catalog::set_role_default(txn, &name, None)?;
                }
            }
        }
        Ok(Output::command("ALTER ROLE"))
    }

    fn show(&self, variable: &[ast::Ident]) -> Result<Output> {
        let name = variable.iter().map(|i| i.value.to_lowercase()).collect::<Vec<_>>().join(" ");
        let value = match name.as_str() {
            "transaction isolation level" => Some("serializable".to_string()),
            _ => self.vars.get(&name).cloned(),
        }
        .ok_or_else(|| {
            SqlError::new(code::UNDEFINED_OBJECT, format!("unrecognized configuration parameter \"{name}\""))
        })?;
        let schema = Arc::new(Schema::new(vec![Field::new(&name, DataType::Utf8, true)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(vec![value]))])?;
        Ok(Output::Rows { schema, batches: vec![batch], tag: "SHOW" })
    }

    /// EXPLAIN [ANALYZE]: DataFusion's plan, then the KV spans each table scan reads.
    async fn explain(&mut self, statement: &Statement, params: &[ScalarValue]) -> Result<Output> {
        let Statement::Explain { statement: inner, .. } = statement else { unreachable!() };
        if !matches!(inner.as_ref(), Statement::Query(_)) {
            return Err(SqlError::unsupported("EXPLAIN of a statement other than a query"));
        }
        let (_, batches) = self.query(statement.clone(), params).await?;
        // The scans' own checks end up as a line of the plan (EXPLAIN reports a failed physical
        // plan); PostgreSQL refuses to explain a query over a table the user may not read.
        let resolved = self.scope.lock().expect("scope lock").resolved.clone();
        if !resolved.is_empty() {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no open transaction"))?;
            for desc in &resolved {
                crate::privileges::check_table(txn, &self.scope, desc, crate::privileges::Privileges::SELECT).await?;
            }
        }
        let mut lines: Vec<String> = Vec::new();
        for batch in &batches {
            let plan_type = batch.column(0).as_any().downcast_ref::<StringArray>();
            let plan = batch.column(1).as_any().downcast_ref::<StringArray>();
            if let (Some(plan_type), Some(plan)) = (plan_type, plan) {
                for row in 0..batch.num_rows() {
                    lines.push(format!("{}:", plan_type.value(row)));
                    lines.extend(plan.value(row).lines().map(|l| format!("  {l}")));
                }
            }
        }
        lines.push("kv spans:".into());
        let paths = self.scope.lock().expect("scope lock").access_paths.clone();
        let mut seen = std::collections::BTreeSet::new();
        lines.extend(paths.into_iter().filter(|p| seen.insert(p.clone())).map(|p| format!("  {p}")));
        let schema = Arc::new(Schema::new(vec![Field::new("QUERY PLAN", DataType::Utf8, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(StringArray::from(lines))])?;
        Ok(Output::Rows { schema, batches: vec![batch], tag: "EXPLAIN" })
    }

    /// `SHOW RANGES [FROM TABLE t | FROM DATABASE d]` (see [`crate::show_ranges`]).
    async fn show_ranges(&self, target: crate::show_ranges::Target) -> Result<Output> {
        use crate::show_ranges::Target;
        // Range boundaries are row keys: every range, or a database's, may show rows of tables
        // the user may not read, so they are the superusers' (FROM TABLE needs SELECT on it).
        if !matches!(target, Target::Table(_)) && !self.acts_as_superuser() {
            return Err(SqlError::new(
                code::INSUFFICIENT_PRIVILEGE,
                "permission denied to show ranges: only superusers list every range or a database's (SHOW RANGES FROM \
                 TABLE t needs SELECT on t)",
            ));
        }
        let spans: Vec<(Vec<u8>, Vec<u8>)> = match target {
            Target::All => vec![(Vec::new(), Vec::new())],
            Target::Table(name) => {
                let desc = self.table(&name).await?;
                // Range boundaries are keys of the table's rows: they are its readers' to see.
                self.require(&desc, crate::privileges::Privileges::SELECT).await?;
                vec![crate::encoding::prefix_span(crate::encoding::table_prefix(desc.id))]
            }
            Target::Database(name) => {
                let mut guard = self.txn.lock().await;
                let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no transaction"))?;
                let database = catalog::require_database(txn, &name).await?;
                let tables = catalog::list_tables(txn, database.id).await?;
                tables.iter().map(|t| crate::encoding::prefix_span(crate::encoding::table_prefix(t.id))).collect()
            }
        };
        let ranges = self.engine.kv.0.ranges().await?;
        let batch = crate::show_ranges::rows(&ranges, &spans)?;
        Ok(Output::Rows { schema: batch.schema(), batches: vec![batch], tag: "SHOW" })
    }

    async fn show_tables(&self) -> Result<Output> {
        let tables = {
            let mut guard = self.txn.lock().await;
            let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no transaction"))?;
            catalog::list_tables(txn, self.database).await?
        };
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        let schema = Arc::new(Schema::new(vec![
            Field::new("schema_name", DataType::Utf8, false),
            Field::new("table_name", DataType::Utf8, false),
        ]));
        let schemas = vec![catalog::PUBLIC_SCHEMA; names.len()];
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(schemas)), Arc::new(StringArray::from(names))],
        )?;
        Ok(Output::Rows { schema, batches: vec![batch], tag: "SHOW" })
    }

    async fn show_columns(&self, name: &ast::ObjectName) -> Result<Output> {
        let desc = self.table(name).await?;
        let mut columns = (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for column in desc.visible_columns() {
            columns.0.push(column.name.clone());
            columns.1.push(column.ty.pg_name());
            columns.2.push(if column.nullable { "YES" } else { "NO" }.to_string());
            columns.3.push(if column.serial { Some("nextval".to_string()) } else { column.default.clone() });
            let mut indexes: Vec<String> = Vec::new();
            if desc.primary_key.contains(&column.id) {
                indexes.push(desc.primary_key_name.clone());
            }
            indexes.extend(desc.indexes.iter().filter(|i| i.columns.contains(&column.id)).map(|i| i.name.clone()));
            columns.4.push(indexes.join(", "));
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("column_name", DataType::Utf8, false),
            Field::new("data_type", DataType::Utf8, false),
            Field::new("is_nullable", DataType::Utf8, false),
            Field::new("column_default", DataType::Utf8, true),
            Field::new("indexes", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from(columns.0)),
                Arc::new(StringArray::from(columns.1)),
                Arc::new(StringArray::from(columns.2)),
                Arc::new(StringArray::from(columns.3)),
                Arc::new(StringArray::from(columns.4)),
            ],
        )?;
        Ok(Output::Rows { schema, batches: vec![batch], tag: "SHOW" })
    }

    /// Looks a table up in the open transaction.
    pub(crate) async fn table(&self, name: &ast::ObjectName) -> Result<TableDesc> {
        let name = table_name(name)?;
        let mut guard = self.txn.lock().await;
        let txn = guard.as_mut().ok_or_else(|| SqlError::internal("no transaction"))?;
        catalog::require_table(txn, self.database, &name).await
    }
}

/// `Err` unless `name` is a setting a role may have a default for, and `value` (if given) a
/// value it takes.
fn check_role_setting(name: &str, value: Option<&str>) -> Result<()> {
    if !default_vars().contains_key(name) || READ_ONLY_SETTINGS.contains(&name) {
        return Err(SqlError::new(
            code::UNDEFINED_OBJECT,
            format!("unrecognized configuration parameter \"{name}\" (or one a role cannot set)"),
        ));
    }
    match value {
        Some(value) => check_setting(name, value),
        None => Ok(()),
    }
}

/// Settings the server reports but no client changes.
const READ_ONLY_SETTINGS: [&str; 5] =
    ["server_version", "server_version_num", "server_encoding", "integer_datetimes", "transaction_read_only"];

/// A SET's value as text: each expression unquoted, a list joined as PostgreSQL shows it.
fn setting_value(values: &[ast::Expr]) -> String {
    values.iter().map(|v| v.to_string().trim_matches('\'').to_string()).collect::<Vec<_>>().join(", ")
}

/// Refuses a value the setting cannot take (isolation levels, timeouts).
fn check_setting(name: &str, value: &str) -> Result<()> {
    if name == "transaction_isolation" || name == "default_transaction_isolation" {
        check_isolation(value)?;
    }
    if TIMEOUT_SETTINGS.contains(&name) {
        parse_timeout(name, value)?;
    }
    Ok(())
}

/// The settings that hold a duration, read by [`parse_timeout`].
const TIMEOUT_SETTINGS: [&str; 3] = ["statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout"];

/// A PostgreSQL time setting: an integer in milliseconds, or a number with a unit (`us`, `ms`,
/// `s`, `min`, `h`, `d`).
fn parse_timeout(name: &str, value: &str) -> Result<std::time::Duration> {
    let invalid =
        || SqlError::new(code::INVALID_PARAMETER_VALUE, format!("invalid value for parameter \"{name}\": \"{value}\""));
    let value = value.trim();
    let split = value.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: f64 = number.parse().map_err(|_| invalid())?;
    let millis_per_unit = match unit.trim() {
        "" | "ms" => 1.0,
        "us" => 0.001,
        "s" => 1_000.0,
        "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return Err(invalid()),
    };
    let millis = number * millis_per_unit;
    // PostgreSQL's bound for the setting: INT_MAX milliseconds.
    if !millis.is_finite() || millis > f64::from(i32::MAX) {
        return Err(invalid());
    }
    Ok(std::time::Duration::from_secs_f64(millis / 1_000.0))
}

fn check_isolation(level: &str) -> Result<()> {
    let level = level.to_lowercase().replace('_', " ");
    match level.trim_matches('\'') {
        // Atoll runs every transaction SERIALIZABLE; PostgreSQL allows giving a stronger level
        // than asked for.
        "serializable" | "repeatable read" | "read committed" | "read uncommitted" | "default" => Ok(()),
        other => Err(SqlError::new(code::INVALID_PARAMETER_VALUE, format!("invalid isolation level \"{other}\""))),
    }
}

fn first_words(sql: &str) -> String {
    sql.split_whitespace().take(2).collect::<Vec<_>>().join(" ")
}

fn rand_jitter(max: u64) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(max);
    hasher.finish() % max.max(1)
}

/// A table name: `name` or `public.name`, normalized like PostgreSQL (unquoted lower-cased).
pub fn table_name(name: &ast::ObjectName) -> Result<String> {
    let parts: Vec<String> = name.0.iter().map(|part| part.to_string()).collect();
    let ident = |part: &ast::ObjectNamePart| match part.as_ident() {
        Some(ident) if ident.quote_style.is_some() => ident.value.clone(),
        Some(ident) => ident.value.to_lowercase(),
        None => part.to_string(),
    };
    match name.0.as_slice() {
        [table] => Ok(ident(table)),
        [schema, table] if ident(schema) == catalog::PUBLIC_SCHEMA => Ok(ident(table)),
        _ => Err(SqlError::new(code::UNDEFINED_TABLE, format!("relation \"{}\" does not exist", parts.join(".")))),
    }
}

/// A column name, normalized like PostgreSQL.
pub fn ident_name(ident: &ast::Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_lowercase()
    }
}

/// `$1..$n` types of a plan, in order.
pub fn ordered_parameter_types(plan: &LogicalPlan) -> Result<Vec<Option<DataType>>> {
    let types = plan.get_parameter_types()?;
    let count = types.keys().filter_map(|k| k.trim_start_matches('$').parse::<usize>().ok()).max().unwrap_or(0);
    Ok((1..=count).map(|i| types.get(&format!("${i}")).cloned().flatten()).collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn statement_timeouts_read_as_postgresql_reads_them() {
        use super::parse_timeout;
        use crate::error::code;
        use std::time::Duration;
        assert_eq!(parse_timeout("statement_timeout", "1500").expect("ms"), Duration::from_millis(1500));
        assert_eq!(parse_timeout("statement_timeout", "1s").expect("s"), Duration::from_secs(1));
        assert_eq!(parse_timeout("statement_timeout", "2 min").expect("min"), Duration::from_secs(120));
        assert_eq!(parse_timeout("statement_timeout", "250ms").expect("ms"), Duration::from_millis(250));
        assert_eq!(parse_timeout("statement_timeout", "0").expect("off"), Duration::ZERO);
        for bad in ["", "soon", "1 fortnight", "-1s", "99999999999"] {
            assert_eq!(parse_timeout("lock_timeout", bad).expect_err(bad).code, code::INVALID_PARAMETER_VALUE, "{bad}");
        }
    }

    #[test]
    fn copy_boolean_options_take_on_and_off() {
        assert_eq!(super::copy_booleans("copy t from stdin with (freeze on)"), "copy t from stdin with (freeze true)");
        assert_eq!(
            super::copy_booleans("COPY t FROM STDIN (HEADER off, FORMAT csv)"),
            "COPY t FROM STDIN (HEADER false, FORMAT csv)"
        );
        assert!(super::parse("copy t from stdin with (freeze on)").is_ok());
        assert!(super::parse("vacuum analyze pgbench_branches").is_ok());
    }
}
