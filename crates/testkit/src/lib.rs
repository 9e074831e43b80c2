//! An in-process cluster for tests: N store loops (one thread each) on fjall engines in a
//! temporary directory, connected by an in-memory [`Network`] that can drop messages at a
//! seeded rate and cut links between nodes (TiKV's `transport_simulate` idea). Requests go
//! straight to a node's store handle, as the server's etcd API would send them.

use atoll_kv::{KvStateMachine, RangeShared};
use atoll_proto::atoll::{command, command_result, Command, CommandResult, NodeInfo};
use atoll_proto::etcdserverpb::{request_op, PutRequest, RangeRequest, RangeResponse, RequestOp, TxnRequest};
use atoll_proto::Message;
use atoll_replication::metrics::StoreMetrics;
use atoll_replication::raft_storage::RaftStorage;
use atoll_replication::snapshot::OutgoingSnapshot;
use atoll_replication::{Envelope, Error, Fatal, Store, StoreConfig, StoreHandle, Transport};
use atoll_storage::{Engine, FjallEngine, WriteBatch};
use atoll_types::{NodeId, RangeId, FIRST_RANGE_ID};
use rand::{Rng, SeedableRng};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct NetworkState {
    handles: HashMap<u64, StoreHandle<CommandResult>>,
    /// Directed links that drop everything: (from, to).
    cut: HashSet<(u64, u64)>,
    drop_rate: f64,
    rng: Option<rand::rngs::StdRng>,
}

/// The simulated network between the nodes of a [`Cluster`].
#[derive(Default)]
pub struct Network {
    state: Mutex<NetworkState>,
}

impl Network {
    fn deliver(&self, from: u64, to: u64, envelopes: Vec<Envelope>) {
        let Ok(mut state) = self.state.lock() else { return };
        if state.cut.contains(&(from, to)) {
            return;
        }
        let Some(handle) = state.handles.get(&to).cloned() else { return };
        let drop_rate = state.drop_rate;
        for envelope in envelopes {
            let dropped = drop_rate > 0.0 && state.rng.as_mut().is_some_and(|rng| rng.random::<f64>() < drop_rate);
            if !dropped {
                let _ = handle.step(envelope.range_id, envelope.message);
            }
        }
    }
}

impl Network {
    /// Streams a snapshot the way the server does: chunks into a file of the receiver's,
    /// then the message with that file. A cut link fails it.
    fn deliver_snapshot(&self, from: u64, snapshot: OutgoingSnapshot) {
        let OutgoingSnapshot { range_id, to, mut message, mut reader, done } = snapshot;
        let handle = match self.state.lock() {
            Ok(state) if !state.cut.contains(&(from, to.0)) => state.handles.get(&to.0).cloned(),
            _ => None,
        };
        let Some(handle) = handle else { return done.finish(false) };
        let Ok(mut writer) = handle.snapshot_files().create() else { return done.finish(false) };
        loop {
            match reader.next_chunk(atoll_replication::snapshot::SNAPSHOT_CHUNK_BYTES_MAX) {
                Ok(Some(chunk)) => {
                    if writer.write_chunk(&chunk).is_err() {
                        return done.finish(false);
                    }
                    done.progress().add(chunk.len() as u64);
                }
                Ok(None) => break,
                Err(_) => return done.finish(false),
            }
        }
        let Ok(file_id) = writer.finish() else { return done.finish(false) };
        message.mut_snapshot().set_data(atoll_replication::snapshot::encode_id(file_id).into());
        let stepped = match handle.step_snapshot(range_id, message, file_id) {
            Ok(answer) => matches!(answer.blocking_recv(), Ok(Ok(()))),
            Err(_) => false,
        };
        done.finish(stepped);
    }
}

/// A node's view of the [`Network`].
pub struct ChannelTransport {
    from: u64,
    network: Arc<Network>,
}

impl Transport for ChannelTransport {
    fn send(&self, to: NodeId, messages: Vec<Envelope>) {
        self.network.deliver(self.from, to.0, messages);
    }

