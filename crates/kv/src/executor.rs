//! Executes etcd requests against the MVCC store: Range for reads, and Txn (which Put and
//! DeleteRange become) for writes.
//!
//! A write transaction runs in the store loop while a Raft entry is applied, so it is serial
//! and deterministic: every replica computes the same result from the same log. It reads the
//! store at the current revision through an *overlay* of its own earlier writes (so a Range
//! after a Put in the same Txn sees the Put), and produces one [`WriteBatch`] that the state
//! machine commits atomically with the new revision and applied index.

use crate::error::messages;
use crate::mvcc::{self, Record};
use crate::{Error, Result};
use atoll_proto::etcdserverpb::{
    compare,
    range_request::{SortOrder, SortTarget},
    request_op, response_op, Compare, DeleteRangeRequest, DeleteRangeResponse, PutRequest, PutResponse, RangeRequest,
    RangeResponse, ResponseHeader, ResponseOp, TxnRequest, TxnResponse,
};
use atoll_proto::mvccpb::KeyValue;
use atoll_storage::{Engine, WriteBatch};
use atoll_types::keys::Span;
use atoll_types::limits::TXN_OPS_MAX;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A read view: the store at some revision, plus (inside a write transaction) its own writes.
pub struct View<'a> {
    pub engine: &'a dyn Engine,
    /// The latest applied revision.
    pub current_revision: i64,
    /// Revisions below this one are compacted.
    pub compact_revision: i64,
    overlay: BTreeMap<Vec<u8>, Option<KeyValue>>,
    /// Keys a single-key compare read from the store, kept for the write that usually follows
    /// (an SQL commit compares every key it writes), so it need not read the key again.
    /// Shadowed by `overlay` once the key is written.
    compared: HashMap<Vec<u8>, Option<KeyValue>>,
}

impl<'a> View<'a> {
    /// A view of the store as applied.
    pub fn new(engine: &'a dyn Engine, current_revision: i64, compact_revision: i64) -> Self {
        View { engine, current_revision, compact_revision, overlay: BTreeMap::new(), compared: HashMap::new() }
    }

    /// The current version of `key` (the overlay's if written) for a write about to replace
    /// it: takes what a compare read.
    fn get_for_write(&mut self, key: &[u8]) -> Result<Option<KeyValue>> {
        match self.overlay.get(key) {
            Some(written) => Ok(written.clone()),
            None => match self.compared.remove(key) {
                Some(read) => Ok(read),
                None => mvcc::get(self.engine, key, self.current_revision),
            },
        }
    }

    /// The current version of `key` for a compare, remembered for a later write of the key.
    fn get_for_compare(&mut self, key: &[u8]) -> Result<Option<&KeyValue>> {
        if let Some(written) = self.overlay.get(key) {
            return Ok(written.as_ref());
        }
        if !self.compared.contains_key(key) {
            let read = mvcc::get(self.engine, key, self.current_revision)?;
            self.compared.insert(key.to_vec(), read);
        }
        Ok(self.compared.get(key).and_then(Option::as_ref))
    }

    /// Every live key of `span` at the current revision, the overlay included.
    fn current_in(&self, span: &Span) -> Result<Vec<KeyValue>> {
        let mut kvs = Vec::new();
        self.visit(span, self.current_revision, false, &mut |kv| {
            kvs.push(kv);
            true
        })?;
        Ok(kvs)
    }

    /// Visits live keys of `span` at `revision` (the current revision sees the overlay).
    fn visit(&self, span: &Span, revision: i64, reverse: bool, visit: &mut dyn FnMut(KeyValue) -> bool) -> Result<()> {
        if revision != self.current_revision || self.overlay.is_empty() {
            return mvcc::scan(self.engine, span, revision, reverse, visit);
        }
        let mut merged = BTreeMap::new();
        mvcc::scan(self.engine, span, revision, false, &mut |kv| {
            merged.insert(kv.key.clone(), kv);
            true
        })?;
        for (key, written) in self.overlay.range::<[u8], _>(span.bounds()) {
            match written {
                Some(kv) => merged.insert(key.clone(), kv.clone()),
                None => merged.remove(key),
            };
        }
        let mut items: Box<dyn Iterator<Item = KeyValue>> = Box::new(merged.into_values());
        if reverse {
            items = Box::new(items.collect::<Vec<_>>().into_iter().rev());
        }
        for kv in items {
            if !visit(kv) {
                break;
            }
        }
        Ok(())
    }

