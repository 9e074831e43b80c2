//! Commits too large for one Raft entry, applied atomically all the same.
//!
//! A SQL transaction commits as one internal Txn: its compares (what it read must be
//! unchanged) and its writes. A bulk load (pgbench's scale-10 COPY is 1 M rows, about 130 MB)
//! does not fit in one entry: the entry is sent to every follower in one message and encoded
//! on the store thread. So the gateway cuts such a commit into parts of at most
//! `STAGED_PART_BYTES_MAX` and proposes them one by one:
//!
//! 1. Each `StagedPart` is applied by [`stage`]: the part is written, as bytes, under the
//!    range's state key `/staged/<txn id><seq>`. Nothing in MVCC changes and the revision
//!    stays, so no read sees it. The parts are replicated state like any other (they are in
//!    snapshots), so a follower that becomes leader mid-commit has them too.
//! 2. `CommitStaged` is applied by [`take`]: it reads every part back, checks that all of them
//!    are there, joins them (compares first, in order, then writes), and the state machine runs
//!    the result as one Txn at one new revision, in the same batch that deletes the parts. The
//!    parts are deleted whether the compares hold or not.
//! 3. A gateway that fails between its parts and the commit leaves them behind; it proposes
//!    `AbortStaged` for its transaction, and a node that leads the range periodically proposes
//!    `AbortStaged` for every part past its expiry ([`expired_before`]), so a gateway that died
//!    leaves garbage for at most `STAGED_TXN_TTL_MS`. A commit whose parts expired fails with
//!    a retryable conflict and writes nothing.
//!
//! Because the parts only become data when one entry applies them, a crash at any point leaves
//! either the whole transaction or none of it, like any other commit.

use crate::state;
use crate::{Error, Result};
use atoll_proto::atoll::{AbortStaged, CommitStaged, StagedPart};
use atoll_proto::etcdserverpb::TxnRequest;
use atoll_proto::Message;
use atoll_storage::{Engine, Keyspace, WriteBatch};
use atoll_types::limits::{STAGED_TXN_BYTES_MAX, STAGED_TXN_PARTS_MAX};
use atoll_types::RangeId;

const STAGED: &[u8] = b"/staged/";
const STAGED_EXPIRY: &[u8] = b"/staged-expiry/";

fn all_prefix(range_id: RangeId) -> Vec<u8> {
    [state::prefix(range_id).as_slice(), STAGED].concat()
}

fn txn_prefix(range_id: RangeId, txn_id: u64) -> Vec<u8> {
    [all_prefix(range_id).as_slice(), &txn_id.to_be_bytes()].concat()
}

fn part_key(range_id: RangeId, txn_id: u64, seq: u32) -> Vec<u8> {
    [txn_prefix(range_id, txn_id).as_slice(), &seq.to_be_bytes()].concat()
}

/// Expiries live apart from the parts, one small key per transaction, so that looking for
/// expired parts does not read the parts.
fn expiry_prefix(range_id: RangeId) -> Vec<u8> {
    [state::prefix(range_id).as_slice(), STAGED_EXPIRY].concat()
}

fn expiry_key(range_id: RangeId, txn_id: u64) -> Vec<u8> {
    [expiry_prefix(range_id).as_slice(), &txn_id.to_be_bytes()].concat()
}

/// Each transaction's expiry, in transaction id order.
fn expiries(engine: &dyn Engine, range_id: RangeId) -> impl Iterator<Item = Result<(u64, i64)>> + '_ {
    let prefix_len = expiry_prefix(range_id).len();
    atoll_storage::scan_prefix(engine, Keyspace::RangeState, &expiry_prefix(range_id)).map(move |item| {
        let (key, value) = item?;
        let txn_id = key.get(prefix_len..).and_then(|id| <[u8; 8]>::try_from(id).ok());
        let expiry = <[u8; 8]>::try_from(value.as_slice()).ok();
        match (txn_id, expiry) {
            (Some(txn_id), Some(expiry)) => Ok((u64::from_be_bytes(txn_id), i64::from_be_bytes(expiry))),
            _ => Err(Error::Corrupt("staged expiry record".into())),
        }
    })
}

/// Checks one staged key and value as a peer's snapshot carries them (`/staged/<txn><seq>`
/// holding a Txn, `/staged-expiry/<txn>` holding a time), since reading them back treats what
/// it cannot decode as corrupt data. `key` is the state key without the range's prefix.
pub fn check_snapshot_pair(key: &[u8], value: &[u8]) -> std::result::Result<(), String> {
    if let Some(id) = key.strip_prefix(STAGED_EXPIRY) {
        if id.len() != 8 || value.len() != 8 {
            return Err("malformed staged expiry in snapshot".into());
        }
    } else if let Some(id) = key.strip_prefix(STAGED) {
        if id.len() != 12 {
            return Err("malformed staged part key in snapshot".into());
        }
        TxnRequest::decode(value).map_err(|e| format!("undecodable staged part in snapshot: {e}"))?;
    } else {
        return Err("unknown staged key in snapshot".into());
    }
    Ok(())
}

