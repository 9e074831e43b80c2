//! A follower that falls behind the leader's log catches up by a streamed snapshot: larger
//! than a peer frame, while the term stays put and clients keep writing; kill -9 of the
//! receiver or of the sender in the middle of the stream only makes the snapshot start over.
//!
//! The nodes run with a small log retention (so a short pause needs a snapshot), a 4 MiB peer
//! frame limit (so the 12 MiB of data could never travel as one message), and no leadership
//! moves by load (so the term changes only through elections).

use crate::cluster::{TestCluster, TestNode};
use crate::metrics::{metric, must_http_get};
use atoll_proto::etcdserverpb::kv_client::KvClient;
use atoll_proto::etcdserverpb::{request_op, PutRequest, RangeRequest, RequestOp, TxnRequest};
use std::time::{Duration, Instant};
use tonic::transport::Channel;

/// Data written while the follower is paused: 16 transactions of 100 values of 8 KiB.
const BULK_TXNS: usize = 16;
const BULK_KEYS_PER_TXN: usize = 100;
const BULK_VALUE_BYTES: usize = 8 * 1024;
const FRAME_BYTES_MAX: usize = 4 * 1024 * 1024;

fn args(snapshot_rate_mb: u64) -> Vec<String> {
    [
        "--peer-message-bytes-max".to_string(),
        FRAME_BYTES_MAX.to_string(),
        "--raft-log-entries-kept".into(),
        "200".into(),
        "--raft-log-lag-entries-max".into(),
        "50".into(),
        "--raft-log-lag-bytes-max".into(),
        "65536".into(),
        "--snapshot-rate-mb".into(),
        snapshot_rate_mb.to_string(),
        "--no-leader-follows-load".into(),
    ]
    .to_vec()
}

async fn client(address: &str) -> Option<KvClient<Channel>> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .ok()?
        .connect_timeout(Duration::from_secs(1))
        .timeout(Duration::from_secs(10));
    Some(KvClient::new(endpoint.connect().await.ok()?))
}

async fn must_client(address: &str) -> KvClient<Channel> {
    client(address).await.expect("connect")
}