    fn check_revision(&self, requested: i64) -> Result<i64> {
        if requested <= 0 {
            return Ok(self.current_revision);
        }
        if requested > self.current_revision {
            return Err(Error::OutOfRange(messages::FUTURE_REV.into()));
        }
        if requested < self.compact_revision {
            return Err(Error::OutOfRange(messages::COMPACTED.into()));
        }
        Ok(requested)
    }

    /// Answers a Range request.
    pub fn range(&self, request: &RangeRequest) -> Result<RangeResponse> {
        if request.key.is_empty() {
            return Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
        }
        let revision = self.check_revision(request.revision)?;
        let span = Span::from_etcd(&request.key, &request.range_end);
        let order = SortOrder::try_from(request.sort_order).unwrap_or(SortOrder::None);
        let target = SortTarget::try_from(request.sort_target).unwrap_or(SortTarget::Key);
        let by_key = target == SortTarget::Key && order != SortOrder::Descend;
        let reverse = target == SortTarget::Key && order == SortOrder::Descend;
        let limit = if request.limit > 0 { request.limit as usize } else { usize::MAX };
        let mut kvs = Vec::new();
        let mut count = 0i64;
        let mut matched = 0usize;
        self.visit(&span, revision, reverse, &mut |mut kv| {
            count += 1;
            if !passes_filters(request, &kv) {
                return true;
            }
            matched += 1;
            if request.count_only || ((by_key || reverse) && kvs.len() >= limit) {
                return true;
            }
            if request.keys_only {
                kv.value.clear();
            }
            kvs.push(kv);
            true
        })?;
        if !(by_key || reverse) {
            sort_kvs(&mut kvs, target, order);
        }
        kvs.truncate(limit);
        let more = matched > kvs.len() && !request.count_only;
        Ok(RangeResponse { header: Some(self.header()), kvs, more, count })
    }

    fn header(&self) -> ResponseHeader {
        ResponseHeader { revision: self.current_revision, ..Default::default() }
    }
}

fn passes_filters(request: &RangeRequest, kv: &KeyValue) -> bool {
    let above = |min: i64, value: i64| min <= 0 || value >= min;
    let below = |max: i64, value: i64| max <= 0 || value <= max;
    above(request.min_mod_revision, kv.mod_revision)
        && below(request.max_mod_revision, kv.mod_revision)
        && above(request.min_create_revision, kv.create_revision)
        && below(request.max_create_revision, kv.create_revision)
}

fn sort_kvs(kvs: &mut [KeyValue], target: SortTarget, order: SortOrder) {
    match target {
        SortTarget::Key => kvs.sort_by(|a, b| a.key.cmp(&b.key)),
        SortTarget::Version => kvs.sort_by_key(|kv| kv.version),
        SortTarget::Create => kvs.sort_by_key(|kv| kv.create_revision),
        SortTarget::Mod => kvs.sort_by_key(|kv| kv.mod_revision),
        SortTarget::Value => kvs.sort_by(|a, b| a.value.cmp(&b.value)),
    }
    if order == SortOrder::Descend {
        kvs.reverse();
    }
}

/// The outcome of a write transaction: the response and the batch to commit.
pub struct TxnOutcome {
    pub response: TxnResponse,
    pub batch: WriteBatch,
    /// The revision after the transaction (unchanged when it wrote nothing).
    pub revision: i64,
}

/// Runs a Txn at `view.current_revision + 1`. Nothing is written on error.
/// `ops_max` bounds the compares and operations of each branch (etcd's `--max-txn-ops`).
pub fn execute_txn(mut view: View<'_>, request: &TxnRequest, ops_max: usize) -> Result<TxnOutcome> {
    validate_txn(request, 0, ops_max)?;
    let write_revision = view.current_revision + 1;
    // Each put or delete writes up to three keys (`mvcc::write`); growing a batch of millions
    // by doubling would copy it again and again.
    let mut batch = WriteBatch::with_capacity(3 * request.success.len().max(request.failure.len()));
    let mut response = run_txn(&mut view, request, write_revision, &mut batch)?;
    let revision = if batch.is_empty() { view.current_revision } else { write_revision };
    stamp_headers(&mut response, revision);
    Ok(TxnOutcome { response, batch, revision })
}

