//! Replication under partitions and message loss, with real store loops on real engines.

use super::*;

fn values(response: &RangeResponse) -> Vec<(String, String)> {
    response
        .kvs
        .iter()
        .map(|kv| (String::from_utf8_lossy(&kv.key).into_owned(), String::from_utf8_lossy(&kv.value).into_owned()))
        .collect()
}

async fn must_put_eventually(cluster: &Cluster, nodes: &[u64], key: &str, value: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut attempt = 0;
    loop {
        let node = nodes[attempt % nodes.len()];
        attempt += 1;
        match cluster.put(node, key, value).await {
            Ok(_) => return,
            Err(e) => assert!(Instant::now() < deadline, "put {key} never acknowledged: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Writes through any node reach every replica; a follower's linearizable read sees them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_any_node_reach_every_replica() {
    let cluster = Cluster::must_start(3, 1).await;
    for (i, node) in [1, 2, 3, 1, 2, 3].into_iter().enumerate() {
        must_put_eventually(&cluster, &[node], &format!("k{i}"), &format!("v{i}")).await;
    }
    let read = cluster.read_all(3).await.expect("linearizable read on a follower");
    assert_eq!(values(&read).len(), 6);
    let converged = cluster.must_converge(Duration::from_secs(10)).await;
    assert_eq!(values(&converged), values(&read));
}

/// An isolated leader can neither commit nor serve linearizable reads; the majority elects a
/// new leader and goes on; after healing, the old leader catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn isolated_leader_loses_its_power_and_the_majority_goes_on() {
    let cluster = Cluster::must_start(3, 2).await;
    must_put_eventually(&cluster, &[1, 2, 3], "before", "1").await;
    let old = cluster.must_wait_for_leader(Duration::from_secs(5)).await;
    let majority: Vec<u64> = (1..=3).filter(|n| *n != old).collect();
    cluster.partition(old, &majority);

    must_put_eventually(&cluster, &majority, "during", "2").await;
    assert!(
        cluster.put(old, "lost", "3").await.is_err(),
        "a write through the isolated old leader must not be acknowledged"
    );
    if let Ok(response) = cluster.read_all(old).await {
        panic!("isolated node served a linearizable read: {:?}", values(&response));
    }
    let majority_view = cluster.read_all(majority[0]).await.expect("majority read");
    assert_eq!(values(&majority_view), [("before".into(), "1".into()), ("during".into(), "2".into())]);

    cluster.heal();
    must_put_eventually(&cluster, &[1, 2, 3], "after", "4").await;
    let converged = cluster.must_converge(Duration::from_secs(10)).await;
    assert_eq!(values(&converged).iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["after", "before", "during"]);
}

/// A write proposed on a leader that is then cut off cannot commit. Once the node is back and
/// applies the new leader's entries, its client is told the write was dropped and not applied
/// (safe to retry), instead of an ambiguous "leader changed" or a timeout; and it indeed is
/// nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_lost_in_a_leader_change_is_answered_as_dropped() {
    let cluster = Cluster::must_start(3, 5).await;
    must_put_eventually(&cluster, &[1, 2, 3], "before", "1").await;
    let old = cluster.must_wait_for_leader(Duration::from_secs(5)).await;
    let majority: Vec<u64> = (1..=3).filter(|n| *n != old).collect();
    cluster.partition(old, &majority);
    let (lost, ()) = tokio::join!(cluster.put(old, "lost", "3"), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        must_put_eventually(&cluster, &majority, "during", "2").await;
        cluster.heal();
    });
    assert_eq!(lost, Err(Error::Dropped.to_string()), "the cut-off leader's write");
    let converged = cluster.must_converge(Duration::from_secs(10)).await;
    assert_eq!(values(&converged).iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["before", "during"]);
}

/// With a fifth of all messages lost, every write is eventually acknowledged exactly once and
/// the replicas converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lossy_links_still_converge() {
    let cluster = Cluster::must_start(3, 3).await;
    cluster.set_drop_rate(0.2);
    for i in 0..40 {
        must_put_eventually(&cluster, &[1, 2, 3], &format!("k{i:02}"), &format!("v{i}")).await;
    }
    cluster.set_drop_rate(0.0);
    let converged = cluster.must_converge(Duration::from_secs(10)).await;
    let keys: Vec<String> = values(&converged).into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, (0..40).map(|i| format!("k{i:02}")).collect::<Vec<_>>());
    // A put retried after an ambiguous failure may apply twice; each key's version says how
    // often. No key may be missing, and the revision counts every applied put.
    let versions: i64 = converged.kvs.iter().map(|kv| kv.version).sum();
    assert_eq!(converged.header.map(|h| h.revision), Some(1 + versions));
}

/// A follower cut off while the others write catches up after healing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitioned_follower_catches_up() {
    let cluster = Cluster::must_start(3, 4).await;
    let leader = cluster.must_wait_for_leader(Duration::from_secs(5)).await;
    let follower = (1..=3).find(|n| *n != leader).expect("a follower");
    let others: Vec<u64> = (1..=3).filter(|n| *n != follower).collect();
    cluster.partition(follower, &others);
    for i in 0..20 {
        must_put_eventually(&cluster, &others, &format!("k{i:02}"), "v").await;
    }
    assert!(values(&cluster.local_read_all(follower)).is_empty(), "the cut-off follower saw writes");
    cluster.heal();
    let converged = cluster.must_converge(Duration::from_secs(10)).await;
    assert_eq!(converged.kvs.len(), 20);
}
