//! Two ranges from the start: the etcd keyspace and SQL's are split apart (see
//! `atoll_server::keyspaces`), each with its own revisions, compaction and replicas, and a
//! node that was down through the split gets both back. `SHOW RANGES` shows them.

use crate::cluster::TestCluster;
use crate::gc::{must_client, must_put};
use crate::sql::must_connect;
use atoll_proto::etcdserverpb::{CompactionRequest, RangeRequest};
use std::time::{Duration, Instant};
use tokio_postgres::SimpleQueryMessage;

/// SQL writes no longer move the revision etcd clients see, and an etcd Compact no longer
/// takes SQL's history: a SQL transaction that began before it still reads its snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_and_sql_keep_their_own_revisions_and_compactions() {
    let cluster = TestCluster::must_start(3).await;
    let mut kv = must_client(&cluster.nodes[0].etcd).await;
    let sql = must_connect(&cluster.nodes[1].sql, "postgres").await;
    sql.batch_execute("CREATE TABLE t (id INT PRIMARY KEY, v TEXT)").await.expect("create");
    let before = must_put(&mut kv, "k", "1").await;
    for id in 0..20 {
        sql.execute("INSERT INTO t VALUES ($1, 'x')", &[&id]).await.expect("insert");
    }
    let after = must_put(&mut kv, "k", "2").await;
    assert_eq!(after, before + 1, "20 SQL writes in between moved the etcd revision");

    let reader = must_connect(&cluster.nodes[2].sql, "postgres").await;
    reader.batch_execute("BEGIN").await.expect("begin");
    let count: i64 = reader.query_one("SELECT count(*) FROM t", &[]).await.expect("count").get(0);
    assert_eq!(count, 20);
    sql.batch_execute("DELETE FROM t WHERE id < 10").await.expect("delete");
    kv.compact(CompactionRequest { revision: after, physical: false }).await.expect("etcd compact");
    let old = RangeRequest { key: "k".into(), revision: before, ..Default::default() };
    let error = kv.range(old).await.expect_err("etcd history below the compaction is gone");
    assert!(error.message().contains("compacted"), "{error:?}");
    let count: i64 = reader.query_one("SELECT count(*) FROM t", &[]).await.expect("the snapshot").get(0);
    assert_eq!(count, 20, "SQL's snapshot survives an etcd Compact");
    reader.batch_execute("COMMIT").await.expect("commit");
    let count: i64 = reader.query_one("SELECT count(*) FROM t", &[]).await.expect("count").get(0);
    assert_eq!(count, 10);

    // SHOW RANGES (CockroachDB's statement) shows where the data is.
    let rows = |messages: Vec<SimpleQueryMessage>| -> Vec<Vec<String>> {
        messages
            .into_iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => {
                    Some((0..row.len()).map(|i| row.get(i).unwrap_or("NULL").to_string()).collect())
                }
                _ => None,
            })
            .collect()
    };
    let all = rows(sql.simple_query("SHOW RANGES").await.expect("show ranges"));
    let spans: Vec<(&str, &str, &str)> = all.iter().map(|r| (r[0].as_str(), r[1].as_str(), r[2].as_str())).collect();
    assert_eq!(spans, [("1", "/Min", "\\xff"), ("2", "\\xff", "/Max")], "{all:?}");
    let table = rows(sql.simple_query("SHOW RANGES FROM TABLE t").await.expect("show ranges from table"));
    assert_eq!(table.len(), 1, "{table:?}");
    assert_eq!((table[0][0].as_str(), table[0][4].as_str()), ("2", "{1,2,3}"), "{table:?}");
    assert_ne!(table[0][5], "NULL", "a lease holder: {table:?}");
    assert!(table[0][3].parse::<f64>().expect("range_size_mb") > 0.0, "{table:?}");
    // The extended protocol describes the columns before it runs the statement.
    let described = sql.query("SHOW RANGES FROM TABLE t", &[]).await.expect("show ranges, extended protocol");
    assert_eq!(described.len(), 1);
    let columns: Vec<&str> = described[0].columns().iter().map(|c| c.name()).collect();
    assert_eq!(columns, ["range_id", "start_key", "end_key", "range_size_mb", "replicas", "lease_holder"]);
    assert_eq!(described[0].get::<_, i64>("range_id"), 2);
    let database = rows(sql.simple_query("SHOW RANGES FROM DATABASE postgres").await.expect("from database"));
    assert_eq!(database.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), ["2"]);
    let error = sql.simple_query("SHOW RANGES FROM TABLE missing").await.expect_err("no such table");
    assert_eq!(error.as_db_error().map(|e| e.code().code()), Some("42P01"));
}

