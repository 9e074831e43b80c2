//! Tests of the KV state machine: etcd revision semantics of Put, DeleteRange, Txn and Range,
//! compaction, node registration, snapshots, and rejection of bad commands.

use super::*;
use crate::error::messages;
use atoll_proto::atoll::{CommitStaged, StagedPart};
use atoll_proto::etcdserverpb::{
    compare, range_request, request_op, response_op, Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest,
    PutResponse, RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse,
};
use atoll_proto::mvccpb::KeyValue;
use atoll_storage::MemoryEngine;
use atoll_types::keys::prefix_end;
use std::ops::Bound;

const RANGE: RangeId = RangeId(1);

/// A state machine on a memory engine, with the handle readers use.
struct Fixture {
    engine: Arc<dyn Engine>,
    shared: Arc<RangeShared>,
    sm: KvStateMachine,
    index: u64,
}

fn node(node_id: u64, peer_addr: &str) -> NodeInfo {
    NodeInfo { node_id, peer_addr: peer_addr.into(), name: format!("node-{peer_addr}"), ..Default::default() }
}

fn first_node() -> NodeInfo {
    node(1, "10.0.0.1:7000")
}

/// A fresh engine holding the bootstrapped first range, opened.
fn must_bootstrap() -> Fixture {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut batch = WriteBatch::new();
    KvStateMachine::bootstrap(&mut batch, RANGE, &first_node());
    engine.write(batch, false).expect("write bootstrap batch");
    must_open(engine)
}

/// Opens the range on `engine` with a new shared handle.
fn must_open(engine: Arc<dyn Engine>) -> Fixture {
    let shared = Arc::new(RangeShared::default());
    let sm = KvStateMachine::open(engine.clone(), RANGE, shared.clone()).expect("open state machine");
    let index = sm.applied_index();
    Fixture { engine, shared, sm, index }
}

impl Fixture {
    /// Applies raw command bytes at the next index.
    fn apply_bytes(&mut self, bytes: &[u8]) -> CommandResult {
        self.index += 1;
        self.sm.apply(self.index, bytes).expect("apply must not be fatal")
    }

    fn apply(&mut self, kind: command::Kind) -> CommandResult {
        self.apply_bytes(&Command { kind: Some(kind) }.encode_to_vec())
    }

    fn must_txn(&mut self, request: TxnRequest) -> TxnResponse {
        match self.apply(command::Kind::Txn(request)).kind {
            Some(command_result::Kind::Txn(response)) => response,
            other => panic!("expected a Txn response, got {other:?}"),
        }
    }

    /// Applies a Txn that must be rejected, and returns the rejection.
    fn must_txn_error(&mut self, request: TxnRequest) -> CommandError {
        must_error(self.apply(command::Kind::Txn(request)))
    }

    fn must_put_request(&mut self, put: PutRequest) -> PutResponse {
        let response = self.must_txn(TxnRequest { success: vec![put_op(put)], ..Default::default() });
        match single_response(response) {
            response_op::Response::ResponsePut(put) => put,
            other => panic!("expected a Put response, got {other:?}"),
        }
    }

    fn must_put(&mut self, key: &str, value: &str) -> PutResponse {
        self.must_put_request(put(key, value))
    }

    fn must_delete_request(&mut self, delete: DeleteRangeRequest) -> DeleteRangeResponse {
        let op = RequestOp { request: Some(request_op::Request::RequestDeleteRange(delete)) };
        let response = self.must_txn(TxnRequest { success: vec![op], ..Default::default() });
        match single_response(response) {
            response_op::Response::ResponseDeleteRange(delete) => delete,
            other => panic!("expected a DeleteRange response, got {other:?}"),
        }
    }

    fn must_delete(&mut self, key: &str) -> DeleteRangeResponse {
        self.must_delete_request(DeleteRangeRequest { key: key.into(), ..Default::default() })
    }

    fn range(&self, request: &RangeRequest) -> Result<RangeResponse> {
        self.shared.view(self.engine.as_ref()).range(request)
    }

    fn must_range(&self, request: &RangeRequest) -> RangeResponse {
        self.range(request).expect("range")
    }

    /// The current version of `key`, as a linearizable Range sees it.
    fn must_get(&self, key: &str) -> Option<KeyValue> {
        let response = self.must_range(&RangeRequest { key: key.into(), ..Default::default() });
        assert!(response.kvs.len() <= 1, "a single-key range returned {} keys", response.kvs.len());
        response.kvs.into_iter().next()
    }

    fn revision(&self) -> i64 {
        self.shared.revision()
    }
}

fn must_error(result: CommandResult) -> CommandError {
    match result.kind {
        Some(command_result::Kind::Error(error)) => error,
        other => panic!("expected an error result, got {other:?}"),
    }
}

fn single_response(response: TxnResponse) -> response_op::Response {
    assert_eq!(response.responses.len(), 1, "responses: {:?}", response.responses);
    response.responses.into_iter().next().and_then(|op| op.response).expect("a response")
}

fn put(key: &str, value: &str) -> PutRequest {
    PutRequest { key: key.into(), value: value.into(), ..Default::default() }
}

fn put_op(put: PutRequest) -> RequestOp {
    RequestOp { request: Some(request_op::Request::RequestPut(put)) }
}

fn range_op(range: RangeRequest) -> RequestOp {
    RequestOp { request: Some(request_op::Request::RequestRange(range)) }
}

fn prefix_range(prefix: &str) -> RangeRequest {
    RangeRequest { key: prefix.into(), range_end: prefix_end(prefix.as_bytes()), ..Default::default() }
}

fn keys(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter().map(|kv| String::from_utf8_lossy(&kv.key).into_owned()).collect()
}

fn values(kvs: &[KeyValue]) -> Vec<String> {
    kvs.iter().map(|kv| String::from_utf8_lossy(&kv.value).into_owned()).collect()
}

fn header_revision(header: Option<ResponseHeader>) -> i64 {
    header.expect("response header").revision
}

fn compare(key: &str, result: compare::CompareResult, target: compare::TargetUnion) -> Compare {
    let target_kind = match target {
        compare::TargetUnion::Version(_) => compare::CompareTarget::Version,
        compare::TargetUnion::CreateRevision(_) => compare::CompareTarget::Create,
        compare::TargetUnion::ModRevision(_) => compare::CompareTarget::Mod,
        compare::TargetUnion::Value(_) => compare::CompareTarget::Value,
        compare::TargetUnion::Lease(_) => compare::CompareTarget::Lease,
    };
    Compare {
        result: result as i32,
        target: target_kind as i32,
        key: key.into(),
        range_end: vec![],
        target_union: Some(target),
    }
}

/// A Txn with one compare that puts `branch=success` or `branch=failure`.
fn branching_txn(compare: Compare) -> TxnRequest {
    TxnRequest {
        compare: vec![compare],
        success: vec![put_op(put("branch", "success"))],
        failure: vec![put_op(put("branch", "failure"))],
    }
}

/// Runs `compare` against the fixture and says which branch ran, checking that the response
/// agrees with what was written.
fn must_branch(fx: &mut Fixture, compare: Compare) -> bool {
    let response = fx.must_txn(branching_txn(compare));
    let written = fx.must_get("branch").map(|kv| kv.value);
    let expected = if response.succeeded { "success" } else { "failure" };
    assert_eq!(written, Some(expected.as_bytes().to_vec()));
    response.succeeded
}

// ---- revisions and key metadata ----

#[test]
fn bootstrapped_range_starts_at_revision_one_with_no_keys() {
    let fx = must_bootstrap();
    assert_eq!(fx.revision(), 1);
    let response = fx.must_range(&RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() });
    assert_eq!(header_revision(response.header), 1);
    assert!(response.kvs.is_empty());
    assert_eq!(response.count, 0);
}