/// A put through any of `endpoints`, retried through elections for up to `within`.
async fn must_put(cluster: &TestCluster, endpoints: &[String], key: String, value: Vec<u8>, within: Duration) {
    let deadline = Instant::now() + within;
    let mut attempt = 0;
    loop {
        let address = &endpoints[attempt % endpoints.len()];
        attempt += 1;
        let request = PutRequest { key: key.clone().into_bytes(), value: value.clone(), ..Default::default() };
        let outcome = match client(address).await {
            Some(mut kv) => kv.put(request).await.map(|_| ()).map_err(|e| e.to_string()),
            None => Err("cannot connect".into()),
        };
        match outcome {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => eprintln!("put {key} through {address}: {e}; retrying"),
            Err(e) => panic!("put {key} not acknowledged within {within:?}: {e}\n{}", snapshot_lines(cluster)),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Small keys written after the bulk: more entries than a leader keeps in flight to a silent
/// follower (256 appends, raft-rs's window) plus the 200 the log keeps, so a paused follower
/// cannot catch up from appends already queued for it.
const SMALL_KEYS: usize = 800;

/// Writes the bulk data (12.5 MiB) and [`SMALL_KEYS`] small keys, all under `prefix/`.
async fn must_write_bulk(endpoint: &str, prefix: &str) {
    let mut kv = must_client(endpoint).await;
    for txn in 0..BULK_TXNS {
        let success = (0..BULK_KEYS_PER_TXN)
            .map(|i| {
                let key = format!("{prefix}/bulk/{txn:03}/{i:03}").into_bytes();
                let value = vec![b'a' + (i % 26) as u8; BULK_VALUE_BYTES];
                RequestOp {
                    request: Some(request_op::Request::RequestPut(PutRequest { key, value, ..Default::default() })),
                }
            })
            .collect();
        kv.txn(TxnRequest { success, ..Default::default() }).await.expect("bulk txn");
    }
    for i in 0..SMALL_KEYS {
        let request = PutRequest {
            key: format!("{prefix}/small/{i:04}").into_bytes(),
            value: b"v".to_vec(),
            ..Default::default()
        };
        kv.put(request).await.expect("small put");
    }
}

/// Count and FNV-1a hash of every key and value on one node's local replica, read in pages;
/// `None` while the replica cannot answer (installing a snapshot, restarting).
async fn checksum(node: &TestNode) -> Option<(usize, u64)> {
    let mut kv = client(&node.etcd).await?;
    let (mut count, mut hash) = (0usize, 0xcbf29ce484222325u64);
    let mut from = vec![0u8];
    loop {
        let request = RangeRequest {
            key: from.clone(),
            range_end: vec![0],
            limit: 100,
            serializable: true,
            ..Default::default()
        };
        let response = kv.range(request).await.ok()?.into_inner();
        for pair in &response.kvs {
            for byte in pair.key.iter().chain(b"=").chain(pair.value.iter()).chain(b";") {
                hash = (hash ^ u64::from(*byte)).wrapping_mul(0x100000001b3);
            }
            count += 1;
        }
        match (response.more, response.kvs.last()) {
            (true, Some(last)) => from = [last.key.as_slice(), &[0]].concat(),
            _ => return Some((count, hash)),
        }
    }
}

/// The applied index and term of the range on `node`.
async fn applied_and_term(node: &TestNode) -> Option<(u64, u64)> {
    let status = node.status().await.ok()?;
    let range = status.ranges.first()?;
    Some((range.applied_index, range.term))
}

fn snapshot_bytes_received(node: &TestNode) -> f64 {
    metric(&must_http_get(&node.http, "/metrics").1, "atoll_snapshot_bytes_received_total")
}

/// Waits until `node` reports a snapshot of at least `bytes` moving in `direction`.
async fn must_see_snapshot(cluster: &TestCluster, index: usize, direction: &str, bytes: u64) {
    let node = &cluster.nodes[index];
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(status) = node.status().await {
            if status.snapshots.iter().any(|s| s.direction == direction && s.bytes >= bytes) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "node {} never showed a snapshot {direction} {bytes} bytes; what the logs say of snapshots:\n{}",
            node.index,
            snapshot_lines(cluster)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The lines of every node's log that mention snapshots, warnings or errors.
fn snapshot_lines(cluster: &TestCluster) -> String {
    let mut out = String::new();
    for node in &cluster.nodes {
        let log = std::fs::read_to_string(node.data_dir.with_extension("log")).unwrap_or_default();
        out.push_str(&format!("--- node {}:\n", node.index));
        for line in log.lines().filter(|l| l.contains("snapshot") || l.contains("WARN") || l.contains("ERROR")) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// Waits until every running node has the same data, and returns it.
async fn must_converge(cluster: &TestCluster) -> (usize, u64) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let mut sums = Vec::new();
        for node in cluster.nodes.iter().filter(|n| n.is_running()) {
            sums.push(checksum(node).await);
        }
        if sums.iter().all(Option::is_some) && sums.windows(2).all(|pair| pair[0] == pair[1]) {
            return sums[0].unwrap_or_default();
        }
        if Instant::now() >= deadline {
            panic!("replicas did not converge: {sums:?}\n{}", snapshot_lines(cluster));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_paused_past_the_log_catches_up_by_a_stream_larger_than_a_peer_frame_without_an_election() {
    let args = args(16);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cluster = TestCluster::must_start_with(3, &args).await;
    let leader = cluster.must_find_leader().await;
    let follower = (leader + 1) % 3;
    let other = (leader + 2) % 3;
    let received_before = snapshot_bytes_received(&cluster.nodes[follower]);

    cluster.nodes[follower].signal("-STOP");
    must_write_bulk(&cluster.nodes[leader].etcd, "lag").await;
    let (_, term) = applied_and_term(&cluster.nodes[leader]).await.expect("leader status");
    cluster.nodes[follower].signal("-CONT");

    // Clients keep writing while the follower catches up; each write must be acknowledged.
    let endpoints = vec![cluster.nodes[leader].etcd.clone()];
    let started = Instant::now();
    let mut writes = 0;
    loop {
        must_put(&cluster, &endpoints, format!("during/{writes:05}"), b"w".to_vec(), Duration::from_secs(20)).await;
        writes += 1;
        let (leader_applied, _) = applied_and_term(&cluster.nodes[leader]).await.expect("leader status");
        let caught_up =
            applied_and_term(&cluster.nodes[follower]).await.is_some_and(|(applied, _)| applied >= leader_applied);
        if caught_up {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "the follower did not catch up within 90 s");
    }
    eprintln!("follower caught up in {} ms with {writes} writes meanwhile", started.elapsed().as_millis());
    let received = snapshot_bytes_received(&cluster.nodes[follower]) - received_before;
    assert!(
        received > FRAME_BYTES_MAX as f64 * 2.0,
        "the catch-up must be a snapshot larger than a frame; received {received} bytes\n{}",
        snapshot_lines(&cluster)
    );
    for node in &cluster.nodes {
        let (_, now) = applied_and_term(node).await.expect("status");
        assert_eq!(now, term, "node {}: a snapshot must not cause an election", node.index);
    }

    // The caught-up follower now counts in the quorum: stop the other one and write.
    cluster.nodes[other].kill();
    must_put(&cluster, &endpoints, "after/other-stopped".into(), b"ok".to_vec(), Duration::from_secs(20)).await;
    let (count, _) = must_converge(&cluster).await;
    assert!(count > BULK_TXNS * BULK_KEYS_PER_TXN + SMALL_KEYS + writes, "{count} keys");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_of_the_receiver_and_then_of_the_sender_mid_snapshot_only_makes_it_start_over() {
    // 1 MiB/s: the 12.5 MiB snapshot takes about 12 s, time enough to kill either side in it.
    let args = args(1);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut cluster = TestCluster::must_start_with(3, &args).await;
    let leader = cluster.must_find_leader().await;
    let follower = (leader + 1) % 3;

    // The receiver dies with part of the snapshot on disk.
    cluster.nodes[follower].signal("-STOP");
    must_write_bulk(&cluster.nodes[leader].etcd, "one").await;
    cluster.nodes[follower].signal("-CONT");
    must_see_snapshot(&cluster, follower, "receiving", 2 << 20).await;
    cluster.nodes[follower].kill();
    let snapshots = cluster.nodes[follower].data_dir.join("snapshots");
    assert!(std::fs::read_dir(&snapshots).expect("snapshot dir").count() > 0, "a partial file was being written");
    cluster.nodes[follower].must_spawn(None);
    let first = must_converge(&cluster).await;
    assert!(first.0 >= BULK_TXNS * BULK_KEYS_PER_TXN + SMALL_KEYS, "{first:?}");

    // The sender dies in the middle of the next one; the new leader sends another.
    cluster.nodes[follower].signal("-STOP");
    must_write_bulk(&cluster.nodes[leader].etcd, "two").await;
    cluster.nodes[follower].signal("-CONT");
    must_see_snapshot(&cluster, leader, "sending", 2 << 20).await;
    cluster.nodes[leader].kill();
    // The survivors elect a leader at once, but it commits nothing until the lagging node is
    // caught up by a snapshot of its own (25 MiB at 1 MiB/s): two of three replicas must ack.
    let survivors: Vec<String> = cluster.nodes.iter().filter(|n| n.is_running()).map(|n| n.etcd.clone()).collect();
    must_put(&cluster, &survivors, "after/sender-killed".into(), b"ok".to_vec(), Duration::from_secs(90)).await;
    let second = must_converge(&cluster).await;
    assert_eq!(second.0, first.0 + BULK_TXNS * BULK_KEYS_PER_TXN + SMALL_KEYS + 1);
    cluster.nodes[leader].must_spawn(None);
    assert_eq!(must_converge(&cluster).await, second);
    let leftovers: Vec<_> = std::fs::read_dir(&snapshots).expect("snapshot dir").flatten().map(|e| e.path()).collect();
    assert!(leftovers.is_empty(), "installed snapshots must be deleted: {leftovers:?}");
}

/// A peer's snapshot is checked before the store sees it: a stream whose chunks are not a
/// snapshot, hold another range's state, no range state, or history out of order is refused
/// with InvalidArgument, and the node goes on serving, also after a restart. Before the check,
/// the install treated each as a broken disk and stopped the node, and again on every start
/// (its marker was already written).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_would_not_install_is_refused_from_the_peer_and_the_node_goes_on() {
    use atoll_proto::atoll::peer_client::PeerClient;
    use atoll_proto::atoll::{RangeSnapshotData, SnapshotChunk, SnapshotPair};
    use atoll_replication::raft::eraftpb::{Message as RaftMessage, MessageType};
    use prost::Message as _;
    use protobuf::Message as _;
    let mut cluster = TestCluster::must_start(1).await;
    let node_id = cluster.nodes[0].status().await.expect("status").node_id;
    let mut kv = must_client(&cluster.nodes[0].etcd).await;
    kv.put(PutRequest { key: b"before".to_vec(), value: b"1".to_vec(), ..Default::default() }).await.expect("put");
    let mut message = RaftMessage::default();
    message.set_msg_type(MessageType::MsgSnapshot);
    (message.from, message.to, message.term) = (node_id + 1, node_id, 1_000);
    message.mut_snapshot().mut_metadata().index = 1_000_000;
    let first = SnapshotChunk {
        from_node_id: node_id + 1,
        to_node_id: node_id,
        range_id: 1,
        raft_message: message.write_to_bytes().expect("encode"),
        ..Default::default()
    };
    let pair = |key: Vec<u8>| SnapshotPair { key, value: vec![0; 8] };
    let state_of = |range: u64| [range.to_be_bytes().as_slice(), b"/applied"].concat();
    let cases = [
        ("bytes that are not a snapshot", vec![0xff; 64]),
        ("another range's state", RangeSnapshotData { state: vec![pair(state_of(7))], mvcc: vec![] }.encode_to_vec()),
        ("no range state", Vec::new()),
        (
            "an MVCC key without a revision",
            RangeSnapshotData { state: vec![], mvcc: vec![pair(b"k".to_vec())] }.encode_to_vec(),
        ),
    ];
    let mut peer = PeerClient::connect(format!("http://{}", cluster.nodes[0].peer)).await.expect("peer port");
    for (what, data) in cases {
        let chunks = vec![first.clone(), SnapshotChunk { data, last: true, ..Default::default() }];
        let status = peer.snapshot(tokio_stream::iter(chunks)).await.expect_err(what);
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{what}: {status:?}");
    }
    assert_eq!(read_before(&mut kv).await, [b"1".to_vec()]);
    cluster.nodes[0].kill();
    cluster.nodes[0].must_spawn(None);
    let mut kv = loop_until_client(&cluster.nodes[0].etcd).await;
    assert_eq!(read_before(&mut kv).await, [b"1".to_vec()], "nothing of the refused streams was installed");
}

async fn read_before(kv: &mut KvClient<Channel>) -> Vec<Vec<u8>> {
    let response = kv.range(RangeRequest { key: b"before".to_vec(), ..Default::default() }).await;
    response.expect("the node serves").into_inner().kvs.into_iter().map(|kv| kv.value).collect()
}

/// A client of a node that is starting, once it answers a read.
async fn loop_until_client(address: &str) -> KvClient<Channel> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(mut kv) = client(address).await {
            if kv.range(RangeRequest { key: b"before".to_vec(), ..Default::default() }).await.is_ok() {
                return kv;
            }
        }
        assert!(Instant::now() < deadline, "the node did not come back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
