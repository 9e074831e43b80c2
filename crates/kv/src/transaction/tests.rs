//! Tests of the transaction API against a real state machine: snapshot reads, read-your-own
//! writes, and serializable commits by optimistic validation.

use super::*;
use crate::{KvStateMachine, RangeShared};
use atoll_proto::atoll::{command, command_result, Command, CommandResult, NodeInfo};
use atoll_proto::Message;
use atoll_replication::StateMachine;
use atoll_storage::{Engine, MemoryEngine, WriteBatch};
use atoll_types::RangeId;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const RANGE: RangeId = RangeId(1);

/// A state machine applied in-process: each Txn is the next log entry.
struct TestClient {
    engine: Arc<dyn Engine>,
    shared: Arc<RangeShared>,
    /// The state machine and the index of the last entry given to it.
    log: Mutex<(KvStateMachine, u64)>,
    /// How many Txns were sent.
    txns: AtomicUsize,
}

fn must_client() -> TestClient {
    let engine: Arc<dyn Engine> = Arc::new(MemoryEngine::new());
    let mut batch = WriteBatch::new();
    let first = NodeInfo { node_id: 1, peer_addr: "10.0.0.1:7000".into(), ..Default::default() };
    KvStateMachine::bootstrap(&mut batch, RANGE, &first);
    engine.write(batch, false).expect("write bootstrap batch");
    let shared = Arc::new(RangeShared::default());
    let sm = KvStateMachine::open(engine.clone(), RANGE, shared.clone()).expect("open state machine");
    let index = sm.applied_index();
    TestClient { engine, shared, log: Mutex::new((sm, index)), txns: AtomicUsize::new(0) }
}

fn error_from(code: i32, message: String) -> Error {
    match code {
        3 => Error::InvalidArgument(message),
        5 => Error::NotFound(message),
        8 => Error::Overloaded(message),
        10 => Error::Conflict,
        11 => Error::OutOfRange(message),
        14 => Error::Unavailable(message),
        _ => Error::Storage(message),
    }
}

impl TestClient {
    /// Applies `kind` as the next log entry.
    fn apply(&self, kind: command::Kind) -> Result<TxnResponse> {
        let bytes = Command { kind: Some(kind) }.encode_to_vec();
        let result: CommandResult = {
            let mut log = self.log.lock().expect("state machine lock");
            let (sm, index) = &mut *log;
            *index += 1;
            sm.apply(*index, &bytes).map_err(|fatal| Error::Storage(fatal.to_string()))?
        };
        match result.kind {
            Some(command_result::Kind::Txn(response)) => Ok(response),
            Some(command_result::Kind::Error(error)) => Err(error_from(error.code, error.message)),
            other => Err(Error::Corrupt(format!("unexpected result of a Txn: {other:?}"))),
        }
    }
}

impl KvClient for TestClient {
    async fn txn(&self, request: TxnRequest) -> Result<TxnResponse> {
        self.txns.fetch_add(1, Ordering::SeqCst);
        self.apply(command::Kind::Txn(request))
    }

    async fn staged(&self, step: Staged) -> Result<TxnResponse> {
        self.txns.fetch_add(1, Ordering::SeqCst);
        self.apply(match step {
            Staged::Part(part) => command::Kind::Stage(part),
            Staged::Commit(commit) => command::Kind::CommitStaged(commit),
            Staged::Abort(abort) => command::Kind::AbortStaged(abort),
        })
    }

    async fn range(&self, request: RangeRequest) -> Result<RangeResponse> {
        self.shared.view(self.engine.as_ref()).range(&request)
    }
}

impl TestClient {
    fn revision(&self) -> i64 {
        self.shared.revision()
    }

    fn txns_sent(&self) -> usize {
        self.txns.load(Ordering::SeqCst)
    }

    /// The latest value of `key`, read outside any transaction.
    async fn must_latest(&self, key: &str) -> Option<String> {
        let response = self.range(RangeRequest { key: key.into(), ..Default::default() }).await.expect("range");
        response.kvs.into_iter().next().map(|kv| string(kv.value))
    }
}

fn string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).expect("utf-8 test data")
}

async fn must_begin(client: &TestClient) -> Transaction<&TestClient> {
    Transaction::begin(client).await.expect("begin")
}

async fn must_get(txn: &mut Transaction<&TestClient>, key: &str) -> Option<String> {
    txn.get(key.as_bytes()).await.expect("get").map(string)
}