#[test]
fn each_put_bumps_the_revision_by_one() {
    let mut fx = must_bootstrap();
    for expected in 2..=5 {
        let response = fx.must_put("k", &format!("v{expected}"));
        assert_eq!(header_revision(response.header), expected);
        assert_eq!(fx.revision(), expected);
    }
}

#[test]
fn key_metadata_follows_put_put_delete_put() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "a"); // revision 2
    let kv = fx.must_get("k").expect("k after first put");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));

    fx.must_put("k", "b"); // revision 3
    let kv = fx.must_get("k").expect("k after second put");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
    assert_eq!(kv.value, b"b");

    let deleted = fx.must_delete("k"); // revision 4
    assert_eq!(deleted.deleted, 1);
    assert_eq!(fx.revision(), 4);
    assert_eq!(fx.must_get("k"), None);

    fx.must_put("k", "c"); // revision 5: a new generation of the key
    let kv = fx.must_get("k").expect("k after re-creation");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
}

#[test]
fn put_with_prev_kv_returns_the_previous_version() {
    let mut fx = must_bootstrap();
    let first = fx.must_put_request(PutRequest { prev_kv: true, ..put("k", "old") });
    assert_eq!(first.prev_kv, None, "no previous version of a new key");

    let second = fx.must_put_request(PutRequest { prev_kv: true, ..put("k", "new") });
    let prev = second.prev_kv.expect("previous version");
    assert_eq!(prev.value, b"old");
    assert_eq!((prev.mod_revision, prev.version), (2, 1));
}

#[test]
fn put_without_prev_kv_returns_no_previous_version() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "old");
    assert_eq!(fx.must_put("k", "new").prev_kv, None);
}

#[test]
fn put_ignore_value_on_missing_key_is_rejected_without_bumping_the_revision() {
    let mut fx = must_bootstrap();
    fx.must_put("other", "x");
    let request = TxnRequest {
        success: vec![put_op(PutRequest { key: "missing".into(), ignore_value: true, ..Default::default() })],
        ..Default::default()
    };
    let error = fx.must_txn_error(request);
    assert_eq!(error.code, 3);
    assert_eq!(error.message, messages::KEY_NOT_FOUND);
    assert_eq!(fx.revision(), 2);
    assert_eq!(fx.must_get("missing"), None);
    assert_eq!(fx.sm.applied_index(), fx.index, "a rejected command is still applied");
}

#[test]
fn put_ignore_value_keeps_the_stored_value() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "kept");
    fx.must_put_request(PutRequest { key: "k".into(), ignore_value: true, ..Default::default() });
    let kv = fx.must_get("k").expect("k");
    assert_eq!(kv.value, b"kept");
    assert_eq!((kv.mod_revision, kv.version), (3, 2));
}

// ---- DeleteRange ----

#[test]
fn delete_range_over_a_prefix_returns_deleted_count_and_prev_kvs() {
    let mut fx = must_bootstrap();
    fx.must_put("app/a", "1");
    fx.must_put("app/b", "2");
    fx.must_put("apple", "outside");
    fx.must_put("b", "outside");
    let response = fx.must_delete_request(DeleteRangeRequest {
        key: "app/".into(),
        range_end: prefix_end(b"app/"),
        prev_kv: true,
    });
    assert_eq!(response.deleted, 2);
    assert_eq!(keys(&response.prev_kvs), ["app/a", "app/b"]);
    assert_eq!(values(&response.prev_kvs), ["1", "2"]);
    assert_eq!(header_revision(response.header), 6);
    let left = fx.must_range(&RangeRequest { key: vec![0], range_end: vec![0], ..Default::default() });
    assert_eq!(keys(&left.kvs), ["apple", "b"]);
}

#[test]
fn delete_range_without_prev_kv_returns_only_the_count() {
    let mut fx = must_bootstrap();
    fx.must_put("p/a", "1");
    fx.must_put("p/b", "2");
    let response =
        fx.must_delete_request(DeleteRangeRequest { key: "p/".into(), range_end: prefix_end(b"p/"), prev_kv: false });
    assert_eq!(response.deleted, 2);
    assert!(response.prev_kvs.is_empty());
}

#[test]
fn delete_range_that_deletes_nothing_does_not_bump_the_revision() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    let response = fx.must_delete_request(DeleteRangeRequest {
        key: "nothing/".into(),
        range_end: prefix_end(b"nothing/"),
        prev_kv: true,
    });
    assert_eq!(response.deleted, 0);
    assert_eq!(header_revision(response.header), 2);
    assert_eq!(fx.revision(), 2);
}

#[test]
fn deleting_an_already_deleted_key_does_not_bump_the_revision() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    fx.must_delete("k");
    assert_eq!(fx.must_delete("k").deleted, 0);
    assert_eq!(fx.revision(), 3);
}

// ---- Txn compares ----

#[test]
fn txn_value_equal_takes_the_success_branch_when_the_value_matches() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v1");
    let value = |v: &str| compare::TargetUnion::Value(v.into());
    assert!(must_branch(&mut fx, compare("k", compare::CompareResult::Equal, value("v1"))));
    assert!(!must_branch(&mut fx, compare("k", compare::CompareResult::Equal, value("v2"))));
}

#[test]
fn txn_value_greater_less_and_not_equal_compare_bytes() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "m");
    let value = |v: &str| compare::TargetUnion::Value(v.into());
    use compare::CompareResult::{Greater, Less, NotEqual};
    assert!(must_branch(&mut fx, compare("k", Greater, value("a"))));
    assert!(!must_branch(&mut fx, compare("k", Greater, value("z"))));
    assert!(must_branch(&mut fx, compare("k", Less, value("z"))));
    assert!(!must_branch(&mut fx, compare("k", Less, value("m"))));
    assert!(must_branch(&mut fx, compare("k", NotEqual, value("x"))));
    assert!(!must_branch(&mut fx, compare("k", NotEqual, value("m"))));
}

#[test]
fn txn_value_compare_on_a_missing_key_is_false() {
    let mut fx = must_bootstrap();
    let value = compare::TargetUnion::Value(vec![]);
    assert!(!must_branch(&mut fx, compare("missing", compare::CompareResult::Equal, value.clone())));
    assert!(!must_branch(&mut fx, compare("missing", compare::CompareResult::NotEqual, value)));
}

#[test]
fn txn_version_compares_count_puts() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "1");
    fx.must_put("k", "2");
    let version = compare::TargetUnion::Version;
    use compare::CompareResult::{Equal, Greater, Less};
    assert!(must_branch(&mut fx, compare("k", Equal, version(2))));
    assert!(must_branch(&mut fx, compare("k", Greater, version(1))));
    assert!(!must_branch(&mut fx, compare("k", Greater, version(2))));
    assert!(!must_branch(&mut fx, compare("k", Less, version(2))));
}

#[test]
fn txn_version_equal_zero_is_create_if_absent() {
    let mut fx = must_bootstrap();
    let absent = || compare("k", compare::CompareResult::Equal, compare::TargetUnion::Version(0));
    let create = |value: &str| TxnRequest {
        compare: vec![absent()],
        success: vec![put_op(put("k", value))],
        failure: vec![range_op(RangeRequest { key: "k".into(), ..Default::default() })],
    };
    assert!(fx.must_txn(create("first")).succeeded);
    let second = fx.must_txn(create("second"));
    assert!(!second.succeeded);
    match single_response(second) {
        response_op::Response::ResponseRange(range) => assert_eq!(values(&range.kvs), ["first"]),
        other => panic!("expected a Range response, got {other:?}"),
    }
    assert_eq!(fx.must_get("k").map(|kv| kv.value), Some(b"first".to_vec()));
}

