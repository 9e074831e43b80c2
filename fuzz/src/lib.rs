//! The fuzz targets' bodies, one function each (the files in fuzz_targets/ only hand them
//! libFuzzer's input), with what they share: a fresh range state machine on a memory engine
//! and the length-prefixed input format of `kv_apply` and `peer_input`.
//!
//! The test command replays every kept corpus input through these same functions
//! (tests/it/fuzz_corpus.rs includes this file), so an input that once passed keeps passing.

pub mod seeds;

use atoll_kv::{KvStateMachine, RangeShared};
use atoll_proto::atoll::{command, Command, NodeInfo};
use atoll_proto::atoll::{command_result, CommandResult};
use atoll_proto::etcdserverpb::{
    request_op, response_op, CompactionRequest, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, ResponseOp,
    TxnRequest,
};
use atoll_replication::StateMachine as _;
use atoll_storage::{Engine, MemoryEngine, WriteBatch};
use atoll_types::RangeId;
use prost::Message as _;
use std::sync::Arc;

/// The range every target runs.
pub const RANGE: RangeId = RangeId(1);

/// The Raft index `peer_input` installs its snapshots at (past the bootstrap's).
pub const SNAPSHOT_INDEX: u64 = 1_000;

/// A bootstrapped, opened first range on a memory engine.
pub fn fresh_range() -> (Arc<dyn Engine>, Arc<RangeShared>, KvStateMachine) {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut batch = WriteBatch::new();
    let node = NodeInfo { node_id: 1, peer_addr: "127.0.0.1:1".into(), name: "fuzz".into(), ..Default::default() };
    KvStateMachine::bootstrap(&mut batch, RANGE, &node);
    engine.write(batch, false).expect("bootstrap batch");
    let shared = Arc::new(RangeShared::default());
    let machine = KvStateMachine::open(engine.clone(), RANGE, shared.clone()).expect("open the range");
    (engine, shared, machine)
}

/// Splits an input into parts: each is a big-endian u16 length and that many bytes (the last
/// one takes what is left).
pub fn commands(mut input: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while input.len() >= 2 {
        let length = usize::from(u16::from_be_bytes([input[0], input[1]]));
        let rest = &input[2..];
        let (command, tail) = rest.split_at(length.min(rest.len()));
        out.push(command);
        input = tail;
    }
    out
}

/// Joins parts into one input (for the seed corpora).
pub fn join(commands: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for command in commands {
        let length = u16::try_from(command.len()).expect("a seed part fits 64 KiB");
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(command);
    }
    out
}

/// Whether `command` is a split whose new range id already has state in `engine`.
fn names_a_range_in_use(engine: &dyn Engine, command: &[u8]) -> bool {
    let Ok(Command { kind: Some(command::Kind::Split(split)) }) = Command::decode(command) else {
        return false;
    };
    let id = RangeId(split.new_range_id);
    let has_state = atoll_kv::state::AppliedState::load(engine, id).map(|state| state.is_some()).unwrap_or(true);
    has_state
        || atoll_replication::raft_storage::RaftStorage::<KvStateMachine>::list_ranges(engine)
            .map_or(true, |ranges| ranges.contains(&id))
}

fn read_everything(engine: &dyn Engine, shared: &RangeShared) {
    let everything = RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    let _ = shared.read(engine, &everything);
}

/// `kv_apply`: any sequence of Raft commands applied to a range. The state machine answers
/// each (an error result is fine) and never panics or reports a fatal error, which would stop
/// the node; reads afterwards answer too. One command is left out by design: a split that
/// names a range id which already has state here. Ids come from `AllocateRangeId`, once each,
/// so only a broken invariant leads there, and the node stops on it (`atoll_kv::split`).
pub fn kv_apply(input: &[u8]) {
    let (engine, shared, mut machine) = fresh_range();
    let mut index = machine.applied_index();
    for command in commands(input) {
        if names_a_range_in_use(engine.as_ref(), command) {
            continue;
        }
        index += 1;
        if let Err(fatal) = machine.apply(index, command) {
            panic!("a command stopped the node: {fatal:?}");
        }
    }
    read_everything(engine.as_ref(), &shared);
}

/// The first byte of every SQL key.
const RESERVED: u8 = atoll_sql::encoding::SQL_PREFIX;

/// A SQL row, which no etcd request may read, change or delete.
const SQL_KEY: &[u8] = &[RESERVED, b't', 1, b'r', b'o', b'w'];
const SQL_VALUE: &[u8] = b"sql";

/// The etcd methods `etcd_request` reads, picked by the input's first byte.
pub const ETCD_METHODS: u8 = 5;

