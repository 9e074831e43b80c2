//! The PostgreSQL wire protocol front end: pgwire's handlers over [`Session`].

use crate::cancel::{CancelSlot, Cancels};
use crate::error::{code, SqlError};
use crate::plan_cache::PlanCache;
use crate::session::{parse, Engine, Notice, Output, Session};
use async_trait::async_trait;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::sql::sqlparser::ast::Statement;
use futures::stream;
use pgwire::api::auth::StartupHandler;
use pgwire::api::portal::{Format, Portal};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::{FieldInfo, QueryResponse, Response, Tag};
use pgwire::api::stmt::QueryParser;
use pgwire::api::{ClientInfo, PgWireServerHandlers, Type};
use pgwire::error::{PgWireError, PgWireResult};
use std::sync::Arc;
use tokio::net::TcpListener;

/// A connection's session, opened on its first statement.
#[derive(Default)]
struct SessionSlot(tokio::sync::Mutex<Option<Session>>);

/// A statement as the extended protocol keeps it: parsed once, described once.
#[derive(Clone, Debug)]
pub struct Prepared {
    statement: Option<Statement>,
    param_types: Vec<Type>,
    /// Its result columns as Describe announced them, and its DataFusion plan, kept across
    /// executes (see `plan_cache`).
    plans: Arc<PlanCache>,
}

pub struct Handler {
    engine: Arc<Engine>,
    cancels: Arc<Cancels>,
    parser: Arc<Parser>,
    pids: pgwire::api::RandomPidSecretKeyGenerator,
    /// Secure node: connections must use TLS and log in ([`crate::login`]).
    secure: bool,
    /// Salts the mock verifiers of users that do not exist (see [`crate::scram::Verifier::mock`]).
    login_secret: [u8; 32],
}

pub struct Parser {
    engine: Arc<Engine>,
}

/// The session's `idle_in_transaction_session_timeout`, read between statements (when nothing
/// holds the session); `None` when unset or the session is busy.
pub(crate) fn idle_in_transaction_timeout<C: ClientInfo>(client: &C) -> Option<std::time::Duration> {
    let slot = client.session_extensions().get::<SessionSlot>()?;
    let session = slot.0.try_lock().ok()?;
    session.as_ref()?.idle_in_transaction_timeout()
}

fn slot<C: ClientInfo>(client: &C) -> Arc<SessionSlot> {
    client.session_extensions().get_or_insert_with(SessionSlot::default)
}

/// The database a connection asked for (libpq's default: the user's name).
fn database_of<C: ClientInfo>(client: &C) -> String {
    let metadata = client.metadata();
    metadata
        .get(pgwire::api::METADATA_DATABASE)
        .or_else(|| metadata.get(pgwire::api::METADATA_USER))
        .cloned()
        .unwrap_or_else(|| crate::catalog::DEFAULT_DATABASE.to_string())
}

async fn with_session<C, T>(
    engine: &Arc<Engine>,
    client: &C,
    run: impl AsyncFnOnce(&mut Session) -> T,
) -> Result<T, SqlError>
where
    C: ClientInfo,
{
    let slot = slot(client);
    let cancel = client.session_extensions().get::<CancelSlot>();
    let mut guard = slot.0.lock().await;
    if guard.is_none() {
        let metadata = client.metadata();
        let database = database_of(client);
        // Set by startup once the client is in; a session is never opened without it.
        let login = client.session_extensions().get::<crate::login::Authenticated>().ok_or_else(|| {
            SqlError::new(code::INVALID_AUTHORIZATION_SPECIFICATION, "the connection has not logged in")
        })?;
        let mut session = Session::open(engine.clone(), &database, &login.user).await?;
        session.log_in(&login.user, login.superuser || engine.unsafe_skip_privilege_checks);
        if let Some(name) = metadata.get(pgwire::api::METADATA_APPLICATION_NAME) {
            session.set_var("application_name", name);
        }
        *guard = Some(session);
    }
    let session = guard.as_mut().expect("session opened");
    let limit = session.statement_timeout();
    let running = Running::start(&engine.metrics.running);
    let outcome = if engine.unsafe_ignore_interrupts {
        Ok(run(session).await)
    } else {
        interruptible(run(session), cancel.as_deref(), limit).await
    };
    drop(running);
    match outcome {
        Ok(output) => Ok(output),
        Err(interrupt) => {
            engine.metrics.interrupted.with_label_values(&[interrupt.label()]).inc();
            guard.as_mut().expect("session opened").interrupted().await;
            Err(SqlError::new(code::QUERY_CANCELED, format!("canceling statement due to {}", interrupt.reason())))
        }
    }
}

