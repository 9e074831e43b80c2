//! A range's descriptor checked against what a request touches, before it touches data.
//!
//! A range owns the keys `[start_key, end_key)` of its descriptor (an empty `end_key` is the
//! end of the key space). A request routed with an old view of the ranges (one taken before a
//! split or a merge) must never read or write a key its range does not own: every command is
//! checked when it is applied, and every local read before it reads, and a request with a key
//! outside the span gets [`Error::RangeKeyMismatch`] carrying the range's current descriptor,
//! from which the sender learns the new boundaries and routes again (TiKV's region epoch check,
//! CockroachDB's `RangeKeyMismatchError`). Applying is deterministic, so every replica refuses
//! the same commands.
//!
//! The descriptor's `generation` rises with every change of its span or replicas, so of two
//! descriptors of one range the one with the higher generation is the newer.

use crate::{Error, Result};
use atoll_proto::atoll::RangeDescriptor;
use atoll_proto::etcdserverpb::{request_op, TxnRequest};

/// Whether `descriptor`'s range owns every key of the etcd span `key`..`range_end` (an empty
/// `range_end`: only `key`; `\0`: to the end of the key space; see `atoll_types::keys::Span`).
/// A span that holds no key (its end at or before its start) touches nothing and is owned by
/// every range. Compares the slices as they are: this runs for every key of every command.
pub fn owns(descriptor: &RangeDescriptor, key: &[u8], range_end: &[u8]) -> bool {
    let (start, end) = (descriptor.start_key.as_slice(), descriptor.end_key.as_slice());
    match range_end {
        [] => key >= start && (end.is_empty() || key < end),
        [0] => key >= start && end.is_empty(),
        _ if range_end <= key => true,
        _ => key >= start && (end.is_empty() || range_end <= end),
    }
}

/// Checks an etcd `key`/`range_end` pair against the range's span.
pub fn check_span(descriptor: &RangeDescriptor, key: &[u8], range_end: &[u8]) -> Result<()> {
    if owns(descriptor, key, range_end) {
        Ok(())
    } else {
        Err(Error::RangeKeyMismatch(Box::new(descriptor.clone())))
    }
}

/// Checks every key a Txn compares, reads or writes, nested Txns included, against the span.
pub fn check_txn(descriptor: &RangeDescriptor, txn: &TxnRequest) -> Result<()> {
    for compare in &txn.compare {
        check_span(descriptor, &compare.key, &compare.range_end)?;
    }
    for op in txn.success.iter().chain(&txn.failure) {
        match &op.request {
            Some(request_op::Request::RequestRange(range)) => check_span(descriptor, &range.key, &range.range_end)?,
            Some(request_op::Request::RequestPut(put)) => check_span(descriptor, &put.key, &[])?,
            Some(request_op::Request::RequestDeleteRange(delete)) => {
                check_span(descriptor, &delete.key, &delete.range_end)?
            }
            Some(request_op::Request::RequestTxn(nested)) => check_txn(descriptor, nested)?,
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_proto::etcdserverpb::{Compare, PutRequest, RangeRequest, RequestOp};

    fn range(start: &[u8], end: &[u8]) -> RangeDescriptor {
        RangeDescriptor {
            range_id: 2,
            start_key: start.to_vec(),
            end_key: end.to_vec(),
            generation: 3,
            ..Default::default()
        }
    }

    #[test]
    fn a_range_owns_the_spans_inside_its_own() {
        let middle = range(b"b", b"d");
        let owned = |key: &[u8], end: &[u8]| owns(&middle, key, end);
        assert!(owned(b"b", b""), "its first key");
        assert!(owned(b"c\xff\xff", b""), "a key just below its end");
        assert!(!owned(b"d", b""), "its end is the next range's");
        assert!(!owned(b"a\xff", b""), "a key before its start");
        assert!(owned(b"b", b"d"), "its whole span");
        assert!(!owned(b"b", b"d\x00"), "one key past it");
        assert!(!owned(b"c", &[0]), "to the end of the key space");
        assert!(!owned(b"a", b"c"), "a span that starts before it");
        assert!(owned(b"z", b"a"), "an inverted span touches nothing");
        let last = range(b"m", b"");
        assert!(owns(&last, b"m", &[0]) && owns(&last, b"\xff\xff", b""));
        assert!(!owns(&last, b"l", &[0]));
        let everything = range(b"", b"");
        assert!(owns(&everything, b"", &[0]) && owns(&everything, &[0], &[0]) && owns(&everything, b"k", b""));
        // The slices give what the explicit spans of `atoll_types::keys::Span` give.
        for (key, end) in
            [(&b"b"[..], &b""[..]), (b"c", b"d"), (b"a", b"e"), (b"c", &[0][..]), (b"z", b"a"), (b"d", b"")]
        {
            let span = atoll_types::keys::Span::from_etcd(key, end);
            let inverted = span.end.as_deref().is_some_and(|e| e <= span.start.as_slice());
            let inside =
                span.start.as_slice() >= b"b".as_slice() && span.end.as_deref().is_some_and(|e| e <= b"d".as_slice());
            assert_eq!(owns(&middle, key, end), inverted || inside, "{key:?}..{end:?}");
        }
    }

    #[test]
    fn every_key_of_a_txn_is_checked_nested_ones_too() {
        let middle = range(b"b", b"d");
        let put = |key: &[u8]| RequestOp {
            request: Some(request_op::Request::RequestPut(PutRequest { key: key.to_vec(), ..Default::default() })),
        };
        let read = |key: &[u8], end: &[u8]| RequestOp {
            request: Some(request_op::Request::RequestRange(RangeRequest {
                key: key.to_vec(),
                range_end: end.to_vec(),
                ..Default::default()
            })),
        };
        let inside =
            TxnRequest { success: vec![put(b"b"), read(b"b", b"d")], failure: vec![put(b"c")], ..Default::default() };
        check_txn(&middle, &inside).expect("inside");
        let refused = [
            TxnRequest { failure: vec![put(b"d")], ..Default::default() },
            TxnRequest { success: vec![read(b"c", &[0])], ..Default::default() },
            TxnRequest { compare: vec![Compare { key: b"a".to_vec(), ..Default::default() }], ..Default::default() },
            TxnRequest {
                success: vec![RequestOp {
                    request: Some(request_op::Request::RequestTxn(TxnRequest {
                        success: vec![put(b"e")],
                        ..Default::default()
                    })),
                }],
                ..Default::default()
            },
        ];
        for txn in refused {
            match check_txn(&middle, &txn) {
                Err(Error::RangeKeyMismatch(descriptor)) => assert_eq!(*descriptor, middle),
                other => panic!("{txn:?}: {other:?}"),
            }
        }
    }
}
