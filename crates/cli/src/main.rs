//! The `atoll` command: start a node, run a local demo cluster, inspect nodes and ranges.

mod admin;
mod cert;
mod chaos;
mod demo;
mod sql;

use atoll_server::{Node, NodeConfig};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// mimalloc instead of the system allocator: glibc's malloc and free were a fifth to a quarter
/// of a node's CPU under TPC-B (its consolidation of freed chunks most of that); see
/// docs/benchmarks.md.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "atoll", version, about = "Atoll: a distributed SQL and key-value database")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a node. Without --join on an empty data directory it bootstraps a new cluster.
    Start(Box<StartArgs>),
    /// Create and list the certificates of a secure cluster.
    Cert {
        #[command(subcommand)]
        command: cert::CertCommand,
    },
    /// Start a local multi-node cluster of real processes in a temporary directory.
    Demo(demo::DemoArgs),
    /// An interactive SQL shell (or run statements with -e / -f).
    Sql(sql::SqlArgs),
    /// Run a workload against a local cluster while injecting faults, then check what clients saw.
    Chaos(chaos::ChaosArgs),
    /// Inspect nodes.
    Node {
        #[command(subcommand)]
        command: admin::NodeCommand,
    },
    /// Inspect ranges.
    Range {
        #[command(subcommand)]
        command: admin::RangeCommand,
    },
}

