//! Creating and listing the certificates of a cluster (the `atoll cert` commands).
//!
//! One directory per machine (`--certs-dir`) holds what that machine needs, under fixed names
//! (CockroachDB's layout, so its habits carry over):
//! - `ca.crt`: the cluster's certificate authority. Every node and client trusts exactly it.
//! - `node.crt` / `node.key`: a node's identity, common name `node`, valid for the host names
//!   and addresses listed when it was created; used both as server and as client between nodes.
//! - `client.<user>.crt` / `client.<user>.key`: a SQL or etcd client acting as `<user>`.
//!
//! The CA's private key is kept apart (`--ca-key`): whoever holds it can admit nodes and users,
//! so it need not be on any node. Keys are written with mode 0600 and never overwritten unless
//! asked for.

use crate::CertError;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};
use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// The CA certificate's file name in a certs directory.
pub const CA_CERT: &str = "ca.crt";
/// A node's certificate and key.
pub const NODE_CERT: &str = "node.crt";
pub const NODE_KEY: &str = "node.key";
/// The common name of every node certificate: what a peer must present to send Raft messages.
pub const NODE_COMMON_NAME: &str = "node";
/// The user created with the cluster, allowed everything (admin commands included).
pub const ROOT_USER: &str = "root";

/// Default lifetimes, as CockroachDB's: the CA outlives the certificates it signs.
pub const CA_DAYS: u32 = 3650;
pub const NODE_DAYS: u32 = 1830;
pub const CLIENT_DAYS: u32 = 1830;
/// Longest name of a user (PostgreSQL's NAMEDATALEN - 1).
const USER_NAME_BYTES_MAX: usize = 63;

/// The file names of `user`'s client certificate and key.
pub fn client_files(user: &str) -> (String, String) {
    (format!("client.{user}.crt"), format!("client.{user}.key"))
}

/// Checks that `user` can name a client certificate (and a SQL role): lower-case ASCII letters,
/// digits and `_`, not starting with a digit, at most 63 bytes.
pub fn check_user_name(user: &str) -> Result<(), CertError> {
    let valid = !user.is_empty()
        && user.len() <= USER_NAME_BYTES_MAX
        && user.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !user.as_bytes()[0].is_ascii_digit();
    if valid {
        Ok(())
    } else {
        Err(CertError::Invalid(format!(
            "user name {user:?}: use 1 to {USER_NAME_BYTES_MAX} lower-case letters, digits or '_', not starting with a digit"
        )))
    }
}

fn rcgen_error(what: &str) -> impl Fn(rcgen::Error) -> CertError + '_ {
    move |e| CertError::Invalid(format!("{what}: {e}"))
}

fn read(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|e| CertError::file(path, e.to_string()))
}

/// Writes `contents` to a new file (or over an old one when `overwrite`), with `mode`.
fn write(path: &Path, contents: &str, mode: u32, overwrite: bool) -> Result<(), CertError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).mode(mode);
    if overwrite {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => CertError::file(path, "exists; pass --overwrite to replace it".into()),
        _ => CertError::file(path, e.to_string()),
    })?;
    file.write_all(contents.as_bytes()).and_then(|()| file.sync_all()).map_err(|e| CertError::file(path, e.to_string()))
}

fn create_dir(dir: &Path) -> Result<(), CertError> {
    std::fs::create_dir_all(dir).map_err(|e| CertError::file(dir, format!("cannot create the directory: {e}")))
}

fn params(common_name: &str, days: u32) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "Atoll");
    name.push(DnType::CommonName, common_name);
    params.distinguished_name = name;
    // An hour back, so a certificate is valid at once on a machine whose clock is a bit behind.
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::hours(1);
    params.not_after = now + Duration::days(i64::from(days));
    params.serial_number = Some(rand_serial().into());
    params
}

/// A random positive 128-bit serial number (RFC 5280 asks for uniqueness per CA).
fn rand_serial() -> Vec<u8> {
    let mut serial = rand::random::<[u8; 16]>();
    serial[0] &= 0x7f;
    serial.to_vec()
}

/// The CA (certificate and key) that signs the other certificates.
fn load_issuer(certs_dir: &Path, ca_key: &Path) -> Result<Issuer<'static, KeyPair>, CertError> {
    let key = KeyPair::from_pem(&read(ca_key)?).map_err(|e| CertError::file(ca_key, format!("not a key: {e}")))?;
    let ca_path = certs_dir.join(CA_CERT);
    let ca = read(&ca_path)?;
    Issuer::from_ca_cert_pem(&ca, key).map_err(|e| CertError::file(&ca_path, format!("not a CA certificate: {e}")))
}