/// Counts a statement in `atoll_sql_statements_running` while it lives (also when its
/// connection's task is dropped mid-statement).
struct Running<'a>(&'a prometheus::IntGauge);

impl<'a> Running<'a> {
    fn start(gauge: &'a prometheus::IntGauge) -> Self {
        gauge.inc();
        Running(gauge)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// Why a statement was stopped before its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    CancelRequest,
    StatementTimeout,
    ClientDisconnect,
}

impl Interrupt {
    /// PostgreSQL's words, after "canceling statement due to".
    fn reason(self) -> &'static str {
        match self {
            Interrupt::CancelRequest => "user request",
            Interrupt::StatementTimeout => "statement timeout",
            Interrupt::ClientDisconnect => "client disconnect",
        }
    }

    /// The `reason` label of `atoll_sql_statements_interrupted_total`.
    fn label(self) -> &'static str {
        match self {
            Interrupt::CancelRequest => "cancel_request",
            Interrupt::StatementTimeout => "statement_timeout",
            Interrupt::ClientDisconnect => "client_disconnect",
        }
    }
}

/// Runs a statement until it ends, or until a cancel request, `statement_timeout` or the
/// client's going away drops its future where it stood. The interrupts are polled first, so a
/// statement that spent its task's budget (see `execute`) cannot hide an elapsed timeout.
async fn interruptible<T>(
    work: impl std::future::Future<Output = T>,
    cancel: Option<&CancelSlot>,
    limit: Option<std::time::Duration>,
) -> Result<T, Interrupt> {
    let cancelled = async {
        match cancel {
            Some(cancel) => cancel.cancelled().await,
            None => std::future::pending().await,
        }
    };
    let timed_out = async {
        match limit {
            Some(limit) => tokio::time::sleep(limit).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        biased;
        () = cancelled => Err(Interrupt::CancelRequest),
        () = timed_out => Err(Interrupt::StatementTimeout),
        () = crate::connection::peer_gone() => Err(Interrupt::ClientDisconnect),
        output = work => Ok(output),
    }
}

/// Sends a statement's notices and warnings ahead of its result.
async fn send_notices<C>(client: &mut C, notices: Vec<Notice>) -> PgWireResult<()>
where
    C: futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send,
    PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
{
    use futures::SinkExt;
    for notice in notices {
        let info = pgwire::error::ErrorInfo::new(notice.severity.to_string(), notice.code.to_string(), notice.message);
        client.feed(pgwire::messages::PgWireBackendMessage::NoticeResponse(info.into())).await?;
    }
    Ok(())
}

fn pg_type(data_type: &DataType) -> Type {
    arrow_pg::datatypes::into_pg_type(data_type).unwrap_or(Type::TEXT)
}

fn fields(schema: &SchemaRef, format: &Format) -> PgWireResult<Vec<FieldInfo>> {
    let mut fields = arrow_pg::datatypes::arrow_schema_to_pg_fields(schema, format, None)?;
    // A text column declared `varchar` or `char(n)` in its table, or a catalog's `name`,
    // `"char"` or character-data column, says so (its Arrow field carries the type, see
    // `types::text_field_of_type`); the values are the same text in both formats.
    for (info, field) in fields.iter_mut().zip(schema.fields()) {
        if let Some(pg_type) = crate::types::declared_text_type(field) {
            *info = FieldInfo::new(info.name().to_string(), info.table_id(), info.column_id(), pg_type, info.format());
        }
    }
    Ok(fields)
}

fn response(output: Output, format: &Format) -> PgWireResult<Response> {
    Ok(match output {
        Output::Rows { schema, batches, tag } => {
            let fields = Arc::new(fields(&schema, format)?);
            let mut rows = Vec::new();
            for batch in batches {
                let batch = pg_text_columns(batch, format)?;
                // The encoder repeats a row's error without moving on: stop at the first.
                for row in arrow_pg::datatypes::encode_recordbatch(fields.clone(), batch) {
                    rows.push(Ok(row?));
                }
            }
            let mut query = QueryResponse::new(fields, stream::iter(rows));
            query.set_command_tag(tag);
            Response::Query(query)
        }
        Output::Command { tag, rows } => {
            let mut words = tag.split_whitespace();
            let command = words.next().unwrap_or_default().to_string();
            let rest: Vec<&str> = words.collect();
            let tag = match (command.as_str(), rows) {
                ("INSERT", Some(rows)) => Tag::new("INSERT").with_oid(0).with_rows(rows),
                (_, Some(rows)) => Tag::new(&command).with_rows(rows),
                (_, None) if rest.is_empty() => Tag::new(&command),
                (_, None) => Tag::new(&format!("{command} {}", rest.join(" "))),
            };
            Response::Execution(tag)
        }
        Output::Begin => Response::TransactionStart(Tag::new("BEGIN")),
        Output::CopyIn(columns) => {
            Response::CopyIn(pgwire::api::results::CopyResponse::new(0, columns, stream::empty()))
        }
        Output::End(tag) => Response::TransactionEnd(Tag::new(tag)),
        Output::Empty => Response::EmptyQuery,
    })
}

/// PostgreSQL's text form of a timestamp: fractional seconds only when not zero, without
/// trailing zeros, and `+00` for timestamptz (sessions run in UTC).
fn pg_timestamp(micros: i64, zoned: bool) -> Option<String> {
    let time = datafusion::arrow::temporal_conversions::timestamp_us_to_datetime(micros)?;
    let mut text = time.format("%Y-%m-%d %H:%M:%S").to_string();
    let fraction = micros.rem_euclid(1_000_000);
    if fraction != 0 {
        text.push('.');
        text.push_str(format!("{fraction:06}").trim_end_matches('0'));
    }
    if zoned {
        text.push_str("+00");
    }
    Some(text)
}

/// PostgreSQL's text form of an interval (IntervalStyle `postgres`, PostgreSQL's
/// `EncodeInterval`): years, months and days as words (a `+` before a positive part that
/// follows a negative one), then the time as `[-]HH:MM:SS[.ffffff]` with trailing zeros dropped,
/// left out when zero unless everything is. Nanoseconds are cut to microseconds, PostgreSQL's unit.
fn pg_interval(months: i32, days: i32, nanos: i64) -> String {
    let mut text = String::new();
    let (mut zero, mut before) = (true, false);
    let mut part = |value: i64, unit: &str| {
        if value == 0 {
            return;
        }
        let space = if zero { "" } else { " " };
        let plus = if before && value > 0 { "+" } else { "" };
        let plural = if value != 1 { "s" } else { "" };
        text.push_str(&format!("{space}{plus}{value} {unit}{plural}"));
        before = value < 0;
        zero = false;
    };
    part(i64::from(months / 12), "year");
    part(i64::from(months % 12), "mon");
    part(i64::from(days), "day");
    let micros = nanos / 1_000;
    if zero || micros != 0 {
        let space = if zero { "" } else { " " };
        let sign = if micros < 0 {
            "-"
        } else if before {
            "+"
        } else {
            ""
        };
        let magnitude = micros.unsigned_abs();
        let (hours, minutes) = (magnitude / 3_600_000_000, magnitude / 60_000_000 % 60);
        let (seconds, fraction) = (magnitude / 1_000_000 % 60, magnitude % 1_000_000);
        text.push_str(&format!("{space}{sign}{hours:02}:{minutes:02}:{seconds:02}"));
        if fraction != 0 {
            text.push('.');
            text.push_str(format!("{fraction:06}").trim_end_matches('0'));
        }
    }
    text
}

/// PostgreSQL's text form of a float: the shortest exact digits, in exponent form outside
/// 1e-4..1e15 (float8out with extra_float_digits = 1).
fn pg_float(value: f64, single: bool) -> String {
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "Infinity".into() } else { "-Infinity".into() };
    }
    let magnitude = value.abs();
    let limit = if single { 1e6 } else { 1e15 };
    if magnitude != 0.0 && !(1e-4..limit).contains(&magnitude) {
        let text = if single { format!("{:e}", value as f32) } else { format!("{value:e}") };
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let exponent: i32 = exponent.parse().unwrap_or(0);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.abs());
    }
    if single {
        format!("{}", value as f32)
    } else {
        format!("{value}")
    }
}

