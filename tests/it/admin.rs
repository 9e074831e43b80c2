//! `atoll range ls` against a running cluster: what an operator reads about ranges.

use crate::cluster::TestCluster;
use std::process::Command;
use std::time::{Duration, Instant};

/// The first range spans the whole key space, and its descriptor's generation counts the
/// changes of its replica set: 1 at bootstrap, one more for each of the two promotions that
/// made a 3-node cluster (adding a learner changes no voter).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_ls_shows_the_span_and_a_generation_per_replica_change() {
    let cluster = TestCluster::must_start(3).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    while Instant::now() < deadline {
        let output = Command::new(env!("CARGO_BIN_EXE_atoll"))
            .args(["range", "ls", "--host", &cluster.nodes[0].peer])
            .output()
            .expect("run atoll range ls");
        last = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(last.lines().next().is_some_and(|header| header.contains(" gen ")), "{last}");
        let row = last.lines().nth(1).unwrap_or_default();
        // id, span (with a space in it), then gen, replicas, ...
        if let Some((head, rest)) = row.split_once(')') {
            assert_eq!(head.split_whitespace().next(), Some("1"), "{last}");
            assert!(head.ends_with("[-inf, +inf"), "the first range spans everything: {last}");
            let fields: Vec<&str> = rest.split_whitespace().collect();
            if fields.first() == Some(&"3") && fields.get(1) == Some(&"1,2,3") {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the first range did not show generation 3 on replicas 1,2,3:\n{last}");
}