#[test]
fn txn_create_revision_compares() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "1"); // created at 2
    fx.must_put("k", "2"); // still created at 2
    let create = compare::TargetUnion::CreateRevision;
    use compare::CompareResult::{Equal, Greater, Less};
    assert!(must_branch(&mut fx, compare("k", Equal, create(2))));
    assert!(must_branch(&mut fx, compare("k", Less, create(3))));
    assert!(!must_branch(&mut fx, compare("k", Less, create(2))));
    assert!(!must_branch(&mut fx, compare("k", Greater, create(2))));
}

#[test]
fn txn_mod_revision_compares() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "1"); // 2
    fx.must_put("k", "2"); // 3
    let modified = compare::TargetUnion::ModRevision;
    use compare::CompareResult::{Equal, Greater, Less, NotEqual};
    assert!(must_branch(&mut fx, compare("k", Equal, modified(3))));
    assert!(!must_branch(&mut fx, compare("k", Equal, modified(2))));
    assert!(must_branch(&mut fx, compare("k", NotEqual, modified(2))));
    assert!(!must_branch(&mut fx, compare("k", NotEqual, modified(3))));
    assert!(must_branch(&mut fx, compare("k", Greater, modified(2))));
    assert!(must_branch(&mut fx, compare("k", Less, modified(4))));
}

#[test]
fn txn_compare_over_a_range_must_hold_for_every_key() {
    let mut fx = must_bootstrap();
    fx.must_put("p/a", "1"); // 2
    fx.must_put("p/b", "2"); // 3
    let below = |revision: i64| Compare {
        range_end: prefix_end(b"p/"),
        ..compare("p/", compare::CompareResult::Less, compare::TargetUnion::ModRevision(revision))
    };
    assert!(must_branch(&mut fx, below(4)));
    assert!(!must_branch(&mut fx, below(3)), "p/b was modified at 3");
}

#[test]
fn txn_failure_branch_without_writes_does_not_bump_the_revision() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    let response = fx.must_txn(TxnRequest {
        compare: vec![compare("k", compare::CompareResult::Equal, compare::TargetUnion::Value("other".into()))],
        success: vec![put_op(put("k", "changed"))],
        failure: vec![range_op(RangeRequest { key: "k".into(), ..Default::default() })],
    });
    assert!(!response.succeeded);
    assert_eq!(header_revision(response.header), 2);
    assert_eq!(fx.revision(), 2);
    assert_eq!(fx.must_get("k").map(|kv| kv.value), Some(b"v".to_vec()));
}

#[test]
fn txn_writes_share_one_revision() {
    let mut fx = must_bootstrap();
    let response =
        fx.must_txn(TxnRequest { success: vec![put_op(put("a", "1")), put_op(put("b", "2"))], ..Default::default() });
    assert_eq!(header_revision(response.header), 2);
    assert_eq!(fx.must_get("a").map(|kv| kv.mod_revision), Some(2));
    assert_eq!(fx.must_get("b").map(|kv| kv.mod_revision), Some(2));
}

#[test]
fn txn_range_after_put_in_the_same_txn_sees_the_put() {
    let mut fx = must_bootstrap();
    fx.must_put("p/old", "1");
    let response = fx.must_txn(TxnRequest {
        success: vec![put_op(put("p/new", "2")), range_op(prefix_range("p/"))],
        ..Default::default()
    });
    assert_eq!(header_revision(response.header), 3);
    let range = match response.responses.into_iter().nth(1).and_then(|op| op.response) {
        Some(response_op::Response::ResponseRange(range)) => range,
        other => panic!("expected a Range response, got {other:?}"),
    };
    assert_eq!(keys(&range.kvs), ["p/new", "p/old"]);
    assert_eq!(range.count, 2);
    let new = &range.kvs[0];
    assert_eq!((new.create_revision, new.mod_revision, new.version), (3, 3, 1));
}

#[test]
fn txn_with_the_same_key_put_twice_is_rejected() {
    let mut fx = must_bootstrap();
    let error = fx.must_txn_error(TxnRequest {
        success: vec![put_op(put("k", "1")), put_op(put("k", "2"))],
        ..Default::default()
    });
    assert_eq!(error.code, 3);
    assert_eq!(error.message, messages::DUPLICATE_KEY);
    assert_eq!(fx.revision(), 1);
    assert_eq!(fx.must_get("k"), None);
}

#[test]
fn txn_may_put_the_same_key_in_success_and_failure() {
    let mut fx = must_bootstrap();
    let response = fx.must_txn(TxnRequest {
        compare: vec![],
        success: vec![put_op(put("k", "success"))],
        failure: vec![put_op(put("k", "failure"))],
    });
    assert!(response.succeeded);
    assert_eq!(fx.must_get("k").map(|kv| kv.value), Some(b"success".to_vec()));
}

#[test]
fn txn_with_a_key_put_in_a_nested_txn_and_its_parent_is_rejected() {
    let mut fx = must_bootstrap();
    let nested = TxnRequest { success: vec![put_op(put("k", "inner"))], ..Default::default() };
    let error = fx.must_txn_error(TxnRequest {
        success: vec![put_op(put("k", "outer")), RequestOp { request: Some(request_op::Request::RequestTxn(nested)) }],
        ..Default::default()
    });
    assert_eq!(error.message, messages::DUPLICATE_KEY);
    assert_eq!(fx.revision(), 1);
}

// ---- Range ----

#[test]
fn range_at_an_old_revision_sees_the_values_of_then() {
    let mut fx = must_bootstrap();
    fx.must_put("a", "a2"); // 2
    fx.must_put("b", "b3"); // 3
    fx.must_put("a", "a4"); // 4
    fx.must_delete("b"); // 5
    let at = |revision: i64| RangeRequest { key: vec![0], range_end: vec![0], revision, ..Default::default() };
    assert_eq!(values(&fx.must_range(&at(1)).kvs), Vec::<String>::new());
    assert_eq!(values(&fx.must_range(&at(2)).kvs), ["a2"]);
    assert_eq!(values(&fx.must_range(&at(3)).kvs), ["a2", "b3"]);
    assert_eq!(values(&fx.must_range(&at(4)).kvs), ["a4", "b3"]);
    assert_eq!(values(&fx.must_range(&at(5)).kvs), ["a4"]);
    let old = fx.must_range(&RangeRequest { key: "a".into(), revision: 3, ..Default::default() });
    assert_eq!(header_revision(old.header), 5, "the header carries the current revision");
    assert_eq!(old.kvs[0].mod_revision, 2);
}

/// Puts `p/a`..`p/e` at revisions 2..=6, plus a key outside the prefix.
fn must_five_keys() -> Fixture {
    let mut fx = must_bootstrap();
    for key in ["p/a", "p/b", "p/c", "p/d", "p/e"] {
        fx.must_put(key, &format!("value of {key}"));
    }
    fx.must_put("q", "outside");
    fx
}

#[test]
fn range_with_limit_reports_more_and_the_full_count() {
    let fx = must_five_keys();
    let response = fx.must_range(&RangeRequest { limit: 2, ..prefix_range("p/") });
    assert_eq!(keys(&response.kvs), ["p/a", "p/b"]);
    assert!(response.more);
    assert_eq!(response.count, 5);
}