    fn send_snapshot(&self, snapshot: OutgoingSnapshot) {
        let network = self.network.clone();
        let from = self.from;
        std::thread::spawn(move || network.deliver_snapshot(from, snapshot));
    }
}

/// One node of the test cluster.
pub struct TestNode {
    pub node_id: u64,
    pub engine: Arc<dyn Engine>,
    pub handle: Option<StoreHandle<CommandResult>>,
    pub shared: Arc<Mutex<Option<Arc<RangeShared>>>>,
}

/// An in-process cluster.
pub struct Cluster {
    pub network: Arc<Network>,
    pub nodes: Vec<TestNode>,
    _dir: tempfile::TempDir,
}

/// Short timeouts so that tests notice unavailability quickly.
fn store_config(node_id: u64, snapshot_dir: std::path::PathBuf) -> StoreConfig {
    let mut config = StoreConfig::new(NodeId(node_id), snapshot_dir);
    config.tick_interval = Duration::from_millis(20);
    config.request_timeout = Duration::from_secs(2);
    config
}

fn start_store(
    node_id: u64,
    engine: Arc<dyn Engine>,
    snapshot_dir: std::path::PathBuf,
    network: &Arc<Network>,
) -> TestNode {
    let shared_slot: Arc<Mutex<Option<Arc<RangeShared>>>> = Arc::default();
    let slot = shared_slot.clone();
    let factory_engine = engine.clone();
    let factory = Box::new(move |range_id: RangeId| -> Result<KvStateMachine, Fatal> {
        let shared = Arc::new(RangeShared::default());
        let machine =
            KvStateMachine::open(factory_engine.clone(), range_id, shared.clone()).map_err(|e| Fatal(e.to_string()))?;
        if let Ok(mut slot) = slot.lock() {
            *slot = Some(shared);
        }
        Ok(machine)
    });
    let transport = ChannelTransport { from: node_id, network: network.clone() };
    let metrics = StoreMetrics::new(&prometheus::Registry::new());
    let (store, handle) = Store::open(store_config(node_id, snapshot_dir), engine.clone(), transport, factory, metrics)
        .expect("store opens");
    std::thread::spawn(move || store.run().expect("store loop"));
    if let Ok(mut state) = network.state.lock() {
        state.handles.insert(node_id, handle.clone());
    }
    TestNode { node_id, engine, handle: Some(handle), shared: shared_slot }
}

impl Cluster {
    /// Starts `size` nodes; node 1 bootstraps the first range and adds the others as voters.
    pub async fn must_start(size: u64, seed: u64) -> Cluster {
        let dir = tempfile::tempdir().expect("tempdir");
        let network = Arc::new(Network::default());
        if let Ok(mut state) = network.state.lock() {
            state.rng = Some(rand::rngs::StdRng::seed_from_u64(seed));
        }
        let mut nodes = Vec::new();
        for node_id in 1..=size {
            let engine: Arc<dyn Engine> =
                Arc::new(FjallEngine::open(&dir.path().join(format!("n{node_id}")), 8 << 20).expect("engine"));
            if node_id == 1 {
                let mut batch = WriteBatch::new();
                RaftStorage::<KvStateMachine>::bootstrap(&mut batch, FIRST_RANGE_ID, vec![1]);
                let info = NodeInfo { node_id: 1, peer_addr: "n1".into(), ..Default::default() };
                KvStateMachine::bootstrap(&mut batch, FIRST_RANGE_ID, &info);
                engine.write(batch, true).expect("bootstrap");
            }
            nodes.push(start_store(node_id, engine, dir.path().join(format!("n{node_id}-snapshots")), &network));
        }
        let cluster = Cluster { network, nodes, _dir: dir };
        cluster.must_wait_for_leader(Duration::from_secs(10)).await;
        for node_id in 2..=size {
            cluster.handle(node_id).create_replica(FIRST_RANGE_ID).await.expect("create replica");
            let leader_handle = cluster.handle(1);
            cluster
                .must_retry(Duration::from_secs(10), || {
                    let handle = leader_handle.clone();
                    async move {
                        handle.change_replica(FIRST_RANGE_ID, node_id, atoll_replication::ReplicaChange::AddVoter).await
                    }
                })
                .await;
        }
        cluster
    }

