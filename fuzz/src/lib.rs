//! What the fuzz targets share: a fresh range state machine on a memory engine, and the input
//! format of `kv_apply` (length-prefixed Raft commands).

use atoll_kv::{KvStateMachine, RangeShared};
use atoll_proto::atoll::NodeInfo;
use atoll_storage::{Engine, MemoryEngine, WriteBatch};
use atoll_types::RangeId;
use std::sync::Arc;

/// The range every target runs.
pub const RANGE: RangeId = RangeId(1);

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

/// Splits `kv_apply`'s input into commands: each is a big-endian u16 length and that many
/// bytes (the last one takes what is left).
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

/// Joins commands into one `kv_apply` input (for the seed corpus).
pub fn join(commands: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for command in commands {
        let length = u16::try_from(command.len()).expect("a seed command fits 64 KiB");
        out.extend_from_slice(&length.to_be_bytes());
        out.extend_from_slice(command);
    }
    out
}