#[derive(clap::Args, Clone)]
#[command(group(clap::ArgGroup::new("security").required(true).args(["certs_dir", "insecure"])))]
struct StartArgs {
    /// Directory with the cluster's CA certificate and this node's certificate and key
    /// (`ca.crt`, `node.crt`, `node.key`; see `atoll cert`): TLS on every port, client and
    /// peer certificates checked.
    #[arg(long)]
    certs_dir: Option<PathBuf>,
    /// Run without TLS and without authentication: anyone who reaches a port can read and
    /// write everything and join the cluster. For local development only.
    #[arg(long)]
    insecure: bool,
    /// Directory for this node's data; created if missing.
    #[arg(long, default_value = "atoll-data")]
    data_dir: PathBuf,
    /// Listen address for peer RPC (Raft, join, admin).
    #[arg(long, default_value = "127.0.0.1:26300")]
    peer_addr: SocketAddr,
    /// Listen address for the etcd v3 API.
    #[arg(long, default_value = "127.0.0.1:2379")]
    etcd_addr: SocketAddr,
    /// Listen address for HTTP (/metrics, /health).
    #[arg(long, default_value = "127.0.0.1:8080")]
    http_addr: SocketAddr,
    /// Listen address for SQL (the PostgreSQL wire protocol).
    #[arg(long, default_value = "127.0.0.1:26257")]
    sql_addr: SocketAddr,
    /// SQL address clients should use, if not the listen address.
    #[arg(long)]
    advertise_sql_addr: Option<String>,
    /// Peer address other nodes should use, if not the listen address.
    #[arg(long)]
    advertise_peer_addr: Option<String>,
    /// etcd API address clients should use, if not the listen address.
    #[arg(long)]
    advertise_etcd_addr: Option<String>,
    /// Peer addresses of running nodes to join (comma-separated).
    #[arg(long, value_delimiter = ',')]
    join: Vec<String>,
    /// A human-readable name for this node.
    #[arg(long, default_value = "")]
    name: String,
    /// Seconds to keep trying the --join addresses.
    #[arg(long, default_value_t = 30)]
    join_timeout_secs: u64,
    /// Enable /fault/* HTTP endpoints that cut links (for the fault harness; never in production).
    #[arg(long, hide = true)]
    enable_fault_injection: bool,
    /// BROKEN ON PURPOSE: serve linearizable reads without ReadIndex (proves the checkers fail).
    #[arg(long, hide = true)]
    unsafe_stale_reads: bool,
    /// BROKEN ON PURPOSE: snapshots sent leave out the MVCC history (proves the checkers fail).
    #[arg(long, hide = true)]
    unsafe_snapshot_drop_history: bool,
    /// BROKEN ON PURPOSE: SQL statements ignore statement_timeout, cancel requests and their
    /// client's disconnect (proves the hostile-client checker fails).
    #[arg(long, hide = true)]
    unsafe_ignore_statement_interrupts: bool,
    /// BROKEN ON PURPOSE: a leader's lease never runs out in its term (proves the checkers fail).
    #[arg(long, hide = true)]
    unsafe_timeless_lease: bool,
    /// BROKEN ON PURPOSE: any certificate of the cluster CA may call any peer RPC (join, Raft),
    /// not only node certificates (proves tests/it/security.rs catches it).
    #[arg(long, hide = true)]
    unsafe_any_peer_certificate: bool,
    /// BROKEN ON PURPOSE: SQL sessions may do what superusers may, whatever was granted, and
    /// etcd users read and write keys outside their permissions (proves tests/it/security.rs
    /// catches it).
    #[arg(long, hide = true)]
    unsafe_skip_privilege_checks: bool,
    /// BROKEN ON PURPOSE: with --encryption-key-file, keys are checked but values are stored
    /// unsealed (proves tests/it/security.rs's look at the data files catches it).
    #[arg(long, hide = true)]
    unsafe_encryption_plaintext: bool,
    /// Encrypt the store at rest with this key (32 bytes, or 64 hex digits; make one with
    /// `atoll cert create-encryption-key`): values, the Raft log's entries and received
    /// snapshots are sealed with AES-256-GCM. Chosen when the store is created; every start
    /// after needs the key.
    #[arg(long, value_name = "FILE")]
    encryption_key_file: Option<PathBuf>,
    /// The store's previous key, to rotate to --encryption-key-file: start once with both,
    /// after which only the new key opens the store.
    #[arg(long, value_name = "FILE", requires = "encryption_key_file")]
    old_encryption_key_file: Option<PathBuf>,
    /// Send a ReadIndex round for every linearizable read, even on a leader that holds a
    /// lease (for comparison; the lease is safe and faster).
    #[arg(long)]
    no_leader_lease: bool,
    /// Keep a range's leader where it is, instead of moving it to the node that sends most of
    /// the range's requests.
    #[arg(long)]
    no_leader_follows_load: bool,
    /// The storage engine's block cache, in MiB.
    #[arg(long, default_value_t = 256)]
    cache_size_mb: u64,
    /// Seconds of MVCC history kept readable (AS OF a revision, etcd reads at a revision, SQL
    /// snapshots); older versions are compacted and deleted in the background. 0: keep all
    /// history until an etcd Compact.
    #[arg(long, default_value_t = 600)]
    mvcc_retention_secs: u64,
    /// Send rate of one range snapshot to a lagging or new replica, in MiB/s (0: unlimited).
    /// Lower it to leave more disk and network to clients while replicas catch up.
    #[arg(long, default_value_t = atoll_types::limits::SNAPSHOT_RATE_BYTES_PER_SECOND / (1024 * 1024))]
    snapshot_rate_mb: u64,
    /// Memory all SQL statements of the node may hold together (joins, sorts, aggregates,
    /// results), in MiB; a statement that needs more fails with 53200 out_of_memory.
    #[arg(long, default_value_t = 2048)]
    sql_memory_mb: usize,
    /// Memory one SQL statement may hold, in MiB (at most --sql-memory-mb), so that one query
    /// cannot take the memory of all the others.
    #[arg(long, default_value_t = 1024)]
    sql_query_memory_mb: usize,
    /// SQL client connections served at once; one more is refused with 53300 (too many
    /// clients), as PostgreSQL past max_connections.
    #[arg(long, default_value_t = 500)]
    sql_max_connections: usize,
    /// Largest peer frame (a batch of Raft messages) sent or accepted, in bytes. Snapshots are
    /// streamed in chunks and do not count against it. For tests of large snapshots.
    #[arg(long, hide = true, default_value_t = atoll_types::limits::PEER_MESSAGE_BYTES_MAX)]
    peer_message_bytes_max: usize,
    /// Applied Raft log entries kept before truncation (for tests that need snapshots soon).
    #[arg(long, hide = true, default_value_t = atoll_types::limits::RAFT_LOG_ENTRIES_KEPT)]
    raft_log_entries_kept: u64,
    /// Entries a leader keeps beyond that for a lagging follower before it needs a snapshot.
    #[arg(long, hide = true, default_value_t = atoll_types::limits::RAFT_LOG_LAG_ENTRIES_MAX)]
    raft_log_lag_entries_max: u64,
    /// Bytes of log a leader keeps for a lagging follower before it needs a snapshot.
    #[arg(long, hide = true, default_value_t = atoll_types::limits::RAFT_LOG_LAG_BYTES_MAX)]
    raft_log_lag_bytes_max: u64,
    /// Seconds a new cluster's first range waits before the etcd and SQL keyspaces split into
    /// two ranges (for tests of a node that misses the split).
    #[arg(long, hide = true, default_value_t = 0)]
    keyspace_split_delay_secs: u64,
    /// A node not heard from for this many seconds is dead: its replicas are re-created on live
    /// nodes (when there are any that hold none).
    #[arg(long, default_value_t = 300)]
    dead_after_secs: u64,
}