/// Rewrites the columns whose text form pgwire would print differently from PostgreSQL as
/// preformatted text (the field keeps its type; only text-format columns change).
fn pg_text_columns(batch: RecordBatch, format: &Format) -> PgWireResult<RecordBatch> {
    use datafusion::arrow::array::{
        Array, ArrayRef, AsArray, BinaryArray, Decimal128Array, StringArray, TimestampMicrosecondArray,
    };
    use datafusion::arrow::datatypes::{Field, IntervalMonthDayNanoType, IntervalUnit, Schema, TimeUnit};
    let schema = batch.schema();
    let mut fields: Vec<Field> = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    let mut changed = false;
    for (i, (field, column)) in schema.fields().iter().zip(batch.columns()).enumerate() {
        let text = !matches!(format.format_for(i), pgwire::api::results::FieldFormat::Binary);
        match field.data_type() {
            DataType::Timestamp(TimeUnit::Microsecond, zone) if text => {
                let array = column.as_any().downcast_ref::<TimestampMicrosecondArray>().expect("timestamp array");
                let formatted: StringArray = (0..array.len())
                    .map(|row| (!array.is_null(row)).then(|| pg_timestamp(array.value(row), zone.is_some())).flatten())
                    .collect();
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(formatted));
                changed = true;
            }
            DataType::Interval(IntervalUnit::MonthDayNano) if text => {
                let array = column.as_primitive::<IntervalMonthDayNanoType>();
                let formatted: StringArray = (0..array.len())
                    .map(|row| {
                        (!array.is_null(row)).then(|| {
                            let value = array.value(row);
                            pg_interval(value.months, value.days, value.nanoseconds)
                        })
                    })
                    .collect();
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(formatted));
                changed = true;
            }
            DataType::Interval(IntervalUnit::MonthDayNano) => {
                // PostgreSQL's binary interval (microseconds, days, months), encoded here because
                // arrow-pg sends a NULL interval as a zero one.
                let array = column.as_primitive::<IntervalMonthDayNanoType>();
                let encoded: BinaryArray = (0..array.len())
                    .map(|row| {
                        (!array.is_null(row)).then(|| {
                            let value = array.value(row);
                            let mut bytes = Vec::with_capacity(16);
                            bytes.extend_from_slice(&(value.nanoseconds / 1000).to_be_bytes());
                            bytes.extend_from_slice(&value.days.to_be_bytes());
                            bytes.extend_from_slice(&value.months.to_be_bytes());
                            bytes
                        })
                    })
                    .collect();
                fields.push(Field::new(field.name(), DataType::Binary, true));
                columns.push(Arc::new(encoded));
                changed = true;
            }
            DataType::Float64 | DataType::Float32 if text => {
                let values = datafusion::arrow::compute::cast(column, &DataType::Float64).map_err(SqlError::from)?;
                let array =
                    values.as_any().downcast_ref::<datafusion::arrow::array::Float64Array>().expect("f64 array");
                let formatted: StringArray = (0..array.len())
                    .map(|row| {
                        (!array.is_null(row))
                            .then(|| pg_float(array.value(row), field.data_type() == &DataType::Float32))
                    })
                    .collect();
                fields.push(Field::new(field.name(), DataType::Utf8, true));
                columns.push(Arc::new(formatted));
                changed = true;
            }
            DataType::Decimal128(_, scale) => {
                // Encoded here rather than by arrow-pg, which holds only 28 digits (see `numeric`).
                let array = column.as_any().downcast_ref::<Decimal128Array>().expect("decimal array");
                if text {
                    let formatted =
                        datafusion::arrow::compute::cast(column, &DataType::Utf8).map_err(SqlError::from)?;
                    fields.push(Field::new(field.name(), DataType::Utf8, true));
                    columns.push(formatted);
                } else {
                    let encoded: BinaryArray = (0..array.len())
                        .map(|row| (!array.is_null(row)).then(|| crate::numeric::encode(array.value(row), *scale)))
                        .collect();
                    fields.push(Field::new(field.name(), DataType::Binary, true));
                    columns.push(Arc::new(encoded));
                }
                changed = true;
            }
            _ => {
                fields.push(field.as_ref().clone());
                columns.push(column.clone());
            }
        }
    }
    if !changed {
        return Ok(batch);
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| SqlError::internal(e).into())
}