async fn must_scan(txn: &mut Transaction<&TestClient>, prefix: &str) -> Vec<(String, String)> {
    let end = atoll_types::keys::prefix_end(prefix.as_bytes());
    let pairs = txn.scan(prefix.as_bytes(), &end, 0).await.expect("scan");
    pairs.into_iter().map(|(k, v)| (string(k), string(v))).collect()
}

fn must_put(txn: &mut Transaction<&TestClient>, key: &str, value: &str) {
    txn.put(key.as_bytes(), value.as_bytes()).expect("put");
}

fn must_delete(txn: &mut Transaction<&TestClient>, key: &str) {
    txn.delete(key.as_bytes()).expect("delete");
}

/// Commits `key = value` in a transaction of its own.
async fn must_write(client: &TestClient, key: &str, value: &str) -> i64 {
    let mut txn = must_begin(client).await;
    must_put(&mut txn, key, value);
    txn.commit().await.expect("commit")
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn assert_conflict(result: Result<i64>) {
    let error = result.expect_err("commit must fail validation");
    assert_eq!(error, Error::Conflict);
    assert!(error.is_retryable());
}

// ---- commit and snapshot reads ----

#[tokio::test]
async fn begin_reads_at_the_latest_revision() {
    let client = must_client();
    must_write(&client, "a", "1").await;
    must_write(&client, "b", "2").await;
    let txn = must_begin(&client).await;
    assert_eq!(txn.read_revision(), 3);
}

#[tokio::test]
async fn commit_makes_writes_visible_and_returns_the_new_revision() {
    let client = must_client();
    let mut txn = must_begin(&client).await;
    must_put(&mut txn, "a", "1");
    must_put(&mut txn, "b", "2");
    let revision = txn.commit().await.expect("commit");
    assert_eq!(revision, 2, "one commit is one revision");
    assert_eq!(client.revision(), 2);
    assert_eq!(client.must_latest("a").await.as_deref(), Some("1"));
    assert_eq!(client.must_latest("b").await.as_deref(), Some("2"));
}

#[tokio::test]
async fn committed_delete_removes_the_key() {
    let client = must_client();
    must_write(&client, "k", "v").await;
    let mut txn = must_begin(&client).await;
    must_delete(&mut txn, "k");
    assert_eq!(txn.commit().await.expect("commit"), 3);
    assert_eq!(client.must_latest("k").await, None);
}

#[tokio::test]
async fn get_sees_the_snapshot_at_begin_after_another_commit() {
    let client = must_client();
    must_write(&client, "k", "old").await;
    let mut reader = must_begin(&client).await;
    must_write(&client, "k", "new").await;
    must_write(&client, "created", "later").await;
    assert_eq!(must_get(&mut reader, "k").await.as_deref(), Some("old"));
    assert_eq!(must_get(&mut reader, "created").await, None);
}

#[tokio::test]
async fn scan_sees_the_snapshot_at_begin_after_another_commit() {
    let client = must_client();
    must_write(&client, "p/a", "1").await;
    must_write(&client, "p/b", "2").await;
    let mut reader = must_begin(&client).await;
    let mut writer = must_begin(&client).await;
    must_put(&mut writer, "p/a", "changed");
    must_delete(&mut writer, "p/b");
    must_put(&mut writer, "p/c", "new");
    writer.commit().await.expect("commit writer");
    assert_eq!(must_scan(&mut reader, "p/").await, pairs(&[("p/a", "1"), ("p/b", "2")]));
}

// ---- read your own writes ----

#[tokio::test]
async fn get_reads_the_transactions_own_writes() {
    let client = must_client();
    must_write(&client, "deleted", "v").await;
    let mut txn = must_begin(&client).await;
    must_put(&mut txn, "new", "mine");
    must_delete(&mut txn, "deleted");
    assert_eq!(must_get(&mut txn, "new").await.as_deref(), Some("mine"));
    assert_eq!(must_get(&mut txn, "deleted").await, None);
    assert_eq!(client.must_latest("new").await, None, "nothing is written before commit");
    assert_eq!(client.must_latest("deleted").await.as_deref(), Some("v"));
}

#[tokio::test]
async fn scan_merges_the_transactions_own_writes() {
    let client = must_client();
    must_write(&client, "p/a", "1").await;
    must_write(&client, "p/b", "2").await;
    must_write(&client, "p/c", "3").await;
    let mut txn = must_begin(&client).await;
    must_put(&mut txn, "p/a", "overwritten");
    must_delete(&mut txn, "p/b");
    must_put(&mut txn, "p/bb", "inserted");
    must_put(&mut txn, "q", "outside the prefix");
    let expected = pairs(&[("p/a", "overwritten"), ("p/bb", "inserted"), ("p/c", "3")]);
    assert_eq!(must_scan(&mut txn, "p/").await, expected);
}

#[tokio::test]
async fn scan_limit_applies_after_merging_own_writes() {
    let client = must_client();
    must_write(&client, "p/b", "2").await;
    must_write(&client, "p/c", "3").await;
    let mut txn = must_begin(&client).await;
    must_put(&mut txn, "p/a", "mine");
    let first_two = txn.scan(b"p/", b"p0", 2).await.expect("scan");
    assert_eq!(first_two, vec![(b"p/a".to_vec(), b"mine".to_vec()), (b"p/b".to_vec(), b"2".to_vec())]);
}

#[tokio::test]
async fn scan_with_empty_bounds_covers_every_key() {
    let client = must_client();
    must_write(&client, "a", "1").await;
    must_write(&client, "z", "2").await;
    let mut txn = must_begin(&client).await;
    let all = txn.scan(b"", b"", 0).await.expect("scan");
    assert_eq!(all.into_iter().map(|(k, _)| string(k)).collect::<Vec<_>>(), ["a", "z"]);
}

// ---- serializability ----

#[tokio::test]
async fn write_skew_fails_the_second_commit() {
    let client = must_client();
    must_write(&client, "x", "1").await;
    must_write(&client, "y", "1").await;
    let mut t1 = must_begin(&client).await;
    let mut t2 = must_begin(&client).await;
    for txn in [&mut t1, &mut t2] {
        assert_eq!(must_get(txn, "x").await.as_deref(), Some("1"));
        assert_eq!(must_get(txn, "y").await.as_deref(), Some("1"));
    }
    must_put(&mut t1, "x", "0");
    must_put(&mut t2, "y", "0");
    t1.commit().await.expect("first commit");
    assert_conflict(t2.commit().await);
    assert_eq!(client.must_latest("x").await.as_deref(), Some("0"));
    assert_eq!(client.must_latest("y").await.as_deref(), Some("1"), "the failed commit wrote nothing");
}

#[tokio::test]
async fn lost_update_fails_the_second_commit() {
    let client = must_client();
    must_write(&client, "counter", "10").await;
    let mut t1 = must_begin(&client).await;
    let mut t2 = must_begin(&client).await;
    for (txn, add) in [(&mut t1, 1), (&mut t2, 5)] {
        let value: i64 = must_get(txn, "counter").await.expect("counter").parse().expect("number");
        must_put(txn, "counter", &(value + add).to_string());
    }
    t1.commit().await.expect("first commit");
    assert_conflict(t2.commit().await);
    assert_eq!(client.must_latest("counter").await.as_deref(), Some("11"));
}

#[tokio::test]
async fn blind_writes_of_the_same_key_let_the_first_committer_win() {
    let client = must_client();
    let mut t1 = must_begin(&client).await;
    let mut t2 = must_begin(&client).await;
    must_put(&mut t1, "k", "t1");
    must_put(&mut t2, "k", "t2");
    t1.commit().await.expect("first commit");
    assert_conflict(t2.commit().await);
    assert_eq!(client.must_latest("k").await.as_deref(), Some("t1"));
}

#[tokio::test]
async fn phantom_insert_into_a_scanned_prefix_fails_the_commit() {
    let client = must_client();
    must_write(&client, "p/a", "1").await;
    let mut scanner = must_begin(&client).await;
    assert_eq!(must_scan(&mut scanner, "p/").await.len(), 1);
    must_write(&client, "p/b", "phantom").await;
    must_put(&mut scanner, "summary", "p/ has 1 key");
    assert_conflict(scanner.commit().await);
    assert_eq!(client.must_latest("summary").await, None);
}

#[tokio::test]
async fn insert_outside_a_scanned_prefix_does_not_conflict() {
    let client = must_client();
    must_write(&client, "p/a", "1").await;
    let mut scanner = must_begin(&client).await;
    must_scan(&mut scanner, "p/").await;
    must_write(&client, "q/b", "elsewhere").await;
    must_put(&mut scanner, "summary", "p/ has 1 key");
    assert_eq!(scanner.commit().await.expect("commit"), 4);
}

#[tokio::test]
async fn delete_of_a_key_another_transaction_read_fails_its_commit() {
    let client = must_client();
    must_write(&client, "k", "v").await;
    let mut reader = must_begin(&client).await;
    assert_eq!(must_get(&mut reader, "k").await.as_deref(), Some("v"));
    let mut deleter = must_begin(&client).await;
    must_delete(&mut deleter, "k");
    deleter.commit().await.expect("delete commit");
    must_put(&mut reader, "copy", "v");
    assert_conflict(reader.commit().await);
}

#[tokio::test]
async fn delete_of_a_key_another_transaction_scanned_fails_its_commit() {
    let client = must_client();
    must_write(&client, "p/a", "1").await;
    must_write(&client, "p/b", "2").await;
    let mut scanner = must_begin(&client).await;
    must_scan(&mut scanner, "p/").await;
    let mut deleter = must_begin(&client).await;
    must_delete(&mut deleter, "p/b");
    deleter.commit().await.expect("delete commit");
    must_put(&mut scanner, "count", "2");
    assert_conflict(scanner.commit().await);
}

#[tokio::test]
async fn creation_of_a_key_read_as_absent_fails_the_commit() {
    let client = must_client();
    let mut reader = must_begin(&client).await;
    assert_eq!(must_get(&mut reader, "k").await, None);
    must_write(&client, "k", "created").await;
    must_put(&mut reader, "k-was-absent", "true");
    assert_conflict(reader.commit().await);
}

#[tokio::test]
async fn transactions_on_disjoint_keys_both_commit() {
    let client = must_client();
    must_write(&client, "a", "1").await;
    must_write(&client, "b", "1").await;
    let mut t1 = must_begin(&client).await;
    let mut t2 = must_begin(&client).await;
    assert_eq!(must_get(&mut t1, "a").await.as_deref(), Some("1"));
    assert_eq!(must_get(&mut t2, "b").await.as_deref(), Some("1"));
    must_put(&mut t1, "a", "2");
    must_put(&mut t2, "b", "2");
    assert_eq!(t1.commit().await.expect("first commit"), 4);
    assert_eq!(t2.commit().await.expect("second commit"), 5);
}

#[tokio::test]
async fn transaction_retried_after_a_conflict_commits() {
    let client = must_client();
    must_write(&client, "k", "1").await;
    let mut loser = must_begin(&client).await;
    must_get(&mut loser, "k").await;
    must_write(&client, "k", "2").await;
    must_put(&mut loser, "k", "from loser");
    assert_conflict(loser.commit().await);

    let mut retry = must_begin(&client).await;
    assert_eq!(must_get(&mut retry, "k").await.as_deref(), Some("2"));
    must_put(&mut retry, "k", "from retry");
    retry.commit().await.expect("retry commit");
    assert_eq!(client.must_latest("k").await.as_deref(), Some("from retry"));
}

// ---- read-only, rollback, bad input ----

#[tokio::test]
async fn read_only_transaction_commits_at_its_snapshot_without_a_txn() {
    let client = must_client();
    must_write(&client, "k", "v").await;
    let mut reader = must_begin(&client).await;
    must_get(&mut reader, "k").await;
    must_scan(&mut reader, "").await;
    must_write(&client, "k", "changed").await;
    let sent = client.txns_sent();
    assert_eq!(reader.commit().await.expect("read-only commit"), 2);
    assert_eq!(client.txns_sent(), sent, "a read-only commit sends nothing");
}

#[tokio::test]
async fn rollback_writes_nothing() {
    let client = must_client();
    must_write(&client, "kept", "v").await;
    let mut txn = must_begin(&client).await;
    must_put(&mut txn, "new", "v");
    must_delete(&mut txn, "kept");
    let sent = client.txns_sent();
    txn.rollback();
    assert_eq!(client.txns_sent(), sent);
    assert_eq!(client.revision(), 2);
    assert_eq!(client.must_latest("new").await, None);
    assert_eq!(client.must_latest("kept").await.as_deref(), Some("v"));
}

#[tokio::test]
async fn empty_keys_are_rejected() {
    let client = must_client();
    let mut txn = must_begin(&client).await;
    let invalid = Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into());
    assert_eq!(txn.put(b"", b"v").expect_err("put"), invalid);
    assert_eq!(txn.delete(b"").expect_err("delete"), invalid);
    assert_eq!(txn.get(b"").await.expect_err("get"), invalid);
}

