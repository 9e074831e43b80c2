//! The key-value layer: MVCC data with etcd's revision semantics, the state machine that
//! applies Raft-committed commands to it, and the transaction API that SQL builds on.
//!
//! # Timestamps: revisions from the Raft log
//! Atoll's MVCC timestamps are etcd *revisions*: a counter that the range state machine bumps
//! once per applied write transaction. The counter advances in Raft log order, so it is a
//! Raft-replicated timestamp oracle: every replica assigns the same revision to the same write,
//! no clock is involved, and a leader failover cannot make it go backwards (the new leader's
//! log contains every committed entry). Each range counts its own (a range made by a split,
//! [`split`], starts from its parent's), which is a clock only for requests that stay in one
//! range: the etcd keyspace and SQL's are one range each. When ranges multiply further,
//! revisions will come from a dedicated timestamp range handing out blocks, and this crate's
//! API stays as it is.
//!
//! # Life of a Put
//! The etcd API turns `Put` into a one-operation [`etcdserverpb::TxnRequest`], wraps it in a
//! [`Command`](atoll_proto::atoll::Command) and proposes it through the store. When the entry
//! is committed, [`KvStateMachine::apply`] runs [`executor::execute_txn`] against the store at
//! the current revision, writes the new versions, the new revision and the applied index in
//! one atomic batch, and the proposer answers the client.
//!
//! # Life of a linearizable Range
//! The server waits for ReadIndex (see `atoll-replication`), then reads the local engine at the
//! applied revision with [`executor::View::range`]. Reads never go through the Raft log.
//!
//! # Transactions
//! [`transaction::Transaction`] gives begin / get / put / delete / scan / commit / rollback
//! with snapshot reads at the revision current at `begin`, and SERIALIZABLE commit by
//! optimistic validation: commit is one Txn whose compares check that nothing the transaction
//! read (keys and scanned spans) changed after its snapshot; if something did, the commit
//! fails with [`Error::Conflict`], which is retryable.

pub mod descriptor;
pub mod error;
pub mod executor;
pub mod gc;
pub mod locks;
pub mod mvcc;
pub mod snapshot;
pub mod split;
pub mod staged;
pub mod state;
pub mod state_machine;
pub mod transaction;

#[cfg(test)]
mod golden;

pub use atoll_proto::etcdserverpb;
pub use error::Error;
pub use state_machine::{KvStateMachine, RangeShared};

/// The result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;