/// `etcd_request`: what an etcd client sends, read as the etcd API reads it: the first byte
/// picks the method (Range, Put, DeleteRange, Txn, Compact), the rest is its protobuf, decoded
/// by prost as tonic decodes it. What decodes is confined to the etcd keyspace as the API
/// confines it (`atoll_server::etcd_keyspace`), then served by a range that holds a SQL row: it
/// gets an answer or an error, never a panic or a fatal error; no answer shows the SQL row, and
/// the row is there, unchanged, afterwards.
pub fn etcd_request(input: &[u8]) {
    use atoll_server::etcd_keyspace as keyspace;
    let Some((&method, body)) = input.split_first() else { return };
    let (engine, shared, mut machine) = range_with_a_sql_row();
    let mut index = machine.applied_index();
    let kind = match method % ETCD_METHODS {
        0 => {
            let Ok(mut request) = RangeRequest::decode(body) else { return };
            keyspace::range(&mut request);
            if let Ok(response) = shared.read(engine.as_ref(), &request) {
                assert!(response.kvs.iter().all(|kv| kv.key.first() != Some(&RESERVED)), "a read showed SQL");
            }
            None
        }
        1 => PutRequest::decode(body).ok().filter(|put| keyspace::put(&put.key).is_ok()).map(|put| {
            command::Kind::Txn(TxnRequest {
                success: vec![RequestOp { request: Some(request_op::Request::RequestPut(put)) }],
                ..Default::default()
            })
        }),
        2 => DeleteRangeRequest::decode(body).ok().map(|mut delete| {
            keyspace::delete_range(&mut delete);
            command::Kind::Txn(TxnRequest {
                success: vec![RequestOp { request: Some(request_op::Request::RequestDeleteRange(delete)) }],
                ..Default::default()
            })
        }),
        3 => TxnRequest::decode(body)
            .ok()
            .and_then(|mut txn| keyspace::txn(&mut txn).ok().map(|()| command::Kind::Txn(txn))),
        _ => CompactionRequest::decode(body).ok().map(command::Kind::Compact),
    };
    if let Some(kind) = kind {
        index += 1;
        let result: CommandResult = match machine.apply(index, &Command { kind: Some(kind) }.encode_to_vec()) {
            Ok(result) => result,
            Err(fatal) => panic!("an etcd request stopped the node: {fatal:?}"),
        };
        if let Some(command_result::Kind::Txn(response)) = &result.kind {
            assert!(!shows_reserved(&response.responses), "a Txn showed SQL: {response:?}");
        }
    }
    let row = RangeRequest { key: SQL_KEY.to_vec(), ..Default::default() };
    let kvs = shared.read(engine.as_ref(), &row).expect("the SQL row reads").kvs;
    assert!(kvs.len() == 1 && kvs[0].value == SQL_VALUE, "an etcd request changed the SQL row: {kvs:?}");
}

/// A fresh range holding one SQL row (`SQL_KEY`), written as SQL writes.
pub fn range_with_a_sql_row() -> (Arc<dyn Engine>, Arc<RangeShared>, KvStateMachine) {
    let (engine, shared, mut machine) = fresh_range();
    let put = PutRequest { key: SQL_KEY.to_vec(), value: SQL_VALUE.to_vec(), ..Default::default() };
    let row = TxnRequest {
        success: vec![RequestOp { request: Some(request_op::Request::RequestPut(put)) }],
        ..Default::default()
    };
    let command = Command { kind: Some(command::Kind::InternalTxn(row)) }.encode_to_vec();
    let index = machine.applied_index() + 1;
    let result = machine.apply(index, &command).expect("the SQL row is written");
    assert!(matches!(result.kind, Some(command_result::Kind::Txn(_))), "{result:?}");
    (engine, shared, machine)
}

/// Whether a Txn's answers, nested ones included, hold a reserved key.
fn shows_reserved(responses: &[ResponseOp]) -> bool {
    responses.iter().any(|each| match &each.response {
        Some(response_op::Response::ResponseRange(range)) => {
            range.kvs.iter().any(|kv| kv.key.first() == Some(&RESERVED))
        }
        Some(response_op::Response::ResponseDeleteRange(delete)) => {
            delete.prev_kvs.iter().any(|kv| kv.key.first() == Some(&RESERVED))
        }
        Some(response_op::Response::ResponsePut(put)) => {
            put.prev_kv.as_ref().is_some_and(|kv| kv.key.first() == Some(&RESERVED))
        }
        Some(response_op::Response::ResponseTxn(txn)) => shows_reserved(&txn.responses),
        None => false,
    })
}

/// `sql_input`: what a SQL client sends before any data is touched: statement text
/// (tokenized, bounded in depth, parsed, its AND/OR chains rebalanced, its plan cost checked;
/// each query that passes is planned down to a physical plan over a table `t (a, b, c)`) and
/// numeric values in text and binary. None of it may panic, and planning must end (libFuzzer's
/// timeout catches one that takes too long); a binary numeric that decodes must encode back to
/// the same value, and a text numeric that parses must survive the same round trip.
pub fn sql_input(input: &[u8]) {
    if let Ok(text) = std::str::from_utf8(input) {
        for statement in atoll_sql::session::parse(text).unwrap_or_default() {
            let _ = futures::executor::block_on(atoll_sql::session::plan_detached(&statement));
        }
        if let Ok((value, scale)) = atoll_sql::numeric::parse(text) {
            let again = atoll_sql::numeric::decode(&atoll_sql::numeric::encode(value, scale));
            assert_eq!(again.ok(), Some((value, scale)), "text numeric {text:?}");
        }
    }
    if let Ok((value, scale)) = atoll_sql::numeric::decode(input) {
        let again = atoll_sql::numeric::decode(&atoll_sql::numeric::encode(value, scale));
        assert_eq!(again.ok(), Some((value, scale)), "binary numeric {input:?}");
    }
}