#[test]
fn range_with_limit_covering_every_key_has_no_more() {
    let fx = must_five_keys();
    let response = fx.must_range(&RangeRequest { limit: 5, ..prefix_range("p/") });
    assert_eq!(response.kvs.len(), 5);
    assert!(!response.more);
    assert_eq!(response.count, 5);
}

#[test]
fn range_count_only_returns_the_count_without_keys() {
    let fx = must_five_keys();
    let response = fx.must_range(&RangeRequest { count_only: true, ..prefix_range("p/") });
    assert!(response.kvs.is_empty());
    assert_eq!(response.count, 5);
    assert!(!response.more);
}

#[test]
fn range_keys_only_returns_keys_without_values() {
    let fx = must_five_keys();
    let response = fx.must_range(&RangeRequest { keys_only: true, ..prefix_range("p/") });
    assert_eq!(keys(&response.kvs), ["p/a", "p/b", "p/c", "p/d", "p/e"]);
    assert!(response.kvs.iter().all(|kv| kv.value.is_empty()), "{:?}", response.kvs);
    assert_eq!(response.kvs[2].mod_revision, 4, "metadata is still returned");
}

#[test]
fn range_sorted_by_key_descending_with_limit() {
    let fx = must_five_keys();
    let response = fx.must_range(&RangeRequest {
        sort_order: range_request::SortOrder::Descend as i32,
        sort_target: range_request::SortTarget::Key as i32,
        limit: 3,
        ..prefix_range("p/")
    });
    assert_eq!(keys(&response.kvs), ["p/e", "p/d", "p/c"]);
    assert!(response.more);
    assert_eq!(response.count, 5);
}

#[test]
fn range_sorted_by_key_descending_skips_deleted_and_overwritten_versions() {
    let mut fx = must_five_keys();
    fx.must_delete("p/e");
    fx.must_put("p/b", "rewritten");
    let response =
        fx.must_range(&RangeRequest { sort_order: range_request::SortOrder::Descend as i32, ..prefix_range("p/") });
    assert_eq!(keys(&response.kvs), ["p/d", "p/c", "p/b", "p/a"]);
    assert_eq!(response.kvs[2].value, b"rewritten");
}

#[test]
fn range_sorted_by_mod_revision() {
    let mut fx = must_five_keys();
    fx.must_put("p/c", "newest"); // 8
    fx.must_put("p/a", "newer"); // 9
    let sorted = |order: range_request::SortOrder, limit: i64| RangeRequest {
        sort_order: order as i32,
        sort_target: range_request::SortTarget::Mod as i32,
        limit,
        ..prefix_range("p/")
    };
    let ascending = fx.must_range(&sorted(range_request::SortOrder::Ascend, 0));
    assert_eq!(keys(&ascending.kvs), ["p/b", "p/d", "p/e", "p/c", "p/a"]);
    let descending = fx.must_range(&sorted(range_request::SortOrder::Descend, 2));
    assert_eq!(keys(&descending.kvs), ["p/a", "p/c"]);
    assert!(descending.more);
    assert_eq!(descending.count, 5);
}

#[test]
fn range_without_a_key_is_rejected() {
    let fx = must_bootstrap();
    let error = fx.range(&RangeRequest::default()).expect_err("range without key");
    assert_eq!(error, Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
}

// ---- compaction ----

#[test]
fn range_at_a_compacted_revision_is_out_of_range() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "2");
    fx.must_put("k", "3");
    fx.must_put("k", "4");
    fx.apply(command::Kind::Compact(CompactionRequest { revision: 3, physical: false }));
    let at = |revision: i64| RangeRequest { key: "k".into(), revision, ..Default::default() };
    let error = fx.range(&at(2)).expect_err("read below the compaction revision");
    assert_eq!(error, Error::OutOfRange(messages::COMPACTED.into()));
    assert_eq!(values(&fx.must_range(&at(3)).kvs), ["3"], "the compaction revision itself stays readable");
}

#[test]
fn range_at_a_future_revision_is_out_of_range() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    let error = fx
        .range(&RangeRequest { key: "k".into(), revision: 3, ..Default::default() })
        .expect_err("read beyond the current revision");
    assert_eq!(error, Error::OutOfRange(messages::FUTURE_REV.into()));
}

#[test]
fn compact_answers_the_current_revision_and_does_not_bump_it() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "2");
    fx.must_put("k", "3");
    let result = fx.apply(command::Kind::Compact(CompactionRequest { revision: 2, physical: true }));
    match result.kind {
        Some(command_result::Kind::Compact(response)) => {
            assert_eq!(header_revision(response.header), 3)
        }
        other => panic!("expected a Compact response, got {other:?}"),
    }
    assert_eq!(fx.revision(), 3);
    assert_eq!(fx.shared.compact_revision(), 2);
}

#[test]
fn compact_then_collection_keeps_the_latest_version_and_drops_deleted_keys() {
    let mut fx = must_bootstrap();
    fx.must_put("live", "old"); // 2
    fx.must_put("gone", "x"); // 3
    fx.must_put("live", "new"); // 4
    fx.must_delete("gone"); // 5
    fx.apply(command::Kind::Compact(CompactionRequest { revision: 5, physical: true }));
    let mvcc_keys = || fx.engine.scan(Keyspace::Mvcc, Bound::Unbounded, Bound::Unbounded, false).count();
    assert_eq!(mvcc_keys(), 4, "the apply only raises the compaction revision");
    assert_eq!(crate::gc::collect_all(fx.engine.as_ref(), fx.shared.compact_revision()).expect("collect"), 3);
    assert_eq!(mvcc_keys(), 1, "only the newest version of `live` survives");
    assert_eq!(fx.must_get("live").map(|kv| kv.value), Some(b"new".to_vec()));
    assert_eq!(fx.must_get("gone"), None);
}

#[test]
fn compact_at_or_below_the_compaction_revision_is_rejected() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "2");
    fx.must_put("k", "3");
    fx.apply(command::Kind::Compact(CompactionRequest { revision: 3, physical: false }));
    let error = must_error(fx.apply(command::Kind::Compact(CompactionRequest { revision: 2, physical: false })));
    assert_eq!((error.code, error.message.as_str()), (11, messages::COMPACTED));
    let error = must_error(fx.apply(command::Kind::Compact(CompactionRequest { revision: 3, physical: false })));
    assert_eq!((error.code, error.message.as_str()), (11, messages::COMPACTED));
    assert_eq!(fx.shared.compact_revision(), 3);
}

#[test]
fn compact_beyond_the_current_revision_is_rejected() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "2");
    let error = must_error(fx.apply(command::Kind::Compact(CompactionRequest { revision: 3, physical: false })));
    assert_eq!((error.code, error.message.as_str()), (11, messages::FUTURE_REV));
    assert_eq!(fx.shared.compact_revision(), 0);
}

// ---- membership ----

fn must_register(fx: &mut Fixture, peer_addr: &str) -> NodeInfo {
    match fx.apply(command::Kind::RegisterNode(node(0, peer_addr))).kind {
        Some(command_result::Kind::Registered(node)) => node,
        other => panic!("expected a registration, got {other:?}"),
    }
}

#[test]
fn register_node_allocates_ids_after_the_first_node() {
    let mut fx = must_bootstrap();
    assert_eq!(must_register(&mut fx, "10.0.0.2:7000").node_id, 2);
    assert_eq!(must_register(&mut fx, "10.0.0.3:7000").node_id, 3);
    let members = fx.shared.members();
    let ids: Vec<u64> = members.iter().map(|m| m.node_id).collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(members[2].peer_addr, "10.0.0.3:7000");
}

