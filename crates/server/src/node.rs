//! Starting, running and stopping one node.

use crate::etcd::EtcdApi;
use crate::peer_service::PeerService;
use crate::snapshot_stream::SnapshotSender;
use crate::transport::{AddressBook, GrpcTransport, LinkFaults};
use atoll_kv::{KvStateMachine, RangeShared};
use atoll_proto::atoll::peer_client::PeerClient;
use atoll_proto::atoll::{JoinRequest, NodeInfo};
use atoll_proto::etcdserverpb::{
    auth_server, cluster_server, kv_server, lease_server, maintenance_server, watch_server,
};
use atoll_proto::Message as _;
use atoll_replication::metrics::StoreMetrics;
use atoll_replication::raft_storage::RaftStorage;
use atoll_replication::{Fatal, Store, StoreConfig, StoreHandle};
use atoll_storage::{Engine, FjallEngine, Keyspace, WriteBatch};
use atoll_types::limits::GRPC_MESSAGE_BYTES_MAX;
use atoll_types::{NodeId, RangeId, FIRST_NODE_ID, FIRST_RANGE_ID};
use prometheus::{HistogramOpts, HistogramVec, IntGaugeVec, Opts, Registry};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_stream::wrappers::TcpListenerStream;
use tracing::{error, info, warn};

const META_NODE_ID: &[u8] = b"node_id";
const META_CLUSTER_ID: &[u8] = b"cluster_id";
/// The members a node learned when it joined: until its replica has the membership table
/// (from its first snapshot) they are the only addresses it knows, also after a restart.
const META_JOIN_MEMBERS: &[u8] = b"join_members";

/// How a node is started.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    pub data_dir: PathBuf,
    pub peer_listen: SocketAddr,
    pub etcd_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// The PostgreSQL wire protocol.
    pub sql_listen: SocketAddr,
    /// Addresses other nodes and clients should use; default: the listen addresses.
    pub peer_advertise: Option<String>,
    pub etcd_advertise: Option<String>,
    pub http_advertise: Option<String>,
    pub sql_advertise: Option<String>,
    /// Peer addresses of running nodes to join through. Empty: bootstrap a new cluster (only
    /// when the data directory is empty).
    pub join: Vec<String>,
    pub name: String,
    /// Enables the `/fault/*` HTTP switches that cut links, for the fault harness.
    pub fault_injection: bool,
    /// How long to keep trying the join addresses before giving up.
    pub join_timeout: Duration,
    /// A deliberately broken mode for proving the fault harness can fail: linearizable reads
    /// are served from the local replica without ReadIndex, so a partitioned old leader
    /// answers with stale data. Never use it outside tests.
    pub unsafe_stale_reads: bool,
    /// Whether a leader serves linearizable reads under its lease (the default) or sends a
    /// ReadIndex round for every read.
    pub leader_lease: bool,
    /// A deliberately broken lease that counts no time, for proving the fault harness can fail.
    pub unsafe_timeless_lease: bool,
    /// Whether a range's leader moves to the node that sends most of its requests.
    pub leader_follows_load: bool,
    /// The storage engine's block cache, in bytes.
    pub cache_bytes: u64,
    /// How long MVCC history stays readable before it is compacted and collected; `None`:
    /// only an explicit etcd Compact removes history.
    pub mvcc_retention: Option<Duration>,
    /// Largest peer frame sent or accepted (Raft message batches; snapshots are chunked).
    pub peer_message_bytes_max: usize,
    /// Send rate of one snapshot stream, in bytes per second (0: unlimited).
    pub snapshot_rate_bytes_per_second: u64,
    /// Applied log entries kept before truncation, and how much more a leader keeps for a
    /// lagging follower (see `atoll_types::limits`).
    pub raft_log_entries_kept: u64,
    pub raft_log_lag_entries_max: u64,
    pub raft_log_lag_bytes_max: u64,
    /// What SQL may take on this node: memory for all statements and for one, connections.
    pub sql_limits: atoll_sql::SqlLimits,
    /// BROKEN ON PURPOSE, for tests of the checkers: snapshots sent carry no MVCC history.
    pub unsafe_snapshot_drop_history: bool,
    /// How long after it starts this node waits before it splits the etcd and SQL keyspaces
    /// (as the first range's leader; see `crate::keyspaces`). Zero but in tests.
    pub keyspace_split_delay: Duration,
    /// A node unheard for this long is dead: the ranges this node leads replace its replicas.
    pub dead_after: Duration,
    /// The node's certificates: TLS on every port and certificate checks for peers and
    /// clients. `None`: insecure (`atoll start --insecure`), for local development only.
    pub certs: Option<atoll_security::NodeCerts>,
    /// BROKEN ON PURPOSE, for tests: peers' certificates are not checked by name.
    pub unsafe_any_peer_certificate: bool,
    /// The store key: every value and received snapshot is sealed with AES-256-GCM
    /// (`atoll_storage::encryption`). `None`: the store is not encrypted.
    pub encryption_key_file: Option<PathBuf>,
    /// The previous store key, during a rotation to `encryption_key_file`.
    pub old_encryption_key_file: Option<PathBuf>,
    /// BROKEN ON PURPOSE, for tests: keys are checked and the registry kept, but values are
    /// stored unsealed.
    pub unsafe_encryption_plaintext: bool,
}