/// `pgwire_decode`: bytes as a SQL client's stream, read as a connection reads them (a startup
/// message, then typed messages, each cut by its length, checked by `atoll_sql::frame`, then
/// decoded by pgwire). With the checks in front, pgwire must never panic.
pub fn pgwire_decode(input: &[u8]) {
    let _ = atoll_sql::frame::decode_stream(input);
}

/// `peer_input`: what another node sends. The first byte picks the message:
/// - even: a Raft batch as the `Raft` stream carries it (prost), each envelope's message as
///   raft-rs decodes it (rust-protobuf), and the same bytes as a snapshot chunk and a join;
///   none may panic;
/// - odd: a snapshot's chunks (length-prefixed, see [`commands`]) as the receiver checks them
///   (`atoll_kv::snapshot::SnapshotCheck`). A snapshot the check passes must then install on a
///   fresh range through a real snapshot file and open again without a fatal error: the
///   install stops the node on what it cannot take, so the check must refuse all of it.
pub fn peer_input(input: &[u8]) {
    use atoll_proto::atoll::{JoinRequest, RaftBatch, SnapshotChunk};
    use atoll_replication::raft::eraftpb::Message as RaftMessage;
    use prost::Message as _;
    use protobuf::Message as _;
    let Some((&mode, rest)) = input.split_first() else { return };
    if mode % 2 == 0 {
        if let Ok(batch) = RaftBatch::decode(rest) {
            for envelope in batch.messages {
                let _ = RaftMessage::parse_from_bytes(&envelope.message);
            }
        }
        if let Ok(chunk) = SnapshotChunk::decode(rest) {
            let _ = RaftMessage::parse_from_bytes(&chunk.raft_message);
        }
        let _ = JoinRequest::decode(rest);
        return;
    }
    let mut check = atoll_kv::snapshot::SnapshotCheck::new(RANGE);
    let chunks = commands(rest);
    for chunk in &chunks {
        if check.chunk(chunk).is_err() {
            return;
        }
    }
    if check.finish(SNAPSHOT_INDEX).is_err() {
        return;
    }
    install(&chunks);
}

/// Installs checked chunks on a fresh range as a receiving node does; panics on any failure.
fn install(chunks: &[&[u8]]) {
    use atoll_replication::snapshot::SnapshotFiles;
    // On tmpfs when there is one: each file is synced, and the fuzzer installs thousands.
    let shm = std::path::Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() }.expect("tempdir");
    let files = SnapshotFiles::open(dir.path().join("snapshots"), None).expect("snapshot dir");
    let mut writer = files.create().expect("snapshot file");
    for chunk in chunks {
        writer.write_chunk(chunk).expect("a checked chunk fits a snapshot file");
    }
    let path = files.path(writer.finish().expect("finish the snapshot file"));
    let (engine, shared, mut machine) = fresh_range();
    let mut batch = WriteBatch::new();
    machine.begin_restore(SNAPSHOT_INDEX, &[1, 2, 3], &path, &mut batch).expect("begin restore");
    engine.write(batch, true).expect("write the marker");
    let (index, job) = machine.pending_restore().expect("read the marker").expect("a pending restore");
    assert_eq!(index, SNAPSHOT_INDEX);
    if let Err(fatal) = job.run(&|_| {}) {
        panic!("a checked snapshot stopped the node while installing: {fatal:?}");
    }
    if let Err(fatal) = machine.finish_restore() {
        panic!("a checked snapshot stopped the node after installing: {fatal:?}");
    }
    assert_eq!(machine.applied_index(), SNAPSHOT_INDEX);
    let mut reopened = match KvStateMachine::open(engine.clone(), RANGE, shared.clone()) {
        Ok(machine) => machine,
        Err(error) => panic!("a checked snapshot leaves a range that does not open: {error:?}"),
    };
    read_everything(engine.as_ref(), &shared);
    // The range goes on: the next write applies (an error answer is fine, a fatal one is not).
    let put = PutRequest { key: b"after".to_vec(), value: b"v".to_vec(), ..Default::default() };
    let txn = TxnRequest {
        success: vec![RequestOp { request: Some(request_op::Request::RequestPut(put)) }],
        ..Default::default()
    };
    let command = Command { kind: Some(command::Kind::Txn(txn)) };
    if let Err(fatal) = reopened.apply(SNAPSHOT_INDEX + 1, &prost::Message::encode_to_vec(&command)) {
        panic!("a write after a checked snapshot stopped the node: {fatal:?}");
    }
    read_everything(engine.as_ref(), &shared);
}