#[tokio::test]
async fn commit_of_more_writes_than_one_txn_holds_is_rejected() {
    let client = must_client();
    let mut txn = must_begin(&client).await;
    for i in 0..=TXN_OPS_MAX {
        must_put(&mut txn, &format!("k{i:04}"), "v");
    }
    let error = txn.commit().await.expect_err("too large");
    assert!(matches!(error, Error::InvalidArgument(_)), "{error:?}");
    assert!(!error.is_retryable());
    assert_eq!(client.txns_sent(), 0);
    assert_eq!(client.revision(), 1);
}

// ---- write locks ----

async fn must_begin_locking<'a>(
    client: &'a TestClient,
    table: &Arc<crate::locks::LockTable>,
) -> Transaction<&'a TestClient> {
    must_begin(client).await.with_locks(table.owner())
}

async fn must_add_for_update(txn: &mut Transaction<&TestClient>, key: &str, add: i64) {
    let value: i64 = string(txn.get_for_update(key.as_bytes()).await.expect("get for update").expect("value"))
        .parse()
        .expect("number");
    must_put(txn, key, &(value + add).to_string());
}

#[tokio::test]
async fn locked_increments_wait_for_each_other_and_both_commit() {
    let client = Arc::new(must_client());
    let table = crate::locks::LockTable::new();
    must_write(&client, "counter", "10").await;
    // Both begin before either writes: without locks the second would fail validation.
    let mut t1 = must_begin_locking(&client, &table).await;
    let t2 = must_begin_locking(&client, &table).await;
    must_add_for_update(&mut t1, "counter", 1).await;
    let second = {
        let client = client.clone();
        let t2_revision = t2.read_revision();
        drop(t2);
        let table = table.clone();
        tokio::spawn(async move {
            let mut t2 = Transaction::begin(client.as_ref()).await.expect("begin").with_locks(table.owner());
            assert!(t2.read_revision() >= t2_revision);
            must_add_for_update(&mut t2, "counter", 5).await;
            t2.commit().await.expect("the waiting transaction commits on top of the first")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert!(!second.is_finished(), "the second writer waits for the first one's lock");
    t1.commit().await.expect("first commit");
    second.await.expect("task");
    assert_eq!(client.must_latest("counter").await.as_deref(), Some("16"), "no update was lost");
    assert_eq!(table.locked_keys(), 0, "commits release their locks");
}

#[tokio::test]
async fn a_locked_read_newer_than_an_earlier_snapshot_read_is_a_conflict() {
    let client = must_client();
    let table = crate::locks::LockTable::new();
    must_write(&client, "k", "1").await;
    let mut txn = must_begin_locking(&client, &table).await;
    assert_eq!(must_get(&mut txn, "k").await.as_deref(), Some("1"));
    must_write(&client, "k", "2").await;
    assert_eq!(txn.get_for_update(b"k").await, Err(Error::Conflict), "it acted on 1 and would now build on 2");
}

#[tokio::test]
async fn a_writer_without_the_lock_is_still_caught_by_validation() {
    let client = must_client();
    let table = crate::locks::LockTable::new();
    must_write(&client, "k", "1").await;
    let mut txn = must_begin_locking(&client, &table).await;
    must_add_for_update(&mut txn, "k", 1).await;
    // An etcd client (or another node) writes the key without the lock.
    must_write(&client, "k", "100").await;
    assert_conflict(txn.commit().await);
    assert_eq!(client.must_latest("k").await.as_deref(), Some("100"));
}

// ---- commits staged in parts ----

/// Staged parts still on the replica.
fn staged_left(client: &TestClient) -> bool {
    crate::staged::earliest_expiry(client.engine.as_ref(), RANGE).expect("read staged").is_some()
}

#[tokio::test]
async fn a_commit_larger_than_a_part_is_staged_and_applied_at_one_revision() {
    let client = must_client();
    let mut txn = must_begin(&client).await.with_staging(256);
    for i in 0..40 {
        must_put(&mut txn, &format!("bulk/{i:03}"), &"v".repeat(20));
    }
    let revision = txn.commit().await.expect("staged commit");
    assert!(client.txns_sent() > 2, "the commit went in several parts ({} commands)", client.txns_sent());
    let mut check = must_begin(&client).await;
    let rows = must_scan(&mut check, "bulk/").await;
    assert_eq!(rows.len(), 40);
    let response = client
        .range(RangeRequest { key: b"bulk/".to_vec(), range_end: b"bulk0".to_vec(), ..Default::default() })
        .await
        .expect("range");
    assert!(response.kvs.iter().all(|kv| kv.mod_revision == revision), "every row at the commit's revision");
    assert!(!staged_left(&client), "the commit dropped its parts");
}

#[tokio::test]
async fn a_staged_commit_that_fails_validation_writes_nothing_and_drops_its_parts() {
    let client = must_client();
    must_write(&client, "guard", "0").await;
    let mut txn = must_begin(&client).await.with_staging(256);
    assert_eq!(must_get(&mut txn, "guard").await.as_deref(), Some("0"));
    for i in 0..40 {
        must_put(&mut txn, &format!("bulk/{i:03}"), &"v".repeat(20));
    }
    must_write(&client, "guard", "1").await;
    assert_conflict(txn.commit().await);
    assert_eq!(client.must_latest("bulk/000").await, None);
    assert!(!staged_left(&client), "a failed commit drops its parts too");
}

#[tokio::test]
async fn a_staged_commit_whose_parts_were_dropped_fails_without_writing() {
    let client = must_client();
    let part = |seq| StagedPart {
        txn_id: 7,
        seq,
        part: Some(TxnRequest {
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: format!("p{seq}").into_bytes(),
                    value: b"v".to_vec(),
                    ..Default::default()
                })),
            }],
            ..Default::default()
        }),
        expires_unix_ms: 1_000,
    };
    client.staged(Staged::Part(part(0))).await.expect("stage 0");
    client.staged(Staged::Part(part(1))).await.expect("stage 1");
    assert_eq!(client.must_latest("p0").await, None, "staged parts are invisible");
    assert!(staged_left(&client));
    // A leader drops everything expired by t = 2000.
    client.staged(Staged::Abort(crate::staged::expired_before(2_000))).await.expect("abort expired");
    assert!(!staged_left(&client));
    let commit = CommitStaged { txn_id: 7, parts: 2, last: None };
    assert_eq!(client.staged(Staged::Commit(commit)).await.map(|_| ()), Err(Error::Conflict));
    assert_eq!(client.must_latest("p0").await, None);
}