/// Why a node could not start; each says what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {addr} for {what}: {reason}; choose another address with {flag}")]
    Listen { addr: SocketAddr, what: &'static str, flag: &'static str, reason: String },
    #[error("data directory {path}: {reason}")]
    DataDir { path: PathBuf, reason: String },
    #[error("could not join a cluster through {addresses}: {reason}. Check that an Atoll node is running there, or omit --join to start a new cluster")]
    Join { addresses: String, reason: String },
    #[error("storage: {0}")]
    Storage(String),
    #[error("certificates: {0}")]
    Certs(String),
    #[error("encryption at rest: {0}")]
    Encryption(String),
    #[error("{0}")]
    Fatal(String),
}

impl From<Fatal> for StartError {
    fn from(f: Fatal) -> Self {
        StartError::Fatal(f.0)
    }
}

impl From<atoll_storage::Error> for StartError {
    fn from(e: atoll_storage::Error) -> Self {
        StartError::Storage(e.to_string())
    }
}

/// Server-side metrics beyond the store loop's.
pub struct ServerMetrics {
    pub rpc_seconds: HistogramVec,
    /// Per range replica on this node, by `range` id, refreshed every half second.
    pub range_leader: IntGaugeVec,
    pub range_applied_index: IntGaugeVec,
    pub range_revision: IntGaugeVec,
}

impl ServerMetrics {
    fn new(registry: &Registry) -> Self {
        let buckets = prometheus::exponential_buckets(0.00005, 2.0, 18).expect("valid buckets");
        let rpc_seconds = HistogramVec::new(
            HistogramOpts::new("atoll_rpc_seconds", "etcd API request latency.").buckets(buckets),
            &["method"],
        )
        .expect("valid metric");
        registry.register(Box::new(rpc_seconds.clone())).expect("metric registered once");
        let per_range = |name: &str, help: &str| {
            let gauge = IntGaugeVec::new(Opts::new(name, help), &["range"]).expect("valid metric");
            registry.register(Box::new(gauge.clone())).expect("metric registered once");
            gauge
        };
        ServerMetrics {
            rpc_seconds,
            range_leader: per_range("atoll_range_leader", "The node that leads the range (0: none known)."),
            range_applied_index: per_range("atoll_range_applied_index", "The range's last Raft index applied here."),
            range_revision: per_range("atoll_range_revision", "The range's latest applied revision here."),
        }
    }
}

