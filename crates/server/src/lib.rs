//! An Atoll node: everything that runs in one `atoll start` process.
//!
//! [`node::Node::start`] opens the storage engine, bootstraps a new cluster or joins an
//! existing one, starts the store loop on its own thread, and serves three listeners:
//!
//! * peer gRPC ([`peer_service`]): Raft message streams between nodes ([`transport`]), join,
//!   node status for the admin CLI;
//! * the etcd v3 API ([`etcd`]), its users, roles and permission checks ([`etcd_auth`]);
//! * HTTP ([`http`]): Prometheus `/metrics`, `/health`, and the fault-injection switches used
//!   by the test harness when the node runs with fault injection enabled.
//!
//! Background work: the split of the etcd and SQL keyspaces into ranges of their own
//! ([`keyspaces`]), the replication queue ([`replicate`]), the collector of abandoned staged
//! commits ([`staged_gc`]), and MVCC garbage collection ([`mvcc_gc`]: periodic compaction by
//! retention, then each node's physical collector).

pub mod etcd;
pub mod etcd_auth;
pub mod etcd_keyspace;
pub mod http;
pub mod keyspaces;
pub mod mvcc_gc;
pub mod node;
pub mod peer_service;
pub mod peer_tls;
pub mod replicate;
pub mod snapshot_stream;
pub mod sql;
pub mod staged_gc;
pub mod transport;

pub use atoll_sql::SqlLimits;
pub use node::{Node, NodeConfig, StartError};
