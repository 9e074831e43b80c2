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

/// Largest Raft message batch a peer may send us in one frame (the default of
/// `atoll start --peer-message-bytes-max`). It must hold the largest Raft entry
/// ([`INTERNAL_TXN_BYTES_MAX`]) with room to spare; snapshots do not count against it, since
/// they travel as a stream of [`SNAPSHOT_CHUNK_BYTES_MAX`] chunks.
pub const PEER_MESSAGE_BYTES_MAX: usize = 256 * 1024 * 1024;

/// Bytes of range state in one snapshot chunk: large enough that per-chunk costs (a gRPC
/// frame, a CRC, a file write) vanish, small enough that a sender and a receiver each hold
/// only a few of them in memory whatever the range's size.
pub const SNAPSHOT_CHUNK_BYTES_MAX: usize = 1024 * 1024;

/// Largest snapshot chunk a receiver accepts: a chunk ends with the pair that reaches
/// [`SNAPSHOT_CHUNK_BYTES_MAX`], and no pair is larger than one Raft entry.
pub const SNAPSHOT_CHUNK_FRAME_BYTES_MAX: usize = SNAPSHOT_CHUNK_BYTES_MAX + INTERNAL_TXN_BYTES_MAX;

/// Chunks queued between the thread that reads a snapshot from the engine and the stream that
/// sends it: a little read-ahead, and the memory bound of one outgoing snapshot.
pub const SNAPSHOT_CHUNKS_IN_FLIGHT_MAX: usize = 4;

/// Snapshots one node sends at a time. Each reads the engine and uses the network for up to a
/// minute; two let two lagging replicas catch up at once without starving foreground traffic
/// (CockroachDB sends one per store by default).
pub const SNAPSHOT_SENDS_MAX: usize = 2;

/// Snapshots one node receives at a time; a sender over the limit is refused and tries again.
pub const SNAPSHOT_RECEIVES_MAX: usize = 2;

/// Default send rate of snapshots, per snapshot (`atoll start --snapshot-rate-mb`). 32 MiB/s
/// as CockroachDB's default: a 2 GiB range moves in about a minute, and on a shared 2-core
/// machine foreground writes keep most of the disk and the CPU.
pub const SNAPSHOT_RATE_BYTES_PER_SECOND: u64 = 32 * 1024 * 1024;

/// Largest snapshot a node accepts. A range is meant to split long before this (64 MiB by
/// default once splits exist); the bound keeps a confused or hostile peer from filling the disk.
pub const SNAPSHOT_BYTES_MAX: u64 = 64 * 1024 * 1024 * 1024;

/// A snapshot stream that moves no chunk for this long is abandoned by both sides, so a dead
/// peer never holds a send or receive slot for ever.
pub const SNAPSHOT_STALL_TIMEOUT_SECONDS: u64 = 30;

/// Bytes of writes per batch while a received snapshot is installed (off the store loop):
/// each batch is one fjall batch, so this bounds the memory the install holds at once. Each
/// batch is also synced: left to the end, hundreds of MiB of dirty pages flush at once and
/// every fsync on the disk (the Raft state of every node on it) waits seconds behind them,
/// long enough for elections (seen in `scripts/bench-catchup.sh`).
pub const SNAPSHOT_APPLY_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// A received snapshot file is synced every this many bytes, for the same reason.
pub const SNAPSHOT_FILE_SYNC_BYTES: u64 = 8 * 1024 * 1024;

/// Raft messages queued for one peer before new ones are dropped (Raft retransmits).
pub const PEER_QUEUE_MESSAGES_MAX: usize = 4096;

/// Requests waiting for the store loop before callers get "too many requests".
pub const STORE_INBOX_MAX: usize = 65536;

/// Bytes of log entries per Raft append message: big enough to amortise per-message cost, small
/// enough to keep a lagging follower's catch-up messages well under the peer frame limit.
pub const RAFT_MESSAGE_ENTRIES_BYTES_MAX: u64 = 1024 * 1024;

/// Appends in flight to one follower before the leader waits for acknowledgements.
pub const RAFT_INFLIGHT_MESSAGES_MAX: usize = 256;

/// Applied log entries kept before the log is truncated (`atoll start --raft-log-entries-kept`);
/// the log is then cut to half of this behind the applied index, unless a follower still
/// needs the entries (below).
pub const RAFT_LOG_ENTRIES_KEPT: u64 = 10_000;

/// How much more log a leader keeps for a lagging follower beyond [`RAFT_LOG_ENTRIES_KEPT`],
/// in entries and in bytes (`--raft-log-lag-entries-max`, `--raft-log-lag-bytes-max`).
/// Sending up to 64 MiB of entries is cheaper than a snapshot of a range of any real size, and
/// the log lives in memory, so beyond that the follower gets a snapshot (TiKV's
/// `raft-log-gc-size-limit` plays the same role).
pub const RAFT_LOG_LAG_ENTRIES_MAX: u64 = 200_000;

/// See [`RAFT_LOG_LAG_ENTRIES_MAX`].
pub const RAFT_LOG_LAG_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// A follower that was just sent a snapshot needs the log written since: cut it and the
/// follower needs another snapshot, which under load is again overtaken (found by
/// `scripts/bench-catchup.sh`). So a leader keeps up to as many bytes of log as its last
/// snapshot of the range had, when that is more than `--raft-log-lag-bytes-max`, and never
/// more than this (the log lives in memory).
pub const RAFT_LOG_CATCH_UP_BYTES_MAX: u64 = 1024 * 1024 * 1024;

/// Proposals one store loop iteration takes from its inbox before it persists, so one
/// iteration's write batch (and its latency) stays bounded under load.
pub const STORE_ITERATION_REQUESTS_MAX: usize = 4096;

/// Deepest tree a SQL statement may parse into (`atoll_sql::depth` bounds it from the tokens
/// before parsing; deeper gets 54001). Parsing, planning, `Clone` and `Drop` of the tree
/// recurse once per level, so this and [`RUNTIME_THREAD_STACK_BYTES`] go together:
/// `tests/it/hostile.rs` runs 99 990 nested parentheses on the debug build. Operator chains
/// near the limit were not run to the end (planning them is quadratic, see issue 19).
pub const STATEMENT_DEPTH_MAX: usize = 100_000;

/// Stack of every thread of the node's async runtime, where statements are parsed, planned
/// and run. Virtual memory: only what a deep statement touches becomes resident. A stack
/// overflow aborts the process, so this is sized for [`STATEMENT_DEPTH_MAX`].
pub const RUNTIME_THREAD_STACK_BYTES: usize = 1024 * 1024 * 1024;
