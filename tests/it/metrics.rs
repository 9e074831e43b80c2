//! Every node serves Prometheus text at /metrics and a health check at /health.

use crate::cluster::TestCluster;
use std::io::{Read, Write};

pub(crate) fn must_http_get(address: &str, path: &str) -> (u16, String) {
    let mut stream = std::net::TcpStream::connect(address).expect("connect to the HTTP port");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
    (status, body)
}

pub(crate) fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find(|line| line.starts_with(name) && line[name.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_export_metrics_and_health() {
    let cluster = TestCluster::must_start(3).await;
    let status = std::process::Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints={}", cluster.etcd_endpoints()))
        .args(["put", "metric-key", "v"])
        .status()
        .expect("etcdctl is not installed: run the tests through .ci/run, which installs it");
    assert!(status.success());
    let leader = cluster.must_find_leader().await;
    let bodies: Vec<String> = cluster
        .nodes
        .iter()
        .map(|node| {
            let (code, body) = must_http_get(&node.http, "/metrics");
            assert_eq!(code, 200);
            body
        })
        .collect();
    // The node etcdctl talked to proposed the write and timed the RPC.
    assert!(bodies.iter().any(|b| metric(b, "atoll_raft_proposals_total") >= 1.0), "no proposal counted");
    assert!(bodies.iter().any(|b| b.contains("atoll_rpc_seconds_bucket{method=\"Put\"")), "no RPC latency histogram");
    let body = &bodies[leader];
    assert!(metric(body, "atoll_raft_applied_entries_total") >= 1.0);
    assert!(metric(body, "atoll_storage_fsync_seconds_count") >= 1.0);
    assert!(metric(body, "atoll_storage_fsync_batch_entries_count") >= 1.0);
    assert!(metric(body, "atoll_raft_apply_seconds_count") >= 1.0);
    // Two ranges (the etcd and SQL keyspaces) on every node, each led by one of them.
    assert_eq!(metric(body, "atoll_ranges"), 2.0);
    let leaders: f64 = bodies.iter().map(|b| metric(b, "atoll_ranges_leader")).sum();
    assert_eq!(leaders, 2.0, "one leader per range");
    // Per-range gauges, refreshed every half second on every node.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let bodies: Vec<String> = cluster.nodes.iter().map(|node| must_http_get(&node.http, "/metrics").1).collect();
        let named = |range: &str| {
            let prefix = format!("atoll_range_leader{{range=\"{range}\"}} ");
            bodies.iter().filter(|b| b.lines().any(|l| l.starts_with(&prefix) && !l.ends_with(" 0"))).count()
        };
        if named("1") == 3 && named("2") == 3 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not every node names both ranges' leaders");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    for node in &cluster.nodes {
        let (code, body) = must_http_get(&node.http, "/health");
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("\"status\":\"ok\""), "{body}");
    }
}

/// Back-to-back linearizable reads on the leader ride its lease: after the first round
/// confirms it, reads skip the heartbeat round, and the metrics say how many did. A follower's
/// reads are answered by the leader under the same lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_serves_back_to_back_reads_under_its_lease() {
    use atoll_proto::etcdserverpb::kv_client::KvClient;
    use atoll_proto::etcdserverpb::{PutRequest, RangeRequest};
    let cluster = TestCluster::must_start(3).await;
    let leader = cluster.must_find_leader().await;
    let mut kv = KvClient::connect(format!("http://{}", cluster.nodes[leader].etcd)).await.expect("connect");
    kv.put(PutRequest { key: b"lease-key".to_vec(), value: b"1".to_vec(), ..Default::default() }).await.expect("put");
    let before = must_http_get(&cluster.nodes[leader].http, "/metrics").1;
    let reads = 200;
    for _ in 0..reads {
        let request = RangeRequest { key: b"lease-key".to_vec(), ..Default::default() };
        let response = kv.range(request).await.expect("linearizable read").into_inner();
        assert_eq!(response.kvs.first().map(|kv| kv.value.as_slice()), Some(&b"1"[..]));
    }
    let after = must_http_get(&cluster.nodes[leader].http, "/metrics").1;
    let delta = |name: &str| metric(&after, name) - metric(&before, name);
    assert_eq!(delta("atoll_raft_read_index_total"), f64::from(reads), "every read is linearizable");
    // A lease lasts 800 ms and is renewed in its second half while reads keep coming; only a
    // leader stalled for most of a lease would send a round for most of these reads.
    assert!(
        delta("atoll_raft_lease_reads_total") >= f64::from(reads) / 2.0,
        "{}",
        delta("atoll_raft_lease_reads_total")
    );

    // A follower's linearizable read asks the leader for its commit index; under the lease the
    // leader answers at once. Each read must still see the write acknowledged just before it.
    let follower = (leader + 1) % cluster.nodes.len();
    let mut on_follower = KvClient::connect(format!("http://{}", cluster.nodes[follower].etcd)).await.expect("connect");
    let before = must_http_get(&cluster.nodes[leader].http, "/metrics").1;
    let rounds = 100;
    for i in 0..rounds {
        let value = format!("v{i}").into_bytes();
        kv.put(PutRequest { key: b"lease-key".to_vec(), value: value.clone(), ..Default::default() })
            .await
            .expect("put");
        let request = RangeRequest { key: b"lease-key".to_vec(), ..Default::default() };
        let response = on_follower.range(request).await.expect("linearizable read on a follower").into_inner();
        assert_eq!(response.kvs.first().map(|kv| kv.value.clone()), Some(value), "read {i} on the follower is stale");
    }
    let after = must_http_get(&cluster.nodes[leader].http, "/metrics").1;
    let answers = metric(&after, "atoll_raft_lease_read_index_answers_total")
        - metric(&before, "atoll_raft_lease_read_index_answers_total");
    assert!(answers >= f64::from(rounds) / 2.0, "{answers} of {rounds} follower reads answered under the lease");

    // Once the lease has run out, reads that only ever come from followers must win it back:
    // the leader takes a round of its own for them, not only raft-rs's round per request.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let before = must_http_get(&cluster.nodes[leader].http, "/metrics").1;
    for _ in 0..rounds {
        let request = RangeRequest { key: b"lease-key".to_vec(), ..Default::default() };
        on_follower.range(request).await.expect("linearizable read on a follower");
    }
    let after = must_http_get(&cluster.nodes[leader].http, "/metrics").1;
    let answers = metric(&after, "atoll_raft_lease_read_index_answers_total")
        - metric(&before, "atoll_raft_lease_read_index_answers_total");
    assert!(answers >= f64::from(rounds) / 2.0, "{answers} of {rounds} follower-only reads answered under the lease");
}