/// Deletes every part of `txn_id` and its expiry.
fn drop_txn(engine: &dyn Engine, range_id: RangeId, txn_id: u64, batch: &mut WriteBatch) -> Result<()> {
    for item in atoll_storage::scan_prefix(engine, Keyspace::RangeState, &txn_prefix(range_id, txn_id)) {
        batch.delete(Keyspace::RangeState, item?.0);
    }
    batch.delete(Keyspace::RangeState, expiry_key(range_id, txn_id));
    Ok(())
}

/// Applies a `StagedPart`: keeps it, invisible, until its transaction commits or aborts.
pub fn stage(range_id: RangeId, part: &StagedPart, batch: &mut WriteBatch) -> Result<()> {
    if part.txn_id == 0 {
        return Err(Error::InvalidArgument("staged part without a transaction id".into()));
    }
    if part.seq >= STAGED_TXN_PARTS_MAX {
        return Err(Error::InvalidArgument(format!(
            "staged part {} beyond the limit of {STAGED_TXN_PARTS_MAX}",
            part.seq
        )));
    }
    let request = part.part.as_ref().map(Message::encode_to_vec).unwrap_or_default();
    batch.put(Keyspace::RangeState, part_key(range_id, part.txn_id, part.seq), request);
    batch.put(Keyspace::RangeState, expiry_key(range_id, part.txn_id), part.expires_unix_ms.to_be_bytes().to_vec());
    Ok(())
}

/// What a `CommitStaged` found: the joined Txn (or why there is none) and the deletes of
/// every part, which go into the batch whatever the Txn's outcome.
pub struct Taken {
    pub txn: Result<TxnRequest>,
    pub drops: WriteBatch,
}

/// Reads back and joins the parts of a `CommitStaged`. Only storage errors fail it.
pub fn take(engine: &dyn Engine, range_id: RangeId, commit: &CommitStaged) -> Result<Taken> {
    let mut drops = WriteBatch::new();
    let mut parts = Vec::new();
    let mut bytes = 0usize;
    for item in atoll_storage::scan_prefix(engine, Keyspace::RangeState, &txn_prefix(range_id, commit.txn_id)) {
        let (key, value) = item?;
        drops.delete(Keyspace::RangeState, key);
        bytes += value.len();
        parts.push(value);
    }
    drops.delete(Keyspace::RangeState, expiry_key(range_id, commit.txn_id));
    let txn = join(commit, &parts, bytes);
    Ok(Taken { txn, drops })
}

fn join(commit: &CommitStaged, parts: &[Vec<u8>], bytes: usize) -> Result<TxnRequest> {
    if commit.txn_id == 0 {
        return Err(Error::InvalidArgument("staged commit without a transaction id".into()));
    }
    if parts.len() != commit.parts as usize {
        // Expired and dropped (or never all staged): nothing of the transaction is applied.
        return Err(Error::Conflict);
    }
    if bytes > STAGED_TXN_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "transaction too large: {bytes} bytes staged, at most {STAGED_TXN_BYTES_MAX}"
        )));
    }
    let mut joined = TxnRequest::default();
    let mut successes = Vec::new();
    for encoded in parts {
        let part = TxnRequest::decode(encoded.as_slice()).map_err(|e| Error::Corrupt(format!("staged part: {e}")))?;
        joined.compare.extend(part.compare);
        successes.push(part.success);
    }
    let last = commit.last.clone().unwrap_or_default();
    joined.compare.extend(last.compare);
    joined.success = successes.into_iter().flatten().chain(last.success).collect();
    Ok(joined)
}

/// Applies an `AbortStaged`: drops the parts of its transaction and every expired part.
/// Returns how many transactions' parts it dropped.
pub fn abort(engine: &dyn Engine, range_id: RangeId, abort: &AbortStaged, batch: &mut WriteBatch) -> Result<usize> {
    let mut doomed = Vec::new();
    for item in expiries(engine, range_id) {
        let (txn_id, expiry) = item?;
        let expired = abort.expired_before_unix_ms != 0 && expiry < abort.expired_before_unix_ms;
        if expired || txn_id == abort.txn_id {
            doomed.push(txn_id);
        }
    }
    for txn_id in &doomed {
        drop_txn(engine, range_id, *txn_id, batch)?;
    }
    Ok(doomed.len())
}

/// The earliest expiry among the transactions staged on this replica, if there are any: a
/// leader proposes an `AbortStaged` once it has passed.
pub fn earliest_expiry(engine: &dyn Engine, range_id: RangeId) -> Result<Option<i64>> {
    let mut earliest: Option<i64> = None;
    for item in expiries(engine, range_id) {
        let (_, expiry) = item?;
        earliest = Some(earliest.map_or(expiry, |e| e.min(expiry)));
    }
    Ok(earliest)
}

/// The `AbortStaged` that drops every part expired by `now_unix_ms`.
pub fn expired_before(now_unix_ms: i64) -> AbortStaged {
    AbortStaged { txn_id: 0, expired_before_unix_ms: now_unix_ms }
}