/// `atoll cert create-ca`: a new cluster CA, `ca.crt` in `certs_dir` and its key at `ca_key`.
pub fn create_ca(certs_dir: &Path, ca_key: &Path, days: u32, overwrite: bool) -> Result<PathBuf, CertError> {
    create_dir(certs_dir)?;
    if let Some(parent) = ca_key.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir(parent)?;
    }
    let key = KeyPair::generate().map_err(rcgen_error("generating the CA key"))?;
    let mut params = params("Atoll CA", days);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let cert = params.self_signed(&key).map_err(rcgen_error("signing the CA certificate"))?;
    let cert_path = certs_dir.join(CA_CERT);
    // The key first: a certificate without its key would be useless, a key alone is harmless.
    write(ca_key, &key.serialize_pem(), 0o600, overwrite)?;
    write(&cert_path, &cert.pem(), 0o644, overwrite)?;
    Ok(cert_path)
}

/// `atoll cert create-node HOST...`: `node.crt` and `node.key`, valid for every `hosts` entry
/// (DNS names or IP addresses) as a server, and as a client towards other nodes.
pub fn create_node(
    certs_dir: &Path,
    ca_key: &Path,
    hosts: &[String],
    days: u32,
    overwrite: bool,
) -> Result<PathBuf, CertError> {
    if hosts.is_empty() {
        return Err(CertError::Invalid(
            "name at least one host (a DNS name or an IP address) that clients and peers use to reach the node".into(),
        ));
    }
    let issuer = load_issuer(certs_dir, ca_key)?;
    let mut params = params(NODE_COMMON_NAME, days);
    for host in hosts {
        let name = match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(
                host.clone().try_into().map_err(|e| CertError::Invalid(format!("host {host:?}: {e}")))?,
            ),
        };
        params.subject_alt_names.push(name);
    }
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(rcgen_error("generating the node key"))?;
    let cert = params.signed_by(&key, &issuer).map_err(rcgen_error("signing the node certificate"))?;
    let cert_path = certs_dir.join(NODE_CERT);
    write(&certs_dir.join(NODE_KEY), &key.serialize_pem(), 0o600, overwrite)?;
    write(&cert_path, &cert.pem(), 0o644, overwrite)?;
    Ok(cert_path)
}

/// `atoll cert create-client USER`: `client.USER.crt` and `client.USER.key`, which let their
/// holder connect as `user` over SQL and the etcd API.
pub fn create_client(
    certs_dir: &Path,
    ca_key: &Path,
    user: &str,
    days: u32,
    overwrite: bool,
) -> Result<PathBuf, CertError> {
    check_user_name(user)?;
    let issuer = load_issuer(certs_dir, ca_key)?;
    let mut params = params(user, days);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().map_err(rcgen_error("generating the client key"))?;
    let cert = params.signed_by(&key, &issuer).map_err(rcgen_error("signing the client certificate"))?;
    let (cert_file, key_file) = client_files(user);
    let cert_path = certs_dir.join(cert_file);
    write(&certs_dir.join(key_file), &key.serialize_pem(), 0o600, overwrite)?;
    write(&cert_path, &cert.pem(), 0o644, overwrite)?;
    Ok(cert_path)
}

/// One certificate of a certs directory, as `atoll cert list` shows it.
#[derive(Debug)]
pub struct CertSummary {
    pub file: String,
    pub common_name: String,
    /// Host names and addresses (node certificates).
    pub hosts: Vec<String>,
    pub not_after: OffsetDateTime,
}

/// The certificates in `certs_dir` (files ending in `.crt`), by file name.
pub fn list(certs_dir: &Path) -> Result<Vec<CertSummary>, CertError> {
    let entries = std::fs::read_dir(certs_dir).map_err(|e| CertError::file(certs_dir, e.to_string()))?;
    let mut summaries = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| CertError::file(certs_dir, e.to_string()))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("crt") {
            continue;
        }
        let pem = read(&path)?;
        let der = crate::tls::pem_certs(&path, &pem)?;
        let Some(first) = der.first() else { continue };
        let parsed = crate::tls::Parsed::of(&path, first)?;
        summaries.push(CertSummary {
            file: path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            common_name: parsed.common_name,
            hosts: parsed.hosts,
            not_after: parsed.not_after,
        });
    }
    summaries.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(summaries)
}