#[test]
fn register_node_is_idempotent_for_the_same_peer_address() {
    let mut fx = must_bootstrap();
    assert_eq!(must_register(&mut fx, "10.0.0.2:7000").node_id, 2);
    assert_eq!(must_register(&mut fx, "10.0.0.2:7000").node_id, 2);
    assert_eq!(fx.shared.members().len(), 2);
    assert_eq!(must_register(&mut fx, "10.0.0.3:7000").node_id, 3, "a repeated registration allocates no id");
}

#[test]
fn register_node_does_not_bump_the_revision() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    must_register(&mut fx, "10.0.0.2:7000");
    assert_eq!(fx.revision(), 2);
}

// ---- durability, snapshots, bad input ----

#[test]
fn reopening_loads_the_applied_state() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    must_register(&mut fx, "10.0.0.2:7000");
    fx.apply(command::Kind::Compact(CompactionRequest { revision: 2, physical: false }));
    let reopened = must_open(fx.engine.clone());
    assert_eq!(reopened.sm.applied_index(), fx.index);
    assert_eq!(reopened.revision(), 2);
    assert_eq!(reopened.shared.compact_revision(), 2);
    assert_eq!(reopened.shared.members(), fx.shared.members());
    assert_eq!(reopened.must_get("k").map(|kv| kv.value), Some(b"v".to_vec()));
}

#[test]
fn apply_other_records_the_index_and_new_voters() {
    let mut fx = must_bootstrap();
    fx.sm.apply_other(1, None).expect("apply empty entry");
    assert_eq!(fx.shared.descriptor().replicas, [1]);
    assert_eq!(fx.shared.descriptor().generation, 1);
    fx.sm.apply_other(2, Some(&[1, 2, 3])).expect("apply conf change");
    assert_eq!(fx.sm.applied_index(), 2);
    assert_eq!(fx.shared.applied_index(), 2);
    assert_eq!(fx.shared.descriptor().replicas, [1, 2, 3]);
    // A new replica set is a new generation of the descriptor; the same set again is not.
    assert_eq!(fx.shared.descriptor().generation, 2);
    fx.sm.apply_other(3, Some(&[1, 2, 3])).expect("apply a conf change that changes nothing");
    assert_eq!(fx.shared.descriptor().generation, 2);
    fx.index = 3;
    fx.must_put("k", "v");
    assert_eq!(fx.shared.applied_index(), 4);
}

/// A range of `[b, d)`: the first range's state with its span narrowed, as a split would leave
/// the left-hand range.
fn must_open_span_b_to_d() -> Fixture {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut batch = WriteBatch::new();
    KvStateMachine::bootstrap(&mut batch, RANGE, &first_node());
    engine.write(batch, false).expect("write bootstrap batch");
    let mut state = AppliedState::load(engine.as_ref(), RANGE).expect("load").expect("bootstrapped");
    state.descriptor.start_key = b"b".to_vec();
    state.descriptor.end_key = b"d".to_vec();
    state.descriptor.generation = 2;
    let mut batch = WriteBatch::new();
    state.save(&mut batch);
    engine.write(batch, false).expect("narrow the span");
    must_open(engine)
}

#[test]
fn keys_outside_the_range_are_refused_with_its_descriptor_and_change_nothing() {
    let mut fx = must_open_span_b_to_d();
    let descriptor = fx.shared.descriptor();
    fx.must_put("b", "1");
    fx.must_put("c\u{7f}", "2");
    let revision = fx.revision();
    let outside = [
        TxnRequest { success: vec![put_op(put("a", "x"))], ..Default::default() },
        TxnRequest { success: vec![put_op(put("b", "x")), put_op(put("d", "x"))], ..Default::default() },
        TxnRequest {
            success: vec![RequestOp { request: Some(request_op::Request::RequestRange(everything(0))) }],
            ..Default::default()
        },
    ];
    for txn in outside {
        let error = fx.must_txn_error(txn.clone());
        assert_eq!(error.code, 9, "{error:?}");
        assert_eq!(error.range_key_mismatch.as_ref(), Some(&descriptor), "{txn:?}");
        // SQL's internal Txns and staged parts are checked the same way.
        let internal = must_error(fx.apply(command::Kind::InternalTxn(txn.clone())));
        assert_eq!(internal.range_key_mismatch.as_ref(), Some(&descriptor));
        let part = StagedPart { txn_id: 9, seq: 0, part: Some(txn), expires_unix_ms: i64::MAX };
        assert_eq!(must_error(fx.apply(command::Kind::Stage(part))).range_key_mismatch.as_ref(), Some(&descriptor));
    }
    assert_eq!(fx.revision(), revision, "a refused command wrote nothing");
    assert_eq!(fx.must_get("b").map(|kv| kv.value), Some(b"1".to_vec()));
    // A commit whose staged part is inside and whose last part is outside is refused whole, and
    // its parts are dropped.
    let inside = TxnRequest { success: vec![put_op(put("c", "staged"))], ..Default::default() };
    let part = StagedPart { txn_id: 7, seq: 0, part: Some(inside), expires_unix_ms: i64::MAX };
    assert!(matches!(fx.apply(command::Kind::Stage(part)).kind, Some(command_result::Kind::Txn(_))));
    let last = TxnRequest { success: vec![put_op(put("e", "x"))], ..Default::default() };
    let commit = CommitStaged { txn_id: 7, parts: 1, last: Some(last) };
    let error = must_error(fx.apply(command::Kind::CommitStaged(commit.clone())));
    assert_eq!(error.range_key_mismatch.as_ref(), Some(&descriptor));
    assert_eq!(fx.must_get("c"), None);
    let again = must_error(fx.apply(command::Kind::CommitStaged(commit)));
    assert_eq!(again.range_key_mismatch, None, "the parts were dropped: {again:?}");
    // Local reads are checked too.
    let read = |key: &str, end: &[u8]| {
        fx.shared
            .read(fx.engine.as_ref(), &RangeRequest { key: key.into(), range_end: end.to_vec(), ..Default::default() })
    };
    assert_eq!(read("b", b"d").map(|r| r.kvs.len()), Ok(2));
    for (key, end) in [("a", &b""[..]), ("c", &[0][..]), ("b", &b"e"[..])] {
        match read(key, end) {
            Err(Error::RangeKeyMismatch(found)) => assert_eq!(*found, descriptor),
            other => panic!("{key:?}..{end:?}: {other:?}"),
        }
    }
}

#[test]
fn snapshot_restored_on_another_engine_reads_the_same() {
    let mut source = must_bootstrap();
    source.must_put("p/a", "1"); // 2
    source.must_put("p/b", "2"); // 3
    source.must_put("p/a", "3"); // 4
    source.must_delete("p/b"); // 5
    source.must_put("q", "4"); // 6
    must_register(&mut source, "10.0.0.2:7000");

    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut target = must_open(engine.clone());
    // Chunks of a few pairs each, so that state and history cross chunk boundaries.
    crate::snapshot::must_install(
        source.sm.snapshot().expect("snapshot"),
        &mut target.sm,
        engine.as_ref(),
        source.index,
        &[1, 2],
        100,
    );

    assert_eq!(target.revision(), 6);
    assert_eq!(target.sm.applied_index(), source.index);
    assert_eq!(target.shared.members(), source.shared.members());
    assert_eq!(target.shared.descriptor().replicas, [1, 2]);
    for revision in [0, 1, 3, 4, 6] {
        assert_eq!(target.must_range(&everything(revision)), source.must_range(&everything(revision)), "at {revision}");
    }
    assert_eq!(values(&target.must_range(&everything(0)).kvs), ["3", "4"]);
}

