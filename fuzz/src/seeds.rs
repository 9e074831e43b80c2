//! The seed inputs of `kv_apply`, `peer_input` and `etcd_request`: for `kv_apply`, short
//! sequences of the commands a range applies in practice; for `peer_input`, Raft batches and
//! real snapshots of a range, cut into chunks as a sender cuts them; for `etcd_request`, each
//! etcd method once. All encoded as the node encodes them, so that
//! the fuzzer starts from valid protobuf and mutates toward the corners. The test command runs
//! them through their targets; `ATOLL_FUZZ_WRITE_SEEDS=1` makes it write them to
//! fuzz/corpus/<target>/seed-NN (tests/it/fuzz_corpus.rs), where they are kept.

use atoll_proto::atoll::{command, AbortStaged, Command, CommitStaged, NodeInfo, SplitRange, StagedPart};
use atoll_proto::etcdserverpb::{
    compare, request_op, CompactionRequest, Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest,
};
use prost::Message;

fn encode(kind: command::Kind) -> Vec<u8> {
    Command { kind: Some(kind) }.encode_to_vec()
}

fn op(request: request_op::Request) -> RequestOp {
    RequestOp { request: Some(request) }
}

fn put(key: &[u8], value: &[u8]) -> RequestOp {
    op(request_op::Request::RequestPut(PutRequest {
        key: key.to_vec(),
        value: value.to_vec(),
        prev_kv: true,
        ..Default::default()
    }))
}

fn txn(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
    TxnRequest { compare, success, failure }
}

fn delete(key: &[u8], end: &[u8], prev_kv: bool) -> RequestOp {
    op(request_op::Request::RequestDeleteRange(DeleteRangeRequest {
        key: key.to_vec(),
        range_end: end.to_vec(),
        prev_kv,
    }))
}

/// Part 0 of staged transaction 7: a put of `key`, never expiring.
fn stage(key: &[u8]) -> command::Kind {
    command::Kind::Stage(StagedPart {
        txn_id: 7,
        seq: 0,
        part: Some(txn(vec![], vec![put(key, b"x")], vec![])),
        expires_unix_ms: i64::MAX,
    })
}

/// Raft batches of real messages (mode byte 0), and snapshots of a range with history, staged
/// parts and two members in chunks of several sizes (mode byte 1).
pub fn peer_input() -> Vec<Vec<u8>> {
    use atoll_proto::atoll::{RaftBatch, RaftEnvelope};
    use atoll_replication::raft::eraftpb::{Entry, Message as RaftMessage, MessageType};
    use atoll_replication::StateMachine as _;
    use protobuf::Message as _;
    let mut append = RaftMessage::default();
    append.set_msg_type(MessageType::MsgAppend);
    (append.from, append.to, append.term, append.index, append.log_term, append.commit) = (1, 2, 3, 10, 3, 9);
    let mut entry = Entry::default();
    (entry.term, entry.index) = (3, 11);
    entry.data = encode(command::Kind::Txn(txn(vec![], vec![put(b"a", b"1")], vec![]))).into();
    append.entries.push(entry);
    let mut heartbeat = RaftMessage::default();
    heartbeat.set_msg_type(MessageType::MsgHeartbeat);
    (heartbeat.from, heartbeat.to, heartbeat.term, heartbeat.commit) = (1, 2, 3, 11);
    let envelope = |message: &RaftMessage| RaftEnvelope {
        range_id: 1,
        message: message.write_to_bytes().expect("encode a raft message"),
    };
    let batch = RaftBatch { from_node_id: 1, to_node_id: 2, messages: vec![envelope(&append), envelope(&heartbeat)] };
    let mut seeds = vec![[vec![0], batch.encode_to_vec()].concat()];

    let (_, _, mut machine) = super::fresh_range();
    let mut index = machine.applied_index();
    let mut apply = |kind: command::Kind| {
        index += 1;
        machine.apply(index, &encode(kind)).expect("apply a seed command");
    };
    apply(command::Kind::Txn(txn(vec![], vec![put(b"a", b"1"), put(b"b", b"2")], vec![])));
    apply(command::Kind::Txn(txn(vec![], vec![put(b"a", b"3")], vec![])));
    apply(command::Kind::Txn(txn(vec![], vec![delete(b"b", b"", false)], vec![])));
    apply(stage(b"s"));
    apply(command::Kind::RegisterNode(NodeInfo { peer_addr: "127.0.0.1:2".into(), ..Default::default() }));
    for chunk_bytes in [40, 200, 1 << 20] {
        let mut reader = machine.snapshot().expect("snapshot");
        let mut chunks = Vec::new();
        while let Some(chunk) = reader.next_chunk(chunk_bytes).expect("chunk") {
            chunks.push(chunk);
        }
        seeds.push([vec![1], super::join(&chunks)].concat());
    }
    seeds
}

