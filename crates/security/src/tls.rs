//! Loading a certs directory and the TLS settings of each port built from it.
//!
//! A node loads `ca.crt`, `node.crt` and `node.key` once at start ([`NodeCerts::load`]) and
//! refuses to start when one is missing, unreadable, expired, not yet valid, not signed by the
//! CA or not a node certificate: each with the file and what to do. From them:
//! - SQL ([`NodeCerts::sql_server`]): TLS after PostgreSQL's SSLRequest; a client certificate
//!   is asked for but optional (a client may log in with one; which user it names is checked at
//!   startup).
//! - HTTP ([`NodeCerts::http_server`]): TLS, no client certificate.
//! - etcd API ([`NodeCerts::grpc_server`] with `client_required`): TLS with a client
//!   certificate signed by the CA, as etcd with `--client-cert-auth`.
//! - Peers: mutual TLS both ways ([`NodeCerts::grpc_server`], [`NodeCerts::grpc_client`]);
//!   which RPCs a certificate may call is the peer service's check ([`common_name`]).

use crate::certs::{self, CA_CERT, NODE_CERT, NODE_COMMON_NAME, NODE_KEY};
use crate::CertError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use time::OffsetDateTime;

/// The certificates of a PEM file, in order.
pub(crate) fn pem_certs(path: &Path, pem: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem.as_bytes()).collect();
    let certs = certs.map_err(|e| CertError::file(path, format!("not a PEM certificate: {e}")))?;
    if certs.is_empty() {
        return Err(CertError::file(path, "holds no certificate".into()));
    }
    Ok(certs)
}

fn read(path: &Path, what: &str) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::NotFound => format!(" (create the {what} with `atoll cert`)"),
            _ => String::new(),
        };
        CertError::file(path, format!("{e}{hint}"))
    })
}