#[test]
fn restored_state_machine_continues_from_the_snapshot() {
    let mut source = must_bootstrap();
    source.must_put("k", "v"); // 2
    must_register(&mut source, "10.0.0.2:7000");

    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut target = must_open(engine.clone());
    target.must_put("stale", "replaced by the snapshot");
    crate::snapshot::must_install(
        source.sm.snapshot().expect("snapshot"),
        &mut target.sm,
        engine.as_ref(),
        10,
        &[1, 2],
        1 << 20,
    );
    target.index = 10;

    assert_eq!(target.must_get("stale"), None);
    assert_eq!(target.must_put("k", "w").header.map(|h| h.revision), Some(3));
    assert_eq!(must_register(&mut target, "10.0.0.3:7000").node_id, 3);
    assert_eq!(must_open(target.engine.clone()).sm.applied_index(), target.index);
}

fn everything(revision: i64) -> RangeRequest {
    RangeRequest { key: vec![0], range_end: vec![0], revision, ..Default::default() }
}

/// The first range bootstrapped on a fjall engine, whose snapshots are sequence numbers.
fn must_bootstrap_on_disk(dir: &std::path::Path) -> Fixture {
    let engine: Arc<dyn Engine> = Arc::new(atoll_storage::FjallEngine::open(dir, 1 << 20).expect("fjall"));
    let mut batch = WriteBatch::new();
    KvStateMachine::bootstrap(&mut batch, RANGE, &first_node());
    engine.write(batch, false).expect("write bootstrap batch");
    must_open(engine)
}

#[test]
fn a_snapshot_reads_the_state_as_of_when_it_was_taken_in_bounded_chunks() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut source = must_bootstrap_on_disk(&dir.path().join("source"));
    for i in 0..60 {
        source.must_put(&format!("k{i:02}"), &"x".repeat(100));
    }
    source.must_delete("k07");
    let (index, expected) = (source.index, source.must_range(&everything(0)));
    let mut reader = source.sm.snapshot().expect("snapshot");
    // Writes after the snapshot was taken, while it is being read: none may be in it.
    for i in 0..60 {
        source.must_put(&format!("k{i:02}"), "after");
    }
    source.must_put("new", "after");
    let mut chunks = Vec::new();
    while let Some(chunk) = reader.next_chunk(1000).expect("chunk") {
        // A chunk ends with the pair that reaches the bound: at most one pair over it.
        assert!(chunk.len() <= 1000 + 200, "chunk of {} bytes", chunk.len());
        chunks.push(chunk);
    }
    assert!(chunks.len() >= 7, "{} chunks for about 7 KB", chunks.len());

    let replay = ChunkList(chunks);
    let engine: Arc<dyn Engine> =
        Arc::new(atoll_storage::FjallEngine::open(&dir.path().join("target"), 1 << 20).expect("fjall"));
    let mut target = must_open(engine.clone());
    crate::snapshot::must_install(Box::new(replay), &mut target.sm, engine.as_ref(), index, &[1, 2], 1000);
    assert_eq!(target.must_range(&everything(0)), expected);
    assert_eq!(target.sm.applied_index(), index);
    assert_eq!(target.must_get("new"), None);
}

/// Every byte under `dir`.
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(all_bytes(&path));
        } else {
            out.extend(std::fs::read(&path).expect("read"));
        }
    }
    out
}

#[test]
fn an_encrypted_store_snapshots_and_installs_with_nothing_readable_on_disk() {
    use atoll_storage::encryption::{prepare, StoreKey};
    let dir = tempfile::tempdir().expect("tempdir");
    let key_path = dir.path().join("store.key");
    StoreKey::create(&key_path).expect("key");
    let encrypted = |name: &str| -> Arc<dyn Engine> {
        let data = dir.path().join(name);
        std::fs::create_dir_all(&data).expect("mkdir");
        let key = StoreKey::read(&key_path).expect("read key");
        let prepared = prepare(&data, Some(key), None).expect("prepare").expect("encrypted");
        let fjall = atoll_storage::FjallEngine::open(&data, 1 << 20).expect("fjall");
        Arc::new(atoll_storage::EncryptedEngine::new(fjall, prepared.open().expect("cipher")))
    };
    let engine = encrypted("source");
    let mut batch = WriteBatch::new();
    KvStateMachine::bootstrap(&mut batch, RANGE, &first_node());
    engine.write(batch, true).expect("bootstrap");
    let mut source = must_open(engine);
    for i in 0..40 {
        source.must_put(&format!("k{i:02}"), &format!("marker-{i:02}-{}", "x".repeat(50)));
    }
    let (index, expected) = (source.index, source.must_range(&everything(0)));
    let target_engine = encrypted("target");
    let mut target = must_open(target_engine.clone());
    crate::snapshot::must_install(
        source.sm.snapshot().expect("snapshot"),
        &mut target.sm,
        target_engine.as_ref(),
        index,
        &[1, 2],
        500,
    );
    assert_eq!(target.must_range(&everything(0)), expected);
    target_engine.write(WriteBatch::new(), true).expect("sync");
    for side in ["source", "target"] {
        let bytes = all_bytes(&dir.path().join(side));
        assert!(!bytes.windows(7).any(|w| w == b"marker-"), "a value is readable in the {side}'s files");
        assert!(bytes.windows(3).any(|w| w == b"k07"), "keys are stored as they are");
    }
}

#[test]
fn the_receivers_check_refuses_what_the_install_would_stop_the_node_on() {
    use crate::snapshot::SnapshotCheck;
    use atoll_proto::atoll::{RangeSnapshotData, SnapshotPair};
    use atoll_proto::Message as _;
    let mut source = must_bootstrap();
    source.must_put("a", "1");
    source.must_put("b", "2");
    must_register(&mut source, "10.0.0.2:7000");
    let mut reader = source.sm.snapshot().expect("snapshot");
    let mut whole = RangeSnapshotData::default();
    while let Some(chunk) = reader.next_chunk(1 << 20).expect("chunk") {
        let data = RangeSnapshotData::decode(chunk.as_slice()).expect("decode");
        whole.state.extend(data.state);
        whole.mvcc.extend(data.mvcc);
    }
    assert!(whole.state.len() >= 5 && whole.mvcc.len() == 2, "{} state, {} mvcc", whole.state.len(), whole.mvcc.len());
    let check = |data: &RangeSnapshotData, index: u64| -> std::result::Result<(), String> {
        let mut check = SnapshotCheck::new(RANGE);
        check.chunk(&data.encode_to_vec())?;
        check.finish(index)
    };
    let index = source.index;
    check(&whole, index).expect("the snapshot as read passes");

    let mut refused = Vec::new();
    let mut case = |name: &str, data: RangeSnapshotData, index: u64| {
        let error = check(&data, index).expect_err(name);
        refused.push(format!("{name}: {error}"));
    };
    case("past its index", whole.clone(), index - 1);
    let mut swapped = whole.clone();
    swapped.mvcc.swap(0, 1);
    case("history out of order", swapped, index);
    let mut other = whole.clone();
    other.state[0].key[7] ^= 1;
    case("state of another range", other, index);
    let mut marker = whole.clone();
    marker.state.push(SnapshotPair { key: crate::state::restore_marker_key(RANGE), value: vec![] });
    case("the restore marker", marker, index);
    let mut short = whole.clone();
    let applied = short.state.iter_mut().find(|p| p.key.ends_with(b"/applied")).expect("applied key");
    applied.value.pop();
    case("a short applied index", short, index);
    let mut no_descriptor = whole.clone();
    no_descriptor.state.retain(|p| !p.key.ends_with(b"/descriptor"));
    case("no descriptor", no_descriptor, index);
    let mut member = whole.clone();
    member.state.iter_mut().find(|p| p.key.windows(8).any(|w| w == b"/member/")).expect("member").value = vec![0xff];
    case("an undecodable member", member, index);
    let mut value = whole.clone();
    value.mvcc[0].value = vec![0xee];
    case("an undecodable record", value, index);
    let mut key = whole.clone();
    key.mvcc[1].key.truncate(1);
    case("a version key without revision", key, index);
    let mut late = whole.clone();
    late.state.push(late.state[0].clone());
    late.mvcc.clear();
    case("a state key twice", late, index);
    let mut narrow = whole.clone();
    let descriptor = narrow.state.iter_mut().find(|p| p.key.ends_with(b"/descriptor")).expect("descriptor");
    let mut span = RangeDescriptor::decode(descriptor.value.as_slice()).expect("decode descriptor");
    span.start_key = b"b".to_vec();
    descriptor.value = span.encode_to_vec();
    case("a key outside its range's span", narrow, index);
    let mut check = SnapshotCheck::new(RANGE);
    assert!(check.chunk(b"\xff\xff\xff").is_err(), "garbage is refused");
    assert_eq!(refused.len(), 11, "{refused:#?}");
}

