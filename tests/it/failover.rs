//! Kill -9 of the leader in the middle of a write stream loses no acknowledged write, the
//! survivors keep serving, and the restarted node catches up and converges.

use crate::cluster::TestCluster;
use atoll_proto::etcdserverpb::kv_client::KvClient;
use atoll_proto::etcdserverpb::{PutRequest, RangeRequest};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tonic::transport::Channel;

async fn client(address: &str) -> Option<KvClient<Channel>> {
    let endpoint = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .ok()?
        .connect_timeout(Duration::from_millis(500))
        .timeout(Duration::from_secs(6));
    endpoint.connect().await.ok().map(KvClient::new)
}

/// Puts `key` through any live endpoint, retrying until acknowledged or `deadline`.
async fn put_until_acknowledged(endpoints: &[String], key: &str, value: &str, deadline: Instant) -> bool {
    let mut attempt = 0usize;
    while Instant::now() < deadline {
        let address = &endpoints[attempt % endpoints.len()];
        attempt += 1;
        if let Some(mut kv) = client(address).await {
            let request = PutRequest { key: key.into(), value: value.into(), ..Default::default() };
            if kv.put(request).await.is_ok() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// Everything under `key/` on one node's local replica, or `None` if it does not answer yet.
async fn read_all(address: &str) -> Option<BTreeMap<String, String>> {
    let mut kv = client(address).await?;
    let request =
        RangeRequest { key: b"key/".to_vec(), range_end: b"key0".to_vec(), serializable: true, ..Default::default() };
    let response = kv.range(request).await.ok()?.into_inner();
    let view = response
        .kvs
        .into_iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), String::from_utf8_lossy(&kv.value).into_owned()))
        .collect();
    Some(view)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_mid_stream_loses_no_acknowledged_write() {
    const KEYS: usize = 1000;
    const KILL_AT: usize = 300;
    let mut cluster = TestCluster::must_start(3).await;
    let leader = cluster.must_find_leader().await;
    let survivors: Vec<String> =
        cluster.nodes.iter().filter(|n| n.index != leader + 1).map(|n| n.etcd.clone()).collect();
    let everyone: Vec<String> = cluster.nodes.iter().map(|n| n.etcd.clone()).collect();

    let mut acknowledged = BTreeMap::new();
    let mut failover = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    for i in 0..KEYS {
        let (key, value) = (format!("key/{i:05}"), format!("value-{i}"));
        if i == KILL_AT {
            cluster.nodes[leader].kill();
            let killed_at = Instant::now();
            assert!(
                put_until_acknowledged(&survivors, &key, &value, deadline).await,
                "no write acknowledged after the kill"
            );
            failover = Some(killed_at.elapsed());
            acknowledged.insert(key, value);
            continue;
        }
        let endpoints = if i < KILL_AT { &everyone } else { &survivors };
        if put_until_acknowledged(endpoints, &key, &value, deadline).await {
            acknowledged.insert(key, value);
        }
    }
    let failover = failover.expect("leader was killed");
    eprintln!("failover: first write acknowledged {} ms after kill -9 of the leader", failover.as_millis());
    assert_eq!(acknowledged.len(), KEYS, "every write was eventually acknowledged by the survivors");

    cluster.nodes[leader].must_spawn(None);
    let converge_deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut views = Vec::new();
        for node in &cluster.nodes {
            views.push(read_all(&node.etcd).await.unwrap_or_default());
        }
        let complete = views.iter().all(|view| *view == acknowledged);
        if complete {
            break;
        }
        assert!(
            Instant::now() < converge_deadline,
            "replicas did not converge: sizes {:?}",
            views.iter().map(|v| v.len()).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