/// What every service of a node shares.
pub struct NodeContext {
    pub node_id: NodeId,
    pub cluster_id: u64,
    pub info: NodeInfo,
    pub engine: Arc<dyn Engine>,
    pub store: StoreHandle<atoll_proto::atoll::CommandResult>,
    pub ranges: Arc<RwLock<HashMap<RangeId, Arc<RangeShared>>>>,
    /// How the etcd API, SQL and background jobs reach ranges.
    pub router: atoll_router::Router,
    pub addresses: AddressBook,
    pub faults: Arc<LinkFaults>,
    pub fault_injection: bool,
    pub unsafe_stale_reads: bool,
    pub registry: Registry,
    pub metrics: ServerMetrics,
    pub started_at_unix_ms: u64,
    /// Snapshot streams this node may receive at once.
    pub snapshot_receives: Arc<tokio::sync::Semaphore>,
    /// Largest peer frame accepted.
    pub peer_message_bytes_max: usize,
    /// A node unheard for this long is dead (see [`crate::replicate`]).
    pub dead_after: Duration,
    /// Whether the node runs secure (TLS everywhere, certificates checked).
    pub secure: bool,
    /// How the peer service checks its callers' certificates.
    pub peer_check: crate::peer_tls::PeerCheck,
    /// How this node connects to other nodes' peer ports.
    pub peer_tls: crate::peer_tls::PeerTls,
    started: Instant,
    raft_term: AtomicU64,
    last_heard: Mutex<HashMap<u64, Instant>>,
}

impl NodeContext {
    /// The shared state of a range replica on this node.
    pub fn range(&self, range_id: RangeId) -> Option<Arc<RangeShared>> {
        self.ranges.read().ok()?.get(&range_id).cloned()
    }

    /// The Raft term last seen for the first range.
    pub fn raft_term(&self) -> u64 {
        self.raft_term.load(Ordering::Relaxed)
    }

    /// Records a member's peer address.
    pub fn learn_address(&self, info: &NodeInfo) {
        if info.node_id != 0 && !info.peer_addr.is_empty() {
            if let Ok(mut addresses) = self.addresses.write() {
                addresses.insert(info.node_id, info.peer_addr.clone());
            }
        }
    }

    /// Notes that a Raft batch arrived from `node`.
    pub fn heard_from(&self, node: u64) {
        if let Ok(mut heard) = self.last_heard.lock() {
            heard.insert(node, Instant::now());
        }
    }

    /// How long `node` has been unheard: since its last Raft batch, or since this node started
    /// if none came yet (zero for this node).
    pub fn unheard_for(&self, node: u64) -> Duration {
        match self.last_heard_ms_ago(node) {
            -1 => self.started.elapsed(),
            ms => Duration::from_millis(ms.max(0) as u64),
        }
    }

    /// Milliseconds since `node` was last heard from (0 for this node, -1 for never).
    pub fn last_heard_ms_ago(&self, node: u64) -> i64 {
        if node == self.node_id.0 {
            return 0;
        }
        let heard = self.last_heard.lock().ok().and_then(|h| h.get(&node).copied());
        heard.map_or(-1, |at| at.elapsed().as_millis() as i64)
    }
}

/// A running node.
pub struct Node {
    pub context: Arc<NodeContext>,
    tasks: Vec<JoinHandle<()>>,
    fatal: tokio::sync::oneshot::Receiver<String>,
}

async fn bind(addr: SocketAddr, what: &'static str, flag: &'static str) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr).await.map_err(|e| StartError::Listen { addr, what, flag, reason: e.to_string() })
}

fn prepare_data_dir(path: &PathBuf) -> Result<(), StartError> {
    let fail = |reason: String| StartError::DataDir { path: path.clone(), reason };
    std::fs::create_dir_all(path).map_err(|e| fail(format!("cannot create it: {e}")))?;
    let probe = path.join(".atoll-write-probe");
    std::fs::write(&probe, b"ok").map_err(|e| fail(format!("not writable: {e}")))?;
    std::fs::remove_file(&probe).map_err(|e| fail(format!("not writable: {e}")))?;
    Ok(())
}

/// Reads the key files and checks them against the data directory's encryption registry.
fn prepare_encryption(config: &NodeConfig) -> Result<Option<atoll_storage::encryption::Prepared>, StartError> {
    use atoll_storage::encryption::{prepare, StoreKey};
    let read = |path: &Option<PathBuf>| path.as_deref().map(StoreKey::read).transpose();
    let fail = |e: atoll_storage::encryption::EncryptionError| StartError::Encryption(e.to_string());
    let key = read(&config.encryption_key_file).map_err(fail)?;
    let old = read(&config.old_encryption_key_file).map_err(fail)?;
    prepare(&config.data_dir, key, old).map_err(fail)
}

