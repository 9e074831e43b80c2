//! SQL over the PostgreSQL wire protocol against a live 3-node cluster: the `.slt` files in
//! tests/slt (run by the sqllogictest crate through tokio-postgres, one database per file), and
//! behaviours a script cannot express (concurrent transactions, the extended protocol).

use crate::cluster::TestCluster;
use sqllogictest::{AsyncDB, DBOutput, DefaultColumnType};
use std::path::PathBuf;
use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

/// A client error as the `.slt` files match it: `<SQLSTATE>: <message>`.
#[derive(Debug)]
pub struct SqlFailure(String);

impl std::fmt::Display for SqlFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SqlFailure {}

fn failure(error: tokio_postgres::Error) -> SqlFailure {
    match error.as_db_error() {
        Some(db) => SqlFailure(format!("{}: {}", db.code().code(), db.message())),
        None => SqlFailure(format!("client: {error}")),
    }
}

pub async fn must_connect(address: &str, database: &str) -> Client {
    connect(address, database).await.expect("connect over the PostgreSQL protocol")
}

/// A connection as user `atoll` to `database` at `address` (`host:port`).
pub async fn connect(address: &str, database: &str) -> Result<Client, tokio_postgres::Error> {
    let (host, port) = address.split_once(':').expect("host:port");
    let config = format!("host={host} port={port} user=atoll dbname={database} connect_timeout=10");
    let (client, connection) = tokio_postgres::connect(&config, NoTls).await?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

struct Slt {
    client: Client,
}

#[async_trait::async_trait]
impl AsyncDB for Slt {
    type Error = SqlFailure;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlFailure> {
        let messages = self.client.simple_query(sql).await.map_err(failure)?;
        let mut rows = Vec::new();
        let mut columns = None;
        let mut count = 0;
        for message in messages {
            match message {
                SimpleQueryMessage::RowDescription(description) => columns = Some(description.len()),
                SimpleQueryMessage::Row(row) => {
                    columns = Some(row.len());
                    rows.push((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect());
                }
                SimpleQueryMessage::CommandComplete(n) => count = n,
                _ => {}
            }
        }
        match columns {
            Some(columns) => Ok(DBOutput::Rows { types: vec![DefaultColumnType::Any; columns], rows }),
            None => Ok(DBOutput::StatementComplete(count)),
        }
    }

    async fn shutdown(&mut self) {}

    async fn sleep(duration: std::time::Duration) {
        tokio::time::sleep(duration).await;
    }
}

fn slt_files() -> Vec<PathBuf> {
    let dir = crate::manifest_dir().join("../../tests/slt");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("tests/slt")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "slt"))
        .collect();
    files.sort();
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqllogictest_files_pass_over_the_wire() {
    let cluster = TestCluster::must_start(3).await;
    let files = slt_files();
    assert!(!files.is_empty(), "no .slt files found");
    for (i, file) in files.iter().enumerate() {
        let database = format!("slt_{}", file.file_stem().and_then(|s| s.to_str()).expect("file name"));
        // Spread the files over the nodes: every node serves SQL for the whole cluster.
        let address = cluster.nodes[i % cluster.nodes.len()].sql.clone();
        let admin = must_connect(&address, "postgres").await;
        admin.simple_query(&format!("CREATE DATABASE {database}")).await.expect("create the file's database");
        let mut runner = sqllogictest::Runner::new(move || {
            let (address, database) = (address.clone(), database.clone());
            async move { Ok(Slt { client: must_connect(&address, &database).await }) }
        });
        runner.with_column_validator(sqllogictest::default_column_validator);
        if let Err(error) = runner.run_file_async(file).await {
            panic!("{}: {}\n(logs in {})", file.display(), error.display(true), cluster.dir.path().display());
        }
    }
}

/// The extended protocol: typed parameters in binary format, a statement prepared once and
/// executed many times, NULLs, and results decoded by type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prepared_statements_bind_typed_parameters() {
    let cluster = TestCluster::must_start(3).await;
    let client = must_connect(&cluster.nodes[1].sql, "postgres").await;
    client
        .batch_execute("CREATE TABLE items (id BIGINT PRIMARY KEY, name TEXT NOT NULL, price DOUBLE PRECISION, in_stock BOOLEAN, qty INT)")
        .await
        .expect("create table");
    let insert = client.prepare("INSERT INTO items VALUES ($1, $2, $3, $4, $5)").await.expect("prepare insert");
    for id in 1..=20i64 {
        let price = (id % 3 != 0).then_some(id as f64 * 1.5);
        let qty = id as i32 * 10;
        client.execute(&insert, &[&id, &format!("item {id}"), &price, &(id % 2 == 0), &qty]).await.expect("insert");
    }
    let by_id =
        client.prepare("SELECT name, price, in_stock, qty FROM items WHERE id = $1").await.expect("prepare select");
    let row = client.query_one(&by_id, &[&4i64]).await.expect("select 4");
    assert_eq!(row.get::<_, String>(0), "item 4");
    assert_eq!(row.get::<_, Option<f64>>(1), Some(6.0));
    assert!(row.get::<_, bool>(2));
    assert_eq!(row.get::<_, i32>(3), 40);
    let row = client.query_one(&by_id, &[&3i64]).await.expect("select 3");
    assert_eq!(row.get::<_, Option<f64>>(1), None, "NULL round-trips");
    assert!(client.query_opt(&by_id, &[&99i64]).await.expect("select 99").is_none());

    let total: i64 =
        client.query_one("SELECT sum(qty) FROM items WHERE qty > $1", &[&100i32]).await.expect("sum").get(0);
    assert_eq!(total, (11..=20).map(|i| i * 10).sum::<i64>());

    let updated =
        client.execute("UPDATE items SET qty = qty + $1 WHERE id <= $2", &[&5i32, &10i64]).await.expect("update");
    assert_eq!(updated, 10);
    let qty: i32 = client.query_one(&by_id, &[&1i64]).await.expect("select 1").get(3);
    assert_eq!(qty, 15);

    let error = client.execute(&insert, &[&1i64, &"dup", &None::<f64>, &false, &0i32]).await.expect_err("duplicate");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("23505"), "{error}");

    // A table without a primary key (keyed by a hidden row id) takes prepared UPDATE and DELETE
    // (their Describe failed with "No field named ...rowid").
    client.batch_execute("CREATE TABLE loose (n INT, note TEXT)").await.expect("create");
    client.execute("INSERT INTO loose VALUES ($1, 'a'), ($2, 'b')", &[&1i32, &2i32]).await.expect("insert");
    let updated = client.execute("UPDATE loose SET note = $1 WHERE n = $2", &[&"c", &2i32]).await.expect("update");
    assert_eq!(updated, 1);
    let deleted = client.execute("DELETE FROM loose WHERE n = $1", &[&1i32]).await.expect("delete");
    assert_eq!(deleted, 1);
    let left: Vec<(i32, String)> = client
        .query("SELECT n, note FROM loose", &[])
        .await
        .expect("read")
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(left, [(2, "c".to_string())]);

    // Result columns carry PostgreSQL's names (read off PostgreSQL 15), in Describe (extended
    // protocol, twice: the second runs the kept plan) and in a simple query's RowDescription.
    let named = "SELECT count(*), sum(qty), upper(name), id, 1, '7'::int, qty::text, max(price) AS top \
                 FROM items GROUP BY name, id, qty";
    let expected = ["count", "sum", "upper", "id", "?column?", "int4", "qty", "top"];
    let statement = client.prepare(named).await.expect("prepare");
    let described: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
    assert_eq!(described, expected);
    for _ in 0..2 {
        let rows = client.query(&statement, &[]).await.expect("run");
        let names: Vec<&str> = rows[0].columns().iter().map(|c| c.name()).collect();
        assert_eq!(names, expected);
    }
    let simple = client.simple_query(named).await.expect("simple query");
    let Some(SimpleQueryMessage::RowDescription(columns)) = simple.first() else { panic!("{simple:?}") };
    let names: Vec<&str> = columns.iter().map(|c| c.name()).collect();
    assert_eq!(names, expected);
}