#[test]
fn split_parts_keeps_the_order_and_respects_the_size() {
    let request = TxnRequest {
        compare: (0..10).map(|i| Compare { key: format!("c{i}").into_bytes(), ..Default::default() }).collect(),
        success: (0..10)
            .map(|i| RequestOp {
                request: Some(request_op::Request::RequestPut(PutRequest {
                    key: format!("k{i}").into_bytes(),
                    value: vec![b'x'; 30],
                    ..Default::default()
                })),
            })
            .collect(),
        failure: vec![],
    };
    let parts = split_parts(request.clone(), 100);
    assert!(parts.len() > 3, "{} parts", parts.len());
    assert!(parts.iter().all(|p| p.encoded_len() <= 100), "every part within the bound");
    let compares: Vec<_> = parts.iter().flat_map(|p| p.compare.clone()).collect();
    let success: Vec<_> = parts.iter().flat_map(|p| p.success.clone()).collect();
    assert_eq!((compares, success), (request.compare, request.success));
}

#[tokio::test]
async fn a_write_inside_a_scanned_span_is_checked_by_the_span_alone() {
    let client = must_client();
    must_write(&client, "p/a", "1").await;
    let mut writer = must_begin(&client).await;
    must_scan(&mut writer, "p/").await;
    must_put(&mut writer, "p/new", "mine");
    must_put(&mut writer, "q/new", "outside");
    let request = writer.commit_request(usize::MAX).expect("request");
    let keys: Vec<&[u8]> = request.compare.iter().map(|c| c.key.as_slice()).collect();
    // p/a (read), the span p/ and q/new (blind, outside the span); p/new has no compare of its own.
    assert_eq!(keys, vec![b"p/a".as_slice(), b"p/".as_slice(), b"q/new".as_slice()]);
    // The span's compare still catches another transaction creating the same key.
    must_write(&client, "p/new", "theirs").await;
    assert_conflict(writer.commit().await);
    assert_eq!(client.must_latest("p/new").await.as_deref(), Some("theirs"));
}
