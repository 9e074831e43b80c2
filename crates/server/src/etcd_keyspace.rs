//! What etcd clients may touch: every key below 0xFF.
//!
//! SQL's rows and catalog share the one MVCC keyspace with etcd keys, under keys that start
//! with 0xFF (`atoll_sql::encoding::SQL_PREFIX`). Before this, `etcdctl get '' --from-key`
//! listed SQL rows and an etcd client could overwrite them. Every request that arrives over
//! the etcd API is confined here before it is proposed or read: a read or delete span is cut
//! at 0xFF (a span that starts there matches nothing), and a put or a compare on a reserved key
//! is refused with InvalidArgument. SQL, GC and node bookkeeping propose their commands
//! directly and are not confined.
//!
//! The two keyspaces are also two ranges (`crate::keyspaces` splits them at 0xFF), so SQL
//! writes do not advance the revision etcd clients see, and an etcd Compact does not compact
//! SQL's history.

use atoll_proto::etcdserverpb::{request_op, Compare, DeleteRangeRequest, RangeRequest, RequestOp, TxnRequest};
use tonic::Status;

/// The first byte of the keys the etcd API may not reach.
const RESERVED_FIRST_BYTE: u8 = atoll_sql::encoding::SQL_PREFIX;

fn reserved(key: &[u8]) -> bool {
    key.first() == Some(&RESERVED_FIRST_BYTE)
}

fn refused(key: &[u8]) -> Status {
    let shown: String = key.iter().take(16).map(|b| format!("{b:02x}")).collect();
    Status::invalid_argument(format!(
        "etcdserver: key 0x{shown}... is reserved: keys from 0xff on hold Atoll's SQL data and cannot be used through \
         the etcd API"
    ))
}

/// Cuts the etcd span `key`..`range_end` at the reserved keys.
fn confine_span(key: &mut Vec<u8>, range_end: &mut Vec<u8>) {
    if reserved(key) {
        // An inverted span matches nothing (see `atoll_types::keys::Span::bounds`). It starts
        // below the reserved keys, so that the etcd keyspace's range answers it (with its
        // revision, not SQL's).
        *key = vec![RESERVED_FIRST_BYTE - 1];
        *range_end = vec![1];
        return;
    }
    let to_the_end = range_end.as_slice() == [0];
    if to_the_end || range_end.as_slice() > [RESERVED_FIRST_BYTE].as_slice() {
        *range_end = vec![RESERVED_FIRST_BYTE];
    }
}

/// Confines a Range request.
pub fn range(request: &mut RangeRequest) {
    confine_span(&mut request.key, &mut request.range_end);
}

/// Confines a DeleteRange request.
pub fn delete_range(request: &mut DeleteRangeRequest) {
    confine_span(&mut request.key, &mut request.range_end);
}

/// Refuses a put to a reserved key.
pub fn put(key: &[u8]) -> Result<(), Status> {
    if reserved(key) {
        return Err(refused(key));
    }
    Ok(())
}

fn compare(compare: &mut Compare) -> Result<(), Status> {
    if reserved(&compare.key) {
        return Err(refused(&compare.key));
    }
    let (mut key, mut range_end) = (std::mem::take(&mut compare.key), std::mem::take(&mut compare.range_end));
    if !range_end.is_empty() {
        confine_span(&mut key, &mut range_end);
    }
    (compare.key, compare.range_end) = (key, range_end);
    Ok(())
}

/// Confines every compare and operation of a Txn, nested ones included (their depth is
/// bounded by the executor's validation, which runs after this).
pub fn txn(request: &mut TxnRequest) -> Result<(), Status> {
    for each in &mut request.compare {
        compare(each)?;
    }
    for op in request.success.iter_mut().chain(request.failure.iter_mut()) {
        operation(op)?;
    }
    Ok(())
}

fn operation(op: &mut RequestOp) -> Result<(), Status> {
    match &mut op.request {
        Some(request_op::Request::RequestRange(request)) => range(request),
        Some(request_op::Request::RequestDeleteRange(request)) => delete_range(request),
        Some(request_op::Request::RequestPut(request)) => put(&request.key)?,
        Some(request_op::Request::RequestTxn(request)) => txn(request)?,
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use atoll_types::keys::Span;

    fn confined(key: &[u8], range_end: &[u8]) -> Span {
        let (mut key, mut range_end) = (key.to_vec(), range_end.to_vec());
        confine_span(&mut key, &mut range_end);
        Span::from_etcd(&key, &range_end)
    }

    #[test]
    fn spans_stop_below_the_reserved_keys() {
        let sql_key = [0xff, b't', 0, 0, 0, 1];
        let everything = confined(b"", &[0]);
        assert!(everything.contains(b"a") && everything.contains(&[0xfe, 0xff]));
        assert!(!everything.contains(&sql_key) && !everything.contains(&[0xff]));
        let wide = confined(b"a", &[0xff, 0xff]);
        assert!(wide.contains(b"zz") && !wide.contains(&sql_key));
        // A span inside the etcd keys is left as it is.
        assert_eq!(confined(b"a", b"b"), Span::from_etcd(b"a", b"b"));
        assert_eq!(confined(b"a", b""), Span::from_etcd(b"a", b""));
        // A span or a key that starts at the reserved keys matches nothing.
        for (key, range_end) in [(&sql_key[..], &b""[..]), (&sql_key[..], &[0][..]), (&[0xff][..], &[0xff, 0xff][..])] {
            let span = confined(key, range_end);
            assert!(!span.contains(&sql_key) && !span.contains(&[0xff]) && !span.contains(b"a"), "{span:?}");
            assert!(span.start.first() < Some(&0xff), "answered by the etcd keyspace's range: {span:?}");
        }
    }

    #[test]
    fn writes_and_compares_on_reserved_keys_are_refused_even_nested() {
        assert!(put(b"k").is_ok());
        assert_eq!(put(&[0xff, b'c']).expect_err("reserved").code(), tonic::Code::InvalidArgument);
        let put_op = |key: &[u8]| RequestOp {
            request: Some(request_op::Request::RequestPut(atoll_proto::etcdserverpb::PutRequest {
                key: key.to_vec(),
                ..Default::default()
            })),
        };
        let nested = TxnRequest {
            success: vec![RequestOp {
                request: Some(request_op::Request::RequestTxn(TxnRequest {
                    failure: vec![put_op(&[0xff, b't'])],
                    ..Default::default()
                })),
            }],
            ..Default::default()
        };
        assert_eq!(txn(&mut nested.clone()).expect_err("nested put").code(), tonic::Code::InvalidArgument);
        let comparing = TxnRequest {
            compare: vec![Compare { key: vec![0xff, b'c'], ..Default::default() }],
            success: vec![put_op(b"k")],
            ..Default::default()
        };
        assert_eq!(txn(&mut comparing.clone()).expect_err("compare").code(), tonic::Code::InvalidArgument);
    }
}