/// Node 3 is killed before the split; both ranges move on while it is away, far enough that
/// their logs no longer hold what it missed. When it comes back it gets the first range by a
/// snapshot taken after the split (so it never applies the split itself), and the SQL range,
/// which it never had, is created at the leader's request and filled by a snapshot: its SQL
/// and etcd answers are complete.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_through_the_split_gets_both_ranges_back() {
    let args = [
        "--raft-log-entries-kept",
        "100",
        "--raft-log-lag-entries-max",
        "20",
        "--raft-log-lag-bytes-max",
        "65536",
        "--no-leader-follows-load",
        "--keyspace-split-delay-secs",
        "15",
    ];
    let mut cluster = TestCluster::must_start_with_ranges(3, &args, 1).await;
    let sql = must_connect(&cluster.nodes[0].sql, "postgres").await;
    sql.batch_execute("CREATE TABLE t (id INT PRIMARY KEY)").await.expect("create");
    for id in 0..10 {
        sql.execute("INSERT INTO t VALUES ($1)", &[&id]).await.expect("insert before the split");
    }
    let status = cluster.nodes[0].status().await.expect("status");
    assert_eq!(status.ranges.len(), 1, "the split is delayed: {status:?}");
    cluster.nodes[2].kill();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let status = cluster.nodes[0].status().await.expect("status");
        if status.ranges.len() == 2 && status.ranges.iter().all(|r| r.leader_node_id != 0) {
            break;
        }
        assert!(Instant::now() < deadline, "no split within 60 s: {status:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for id in 10..200 {
        sql.execute("INSERT INTO t VALUES ($1)", &[&id]).await.expect("insert after the split");
    }
    let mut kv = must_client(&cluster.nodes[0].etcd).await;
    for i in 0..200 {
        must_put(&mut kv, &format!("key/{i:03}"), "v").await;
    }

    cluster.nodes[2].must_spawn(None);
    let node3 = cluster.nodes[2].sql.clone();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let ready = async {
            let client = tokio::time::timeout(Duration::from_secs(5), crate::sql::connect(&node3, "postgres")).await;
            let client = client.ok()?.ok()?;
            let row = client.query_one("SELECT count(*) FROM t", &[]).await.ok()?;
            Some(row.get::<_, i64>(0))
        };
        if ready.await == Some(200) {
            break;
        }
        assert!(Instant::now() < deadline, "node 3 did not serve the SQL range:\n{}", cluster.nodes[2].log_tail(40));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut kv3 = must_client(&cluster.nodes[2].etcd).await;
    let keys = RangeRequest { key: "key/".into(), range_end: "key0".into(), count_only: true, ..Default::default() };
    assert_eq!(kv3.range(keys).await.expect("range on node 3").into_inner().count, 200);
    let log = cluster.nodes[2].log_tail(5000);
    assert!(log.contains("empty replica created"), "node 3 got the SQL range another way:\n{log}");
    assert!(!log.contains("range split"), "node 3 applied the split itself (the log held it):\n{log}");
}

/// Four nodes, each range on three. A replica's node killed for longer than
/// `--dead-after-secs` is replaced on the fourth node in every range (a learner first, then a
/// voter, then the dead voter removed), and the data is all there on the new replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_nodes_replicas_are_recreated_on_a_live_node() {
    let mut cluster = TestCluster::must_start_with(4, &["--dead-after-secs", "3"]).await;
    let sql = must_connect(&cluster.nodes[0].sql, "postgres").await;
    sql.batch_execute("CREATE TABLE t (id INT PRIMARY KEY)").await.expect("create");
    sql.batch_execute("INSERT INTO t SELECT i FROM generate_series(1, 100) AS s(i)").await.expect("insert");
    let mut kv = must_client(&cluster.nodes[0].etcd).await;
    must_put(&mut kv, "kept", "v").await;
    let voters = |status: &atoll_proto::atoll::NodeStatusResponse| -> Vec<Vec<u64>> {
        status.ranges.iter().map(|r| r.descriptor.as_ref().map(|d| d.replicas.clone()).unwrap_or_default()).collect()
    };
    let before = voters(&cluster.nodes[0].status().await.expect("status"));
    assert!(before.iter().all(|v| v.len() == 3 && !v.contains(&4)), "node 4 holds no voter yet: {before:?}");
    // Node 2 is a voter of both ranges (the first three nodes are).
    cluster.nodes[1].kill();

    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let after = voters(&cluster.nodes[0].status().await.expect("status"));
        if after.len() == 2 && after.iter().all(|v| v.len() == 3 && !v.contains(&2) && v.contains(&4)) {
            break;
        }
        assert!(Instant::now() < deadline, "node 2's replicas were not re-created on node 4: {after:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Node 4's own replicas answer everything that was written.
    let on_four = must_connect(&cluster.nodes[3].sql, "postgres").await;
    let count: i64 = on_four.query_one("SELECT count(*) FROM t", &[]).await.expect("count on node 4").get(0);
    assert_eq!(count, 100);
    let mut kv4 = must_client(&cluster.nodes[3].etcd).await;
    let kept = kv4.range(RangeRequest { key: "kept".into(), serializable: true, ..Default::default() }).await;
    assert_eq!(kept.expect("read on node 4").into_inner().count, 1, "node 4's replica of range 1 has the key");
}
