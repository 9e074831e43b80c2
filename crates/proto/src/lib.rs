//! Wire types shared by every layer above storage.
//!
//! * [`etcdserverpb`] and [`mvccpb`]: the etcd v3 API, with etcd's package, message and field
//!   numbers, so unmodified etcd clients work. The KV state machine executes
//!   [`etcdserverpb::TxnRequest`] natively: etcd's compare-then-ops transaction is a general
//!   model that Put, DeleteRange and Atoll's own snapshot transactions all compile down to.
//! * [`atoll`]: Raft log entry payloads, peer RPC and admin status.
//!
//! The code is generated at build time by `protox` + `tonic-prost-build`: no system `protoc`.

#![allow(clippy::all, missing_docs)]

/// etcd's key-value record and event types.
pub mod mvccpb {
    tonic::include_proto!("mvccpb");
}

/// etcd's v3 API services and messages.
pub mod etcdserverpb {
    tonic::include_proto!("etcdserverpb");
}

/// Atoll's internal messages and the peer service.
pub mod atoll {
    tonic::include_proto!("atoll");
}

pub use prost::Message;
