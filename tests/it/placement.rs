//! A range's leader moves to the node whose clients send most of its requests, and the move is
//! invisible to them: every statement in flight during the transfer still succeeds.

use crate::cluster::TestCluster;
use crate::metrics::{metric, must_http_get};
use crate::sql::must_connect;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_follows_the_load_without_failing_a_statement() {
    let cluster = TestCluster::must_start(3).await;
    // SQL's range (see `atoll_server::keyspaces`).
    let leader = cluster.must_find_range_leader(2).await;
    let gateway = (leader + 1) % cluster.nodes.len();
    let setup = must_connect(&cluster.nodes[gateway].sql, "postgres").await;
    setup
        .batch_execute("CREATE TABLE counters (id INT PRIMARY KEY, n INT NOT NULL); INSERT INTO counters SELECT i, 0 FROM generate_series(1, 6) AS s(i)")
        .await
        .expect("create");
    // Six clients on one follower: each UPDATE is a begin read, a locked read and a commit,
    // all forwarded to the leader, well over the 50 requests a second that move it. They stop
    // a little after the move, so that some statements run across it.
    let moved = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for id in 1..=6 {
        let address = cluster.nodes[gateway].sql.clone();
        let moved = moved.clone();
        clients.push(tokio::spawn(async move {
            let client = must_connect(&address, "postgres").await;
            let update = format!("UPDATE counters SET n = n + 1 WHERE id = {id}");
            let mut done = 0i32;
            let mut after_move = 0;
            while after_move < 50 {
                client.batch_execute(&update).await.unwrap_or_else(|e| panic!("update {done} of client {id}: {e:?}"));
                done += 1;
                after_move += i32::from(moved.load(Ordering::Relaxed));
            }
            done
        }));
    }
    let deadline = Instant::now() + Duration::from_secs(40);
    while cluster.must_find_range_leader(2).await != gateway {
        assert!(Instant::now() < deadline, "leadership never moved to node {}", gateway + 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    moved.store(true, Ordering::Relaxed);
    let mut updates = Vec::new();
    for client in clients {
        updates.push(client.await.expect("client task"));
    }
    let (_, body) = must_http_get(&cluster.nodes[leader].http, "/metrics");
    assert_eq!(metric(&body, "atoll_raft_load_leader_transfers_total"), 1.0, "the old leader moved it once");
    for (index, done) in updates.iter().enumerate() {
        let id = index as i32 + 1;
        let row = setup.query_one("SELECT n FROM counters WHERE id = $1", &[&id]).await.expect("select");
        assert_eq!(row.get::<_, i32>(0), *done, "every acknowledged update of client {id} counted once");
    }
    assert_eq!(cluster.must_find_range_leader(2).await, gateway, "and it stays there");
}
