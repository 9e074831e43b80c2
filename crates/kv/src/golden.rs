//! Golden-script tests of the KV state machine (toydb's goldenscript idea, with a tiny runner).
//!
//! Each `testscripts/*.script` file is a scenario: a comment saying what it proves, then one
//! command per line. The runner applies the commands to a bootstrapped [`KvStateMachine`] on a
//! memory engine and writes a transcript (each command followed by its indented output). The
//! transcript must equal the `.golden` file next to the script. To accept new output after a
//! deliberate change, run `UPDATE_GOLDEN=1 cargo test -p atoll-kv golden` and review the diff.
//!
//! Commands:
//! * `put KEY VALUE`, `del KEY [END]`, `cas KEY EXPECTED NEW` (a Txn comparing the value),
//!   `compact REV`: write commands, applied at the next log index;
//! * `get KEY [@REV]`, `range START END [@REV] [limit=N] [desc]`: reads through `View::range`
//!   (`END` `-` means "to the end of the key space");
//! * `restore`: snapshot the state machine and continue on a fresh engine restored from it.

use crate::state_machine::{KvStateMachine, RangeShared};
use atoll_proto::atoll::{command, command_result, Command, CommandResult, NodeInfo};
use atoll_proto::etcdserverpb::{
    compare, range_request, request_op, response_op, CompactionRequest, Compare, DeleteRangeRequest, PutRequest,
    RangeRequest, RequestOp, TxnRequest,
};
use atoll_proto::Message;
use atoll_replication::StateMachine;
use atoll_storage::{Engine, MemoryEngine, WriteBatch};
use atoll_types::RangeId;
use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;

struct Runner {
    engine: Arc<dyn Engine>,
    shared: Arc<RangeShared>,
    machine: KvStateMachine,
    index: u64,
}

impl Runner {
    fn new() -> Runner {
        let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
        let mut batch = WriteBatch::new();
        let first = NodeInfo { node_id: 1, peer_addr: "n1".into(), ..Default::default() };
        KvStateMachine::bootstrap(&mut batch, RangeId(1), &first);
        engine.write(batch, false).expect("bootstrap");
        Runner::open(engine)
    }

    fn open(engine: Arc<dyn Engine>) -> Runner {
        let shared = Arc::new(RangeShared::default());
        let machine = KvStateMachine::open(engine.clone(), RangeId(1), shared.clone()).expect("open");
        let index = machine.applied_index();
        Runner { engine, shared, machine, index }
    }

    fn apply(&mut self, kind: command::Kind) -> CommandResult {
        self.index += 1;
        let bytes = Command { kind: Some(kind) }.encode_to_vec();
        self.machine.apply(self.index, &bytes).expect("apply is not fatal")
    }

    fn txn(&mut self, compare: Vec<Compare>, op: request_op::Request) -> String {
        let request = TxnRequest { compare, success: vec![RequestOp { request: Some(op) }], failure: vec![] };
        match self.apply(command::Kind::Txn(request)).kind {
            Some(command_result::Kind::Txn(response)) => {
                let revision = response.header.map_or(0, |h| h.revision);
                let detail = match response.responses.first().and_then(|r| r.response.as_ref()) {
                    Some(response_op::Response::ResponseDeleteRange(d)) => format!(" deleted={}", d.deleted),
                    _ => String::new(),
                };
                format!("ok rev={revision} succeeded={}{detail}", response.succeeded)
            }
            Some(command_result::Kind::Error(e)) => format!("error code={} {}", e.code, e.message),
            other => format!("unexpected {other:?}"),
        }
    }

    fn read(&self, request: RangeRequest) -> String {
        match self.shared.view(self.engine.as_ref()).range(&request) {
            Err(e) => format!("error {e}"),
            Ok(response) if response.kvs.is_empty() => {
                format!("(none) rev={}", response.header.map_or(0, |h| h.revision))
            }
            Ok(response) => {
                let mut out = String::new();
                for kv in &response.kvs {
                    let _ = writeln!(
                        out,
                        "{}={} create={} mod={} ver={}",
                        String::from_utf8_lossy(&kv.key),
                        String::from_utf8_lossy(&kv.value),
                        kv.create_revision,
                        kv.mod_revision,
                        kv.version
                    );
                }
                let _ = write!(
                    out,
                    "count={} more={} rev={}",
                    response.count,
                    response.more,
                    response.header.map_or(0, |h| h.revision)
                );
                out
            }
        }
    }