/// Two transactions on one node that read the same row and then write it: the second writer
/// waits for the first one's row lock, then fails with 40001 (what it read is gone), and
/// leaves nothing behind; the first's write survives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicting_transactions_fail_with_serialization_failure() {
    let cluster = TestCluster::must_start(3).await;
    let a = must_connect(&cluster.nodes[0].sql, "postgres").await;
    let b = must_connect(&cluster.nodes[0].sql, "postgres").await;
    a.batch_execute("CREATE TABLE counter (id INT PRIMARY KEY, n INT); INSERT INTO counter VALUES (1, 0)")
        .await
        .expect("setup");
    a.batch_execute("BEGIN").await.expect("begin a");
    b.batch_execute("BEGIN").await.expect("begin b");
    let na: i32 = a.query_one("SELECT n FROM counter WHERE id = 1", &[]).await.expect("read a").get(0);
    let nb: i32 = b.query_one("SELECT n FROM counter WHERE id = 1", &[]).await.expect("read b").get(0);
    a.execute("UPDATE counter SET n = $1 WHERE id = 1", &[&(na + 1)]).await.expect("write a");
    let b_writes = tokio::spawn(async move {
        let result = b.execute("UPDATE counter SET n = $1 WHERE id = 1", &[&(nb + 10)]).await;
        (b, result)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!b_writes.is_finished(), "b's UPDATE waits for a's row lock");
    a.batch_execute("COMMIT").await.expect("commit a");
    let (b, result) = b_writes.await.expect("task");
    let error = result.expect_err("b must not write over a's write, having read the value before it");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("40001"), "{error}");
    b.batch_execute("ROLLBACK").await.expect("rollback b");
    let n: i32 = b.query_one("SELECT n FROM counter WHERE id = 1", &[]).await.expect("read after").get(0);
    assert_eq!(n, 1);
}