/// Chunks read before, replayed.
struct ChunkList(Vec<Vec<u8>>);

impl atoll_replication::snapshot::SnapshotReader for ChunkList {
    fn next_chunk(&mut self, _bytes_max: usize) -> std::result::Result<Option<Vec<u8>>, Fatal> {
        Ok(if self.0.is_empty() { None } else { Some(self.0.remove(0)) })
    }
}

#[test]
fn an_install_cut_short_by_a_crash_is_redone_at_the_next_open_and_reads_wait_for_it() {
    let mut source = must_bootstrap();
    for i in 0..20 {
        source.must_put(&format!("k{i}"), &format!("v{i}"));
    }
    must_register(&mut source, "10.0.0.2:7000");
    let dir = tempfile::tempdir().expect("tempdir");
    let files = atoll_replication::snapshot::SnapshotFiles::open(dir.path().to_path_buf(), None).expect("dir");
    let mut reader = source.sm.snapshot().expect("snapshot");
    let mut writer = files.create().expect("file");
    while let Some(chunk) = reader.next_chunk(200).expect("chunk") {
        writer.write_chunk(&chunk).expect("write");
    }
    let path = files.path(writer.finish().expect("finish"));

    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut target = must_open(engine.clone());
    target.must_put("stale", "replaced by the snapshot");
    let mut batch = WriteBatch::new();
    target.sm.begin_restore(source.index, &[1, 2], &path, &mut batch).expect("begin");
    engine.write(batch, true).expect("marker");
    assert!(target.shared.restoring());
    assert!(target.shared.read(engine.as_ref(), &everything(0)).is_err(), "reads during an install must be refused");
    // The install deletes the old state, then the node dies before writing the new one.
    let (_, job) = target.sm.pending_restore().expect("marker").expect("pending");
    let job = crate::snapshot::KvRestoreJob {
        engine: engine.clone(),
        shared: target.shared.clone(),
        range_id: RANGE,
        index: source.index,
        voters: vec![1, 2],
        file: job.file().to_path_buf(),
    };
    job.delete_old().expect("delete");
    drop(target);

    let mut reopened = must_open(engine.clone());
    assert!(reopened.shared.restoring(), "a marker left by a crash must keep reads away");
    assert!(reopened.shared.read(engine.as_ref(), &everything(0)).is_err());
    let (index, job) = reopened.sm.pending_restore().expect("marker").expect("the install must be redone");
    assert_eq!(index, source.index);
    job.run(&|_| {}).expect("install");
    reopened.sm.finish_restore().expect("finish");
    assert!(!reopened.shared.restoring());
    for revision in [0, 5, 12] {
        assert_eq!(
            reopened.must_range(&everything(revision)),
            source.must_range(&everything(revision)),
            "at {revision}"
        );
    }
    assert_eq!(reopened.shared.members(), source.shared.members());
    assert_eq!(reopened.sm.applied_index(), source.index);
    assert!(must_open(engine).sm.pending_restore().expect("marker").is_none(), "a finished install leaves no marker");
}

#[test]
fn undecodable_command_gives_an_error_result() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    let error = must_error(fx.apply_bytes(&[0xff, 0xff, 0xff]));
    assert_eq!(error.code, 3);
    assert!(error.message.contains("undecodable command"), "{}", error.message);
    assert_eq!(fx.sm.applied_index(), fx.index);
    assert_eq!(fx.revision(), 2);
}

#[test]
fn empty_command_gives_an_error_result() {
    let mut fx = must_bootstrap();
    let error = must_error(fx.apply_bytes(&Command { kind: None }.encode_to_vec()));
    assert_eq!(error.code, 3);
    assert_eq!(fx.sm.applied_index(), fx.index);
}

#[test]
#[should_panic(expected = "applied twice")]
fn applying_an_index_twice_panics() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    let bytes = Command { kind: Some(command::Kind::Txn(TxnRequest::default())) }.encode_to_vec();
    let _ = fx.sm.apply(fx.index, &bytes);
}

#[test]
fn refusals_read_back_as_the_errors_they_encode() {
    let descriptor = RangeDescriptor { range_id: 4, start_key: b"m".to_vec(), generation: 7, ..Default::default() };
    let errors = [
        Error::InvalidArgument("bad".into()),
        Error::NotFound("gone".into()),
        Error::OutOfRange(messages::COMPACTED.into()),
        Error::Conflict,
        Error::Unavailable("later".into()),
        Error::Overloaded("full".into()),
        Error::RangeKeyMismatch(Box::new(descriptor)),
        Error::Corrupt("bits".into()),
    ];
    for error in errors {
        let Some(command_result::Kind::Error(encoded)) = error_result(&error).kind else { panic!("{error:?}") };
        let decoded = command_error(encoded);
        match (&error, &decoded) {
            // The message is the whole error's text; the category and payload are what count.
            (Error::InvalidArgument(_), Error::InvalidArgument(m))
            | (Error::NotFound(_), Error::NotFound(m))
            | (Error::OutOfRange(_), Error::OutOfRange(m))
            | (Error::Unavailable(_), Error::Unavailable(m))
            | (Error::Overloaded(_), Error::Overloaded(m))
            | (Error::Corrupt(_), Error::Corrupt(m)) => assert!(error.to_string().ends_with(m.as_str()), "{m}"),
            _ => assert_eq!(decoded, error),
        }
    }
    let unknown = CommandError { code: 99, message: "new".into(), range_key_mismatch: None };
    assert!(matches!(command_error(unknown), Error::Unavailable(_)));
}

/// Opens range `range_id` on `engine` (a range a split created, or one a snapshot fills).
fn must_open_range(engine: Arc<dyn Engine>, range_id: RangeId) -> Fixture {
    let shared = Arc::new(RangeShared::default());
    let sm = KvStateMachine::open(engine.clone(), range_id, shared.clone()).expect("open state machine");
    let index = sm.applied_index();
    Fixture { engine, shared, sm, index }
}

fn must_allocate_range_id(fx: &mut Fixture) -> u64 {
    match fx.apply(command::Kind::AllocateRangeId(Default::default())).kind {
        Some(command_result::Kind::AllocatedRangeId(id)) => id,
        other => panic!("expected a range id, got {other:?}"),
    }
}

fn split_at(key: &str, new_range_id: u64, expected_generation: u64) -> command::Kind {
    command::Kind::Split(atoll_proto::atoll::SplitRange { split_key: key.into(), new_range_id, expected_generation })
}