/// Checks limits and etcd's rule that one Txn may not put the same key twice, nested Txns
/// included. Returns the keys either branch puts, for the enclosing Txn's check.
fn validate_txn(request: &TxnRequest, depth: usize, ops_max: usize) -> Result<HashSet<&[u8]>> {
    let ops = request.compare.len().max(request.success.len()).max(request.failure.len());
    if ops > ops_max || depth > TXN_OPS_MAX {
        return Err(Error::InvalidArgument(messages::TOO_MANY_OPS.into()));
    }
    for compare in &request.compare {
        if compare.key.is_empty() {
            return Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
        }
    }
    // Borrowed keys: an SQL commit can hold a million puts, validated on the store thread.
    let mut all_puts = HashSet::new();
    for branch in [&request.success, &request.failure] {
        let mut puts = HashSet::with_capacity(branch.len());
        for op in branch.iter() {
            let key_missing = || Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
            let nested = match &op.request {
                Some(request_op::Request::RequestPut(put)) => {
                    validate_put(put)?;
                    if !puts.insert(put.key.as_slice()) {
                        return Err(Error::InvalidArgument(messages::DUPLICATE_KEY.into()));
                    }
                    continue;
                }
                Some(request_op::Request::RequestRange(range)) if range.key.is_empty() => return key_missing(),
                Some(request_op::Request::RequestDeleteRange(delete)) if delete.key.is_empty() => return key_missing(),
                Some(request_op::Request::RequestTxn(txn)) => validate_txn(txn, depth + 1, TXN_OPS_MAX)?,
                _ => continue,
            };
            for key in nested {
                if !puts.insert(key) {
                    return Err(Error::InvalidArgument(messages::DUPLICATE_KEY.into()));
                }
            }
        }
        if all_puts.is_empty() {
            all_puts = puts;
        } else {
            all_puts.extend(puts);
        }
    }
    Ok(all_puts)
}

fn validate_put(put: &PutRequest) -> Result<()> {
    if put.key.is_empty() {
        return Err(Error::InvalidArgument(messages::KEY_NOT_PROVIDED.into()));
    }
    if put.ignore_value && !put.value.is_empty() {
        return Err(Error::InvalidArgument(messages::VALUE_PROVIDED.into()));
    }
    if put.ignore_lease && put.lease != 0 {
        return Err(Error::InvalidArgument(messages::LEASE_PROVIDED.into()));
    }
    if put.lease != 0 {
        return Err(Error::NotFound(messages::LEASE_NOT_FOUND.into()));
    }
    Ok(())
}

fn run_txn(
    view: &mut View<'_>,
    request: &TxnRequest,
    write_revision: i64,
    batch: &mut WriteBatch,
) -> Result<TxnResponse> {
    let mut succeeded = true;
    for compare in &request.compare {
        if !evaluate_compare(view, compare)? {
            succeeded = false;
            break;
        }
    }
    let branch = if succeeded { &request.success } else { &request.failure };
    let mut responses = Vec::with_capacity(branch.len());
    for op in branch {
        let response = match &op.request {
            None => continue,
            Some(request_op::Request::RequestRange(range)) => response_op::Response::ResponseRange(view.range(range)?),
            Some(request_op::Request::RequestPut(put)) => {
                response_op::Response::ResponsePut(run_put(view, put, write_revision, batch)?)
            }
            Some(request_op::Request::RequestDeleteRange(delete)) => {
                response_op::Response::ResponseDeleteRange(run_delete(view, delete, write_revision, batch)?)
            }
            Some(request_op::Request::RequestTxn(txn)) => {
                response_op::Response::ResponseTxn(run_txn(view, txn, write_revision, batch)?)
            }
        };
        responses.push(ResponseOp { response: Some(response) });
    }
    Ok(TxnResponse { header: None, succeeded, responses })
}

fn evaluate_compare(view: &mut View<'_>, compare: &Compare) -> Result<bool> {
    let target = compare::CompareTarget::try_from(compare.target).unwrap_or(compare::CompareTarget::Version);
    // As etcd: a value compare on a missing key is false; numeric targets compare with 0.
    let missing = || target != compare::CompareTarget::Value && compare_one(compare, target, &KeyValue::default());
    if compare.range_end.is_empty() {
        return Ok(view.get_for_compare(&compare.key)?.map_or_else(missing, |kv| compare_one(compare, target, kv)));
    }
    let kvs = view.current_in(&Span::from_etcd(&compare.key, &compare.range_end))?;
    if kvs.is_empty() {
        return Ok(missing());
    }
    Ok(kvs.iter().all(|kv| compare_one(compare, target, kv)))
}