/// Writers of one row that did not read it first (pgbench's `SET n = n + 1`) queue for its
/// lock and all commit, each on the one before; a writer on another node, which does not share
/// the lock table, is still kept serializable by validation at commit (40001).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writers_of_one_row_wait_for_each_other_instead_of_failing() {
    let cluster = TestCluster::must_start(3).await;
    let setup = must_connect(&cluster.nodes[0].sql, "postgres").await;
    setup
        .batch_execute("CREATE TABLE hot (id INT PRIMARY KEY, n INT); INSERT INTO hot VALUES (1, 0)")
        .await
        .expect("setup");
    let mut writers = Vec::new();
    for _ in 0..4 {
        let address = cluster.nodes[0].sql.clone();
        writers.push(tokio::spawn(async move {
            let client = must_connect(&address, "postgres").await;
            for _ in 0..10 {
                client
                    .batch_execute(
                        "BEGIN; UPDATE hot SET n = n + 1 WHERE id = 1; SELECT n FROM hot WHERE id = 1; COMMIT",
                    )
                    .await
                    .expect("a queued writer commits without a serialization failure");
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    let n: i32 = setup.query_one("SELECT n FROM hot WHERE id = 1", &[]).await.expect("read").get(0);
    assert_eq!(n, 40, "no increment lost");

    // A transaction on node 3 updates the row while one on node 1 holds it.
    let local = must_connect(&cluster.nodes[0].sql, "postgres").await;
    let remote = must_connect(&cluster.nodes[2].sql, "postgres").await;
    local.batch_execute("BEGIN; UPDATE hot SET n = n + 1 WHERE id = 1").await.expect("local holds the row");
    remote.batch_execute("BEGIN; UPDATE hot SET n = n + 100 WHERE id = 1").await.expect("remote writes");
    local.batch_execute("COMMIT").await.expect("local commits first");
    let error = remote.batch_execute("COMMIT").await.expect_err("the remote writer built on a stale row");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("40001"), "{error}");
    let n: i32 = setup.query_one("SELECT n FROM hot WHERE id = 1", &[]).await.expect("read").get(0);
    assert_eq!(n, 41);
}

/// Concurrent transfers between accounts through different nodes, retried on 40001: the
/// total never changes and every committed transfer is in the history table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transfers_preserve_the_total() {
    let cluster = TestCluster::must_start(3).await;
    let setup = must_connect(&cluster.nodes[0].sql, "postgres").await;
    setup
        .batch_execute(
            "CREATE TABLE bank (id INT PRIMARY KEY, balance INT NOT NULL CHECK (balance >= 0));
             CREATE TABLE moves (id SERIAL PRIMARY KEY, src INT, dst INT, amount INT);
             INSERT INTO bank SELECT x, 100 FROM (VALUES (1), (2), (3), (4), (5), (6), (7), (8)) AS t(x)",
        )
        .await
        .expect("setup");
    let mut workers = Vec::new();
    for worker in 0..4u64 {
        let address = cluster.nodes[worker as usize % 3].sql.clone();
        workers.push(tokio::spawn(async move {
            let client = must_connect(&address, "postgres").await;
            let mut committed = 0;
            let mut seed = worker * 7919 + 17;
            for _ in 0..15 {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let src = (seed >> 33) % 8 + 1;
                let dst = (src + (seed >> 40) % 7) % 8 + 1;
                let amount = ((seed >> 45) % 30 + 1) as i32;
                loop {
                    let transfer = format!(
                        "BEGIN;
                         UPDATE bank SET balance = balance - {amount} WHERE id = {src};
                         UPDATE bank SET balance = balance + {amount} WHERE id = {dst};
                         INSERT INTO moves (src, dst, amount) VALUES ({src}, {dst}, {amount});
                         COMMIT"
                    );
                    match client.batch_execute(&transfer).await {
                        Ok(()) => {
                            committed += 1;
                            break;
                        }
                        Err(error) => {
                            let _ = client.batch_execute("ROLLBACK").await;
                            match error.as_db_error().map(|e| e.code().code().to_string()).as_deref() {
                                Some("40001") => continue,
                                Some("23514") => break,
                                _ => panic!("transfer failed: {error}"),
                            }
                        }
                    }
                }
            }
            committed
        }));
    }
    let mut committed = 0i64;
    for worker in workers {
        committed += worker.await.expect("worker");
    }
    let reader = must_connect(&cluster.nodes[1].sql, "postgres").await;
    let total: i64 = reader.query_one("SELECT sum(balance) FROM bank", &[]).await.expect("sum").get(0);
    assert_eq!(total, 800, "transfers must not create or destroy money");
    let moves: i64 = reader.query_one("SELECT count(*) FROM moves", &[]).await.expect("count").get(0);
    assert_eq!(moves, committed, "every committed transfer, and only those, is recorded");
    assert!(committed > 0);
}

/// EXPLAIN names the key spans a query reads: a point get for the whole primary key, an index
/// lookup for an indexed column, a full scan otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_shows_the_key_spans_read() {
    let cluster = TestCluster::must_start(1).await;
    let client = must_connect(&cluster.nodes[0].sql, "postgres").await;
    client
        .batch_execute("CREATE TABLE s (k INT PRIMARY KEY, v TEXT, w INT); CREATE INDEX s_v ON s (v)")
        .await
        .expect("setup");
    let plan = |sql: &'static str| {
        let client = &client;
        async move {
            let rows = client.simple_query(sql).await.expect("explain");
            rows.iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
                    _ => None,
                })
                .collect::<Vec<_>>()
                .join("\n")
        }
    };
    assert!(plan("EXPLAIN SELECT v FROM s WHERE k = 7").await.contains("s: point get /s/primary/7"));
    assert!(plan("EXPLAIN SELECT k FROM s WHERE v = 'a'").await.contains("s: index lookup /s/s_v/a"));
    assert!(plan("EXPLAIN SELECT k FROM s WHERE k > 3 AND k <= 9").await.contains("s: span /s/primary/(3 .. 9]"));
    assert!(plan("EXPLAIN SELECT k FROM s WHERE w = 1").await.contains("s: full scan of /s/primary"));
}