    fn run(&mut self, line: &str) -> String {
        let words: Vec<&str> = line.split_whitespace().collect();
        let revision = words.iter().find_map(|w| w.strip_prefix('@')).and_then(|r| r.parse().ok()).unwrap_or(0);
        let limit = words.iter().find_map(|w| w.strip_prefix("limit=")).and_then(|r| r.parse().ok()).unwrap_or(0);
        let arg = |i: usize| words.get(i).map(|w| w.as_bytes().to_vec()).unwrap_or_default();
        match words.first().copied() {
            Some("put") => self.txn(
                vec![],
                request_op::Request::RequestPut(PutRequest { key: arg(1), value: arg(2), ..Default::default() }),
            ),
            Some("del") => {
                let range_end = match words.get(2) {
                    Some(&"-") => vec![0],
                    Some(end) => end.as_bytes().to_vec(),
                    None => vec![],
                };
                self.txn(
                    vec![],
                    request_op::Request::RequestDeleteRange(DeleteRangeRequest {
                        key: arg(1),
                        range_end,
                        prev_kv: false,
                    }),
                )
            }
            Some("cas") => {
                let compare = Compare {
                    result: compare::CompareResult::Equal as i32,
                    target: compare::CompareTarget::Value as i32,
                    key: arg(1),
                    range_end: vec![],
                    target_union: Some(compare::TargetUnion::Value(arg(2))),
                };
                self.txn(
                    vec![compare],
                    request_op::Request::RequestPut(PutRequest { key: arg(1), value: arg(3), ..Default::default() }),
                )
            }
            Some("compact") => {
                let revision = words.get(1).and_then(|r| r.parse().ok()).unwrap_or(0);
                match self.apply(command::Kind::Compact(CompactionRequest { revision, physical: false })).kind {
                    Some(command_result::Kind::Compact(_)) => "ok".into(),
                    Some(command_result::Kind::Error(e)) => format!("error code={} {}", e.code, e.message),
                    other => format!("unexpected {other:?}"),
                }
            }
            Some("get") => self.read(RangeRequest { key: arg(1), revision, ..Default::default() }),
            Some("range") => {
                let range_end = if words.get(2) == Some(&"-") { vec![0] } else { arg(2) };
                let sort_order = if words.contains(&"desc") { range_request::SortOrder::Descend as i32 } else { 0 };
                self.read(RangeRequest { key: arg(1), range_end, revision, limit, sort_order, ..Default::default() })
            }
            Some("restore") => {
                let mut fresh = Runner::open(Arc::new(MemoryEngine::new()));
                let engine = fresh.engine.clone();
                crate::snapshot::must_install(
                    self.machine.snapshot().expect("snapshot"),
                    &mut fresh.machine,
                    engine.as_ref(),
                    self.index,
                    &[1],
                    64,
                );
                fresh.index = self.index;
                *self = fresh;
                format!("restored at index {}", self.index)
            }
            _ => format!("unknown command: {line}"),
        }
    }
}

fn transcript(script: &str) -> String {
    let mut runner = Runner::new();
    let mut out = String::new();
    for line in script.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        out.push_str(trimmed);
        out.push('\n');
        for result_line in runner.run(trimmed).lines() {
            out.push_str("  ");
            out.push_str(result_line);
            out.push('\n');
        }
    }
    out
}

#[test]
fn golden_scripts() {
    // The directory cargo names when it runs the test, not the one the binary was built in:
    // a target dir shared by two checkouts (CI's cache) may hold a binary built in the other.
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
    let dir = Path::new(&manifest_dir).join("testscripts");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut scripts: Vec<_> = std::fs::read_dir(&dir)
        .expect("testscripts directory")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "script"))
        .collect();
    scripts.sort();
    assert!(!scripts.is_empty(), "no scripts in {}", dir.display());
    let mut mismatches = Vec::new();
    for script in scripts {
        let actual = transcript(&std::fs::read_to_string(&script).expect("read script"));
        let golden = script.with_extension("golden");
        if update {
            std::fs::write(&golden, &actual).expect("write golden");
            continue;
        }
        let expected = std::fs::read_to_string(&golden).unwrap_or_default();
        if expected != actual {
            mismatches.push(format!("{}:\n--- expected\n{expected}\n--- actual\n{actual}", golden.display()));
        }
    }
    assert!(mismatches.is_empty(), "golden mismatch (UPDATE_GOLDEN=1 to accept):\n{}", mismatches.join("\n"));
}