fn must_split(fx: &mut Fixture, key: &str) -> (RangeDescriptor, RangeDescriptor) {
    let id = must_allocate_range_id(fx);
    let generation = fx.shared.descriptor().generation;
    match fx.apply(split_at(key, id, generation)).kind {
        Some(command_result::Kind::Split(SplitResult { left: Some(left), right: Some(right) })) => (left, right),
        other => panic!("expected a split, got {other:?}"),
    }
}

#[test]
fn a_split_narrows_the_range_and_creates_the_right_hand_one_over_the_same_history() {
    let mut fx = must_bootstrap();
    fx.must_put("a", "1"); // 2
    fx.must_put("m", "2"); // 3
    fx.must_put("x", "3"); // 4
    fx.must_put("x", "4"); // 5
    let (left, right) = must_split(&mut fx, "m");

    assert_eq!(
        (left.range_id, left.start_key.as_slice(), left.end_key.as_slice(), left.generation),
        (1, &b""[..], &b"m"[..], 2)
    );
    assert_eq!(
        (right.range_id, right.start_key.as_slice(), right.end_key.as_slice(), right.generation),
        (2, &b"m"[..], &b""[..], 2)
    );
    assert_eq!(right.replicas, left.replicas);
    assert_eq!(fx.shared.descriptor(), left, "readers see the narrowed descriptor");
    assert_eq!(fx.sm.take_created_ranges(), [RangeId(2)], "the store is told to load the new range");
    assert!(fx.sm.take_created_ranges().is_empty(), "once");
    let listed = atoll_replication::raft_storage::RaftStorage::<KvStateMachine>::list_ranges(fx.engine.as_ref())
        .expect("list ranges");
    assert_eq!(listed, [RangeId(2)], "the new range has Raft state (the fixture's range 1 has none)");

    // The left side refuses what it gave away, and keeps serving the rest.
    let refused = fx.must_txn_error(TxnRequest { success: vec![put_op(put("x", "5"))], ..Default::default() });
    assert_eq!(refused.range_key_mismatch.as_ref(), Some(&left));
    fx.must_put("b", "6");

    // The right side reads the parent's history of its keys, old revisions included, and
    // counts on from the parent's revision.
    let mut right_fx = must_open_range(fx.engine.clone(), RangeId(2));
    assert_eq!(right_fx.sm.applied_index(), atoll_replication::raft_storage::BOOTSTRAP_INDEX);
    assert_eq!(right_fx.revision(), 5);
    let read = |fx: &Fixture, key: &str, revision: i64| {
        let request = RangeRequest { key: key.into(), revision, ..Default::default() };
        fx.shared.read(fx.engine.as_ref(), &request).map(|r| values(&r.kvs))
    };
    assert_eq!(read(&right_fx, "x", 0).expect("read"), ["4"]);
    assert_eq!(read(&right_fx, "x", 4).expect("read"), ["3"]);
    assert!(matches!(read(&right_fx, "a", 0), Err(Error::RangeKeyMismatch(_))), "the left side's key");
    assert_eq!(right_fx.must_put("y", "7").header.map(|h| h.revision), Some(6));
    assert_eq!(must_open_range(fx.engine.clone(), RangeId(2)).shared.descriptor(), right, "durable");
}

#[test]
fn splits_with_a_stale_generation_a_key_outside_the_span_or_staged_parts_are_refused() {
    let mut fx = must_bootstrap();
    fx.must_put("k", "v");
    let id = must_allocate_range_id(&mut fx);
    let before = fx.shared.descriptor();
    let stale = must_error(fx.apply(split_at("m", id, before.generation + 1)));
    assert_eq!(stale.range_key_mismatch.as_ref(), Some(&before), "a generation the range does not have");
    assert_eq!(must_error(fx.apply(split_at("", id, before.generation))).code, 3, "at the range's start");
    assert_eq!(must_error(fx.apply(split_at("m", 0, before.generation))).code, 3, "no new range id");
    assert_eq!(must_error(fx.apply(split_at("m", 1, before.generation))).code, 3, "its own id");

    let staged = StagedPart {
        txn_id: 9,
        seq: 0,
        part: Some(TxnRequest { success: vec![put_op(put("s", "1"))], ..Default::default() }),
        expires_unix_ms: i64::MAX,
    };
    assert!(matches!(fx.apply(command::Kind::Stage(staged)).kind, Some(command_result::Kind::Txn(_))));
    assert_eq!(must_error(fx.apply(split_at("m", id, before.generation))).code, 14, "a large commit in progress");
    fx.apply(command::Kind::AbortStaged(atoll_proto::atoll::AbortStaged { txn_id: 9, expired_before_unix_ms: 0 }));
    assert_eq!(fx.shared.descriptor(), before, "nothing changed");
    assert!(fx.sm.take_created_ranges().is_empty());

    let (left, _) = must_split(&mut fx, "m");
    let old_generation = must_error(fx.apply(split_at("f", 7, before.generation)));
    assert_eq!(old_generation.range_key_mismatch.as_ref(), Some(&left), "the generation the split replaced");
    assert_eq!(must_error(fx.apply(split_at("x", 7, left.generation))).code, 3, "past the new end");

    let mut right = must_open_range(fx.engine.clone(), RangeId(2));
    assert_eq!(must_error(right.apply(command::Kind::AllocateRangeId(Default::default()))).code, 3, "only range 1");
}

#[test]
fn a_split_range_snapshot_carries_only_its_span_and_its_install_leaves_other_ranges_alone() {
    let mut source = must_bootstrap();
    source.must_put("a", "left");
    source.must_put("m1", "right");
    source.must_put("z", "right");
    must_split(&mut source, "m");
    let source_right = must_open_range(source.engine.clone(), RangeId(2));
    let mut reader = source_right.sm.snapshot().expect("snapshot");
    let mut history = Vec::new();
    while let Some(chunk) = reader.next_chunk(1 << 20).expect("chunk") {
        let data = atoll_proto::atoll::RangeSnapshotData::decode(chunk.as_slice()).expect("chunk decodes");
        history.extend(data.mvcc.into_iter().map(|pair| mvcc::decode_version(&pair.key).expect("mvcc key").0));
    }
    assert_eq!(history, [b"m1".to_vec(), b"z".to_vec()], "the right-hand range's keys only");

    // A node that has the left side, and stale data of its own in the right side's span.
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut target_left = must_open(engine.clone());
    crate::snapshot::must_install(
        source.sm.snapshot().expect("snapshot"),
        &mut target_left.sm,
        engine.as_ref(),
        50,
        &[1],
        64,
    );
    let mut stale = WriteBatch::new();
    let record = mvcc::Record::Put { create_revision: 3, version: 1, lease: 0, value: b"x".to_vec() };
    mvcc::write(&mut stale, b"q-stale", 3, &record, false);
    engine.write(stale, false).expect("write");
    let mut target_right = must_open_range(engine.clone(), RangeId(2));
    crate::snapshot::must_install(
        source_right.sm.snapshot().expect("snapshot"),
        &mut target_right.sm,
        engine.as_ref(),
        50,
        &[1],
        64,
    );

    assert_eq!(target_left.must_get("a").map(|kv| kv.value), Some(b"left".to_vec()), "the left side is untouched");
    let everything_right = RangeRequest { key: b"m".to_vec(), range_end: vec![0], ..Default::default() };
    assert_eq!(
        values(&target_right.shared.read(engine.as_ref(), &everything_right).expect("read").kvs),
        ["right", "right"]
    );
    assert_eq!(mvcc::latest(engine.as_ref(), b"q-stale").expect("latest"), None, "stale data in the span is gone");
}