/// Sequences of commands, each joined into one input.
pub fn kv_apply() -> Vec<Vec<u8>> {
    let value_is = |key: &[u8], value: &[u8]| Compare {
        key: key.to_vec(),
        result: compare::CompareResult::Equal as i32,
        target: compare::CompareTarget::Value as i32,
        target_union: Some(compare::TargetUnion::Value(value.to_vec())),
        ..Default::default()
    };
    let range = |key: &[u8], end: &[u8]| {
        op(request_op::Request::RequestRange(RangeRequest {
            key: key.to_vec(),
            range_end: end.to_vec(),
            ..Default::default()
        }))
    };
    let seeds: Vec<Vec<Vec<u8>>> = vec![
        vec![encode(command::Kind::Txn(txn(vec![], vec![put(b"a", b"1")], vec![])))],
        vec![
            encode(command::Kind::Txn(txn(vec![], vec![put(b"a", b"1"), put(b"b", b"2")], vec![]))),
            encode(command::Kind::Txn(txn(
                vec![value_is(b"a", b"1")],
                vec![delete(b"a", b"c", true)],
                vec![range(b"a", &[0])],
            ))),
            encode(command::Kind::Compact(CompactionRequest { revision: 2, physical: false })),
        ],
        vec![encode(command::Kind::Txn(txn(
            vec![],
            vec![op(request_op::Request::RequestTxn(txn(vec![value_is(b"k", b"")], vec![put(b"k", b"v")], vec![])))],
            vec![],
        )))],
        vec![
            encode(command::Kind::InternalTxn(txn(
                vec![],
                vec![put(b"\xfft\x00", b"row"), put(b"\xffc\x00", b"{}")],
                vec![],
            ))),
            encode(stage(b"s1")),
            encode(command::Kind::CommitStaged(CommitStaged {
                txn_id: 7,
                parts: 1,
                last: Some(txn(vec![], vec![put(b"s2", b"y")], vec![])),
            })),
            encode(command::Kind::AbortStaged(AbortStaged { txn_id: 8, expired_before_unix_ms: 1 })),
        ],
        vec![encode(command::Kind::RegisterNode(NodeInfo {
            node_id: 0,
            peer_addr: "127.0.0.1:2".into(),
            name: "n2".into(),
            ..Default::default()
        }))],
        vec![
            vec![0xff, 0x00, 0x12],
            encode(command::Kind::Compact(CompactionRequest { revision: 1 << 40, physical: true })),
        ],
        // A split, then writes on both sides of it (the right-hand side is refused).
        vec![
            encode(command::Kind::Txn(txn(vec![], vec![put(b"a", b"1"), put(b"x", b"2")], vec![]))),
            encode(command::Kind::AllocateRangeId(Default::default())),
            encode(command::Kind::Split(SplitRange {
                split_key: b"m".to_vec(),
                new_range_id: 2,
                expected_generation: 1,
            })),
            encode(command::Kind::Txn(txn(vec![], vec![put(b"b", b"3")], vec![range(b"a", &[0])]))),
            encode(command::Kind::Txn(txn(vec![], vec![put(b"y", b"4")], vec![]))),
        ],
    ];
    seeds.iter().map(|seed| super::join(seed)).collect()
}

/// `etcd_request`: each method once, inside the etcd keyspace and reaching for SQL's.
pub fn etcd_request() -> Vec<Vec<u8>> {
    let everything = || RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() };
    let with_method = |method: u8, body: Vec<u8>| [vec![method], body].concat();
    let reach = |key: &[u8]| RangeRequest { key: key.to_vec(), ..Default::default() };
    vec![
        with_method(0, everything().encode_to_vec()),
        with_method(0, reach(b"\xfft\x01row").encode_to_vec()),
        with_method(
            1,
            PutRequest { key: b"a".to_vec(), value: b"1".to_vec(), prev_kv: true, ..Default::default() }
                .encode_to_vec(),
        ),
        with_method(
            1,
            PutRequest { key: b"\xfft\x01row".to_vec(), value: b"x".to_vec(), ..Default::default() }.encode_to_vec(),
        ),
        with_method(2, DeleteRangeRequest { key: vec![0], range_end: vec![0], prev_kv: true }.encode_to_vec()),
        with_method(
            3,
            txn(
                vec![],
                vec![
                    put(b"b", b"2"),
                    op(request_op::Request::RequestRange(everything())),
                    op(request_op::Request::RequestTxn(txn(vec![], vec![delete(&[0], &[0], true)], vec![]))),
                ],
                vec![],
            )
            .encode_to_vec(),
        ),
        with_method(4, CompactionRequest { revision: 2, physical: true }.encode_to_vec()),
    ]
}