impl StartArgs {
    fn config(&self) -> Result<NodeConfig, String> {
        let certs = match &self.certs_dir {
            Some(dir) => Some(atoll_security::NodeCerts::load(dir).map_err(|e| format!("certificates: {e}"))?),
            None => None,
        };
        Ok(NodeConfig {
            data_dir: self.data_dir.clone(),
            peer_listen: self.peer_addr,
            etcd_listen: self.etcd_addr,
            http_listen: self.http_addr,
            sql_listen: self.sql_addr,
            sql_advertise: self.advertise_sql_addr.clone(),
            peer_advertise: self.advertise_peer_addr.clone(),
            etcd_advertise: self.advertise_etcd_addr.clone(),
            http_advertise: None,
            join: self.join.clone(),
            name: self.name.clone(),
            fault_injection: self.enable_fault_injection,
            join_timeout: Duration::from_secs(self.join_timeout_secs),
            unsafe_stale_reads: self.unsafe_stale_reads,
            leader_lease: !self.no_leader_lease,
            leader_follows_load: !self.no_leader_follows_load,
            unsafe_timeless_lease: self.unsafe_timeless_lease,
            cache_bytes: self.cache_size_mb.saturating_mul(1024 * 1024),
            mvcc_retention: (self.mvcc_retention_secs > 0).then(|| Duration::from_secs(self.mvcc_retention_secs)),
            peer_message_bytes_max: self.peer_message_bytes_max,
            snapshot_rate_bytes_per_second: self.snapshot_rate_mb.saturating_mul(1024 * 1024),
            sql_limits: atoll_server::SqlLimits {
                memory_bytes: self.sql_memory_mb.saturating_mul(1024 * 1024),
                query_memory_bytes: self.sql_query_memory_mb.min(self.sql_memory_mb).saturating_mul(1024 * 1024),
                connections_max: self.sql_max_connections,
                unsafe_ignore_interrupts: self.unsafe_ignore_statement_interrupts,
                unsafe_skip_privilege_checks: self.unsafe_skip_privilege_checks,
            },
            raft_log_entries_kept: self.raft_log_entries_kept.max(2),
            raft_log_lag_entries_max: self.raft_log_lag_entries_max,
            raft_log_lag_bytes_max: self.raft_log_lag_bytes_max,
            unsafe_snapshot_drop_history: self.unsafe_snapshot_drop_history,
            keyspace_split_delay: Duration::from_secs(self.keyspace_split_delay_secs),
            dead_after: Duration::from_secs(self.dead_after_secs.max(1)),
            certs,
            unsafe_any_peer_certificate: self.unsafe_any_peer_certificate,
            encryption_key_file: self.encryption_key_file.clone(),
            old_encryption_key_file: self.old_encryption_key_file.clone(),
            unsafe_encryption_plaintext: self.unsafe_encryption_plaintext,
        })
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("ATOLL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,h2=warn,tower=warn,hyper=warn,tonic=warn"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
}

async fn shutdown_signal() {
    let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(signal) => signal,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        _ = terminate.recv() => {},
    }
}

async fn start(args: StartArgs) -> Result<(), String> {
    if args.unsafe_timeless_lease {
        tracing::warn!("UNSAFE: the leader's lease ignores the clock and may serve stale reads (test-only switch)");
    }
    if args.unsafe_snapshot_drop_history {
        tracing::warn!(
            "UNSAFE: snapshots sent leave out the data, replicas caught up by them lose writes (test-only switch)"
        );
    }
    if args.unsafe_encryption_plaintext {
        tracing::warn!("UNSAFE: values are stored unencrypted although a key was given (test-only switch)");
    }
    if args.unsafe_skip_privilege_checks {
        tracing::warn!(
            "UNSAFE: SQL sessions skip every privilege check, etcd requests every key permission check (test-only \
             switch)"
        );
    }
    if args.unsafe_ignore_statement_interrupts {
        tracing::warn!("UNSAFE: SQL statements ignore timeouts, cancel requests and disconnects (test-only switch)");
    }
    if args.unsafe_stale_reads {
        tracing::warn!("UNSAFE: linearizable reads skip ReadIndex and may return stale data (test-only switch)");
    }
    if args.unsafe_any_peer_certificate {
        tracing::warn!(
            "UNSAFE: any certificate of the cluster CA may join nodes and send Raft messages (test-only switch)"
        );
    }
    if args.enable_fault_injection {
        tracing::warn!(
            "fault injection endpoints are ENABLED: anyone reaching the HTTP port can cut this node's links"
        );
    }
    let config = args.config()?;
    match &config.certs {
        Some(certs) => tracing::info!(certs_dir = %certs.dir().display(), hosts = ?certs.hosts, "secure: TLS on every port"),
        None => tracing::warn!(
            "running in insecure mode (--insecure): no TLS and no authentication; anyone who reaches a port can read and write everything (local development only)"
        ),
    }
    let node = Node::start(config).await.map_err(|e| e.to_string())?;
    node.run_until(shutdown_signal()).await.map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    // Statements are planned and run on these threads: sized so no statement within
    // STATEMENT_DEPTH_MAX can overflow them (an overflow aborts the node).
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(atoll_types::limits::RUNTIME_THREAD_STACK_BYTES)
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Start(args) => start(*args).await,
            Command::Cert { command } => cert::run(command),
            Command::Demo(args) => demo::run(args).await,
            Command::Sql(args) => sql::main(args).await,
            Command::Chaos(args) => chaos::run(args).await,
            Command::Node { command } => admin::node(command).await,
            Command::Range { command } => admin::range(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