fn read_u64(engine: &dyn Engine, key: &[u8]) -> Result<Option<u64>, StartError> {
    match engine.get(Keyspace::Meta, key)? {
        None => Ok(None),
        Some(bytes) => bytes
            .as_slice()
            .try_into()
            .map(u64::from_be_bytes)
            .map(Some)
            .map_err(|_| StartError::Storage("corrupt node metadata".into())),
    }
}

impl Node {
    /// Starts a node: binds its listeners, bootstraps or joins, and serves.
    pub async fn start(config: NodeConfig) -> Result<Node, StartError> {
        prepare_data_dir(&config.data_dir)?;
        // Keys are checked before anything else, so that a wrong one changes nothing.
        let encryption = prepare_encryption(&config)?;
        let peer_tls = crate::peer_tls::PeerTls::new(config.certs.as_ref().map(|c| c.grpc_client()));
        let tls = Tls::of(config.certs.as_ref())?;
        let peer_listener = bind(config.peer_listen, "peer RPC", "--peer-addr").await?;
        let etcd_listener = bind(config.etcd_listen, "the etcd API", "--etcd-addr").await?;
        let http_listener = bind(config.http_listen, "HTTP", "--http-addr").await?;
        let sql_listener = bind(config.sql_listen, "SQL (the PostgreSQL protocol)", "--sql-addr").await?;
        let mut info = NodeInfo {
            node_id: 0,
            peer_addr: config
                .peer_advertise
                .clone()
                .unwrap_or_else(|| peer_listener.local_addr().map(|a| a.to_string()).unwrap_or_default()),
            etcd_addr: config
                .etcd_advertise
                .clone()
                .unwrap_or_else(|| etcd_listener.local_addr().map(|a| a.to_string()).unwrap_or_default()),
            http_addr: config
                .http_advertise
                .clone()
                .unwrap_or_else(|| http_listener.local_addr().map(|a| a.to_string()).unwrap_or_default()),
            sql_addr: config
                .sql_advertise
                .clone()
                .unwrap_or_else(|| sql_listener.local_addr().map(|a| a.to_string()).unwrap_or_default()),
            name: config.name.clone(),
            version: atoll_types::VERSION.into(),
        };
        let fjall = FjallEngine::open(&config.data_dir, config.cache_bytes).map_err(|e| StartError::DataDir {
            path: config.data_dir.clone(),
            reason: format!("{e} (is another atoll process using it?)"),
        })?;
        let engine: Arc<dyn Engine> = match encryption {
            None => Arc::new(fjall),
            Some(prepared) => {
                let cipher = prepared.open().map_err(|e| StartError::Encryption(e.to_string()))?;
                info!(store_key = cipher.store_key_id(), data_key = cipher.active_data_key(), "encryption at rest on");
                if config.unsafe_encryption_plaintext {
                    Arc::new(fjall)
                } else {
                    Arc::new(atoll_storage::EncryptedEngine::new(fjall, cipher))
                }
            }
        };
        let mut join_members = match engine.get(Keyspace::Meta, META_JOIN_MEMBERS)? {
            Some(bytes) => {
                atoll_proto::atoll::JoinResponse::decode(bytes.as_slice())
                    .map_err(|e| StartError::Storage(format!("corrupt join record: {e}")))?
                    .members
            }
            None => Vec::new(),
        };
        let (node_id, cluster_id) =
            match (read_u64(engine.as_ref(), META_NODE_ID)?, read_u64(engine.as_ref(), META_CLUSTER_ID)?) {
                (Some(node_id), Some(cluster_id)) => {
                    if !config.join.is_empty() {
                        info!("data directory already belongs to node {node_id}; ignoring --join");
                    }
                    (node_id, cluster_id)
                }
                _ if config.join.is_empty() => bootstrap(engine.as_ref(), &mut info)?,
                _ => {
                    let response = join(&config, &peer_tls, &info).await?;
                    let mut batch = WriteBatch::new();
                    batch.put(Keyspace::Meta, META_NODE_ID, response.node_id.to_be_bytes().to_vec());
                    batch.put(Keyspace::Meta, META_CLUSTER_ID, response.cluster_id.to_be_bytes().to_vec());
                    batch.put(Keyspace::Meta, META_JOIN_MEMBERS, response.encode_to_vec());
                    engine.write(batch, true)?;
                    join_members = response.members;
                    (response.node_id, response.cluster_id)
                }
            };
        info.node_id = node_id;
        let node_id = NodeId(node_id);
        info!(%node_id, cluster_id = format!("{cluster_id:x}"), "node identity");

        let registry = Registry::new();
        let store_metrics = StoreMetrics::new(&registry);
        let ranges: Arc<RwLock<HashMap<RangeId, Arc<RangeShared>>>> = Arc::default();
        let factory_engine = engine.clone();
        let factory_ranges = ranges.clone();
        let factory = Box::new(move |range_id: RangeId| -> Result<KvStateMachine, Fatal> {
            let shared = Arc::new(RangeShared::default());
            let machine = KvStateMachine::open(factory_engine.clone(), range_id, shared.clone())
                .map_err(|e| Fatal(e.to_string()))?;
            if let Ok(mut ranges) = factory_ranges.write() {
                ranges.insert(range_id, shared);
            }
            Ok(machine)
        });
        let addresses: AddressBook = Arc::default();
        let faults = Arc::new(LinkFaults::default());
        let snapshots = SnapshotSender {
            from: node_id.0,
            addresses: addresses.clone(),
            faults: faults.clone(),
            metrics: store_metrics.clone(),
            rate_bytes_per_second: config.snapshot_rate_bytes_per_second,
            message_bytes_max: config.peer_message_bytes_max,
            unsafe_drop_history: config.unsafe_snapshot_drop_history,
            tls: peer_tls.clone(),
        };
        let transport = GrpcTransport::new(
            node_id,
            addresses.clone(),
            tokio::runtime::Handle::current(),
            faults.clone(),
            snapshots,
        );
        let mut store_config = StoreConfig::new(node_id, config.data_dir.join("snapshots"));
        store_config.log_entries_kept = config.raft_log_entries_kept;
        store_config.log_lag_entries_max = config.raft_log_lag_entries_max;
        store_config.log_lag_bytes_max = config.raft_log_lag_bytes_max;
        store_config.leader_lease = config.leader_lease;
        store_config.unsafe_timeless_lease = config.unsafe_timeless_lease;
        store_config.leader_follows_load = config.leader_follows_load;
        let (store, handle) = Store::open(store_config, engine.clone(), transport, factory, store_metrics)?;
        let (fatal_sender, fatal) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("store-{node_id}"))
            .spawn(move || {
                if let Err(e) = store.run() {
                    error!(error = %e, "store loop stopped; the node must stop");
                    let _ = fatal_sender.send(e.0);
                }
            })
            .map_err(|e| StartError::Fatal(format!("cannot start the store thread: {e}")))?;