/// What Atoll reads from a certificate.
pub(crate) struct Parsed {
    pub common_name: String,
    pub hosts: Vec<String>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl Parsed {
    pub(crate) fn of(path: &Path, der: &CertificateDer<'_>) -> Result<Parsed, CertError> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref())
            .map_err(|e| CertError::file(path, format!("not an X.509 certificate: {e}")))?;
        let common_name =
            cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or("").to_string();
        let mut hosts = Vec::new();
        if let Ok(Some(names)) = cert.subject_alternative_name() {
            for name in &names.value.general_names {
                match name {
                    GeneralName::DNSName(dns) => hosts.push(dns.to_string()),
                    GeneralName::IPAddress(bytes) => {
                        let ip = match bytes.len() {
                            4 => <[u8; 4]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                            16 => <[u8; 16]>::try_from(*bytes).ok().map(std::net::IpAddr::from),
                            _ => None,
                        };
                        hosts.extend(ip.map(|ip| ip.to_string()));
                    }
                    _ => {}
                }
            }
        }
        let validity = cert.validity();
        Ok(Parsed {
            common_name,
            hosts,
            not_before: validity.not_before.to_datetime(),
            not_after: validity.not_after.to_datetime(),
        })
    }

    /// An error unless the certificate is valid now.
    fn check_time(&self, path: &Path) -> Result<(), CertError> {
        let now = OffsetDateTime::now_utc();
        if now > self.not_after {
            return Err(CertError::file(
                path,
                format!("expired on {}; create a new one with `atoll cert`", self.not_after),
            ));
        }
        if now < self.not_before {
            return Err(CertError::file(
                path,
                format!("not valid before {} (is this machine's clock right?)", self.not_before),
            ));
        }
        Ok(())
    }
}

/// How long a client of a gRPC port has to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The common name of a DER certificate (`node` for nodes, the user for clients).
pub fn common_name(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    name
}

fn roots(path: &Path, ca: &[CertificateDer<'static>]) -> Result<Arc<RootCertStore>, CertError> {
    let mut roots = RootCertStore::empty();
    for cert in ca {
        roots.add(cert.clone()).map_err(|e| CertError::file(path, format!("not a usable CA certificate: {e}")))?;
    }
    Ok(Arc::new(roots))
}

/// Checks that `chain` (read from `path`) was signed by the CA of `roots` and is valid now.
fn check_signed(
    roots: Arc<RootCertStore>,
    path: &Path,
    ca_path: &Path,
    chain: &[CertificateDer<'static>],
) -> Result<(), CertError> {
    let verifier = WebPkiClientVerifier::builder(roots)
        .build()
        .map_err(|e| CertError::file(ca_path, format!("cannot verify with it: {e}")))?;
    verifier
        .verify_client_cert(&chain[0], &chain[1..], UnixTime::now())
        .map(|_| ())
        .map_err(|e| CertError::file(path, format!("not accepted by the CA in {}: {e}", ca_path.display())))
}

/// A gRPC endpoint for `address` (host:port): `https` with `tls`, plain `http` without, Nagle
/// off, connecting within `connect_timeout`. Peer connections, the admin commands and the
/// harness all build theirs here.
pub fn grpc_endpoint(
    address: &str,
    tls: Option<tonic::transport::ClientTlsConfig>,
    connect_timeout: std::time::Duration,
) -> Result<tonic::transport::Endpoint, String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{address}"))
        .map_err(|e| format!("bad address {address}: {e}"))?
        .connect_timeout(connect_timeout)
        .tcp_nodelay(true);
    match tls {
        Some(tls) => endpoint.tls_config(tls).map_err(|e| format!("TLS towards {address}: {e}")),
        None => Ok(endpoint),
    }
}

/// A node's certificates, loaded and checked.
#[derive(Clone)]
pub struct NodeCerts {
    dir: PathBuf,
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
    /// Host names and addresses the node certificate is valid for.
    pub hosts: Vec<String>,
}

impl std::fmt::Debug for NodeCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeCerts").field("dir", &self.dir).field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

impl NodeCerts {
    /// Loads `ca.crt`, `node.crt` and `node.key` from `dir` and checks them.
    pub fn load(dir: &Path) -> Result<NodeCerts, CertError> {
        let ca_path = dir.join(CA_CERT);
        let cert_path = dir.join(NODE_CERT);
        let key_path = dir.join(NODE_KEY);
        let ca_pem = read(&ca_path, "CA certificate")?;
        let cert_pem = read(&cert_path, "node certificate")?;
        let key_pem = read(&key_path, "node key")?;
        let ca = pem_certs(&ca_path, &ca_pem)?;
        Parsed::of(&ca_path, &ca[0])?.check_time(&ca_path)?;
        let chain = pem_certs(&cert_path, &cert_pem)?;
        let parsed = Parsed::of(&cert_path, &chain[0])?;
        parsed.check_time(&cert_path)?;
        if parsed.common_name != NODE_COMMON_NAME {
            return Err(CertError::file(
                &cert_path,
                format!(
                    "names {:?}, not {NODE_COMMON_NAME:?}: create it with `atoll cert create-node`",
                    parsed.common_name
                ),
            ));
        }
        let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
            .map_err(|e| CertError::file(&key_path, format!("not a PEM private key: {e}")))?;
        let roots = roots(&ca_path, &ca)?;
        check_signed(roots.clone(), &cert_path, &ca_path, &chain)?;
        // The key must be the certificate's: a server config built from both checks it.
        ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| CertError::file(&key_path, format!("does not belong to {}: {e}", cert_path.display())))?;
        Ok(NodeCerts {
            dir: dir.to_path_buf(),
            ca_pem,
            cert_pem,
            key_pem,
            roots,
            chain,
            key: Arc::new(key),
            hosts: parsed.hosts,
        })
    }

    /// The certs directory this was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn server(
        &self,
        client_auth: Option<Arc<dyn ClientCertVerifier>>,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, CertError> {
        let builder = ServerConfig::builder();
        let builder = match client_auth {
            Some(verifier) => builder.with_client_cert_verifier(verifier),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| CertError::Invalid(format!("node certificate: {e}")))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// TLS for the PostgreSQL protocol: client certificates asked for, not required.
    pub fn sql_server(&self) -> Result<Arc<ServerConfig>, CertError> {
        let verifier = WebPkiClientVerifier::builder(self.roots.clone())
            .allow_unauthenticated()
            .build()
            .map_err(|e| CertError::Invalid(format!("CA certificate: {e}")))?;
        // PostgreSQL 17's direct TLS negotiation names this protocol.
        self.server(Some(verifier), &[b"postgresql"])
    }

    /// TLS for the HTTP port (metrics, health): no client certificate.
    pub fn http_server(&self) -> Result<Arc<ServerConfig>, CertError> {
        self.server(None, &[b"http/1.1"])
    }

    /// TLS for a gRPC port (etcd API, peers); `client_required`: a client must present a
    /// certificate signed by the CA. A client that does not finish its handshake within
    /// [`HANDSHAKE_TIMEOUT`] is dropped (a slow-loris client holds no connection for long).
    pub fn grpc_server(&self, client_required: bool) -> tonic::transport::ServerTlsConfig {
        tonic::transport::ServerTlsConfig::new()
            .identity(tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem))
            .client_ca_root(tonic::transport::Certificate::from_pem(&self.ca_pem))
            .client_auth_optional(!client_required)
            .timeout(HANDSHAKE_TIMEOUT)
    }

    /// TLS towards another node's peer port: the node's own certificate as client identity.
    pub fn grpc_client(&self) -> tonic::transport::ClientTlsConfig {
        tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca_pem))
            .identity(tonic::transport::Identity::from_pem(&self.cert_pem, &self.key_pem))
    }
}