/// A connection whose open transaction has updated row 1 of a new table `held (id, n)` (n = 0
/// before): any other writer of that row waits for its lock until this one ends.
pub async fn must_hold_a_row(address: &str) -> Client {
    let holder = must_connect(address, "postgres").await;
    holder
        .batch_execute("CREATE TABLE held (id INT PRIMARY KEY, n INT); INSERT INTO held VALUES (1, 0)")
        .await
        .expect("setup");
    holder.batch_execute("BEGIN; UPDATE held SET n = n + 1 WHERE id = 1").await.expect("hold the row");
    holder
}

/// A cancel request (what psql sends on Ctrl-C) stops a statement that is waiting for a row
/// lock with 57014; its block then only takes ROLLBACK, and the lock holder is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_request_stops_a_waiting_statement() {
    let cluster = TestCluster::must_start(3).await;
    let holder = must_hold_a_row(&cluster.nodes[0].sql).await;
    let waiter = must_connect(&cluster.nodes[0].sql, "postgres").await;
    waiter.batch_execute("BEGIN").await.expect("begin");
    let token = waiter.cancel_token();
    let waiting = tokio::spawn(async move {
        let result = waiter.batch_execute("UPDATE held SET n = n + 10 WHERE id = 1").await;
        (waiter, result)
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the UPDATE waits for the row lock");
    token.cancel_query(tokio_postgres::NoTls).await.expect("send the cancel request");
    let (waiter, result) = waiting.await.expect("task");
    let error = result.expect_err("the cancelled statement fails");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("57014"), "{error}");
    let error = waiter.batch_execute("SELECT 1").await.expect_err("the block has failed");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("25P02"), "{error}");
    waiter.batch_execute("ROLLBACK").await.expect("rollback");
    holder.batch_execute("COMMIT").await.expect("the holder commits");
    let n: i32 = waiter.query_one("SELECT n FROM held WHERE id = 1", &[]).await.expect("read").get(0);
    assert_eq!(n, 1, "only the holder's update happened");
}