        let context = Arc::new(NodeContext {
            node_id,
            cluster_id,
            info: info.clone(),
            router: atoll_router::Router::new(
                handle.clone(),
                engine.clone(),
                ranges.clone(),
                config.unsafe_stale_reads,
            ),
            engine,
            store: handle,
            ranges,
            addresses,
            faults,
            fault_injection: config.fault_injection,
            unsafe_stale_reads: config.unsafe_stale_reads,
            metrics: ServerMetrics::new(&registry),
            registry,
            started_at_unix_ms: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
            raft_term: AtomicU64::new(0),
            last_heard: Mutex::new(HashMap::new()),
            snapshot_receives: Arc::new(tokio::sync::Semaphore::new(atoll_types::limits::SNAPSHOT_RECEIVES_MAX)),
            peer_message_bytes_max: config.peer_message_bytes_max,
            dead_after: config.dead_after,
            secure: config.certs.is_some(),
            peer_check: match (&config.certs, config.unsafe_any_peer_certificate) {
                (None, _) => crate::peer_tls::PeerCheck::None,
                (Some(_), false) => crate::peer_tls::PeerCheck::ByName,
                (Some(_), true) => crate::peer_tls::PeerCheck::UnsafeAnyCertificate,
            },
            peer_tls,
            started: Instant::now(),
        });
        for member in
            join_members.iter().chain(context.range(FIRST_RANGE_ID).map(|r| r.members()).unwrap_or_default().iter())
        {
            context.learn_address(member);
        }
        if context.range(FIRST_RANGE_ID).is_none() {
            context.store.create_replica(FIRST_RANGE_ID).await.map_err(|e| StartError::Fatal(e.to_string()))?;
        }
        let audit = Arc::new(atoll_sql::audit::AuditLog::new(&config.data_dir.join(AUDIT_FILE)));
        let mut tasks = vec![
            tokio::spawn(serve_peer(context.clone(), peer_listener, tls.grpc)),
            tokio::spawn(serve_etcd(
                context.clone(),
                etcd_listener,
                tls.etcd,
                audit.clone(),
                config.sql_limits.unsafe_skip_privilege_checks,
            )),
            tokio::spawn(serve_http(context.clone(), http_listener, tls.http)),
            tokio::spawn(serve_sql(context.clone(), sql_listener, config.sql_limits, tls.sql, audit)),
            tokio::spawn(refresh(context.clone())),
            tokio::spawn(crate::replicate::run(context.clone())),
            tokio::spawn(crate::keyspaces::run(context.clone(), config.keyspace_split_delay)),
            tokio::spawn(crate::staged_gc::run(context.clone())),
        ];
        let gc_metrics = crate::mvcc_gc::GcMetrics::new(&context.registry);
        crate::mvcc_gc::spawn_collector(&context, gc_metrics.clone())
            .map_err(|e| StartError::Fatal(format!("cannot start the garbage collector thread: {e}")))?;
        if let Some(retention) = config.mvcc_retention {
            tasks.push(tokio::spawn(crate::mvcc_gc::run_compactor(context.clone(), retention, gc_metrics)));
        }
        let secure = if context.secure { "secure" } else { "INSECURE" };
        info!(%node_id, peer = %info.peer_addr, etcd = %info.etcd_addr, http = %info.http_addr, sql = %info.sql_addr, secure, "node started");
        Ok(Node { context, tasks, fatal })
    }

    /// Runs until the store loop fails (returns its error) or `shutdown` resolves.
    pub async fn run_until(mut self, shutdown: impl std::future::Future<Output = ()>) -> Result<(), StartError> {
        let outcome = tokio::select! {
            fatal = &mut self.fatal => match fatal {
                Ok(message) => Err(StartError::Fatal(message)),
                // The store thread ended without a report: it panicked on a broken invariant.
                Err(_) => Err(StartError::Fatal("the store loop stopped unexpectedly (see the log above)".into())),
            },
            _ = shutdown => Ok(()),
        };
        self.stop();
        outcome
    }

    /// Stops serving. The store thread ends once the last handle to it is dropped.
    pub fn stop(&mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

fn bootstrap(engine: &dyn Engine, info: &mut NodeInfo) -> Result<(u64, u64), StartError> {
    let cluster_id: u64 = rand::random::<u64>() | 1;
    info.node_id = FIRST_NODE_ID.0;
    let mut batch = WriteBatch::new();
    RaftStorage::<KvStateMachine>::bootstrap(&mut batch, FIRST_RANGE_ID, vec![FIRST_NODE_ID.0]);
    KvStateMachine::bootstrap(&mut batch, FIRST_RANGE_ID, info);
    batch.put(Keyspace::Meta, META_NODE_ID, FIRST_NODE_ID.0.to_be_bytes().to_vec());
    batch.put(Keyspace::Meta, META_CLUSTER_ID, cluster_id.to_be_bytes().to_vec());
    engine.write(batch, true)?;
    info!(cluster_id = format!("{cluster_id:x}"), "bootstrapped a new cluster");
    Ok((FIRST_NODE_ID.0, cluster_id))
}

async fn join(
    config: &NodeConfig,
    tls: &crate::peer_tls::PeerTls,
    info: &NodeInfo,
) -> Result<atoll_proto::atoll::JoinResponse, StartError> {
    let deadline = Instant::now() + config.join_timeout;
    let mut last_error = String::from("no answer");
    let mut attempt = 0;
    while Instant::now() < deadline {
        for address in &config.join {
            attempt += 1;
            match try_join(tls, address, info).await {
                Ok(response) => {
                    info!(node_id = response.node_id, via = %address, "joined the cluster");
                    return Ok(response);
                }
                Err(e) => {
                    last_error = format!("{address}: {e}");
                    if attempt % 5 == 1 {
                        info!("waiting to join through {address}: {e}");
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StartError::Join { addresses: config.join.join(","), reason: last_error })
}

async fn try_join(
    tls: &crate::peer_tls::PeerTls,
    address: &str,
    info: &NodeInfo,
) -> Result<atoll_proto::atoll::JoinResponse, String> {
    let endpoint = tls.endpoint(address, Duration::from_secs(2))?.timeout(Duration::from_secs(15));
    let channel = endpoint.connect().await.map_err(|e| format!("cannot connect ({e})"))?;
    let mut client = PeerClient::new(channel);
    let response = client.join(JoinRequest { node: Some(info.clone()) }).await.map_err(|s| s.message().to_string())?;
    Ok(response.into_inner())
}

/// Accepted connections with Nagle's algorithm off. tonic's `tcp_nodelay` only applies to
/// listeners it binds itself; without this, a response written in two pieces waits for the
/// client's delayed ACK (about 40 ms per request on Linux).
fn incoming(listener: TcpListener) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        accepted.inspect(|stream| {
            let _ = stream.set_nodelay(true);
        })
    })
}

/// The TLS settings of the node's listeners; all `None` on an insecure node.
struct Tls {
    /// The peer port: client certificates required.
    grpc: Option<tonic::transport::ServerTlsConfig>,
    /// The etcd port: a client certificate names its user, a client without one authenticates
    /// with a password (see `crate::etcd_auth`).
    etcd: Option<tonic::transport::ServerTlsConfig>,
    http: Option<Arc<rustls::ServerConfig>>,
    sql: Option<Arc<rustls::ServerConfig>>,
}

impl Tls {
    fn of(certs: Option<&atoll_security::NodeCerts>) -> Result<Tls, StartError> {
        let Some(certs) = certs else { return Ok(Tls { grpc: None, etcd: None, http: None, sql: None }) };
        let certs_error = |e: atoll_security::CertError| StartError::Certs(e.to_string());
        let (grpc, etcd) = (certs.grpc_server(true), certs.grpc_server(false));
        // Refused here, so that no port is left unserved by a setting tonic turns down later.
        for config in [&grpc, &etcd] {
            tonic::transport::Server::builder()
                .tls_config(config.clone())
                .map_err(|e| StartError::Certs(format!("TLS settings of the gRPC ports: {e}")))?;
        }
        Ok(Tls {
            grpc: Some(grpc),
            etcd: Some(etcd),
            http: Some(certs.http_server().map_err(certs_error)?),
            sql: Some(certs.sql_server().map_err(certs_error)?),
        })
    }
}

/// A gRPC server builder, with TLS when `tls` is given.
fn grpc_server(tls: Option<tonic::transport::ServerTlsConfig>, what: &str) -> Option<tonic::transport::Server> {
    let builder = tonic::transport::Server::builder().tcp_nodelay(true);
    match tls {
        None => Some(builder),
        Some(tls) => match builder.tls_config(tls) {
            Ok(builder) => Some(builder),
            Err(e) => {
                error!(error = %e, "{what}: TLS settings refused; not serving");
                None
            }
        },
    }
}

async fn serve_peer(context: Arc<NodeContext>, listener: TcpListener, tls: Option<tonic::transport::ServerTlsConfig>) {
    let frame_max = context.peer_message_bytes_max;
    let service = atoll_proto::atoll::peer_server::PeerServer::new(PeerService::new(context))
        .max_decoding_message_size(frame_max);
    let Some(mut server) = grpc_server(tls, "peer server") else { return };
    let result = server.add_service(service).serve_with_incoming(incoming(listener)).await;
    if let Err(e) = result {
        error!(error = %e, "peer server stopped");
    }
}

async fn serve_etcd(
    context: Arc<NodeContext>,
    listener: TcpListener,
    tls: Option<tonic::transport::ServerTlsConfig>,
    audit: Arc<atoll_sql::audit::AuditLog>,
    skip_key_checks: bool,
) {
    let kv = atoll_sql::NodeKv(Arc::new(crate::sql::LocalKv::new(context.clone())));
    let auth = Arc::new(crate::etcd_auth::EtcdAuth::new(kv, context.secure, Some(audit), skip_key_checks));
    let api = EtcdApi::new(context, auth);
    let Some(mut server) = grpc_server(tls, "etcd API server") else { return };
    let result = server
        .add_service(kv_server::KvServer::new(api.clone()).max_decoding_message_size(GRPC_MESSAGE_BYTES_MAX))
        .add_service(auth_server::AuthServer::new(api.clone()))
        .add_service(cluster_server::ClusterServer::new(api.clone()))
        .add_service(maintenance_server::MaintenanceServer::new(api.clone()))
        .add_service(watch_server::WatchServer::new(api.clone()))
        .add_service(lease_server::LeaseServer::new(api))
        .serve_with_incoming(incoming(listener))
        .await;
    if let Err(e) = result {
        error!(error = %e, "etcd API server stopped");
    }
}

async fn serve_sql(
    context: Arc<NodeContext>,
    listener: TcpListener,
    limits: atoll_sql::SqlLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
    audit: Arc<atoll_sql::audit::AuditLog>,
) {
    let registry = context.registry.clone();
    let kv = atoll_sql::NodeKv(Arc::new(crate::sql::LocalKv::new(context)));
    atoll_sql::serve(listener, atoll_sql::Engine::new(kv, limits, &registry, Some(audit)), tls).await;
}

/// The SQL audit log in the data directory (see `atoll_sql::audit`).
pub const AUDIT_FILE: &str = "audit.jsonl";

async fn serve_http(context: Arc<NodeContext>, listener: TcpListener, tls: Option<Arc<rustls::ServerConfig>>) {
    let router = crate::http::router(context);
    match tls {
        None => {
            if let Err(e) = axum::serve(listener, router).await {
                error!(error = %e, "HTTP server stopped");
            }
        }
        Some(tls) => crate::http::serve_tls(listener, router, tls).await,
    }
}

/// Sets the per-range gauges to `status`, and removes those of ranges no longer here.
fn publish_range_metrics(
    context: &NodeContext,
    status: &[atoll_replication::RangeRaftStatus],
    published: &mut Vec<String>,
) {
    let metrics = &context.metrics;
    let current: Vec<String> = status.iter().map(|r| r.range_id.0.to_string()).collect();
    for gone in published.iter().filter(|label| !current.contains(label)) {
        for gauge in [&metrics.range_leader, &metrics.range_applied_index, &metrics.range_revision] {
            let _ = gauge.remove_label_values(&[gone]);
        }
    }
    for (range, label) in status.iter().zip(&current) {
        let clamp = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        metrics.range_leader.with_label_values(&[label]).set(clamp(range.leader_id));
        metrics.range_applied_index.with_label_values(&[label]).set(clamp(range.applied_index));
        let revision = context.range(range.range_id).map_or(0, |shared| shared.revision());
        metrics.range_revision.with_label_values(&[label]).set(revision);
    }
    *published = current;
}

/// Keeps the address book, the term in the response header and the per-range metrics current.
async fn refresh(context: Arc<NodeContext>) {
    let mut published = Vec::new();
    let mut interval = tokio::time::interval(Duration::from_millis(500));
    loop {
        interval.tick().await;
        if let Some(shared) = context.range(FIRST_RANGE_ID) {
            for member in shared.members() {
                context.learn_address(&member);
            }
        }
        match context.store.status().await {
            Ok(status) => {
                if let Some(range) = status.iter().find(|r| r.range_id == FIRST_RANGE_ID) {
                    context.raft_term.store(range.term, Ordering::Relaxed);
                }
                publish_range_metrics(&context, &status, &mut published);
            }
            Err(e) => warn!(error = %e, "store status unavailable"),
        }
    }
}