    /// The store handle of a running node.
    pub fn handle(&self, node_id: u64) -> StoreHandle<CommandResult> {
        self.nodes[node_id as usize - 1].handle.clone().expect("node is running")
    }

    async fn must_retry<F, Fut>(&self, within: Duration, mut attempt: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<(), Error>>,
    {
        let deadline = Instant::now() + within;
        loop {
            match attempt().await {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => panic!("gave up: {e}"),
            }
        }
    }

    /// The leader as seen by any node, waiting up to `within`.
    pub async fn must_wait_for_leader(&self, within: Duration) -> u64 {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            for node in self.nodes.iter().filter(|n| n.handle.is_some()) {
                let handle = node.handle.clone().expect("running");
                if let Ok(status) = handle.status().await {
                    if let Some(range) = status.iter().find(|r| r.is_leader) {
                        let _ = range;
                        return node.node_id;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("no leader within {within:?}");
    }

    /// Cuts both directions between `a` and every node in `others`.
    pub fn partition(&self, a: u64, others: &[u64]) {
        if let Ok(mut state) = self.network.state.lock() {
            for &b in others {
                state.cut.insert((a, b));
                state.cut.insert((b, a));
            }
        }
    }

    /// Restores every link.
    pub fn heal(&self) {
        if let Ok(mut state) = self.network.state.lock() {
            state.cut.clear();
        }
    }

    /// Drops each message with probability `rate` (seeded).
    pub fn set_drop_rate(&self, rate: f64) {
        if let Ok(mut state) = self.network.state.lock() {
            state.drop_rate = rate;
        }
    }

    /// Puts through `node_id`; the error is what a client would see.
    pub async fn put(&self, node_id: u64, key: &str, value: &str) -> Result<i64, String> {
        let put = PutRequest { key: key.into(), value: value.into(), ..Default::default() };
        let txn = TxnRequest {
            success: vec![RequestOp { request: Some(request_op::Request::RequestPut(put)) }],
            ..Default::default()
        };
        let data = Command { kind: Some(command::Kind::Txn(txn)) }.encode_to_vec();
        match self.handle(node_id).propose(FIRST_RANGE_ID, data).await {
            Ok(CommandResult { kind: Some(command_result::Kind::Txn(response)) }) => {
                Ok(response.header.map_or(0, |h| h.revision))
            }
            Ok(other) => Err(format!("unexpected result {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A linearizable read of the whole key space through `node_id`.
    pub async fn read_all(&self, node_id: u64) -> Result<RangeResponse, String> {
        self.handle(node_id).read_index(FIRST_RANGE_ID).await.map_err(|e| e.to_string())?;
        Ok(self.local_read_all(node_id))
    }

    /// A read of the node's local replica without any consensus round.
    pub fn local_read_all(&self, node_id: u64) -> RangeResponse {
        let node = &self.nodes[node_id as usize - 1];
        let shared = node.shared.lock().expect("slot").clone().expect("replica exists");
        let request = RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
        shared.view(node.engine.as_ref()).range(&request).expect("local read")
    }

    /// Waits until every node's local replica holds the same data at the same revision.
    pub async fn must_converge(&self, within: Duration) -> RangeResponse {
        let deadline = Instant::now() + within;
        loop {
            let views: Vec<RangeResponse> = (1..=self.nodes.len() as u64).map(|n| self.local_read_all(n)).collect();
            let same = views.windows(2).all(|pair| pair[0].kvs == pair[1].kvs && pair[0].header == pair[1].header);
            if same {
                return views[0].clone();
            }
            assert!(
                Instant::now() < deadline,
                "replicas did not converge: revisions {:?}",
                views.iter().map(|v| v.header.map(|h| h.revision)).collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Ok(mut state) = self.network.state.lock() {
            state.handles.clear();
        }
        for node in &mut self.nodes {
            node.handle = None;
        }
    }
}

#[cfg(test)]
mod tests;
