//! Statements meant to hurt a node, over the wire: each gets an answer or an error with the
//! right SQLSTATE, and the node still answers `SELECT 1` afterwards (issue 19).

use crate::cluster::TestCluster;
use crate::sql::must_connect;
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
