//! MVCC garbage is collected by Atoll itself: with a short retention, the leader compacts
//! history older than it and every node deletes the garbage in the background, while every
//! read that is still allowed answers as before, and a SQL transaction whose snapshot was
//! compacted away fails with a retryable 40001.

use crate::cluster::TestCluster;
use crate::metrics::{metric, must_http_get};
use crate::sql::must_connect;
use atoll_proto::etcdserverpb::kv_client::KvClient;
use atoll_proto::etcdserverpb::{DeleteRangeRequest, PutRequest, RangeRequest};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

pub async fn must_client(address: &str) -> KvClient<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}")).expect("endpoint");
    KvClient::new(endpoint.connect().await.expect("connect to the etcd API"))
}

/// Puts `key`, returns the revision of the put.
pub async fn must_put(kv: &mut KvClient<Channel>, key: &str, value: &str) -> i64 {
    let request = PutRequest { key: key.into(), value: value.into(), ..Default::default() };
    kv.put(request).await.expect("put").into_inner().header.expect("header").revision
}

/// Waits until every node has compacted at or beyond `revision` and deleted at least
/// `removed` versions.
async fn must_wait_for_collection(cluster: &TestCluster, revision: i64, removed: f64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let state: Vec<(f64, f64)> = cluster
            .nodes
            .iter()
            .map(|node| {
                let (_, body) = must_http_get(&node.http, "/metrics");
                (metric(&body, "atoll_mvcc_compact_revision"), metric(&body, "atoll_mvcc_gc_versions_removed_total"))
            })
            .collect();
        if state.iter().all(|(compacted, gone)| *compacted >= revision as f64 && *gone >= removed) {
            return;
        }
        assert!(Instant::now() < deadline, "no collection up to revision {revision} on every node: {state:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_older_than_the_retention_is_compacted_and_collected_on_every_node() {
    let cluster = TestCluster::must_start_with(3, &["--mvcc-retention-secs", "1"]).await;
    let mut kv = must_client(&cluster.nodes[0].etcd).await;
    let first = must_put(&mut kv, "k", "v0").await;
    for i in 1..200 {
        must_put(&mut kv, "k", &format!("v{i}")).await;
    }
    must_put(&mut kv, "gone", "x").await;
    kv.delete_range(DeleteRangeRequest { key: "gone".into(), ..Default::default() }).await.expect("delete");
    let sql = must_connect(&cluster.nodes[1].sql, "postgres").await;
    sql.batch_execute("CREATE TABLE counters (id INT PRIMARY KEY, n INT); INSERT INTO counters VALUES (1, 0)")
        .await
        .expect("create");
    for _ in 0..100 {
        sql.batch_execute("UPDATE counters SET n = n + 1 WHERE id = 1").await.expect("update");
    }
    let last = must_put(&mut kv, "marker", "m").await;
    // 199 old versions of k, the put and the tombstone of `gone`, 100 old versions of the row.
    must_wait_for_collection(&cluster, last, 301.0).await;

    let at_first = RangeRequest { key: "k".into(), revision: first, ..Default::default() };
    let error = kv.range(at_first).await.expect_err("a read below the compaction revision");
    assert!(error.message().contains("compacted"), "{error:?}");
    for node in &cluster.nodes {
        let mut kv = must_client(&node.etcd).await;
        let latest = kv.range(RangeRequest { key: "k".into(), ..Default::default() }).await.expect("read");
        let values: Vec<Vec<u8>> = latest.into_inner().kvs.into_iter().map(|kv| kv.value).collect();
        assert_eq!(values, vec![b"v199".to_vec()], "node {}", node.index);
        let gone = kv.range(RangeRequest { key: "gone".into(), ..Default::default() }).await.expect("read");
        assert_eq!(gone.into_inner().count, 0, "node {}", node.index);
        let sql = must_connect(&node.sql, "postgres").await;
        let row = sql.query_one("SELECT n FROM counters WHERE id = 1", &[]).await.expect("select");
        assert_eq!(row.get::<_, i32>(0), 100, "node {}", node.index);
    }

    // A transaction that keeps its snapshot past the retention cannot read it any more.
    sql.batch_execute("BEGIN").await.expect("begin");
    sql.query_one("SELECT n FROM counters WHERE id = 1", &[]).await.expect("first read");
    let other = must_connect(&cluster.nodes[2].sql, "postgres").await;
    other.batch_execute("UPDATE counters SET n = n + 1 WHERE id = 1").await.expect("update");
    let after = must_put(&mut kv, "marker", "m2").await;
    must_wait_for_collection(&cluster, after, 302.0).await;
    // SQL's range compacts by the same retention, on its own revisions (see
    // `atoll_server::keyspaces`): within about the retention the snapshot is gone.
    let deadline = Instant::now() + Duration::from_secs(20);
    let error = loop {
        match sql.query_one("SELECT n FROM counters", &[]).await {
            Err(error) => break error,
            Ok(_) => assert!(Instant::now() < deadline, "the transaction's snapshot was never compacted"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let code = error.as_db_error().map(|db| db.code().code().to_string());
    assert_eq!(code.as_deref(), Some("40001"), "{error:?}");
    sql.batch_execute("ROLLBACK").await.expect("rollback");
    let row = sql.query_one("SELECT n FROM counters WHERE id = 1", &[]).await.expect("a new transaction reads");
    assert_eq!(row.get::<_, i32>(0), 101);
}
