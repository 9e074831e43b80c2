//! Errors of the KV layer, in categories callers act on.

/// What went wrong with a KV request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The request is malformed; retrying it unchanged fails again. Carries etcd's message.
    #[error("{0}")]
    InvalidArgument(String),
    /// A referenced thing does not exist (for example a lease). Carries etcd's message.
    #[error("{0}")]
    NotFound(String),
    /// The requested revision is compacted or in the future. Carries etcd's message.
    #[error("{0}")]
    OutOfRange(String),
    /// A transaction's reads were overwritten before it committed: retry the whole transaction.
    #[error("transaction conflict: a key it read was written by a later commit; retry the transaction")]
    Conflict,
    /// Waiting for a write lock would close a cycle of waiting transactions: retry this one.
    #[error("deadlock detected: this transaction waited for a lock held by a transaction waiting for one of its own")]
    Deadlock,
    /// A write lock stayed held by another transaction longer than the wait limit.
    #[error("could not obtain lock: another transaction held it for longer than the lock wait limit")]
    LockTimeout,
    /// The cluster cannot serve the request right now (no leader, node stopping, timeout).
    /// Whether a write took effect is unknown.
    #[error("{0}")]
    Unavailable(String),
    /// A key of the request lies outside the range it was sent to (the sender's view of the
    /// ranges is older than a split or merge). Carries the range's current descriptor, from
    /// which the sender routes again (see [`crate::descriptor`]).
    #[error(
        "key outside range {} [{:?}, {:?}) at generation {}: the request was routed with an old view of the ranges; retry",
        .0.range_id, .0.start_key.escape_ascii().to_string(), .0.end_key.escape_ascii().to_string(), .0.generation
    )]
    RangeKeyMismatch(Box<atoll_proto::atoll::RangeDescriptor>),
    /// The node refused the request because it is overloaded.
    #[error("{0}")]
    Overloaded(String),
    /// Stored data could not be decoded.
    #[error("corrupt data: {0}")]
    Corrupt(String),
    /// The storage engine failed.
    #[error("storage: {0}")]
    Storage(String),
}

impl Error {
    /// Whether retrying the same request (or transaction) may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::Conflict
                | Error::Deadlock
                | Error::LockTimeout
                | Error::Unavailable(_)
                | Error::Overloaded(_)
                | Error::RangeKeyMismatch(_)
        )
    }
}

impl From<atoll_storage::Error> for Error {
    fn from(e: atoll_storage::Error) -> Self {
        match e {
            atoll_storage::Error::Corrupt(m) => Error::Corrupt(m),
            atoll_storage::Error::Io(m) => Error::Storage(m),
        }
    }
}

/// The messages etcd uses, so that etcd clients recognise them.
pub mod messages {
    pub const KEY_NOT_PROVIDED: &str = "etcdserver: key is not provided";
    pub const TOO_MANY_OPS: &str = "etcdserver: too many operations in txn request";
    pub const DUPLICATE_KEY: &str = "etcdserver: duplicate key given in txn request";
    pub const COMPACTED: &str = "etcdserver: mvcc: required revision has been compacted";
    pub const FUTURE_REV: &str = "etcdserver: mvcc: required revision is a future revision";
    pub const KEY_NOT_FOUND: &str = "etcdserver: key not found";
    pub const VALUE_PROVIDED: &str = "etcdserver: value is provided";
    pub const LEASE_PROVIDED: &str = "etcdserver: lease is provided";
    pub const LEASE_NOT_FOUND: &str = "etcdserver: requested lease not found";
    pub const REQUEST_TOO_LARGE: &str = "etcdserver: request is too large";
}