/// What a client (the `atoll` commands, tests) needs to reach a secure cluster: the CA, and
/// the client certificate of a user where there is one.
#[derive(Clone)]
pub struct ClientCerts {
    ca_pem: String,
    roots: Arc<RootCertStore>,
    /// The user's certificate chain and key, PEM and parsed.
    identity: Option<(String, String, Vec<CertificateDer<'static>>, Arc<PrivateKeyDer<'static>>)>,
}

impl ClientCerts {
    /// Loads `ca.crt` and, if present, `client.<user>.crt` / `.key` from `dir`; a node's
    /// directory also works for `node` (its node certificate is a client certificate too).
    pub fn load(dir: &Path, user: &str) -> Result<ClientCerts, CertError> {
        let (cert_file, key_file) = if user == NODE_COMMON_NAME {
            (NODE_CERT.to_string(), NODE_KEY.to_string())
        } else {
            certs::client_files(user)
        };
        let (cert_path, key_path) = (dir.join(cert_file), dir.join(key_file));
        let identity = cert_path.exists().then_some((cert_path.as_path(), key_path.as_path()));
        ClientCerts::from_files(&dir.join(CA_CERT), identity)
    }

    /// Loads the CA certificate at `ca_path` and a client certificate and key, if given (as
    /// libpq's `sslrootcert`, `sslcert` and `sslkey`).
    pub fn from_files(ca_path: &Path, identity: Option<(&Path, &Path)>) -> Result<ClientCerts, CertError> {
        let ca_pem = read(ca_path, "CA certificate")?;
        let roots = roots(ca_path, &pem_certs(ca_path, &ca_pem)?)?;
        let identity = match identity {
            Some((cert_path, key_path)) => {
                let cert_pem = read(cert_path, "client certificate")?;
                let key_pem = read(key_path, "client key")?;
                let chain = pem_certs(cert_path, &cert_pem)?;
                Parsed::of(cert_path, &chain[0])?.check_time(cert_path)?;
                let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
                    .map_err(|e| CertError::file(key_path, format!("not a PEM private key: {e}")))?;
                Some((cert_pem, key_pem, chain, Arc::new(key)))
            }
            None => None,
        };
        Ok(ClientCerts { ca_pem, roots, identity })
    }

    /// Whether a client certificate was found.
    pub fn has_identity(&self) -> bool {
        self.identity.is_some()
    }

    /// A rustls client config (SQL, HTTP) that trusts the CA and presents the user's
    /// certificate if there is one.
    pub fn rustls(&self) -> Result<Arc<ClientConfig>, CertError> {
        let builder = ClientConfig::builder().with_root_certificates(self.roots.clone());
        let config = match &self.identity {
            Some((_, _, chain, key)) => builder
                .with_client_auth_cert(chain.clone(), key.clone_key())
                .map_err(|e| CertError::Invalid(format!("client certificate: {e}")))?,
            None => builder.with_no_client_auth(),
        };
        Ok(Arc::new(config))
    }

    /// gRPC TLS (etcd API, peer admin RPCs) with the same trust and identity.
    pub fn grpc(&self) -> tonic::transport::ClientTlsConfig {
        let config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&self.ca_pem));
        match &self.identity {
            Some((cert, key, _, _)) => config.identity(tonic::transport::Identity::from_pem(cert, key)),
            None => config,
        }
    }
}