/// Two inserts of one primary key on one node: the second waits for the first's lock and then
/// fails with 23505 (unique violation), as in PostgreSQL, not 40001 at commit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_duplicate_insert_waits_and_gets_a_unique_violation() {
    let cluster = TestCluster::must_start(3).await;
    let first = must_connect(&cluster.nodes[1].sql, "postgres").await;
    let second = must_connect(&cluster.nodes[1].sql, "postgres").await;
    first.batch_execute("CREATE TABLE once (id INT PRIMARY KEY, who TEXT)").await.expect("setup");
    first.batch_execute("BEGIN; INSERT INTO once VALUES (5, 'first')").await.expect("first inserts");
    let waiting = tokio::spawn(async move { second.batch_execute("INSERT INTO once VALUES (5, 'second')").await });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "the second insert waits for the first one's lock");
    first.batch_execute("COMMIT").await.expect("first commits");
    let error = waiting.await.expect("task").expect_err("a duplicate key");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("23505"), "{error}");
    let who: String = first.query_one("SELECT who FROM once WHERE id = 5", &[]).await.expect("read").get(0);
    assert_eq!(who, "first");
}

/// The SQL counters of one node's /metrics: (plan cache hits, misses).
fn plan_cache_counts(http: &str) -> (f64, f64) {
    let (_, body) = crate::metrics::must_http_get(http, "/metrics");
    (
        crate::metrics::metric(&body, "atoll_sql_plan_cache_hits_total"),
        crate::metrics::metric(&body, "atoll_sql_plan_cache_misses_total"),
    )
}

