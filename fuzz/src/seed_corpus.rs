//! Writes the seed corpus of `kv_apply` (corpus/kv_apply/): short sequences of the commands a
//! range applies in practice, encoded as the node encodes them, so that the fuzzer starts from
//! valid protobuf and mutates toward the corners. Run by ../scripts/fuzz.sh when the folder is
//! empty; the files are kept in the repository.

use atoll_proto::atoll::{command, AbortStaged, Command, CommitStaged, NodeInfo, StagedPart};
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

fn main() {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "corpus/kv_apply".into());
    std::fs::create_dir_all(&dir).expect("corpus folder");
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
    let delete = |key: &[u8], end: &[u8]| {
        op(request_op::Request::RequestDeleteRange(DeleteRangeRequest {
            key: key.to_vec(),
            range_end: end.to_vec(),
            prev_kv: true,
        }))
    };
    let seeds: Vec<Vec<Vec<u8>>> = vec![
        vec![encode(command::Kind::Txn(txn(vec![], vec![put(b"a", b"1")], vec![])))],
        vec![
            encode(command::Kind::Txn(txn(vec![], vec![put(b"a", b"1"), put(b"b", b"2")], vec![]))),
            encode(command::Kind::Txn(txn(
                vec![value_is(b"a", b"1")],
                vec![delete(b"a", b"c")],
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
            encode(command::Kind::Stage(StagedPart {
                txn_id: 7,
                seq: 0,
                part: Some(txn(vec![], vec![put(b"s1", b"x")], vec![])),
                expires_unix_ms: i64::MAX,
            })),
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
    ];
    for (i, seed) in seeds.iter().enumerate() {
        std::fs::write(format!("{dir}/seed-{i:02}"), atoll_fuzz::join(seed)).expect("write seed");
    }
    println!("{} seeds written to {dir}", seeds.len());
}