/// pgwire derives the status a ReadyForQuery reports from the one before the statement and
/// the statement's response; it never leaves the error state except through a transaction end.
/// Two statements need a different starting point so that the answer matches PostgreSQL's:
/// COMMIT ends the block even when it fails (idle, not error), and a successful ROLLBACK TO
/// SAVEPOINT makes a failed block usable again (in transaction, not error).
fn settle_status<C: ClientInfo>(client: &mut C, statement: &Statement) {
    use pgwire::messages::response::TransactionStatus;
    match statement {
        Statement::Commit { .. } => client.set_transaction_status(TransactionStatus::Idle),
        Statement::Rollback { savepoint: Some(_), .. } if client.transaction_status() == TransactionStatus::Error => {
            client.set_transaction_status(TransactionStatus::Transaction)
        }
        _ => {}
    }
}

fn error_response(error: SqlError) -> Response {
    Response::Error(Box::new(error.into()))
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn on_query<C>(&self, client: &mut C, query: pgwire::messages::simplequery::Query) -> PgWireResult<()>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + futures::Sink<pgwire::messages::PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let ends = ["commit", "end", "rollback"];
        let first = query.query.split_whitespace().next().unwrap_or_default().to_lowercase();
        if ends.contains(&first.trim_end_matches(';')) {
            if let Ok([statement]) = parse(&query.query).as_deref() {
                settle_status(client, statement);
            }
        }
        self._on_query(client, query).await
    }

    async fn do_query<C>(&self, client: &mut C, query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + futures::Sink<pgwire::messages::PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let statements = match parse(query) {
            Ok(statements) => statements,
            Err(mut error) => {
                if let Some(p) = error.position.as_mut() {
                    *p = (*p).min(query.chars().count());
                }
                // As any failed statement, one that does not parse fails the open transaction
                // block (its COMMIT then rolls back).
                with_session(&self.engine, client, async |session: &mut Session| session.interrupted().await).await?;
                return Ok(vec![error_response(error)]);
            }
        };
        // DEALLOCATE drops a statement the extended protocol prepared on this connection.
        // `DEALLOCATE ALL` is accepted: the store cannot list its statements, which go when
        // the connection closes, and a client that prepares a name again replaces it.
        if let [Statement::Deallocate { name, .. }] = statements.as_slice() {
            if !name.value.eq_ignore_ascii_case("all") {
                pgwire::api::store::PortalStore::rm_statement(client.portal_store(), &name.value);
            }
            let tag = if name.value.eq_ignore_ascii_case("all") { "DEALLOCATE ALL" } else { "DEALLOCATE" };
            return Ok(vec![Response::Execution(Tag::new(tag))]);
        }
        let outcome = with_session(&self.engine, client, async |session: &mut Session| {
            let mut responses = Vec::with_capacity(statements.len());
            for statement in &statements {
                match session.execute(statement, &[]).await {
                    Ok(output) => responses.push(response(output, &Format::UnifiedText)),
                    Err(error) => {
                        responses.push(Ok(error_response(error)));
                        break;
                    }
                }
            }
            (responses, session.take_notices())
        })
        .await;
        match outcome {
            Ok((responses, notices)) => {
                send_notices(client, notices).await?;
                responses.into_iter().collect()
            }
            Err(error) => Ok(vec![error_response(error)]),
        }
    }
}