/// A prepared SELECT that DataFusion plans is planned on its first execute and reused after,
/// with each execute's parameters; a schema change makes the next execute plan it again (and
/// use a new index), and one that changes its result columns fails with 0A000 as in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_prepared_query_keeps_its_plan_until_the_schema_changes() {
    let cluster = TestCluster::must_start(3).await;
    let node = &cluster.nodes[2];
    let client = must_connect(&node.sql, "postgres").await;
    let other = must_connect(&node.sql, "postgres").await;
    client
        .batch_execute(
            "CREATE TABLE acct (id INT PRIMARY KEY, owner TEXT, balance INT);
             INSERT INTO acct VALUES (1, 'ann', 10), (2, 'bob', 20), (3, 'ann', 30), (4, 'cy', 40)",
        )
        .await
        .expect("setup");
    // Not a point statement (a range and a second predicate), so DataFusion plans it.
    let sum =
        client.prepare("SELECT count(*), sum(balance) FROM acct WHERE id >= $1 AND owner = $2").await.expect("prepare");
    let (hits0, misses0) = plan_cache_counts(&node.http);
    let mut seen = Vec::new();
    for (from, owner) in [(1, "ann"), (2, "ann"), (1, "bob"), (4, "cy"), (4, "ann")] {
        let row = client.query_one(&sum, &[&from, &owner]).await.expect("execute");
        seen.push((row.get::<_, i64>(0), row.get::<_, Option<i64>>(1)));
    }
    assert_eq!(seen, vec![(2, Some(40)), (1, Some(30)), (1, Some(20)), (1, Some(40)), (0, None)]);
    let (hits1, misses1) = plan_cache_counts(&node.http);
    assert_eq!((hits1 - hits0, misses1 - misses0), (4.0, 1.0), "planned once, reused four times");

    // Another session adds an index: the kept plan is stale, the next execute plans again.
    other.batch_execute("CREATE INDEX acct_owner ON acct (owner)").await.expect("create index");
    let row = client.query_one(&sum, &[&1, &"ann"]).await.expect("execute after CREATE INDEX");
    assert_eq!((row.get::<_, i64>(0), row.get::<_, Option<i64>>(1)), (2, Some(40)));
    client.query_one(&sum, &[&1, &"cy"]).await.expect("execute again");
    let (hits2, misses2) = plan_cache_counts(&node.http);
    assert_eq!((hits2 - hits1, misses2 - misses1), (1.0, 1.0), "planned again once, then reused");

    // A column added elsewhere does not change this statement's columns: it keeps working.
    other.batch_execute("ALTER TABLE acct ADD COLUMN note TEXT").await.expect("add column");
    let row = client.query_one(&sum, &[&2, &"bob"]).await.expect("execute after ADD COLUMN");
    assert_eq!(row.get::<_, i64>(0), 1);
    // `SELECT *` would now return one more column than its Describe announced.
    let star = client.prepare("SELECT * FROM acct WHERE id >= $1 AND owner = $2").await.expect("prepare *");
    assert_eq!(client.query(&star, &[&1, &"ann"]).await.expect("execute *").len(), 2);
    other.batch_execute("ALTER TABLE acct DROP COLUMN note").await.expect("drop column");
    let error = client.query(&star, &[&1, &"ann"]).await.expect_err("the result type changed");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("0A000"), "{error}");
    // A column the statement reads is gone: planning again reports it.
    other.batch_execute("ALTER TABLE acct DROP COLUMN balance").await.expect("drop column");
    let error = client.query_one(&sum, &[&1, &"ann"]).await.expect_err("balance is gone");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("42703"), "{error}");

    // Parameters of another type than the plan gave its placeholders (psycopg sends a small
    // integer as int2) are converted when that is lossless, and planned on their own when not.
    use tokio_postgres::types::Type;
    let count = |sql: &'static str, types: &'static [Type]| {
        let client = &client;
        async move { client.prepare_typed(sql, types).await.expect("prepare typed") }
    };
    let narrow = count("SELECT count(*) FROM acct WHERE id >= $1 AND owner <> $2", &[Type::INT2, Type::TEXT]).await;
    for _ in 0..2 {
        let n: i64 = client.query_one(&narrow, &[&2i16, &"zed"]).await.expect("an int2 parameter").get(0);
        assert_eq!(n, 3);
    }
    let wide = count("SELECT count(*) FROM acct WHERE id < $1 AND owner <> $2", &[Type::INT8, Type::TEXT]).await;
    let n: i64 = client.query_one(&wide, &[&10_000_000_000i64, &"zed"]).await.expect("int8 beyond int4").get(0);
    assert_eq!(n, 4);
    let n: i64 = client.query_one(&wide, &[&3i64, &"zed"]).await.expect("int8 within int4").get(0);
    assert_eq!(n, 2);
}

/// A statement that arrives while its node knows no leader waits for one (up to 10 s) instead
/// of failing with "no leader": here the node is alone, with both peers killed, until one of
/// them comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_statement_waits_out_a_period_without_leader() {
    let mut cluster = TestCluster::must_start(3).await;
    let leader = cluster.must_find_leader().await;
    let survivor = (leader + 1) % cluster.nodes.len();
    let client = must_connect(&cluster.nodes[survivor].sql, "postgres").await;
    client
        .batch_execute("CREATE TABLE kept (id INT PRIMARY KEY, v TEXT); INSERT INTO kept VALUES (1, 'before')")
        .await
        .expect("setup");
    let others: Vec<usize> = (0..cluster.nodes.len()).filter(|&i| i != survivor).collect();
    for &i in &others {
        cluster.nodes[i].kill();
    }
    // The survivor's election timeout passes and it stands as a candidate it cannot win.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !crate::metrics::must_http_get(&cluster.nodes[survivor].http, "/health").1.contains("no leader") {
        assert!(std::time::Instant::now() < deadline, "the survivor still names a leader");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let waiting = tokio::spawn(async move {
        let outcome = client.execute("INSERT INTO kept VALUES (2, 'during')", &[]).await;
        (client, outcome)
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!waiting.is_finished(), "the insert waits for a leader");
    cluster.nodes[others[0]].must_spawn(None);
    let (client, outcome) = waiting.await.expect("task");
    assert_eq!(outcome.expect("the insert commits once a leader is elected"), 1);
    let n: i64 = client.query_one("SELECT count(*) FROM kept", &[]).await.expect("count").get(0);
    assert_eq!(n, 2);
}