fn compare_one(compare: &Compare, target: compare::CompareTarget, kv: &KeyValue) -> bool {
    use compare::{CompareTarget as T, TargetUnion as U};
    let ordering = match (target, &compare.target_union) {
        (T::Version, Some(U::Version(v))) => kv.version.cmp(v),
        (T::Create, Some(U::CreateRevision(v))) => kv.create_revision.cmp(v),
        (T::Mod, Some(U::ModRevision(v))) => kv.mod_revision.cmp(v),
        (T::Value, Some(U::Value(v))) => kv.value.as_slice().cmp(v.as_slice()),
        (T::Lease, Some(U::Lease(v))) => kv.lease.cmp(v),
        // A missing operand compares with the zero value, as proto3 decoding would give etcd.
        (T::Version, None) => kv.version.cmp(&0),
        (T::Create, None) => kv.create_revision.cmp(&0),
        (T::Mod, None) => kv.mod_revision.cmp(&0),
        (T::Value, None) => kv.value.as_slice().cmp(&[]),
        (T::Lease, None) => kv.lease.cmp(&0),
        _ => return false,
    };
    use std::cmp::Ordering::*;
    match compare::CompareResult::try_from(compare.result).unwrap_or(compare::CompareResult::Equal) {
        compare::CompareResult::Equal => ordering == Equal,
        compare::CompareResult::NotEqual => ordering != Equal,
        compare::CompareResult::Greater => ordering == Greater,
        compare::CompareResult::Less => ordering == Less,
    }
}

fn run_put(view: &mut View<'_>, put: &PutRequest, write_revision: i64, batch: &mut WriteBatch) -> Result<PutResponse> {
    let previous = view.get_for_write(&put.key)?;
    if put.ignore_value && previous.is_none() {
        return Err(Error::InvalidArgument(messages::KEY_NOT_FOUND.into()));
    }
    let value = match (&previous, put.ignore_value) {
        (Some(prev), true) => prev.value.clone(),
        _ => put.value.clone(),
    };
    let kv = KeyValue {
        key: put.key.clone(),
        create_revision: previous.as_ref().map_or(write_revision, |p| p.create_revision),
        mod_revision: write_revision,
        version: previous.as_ref().map_or(1, |p| p.version + 1),
        value,
        lease: 0,
    };
    let record =
        Record::Put { create_revision: kv.create_revision, version: kv.version, lease: 0, value: kv.value.clone() };
    mvcc::write(batch, &put.key, write_revision, &record, previous.is_some());
    view.overlay.insert(put.key.clone(), Some(kv));
    let prev_kv = if put.prev_kv { previous } else { None };
    Ok(PutResponse { header: None, prev_kv })
}

fn run_delete(
    view: &mut View<'_>,
    delete: &DeleteRangeRequest,
    write_revision: i64,
    batch: &mut WriteBatch,
) -> Result<DeleteRangeResponse> {
    let doomed: Vec<KeyValue> = if delete.range_end.is_empty() {
        // One key: a point read, not a scan (an SQL commit deletes rows one key at a time).
        view.get_for_write(&delete.key)?.into_iter().collect()
    } else {
        view.current_in(&Span::from_etcd(&delete.key, &delete.range_end))?
    };
    for kv in &doomed {
        mvcc::write(batch, &kv.key, write_revision, &Record::Tombstone, true);
        view.overlay.insert(kv.key.clone(), None);
    }
    let deleted = doomed.len() as i64;
    let prev_kvs = if delete.prev_kv { doomed } else { Vec::new() };
    Ok(DeleteRangeResponse { header: None, deleted, prev_kvs })
}

/// Sets the revision in the header of a Txn response and of every response inside it.
fn stamp_headers(response: &mut TxnResponse, revision: i64) {
    let header = Some(ResponseHeader { revision, ..Default::default() });
    response.header = header;
    for op in &mut response.responses {
        match &mut op.response {
            Some(response_op::Response::ResponseRange(r)) => r.header = header,
            Some(response_op::Response::ResponsePut(r)) => r.header = header,
            Some(response_op::Response::ResponseDeleteRange(r)) => r.header = header,
            Some(response_op::Response::ResponseTxn(r)) => stamp_headers(r, revision),
            None => {}
        }
    }
}
