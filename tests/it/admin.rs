//! `atoll range ls` against a running cluster: what an operator reads about ranges.

use crate::cluster::TestCluster;
use std::process::Command;
use std::time::{Duration, Instant};

/// A cluster holds two ranges: the etcd keyspace below 0xFF and SQL's from 0xFF on (split
/// off at start, see `atoll_server::keyspaces`). Each descriptor's generation counts its
/// changes: 1 at bootstrap, one for the split, one for each of the two promotions that made a
/// 3-node cluster (adding a learner changes no voter). The right-hand range starts at its
/// parent's generation after the split, and the promotions it still needed bring it to the
/// same 4 whichever came first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_ls_shows_both_keyspaces_with_a_generation_per_change() {
    let cluster = TestCluster::must_start(3).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = String::new();
    let expected = [("1", "[-inf, \\xff"), ("2", "[\\xff, +inf")];
    while Instant::now() < deadline {
        let output = Command::new(env!("CARGO_BIN_EXE_atoll"))
            .args(["range", "ls", "--host", &cluster.nodes[0].peer])
            .output()
            .expect("run atoll range ls");
        last = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(last.lines().next().is_some_and(|header| header.contains(" gen ")), "{last}");
        let rows: Vec<&str> = last.lines().skip(1).take_while(|line| !line.is_empty()).collect();
        let matches = |row: &str, (id, span): (&str, &str)| {
            // id, span (with a space in it), then gen, replicas, ...
            let Some((head, rest)) = row.split_once(')') else { return false };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            head.split_whitespace().next() == Some(id)
                && head.ends_with(span)
                && fields.first() == Some(&"4")
                && fields.get(1) == Some(&"1,2,3")
        };
        if rows.len() == 2 && rows.iter().zip(expected).all(|(row, want)| matches(row, want)) {
            must_list_nodes(&cluster);
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("expected ranges 1 [-inf, \\xff) and 2 [\\xff, +inf), generation 4 on replicas 1,2,3:\n{last}");
}

/// `atoll node ls`: every node live, holding both ranges (as each node itself reports, so
/// polled until the last promotion has reached all of them), with the bytes of its live data.
fn must_list_nodes(cluster: &TestCluster) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let output = Command::new(env!("CARGO_BIN_EXE_atoll"))
            .args(["node", "ls", "--host", &cluster.nodes[0].peer])
            .output()
            .expect("run atoll node ls");
        let listing = String::from_utf8_lossy(&output.stdout).into_owned();
        assert!(listing.lines().next().is_some_and(|header| header.contains(" live data ")), "{listing}");
        let rows: Vec<Vec<&str>> = listing.lines().skip(1).map(|line| line.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 3, "{listing}");
        // id, peer, etcd, http, live, ranges, leaders, live data (a number and a unit, or ?), ...
        for row in &rows {
            assert!(row[7].parse::<f64>().is_ok() || row[7] == "?", "{listing}");
        }
        if rows.iter().all(|row| (row[4], row[5]) == ("live", "2")) {
            return;
        }
        assert!(Instant::now() < deadline, "not every node live with both ranges:\n{listing}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
