//! How a node reaches other nodes' peer ports, and who may call its own.
//!
//! Insecure clusters (`atoll start --insecure`) speak plain gRPC between nodes. Secure ones
//! speak mutual TLS: every peer connection presents the node certificate and accepts only
//! servers certified by the cluster CA, and the peer service checks the caller's certificate
//! per RPC ([`authorize`]): Raft messages, snapshots, joins and replica creation only from a
//! node certificate; status (the admin commands) also from `root`'s client certificate.

use atoll_security::certs::{NODE_COMMON_NAME, ROOT_USER};
use std::time::Duration;
use tonic::transport::{ClientTlsConfig, Endpoint};
use tonic::{Request, Status};

/// The TLS (or not) of this node's outgoing peer connections.
#[derive(Clone, Debug, Default)]
pub struct PeerTls(Option<ClientTlsConfig>);

impl PeerTls {
    /// Mutual TLS with `config`; `None`: plain (insecure clusters).
    pub fn new(config: Option<ClientTlsConfig>) -> PeerTls {
        PeerTls(config)
    }

    /// An endpoint for a peer's `address` (host:port), connecting within `connect_timeout`.
    pub fn endpoint(&self, address: &str, connect_timeout: Duration) -> Result<Endpoint, String> {
        atoll_security::grpc_endpoint(address, self.0.clone(), connect_timeout)
    }
}

/// Who may call a peer RPC.
#[derive(Clone, Copy, Debug)]
pub enum Caller {
    /// Another node (its node certificate).
    Node,
    /// A node or the `root` user's client certificate (admin commands).
    NodeOrRoot,
}

/// How a node checks its peers' certificates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerCheck {
    /// Insecure node: anyone is let in.
    None,
    /// Secure node: a certificate of the CA, with the name the RPC needs.
    ByName,
    /// BROKEN ON PURPOSE (`--unsafe-any-peer-certificate`): any certificate of the CA may call
    /// any RPC, so a client certificate could join nodes or send Raft messages. Proves that
    /// tests/it/security.rs catches a missing name check.
    UnsafeAnyCertificate,
}

/// Checks the caller's certificate as `check` says.
pub fn authorize<T>(check: PeerCheck, request: &Request<T>, caller: Caller) -> Result<(), Status> {
    if check == PeerCheck::None {
        return Ok(());
    }
    let certs = request.peer_certs().ok_or_else(|| {
        Status::unauthenticated("a certificate signed by the cluster CA is required on the peer port")
    })?;
    let name = certs.first().and_then(|c| atoll_security::common_name(c)).unwrap_or_default();
    let allowed = match caller {
        _ if check == PeerCheck::UnsafeAnyCertificate => true,
        Caller::Node => name == NODE_COMMON_NAME,
        Caller::NodeOrRoot => name == NODE_COMMON_NAME || name == ROOT_USER,
    };
    if allowed {
        Ok(())
    } else {
        Err(Status::permission_denied(format!("a certificate for {name:?} may not call this peer RPC")))
    }
}