#[async_trait]
impl QueryParser for Parser {
    type Statement = Prepared;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Prepared>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let mut statements = match parse(sql) {
            Ok(statements) => statements,
            Err(error) => {
                with_session(&self.engine, client, async |session: &mut Session| session.interrupted().await).await?;
                return Err(error.into());
            }
        };
        if statements.len() > 1 {
            return Err(
                SqlError::new(code::SYNTAX_ERROR, "cannot insert multiple commands into a prepared statement").into()
            );
        }
        let Some(statement) = statements.pop() else {
            return Ok(Some(Prepared { statement: None, param_types: vec![], plans: Arc::new(PlanCache::new(None)) }));
        };
        let described = with_session(&self.engine, client, async |session: &mut Session| {
            if session.failed() {
                return Ok((vec![], None));
            }
            session.describe(&statement).await
        })
        .await??;
        let (inferred, result) = described;
        let count = inferred.len().max(types.len());
        let param_types = (0..count)
            .map(|i| {
                types
                    .get(i)
                    .cloned()
                    .flatten()
                    .or_else(|| inferred.get(i).cloned().flatten().map(|t| pg_type(&t)))
                    .unwrap_or(Type::TEXT)
            })
            .collect();
        let plans = Arc::new(PlanCache::new(result));
        Ok(Some(Prepared { statement: Some(statement), param_types, plans }))
    }

    fn get_parameter_types(&self, statement: &Prepared) -> PgWireResult<Vec<Type>> {
        Ok(statement.param_types.clone())
    }

    fn get_result_schema(&self, statement: &Prepared, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        match statement.plans.described() {
            Some(schema) => fields(schema, format.unwrap_or(&Format::UnifiedBinary)),
            None => Ok(vec![]),
        }
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Prepared;
    type QueryParser = Parser;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        self.parser.clone()
    }

    /// pgwire's own `on_bind`, except that BindComplete is queued rather than flushed: it goes
    /// out with the Execute's rows and ReadyForQuery in one TCP write when the client syncs.
    /// Flushing it alone cost a second send per prepared statement, which made prepared
    /// select-only run at 0.6x of the simple protocol's throughput (docs/benchmarks.md).
    async fn on_bind<C>(&self, client: &mut C, message: pgwire::messages::extendedquery::Bind) -> PgWireResult<()>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + futures::Sink<pgwire::messages::PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        use futures::SinkExt;
        use pgwire::api::store::{Entry, PortalStore};
        let statement_name = message.statement_name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        let portal_name = message.portal_name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        match client.portal_store().get_statement(statement_name) {
            Some(Entry::Value(statement)) => {
                let portal = Portal::try_new(&message, statement)?;
                client.portal_store().put_portal(Arc::new(portal));
            }
            Some(Entry::Empty) if message.parameters.is_empty() => client.portal_store().put_empty_portal(portal_name),
            Some(Entry::Empty) => {
                let error = SqlError::new(
                    code::PROTOCOL_VIOLATION,
                    format!(
                        "bind message supplies {} parameters, but prepared statement \"{statement_name}\" requires 0",
                        message.parameters.len()
                    ),
                );
                return Err(error.into());
            }
            None => return Err(PgWireError::StatementNotFound(statement_name.to_owned())),
        }
        let complete = pgwire::messages::extendedquery::BindComplete::new();
        client.feed(pgwire::messages::PgWireBackendMessage::BindComplete(complete)).await?;
        Ok(())
    }

    async fn on_execute<C>(&self, client: &mut C, message: pgwire::messages::extendedquery::Execute) -> PgWireResult<()>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + futures::Sink<pgwire::messages::PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let name = message.name.as_deref().unwrap_or(pgwire::api::DEFAULT_NAME);
        let portal = pgwire::api::store::PortalStore::get_portal(client.portal_store(), name);
        if let Some(statement) =
            portal.as_ref().and_then(|p| p.value()).and_then(|p| p.statement.statement.statement.clone())
        {
            settle_status(client, &statement);
        }
        self._on_execute(client, message).await
    }

    async fn do_query<C>(&self, client: &mut C, portal: &Portal<Prepared>, _max_rows: usize) -> PgWireResult<Response>
    where
        C: ClientInfo
            + pgwire::api::ClientPortalStore
            + futures::Sink<pgwire::messages::PgWireBackendMessage>
            + Unpin
            + Send
            + Sync,
        C::PortalStore: pgwire::api::store::PortalStore<Statement = Self::Statement>,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let prepared = &portal.statement.statement;
        let Some(statement) = &prepared.statement else { return Ok(Response::EmptyQuery) };
        let params = match crate::params::decode(portal, &prepared.param_types) {
            Ok(params) => params,
            Err(error) => return Err(error.into()),
        };
        let format = portal.result_column_format.clone();
        let outcome = with_session(&self.engine, client, async |session: &mut Session| {
            let output = session.execute_prepared(statement, &params, prepared.plans.clone()).await;
            (output, session.take_notices())
        })
        .await;
        let outcome = match outcome {
            Ok((output, notices)) => {
                send_notices(client, notices).await?;
                output
            }
            Err(error) => Err(error),
        };
        match outcome {
            Ok(output) => response(output, &format),
            Err(error) => Err(error.into()),
        }
    }
}

