//! Statements meant to hurt a node, over the wire: each gets an answer or an error with the
//! right SQLSTATE, and the node still answers `SELECT 1` afterwards (issue 19).

use crate::cluster::TestCluster;
use crate::sql::{must_connect, must_hold_a_row};
use atoll_types::limits::STATEMENT_DEPTH_MAX;

fn joined(terms: impl Iterator<Item = String>, separator: &str) -> String {
    terms.collect::<Vec<_>>().join(separator)
}

/// Runs `sql` on a fresh connection; `Ok(rows)` or `Err(sqlstate)`.
async fn outcome(address: &str, sql: &str) -> Result<usize, String> {
    let client = must_connect(address, "postgres").await;
    match client.simple_query(sql).await {
        Ok(messages) => Ok(messages.iter().filter(|m| matches!(m, tokio_postgres::SimpleQueryMessage::Row(_))).count()),
        Err(error) => {
            Err(error.as_db_error().map_or_else(|| format!("client: {error}"), |db| db.code().code().to_string()))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_chains_are_answered_and_too_deep_nesting_gets_54001_without_killing_the_node() {
    let cluster = TestCluster::must_start(1).await;
    let address = cluster.nodes[0].sql.clone();
    let setup = must_connect(&address, "postgres").await;
    setup
        .batch_execute("CREATE TABLE accounts (id INT PRIMARY KEY, v INT); INSERT INTO accounts VALUES (1, 10), (2999, 20), (5000, 30)")
        .await
        .expect("setup");

    // What an ORM builds from a list of 3 000 ids: a tree 3 000 deep (this killed the node).
    let ors = joined((0..3000).map(|i| format!("id = {i}")), " OR ");
    assert_eq!(outcome(&address, &format!("SELECT * FROM accounts WHERE {ors}")).await, Ok(2));
    // A list of 100 000 values is flat.
    let list = joined((0..100_000).map(|i| i.to_string()), ",");
    assert_eq!(outcome(&address, &format!("SELECT * FROM accounts WHERE id IN ({list})")).await, Ok(3));
    // 1 000 `+` terms. (Not 100 000 yet: DataFusion names the column after the whole
    // expression at every level, which is quadratic; PostgreSQL says `?column?`.)
    let sum = joined(std::iter::repeat_n("1".to_string(), 1_000), "+");
    assert_eq!(outcome(&address, &format!("SELECT {sum}")).await, Ok(1));
    // Nesting just under the limit is answered: the stacks are sized for it.
    let depth = STATEMENT_DEPTH_MAX - 10;
    let nested = format!("SELECT {}1{}", "(".repeat(depth), ")".repeat(depth));
    assert_eq!(outcome(&address, &nested).await, Ok(1));
    // Past the limit, in both shapes: 54001, as PostgreSQL past max_stack_depth.
    let too_long = joined(std::iter::repeat_n("1".to_string(), STATEMENT_DEPTH_MAX + 1), "+");
    assert_eq!(outcome(&address, &format!("SELECT {too_long}")).await, Err("54001".into()));
    let too_deep = format!("SELECT {}1{}", "(".repeat(STATEMENT_DEPTH_MAX + 1), ")".repeat(STATEMENT_DEPTH_MAX + 1));
    assert_eq!(outcome(&address, &too_deep).await, Err("54001".into()));

    assert!(cluster.nodes[0].is_running(), "the node survived every statement");
    assert_eq!(outcome(&address, "SELECT 1").await, Ok(1));
}

/// `SET statement_timeout` is honoured: a statement past it (here one waiting for a row lock)
/// fails with 57014 and its session goes on; `SHOW` reports the setting; a value PostgreSQL
/// would refuse gets 22023.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statement_timeout_cancels_a_waiting_statement_and_the_session_goes_on() {
    let cluster = TestCluster::must_start(1).await;
    let holder = must_hold_a_row(&cluster.nodes[0].sql).await;
    let client = must_connect(&cluster.nodes[0].sql, "postgres").await;
    client.batch_execute("SET statement_timeout = '1s'").await.expect("set");
    let shown: String = client.query_one("SHOW statement_timeout", &[]).await.expect("show").get(0);
    assert_eq!(shown, "1s");
    let started = std::time::Instant::now();
    let error =
        client.batch_execute("UPDATE held SET n = n + 10 WHERE id = 1").await.expect_err("the timeout stops it");
    let db = error.as_db_error().expect("a SQL error");
    assert_eq!(db.code().code(), "57014", "{error}");
    assert!(db.message().contains("statement timeout"), "{}", db.message());
    // A sanity bound, not a measurement: without the timeout it waits for the holder.
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "{:?}", started.elapsed());
    let one: i64 = client.query_one("SELECT 1::BIGINT", &[]).await.expect("the session goes on").get(0);
    assert_eq!(one, 1);
    let error = client.batch_execute("SET statement_timeout = 'soon'").await.expect_err("refused");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("22023"), "{error}");
    holder.batch_execute("COMMIT").await.expect("the holder commits");
    let n: i32 = client.query_one("SELECT n FROM held WHERE id = 1", &[]).await.expect("read").get(0);
    assert_eq!(n, 1, "only the holder's update happened");
}
