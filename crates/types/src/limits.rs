//! Limits on everything that grows. Each value says why it is what it is.

/// Largest etcd request we accept, as etcd's default `--max-request-bytes` (1.5 MiB), so that
/// clients see the same "request is too large" error at the same size.
pub const REQUEST_BYTES_MAX: usize = 1536 * 1024;

/// gRPC message size the etcd API server decodes: the request limit plus room for framing, as
/// etcd does (it allows a little over the request limit at the transport).
pub const GRPC_MESSAGE_BYTES_MAX: usize = REQUEST_BYTES_MAX + 512 * 1024;

/// Most operations in one etcd Txn, as etcd's default `--max-txn-ops`.
pub const TXN_OPS_MAX: usize = 128;

/// Operations in one Txn proposed from inside a node (a SQL transaction's commit): compares
/// and writes each. The encoded command must also stay under [`INTERNAL_TXN_BYTES_MAX`].
pub const INTERNAL_TXN_OPS_MAX: usize = 1 << 20;

/// Encoded size of one internal Txn: it is one Raft entry, sent to every replica in one message.
pub const INTERNAL_TXN_BYTES_MAX: usize = 64 * 1024 * 1024;

/// Encoded size of one staged part of a large commit (`StagedPart`). A commit larger than
/// this goes to the range in parts, each one Raft entry, so no entry is large: a follower
/// receives it in a few append messages and the store loop never encodes one huge message.
pub const STAGED_PART_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Encoded size of one staged commit, all parts together. The state machine decodes every part
/// in memory to apply them as one batch; 512 MiB holds pgbench's scale-10 load (1 M rows, about
/// 130 MB) and its re-keying by ADD PRIMARY KEY (about 300 MB) with room to spare.
pub const STAGED_TXN_BYTES_MAX: usize = 512 * 1024 * 1024;

/// Compares and writes of one staged commit, each (bounded in bytes as well, above).
pub const STAGED_TXN_OPS_MAX: usize = 8 << 20;

/// Parts of one staged commit: [`STAGED_TXN_BYTES_MAX`] in parts of [`STAGED_PART_BYTES_MAX`],
/// with room for parts that end early at an operation boundary.
pub const STAGED_TXN_PARTS_MAX: u32 = 4 * (STAGED_TXN_BYTES_MAX / STAGED_PART_BYTES_MAX) as u32;

/// How long staged parts wait for their commit before any node may drop them. Staging the
/// largest commit takes well under a minute; a gateway that died mid-commit leaves garbage for
/// at most this long.
pub const STAGED_TXN_TTL_MS: i64 = 10 * 60 * 1000;

/// Largest Raft message batch a peer may send us in one frame. A snapshot of the single range
/// travels in one message today, so this also bounds the snapshot size (see architecture.md).
pub const PEER_MESSAGE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Raft messages queued for one peer before new ones are dropped (Raft retransmits).
pub const PEER_QUEUE_MESSAGES_MAX: usize = 4096;

/// Requests waiting for the store loop before callers get "too many requests".
pub const STORE_INBOX_MAX: usize = 65536;

/// Bytes of log entries per Raft append message: big enough to amortise per-message cost, small
/// enough to keep a lagging follower's catch-up messages well under the peer frame limit.
pub const RAFT_MESSAGE_ENTRIES_BYTES_MAX: u64 = 1024 * 1024;

/// Appends in flight to one follower before the leader waits for acknowledgements.
pub const RAFT_INFLIGHT_MESSAGES_MAX: usize = 256;

/// Applied log entries kept before the log is truncated; followers further behind get a snapshot.
pub const RAFT_LOG_ENTRIES_KEPT: u64 = 10_000;

/// Proposals one store loop iteration takes from its inbox before it persists, so one
/// iteration's write batch (and its latency) stays bounded under load.
pub const STORE_ITERATION_REQUESTS_MAX: usize = 4096;
