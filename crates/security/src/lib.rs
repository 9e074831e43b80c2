//! Certificates and TLS for Atoll.
//!
//! - [`certs`]: creating a cluster CA, node and client certificates, and listing them (the
//!   `atoll cert` commands).
//! - [`tls`]: loading a certs directory, checking it, and the TLS settings of each port (SQL,
//!   HTTP, etcd API, peers) and of clients.
//!
//! rustls with ring is the only TLS stack in the binary: tonic, pgwire and the SQL client use
//! the same.

pub mod certs;
pub mod tls;

pub use tls::{common_name, grpc_endpoint, ClientCerts, NodeCerts};

use std::path::Path;

/// Why a certificate could not be created or loaded; each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}")]
    Invalid(String),
}

impl CertError {
    pub(crate) fn file(path: &Path, reason: String) -> CertError {
        CertError::File { path: path.display().to_string(), reason }
    }
}

#[cfg(test)]
mod tests;