impl Handler {
    /// Records a login's end in the audit log: its success, or its failure (not the steps of
    /// the password exchange on the way).
    fn audit_login<C: ClientInfo>(&self, client: &C, outcome: &PgWireResult<bool>) {
        let Some(audit) = &self.engine.audit else { return };
        let failure = match outcome {
            // A step of the password exchange.
            Ok(false) => return,
            Ok(true) => None,
            Err(PgWireError::UserError(info)) => Some((info.code.as_str(), info.message.clone())),
            Err(other) => Some((code::INVALID_AUTHORIZATION_SPECIFICATION, other.to_string())),
        };
        let user = client.metadata().get(pgwire::api::METADATA_USER).cloned().unwrap_or_default();
        let database = database_of(client);
        let mut event = crate::audit::Event::new("login", &user, &database, failure);
        event.client = Some(client.socket_addr().to_string());
        audit.record(&event);
    }
}

/// Startup: logins on secure nodes ([`crate::login`]), then Atoll's server version.
#[async_trait]
impl StartupHandler for Handler {
    async fn on_startup<C>(&self, client: &mut C, message: pgwire::messages::PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        use pgwire::api::PidSecretKeyGenerator;
        use pgwire::messages::PgWireFrontendMessage;
        let outcome: PgWireResult<bool> = async {
            let authenticated = match message {
                PgWireFrontendMessage::Startup(ref startup) => {
                    pgwire::api::auth::protocol_negotiation(client, startup).await?;
                    pgwire::api::auth::save_startup_parameters_to_metadata(client, startup);
                    let (pid, secret_key) = self.pids.generate(client);
                    client.set_pid_and_secret_key(pid, secret_key.clone());
                    client.session_extensions().get_or_insert_with(|| self.cancels.register(pid, secret_key));
                    let user = startup.parameters.get("user").cloned().unwrap_or_default();
                    if self.secure {
                        let role = crate::roles::login_role(&self.engine.kv, &user)
                            .await
                            .map_err(|e| crate::login::fatal(e.code, e.message))?;
                        crate::login::begin(client, &user, role, &self.login_secret).await?
                    } else {
                        // Nobody is authenticated on an insecure node, so nobody can be told apart:
                        // every session may do what a superuser may.
                        client.session_extensions().insert(crate::login::Authenticated { user, superuser: true });
                        true
                    }
                }
                PgWireFrontendMessage::PasswordMessageFamily(password) if self.secure => {
                    crate::login::step(client, password).await?
                }
                _ => false,
            };
            if authenticated && self.secure {
                let login = client.session_extensions().get::<crate::login::Authenticated>();
                if let Some(login) = login {
                    let database = database_of(client);
                    let fatal = |e: SqlError| crate::login::fatal(e.code, e.message);
                    let limit =
                        crate::privileges::check_connect(&self.engine.kv, &login.user, login.superuser, &database)
                            .await
                            .map_err(fatal)?;
                    if let Some(limit) = limit {
                        let open = self.engine.role_connections.open(&login.user, limit).ok_or_else(|| {
                            fatal(SqlError::new(
                                code::TOO_MANY_CONNECTIONS,
                                format!("too many connections for role \"{}\"", login.user),
                            ))
                        })?;
                        // Counted until the connection (and its extensions) is dropped.
                        client.session_extensions().insert(open);
                    }
                }
            }
            Ok(authenticated)
        }
        .await;
        self.audit_login(client, &outcome);
        let authenticated = outcome?;
        if authenticated {
            let mut parameters = pgwire::api::auth::DefaultServerParameterProvider::default();
            parameters.server_version = crate::SERVER_VERSION.to_string();
            pgwire::api::auth::finish_authentication(client, &parameters).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl pgwire::api::copy::CopyHandler for Handler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: pgwire::messages::copy::CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let outcome =
            with_session(&self.engine, client, async |session: &mut Session| session.copy_data(&copy_data.data)).await;
        outcome.and_then(|r| r).map_err(|e: SqlError| e.into())
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: pgwire::messages::copy::CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        use futures::SinkExt;
        let outcome = with_session(&self.engine, client, async |session: &mut Session| session.copy_done(false).await)
            .await
            .and_then(|r| r);
        match outcome {
            Ok(Output::Command { rows, .. }) => {
                let tag = Tag::new("COPY").with_rows(rows.unwrap_or(0));
                client.send(pgwire::messages::PgWireBackendMessage::CommandComplete(tag.into())).await?;
                Ok(())
            }
            Ok(_) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: pgwire::messages::copy::CopyFail) -> PgWireError
    where
        C: ClientInfo + futures::Sink<pgwire::messages::PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: std::fmt::Debug,
        PgWireError: From<<C as futures::Sink<pgwire::messages::PgWireBackendMessage>>::Error>,
    {
        let _ = with_session(&self.engine, client, async |session: &mut Session| session.copy_done(true).await).await;
        SqlError::new(code::QUERY_CANCELED, format!("COPY from stdin failed: {}", fail.message)).into()
    }
}

struct Factory {
    handler: Arc<Handler>,
}

impl PgWireServerHandlers for Factory {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        self.handler.clone()
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        self.handler.clone()
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        self.handler.clone()
    }

    fn copy_handler(&self) -> Arc<impl pgwire::api::copy::CopyHandler> {
        self.handler.clone()
    }

    fn cancel_handler(&self) -> Arc<impl pgwire::api::cancel::CancelHandler> {
        self.handler.cancels.clone()
    }
}

/// Serves the PostgreSQL protocol on `listener` until the task is dropped; with `tls`, a
/// secure node: TLS after SSLRequest, and logins by client certificate or password.
pub async fn serve(listener: TcpListener, engine: Arc<Engine>, tls: Option<Arc<rustls::ServerConfig>>) {
    let handler = Arc::new(Handler {
        parser: Arc::new(Parser { engine: engine.clone() }),
        engine,
        cancels: Arc::new(Cancels::default()),
        pids: pgwire::api::RandomPidSecretKeyGenerator::default(),
        secure: tls.is_some(),
        login_secret: rand::random(),
    });
    let tls = tls.map(tokio_rustls::TlsAcceptor::from);
    let connections_max = handler.engine.connections_max;
    let connections = Arc::new(tokio::sync::Semaphore::new(connections_max));
    let factory = Arc::new(Factory { handler });
    loop {
        let (socket, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "sql: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let (factory, tls) = (factory.clone(), tls.clone());
        match connections.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(async move {
                    crate::connection::run(socket, peer, tls, factory).await;
                    drop(permit);
                });
            }
            Err(_) => {
                tracing::warn!(%peer, connections_max, "sql: connection refused, too many clients");
                tokio::spawn(crate::connection::refuse(socket, tls, connections_max, factory));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::pg_interval;

    /// Each expected text was read off PostgreSQL 15 (`SELECT x::text` for the same interval).
    #[test]
    fn intervals_read_as_postgresql_writes_them() {
        let seconds = 1_000_000_000i64;
        let cases = [
            ((14, 3, 14_706 * seconds + seconds / 2), "1 year 2 mons 3 days 04:05:06.5"),
            ((0, 0, -3 * seconds / 2), "-00:00:01.5"),
            ((0, -1, 7_200 * seconds), "-1 days +02:00:00"),
            ((0, 1, -7_200 * seconds), "1 day -02:00:00"),
            ((-14, 0, 0), "-1 years -2 mons"),
            ((0, 0, 0), "00:00:00"),
            ((13, 0, 0), "1 year 1 mon"),
            ((1, 0, 0), "1 mon"),
            ((-1, 3, 0), "-1 mons +3 days"),
            ((0, 0, 360_000 * seconds + 1_000), "100:00:00.000001"),
            ((0, 0, -seconds / 2), "-00:00:00.5"),
            ((0, 1, 0), "1 day"),
        ];
        for ((months, days, nanos), expected) in cases {
            assert_eq!(pg_interval(months, days, nanos), expected, "{months} {days} {nanos}");
        }
    }
}
